"""Trusting what is stored: the audit trail's hash chain, checks on the rows the engine reads, and
the verifier that replays every asset's history through the transition table.

Each audit row's ``chain_hash`` is the SHA-256 of the previous row's hash (of the same asset; the
empty string before the first) and the row's content, as canonical JSON. The asset row keeps the
latest hash (``audit_head``). Editing a row breaks its hash; deleting one leaves a gap in ``seq``
and breaks the hash of the row after it; deleting the latest is seen against ``audit_head`` and
the asset's ``version``. The chain carries no secret: it proves that rows were not changed one by
one, not that nobody rewrote a whole chain (keep ``audit verify --json``'s heads elsewhere for that).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lifecycle.definition import (
    DEFINITION,
    INITIAL_STATE,
    AssetFacts,
    AssetState,
    Definition,
    Event,
    FileState,
)
from lifecycle.errors import CorruptRecord
from lifecycle.explore import reachable
from lifecycle.moves import advance_facts
from lifecycle.store.models import UnknownValue

HASHED_COLUMNS = (
    "asset_id",
    "project_id",
    "seq",
    "event",
    "from_state",
    "to_state",
    "actor_kind",
    "actor_id",
    "reason",
    "fail_type",
    "request_id",
    "occurred_at",
    "pre_freeze_state",
    "pre_delete_state",
)
"""The audit columns a row's hash covers, in the order they are hashed."""

GENESIS = ""
"""The 'previous hash' of an asset's first audit row."""


def _canonical(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, UnknownValue):
        return str(value)
    return value


def chain_hash(previous: str, row: Mapping[str, Any]) -> str:
    """The hash of an audit row (``row`` maps each of ``HASHED_COLUMNS`` to its value)."""
    content = [previous, *(_canonical(row[name]) for name in HASHED_COLUMNS)]
    encoded = json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(encoded).hexdigest()


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
    definition: Definition = DEFINITION,
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
        return "NULL" if value is None else str(_canonical(value))

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


class HistoryChecker:
    """Replays one asset's audit rows through the table and recomputes their chain.

    The rows record the state and memory each move left; the checker asks the table whether the
    event could make that move from where the history stood. Facts the audit does not record (the
    MAIN file, the asset's settings, a tenant-wide freeze) are taken as whatever would allow it, so
    a report means no setting of them could explain the row.
    """

    def __init__(self, definition: Definition = DEFINITION) -> None:
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
                after = advance_facts(facts, event, edge.dest, edge.remembers)
                found.add((edge.dest, after.pre_freeze, after.pre_delete))
        return frozenset(found)

    def check(self, asset: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[AuditProblem]:
        """``asset``: its ``asset_id``, ``asset_state``, ``pre_freeze_state``, ``pre_delete_state``,
        ``version`` and ``audit_head``; ``rows``: its audit rows in ``seq`` order."""
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

        previous, expected_seq = GENESIS, 1
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
            claimed = (row["to_state"], row["pre_freeze_state"], row["pre_delete_state"])
            illegal = self._illegal(row, state, pre_freeze, pre_delete, first=row is rows[0])
            if illegal:
                report(ProblemKind.ILLEGAL_MOVE, illegal, seq)
            # Follow what the row says, so that one bad row is reported once, not at every row after it.
            state, pre_freeze, pre_delete = claimed

        stored = (asset["asset_state"], asset["pre_freeze_state"], asset["pre_delete_state"])
        if stored != (state, pre_freeze, pre_delete):
            report(
                ProblemKind.STATE_MISMATCH,
                f"stored {_described(*stored)},"
                f" but its history ends {_described(state, pre_freeze, pre_delete)}",
            )
        last_seq = int(rows[-1]["seq"])
        if asset["version"] != last_seq:
            report(
                ProblemKind.STATE_MISMATCH,
                f"stored version {asset['version']}, but its history ends at seq {last_seq}",
            )
        if asset["audit_head"] != rows[-1]["chain_hash"]:
            report(ProblemKind.HEAD_MISMATCH, "audit_head is not the hash of the latest audit row", last_seq)
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
                    f"the first row must be a creation into {INITIAL_STATE.value}, not '{_canonical(event)}'"
                )
            return None
        if event is Event.CREATE:
            return "a creation after the first row"
        if row["from_state"] != state:
            return (
                f"the row says from {_canonical(row['from_state'])}, the history stood at {_canonical(state)}"
            )
        if not (
            isinstance(state, AssetState)
            and isinstance(event, Event)
            and (pre_freeze is None or isinstance(pre_freeze, AssetState))
            and (pre_delete is None or isinstance(pre_delete, AssetState))
        ):
            return None  # the row before it holds an unknown value, reported there
        possible = self.outcomes(event, state, pre_freeze, pre_delete)
        if claimed not in possible:
            allowed = "; ".join(sorted(_described(*outcome) for outcome in possible)) or "nothing"
            return (
                f"'{event.value}' from {_described(state, pre_freeze, pre_delete)}"
                f" cannot lead to {_described(*claimed)} (the table allows: {allowed})"
            )
        return None
