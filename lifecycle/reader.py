"""Reading assets: one, a tenant's page of them, an audit trail, and what an actor may do next."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Connection

from lifecycle.actors import Actor, Tenant
from lifecycle.clock import as_utc
from lifecycle.context import Context, listing_tenant
from lifecycle.definition import AssetState, AssetType, Event
from lifecycle.errors import InvalidParameter
from lifecycle.inputs import (
    MAX_BATCH,
    MAX_NAME,
    MAX_TAG,
    ORDER_COLUMNS,
    check_actor,
    check_app_user_id,
    check_flag,
    check_id,
    check_members,
    check_page,
    check_storable,
)
from lifecycle.integrity import check_known
from lifecycle.results import Asset, AssetFile, AssetSummary, AuditEntry, Page
from lifecycle.store.repository import AssetFilters

MAX_SUMMARIES = 100
"""Asset ids one ``asset_summaries`` call may ask for."""


class ListingOptions(TypedDict, total=False):
    """``Lifecycle.list_assets``'s filters beyond the state (each optional; None: not filtered)."""

    asset_types: Sequence[AssetType]
    """Any of these types (the platform's ``asset_type``, a comma-separated list)."""
    name: str | None
    """Part of the name, case-insensitively (``name``)."""
    tag: str | None
    """Part of one of the tags, case-insensitively (``tag``)."""
    created_from: datetime | None
    """Created at or after (``start_time``)."""
    created_to: datetime | None
    """Created at or before (``end_time``)."""
    app_user_id: str | None
    """Created by this third-party user (``app_user_id``)."""
    asset_ids: Sequence[str]
    """Any of these assets (``asset_id``)."""


@dataclass(frozen=True, slots=True)
class ListingFilters:
    """``list_assets``'s optional filters, as given (checked by ``_check_filters``)."""

    asset_types: Sequence[AssetType] = ()
    name: str | None = None
    tag: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    app_user_id: str | None = None
    asset_ids: Sequence[str] = ()

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> ListingFilters:
        unknown = sorted(set(options) - set(ListingOptions.__annotations__))
        if unknown:
            known = ", ".join(ListingOptions.__annotations__)
            raise InvalidParameter(unknown[0], f"is not a filter of list_assets (filters: {known})")
        return cls(**options)


def _check_filters(filters: ListingFilters) -> AssetFilters | None:
    """The filters checked, the text ones lower-cased; None where none is set."""
    asset_types = tuple(check_members(filters.asset_types, AssetType, "asset_types"))
    name = None if filters.name is None else _part(filters.name, "name", MAX_NAME)
    tag = None if filters.tag is None else _part(filters.tag, "tag", MAX_TAG)
    created_from = _moment(filters.created_from, "created_from")
    created_to = _moment(filters.created_to, "created_to")
    if created_from is not None and created_to is not None and created_from > created_to:
        raise InvalidParameter("created_to", "must not be earlier than created_from")
    asset_ids = tuple(check_members(filters.asset_ids, str, "asset_ids", maximum=MAX_BATCH))
    for index, asset_id in enumerate(asset_ids):
        check_id(asset_id, f"asset_ids[{index}]")
    checked = AssetFilters(
        asset_types=asset_types,
        name=name,
        tag=tag,
        created_from=created_from,
        created_to=created_to,
        app_user_id=check_app_user_id(filters.app_user_id),
        asset_ids=asset_ids,
    )
    return None if checked == AssetFilters() else checked


def _part(value: object, name: str, maximum: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= maximum:
        raise InvalidParameter(name, f"must be 1-{maximum} characters")
    return check_storable(value, name).lower()


def _moment(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidParameter(name, "must be a timezone-aware datetime")
    return as_utc(value, name)


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
        filters: ListingFilters | None = None,
    ) -> Page[Asset]:
        tenant = listing_tenant(actor, project_id, required=True)
        assert tenant is not None
        check_flag(descending, "descending")
        if order_by not in ORDER_COLUMNS:
            raise InvalidParameter("order_by", f"must be one of {', '.join(ORDER_COLUMNS)}")
        wanted = check_members(states, AssetState, "states")
        check_page(limit, offset)
        checked = None if filters is None else _check_filters(filters)

        def read(connection: Connection) -> tuple[list[Any], int, list[Any]]:
            rows, total = self._repo.list_assets(
                connection, tenant, wanted, order_by, descending, limit, offset, checked
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

    def summaries(self, actor: Actor, asset_ids: Sequence[str]) -> list[AssetSummary]:
        """The summaries of ``asset_ids`` the actor may see, in the order asked, each once."""
        check_actor(actor)
        wanted = check_members(asset_ids, str, "asset_ids", maximum=MAX_SUMMARIES)
        if not wanted:
            raise InvalidParameter("asset_ids", f"must list 1-{MAX_SUMMARIES} asset ids")
        for index, asset_id in enumerate(wanted):
            check_id(asset_id, f"asset_ids[{index}]")
        unique = list(dict.fromkeys(wanted))
        tenant = actor.project_id if isinstance(actor, Tenant) else None

        def read(connection: Connection) -> tuple[list[Any], list[Any]]:
            rows = self._repo.summaries(connection, unique, tenant)
            covers = [row.cover_file_id for row in rows if row.cover_file_id is not None]
            return rows, self._repo.files_by_id(connection, covers)

        rows, cover_rows = self._ctx.run(read, write=False)
        covers = {row.file_id: AssetFile.from_row(row) for row in cover_rows}
        found = {}
        for row in rows:
            check_known(row.asset_id, {"asset_state": row.asset_state, "asset_type": row.asset_type})
            found[row.asset_id] = AssetSummary(
                asset_id=row.asset_id,
                asset_name=row.asset_name,
                asset_state=row.asset_state,
                asset_type=row.asset_type,
                block_reason_code=row.block_reason_code,
                cover=covers.get(row.cover_file_id),
            )
        return [found[asset_id] for asset_id in unique if asset_id in found]

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
