"""Random sequences of moves: the engine against the table and against the reference model.

``LifecycleMachine`` is the project's own use of ``lifecycle.strategies.LifecycleStateMachine``,
the base class users subclass: its rules create assets, fire legal and illegal moves, freeze and
unfreeze whole tenants, move the clock and sweep, and after every step it checks every stored
asset and audit trail against the table. Through the base class's hooks this subclass keeps
``tests/reference.py`` (written without the table) beside it, with the two clocks the time rules
read, and checks every move, refusal, tenant-wide operation and sweep against it: which assets a
sweep must move is decided here from the moves' times alone.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import hypothesis
from hypothesis import Phase, given, settings
from hypothesis.stateful import invariant

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import TABLE_EVENTS, AssetFacts, AssetState, BlockScope, Event, Role
from lifecycle.engine import Lifecycle
from lifecycle.errors import LifecycleError, PermissionDenied
from lifecycle.explore import role_for
from lifecycle.store import schema
from lifecycle.store.database import open_database
from lifecycle.strategies import EventSequence, LifecycleStateMachine, event_sequences
from lifecycle.testing import AssetFactory
from tests.conftest import START
from tests.reference import ROLES, RefAsset, frozen, ref_apply

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from lifecycle.results import Asset, TenantOperation, Transitioned
    from lifecycle.sweeps import SweepReport

EVENTS = list(TABLE_EVENTS)
ROLE_NAMES = ["tenant", "platform", "system"]
UPLOAD_WINDOW = timedelta(hours=24)
"""domain.md: an upload not finished within 24 hours fails (time frozen or in the bin aside)."""
RETENTION = timedelta(days=7)
"""domain.md: the recycle bin keeps an asset for 7 days."""
READER = Platform("operator-7")
"""Reads every asset (a tenant sees only its own)."""
OPERATORS: dict[str, Actor] = {"platform": READER, "system": System()}


@functools.cache
def _shared_engine() -> Engine:
    """One migrated SQLite file for the whole run, removed when the interpreter exits."""
    directory = Path(tempfile.mkdtemp(prefix="lifecycle-stateful-"))
    database = open_database(f"sqlite:///{directory / 'lifecycle.db'}")
    schema.upgrade(database)

    def _remove() -> None:
        database.dispose()
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(_remove)
    return database


def _value(state: AssetState | None) -> str | None:
    return None if state is None else state.value


def _as_reference(facts: AssetFacts) -> RefAsset:
    """What the table says, in the reference model's terms."""
    return RefAsset(
        state=facts.state.value,
        pre_freeze=_value(facts.pre_freeze),
        pre_delete=_value(facts.pre_delete),
        activate_on_upload=facts.activate_on_upload,
        review_required=facts.review_required,
        main_file=facts.main_file_state.value,
        frozen_by_tenant=facts.frozen_by_tenant,
    )


def _stored_as_reference(asset: Asset) -> RefAsset:
    return RefAsset(
        state=asset.asset_state.value,
        pre_freeze=_value(asset.pre_freeze_state),
        pre_delete=_value(asset.pre_delete_state),
        activate_on_upload=asset.activate_on_upload,
        review_required=asset.review_required,
        main_file=asset.main_file.state.value,
        frozen_by_tenant=asset.block_scope is BlockScope.TENANT,
    )


def _legal(reference: RefAsset, role: str) -> set[Event]:
    """The events ``role`` may fire at ``reference``, by the reference model."""
    return {e for e in EVENTS if role in ROLES[e.value] and ref_apply(reference, e.value) is not None}


def _tenant_freeze(reference: RefAsset) -> RefAsset | None:
    """A freeze of the asset's whole tenant: like its own freeze, except that an asset frozen
    already is left alone, and it is remembered as the tenant's."""
    after = None if reference.state == "BLOCK" else ref_apply(reference, "freeze")
    return None if after is None else replace(after, frozen_by_tenant=True)


def _tenant_unfreeze(reference: RefAsset) -> RefAsset | None:
    """An unfreeze of the whole tenant: only what the tenant's freeze froze."""
    return ref_apply(reference, "unfreeze") if frozen(reference) and reference.frozen_by_tenant else None


# The clocks the time rules read, from the moves' times alone ------------------------------------


@dataclass(frozen=True)
class Clocks:
    upload_used: timedelta = timedelta(0)
    """Upload window used: time spent in CREATING with the MAIN file still to upload."""
    upload_since: datetime | None = None
    """Counting since (while in CREATING with the MAIN file still to upload)."""
    bin_since: datetime | None = None
    """In the recycle bin, not frozen, since (a freeze stops the retention; the unfreeze restarts it)."""

    def after(self, before: RefAsset, after: RefAsset, at: datetime) -> Clocks:
        used = self.upload_used + (at - self.upload_since if self.upload_since else timedelta(0))
        in_bin = self.bin_since if _binned(before) else at
        return Clocks(
            used,
            at if _uploading(after) else None,
            in_bin if _binned(after) else None,
        )

    def due(self, now: datetime) -> str | None:
        """The event time has made due by ``now``, if any."""
        if self.upload_since is not None and self.upload_used + (now - self.upload_since) >= UPLOAD_WINDOW:
            return "time_out_upload"
        if self.bin_since is not None and now - self.bin_since >= RETENTION:
            return "purge"
        return None


def _uploading(reference: RefAsset) -> bool:
    return reference.state == "CREATING" and reference.main_file in ("CREATING", "CANCELLED")


def _binned(reference: RefAsset) -> bool:
    return reference.state == "DELETING" and not frozen(reference)


@dataclass(frozen=True)
class Expected:
    asset: RefAsset
    clocks: Clocks


# The state machine ------------------------------------------------------------------------------


