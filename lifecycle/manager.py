"""Every state change of an asset asked for by a caller goes through the ``AssetManager``.

One path for each: check the actor's role and the inputs (nothing touched yet); in one
transaction (``Context.run``), read the asset, answer a retry with its first outcome, decide the
move with the pure ``plan_move`` and write it with the repository's guarded write plus its audit
row; after the commit, log the transition record (``Context.applied``). A refusal writes nothing; a
lost race is a ``Conflict``, or, where the move that won carried the same request, its outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.chain import declared_json
from lifecycle.context import Context
from lifecycle.definition import (
    LIVE_STATES,
    RECORDED_CHANGES,
    AssetState,
    BatchAction,
    BlockScope,
    Declared,
    Event,
    FileCategory,
    FileState,
    Role,
    UploadResult,
)
from lifecycle.errors import (
    AssetNotFound,
    Conflict,
    CorruptRecord,
    FileNotFound,
    InvalidParameter,
    LifecycleError,
    PermissionDenied,
    StoreUnavailable,
    TransitionNotAllowed,
)
from lifecycle.inputs import (
    MAX_BATCH,
    NewAsset,
    canonical_md5,
    check_actor,
    check_block_reason_code,
    check_fail_type,
    check_file_name,
    check_file_size,
    check_id,
    check_members,
    check_new_asset,
    check_reason,
    check_request_id,
    check_version,
)
from lifecycle.moves import AssetRow, Move, MoveRequest, check_request, check_role, plan_move
from lifecycle.reader import Reader
from lifecycle.records import TransitionRecord
from lifecycle.results import (
    Asset,
    AssetFile,
    BatchResult,
    TenantOperation,
    Transitioned,
    UploadConfirmed,
)
from lifecycle.storage import Storage


@dataclass(frozen=True, slots=True)
class Outcome:
    """A move's answer: the record of the transition, applied now or (``replayed``) by the same
    request before."""

    record: TransitionRecord
    replayed: bool = False

    def result(self) -> Transitioned:
        return self.record.result(replayed=self.replayed)


class AssetManager:
    """Creations, moves, uploads, tenant-wide freezes and batch actions."""

    def __init__(self, context: Context, storage: Storage, reader: Reader) -> None:
        self._ctx = context
        self._repo = context.repository
        self._storage = storage
        self._reader = reader

    # Creation ------------------------------------------------------------------------------------

    def create_asset(
        self, actor: Tenant | Platform, new: NewAsset, project_id: str | None, request_id: str | None
    ) -> Asset:
        """Create the asset; for a retried request, answer with the one it created."""
        ctx = self._ctx
        owner = _creating_for(actor, project_id)
        request_id = check_request_id(request_id)
        now = ctx.now()
        checked = check_new_asset(new, now)
        if isinstance(actor, Tenant) and checked.customized:
            raise PermissionDenied("create a customized asset", Role.TENANT.value, [Role.PLATFORM.value])
        app_user_id = checked.app_user_id or (actor.app_user_id if isinstance(actor, Tenant) else None)
        # Ids are always generated: a caller-chosen id that clashed would tell one tenant that
        # another tenant's asset exists.
        asset_id = str(uuid.uuid4())
        activate = (
            ctx.settings.activate_on_upload
            if checked.activate_on_upload is None
            else checked.activate_on_upload
        )
        auto = checked.auto_operation
        asset_values = {
            "asset_id": asset_id,
            "project_id": owner,
            "app_user_id": app_user_id,
            "asset_name": checked.asset_name,
            "asset_description": checked.asset_description,
            "asset_type": checked.asset_type,
            "asset_state": AssetState.CREATING,
            "version": 1,
            "pre_freeze_state": None,
            "pre_delete_state": None,
            "fail_type": None,
            "reason": None,
            "block_reason_code": None,
            "block_scope": None,
            "activate_on_upload": activate,
            "review_required": checked.review_required,
            "tags": list(checked.tags),
            "asset_extra_meta": checked.asset_extra_meta,
            "system_properties": checked.system_properties,
            "asset_order": checked.asset_order,
            "create_time": now,
            "update_time": now,
            "state_changed_at": now,
            "upload_deadline": now + ctx.settings.upload_window,
            "upload_time_left_us": None,
            "planned_operation": auto.operation if auto else None,
            "planned_operation_time": auto.operation_time if auto else None,
            "customized": checked.customized,
        }
        file_values = [
            {
                "file_id": str(uuid.uuid4()),
                "asset_id": asset_id,
                "position": position,
                "file_name": f.file_name,
                "file_md5": f.file_md5,
                "file_size": f.file_size,
                "file_type": f.file_type,
                "asset_file_category": f.asset_file_category,
                "state": FileState.CREATING,
                "reason": None,
                "create_time": now,
                "update_time": now,
                "stored_at": None,
                "timbre_model": f.timbre_model,
            }
            for position, f in enumerate(checked.files)
        ]
        creation = TransitionRecord(
            asset_id=asset_id,
            project_id=owner,
            event=Event.CREATE,
            from_state=None,
            to_state=AssetState.CREATING,
            version=1,
            actor_kind=actor.role,
            actor_id=actor.actor_id,
            occurred_at=now,
            request_id=request_id,
            declared=declared_json(asset_values, file_values),
        )

        def create(connection: Connection) -> str | None:
            earlier = (
                None
                if request_id is None
                else self._repo.claim_creation(connection, owner, request_id, asset_id)
            )
            if earlier is None:
                self._repo.insert_asset(connection, asset_values, file_values, creation)
                self._storage.check_allowance(connection, owner, asset_id, None, now)
            return earlier

        earlier = ctx.run(create, write=True)
        if earlier is not None:  # a retry: the asset this request created already
            try:
                return self._reader.get_asset(actor, earlier)
            except AssetNotFound:  # its request row outlived it: a broken foreign key
                raise CorruptRecord(
                    earlier, f"request {request_id!r} is recorded as its creation, but it does not exist"
                ) from None
        ctx.logs.transitions.info(
            "asset_created",
            asset_id=asset_id,
            project_id=owner,
            asset_type=checked.asset_type.value,
            actor_kind=actor.role.value,
            actor_id=actor.actor_id,
            request_id=request_id,
        )
        ctx.applied([creation], log=False)
        return self._reader.get_asset(actor, asset_id)

    # Moves ----------------------------------------------------------------------------------------

    def fire(
        self,
        actor: Actor,
        asset_id: str,
        event: Event,
        request: MoveRequest,
        expected_version: int | None,
    ) -> Transitioned:
        if not isinstance(event, Event) or event is Event.CREATE or event in RECORDED_CHANGES:
            raise InvalidParameter(
                "event",
                "must be an Event the transition table decides (create_asset creates; declare_file,"
                " delete_file and update_asset make the changes that move no state)",
            )
        check_role(actor, event, self._ctx.definition)
        reason = check_reason(request.reason)
        fail_type = check_fail_type(request.fail_type)
        block_reason_code = check_block_reason_code(request.block_reason_code)
        check_request(event, fail_type, block_reason_code)
        request = MoveRequest(
            reason, fail_type, block_reason_code, request_id=check_request_id(request.request_id)
        )
        check_version(expected_version)

        def move(connection: Connection) -> Outcome:
            row = self._ctx.visible_row(connection, actor, asset_id)
            earlier = self.replayed(connection, row, event, request.request_id)
            if earlier is not None:
                return earlier
            if expected_version is not None and row.version != expected_version:
                raise Conflict(asset_id, event, None, expected_version, f"it is at version {row.version}")
            return self.apply(connection, row, actor, event, request)

        return self._after(self._ctx.run(move, write=True))

    def apply(
        self, connection: Connection, row: AssetRow, actor: Actor, event: Event, request: MoveRequest
    ) -> Outcome:
        """Decide ``event`` from ``row`` and write it, in the caller's transaction."""
        ctx = self._ctx
        try:
            move = plan_move(
                row,
                event,
                actor,
                request,
                ctx.now(),
                upload_window=ctx.settings.upload_window,
                definition=ctx.definition,
            )
        except TransitionNotAllowed as refusal:
            self._refused(row, event, actor, refusal, request.request_id)
            raise
        if self._repo.write_move(connection, move):
            return Outcome(move.record)
        won = self._won_by_same_request(connection, move)
        if won is None:
            raise Conflict(row.asset_id, event, row.state, row.version)
        return won

    def _refused(
        self, row: AssetRow, event: Event, actor: Actor, refusal: TransitionNotAllowed, request_id: str | None
    ) -> None:
        self._ctx.logs.transitions.info(
            "transition_refused",
            asset_id=row.asset_id,
            project_id=row.project_id,
            event_name=event.value,
            state=row.state.value,
            allowed=[e.value for e in refusal.allowed],
            actor_kind=actor.role.value,
            actor_id=actor.actor_id,
            request_id=request_id,
        )

    def _apply_all(
        self,
        connection: Connection,
        rows: Sequence[AssetRow],
        actor: Actor,
        event: Event,
        request: MoveRequest,
    ) -> dict[str, Outcome | LifecycleError]:
        """Decide ``event`` for each row, and write every move the table allows in bulk (one
        guarded statement for all, ``Repository.write_moves``), in the caller's transaction, which
        holds the rows: each asset's outcome, or why it did not move."""
        ctx = self._ctx
        now = ctx.now()
        answers: dict[str, Outcome | LifecycleError] = {}
        planned: list[tuple[AssetRow, Move]] = []
        for row in rows:
            try:
                move = plan_move(
                    row,
                    event,
                    actor,
                    request,
                    now,
                    upload_window=ctx.settings.upload_window,
                    definition=ctx.definition,
                )
            except TransitionNotAllowed as refusal:
                self._refused(row, event, actor, refusal, request.request_id)
                answers[row.asset_id] = refusal
            else:
                planned.append((row, move))
        written = self._repo.write_moves(connection, planned).written
        for row, move in planned:
            answers[row.asset_id] = (
                Outcome(move.record)
                if move.asset_id in written
                else Conflict(row.asset_id, event, row.state, row.version)
            )
        return answers

    def replayed(
        self, connection: Connection, row: AssetRow, event: Event, request_id: str | None
    ) -> Outcome | None:
        """A retry of the request that made the asset's last move gets that move's outcome.

        Checked before anything else, so a retry answers the same whether or not the first
        attempt's reply was lost; it costs one indexed read, and only when a request id is given.
        """
        if request_id is None:
            return None
        last = self._repo.last_audit(connection, row.asset_id)
        if last is None or last.request_id != request_id or last.event is not event:
            return None
        return Outcome(TransitionRecord.from_audit_row(last), replayed=True)

    def _won_by_same_request(self, connection: Connection, lost: Move) -> Outcome | None:
        """A retry that raced the call it retries, and lost the guarded write to it, gets the
        winner's outcome: the move that made the next version, if it carries this request id
        and event. (A statement of its own sees the winner, committed while the write waited.)"""
        request_id = lost.record.request_id
        if request_id is None:
            return None
        won = self._repo.audit_row(connection, lost.asset_id, lost.version)
        if won is None or won.request_id != request_id or won.event is not lost.event:
            return None
        return Outcome(TransitionRecord.from_audit_row(won), replayed=True)

    def _after(self, outcome: Outcome) -> Transitioned:
        if not outcome.replayed:
            self._ctx.applied([outcome.record])
        return outcome.result()

    # Uploads --------------------------------------------------------------------------------------

    def confirm_upload(
        self,
        actor: Tenant,
        asset_id: str,
        file_id: str,
        result: UploadResult,
        actual: dict[str, Any],
        reason: str | None,
        request_id: str | None,
    ) -> UploadConfirmed:
        """Report a file's upload. The MAIN file's report moves the asset out of CREATING."""
        _require_tenant(actor, "confirm_upload")
        if not isinstance(result, UploadResult):
            raise InvalidParameter("result", "must be CREATED, FAILED or CANCELLED")
        actual = {
            "file_size": None if actual["file_size"] is None else check_file_size(actual["file_size"]),
            "file_md5": None if actual["file_md5"] is None else canonical_md5(actual["file_md5"]),
            "file_name": None if actual["file_name"] is None else check_file_name(actual["file_name"]),
        }
        reason = check_reason(reason)
        request_id = check_request_id(request_id)

        def confirm(connection: Connection) -> tuple[Any, Outcome | None, FileState | None]:
            # Locked: a file other than MAIN is written without a guarded move of the asset,
            # and a freeze or delete must not commit between its check and its write.
            row = self._ctx.visible_row(connection, actor, asset_id, lock=True)
            file_row = self._repo.file(connection, asset_id, check_id(file_id, "file_id"))
            if file_row is None:
                raise FileNotFound(asset_id, str(file_id))
            mismatches = _mismatches(actual, file_row)
            if file_row.asset_file_category is not FileCategory.MAIN:
                state = self._confirm_other_file(connection, row, file_row, result, mismatches, reason)
                return self._repo.file(connection, asset_id, file_id), None, state
            event, move_reason = _main_file_event(row, result, mismatches, reason)
            earlier = self.replayed(connection, row, event, request_id)
            if earlier is not None:
                return self._repo.file(connection, asset_id, file_id), earlier, None
            request = MoveRequest(reason=move_reason, request_id=request_id)
            outcome = self.apply(connection, row, actor, event, request)
            if not outcome.replayed:
                self._storage.check_allowance(
                    connection, row.project_id, asset_id, file_id, outcome.record.occurred_at
                )
            return self._repo.file(connection, asset_id, file_id), outcome, None

        file_row, outcome, other_state = self._ctx.run(confirm, write=True)
        if outcome is None:
            assert other_state is not None
            self._ctx.logs.transitions.info(
                "file_upload_confirmed", asset_id=asset_id, file_id=file_id, state=other_state.value
            )
            return UploadConfirmed(AssetFile.from_row(file_row), None)
        return UploadConfirmed(AssetFile.from_row(file_row), self._after(outcome))

    def _confirm_other_file(
        self,
        connection: Connection,
        row: AssetRow,
        file_row: Any,
        result: UploadResult,
        mismatches: list[str],
        reason: str | None,
    ) -> FileState:
        definition = self._ctx.definition
        edge = definition.confirmation(result, Declared.DIFFERS if mismatches else Declared.MATCHES)
        if edge.asset_states is not None and row.state not in edge.asset_states:
            raise TransitionNotAllowed(
                row.asset_id,
                Event.ACCEPT_UPLOAD,
                row.state,
                definition.allowed_events(row.facts),
                "files of a frozen or deleted asset cannot be uploaded",
            )
        if edge.declared is Declared.DIFFERS:
            reason = _mismatch_reason("file", mismatches)
        now = self._ctx.now()
        if not self._repo.set_file_state(
            connection, row.asset_id, file_row.file_id, edge.sources, edge.dest, reason, now
        ):
            raise InvalidParameter(
                "file_id", f"file {file_row.file_id} is {file_row.state.value}, not awaiting upload"
            )
        self._storage.check_allowance(connection, row.project_id, row.asset_id, file_row.file_id, now)
        return edge.dest

    # Tenant-wide freezing ---------------------------------------------------------------------------

    def freeze_tenant(
        self,
        actor: Platform | System,
        project_id: str,
        reason: str | None,
        block_reason_code: str | None,
        request_id: str | None,
    ) -> TenantOperation:
        check_role(actor, Event.FREEZE, self._ctx.definition)
        check_id(project_id, "project_id")
        request = MoveRequest(
            reason=check_reason(reason),
            block_reason_code=check_block_reason_code(block_reason_code),
            block_scope=BlockScope.TENANT,
            request_id=check_request_id(request_id),
        )
        freezable = [*LIVE_STATES, AssetState.DELETING, AssetState.BLOCK]  # BLOCK: reported as skipped
        return self._tenant_operation(actor, project_id, Event.FREEZE, freezable, request)

    def unfreeze_tenant(
        self, actor: Platform, project_id: str, reason: str | None, request_id: str | None
    ) -> TenantOperation:
        check_role(actor, Event.UNFREEZE, self._ctx.definition)
        check_id(project_id, "project_id")
        request = MoveRequest(reason=check_reason(reason), request_id=check_request_id(request_id))
        frozen = [AssetState.BLOCK, AssetState.DELETING]  # DELETING: deleted while frozen
        return self._tenant_operation(actor, project_id, Event.UNFREEZE, frozen, request)

    def _tenant_operation(
        self,
        actor: Actor,
        project_id: str,
        event: Event,
        states: Sequence[AssetState],
        request: MoveRequest,
    ) -> TenantOperation:
        def operate(connection: Connection) -> tuple[list[Outcome], list[tuple[str, str]]]:
            skipped: dict[str, str] = {}
            moving: list[AssetRow] = []
            rows = self._repo.lock_tenant_rows(connection, project_id, states)
            for row in rows:
                if event is Event.FREEZE and row.state is AssetState.BLOCK:
                    skipped[row.asset_id] = "already frozen"
                elif event is Event.UNFREEZE and not row.facts.is_frozen:
                    continue  # in the recycle bin, but not frozen
                elif event is Event.UNFREEZE and row.block_scope is not BlockScope.TENANT:
                    skipped[row.asset_id] = "frozen on its own, not by the tenant-wide freeze"
                else:
                    moving.append(row)
            answers = self._apply_all(connection, moving, actor, event, request)
            outcomes: list[Outcome] = []
            for row in rows:  # in the rows' order: by asset id
                answer = answers.get(row.asset_id)
                if isinstance(answer, Outcome):
                    outcomes.append(answer)
                elif answer is not None:
                    skipped[row.asset_id] = answer.message
            return outcomes, [
                (row.asset_id, skipped[row.asset_id]) for row in rows if row.asset_id in skipped
            ]

        outcomes, skipped = self._ctx.run(operate, write=True)
        moved = tuple(self._after(outcome) for outcome in outcomes)
        self._ctx.logs.transitions.info(
            "tenant_frozen" if event is Event.FREEZE else "tenant_unfrozen",
            project_id=project_id,
            moved=len(moved),
            skipped=len(skipped),
            actor_kind=actor.role.value,
            actor_id=actor.actor_id,
            request_id=request.request_id,
        )
        return TenantOperation(project_id, event, moved, tuple(skipped))

    # Batch actions --------------------------------------------------------------------------------

    def batch(
        self, actor: Actor, action: BatchAction, asset_ids: Sequence[str], request_id: str | None
    ) -> list[BatchResult]:
        """One action over many assets: SUCCESS or FAILED per asset, in the order given, one asset's
        failure never another's. One transaction decides every asset and writes the moves in bulk."""
        if not isinstance(action, BatchAction):
            raise InvalidParameter("action", "must be DELETE, DELETE_FORCE, RESTORE, ACTIVE or UNACTIVE")
        asset_ids = check_members(asset_ids, str, "asset_ids", maximum=MAX_BATCH)
        if not asset_ids:
            raise InvalidParameter("asset_ids", f"must list 1-{MAX_BATCH} asset ids")
        for index, asset_id in enumerate(asset_ids):  # all checked before any is moved
            check_id(asset_id, f"asset_ids[{index}]")
        check_role(actor, action.event, self._ctx.definition)
        request = MoveRequest(request_id=check_request_id(request_id))
        event = action.event
        first = list(dict.fromkeys(asset_ids))  # a repeated id is answered after, as its own call
        answers: dict[str, Outcome | Transitioned | LifecycleError]
        try:
            answers = dict(
                self._ctx.run(lambda c: self._batch_in(c, actor, first, event, request), write=True)
            )
        except StoreUnavailable:
            # The bulk write failed as a whole: each asset in its own transaction then, so that one
            # asset's failure is its own.
            answers = {asset_id: self._fire_alone(actor, asset_id, event, request) for asset_id in first}
        else:
            self._ctx.applied(
                [a.record for a in answers.values() if isinstance(a, Outcome) and not a.replayed]
            )
        results: list[BatchResult] = []
        seen: set[str] = set()
        for asset_id in asset_ids:
            answer = (
                answers[asset_id]
                if asset_id not in seen
                else self._fire_alone(actor, asset_id, event, request)
            )
            seen.add(asset_id)
            results.append(_batch_result(asset_id, answer))
        return results

    def _batch_in(
        self,
        connection: Connection,
        actor: Actor,
        asset_ids: Sequence[str],
        event: Event,
        request: MoveRequest,
    ) -> dict[str, Outcome | LifecycleError]:
        """The batch in one transaction: the assets read and locked, retries answered, the rest
        decided and written in bulk; each asset's outcome, or why it did not move."""
        tenant = actor.project_id if isinstance(actor, Tenant) else None
        rows = self._repo.read_rows(connection, asset_ids, tenant, lock=True)
        answers: dict[str, Outcome | LifecycleError] = {}
        earlier = {} if request.request_id is None else self._repo.last_audits(connection, list(rows))
        moving: list[AssetRow] = []
        for asset_id in asset_ids:
            row = rows.get(asset_id)
            last = earlier.get(asset_id)
            if row is None:
                answers[asset_id] = AssetNotFound(asset_id)
            elif isinstance(row, CorruptRecord):
                answers[asset_id] = row
            elif last is not None and last.request_id == request.request_id and last.event is event:
                answers[asset_id] = Outcome(TransitionRecord.from_audit_row(last), replayed=True)
            else:
                moving.append(row)
        answers.update(self._apply_all(connection, moving, actor, event, request))
        return answers

    def _fire_alone(
        self, actor: Actor, asset_id: str, event: Event, request: MoveRequest
    ) -> Transitioned | LifecycleError:
        try:
            return self.fire(actor, asset_id, event, request, None)
        except LifecycleError as error:
            return error


