"""The one record of a transition, and its views.

Every transition the engine applies (a creation, a move asked for by a tenant or the platform, a
move a sweep makes) is one ``TransitionRecord``. What is stored and said about it is read off that
record, never assembled again from other inputs:

- ``audit_values()``: the audit row (hashed into the asset's chain);
- ``log_fields()``: the ``transition_applied`` log event;
- ``result()``: the ``Transitioned`` the caller gets (``replayed`` for a retry's answer);
- the record itself: what listeners hear after the commit.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifecycle.definition import AssetState, BlockScope, Event, FailType, Role
from lifecycle.results import Transitioned, audit_time


@functools.lru_cache(maxsize=64)
def _canonical_time(moment: datetime) -> str:
    """A time as the chain hashes it; a sweep's batch shares one, so it is written once."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
"""The chain's canonical JSON (as ``lifecycle.chain.chain_hash`` writes it)."""


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One applied transition: who did what to which asset, when, why, and where it left it."""

    asset_id: str
    project_id: str
    event: Event
    from_state: AssetState | None
    """Where the asset was; None for its creation."""
    to_state: AssetState
    version: int
    """The asset's version after the transition (1 for its creation): its audit row's ``seq``."""
    actor_kind: Role
    actor_id: str
    occurred_at: datetime
    reason: str | None = None
    """The reason given with the request (or the time rule's, for a move time made)."""
    fail_type: FailType | None = None
    """A review rejection's fail type."""
    request_id: str | None = None
    pre_freeze_state: AssetState | None = None
    """The remembered states after the transition."""
    pre_delete_state: AssetState | None = None
    block_scope: BlockScope | None = None
    """A freeze's scope: the asset alone, or its whole tenant."""
    block_reason_code: str | None = None
    """A freeze's block reason code."""
    declared: str | None = field(default=None, repr=False)
    """A creation's declaration (``lifecycle.chain.declared_json``), which verify replays from."""

    # The audit row ------------------------------------------------------------------------------

    def audit_values(self) -> dict[str, Any]:
        """The audit row's columns (``lifecycle.chain.HASHED_COLUMNS`` and ``RECORDED_COLUMNS``),
        without its ``chain_hash``."""
        return {
            "asset_id": self.asset_id,
            "project_id": self.project_id,
            "seq": self.version,
            "event": self.event,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor_kind": self.actor_kind,
            "actor_id": self.actor_id,
            "reason": self.reason,
            "fail_type": self.fail_type,
            "request_id": self.request_id,
            "occurred_at": self.occurred_at,
            "pre_freeze_state": self.pre_freeze_state,
            "pre_delete_state": self.pre_delete_state,
            "block_scope": self.block_scope,
            "block_reason_code": self.block_reason_code,
            "declared": self.declared,
        }

    def chain_hash(self, previous: str) -> str:
        """The audit row's hash, chained to the asset's ``previous`` one: ``lifecycle.chain.chain_hash``
        of ``audit_values()``, spelled out for the one case every move takes (the test suite holds
        the two equal)."""
        # ``_value_`` rather than ``value``: the same text, read without Enum's descriptor.
        content: list[Any] = [
            previous,
            self.asset_id,
            self.project_id,
            self.version,
            self.event._value_,
            None if self.from_state is None else self.from_state._value_,
            self.to_state._value_,
            self.actor_kind._value_,
            self.actor_id,
            self.reason,
            None if self.fail_type is None else self.fail_type._value_,
            self.request_id,
            _canonical_time(self.occurred_at),
            None if self.pre_freeze_state is None else self.pre_freeze_state._value_,
            None if self.pre_delete_state is None else self.pre_delete_state._value_,
        ]
        recorded: dict[str, Any] = {}
        if self.block_scope is not None:
            recorded["block_scope"] = self.block_scope._value_
        if self.block_reason_code is not None:
            recorded["block_reason_code"] = self.block_reason_code
        if self.declared is not None:
            recorded["declared"] = self.declared
        if recorded:
            content.append(recorded)
        encoded = _ENCODER.encode(content).encode("ascii")
        return hashlib.sha256(encoded).hexdigest()

    @classmethod
    def from_audit_row(cls, row: Any) -> TransitionRecord:
        """The record an audit row holds (a row, or a mapping of its columns)."""
        values: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            asset_id=values["asset_id"],
            project_id=values["project_id"],
            event=values["event"],
            from_state=values["from_state"],
            to_state=values["to_state"],
            version=values["seq"],
            actor_kind=values["actor_kind"],
            actor_id=values["actor_id"],
            occurred_at=values["occurred_at"],
            reason=values["reason"],
            fail_type=values["fail_type"],
            request_id=values["request_id"],
            pre_freeze_state=values["pre_freeze_state"],
            pre_delete_state=values["pre_delete_state"],
            block_scope=values.get("block_scope"),
            block_reason_code=values.get("block_reason_code"),
            declared=values.get("declared"),
        )

    # The log event ------------------------------------------------------------------------------

    def log_fields(self) -> dict[str, Any]:
        """The fields of the ``transition_applied`` event."""
        return {
            "asset_id": self.asset_id,
            "project_id": self.project_id,
            "event_name": self.event.value,
            "from_state": None if self.from_state is None else self.from_state.value,
            "to_state": self.to_state.value,
            "version": self.version,
            "actor_kind": self.actor_kind.value,
            "actor_id": self.actor_id,
            "request_id": self.request_id,
        }

    # The result ---------------------------------------------------------------------------------

    def result(self, *, replayed: bool = False) -> Transitioned:
        """What the caller gets: the move made, or (``replayed``) made already by this request."""
        assert self.from_state is not None, "a creation answers with its asset"
        return Transitioned(
            asset_id=self.asset_id,
            project_id=self.project_id,
            event=self.event,
            from_state=self.from_state,
            to_state=self.to_state,
            version=self.version,
            pre_freeze_state=self.pre_freeze_state,
            pre_delete_state=self.pre_delete_state,
            occurred_at=self.occurred_at,
            replayed=replayed,
        )

    # What listeners and the feed hear --------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A stable shape: every key always present (null where nothing applies)."""
        return {
            "asset_id": self.asset_id,
            "project_id": self.project_id,
            "event": self.event.value,
            "from_state": None if self.from_state is None else self.from_state.value,
            "to_state": self.to_state.value,
            "version": self.version,
            "actor_kind": self.actor_kind.value,
            "actor_id": self.actor_id,
            "reason": self.reason,
            "fail_type": None if self.fail_type is None else self.fail_type.value,
            "request_id": self.request_id,
            "occurred_at": audit_time(self.occurred_at),
            "pre_freeze_state": None if self.pre_freeze_state is None else self.pre_freeze_state.value,
            "pre_delete_state": None if self.pre_delete_state is None else self.pre_delete_state.value,
            "block_scope": None if self.block_scope is None else self.block_scope.value,
            "block_reason_code": self.block_reason_code,
        }