class LifecycleMachine(LifecycleStateMachine):
    """The base class's engine, rules and checks, with the reference model kept beside the table."""

    start = START

    def __init__(self) -> None:
        super().__init__()
        self.reference: dict[str, list[Expected]] = {}
        """Per asset, what the reference expected after its creation and after each move."""

    def on_created(self, asset: Asset) -> None:
        expected = RefAsset(
            activate_on_upload=asset.activate_on_upload, review_required=asset.review_required
        )
        assert _stored_as_reference(asset) == expected
        self.reference[asset.asset_id] = [Expected(expected, Clocks(upload_since=asset.create_time))]

    def on_applied(self, asset_id: str, transition: Transitioned) -> None:
        tracked = self.assets[asset_id]
        step, actor = tracked.sequence.steps[-1], tracked.actors[-1]
        before = self.reference[asset_id][-1]
        assert actor.role.value in ROLES[step.event.value], (step, actor)
        after = (
            _tenant_freeze(before.asset) if step.tenant_wide else ref_apply(before.asset, step.event.value)
        )
        assert after is not None, f"{tracked} moved by {step} from {before.asset}: the reference refuses"
        assert transition.to_state.value == after.state, (transition, after)
        clocks = before.clocks.after(before.asset, after, transition.occurred_at)
        self.reference[asset_id].append(Expected(after, clocks))
        hypothesis.event(f"reached {after.state} pf={after.pre_freeze} pd={after.pre_delete}")

    def on_refused(self, asset_id: str, event: Event, actor: Actor, error: LifecycleError) -> None:
        reference = self.reference[asset_id][-1].asset
        allowed_role = actor.role.value in ROLES[event.value]
        if isinstance(error, PermissionDenied):
            assert not allowed_role, (event, actor)
        else:
            assert allowed_role, (event, actor)
            assert ref_apply(reference, event.value) is None, f"the reference applies {event} to {reference}"

    def on_tenant_operation(self, operation: TenantOperation) -> None:
        moved = {transition.asset_id for transition in operation.moved}
        decide = _tenant_freeze if operation.event is Event.FREEZE else _tenant_unfreeze
        for asset_id, tracked in self.assets.items():
            if tracked.owner.project_id != operation.project_id:
                continue
            trail = self.reference[asset_id]
            before = trail[-2] if asset_id in moved else trail[-1]
            should_move = decide(before.asset) is not None
            assert (asset_id in moved) == should_move, (operation.event, tracked, before.asset)

    def on_swept(self, report: SweepReport, moved: Sequence[Transitioned]) -> None:
        """Exactly the assets the reference's clocks say are due have moved, each by its due event."""
        now = self.clock.now()
        swept = {transition.asset_id: transition.event.value for transition in moved}
        for asset_id, trail in self.reference.items():
            before = trail[-2] if asset_id in swept else trail[-1]
            assert before.clocks.due(now) == swept.get(asset_id), (self.assets[asset_id], before, now)
        hypothesis.event(f"swept {len(moved)}")

    @invariant()
    def the_table_agrees_with_the_reference(self) -> None:
        """The base class checks the stored assets against the table; this, the table against the
        reference, so the stored assets are the reference's too."""
        for asset_id, tracked in self.assets.items():
            reference = self.reference[asset_id][-1].asset
            assert _as_reference(tracked.facts) == reference, (tracked, tracked.facts, reference)
            # A pre-freeze state exactly while frozen (or in the bin, deleted while frozen); a
            # pre-delete state exactly while in the bin (frozen there too).
            assert (reference.pre_freeze is not None) == frozen(reference), reference
            in_bin = reference.state == "DELETING" or (
                reference.state == "BLOCK" and reference.pre_freeze == "DELETING"
            )
            assert (reference.pre_delete is not None) == in_bin, reference


LifecycleMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    # Explaining a failure re-runs it many times over; the printed steps say enough.
    phases=[phase for phase in Phase if phase is not Phase.explain],
)
TestLifecycleAgainstReference = LifecycleMachine.TestCase


_own_tenants = itertools.count()


@settings(max_examples=60, deadline=None)
@given(sequence=event_sequences(max_size=12))
def test_drawn_sequences_apply_and_the_allowed_events_are_the_references_at_every_step(
    sequence: EventSequence,
) -> None:
    """Every step the strategy draws is one the reference accepts and the engine applies, to the
    reference's result; before each, ``allowed_events`` offers each role what the reference
    allows; the history is the sequence."""
    lifecycle = Lifecycle(_shared_engine(), clock=ManualClock(START))
    owner = Tenant(f"stateful-{next(_own_tenants)}")  # its own: a tenant-wide freeze freezes only it
    walk = AssetFactory(lifecycle, owner, platform=READER).walk(sequence, tenant=owner)
    asset = next(walk)
    reference = RefAsset(
        activate_on_upload=sequence.start.activate_on_upload, review_required=sequence.start.review_required
    )
    assert _stored_as_reference(asset) == reference
    for step in sequence.steps:
        for role in ROLE_NAMES:
            actor = owner if role == "tenant" else OPERATORS[role]
            allowed = lifecycle.allowed_events(actor, asset.asset_id)
            assert set(allowed) == _legal(reference, role), (reference, role)
        after = _tenant_freeze(reference) if step.tenant_wide else ref_apply(reference, step.event.value)
        assert after is not None, f"the strategy drew {step} from {reference}, which the reference refuses"
        asset = next(walk)
        assert _stored_as_reference(asset) == after, (step, reference)
        reference = after
    history = lifecycle.history(READER, asset.asset_id)
    assert [entry.event for entry in history] == [Event.CREATE, *sequence.events]
    assert [entry.actor_kind for entry in history[1:]] == [
        Role.PLATFORM if step.tenant_wide else role_for(step.event) for step in sequence.steps
    ]
