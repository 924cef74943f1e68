"""Reading assets: one, a tenant's page of them, an audit trail, and what an actor may do next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from lifecycle.actors import Actor
from lifecycle.context import Context, listing_tenant
from lifecycle.definition import AssetState, Event
from lifecycle.errors import InvalidParameter
from lifecycle.inputs import ORDER_COLUMNS, check_actor, check_flag, check_members, check_page
from lifecycle.results import Asset, AuditEntry, Page


class Reader:
    """Reads, each in one read transaction, each seeing only what the actor may see."""

    def __init__(self, context: Context) -> None:
        self._ctx = context
        self._repo = context.repository

    def get_asset(self, actor: Actor, asset_id: str) -> Asset:
        def read(connection: Connection) -> Asset:
            record = self._ctx.visible_asset(connection, actor, asset_id)
            return Asset.from_rows(record, self._repo.files_of(connection, [asset_id]))

        return self._ctx.run(read, write=False)

    def list_assets(
        self,
        actor: Actor,
        project_id: str | None,
        states: Sequence[AssetState],
        order_by: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> Page[Asset]:
        tenant = listing_tenant(actor, project_id, required=True)
        assert tenant is not None
        check_flag(descending, "descending")
        if order_by not in ORDER_COLUMNS:
            raise InvalidParameter("order_by", f"must be one of {', '.join(ORDER_COLUMNS)}")
        wanted = check_members(states, AssetState, "states")
        check_page(limit, offset)

        def read(connection: Connection) -> tuple[list[Any], int, list[Any]]:
            rows, total = self._repo.list_assets(
                connection, tenant, wanted, order_by, descending, limit, offset
            )
            return rows, total, self._repo.files_of(connection, [row.asset_id for row in rows])

        rows, total, file_rows = self._ctx.run(read, write=False)
        by_asset: dict[str, list[Any]] = {}
        for file_row in file_rows:
            by_asset.setdefault(file_row.asset_id, []).append(file_row)
        for row in rows:
            self._repo.check_asset_record(row)
        items = tuple(Asset.from_rows(row, by_asset.get(row.asset_id, [])) for row in rows)
        return Page(items, total, limit, offset)

    def history(self, actor: Actor, asset_id: str) -> list[AuditEntry]:
        def read(connection: Connection) -> list[Any]:
            self._ctx.visible_asset(connection, actor, asset_id)
            return self._repo.history(connection, asset_id)

        return [AuditEntry.from_row(row) for row in self._ctx.run(read, write=False)]

    def allowed_events(self, actor: Actor, asset_id: str) -> list[Event]:
        check_actor(actor)
        row = self._ctx.run(
            lambda connection: self._ctx.visible_row(connection, actor, asset_id), write=False
        )
        return self._ctx.definition.allowed_events(row.facts, actor.role)
