"""Deciding a move: pure functions from what the asset is now to everything it will be.

The engine reads an ``AssetRow``, asks ``plan_move`` for a ``Move`` (the transition's record and
the asset's columns after it) and writes it with one guarded statement. Nothing here touches the
database or the clock, so every rule is testable alone; the table is always the one passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from lifecycle.actors import Actor
from lifecycle.definition import (
    UPLOAD_TIMEOUT_REASON,
    AssetFacts,
    AssetState,
    BlockScope,
    Definition,
    Event,
    FailType,
    FileState,
    Memory,
    PlannedOperation,
    Role,
)
from lifecycle.errors import CorruptRecord, InvalidParameter, PermissionDenied, TransitionNotAllowed
from lifecycle.inputs import check_actor
from lifecycle.records import TransitionRecord

HOLDING_STATES = frozenset({AssetState.BLOCK, AssetState.DELETING})
_AWAITING_REVIEW = frozenset({FileState.UPLOADED, FileState.REVIEW})
"""States that hold an asset without ending it: the upload clock pauses here."""

_REASON_EVENTS = frozenset(
    {
        Event.FREEZE,
        Event.UNFREEZE,
        Event.FAIL_UPLOAD,
        Event.REJECT_REVIEW,
        Event.TIME_OUT_UPLOAD,
    }
)
"""Events whose cause is the asset's ``reason`` ("freezing, unfreezing, and failure causes")."""


@dataclass(frozen=True, slots=True)
class AssetRow:
    """The columns a decision reads, as read in the deciding transaction."""

    asset_id: str
    project_id: str
    version: int
    facts: AssetFacts
    fail_type: FailType | None
    reason: str | None
    block_reason_code: str | None
    block_scope: BlockScope | None
    upload_deadline: datetime | None
    upload_time_left_us: int | None
    retention_started_at: datetime | None
    planned_operation: PlannedOperation | None
    planned_operation_time: datetime | None
    state_changed_at: datetime
    audit_head: str
    """The hash of the asset's latest audit row, which its next row chains to."""

    @property
    def state(self) -> AssetState:
        return self.facts.state


@dataclass(frozen=True, slots=True)
class MoveRequest:
    """What the caller asked for, beyond the event: the inputs some events take, and its id."""

    reason: str | None = None
    fail_type: FailType | None = None
    block_reason_code: str | None = None
    block_scope: BlockScope = BlockScope.ASSET
    request_id: str | None = None
    """The caller's id for this request: in the audit trail, and what makes a retry safe."""


class MoveOptions(TypedDict, total=False):
    """What every move accepts besides its actor and asset (``Lifecycle.activate(..., **options)``)."""

    reason: str | None
    request_id: str | None
    """The caller's id for this request: in the audit trail, and what makes a retry safe."""
    expected_version: int | None
    """Apply only if the asset is still at this version (else ``Conflict``)."""


@dataclass(frozen=True, slots=True)
class Move:
    """Everything a transition writes: its record (the audit row) and the asset's new columns."""

    record: TransitionRecord
    expected_version: int
    """The version the asset was read at: the guarded write matches only that."""
    previous_hash: str
    """The asset's audit chain head as read: the new audit row's hash chains to it."""
    fail_type: FailType | None
    reason: str | None
    block_reason_code: str | None
    block_scope: BlockScope | None
    upload_deadline: datetime | None
    upload_time_left_us: int | None
    retention_started_at: datetime | None
    planned_operation: PlannedOperation | None
    planned_operation_time: datetime | None
    state_changed_at: datetime
    main_file_state: FileState | None
    """The MAIN file's new state, or None where the move leaves it alone."""
    files_deleted: bool

    @property
    def asset_id(self) -> str:
        return self.record.asset_id

    @property
    def project_id(self) -> str:
        return self.record.project_id

    @property
    def event(self) -> Event:
        return self.record.event

    @property
    def source(self) -> AssetState:
        assert self.record.from_state is not None, "a move leaves from a state"
        return self.record.from_state

    @property
    def dest(self) -> AssetState:
        return self.record.to_state

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def pre_freeze(self) -> AssetState | None:
        return self.record.pre_freeze_state

    @property
    def pre_delete(self) -> AssetState | None:
        return self.record.pre_delete_state


def check_role(actor: Actor, event: Event, definition: Definition) -> None:
    check_actor(actor)
    roles = definition.roles(event)
    if actor.role not in roles:
        raise PermissionDenied(
            event.value, actor.role.value, [r.value for r in sorted(roles, key=list(Role).index)]
        )


