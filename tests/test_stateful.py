"""Random sequences of moves: the engine, on SQLite, against the reference model, step by step.

``LifecycleMachine`` drives the real engine and ``tests/reference.py`` side by side: it creates
assets, fires any event as any role at them (mostly refused), fires moves the reference accepts
(so that assets go deep), and moves the injected clock. After every step it reads every asset
back from the engine and checks it against the reference and against the invariants of the audit
trail and the remembered states.

One SQLite database serves the whole run (a fresh file per Hypothesis example would be too slow);
each example creates its own assets and looks only at those.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import hypothesis
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lifecycle.actors import Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, Event, FailType
from lifecycle.engine import Lifecycle
from lifecycle.errors import PermissionDenied, TransitionNotAllowed
from lifecycle.store import schema
from lifecycle.store.database import open_engine
from tests.conftest import ACTORS, START, new_asset
from tests.reference import ROLES, RefAsset, frozen, ref_apply

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from lifecycle.results import Asset

EVENTS = [event for event in Event if event is not Event.CREATE]
ROLE_NAMES = ["tenant", "platform", "system"]
UPLOADING = [Event.ACCEPT_UPLOAD, Event.SUBMIT_FOR_REVIEW, Event.PASS_REVIEW]
SETBACKS = [Event.CANCEL_UPLOAD, Event.FAIL_UPLOAD, Event.REJECT_REVIEW, Event.TIME_OUT_UPLOAD]
SWITCHING = [Event.ACTIVATE, Event.DEACTIVATE]
BINNING = [Event.DELETE, Event.RESTORE]
FREEZING = [Event.FREEZE, Event.UNFREEZE]
ENDING = [Event.DELETE_FORCE, Event.PURGE]
assert sorted(UPLOADING + SETBACKS + SWITCHING + BINNING + FREEZING + ENDING, key=EVENTS.index) == EVENTS
MAX_ASSETS = 3
"""Assets per example: enough to catch one asset's move touching another, few enough to go deep."""
PICKS = st.integers(min_value=0, max_value=MAX_ASSETS - 1)

TENANT = ACTORS["tenant"]
assert isinstance(TENANT, Tenant)
READER = ACTORS["platform"]
"""Reads every asset (a tenant sees only its own)."""


@functools.cache
def _shared_engine() -> Engine:
    """One migrated SQLite file for the whole run, removed when the interpreter exits."""
    directory = Path(tempfile.mkdtemp(prefix="lifecycle-stateful-"))
    engine = open_engine(f"sqlite:///{directory / 'lifecycle.db'}")
    schema.upgrade(engine)

    def _remove() -> None:
        engine.dispose()
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(_remove)
    return engine


def _fail_type(event: Event) -> FailType | None:
    return FailType.MANUAL_REVIEW_REJECT if event is Event.REJECT_REVIEW else None


def _value(state: AssetState | None) -> str | None:
    return state.value if state is not None else None


def _as_reference(asset: Asset) -> RefAsset:
    """What the engine stores, in the reference model's terms."""
    return RefAsset(
        state=asset.asset_state.value,
        pre_freeze=_value(asset.pre_freeze_state),
        pre_delete=_value(asset.pre_delete_state),
        activate_on_upload=asset.activate_on_upload,
        review_required=asset.review_required,
        main_file=asset.main_file.state.value,
    )


def _legal(reference: RefAsset, role: str) -> set[Event]:
    """The events ``role`` may fire at ``reference``, by the reference model."""
    return {e for e in EVENTS if role in ROLES[e.value] and ref_apply(reference, e.value) is not None}