def _batch_result(asset_id: str, answer: Outcome | Transitioned | LifecycleError) -> BatchResult:
    if isinstance(answer, LifecycleError):
        return BatchResult(
            asset_id, "FAILED", error_code=answer.code, error_msg=answer.client_message, error=answer
        )
    transition = answer.result() if isinstance(answer, Outcome) else answer
    return BatchResult(asset_id, "SUCCESS", transition=transition)


def _creating_for(actor: object, project_id: object) -> str:
    """The tenant an asset is created for: the tenant itself, or the one the platform names."""
    check_actor(actor)
    if isinstance(actor, Tenant):
        check_id(actor.project_id, "project_id")
        if project_id is not None and project_id != actor.project_id:
            raise PermissionDenied(
                "create an asset for another tenant", Role.TENANT.value, [Role.PLATFORM.value]
            )
        return actor.project_id
    if isinstance(actor, Platform):
        if project_id is None:
            raise InvalidParameter("project_id", "the platform must name the tenant the asset is for")
        return check_id(project_id, "project_id")
    assert isinstance(actor, System)
    raise PermissionDenied("create", actor.role.value, [Role.TENANT.value, Role.PLATFORM.value])


def _require_tenant(actor: Actor, action: str) -> None:
    check_actor(actor)
    if actor.role is not Role.TENANT:
        raise PermissionDenied(action, actor.role.value, [Role.TENANT.value])