def check_request(event: Event, fail_type: FailType | None, block_reason_code: str | None) -> None:
    """The inputs only some events take: a fail type (a review rejection), a block reason code (a
    freeze)."""
    if event is Event.REJECT_REVIEW and fail_type is None:
        raise InvalidParameter(
            "fail_type", "a review rejection needs AUTOMATIC_REVIEW_REJECT or MANUAL_REVIEW_REJECT"
        )
    if event is not Event.REJECT_REVIEW and fail_type is not None:
        raise InvalidParameter("fail_type", f"only a review rejection takes a fail type, not '{event.value}'")
    if block_reason_code is not None and event is not Event.FREEZE:
        raise InvalidParameter(
            "block_reason_code", f"only a freeze takes a block reason code, not '{event.value}'"
        )


def plan_move(
    row: AssetRow,
    event: Event,
    actor: Actor,
    request: MoveRequest,
    now: datetime,
    *,
    upload_window: timedelta,
    definition: Definition,
) -> Move:
    """The move ``event`` makes from ``row``; ``TransitionNotAllowed`` where the table refuses."""
    edge = definition.resolve(event, row.facts)
    if edge is None:
        raise TransitionNotAllowed(
            row.asset_id,
            event,
            row.state,
            definition.allowed_events(row.facts, actor.role),
            _refusal_detail(event, row.facts),
        )
    source, dest = row.state, edge.dest
    pre_freeze, pre_delete = _remember(row.facts, edge.remembers, dest)
    main_file_after = definition.main_file_after
    deadline, time_left = _upload_clock(row, event, dest, now, upload_window, main_file_after)

    given_reason = request.reason or (UPLOAD_TIMEOUT_REASON if event is Event.TIME_OUT_UPLOAD else None)
    reason = given_reason if event in _REASON_EVENTS else row.reason
    fail_type = request.fail_type if event is Event.REJECT_REVIEW else row.fail_type
    frozen_after = pre_freeze is not None
    block_reason_code = (
        request.block_reason_code
        if event is Event.FREEZE
        else row.block_reason_code
        if frozen_after
        else None
    )
    block_scope = request.block_scope if event is Event.FREEZE else row.block_scope if frozen_after else None

    planned_operation, planned_time = row.planned_operation, row.planned_operation_time
    plan_done = (
        planned_operation is not None
        and planned_time is not None
        and planned_time <= now
        and (_reached(planned_operation, row.facts) or _reached_after(planned_operation, dest, frozen_after))
    )
    if dest is AssetState.DELETED or plan_done:
        planned_operation, planned_time = None, None

    record = TransitionRecord(
        asset_id=row.asset_id,
        project_id=row.project_id,
        event=event,
        from_state=source,
        to_state=dest,
        version=row.version + 1,
        actor_kind=actor.role,
        actor_id=actor.actor_id,
        occurred_at=now,
        reason=given_reason,
        fail_type=request.fail_type if event is Event.REJECT_REVIEW else None,
        request_id=request.request_id,
        pre_freeze_state=pre_freeze,
        pre_delete_state=pre_delete,
        block_scope=block_scope if event is Event.FREEZE else None,
        block_reason_code=block_reason_code if event is Event.FREEZE else None,
    )
    return Move(
        record=record,
        expected_version=row.version,
        previous_hash=row.audit_head,
        fail_type=fail_type,
        reason=reason,
        block_reason_code=block_reason_code,
        block_scope=block_scope,
        upload_deadline=deadline,
        upload_time_left_us=time_left,
        retention_started_at=_retention_clock(row, dest, frozen_after, now),
        planned_operation=planned_operation,
        planned_operation_time=planned_time,
        state_changed_at=row.state_changed_at if dest is source else now,
        main_file_state=main_file_after.get(event),
        files_deleted=dest is AssetState.DELETED,
    )


def advance_facts(
    facts: AssetFacts,
    event: Event,
    dest: AssetState,
    remembers: Memory | None,
    *,
    definition: Definition,
    tenant_wide: bool = False,
) -> AssetFacts:
    """The facts after a move along an edge: the pure core of ``plan_move``, for exploration."""
    pre_freeze, pre_delete = _remember(facts, remembers, dest)
    return AssetFacts(
        state=dest,
        pre_freeze=pre_freeze,
        pre_delete=pre_delete,
        activate_on_upload=facts.activate_on_upload,
        review_required=facts.review_required,
        main_file_state=FileState.DELETED
        if dest is AssetState.DELETED
        else definition.main_file_after.get(event, facts.main_file_state),
        frozen_by_tenant=pre_freeze is not None
        and (tenant_wide if event is Event.FREEZE else facts.frozen_by_tenant),
    )


