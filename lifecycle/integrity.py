"""Trusting what is stored: checks on the rows the engine reads, and the verifier that recomputes
every asset's hash chain (``lifecycle.chain``) and replays its history through the transition table.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.chain import DECLARED_FILE_COLUMNS, GENESIS, canonical, chain_hash
from lifecycle.definition import (
    CHANGE_STATES,
    INITIAL_STATE,
    RECORDED_CHANGES,
    STORED_FILE_STATES,
    AssetFacts,
    AssetState,
    AssetType,
    BlockScope,
    Definition,
    Event,
    FileCategory,
    FileState,
    PlannedOperation,
    Role,
    UnknownValue,
)
from lifecycle.errors import CorruptRecord, TransitionNotAllowed
from lifecycle.explore import reachable
from lifecycle.moves import AssetRow, MoveRequest, advance_facts, plan_move

# Checks on stored rows -----------------------------------------------------------------------


_Memory = tuple[AssetState, AssetState | None, AssetState | None]
_POSSIBLE: dict[int, tuple[Definition, frozenset[_Memory]]] = {}


def _possible_memories(definition: Definition) -> frozenset[_Memory]:
    """Every (state, pre-freeze, pre-delete) some legal history leaves (per definition, once)."""
    cached = _POSSIBLE.get(id(definition))
    if cached is None or cached[0] is not definition:
        memories = frozenset(
            (facts.state, facts.pre_freeze, facts.pre_delete) for facts in reachable(definition)
        )
        cached = _POSSIBLE[id(definition)] = (definition, memories)
    return cached[1]


def check_stored_state(
    asset_id: str,
    state: object,
    pre_freeze: object,
    pre_delete: object,
    definition: Definition,
) -> None:
    """Raise ``CorruptRecord`` unless the state and remembered states are ones the table can reach."""
    for column, value in (
        ("asset_state", state),
        ("pre_freeze_state", pre_freeze),
        ("pre_delete_state", pre_delete),
    ):
        if isinstance(value, UnknownValue):
            raise CorruptRecord(asset_id, f"{column} {str(value)!r} is not a state of the definition")
    if state is None:
        raise CorruptRecord(asset_id, "asset_state is NULL")
    if (state, pre_freeze, pre_delete) not in _possible_memories(definition):
        raise CorruptRecord(
            asset_id,
            f"no legal history leaves it in {_described(state, pre_freeze, pre_delete)}",
        )


def check_known(asset_id: str, values: Mapping[str, object]) -> None:
    """Raise ``CorruptRecord`` if any of ``values`` (column: value) is a value its enum does not know."""
    for column, value in values.items():
        if isinstance(value, UnknownValue):
            raise CorruptRecord(asset_id, f"{column} {str(value)!r} is not a value the engine knows")


def _described(state: object, pre_freeze: object, pre_delete: object) -> str:
    def name(value: object) -> str:
        return "NULL" if value is None else str(canonical(value))

    return f"{name(state)} (pre-freeze {name(pre_freeze)}, pre-delete {name(pre_delete)})"


# Verifying histories -----------------------------------------------------------------------


class ProblemKind(enum.Enum):
    CHAIN_BROKEN = "chain_broken"
    """A row's hash does not match its content and the row before it: the row was edited, or one
    before it was deleted."""
    SEQUENCE_GAP = "sequence_gap"
    """The rows' ``seq`` do not run 1, 2, 3, …: rows were deleted (or inserted)."""
    HEAD_MISMATCH = "head_mismatch"
    """The asset's ``audit_head`` is not its latest row's hash: the latest row was deleted or edited."""
    ILLEGAL_MOVE = "illegal_move"
    """A row records a move the transition table cannot make from where the history stood."""
    STATE_MISMATCH = "state_mismatch"
    """The asset's stored state, remembered states or version differ from what its history says."""
    UNKNOWN_VALUE = "unknown_value"
    """A stored value the definition does not know."""
    NO_HISTORY = "no_history"
    """An asset without a single audit row."""
    ORPHAN_ROWS = "orphan_rows"
    """Audit rows of an asset that does not exist."""
    COLUMN_MISMATCH = "column_mismatch"
    """A column of the asset or of one of its files differs from what its audit trail records or
    implies: its tenant, its clocks, a freeze's scope, a file's declared size (docs/reliability.md,
    "What verify checks")."""