def _mismatches(actual: dict[str, Any], file_row: Any) -> list[str]:
    """The declared fields an upload differs in (the name compared case-insensitively)."""
    return [
        name
        for name, value in actual.items()
        if value is not None
        and (
            value.lower() != file_row.file_name.lower()
            if name == "file_name"
            else value != getattr(file_row, name)
        )
    ]


def _main_file_event(
    row: AssetRow, result: UploadResult, mismatches: list[str], reason: str | None
) -> tuple[Event, str | None]:
    """The asset's move a report on its MAIN file makes, and the move's reason."""
    if result is UploadResult.CREATED and mismatches:
        return Event.FAIL_UPLOAD, _mismatch_reason("MAIN file", mismatches)
    if result is UploadResult.CREATED:
        return (Event.SUBMIT_FOR_REVIEW if row.facts.review_required else Event.ACCEPT_UPLOAD), reason
    if result is UploadResult.FAILED:
        return Event.FAIL_UPLOAD, reason or "MAIN file upload failed"
    return Event.CANCEL_UPLOAD, reason


def _mismatch_reason(what: str, mismatches: list[str]) -> str:
    """Which declared fields the upload differs in (names only: the values may be long or odd)."""
    return f"{what} does not match its declaration: {', '.join(mismatches)} differ"