class LifecycleMachine(RuleBasedStateMachine):
    """The engine and the reference model, moved by the same steps."""

    assets = Bundle("assets")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(START)
        self.lifecycle = Lifecycle(_shared_engine(), clock=self.clock)
        self.reference: dict[str, RefAsset] = {}
        self.trail: dict[str, list[tuple[Event, datetime]]] = {}
        """Per asset, the moves applied (creation first) and the clock time of each."""

    # Steps ---------------------------------------------------------------------------------------

    @initialize(target=assets, activate_on_upload=st.booleans(), review_required=st.booleans())
    def create_first(self, activate_on_upload: bool, review_required: bool) -> str:
        """Every example starts with an asset, so rules that need one are never filtered out."""
        return self.create(activate_on_upload, review_required)

    @precondition(lambda self: len(self.reference) < MAX_ASSETS)
    @rule(target=assets, activate_on_upload=st.booleans(), review_required=st.booleans())
    def create(self, activate_on_upload: bool, review_required: bool) -> str:
        flags = {"activate_on_upload": activate_on_upload, "review_required": review_required}
        created = self.lifecycle.create_asset(TENANT, new_asset(**flags))
        assert created.asset_id not in self.reference
        self.reference[created.asset_id] = RefAsset(**flags)
        self.trail[created.asset_id] = [(Event.CREATE, self.clock.now())]
        return created.asset_id

    @rule(asset_id=assets, event=st.sampled_from(EVENTS), role=st.sampled_from(ROLE_NAMES))
    def fire(self, asset_id: str, event: Event, role: str) -> None:
        self._fire(asset_id, event, role)

    # Random (event, role) pairs are mostly refused. These rules make moves the reference accepts,
    # so that assets go deep: each picks an asset its family of events can move (``pick`` indexes
    # those, in creation order) and fires ``event`` as ``role``, or where the reference refuses
    # that, the next (event, role) of the family it accepts. One rule per family lets Hypothesis's
    # swarm testing turn whole families off for an example (no forced deletes, no failed
    # uploads...), which is how the long paths through freezing and the recycle bin get explored.

    @precondition(lambda self: bool(self._movable(UPLOADING)))
    @rule(pick=PICKS, event=st.sampled_from(UPLOADING), role=st.sampled_from(ROLE_NAMES))
    def upload(self, pick: int, event: Event, role: str) -> None:
        self._fire_legal(UPLOADING, pick, event, role)

    @precondition(lambda self: bool(self._movable(SETBACKS)))
    @rule(pick=PICKS, event=st.sampled_from(SETBACKS), role=st.sampled_from(ROLE_NAMES))
    def setback(self, pick: int, event: Event, role: str) -> None:
        self._fire_legal(SETBACKS, pick, event, role)

    @precondition(lambda self: bool(self._movable(SWITCHING)))
    @rule(pick=PICKS, event=st.sampled_from(SWITCHING), role=st.sampled_from(ROLE_NAMES))
    def switch(self, pick: int, event: Event, role: str) -> None:
        self._fire_legal(SWITCHING, pick, event, role)

    @precondition(lambda self: bool(self._movable(BINNING)))
    @rule(pick=PICKS, event=st.sampled_from(BINNING), role=st.sampled_from(ROLE_NAMES))
    def recycle(self, pick: int, event: Event, role: str) -> None:
        self._fire_legal(BINNING, pick, event, role)

    @precondition(lambda self: bool(self._movable(FREEZING)))
    @rule(pick=PICKS, event=st.sampled_from(FREEZING), role=st.sampled_from(ROLE_NAMES))
    def block(self, pick: int, event: Event, role: str) -> None:
        self._fire_legal(FREEZING, pick, event, role)

    @precondition(lambda self: bool(self._movable(ENDING)))
    @rule(pick=PICKS, event=st.sampled_from(ENDING), role=st.sampled_from(ROLE_NAMES))
    def end(self, pick: int, event: Event, role: str) -> None:
        self._fire_legal(ENDING, pick, event, role)

    @rule(delta=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
    def advance_clock(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def _legal_moves(self, asset_id: str, family: list[Event]) -> list[tuple[Event, str]]:
        reference = self.reference[asset_id]
        return [
            (event, role)
            for event in family
            for role in ROLE_NAMES
            if role in ROLES[event.value] and ref_apply(reference, event.value) is not None
        ]

    def _movable(self, family: list[Event]) -> list[str]:
        """The assets ``family`` can move, in creation order (``assets_0``, ``assets_1``...)."""
        return [asset_id for asset_id in self.reference if self._legal_moves(asset_id, family)]

    def _fire_legal(self, family: list[Event], pick: int, event: Event, role: str) -> None:
        movable = self._movable(family)
        asset_id = movable[pick % len(movable)]
        pairs = [(e, r) for e in family for r in ROLE_NAMES]
        start = pairs.index((event, role))
        legal = self._legal_moves(asset_id, family)
        fired = next(pair for pair in pairs[start:] + pairs[:start] if pair in legal)
        name = f"assets_{list(self.reference).index(asset_id)}"
        hypothesis.note(f"# the next step fires {fired[0].value} as {fired[1]} at {name}")
        self._fire(asset_id, *fired)

    def _fire(self, asset_id: str, event: Event, role: str) -> None:
        actor = ACTORS[role]
        before = self.reference[asset_id]
        expected = ref_apply(before, event.value)
        if role not in ROLES[event.value]:
            with pytest.raises(PermissionDenied):
                self.lifecycle.fire(actor, asset_id, event, fail_type=_fail_type(event))
            hypothesis.event("refused: role")
            return
        if expected is None:
            with pytest.raises(TransitionNotAllowed) as refusal:
                self.lifecycle.fire(actor, asset_id, event, fail_type=_fail_type(event))
            assert refusal.value.state.value == before.state
            assert refusal.value.event is event
            hypothesis.event("refused: transition")
            return
        moved = self.lifecycle.fire(actor, asset_id, event, fail_type=_fail_type(event))
        assert (moved.event, moved.from_state.value) == (event, before.state)
        assert moved.to_state.value == expected.state
        assert moved.version == len(self.trail[asset_id]) + 1
        assert moved.occurred_at == self.clock.now()
        self.reference[asset_id] = expected
        self.trail[asset_id].append((event, self.clock.now()))
        hypothesis.event(f"reached {expected.state} pf={expected.pre_freeze} pd={expected.pre_delete}")

    # Invariants ----------------------------------------------------------------------------------

    @invariant()
    def every_asset_agrees_with_the_reference(self) -> None:
        for asset_id, reference in self.reference.items():
            asset = self.lifecycle.get_asset(READER, asset_id)
            history = self.lifecycle.history(READER, asset_id)
            applied = len(self.trail[asset_id]) - 1
            state = asset.asset_state
            # (1) one audit row for the creation and one per applied move, (6) counted by version
            assert len(history) == 1 + applied, (asset_id, history)
            assert asset.version == len(history)
            # (7) seq is 1..n in order
            assert [entry.seq for entry in history] == list(range(1, len(history) + 1))
            # (2) the trail ends where the asset is, and each row starts where the last one ended
            assert history[-1].to_state is state
            starts = [entry.from_state for entry in history]
            assert starts == [None, *(entry.to_state for entry in history[:-1])]
            # the trail records exactly the moves applied, at the clock time they were applied
            assert [(entry.event, entry.occurred_at) for entry in history] == self.trail[asset_id]
            # (5) state, remembered states and MAIN file state are the reference's
            assert _as_reference(asset) == reference, (asset_id, history)
            # (3) a pre-freeze state exactly while frozen (or in the bin, deleted while frozen)
            assert (asset.pre_freeze_state is not None) == frozen(_as_reference(asset))
            # (4) a pre-delete state exactly while in the bin (frozen there too)
            in_bin = state is AssetState.DELETING or (
                state is AssetState.BLOCK and asset.pre_freeze_state is AssetState.DELETING
            )
            assert (asset.pre_delete_state is not None) == in_bin
            # (8) only an ACTIVED asset is usable
            assert asset.usable == (state is AssetState.ACTIVED)


LifecycleMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    # Explaining a failure re-runs it many times over; the printed steps say enough.
    phases=[phase for phase in Phase if phase is not Phase.explain],
)
TestLifecycleAgainstReference = LifecycleMachine.TestCase


@settings(max_examples=60, deadline=None)
@given(activate_on_upload=st.booleans(), review_required=st.booleans(), data=st.data())
def test_legal_events_always_apply_and_the_history_is_the_sequence_fired(
    activate_on_upload: bool,
    review_required: bool,
    data: st.DataObject,
) -> None:
    """Whatever ``allowed_events`` offers, ``fire`` applies; the history is what was fired."""
    lifecycle = Lifecycle(_shared_engine(), clock=ManualClock(START))
    asset_id = lifecycle.create_asset(
        TENANT, new_asset(activate_on_upload=activate_on_upload, review_required=review_required)
    ).asset_id
    reference = RefAsset(activate_on_upload=activate_on_upload, review_required=review_required)
    fired: list[Event] = []
    for _ in range(data.draw(st.integers(min_value=0, max_value=12), label="moves")):
        role = data.draw(st.sampled_from(ROLE_NAMES), label="role")
        actor = ACTORS[role]
        allowed = lifecycle.allowed_events(actor, asset_id)
        assert set(allowed) == _legal(reference, role), (reference, role)
        if not allowed:
            continue
        event = data.draw(st.sampled_from(allowed), label="event")
        lifecycle.fire(actor, asset_id, event, fail_type=_fail_type(event))
        fired.append(event)
        after = ref_apply(reference, event.value)
        assert after is not None
        reference = after
    assert [entry.event for entry in lifecycle.history(READER, asset_id)] == [Event.CREATE, *fired]