def _remember(
    facts: AssetFacts, remembers: Memory | None, dest: AssetState
) -> tuple[AssetState | None, AssetState | None]:
    """The remembered states after a move, keeping each slot only while it still applies.

    The pre-delete state applies while the asset is in the recycle bin, or frozen there; the
    pre-freeze state while it is frozen, or in the recycle bin after being deleted while frozen.
    """
    pre_freeze = facts.state if remembers is Memory.PRE_FREEZE else facts.pre_freeze
    pre_delete = facts.state if remembers is Memory.PRE_DELETE else facts.pre_delete
    if remembers is Memory.PRE_DELETE_FROM_PRE_FREEZE:
        pre_freeze, pre_delete = None, facts.pre_freeze
    if dest is AssetState.BLOCK:
        return pre_freeze, pre_delete if pre_freeze is AssetState.DELETING else None
    if dest is AssetState.DELETING:
        return pre_freeze if pre_delete is AssetState.BLOCK else None, pre_delete
    return None, None


def _reached(plan: PlannedOperation, facts: AssetFacts) -> bool:
    """Whether the asset is where ``plan`` would take it (frozen; in the recycle bin)."""
    return facts.is_frozen if plan is PlannedOperation.BLOCK else facts.state is AssetState.DELETING


def _reached_after(plan: PlannedOperation, dest: AssetState, frozen_after: bool) -> bool:
    return frozen_after if plan is PlannedOperation.BLOCK else dest is AssetState.DELETING


def _retention_clock(row: AssetRow, dest: AssetState, frozen_after: bool, now: datetime) -> datetime | None:
    """When the recycle bin's retention began counting; None while it is not counting.

    It counts from the delete, except for an asset deleted while frozen: time never moves a
    frozen asset, so its retention counts from the unfreeze that leaves it in the bin.
    """
    if dest is not AssetState.DELETING or frozen_after:
        return None
    if row.state is AssetState.DELETING and row.retention_started_at is not None:
        return row.retention_started_at
    return now


def _upload_clock(
    row: AssetRow,
    event: Event,
    dest: AssetState,
    now: datetime,
    upload_window: timedelta,
    main_file_after: Mapping[Event, FileState],
) -> tuple[datetime | None, int | None]:
    """(deadline, time left) after a move: the upload window counts only time spent in CREATING
    waiting for the MAIN file; it stops for good once the file is uploaded for review."""
    source = row.state
    if main_file_after.get(event, row.facts.main_file_state) in _AWAITING_REVIEW:
        return None, None
    if dest is AssetState.CREATING:
        if source is AssetState.CREATING:
            return row.upload_deadline, None
        left = row.upload_time_left_us
        if left is None:
            left = int(upload_window / timedelta(microseconds=1))
        try:
            return now + timedelta(microseconds=left), None
        except OverflowError:  # the engine never stores so long a time left: the row was edited
            raise CorruptRecord(
                row.asset_id, f"its upload_time_left_us ({left}) puts the upload deadline past the calendar"
            ) from None
    if dest in HOLDING_STATES:
        if source is AssetState.CREATING and row.upload_deadline is not None:
            return None, (row.upload_deadline - now) // timedelta(microseconds=1)
        return None, row.upload_time_left_us
    return None, None


def _refusal_detail(event: Event, facts: AssetFacts) -> str | None:
    if event is Event.DELETE and facts.state is AssetState.BLOCK:
        return "it was frozen while in the recycle bin"
    if event is Event.FREEZE and facts.state is AssetState.DELETING:
        return "it was deleted while frozen and is still frozen"
    if event is Event.PASS_REVIEW and facts.state is AssetState.CREATING:
        return f"its MAIN file is {facts.main_file_state.value}, not awaiting review"
    if event in (Event.ACCEPT_UPLOAD, Event.SUBMIT_FOR_REVIEW, Event.CANCEL_UPLOAD) and (
        facts.state is AssetState.CREATING
    ):
        if facts.main_file_state not in (FileState.CREATING, FileState.CANCELLED):
            return f"its MAIN file is {facts.main_file_state.value}"
        return "it requires review" if facts.review_required else "it does not require review"
    return None