@dataclass(frozen=True, slots=True)
class AuditProblem:
    asset_id: str
    kind: ProblemKind
    detail: str
    seq: int | None = None
    """The audit row concerned, where there is one."""

    def to_json(self) -> dict[str, Any]:
        return {"asset_id": self.asset_id, "kind": self.kind.value, "seq": self.seq, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What ``Lifecycle.verify_audit`` found."""

    assets: int
    """Assets whose history was replayed."""
    rows: int
    """Audit rows whose hash was recomputed."""
    problems: tuple[AuditProblem, ...]
    seconds: float

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def broken_assets(self) -> list[str]:
        return sorted({problem.asset_id for problem in self.problems})

    def to_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "assets": self.assets,
            "rows": self.rows,
            "broken_assets": self.broken_assets,
            "seconds": round(self.seconds, 6),
            "problems": [problem.to_json() for problem in self.problems],
        }


_Outcome = _Memory


def _check_end(
    asset: Mapping[str, Any],
    last: Mapping[str, Any],
    ended: tuple[object, object, object],
    report: Callable[[ProblemKind, str, int | None], None],
) -> None:
    """The stored state, memory, version and chain head against where the history ends."""
    stored = (asset["asset_state"], asset["pre_freeze_state"], asset["pre_delete_state"])
    if stored != ended:
        report(
            ProblemKind.STATE_MISMATCH,
            f"stored {_described(*stored)}, but its history ends {_described(*ended)}",
            None,
        )
    last_seq = int(last["seq"])
    if asset["version"] != last_seq:
        report(
            ProblemKind.STATE_MISMATCH,
            f"stored version {asset['version']}, but its history ends at seq {last_seq}",
            None,
        )
    if asset["audit_head"] != last["chain_hash"]:
        report(ProblemKind.HEAD_MISMATCH, "audit_head is not the hash of the latest audit row", last_seq)


class HistoryChecker:
    """Replays one asset's audit rows through the table and recomputes their chain.

    The rows record the state and memory each move left; the checker asks the table whether the
    event could make that move from where the history stood. Facts the audit does not record (the
    MAIN file, the asset's settings, a tenant-wide freeze) are taken as whatever would allow it, so
    a report means no setting of them could explain the row.
    """

    def __init__(self, definition: Definition) -> None:
        self._definition = definition

    @functools.cached_property
    def _unrecorded(self) -> list[dict[str, Any]]:
        return [
            {
                "activate_on_upload": activate,
                "review_required": review,
                "main_file_state": file_state,
                "frozen_by_tenant": by_tenant,
            }
            for activate, review, file_state, by_tenant in itertools.product(
                (False, True), (False, True), FileState, (False, True)
            )
        ]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one checker per verify; bounded
    def outcomes(
        self, event: Event, state: AssetState, pre_freeze: AssetState | None, pre_delete: AssetState | None
    ) -> frozenset[_Outcome]:
        """Every (state, pre-freeze, pre-delete) ``event`` can leave from there."""
        found: set[_Outcome] = set()
        for unrecorded in self._unrecorded:
            facts = AssetFacts(state, pre_freeze, pre_delete, **unrecorded)
            edge = self._definition.resolve(event, facts)
            if edge is not None:
                after = advance_facts(facts, event, edge.dest, edge.remembers, definition=self._definition)
                found.add((edge.dest, after.pre_freeze, after.pre_delete))
        return frozenset(found)

    def check(
        self,
        asset: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]],
        asset_files: Sequence[Mapping[str, Any]] = (),
    ) -> list[AuditProblem]:
        """``asset``: the asset's row; ``rows``: its audit rows in ``seq`` order; ``asset_files``:
        its file rows. The chain, the sequence and every move are checked; then every column of
        the asset and its files that the trail records or implies (``COLUMN_CHECKS``)."""
        asset_id = str(asset["asset_id"])
        problems: list[AuditProblem] = []

        def report(kind: ProblemKind, detail: str, seq: int | None = None) -> None:
            problems.append(AuditProblem(asset_id, kind, detail, seq))

        for column in ("asset_state", "pre_freeze_state", "pre_delete_state"):
            if isinstance(asset[column], UnknownValue):
                report(ProblemKind.UNKNOWN_VALUE, f"{column} {str(asset[column])!r} is not a state")
        if not rows:
            report(ProblemKind.NO_HISTORY, "the asset has no audit rows")
            return problems

        replay = _Replay.start(rows[0], self._definition)
        if isinstance(replay, str):
            report(ProblemKind.UNKNOWN_VALUE, replay, int(rows[0]["seq"]))
            replay = None
        previous, expected_seq = GENESIS, 1
        tenant_reported = False
        state: object = None
        pre_freeze: object = None
        pre_delete: object = None
        for row in rows:
            seq = int(row["seq"])
            if seq != expected_seq:
                report(ProblemKind.SEQUENCE_GAP, f"expected seq {expected_seq}, found {seq}", seq)
            expected_seq = seq + 1
            if chain_hash(previous, row) != row["chain_hash"]:
                report(
                    ProblemKind.CHAIN_BROKEN,
                    "the row's hash does not match its content and the row before it",
                    seq,
                )
            previous = str(row["chain_hash"])
            if row["project_id"] != asset["project_id"] and not tenant_reported:
                tenant_reported = True  # once per asset: every row after it says the same
                report(
                    ProblemKind.COLUMN_MISMATCH,
                    f"stored project_id {asset['project_id']!r}, but its audit trail records tenant"
                    f" {row['project_id']!r}",
                    seq,
                )
            claimed = (row["to_state"], row["pre_freeze_state"], row["pre_delete_state"])
            illegal = self._illegal(row, state, pre_freeze, pre_delete, first=row is rows[0])
            if illegal is None and replay is not None and row is not rows[0]:
                illegal = replay.step(row)
            if illegal:
                report(ProblemKind.ILLEGAL_MOVE, illegal, seq)
                replay = None  # what follows an illegal row cannot be replayed exactly
            # Follow what the row says, so that one bad row is reported once, not at every row after it.
            state, pre_freeze, pre_delete = claimed

        _check_end(asset, rows[-1], (state, pre_freeze, pre_delete), report)
        if replay is not None:
            for detail in replay.differences(asset, asset_files):
                report(ProblemKind.COLUMN_MISMATCH, detail)
        return problems

    def _illegal(  # noqa: PLR0911 - one return per way a row can be illegal
        self, row: Mapping[str, Any], state: object, pre_freeze: object, pre_delete: object, *, first: bool
    ) -> str | None:
        event, to_state = row["event"], row["to_state"]
        claimed = (to_state, row["pre_freeze_state"], row["pre_delete_state"])
        for column in ("event", "from_state", "to_state", "pre_freeze_state", "pre_delete_state"):
            if isinstance(row[column], UnknownValue):
                return f"{column} {str(row[column])!r} is not a value of the definition"
        if first:
            if (
                event is not Event.CREATE
                or row["from_state"] is not None
                or claimed != (INITIAL_STATE, None, None)
            ):
                return (
                    f"the first row must be a creation into {INITIAL_STATE.value}, not '{canonical(event)}'"
                )
            return None
        if event is Event.CREATE:
            return "a creation after the first row"
        if row["from_state"] != state:
            return (
                f"the row says from {canonical(row['from_state'])}, the history stood at {canonical(state)}"
            )
        if not (
            isinstance(state, AssetState)
            and isinstance(event, Event)
            and (pre_freeze is None or isinstance(pre_freeze, AssetState))
            and (pre_delete is None or isinstance(pre_delete, AssetState))
        ):
            return None  # the row before it holds an unknown value, reported there
        if event in RECORDED_CHANGES:
            if claimed != (state, pre_freeze, pre_delete):
                return f"'{event.value}' moves no state, but the row leads to {_described(*claimed)}"
            if state not in CHANGE_STATES[event]:
                return f"'{event.value}' cannot be made in {state.value}"
            return None
        possible = self.outcomes(event, state, pre_freeze, pre_delete)
        if claimed not in possible:
            allowed = "; ".join(sorted(_described(*outcome) for outcome in possible)) or "nothing"
            return (
                f"'{event.value}' from {_described(state, pre_freeze, pre_delete)}"
                f" cannot lead to {_described(*claimed)} (the table allows: {allowed})"
            )
        return None


# Replaying a history exactly ---------------------------------------------------------------------


COLUMN_CHECKS: Mapping[str, str] = {
    "project_id": "recorded: every audit row names the tenant",
    "asset_type": "recorded: the creation's declaration",
    "asset_state": "derived: the latest row's to_state",
    "version": "derived: the latest row's seq",
    "pre_freeze_state": "derived: the latest row records it",
    "pre_delete_state": "derived: the latest row records it",
    "audit_head": "derived: the latest row's hash",
    "fail_type": "derived: the latest review rejection's fail type, while it applies",
    "reason": "derived: the reason of the latest freeze, unfreeze or failure",
    "block_reason_code": "recorded: the latest freeze's row, while frozen",
    "block_scope": "recorded: the latest freeze's row, while frozen",
    "activate_on_upload": "recorded: the creation's declaration",
    "review_required": "recorded: the creation's declaration",
    "customized": "recorded: the creation's declaration",
    "create_time": "derived: the creation row's time",
    "state_changed_at": "derived: the time of the latest row that changed the state",
    "upload_deadline": "derived: the declared deadline, paused and resumed by the moves",
    "upload_time_left_us": "derived: as upload_deadline",
    "retention_started_at": "derived: the time of the move that started the recycle bin's clock",
    "planned_operation": "derived: the declared plan, until done or deleted",
    "planned_operation_time": "derived: as planned_operation",
}
"""The asset columns ``verify_audit`` checks against the trail, and how each is known (for assets
created from revision 0005 on; docs/reliability.md has the whole table, files included)."""

_FILE_CHECKS = (*DECLARED_FILE_COLUMNS,)


class _Replay:
    """An asset's history run again through ``plan_move``, from what its creation declared: the
    columns every move would have written, to compare with what is stored."""

    def __init__(
        self,
        row: AssetRow,
        declared: dict[str, Any],
        create_time: datetime,
        upload_window: timedelta,
        definition: Definition,
    ) -> None:
        self.row = row
        self.declared = declared
        self.create_time = create_time
        self.upload_window = upload_window
        self.definition = definition
        self.main_file_stored_at: datetime | None = None
        self.deleted_files: set[str] = set()
        """Stored files deleted by ``delete_file`` (kept, as DELETED)."""

    @classmethod
    def start(cls, creation: Mapping[str, Any], definition: Definition) -> _Replay | str | None:
        """The replay of an asset created with ``declared`` (None for one created before revision
        0005, checked as before); a text saying why the declaration cannot be read."""
        text = creation.get("declared")
        if text is None or creation["event"] is not Event.CREATE:
            return None
        try:
            declared = json.loads(text)
            files = [
                {**f, "asset_file_category": FileCategory(f["asset_file_category"])}
                for f in declared["files"]
            ]
            deadline = _moment(declared["upload_deadline"])
            planned_time = _moment(declared["planned_operation_time"])
            plan = declared["planned_operation"]
            facts = AssetFacts(
                AssetState.CREATING,
                activate_on_upload=bool(declared["activate_on_upload"]),
                review_required=bool(declared["review_required"]),
            )
            asset_type = AssetType(declared["asset_type"])
        except (ValueError, KeyError, TypeError) as error:
            return f"the creation's declaration cannot be read ({type(error).__name__}: {error})"
        created = creation["occurred_at"]
        row = AssetRow(
            asset_id=str(creation["asset_id"]),
            project_id=str(creation["project_id"]),
            version=1,
            facts=facts,
            fail_type=None,
            reason=None,
            block_reason_code=None,
            block_scope=None,
            upload_deadline=deadline,
            upload_time_left_us=None,
            retention_started_at=None,
            planned_operation=None if plan is None else PlannedOperation(plan),
            planned_operation_time=planned_time,
            state_changed_at=created,
            audit_head=str(creation["chain_hash"]),
        )
        window = deadline - created if deadline is not None else timedelta(0)
        declared = {
            **declared,
            "asset_type": asset_type,
            "files": files,
            "upload_deadline": deadline,
            "planned_operation_time": planned_time,
        }
        return cls(row, declared, created, window, definition)

    def step(self, audit_row: Mapping[str, Any]) -> str | None:
        """Replay one move; a text saying why it is illegal where it is."""
        event = audit_row["event"]
        if event in RECORDED_CHANGES:
            return self._change(audit_row)
        request = MoveRequest(
            reason=audit_row["reason"],
            fail_type=audit_row["fail_type"],
            block_reason_code=audit_row.get("block_reason_code"),
            block_scope=audit_row.get("block_scope") or BlockScope.ASSET,
        )
        now = audit_row["occurred_at"]
        try:
            move = plan_move(
                self.row,
                event,
                _ACTORS[audit_row["actor_kind"]],
                request,
                now,
                upload_window=self.upload_window,
                definition=self.definition,
            )
        except TransitionNotAllowed as refusal:
            return f"the table refuses it from where the history stood: {refusal.message}"
        made = (move.dest, move.pre_freeze, move.pre_delete)
        claimed = (audit_row["to_state"], audit_row["pre_freeze_state"], audit_row["pre_delete_state"])
        if made != claimed:
            return f"'{event.value}' from there leads to {_described(*made)}, not {_described(*claimed)}"
        main_file_state = (
            FileState.DELETED
            if move.files_deleted
            else move.main_file_state or self.row.facts.main_file_state
        )
        if self.main_file_stored_at is None and main_file_state in STORED_FILE_STATES:
            self.main_file_stored_at = now
        facts = self.row.facts
        self.row = replace(
            self.row,
            version=move.version,
            facts=replace(
                facts,
                state=move.dest,
                pre_freeze=move.pre_freeze,
                pre_delete=move.pre_delete,
                main_file_state=main_file_state,
                frozen_by_tenant=move.block_scope is BlockScope.TENANT,
            ),
            fail_type=move.fail_type,
            reason=move.reason,
            block_reason_code=move.block_reason_code,
            block_scope=move.block_scope,
            upload_deadline=move.upload_deadline,
            upload_time_left_us=move.upload_time_left_us,
            retention_started_at=move.retention_started_at,
            planned_operation=move.planned_operation,
            planned_operation_time=move.planned_operation_time,
            state_changed_at=move.state_changed_at,
            audit_head=str(audit_row["chain_hash"]),
        )
        return None

    def _change(self, audit_row: Mapping[str, Any]) -> str | None:
        """Replay a change that moves no state: the files it declares or deletes."""
        event = audit_row["event"]
        try:
            change = json.loads(audit_row["declared"])
            if event is Event.DECLARE_FILE:
                declared = {**change, "asset_file_category": FileCategory(change["asset_file_category"])}
                self.declared["files"].append(declared)
            elif event is Event.DELETE_FILE:
                file_id = str(change["file_id"])
                if change["kept"]:
                    self.deleted_files.add(file_id)
                else:
                    self.declared["files"] = [f for f in self.declared["files"] if f["file_id"] != file_id]
        except (ValueError, KeyError, TypeError) as error:
            return f"what the '{event.value}' row records cannot be read ({type(error).__name__}: {error})"
        self.row = replace(self.row, version=int(audit_row["seq"]), audit_head=str(audit_row["chain_hash"]))
        return None

    def differences(self, asset: Mapping[str, Any], asset_files: Sequence[Mapping[str, Any]]) -> list[str]:
        """Each checked column whose stored value differs from the replay's, said in a line."""
        row, declared = self.row, self.declared
        expected: dict[str, object] = {
            "asset_type": declared["asset_type"],
            "activate_on_upload": row.facts.activate_on_upload,
            "review_required": row.facts.review_required,
            "customized": bool(declared["customized"]),
            "create_time": self.create_time,
            "fail_type": row.fail_type,
            "reason": row.reason,
            "block_reason_code": row.block_reason_code,
            "block_scope": row.block_scope,
            "upload_deadline": row.upload_deadline,
            "upload_time_left_us": row.upload_time_left_us,
            "retention_started_at": row.retention_started_at,
            "planned_operation": row.planned_operation,
            "planned_operation_time": row.planned_operation_time,
            "state_changed_at": row.state_changed_at,
        }
        found = [
            f"stored {name} {_shown(asset[name])}, but its audit trail says {_shown(value)}"
            for name, value in expected.items()
            if asset[name] != value
        ]
        return found + self._file_differences(asset_files)

    def _file_differences(self, asset_files: Sequence[Mapping[str, Any]]) -> list[str]:
        declared = {str(f["file_id"]): f for f in self.declared["files"]}
        stored = {str(f["file_id"]): f for f in asset_files}
        found = [
            f"file {file_id} was declared at creation but is missing"
            for file_id in sorted(declared.keys() - stored.keys())
        ]
        found += [f"file {file_id} was never declared" for file_id in sorted(stored.keys() - declared.keys())]
        deleted = self.row.state is AssetState.DELETED
        for file_id in sorted(declared.keys() & stored.keys()):
            want, have = declared[file_id], stored[file_id]
            found += [
                f"file {file_id}: stored {name} {_shown(have[name])},"
                f" but its declaration says {_shown(want[name])}"
                for name in _FILE_CHECKS
                if have[name] != want[name]
            ]
            if have["asset_file_category"] is FileCategory.MAIN:
                expected = {"state": self.row.facts.main_file_state, "stored_at": self.main_file_stored_at}
            elif deleted or file_id in self.deleted_files:
                expected = {"state": FileState.DELETED}
            else:
                continue  # another file's upload moves no asset: the trail does not record it
            found += [
                f"file {file_id}: stored {name} {_shown(have[name])},"
                f" but its audit trail says {_shown(value)}"
                for name, value in expected.items()
                if have[name] != value
            ]
        return found


_ACTORS: Mapping[Role, Actor] = {
    Role.TENANT: Tenant("replayed"),
    Role.PLATFORM: Platform("replayed"),
    Role.SYSTEM: System("replayed"),
}
"""Who a replayed move is made by: only the role matters to ``plan_move`` (the refusal's list)."""


def _moment(text: object) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"a time must be text, not {type(text).__name__}")
    return datetime.fromisoformat(text).astimezone(UTC)


def _shown(value: object) -> str:
    return "NULL" if value is None else repr(canonical(value))
