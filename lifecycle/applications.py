"""Unfreeze applications: the tenant applies for a frozen asset; the platform approves (the asset is
unfrozen in the same transaction) or rejects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, exc

from lifecycle.actors import Actor, Platform, Tenant
from lifecycle.context import Context, listing_tenant, require, visible
from lifecycle.definition import ApplicationState, AssetState, Event, Role
from lifecycle.errors import (
    ApplicationNotFound,
    ApplicationNotPending,
    CorruptRecord,
    LifecycleError,
    TransitionNotAllowed,
    UnfreezeAlreadyPending,
)
from lifecycle.inputs import check_actor, check_id, check_members, check_page, check_reason, check_request_id
from lifecycle.manager import AssetManager, Outcome
from lifecycle.moves import MoveRequest, check_role
from lifecycle.results import Transitioned, UnfreezeApplication


class UnfreezeApplications:
    """Applying, deciding and reading unfreeze applications."""

    def __init__(self, context: Context, manager: AssetManager) -> None:
        self._ctx = context
        self._repo = context.repository
        self._manager = manager

    def apply(self, actor: Tenant, asset_id: str, reason: str | None) -> UnfreezeApplication:
        require(actor, Role.TENANT, "apply_for_unfreeze")
        reason = check_reason(reason)
        now = self._ctx.now()
        application_id = str(uuid.uuid4())

        def apply(connection: Connection) -> None:
            # Locked until the application is written: an unfreeze or delete that commits in
            # between would leave it pending on an asset no longer frozen.
            row = self._ctx.visible_row(connection, actor, asset_id, lock=True)
            if row.state is not AssetState.BLOCK:
                raise TransitionNotAllowed(
                    asset_id,
                    Event.UNFREEZE,
                    row.state,
                    self._ctx.definition.allowed_events(row.facts, Role.TENANT),
                    "only a frozen asset can be the subject of an unfreeze application",
                )
            if self._repo.pending_application(connection, asset_id) is not None:
                raise UnfreezeAlreadyPending(asset_id)
            self._repo.insert_application(
                connection,
                {
                    "application_id": application_id,
                    "asset_id": asset_id,
                    "project_id": row.project_id,
                    "state": ApplicationState.PENDING,
                    "reason": reason,
                    "applied_by": actor.actor_id,
                    "applied_at": now,
                },
            )

        try:
            self._ctx.run(apply, write=True)
        except LifecycleError as error:
            if isinstance(error.__cause__, exc.IntegrityError):  # a racing application won
                raise UnfreezeAlreadyPending(asset_id) from error
            raise
        self._ctx.logs.transitions.info(
            "unfreeze_applied", asset_id=asset_id, application_id=application_id, actor_id=actor.actor_id
        )
        return self.get(actor, application_id)

    def approve(
        self, actor: Platform, application_id: str, reason: str | None, request_id: str | None
    ) -> Transitioned:
        """Approve an application: the asset is unfrozen in the same transaction."""
        check_role(actor, Event.UNFREEZE, self._ctx.definition)
        request = MoveRequest(reason=check_reason(reason), request_id=check_request_id(request_id))

        def approve(connection: Connection) -> Outcome:
            asset_id = self._application(connection, application_id).asset_id
            # The asset first, then the application, as every move locks them: a rejection cannot
            # commit between the check and the unfreeze, nor deadlock.
            row = self._ctx.visible_row(connection, actor, asset_id, lock=True)
            application = self._application(connection, application_id, lock=True)
            earlier = self._manager.replayed(connection, row, Event.UNFREEZE, request.request_id)
            if earlier is not None:
                return earlier
            if application.state is not ApplicationState.PENDING:
                raise ApplicationNotPending(application_id, application.state.value)
            return self._manager.apply(connection, row, actor, Event.UNFREEZE, request)

        outcome = self._ctx.run(approve, write=True)
        if not outcome.replayed:
            self._ctx.applied([outcome.record])
        return outcome.result()

    def reject(self, actor: Platform, application_id: str, reason: str | None) -> UnfreezeApplication:
        check_role(actor, Event.UNFREEZE, self._ctx.definition)
        reason = check_reason(reason)

        def reject(connection: Connection) -> UnfreezeApplication:
            application = self._application(connection, application_id)
            if application.state is not ApplicationState.PENDING:
                raise ApplicationNotPending(application_id, application.state.value)
            if not self._repo.decide_application(
                connection, application_id, ApplicationState.REJECTED, actor.actor_id, reason, self._ctx.now()
            ):
                raise ApplicationNotPending(application_id, "decided")
            return application

        application = self._ctx.run(reject, write=True)
        self._ctx.logs.transitions.info(
            "unfreeze_rejected", application_id=application_id, asset_id=application.asset_id
        )
        return self.get(actor, application_id)

    def get(self, actor: Actor, application_id: str) -> UnfreezeApplication:
        check_actor(actor)
        row = self._ctx.run(
            lambda connection: self._repo.application(connection, check_id(application_id, "application_id")),
            write=False,
        )
        if row is None or not visible(actor, row.project_id):
            raise ApplicationNotFound(str(application_id))
        return UnfreezeApplication.from_row(row)

    def list(
        self,
        actor: Actor,
        project_id: str | None,
        states: Sequence[ApplicationState],
        limit: int,
        offset: int,
    ) -> list[UnfreezeApplication]:
        tenant = listing_tenant(actor, project_id, required=False)
        wanted = check_members(states, ApplicationState, "states")
        check_page(limit, offset)
        rows: list[Any] = self._ctx.run(
            lambda connection: self._repo.list_applications(connection, tenant, wanted, limit, offset),
            write=False,
        )
        return [UnfreezeApplication.from_row(row) for row in rows]

    def _application(
        self, connection: Connection, application_id: str, *, lock: bool = False
    ) -> UnfreezeApplication:
        row = self._repo.application(connection, check_id(application_id, "application_id"), lock=lock)
        if row is None:
            raise ApplicationNotFound(str(application_id))
        if self._repo.asset(connection, row.asset_id) is None:  # a broken foreign key
            raise CorruptRecord(
                row.asset_id, f"unfreeze application {row.application_id} refers to it, but it does not exist"
            )
        return UnfreezeApplication.from_row(row)
