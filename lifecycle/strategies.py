"""Hypothesis support: legal event sequences, and a state machine to check your code against the engine.

``event_sequences()`` draws random legal walks through the transition table from creation, each
with the facts the table says the asset has after every step; ``situations()`` draws the shortest
walk to each situation the table distinguishes. ``LifecycleStateMachine`` is a
``RuleBasedStateMachine`` that drives a real engine with random legal and illegal moves, tenant-wide
freezes, time and sweeps, checks every stored asset and audit trail against the table, and calls
hooks you override to check your own code on every move.

Everything here is derived from the ``Definition`` through ``lifecycle.explore``, so a transition
added to the table shows up in every generated sequence. This module imports Hypothesis: install
it with ``pip install 'lifecycle[testing]'``.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from lifecycle.errors import MissingDependency

try:
    import hypothesis
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
except ImportError as error:  # pragma: no cover - exercised by a test that hides hypothesis
    raise MissingDependency("hypothesis", "testing") from error

from sqlalchemy import Row, and_, select, true

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    DEFINITION,
    AssetFacts,
    AssetState,
    AssetType,
    BlockScope,
    Definition,
    Event,
    FailType,
    FileCategory,
    Role,
    TimeBasis,
    TimeRule,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import LifecycleError, PermissionDenied, TransitionNotAllowed
from lifecycle.explore import Path, Step, initial_facts, reachable, successors
from lifecycle.explore import situations as explore_situations
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.results import Asset, TenantOperation, Transitioned
from lifecycle.settings import Settings
from lifecycle.store import schema
from lifecycle.store.database import copy_sqlite, open_database, transaction
from lifecycle.store.repository import assets, audit, files
from lifecycle.sweeps import SweepReport

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "EventSequence",
    "LifecycleStateMachine",
    "TrackedAsset",
    "event_sequences",
    "situations",
    "stored_facts",
]

_ROLE_ORDER = list(Role)


@dataclass(frozen=True, slots=True, repr=False)
class EventSequence(Path):
    """A legal walk from creation, as ``event_sequences`` draws it: a ``lifecycle.explore.Path``
    (``steps``; ``facts``, the asset as created then after each step; ``states``, ``start``,
    ``end``) that prints in one line, as failing examples show it."""

    @classmethod
    def of(cls, path: Path) -> EventSequence:
        return cls(path.steps, path.facts)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"EventSequence({self.id!r}, states={'>'.join(state.value for state in self.states)!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis's printer would spell out every field of a dataclass: the short form instead."""
        printer.text(repr(self))


def _extended(sequence: EventSequence, step: Step, facts: AssetFacts) -> EventSequence:
    return EventSequence((*sequence.steps, step), (*sequence.facts, facts))


def _choice_range(definition: Definition) -> int:
    """A number every count of choices divides, so that one drawn index picks uniformly among them."""
    finals = _final_states(definition)
    counts = set()
    for facts in reachable(definition):
        options = list(successors(facts, definition))
        counts.add(len(options))
        counts.add(sum(after.state not in finals for _, after in options))
    return math.lcm(*(count for count in counts if count > 0))


def _final_states(definition: Definition) -> frozenset[AssetState]:
    """States no transition leaves."""
    return frozenset(AssetState) - {source for edge in definition.transitions for source in edge.sources}


def _all_steps(definition: Definition) -> list[Step]:
    """Every step some reachable configuration offers, in table order (a tenant-wide freeze after
    the asset's own)."""
    order = list(definition.events)
    steps = {step for facts in reachable(definition) for step, _ in successors(facts, definition)}
    return sorted(steps, key=lambda step: (order.index(step.event), step.tenant_wide))


def event_sequences(
    definition: Definition = DEFINITION, *, max_size: int = 20
) -> st.SearchStrategy[EventSequence]:
    """Random legal sequences of moves from creation, at most ``max_size`` long.

    A walk over the table: the creation's choices (review, activate on upload) first, then at each
    step one of the moves ``lifecycle.explore.successors`` offers, a freeze of the whole tenant
    among them. Moves into a final state (deleted for good) are drawn less often than the others,
    so that walks go deep; one that reaches a final state ends there, however long it was meant
    to be. Sequences shrink towards fewer steps and towards earlier moves in table order.
    """
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0:
        raise InvalidArgument(f"max_size must be a whole number, 0 or more (got {max_size!r})")
    all_steps = _all_steps(definition)
    finals = _final_states(definition)
    span = _choice_range(definition)
    starts = initial_facts()

    def walk(start: AssetFacts, picks: list[tuple[int, int]]) -> EventSequence:
        # Each pick names a step, kept where it is legal, so that a step deleted while shrinking
        # leaves the meaning of the later ones alone; where it is not, the second number picks
        # among the legal steps that do not end the asset (uniformly: ``span`` is a multiple of
        # every count of them), or among all where every one does.
        sequence = EventSequence((), (start,))
        for wanted, fallback in picks:
            options = dict(successors(sequence.end, definition))
            if not options:
                break
            step = all_steps[wanted]
            if step not in options:
                going_on = [o for o, after in options.items() if after.state not in finals] or list(options)
                step = going_on[fallback % len(going_on)]
            sequence = _extended(sequence, step, options[step])
        return sequence

    pick = st.tuples(
        st.integers(min_value=0, max_value=len(all_steps) - 1), st.integers(min_value=0, max_value=span - 1)
    )
    # Runs of one to four picks: about twelve picks on average where a flat list averages five,
    # too few to reach deep configurations often (a walk that reaches DELETED ends early: eight
    # steps on average with the default ``max_size``); shrinking still drops one pick at a time.
    runs = st.lists(st.lists(pick, min_size=1, max_size=4), max_size=max_size)
    picks = runs.map(lambda chunks: [p for chunk in chunks for p in chunk][:max_size])
    return st.builds(walk, st.sampled_from(starts), picks)


def situations(definition: Definition = DEFINITION) -> st.SearchStrategy[EventSequence]:
    """The shortest legal sequence to each situation of ``lifecycle.explore.situations``.

    A situation is a reachable configuration that differs from the others in what some event
    would do to it: every state, memory and pending upload the table tells apart.
    """
    paths = [EventSequence.of(path) for path in explore_situations(definition).values()]
    return st.sampled_from(sorted(paths, key=len))


def stored_facts(asset: Asset) -> AssetFacts:
    """What the table decides on, as the engine stores it for ``asset``."""
    return AssetFacts(
        state=asset.asset_state,
        pre_freeze=asset.pre_freeze_state,
        pre_delete=asset.pre_delete_state,
        activate_on_upload=asset.activate_on_upload,
        review_required=asset.review_required,
        main_file_state=asset.main_file.state,
        frozen_by_tenant=asset.block_scope is BlockScope.TENANT,
    )


def _fail_type(event: Event) -> FailType | None:
    return FailType.MANUAL_REVIEW_REJECT if event is Event.REJECT_REVIEW else None


def _new_asset(name: str, *, activate_on_upload: bool, review_required: bool) -> NewAsset:
    return NewAsset(
        asset_name=name,
        asset_type=AssetType.VIDEO,
        files=[
            NewFile(f"{name}.mp4", 31_032_142, "38b8c2c1093dd0fec383a9d9ac940515"),
            NewFile(f"{name}.png", 110_321, "OLjCwQk90P7Dg6nZrJQFFQ==", FileCategory.COVER),
        ],
        activate_on_upload=activate_on_upload,
        review_required=review_required,
    )


@dataclass(slots=True, repr=False)
class TrackedAsset:
    """An asset the state machine created, and what the table says has happened to it."""

    name: str
    """``asset_0``, ``asset_1``, ... in creation order (how failing runs print it)."""
    asset_id: str
    owner: Tenant
    sequence: EventSequence
    """The moves applied to it, from creation: a legal walk through the table."""
    actors: list[Actor] = field(default_factory=list)
    """Who made each move: ``actors[i]`` made ``sequence.steps[i]``."""
    moments: list[datetime] = field(default_factory=list)
    """When: ``moments[0]`` is the creation, ``moments[i + 1]`` the move ``sequence.steps[i]``."""

    @property
    def facts(self) -> AssetFacts:
        """The asset as the table says it is now."""
        return self.sequence.end

    def __repr__(self) -> str:
        return self.name

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.name)


def _fire_into(dest: AssetState) -> Any:
    """A rule firing a legal move into ``dest``, at an asset that has one, as a role allowed to."""

    def fire(self: LifecycleStateMachine, data: st.DataObject) -> None:
        self._fire_drawn(data, dest)

    fire.__name__ = fire.__qualname__ = f"fire_into_{dest.value.lower()}"
    fire.__doc__ = f"A legal move into {dest.value}, as a role allowed to make it."
    movable = precondition(lambda self: any(self._legal(tracked, dest) for tracked in self.assets.values()))
    return movable(rule(data=st.data())(fire))


class LifecycleStateMachine(RuleBasedStateMachine):
    """Random legal and illegal moves against a real engine, checked against the table after each.

    Each run gets an engine (a fresh in-memory SQLite database; override ``make_lifecycle``), a
    ``ManualClock`` (``self.clock``), a few tenants (``self.tenants``), a platform operator and the
    system. The rules:

    - ``create``: a new asset of one of the tenants (at most ``max_assets`` alive at once);
    - ``fire_into_<state>``, one per state: a legal move into that state, as a role allowed to make
      it (one rule per state lets Hypothesis's swarm testing leave out, say, deletes for good for a
      whole run, so that assets go deep);
    - ``fire_illegal``: a move the table refuses or the role may not make, which must raise
      ``TransitionNotAllowed`` or ``PermissionDenied`` and write nothing;
    - ``tenant_wide``: freeze a whole tenant, or unfreeze what freezing it froze;
    - ``let_time_pass`` (the clock moves on, then usually a sweep) and ``let_time_run_out`` (the
      clock is set a microsecond before, at or after a stored deadline, then a sweep): each sweep
      may only make moves of the time rules that the table allows, as the system.

    After every rule, every asset's stored state, memory and MAIN file state must be where the
    table says (``self.assets[asset_id].facts``), and its audit trail exactly the moves applied, by
    whom and when.

    Subclass it to check your own code. Override the hooks, all of which do nothing here:

    - ``on_created(asset)``: an asset was created (``self.assets[asset.asset_id]`` tracks it).
    - ``on_applied(asset_id, transition)``: a move was applied, whoever made it (a rule, a tenant-wide
      operation or a sweep). ``self.assets[asset_id]`` is already updated: ``.facts`` is where the
      table says the asset is now, ``.sequence.steps[-1]`` the step and ``.actors[-1]`` who made it.
    - ``on_refused(asset_id, event, actor, error)``: a move was refused, as expected.
    - ``on_tenant_operation(operation)`` and ``on_swept(report, moved)``: after a tenant-wide freeze or
      unfreeze, or a sweep, once ``on_applied`` has been called for each move it made.

    Add your own ``@rule``, ``@invariant`` and ``@precondition`` methods as usual; ``new_asset``
    decides what is created. Do not override the rules above without their decorators: Hypothesis
    would no longer see them as rules. For example, to check a cache of usable assets kept by your service::

        class UsableCacheMachine(LifecycleStateMachine):
            def __init__(self) -> None:
                super().__init__()
                self.cache = UsableCache()  # your code

            def on_applied(self, asset_id: str, transition: Transitioned) -> None:
                self.cache.transition_applied(transition)

            @invariant()
            def the_cache_holds_the_actived_assets(self) -> None:
                actived = {a for a, t in self.assets.items() if t.facts.state is AssetState.ACTIVED}
                assert self.cache.usable_ids() == actived

        TestUsableCache = UsableCacheMachine.TestCase
        TestUsableCache.settings = settings(max_examples=50, stateful_step_count=30)

    A hook that raises fails the run, and Hypothesis shrinks it to a short sequence of steps.
    """

    definition: ClassVar[Definition] = DEFINITION
    """The table the moves are drawn from and checked against (the engine's, by default)."""
    max_assets: ClassVar[int] = 3
    """How many assets may be alive (not in a final state) at once."""
    tenant_count: ClassVar[int] = 2
    """Tenants the assets are spread over (a tenant-wide freeze catches all of one's assets)."""
    start: ClassVar[datetime] = datetime(2026, 1, 1, tzinfo=UTC)
    """Where ``self.clock`` starts."""
    max_clock_step: ClassVar[timedelta] = timedelta(days=1)
    """The longest single move of the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(self.start)
        self.lifecycle = self.make_lifecycle(self.clock)
        run = uuid.uuid4().hex[:12]
        self.tenants = [Tenant(f"tenant-{run}-{index}") for index in range(self.tenant_count)]
        self.platform = Platform("lifecycle-tests")
        self.system = System()
        self.assets: dict[str, TrackedAsset] = {}
        """Every asset this run created, by id, in creation order."""
        self._finals = _final_states(self.definition)

    # What you may override ------------------------------------------------------------------

    def make_lifecycle(self, clock: ManualClock) -> Lifecycle:
        """The engine for one run: by default a fresh in-memory SQLite database, schema up to date.

        Override it to run on PostgreSQL or on one database shared by every run (the assets and
        tenants of each run are its own, so they never meet another run's); the engine must use
        ``clock``. ``teardown`` closes it.
        """
        lifecycle = Lifecycle("sqlite://", clock=clock)
        _copy_schema(lifecycle.database)
        return lifecycle

    def new_asset(self, name: str, *, activate_on_upload: bool, review_required: bool) -> NewAsset:
        """What the ``create`` rule creates: a VIDEO with a MAIN file and a cover, by default."""
        return _new_asset(name, activate_on_upload=activate_on_upload, review_required=review_required)

    def on_created(self, asset: Asset) -> None:
        """An asset was created."""

    def on_applied(self, asset_id: str, transition: Transitioned) -> None:
        """A move was applied; ``self.assets[asset_id]`` already says where it is now."""

    def on_refused(self, asset_id: str, event: Event, actor: Actor, error: LifecycleError) -> None:
        """``actor`` was refused ``event`` (``PermissionDenied`` or ``TransitionNotAllowed``)."""

    def on_tenant_operation(self, operation: TenantOperation) -> None:
        """A tenant-wide freeze or unfreeze finished (``on_applied`` was called for each move)."""

    def on_swept(self, report: SweepReport, moved: Sequence[Transitioned]) -> None:
        """A sweep finished; ``moved`` are this run's assets it moved (``on_applied`` was called)."""

    def teardown(self) -> None:
        self.lifecycle.close()

    # Creation -------------------------------------------------------------------------------

    @initialize(data=st.data(), activate_on_upload=st.booleans(), review_required=st.booleans())
    def create_first(self, data: st.DataObject, activate_on_upload: bool, review_required: bool) -> None:
        """Every run starts with an asset, so that the rules that need one are never all filtered out."""
        self.create(data, activate_on_upload, review_required)

    @precondition(lambda self: len(self._alive()) < self.max_assets)
    @rule(data=st.data(), activate_on_upload=st.booleans(), review_required=st.booleans())
    def create(self, data: st.DataObject, activate_on_upload: bool, review_required: bool) -> None:
        owner = data.draw(st.sampled_from(self.tenants), label="owner")
        name = f"asset_{len(self.assets)}"
        new = self.new_asset(name, activate_on_upload=activate_on_upload, review_required=review_required)
        created = self.lifecycle.create_asset(owner, new)
        assert created.asset_id not in self.assets
        start = stored_facts(created)
        assert start in initial_facts(), f"{name} was created as {start}"
        tracked = TrackedAsset(name, created.asset_id, owner, EventSequence((), (start,)))
        tracked.moments.append(self.clock.now())
        self.assets[created.asset_id] = tracked
        hypothesis.note(f"# {name} is {created.asset_id}")
        self.on_created(created)

    # Moves -----------------------------------------------------------------------------------

    # One rule per state a move can lead to, so that Hypothesis's swarm testing can leave some out
    # for a whole run (no failures, no deletes for good...) and let assets go deep; and so that the
    # one way from CREATING into use is as likely as the many ways to fail.
    fire_into_creating = _fire_into(AssetState.CREATING)
    fire_into_failed = _fire_into(AssetState.FAILED)
    fire_into_unactived = _fire_into(AssetState.UNACTIVED)
    fire_into_actived = _fire_into(AssetState.ACTIVED)
    fire_into_deleting = _fire_into(AssetState.DELETING)
    fire_into_deleted = _fire_into(AssetState.DELETED)
    fire_into_block = _fire_into(AssetState.BLOCK)

    @rule(data=st.data())
    def fire_illegal(self, data: st.DataObject) -> None:
        """A move the table refuses, or one the role may not make: refused, nothing written."""
        tracked = data.draw(st.sampled_from(list(self.assets.values())), label="asset")
        event, role = data.draw(st.sampled_from(self._illegal(tracked)), label="illegal move")
        actor = self._actor(tracked, role)
        before = self.lifecycle.get_asset(self.platform, tracked.asset_id)
        expected = PermissionDenied if role not in self.definition.roles(event) else TransitionNotAllowed
        try:
            self.lifecycle.fire(actor, tracked.asset_id, event, fail_type=_fail_type(event))
        except (PermissionDenied, TransitionNotAllowed) as error:
            refused: LifecycleError = error
        else:
            raise AssertionError(f"{event.value} as {role.value} was applied to {tracked} at {tracked.facts}")
        assert isinstance(refused, expected), f"{event.value} as {role.value}: {refused!r}"
        if isinstance(refused, TransitionNotAllowed):
            assert (refused.event, refused.state) == (event, tracked.facts.state), refused
        assert self.lifecycle.get_asset(self.platform, tracked.asset_id) == before, "a refusal wrote"
        hypothesis.event(f"refused: {type(refused).__name__}")
        self.on_refused(tracked.asset_id, event, actor, refused)

    @rule(data=st.data(), freeze=st.booleans())
    def tenant_wide(self, data: st.DataObject, freeze: bool) -> None:
        """Freeze a whole tenant (each asset the table lets freeze, except those frozen already), or
        unfreeze what freezing it froze (assets frozen on their own stay frozen)."""
        tenant = data.draw(st.sampled_from(self.tenants), label="tenant")
        expected: dict[str, AssetFacts] = {}
        for tracked in self._owned_by(tenant):
            facts = tracked.facts
            if freeze:
                expected.update(
                    (tracked.asset_id, after)
                    for step, after in successors(facts, self.definition)
                    if step.tenant_wide
                )
            elif facts.is_frozen and facts.frozen_by_tenant:
                after_unfreeze = dict(successors(facts, self.definition)).get(Step(Event.UNFREEZE))
                if after_unfreeze is not None:
                    expected[tracked.asset_id] = after_unfreeze
        if freeze:
            operation = self.lifecycle.freeze_tenant(self.platform, tenant.project_id)
        else:
            operation = self.lifecycle.unfreeze_tenant(self.platform, tenant.project_id)
        self._tenant_operation_done(
            operation, expected, Step(Event.FREEZE, tenant_wide=True) if freeze else Step(Event.UNFREEZE)
        )

    # Time ------------------------------------------------------------------------------------

    @rule(data=st.data(), sweep=st.booleans())
    def let_time_pass(self, data: st.DataObject, sweep: bool) -> None:
        """Move the clock on (by nothing, sometimes), then sweep, unless ``sweep`` is False (so that
        moves fall due and wait, as they do between two sweeps)."""
        delta = data.draw(st.timedeltas(min_value=timedelta(0), max_value=self.max_clock_step), label="by")
        self.clock.advance(delta)
        if sweep:
            self._sweep()

    @rule(data=st.data())
    def let_time_run_out(self, data: st.DataObject) -> None:
        """Set the clock to a microsecond before, at or after a moment a time rule falls due for an
        asset (as stored), then sweep: deadlines are met to the microsecond, or missed."""
        now = self.clock.now()
        stored = _read_stored(self.lifecycle, [tracked.asset_id for tracked in self._alive()], trails=False)
        moments = sorted(
            {
                moment
                for row in stored.values()
                for time_rule in self.definition.time_rules
                if (moment := _due_at(row, time_rule, self.lifecycle.settings)) is not None
                and moment + _MICROSECOND > now
            }
        )
        if moments:
            moment = data.draw(st.sampled_from(moments), label="due at")
            offset = data.draw(st.sampled_from([-_MICROSECOND, timedelta(0), _MICROSECOND]), label="offset")
            self.clock.set(max(now, moment + offset))
        self._sweep()

    def _sweep(self) -> None:
        """Make every move time has made due: each a time rule's move the table allows, by the system."""
        report = self.lifecycle.sweep()
        timed = {time_rule.event for time_rule in self.definition.time_rules}
        moved: list[Transitioned] = []
        # Only this sweep's rows: the invariant reads the whole trails after the step.
        stored = _read_stored(self.lifecycle, list(self.assets), since=self.clock.now())
        for tracked in self.assets.values():
            new = [entry for entry in stored[tracked.asset_id].trail if entry.seq > len(tracked.moments)]
            assert len(new) <= 1, f"one sweep moved {tracked} {len(new)} times: {new}"
            for entry in new:
                assert entry.actor_kind is Role.SYSTEM, entry
                assert entry.event in timed, f"a sweep fired {entry.event.value}, which no time rule fires"
                assert entry.occurred_at == self.clock.now(), entry
                transition = Transitioned.from_audit_row(entry, replayed=False)
                after = _advanced(tracked.facts, entry.event, self.definition)
                self._record(tracked, Step(entry.event), System(entry.actor_id), after, transition)
                moved.append(transition)
        assert report.moved >= len(moved), report
        self.on_swept(report, moved)

    # The check after every step --------------------------------------------------------------

    @invariant()
    def stored_assets_follow_the_table(self) -> None:
        """Stored state, memory and MAIN file are the table's; the audit trail is the moves applied."""
        stored = _read_stored(self.lifecycle, list(self.assets))
        for tracked in self.assets.values():
            row = stored[tracked.asset_id]
            history = row.trail
            assert row.facts == tracked.facts, (tracked, row.facts, tracked.facts)
            assert row.version == len(history) == len(tracked.moments), (tracked, history)
            assert [entry.seq for entry in history] == list(range(1, len(history) + 1))
            assert [entry.from_state for entry in history] == [None, *tracked.sequence.states[:-1]]
            assert [entry.to_state for entry in history] == list(tracked.sequence.states)
            assert [entry.event for entry in history] == [Event.CREATE, *tracked.sequence.events]
            who = [(entry.actor_kind, entry.actor_id) for entry in history]
            assert who == [(a.role, a.actor_id) for a in (tracked.owner, *tracked.actors)], who
            assert [entry.occurred_at for entry in history] == tracked.moments

    # Helpers ---------------------------------------------------------------------------------

    def _alive(self) -> list[TrackedAsset]:
        return [tracked for tracked in self.assets.values() if tracked.facts.state not in self._finals]

    def _owned_by(self, tenant: Tenant) -> list[TrackedAsset]:
        return [tracked for tracked in self.assets.values() if tracked.owner == tenant]

    def _actor(self, tracked: TrackedAsset, role: Role) -> Actor:
        if role is Role.TENANT:
            return tracked.owner
        return self.platform if role is Role.PLATFORM else self.system

    def _legal(self, tracked: TrackedAsset, dest: AssetState) -> list[tuple[Event, Role]]:
        """(event, role) pairs the table allows now into ``dest``, in table order."""
        moves: list[tuple[Event, Role]] = []
        for spec in self.definition.events.values():
            edge = self.definition.resolve(spec.event, tracked.facts)
            if edge is not None and edge.dest is dest:
                moves.extend((spec.event, role) for role in sorted(spec.roles, key=_ROLE_ORDER.index))
        return moves

    def _illegal(self, tracked: TrackedAsset) -> list[tuple[Event, Role]]:
        return [
            (spec.event, role)
            for spec in self.definition.events.values()
            for role in _ROLE_ORDER
            if role not in spec.roles or self.definition.resolve(spec.event, tracked.facts) is None
        ]

    def _fire_drawn(self, data: st.DataObject, dest: AssetState) -> None:
        movable = [tracked for tracked in self.assets.values() if self._legal(tracked, dest)]
        tracked = data.draw(st.sampled_from(movable), label="asset")
        event, role = data.draw(st.sampled_from(self._legal(tracked, dest)), label="move")
        actor = self._actor(tracked, role)
        after = _advanced(tracked.facts, event, self.definition)
        transition = self.lifecycle.fire(actor, tracked.asset_id, event, fail_type=_fail_type(event))
        assert (transition.event, transition.from_state, transition.to_state) == (
            event,
            tracked.facts.state,
            after.state,
        ), transition
        assert transition.version == len(tracked.moments) + 1, transition
        assert transition.occurred_at == self.clock.now(), transition
        self._record(tracked, Step(event), actor, after, transition)

    def _tenant_operation_done(
        self, operation: TenantOperation, expected: dict[str, AssetFacts], step: Step
    ) -> None:
        ours = {transition.asset_id: transition for transition in operation.moved}
        moved = {asset_id for asset_id in ours if asset_id in self.assets}
        assert moved == set(expected), (
            f"tenant-wide {step.event.value} moved {sorted(self.assets[a].name for a in moved)},"
            f" the table says {sorted(self.assets[a].name for a in expected)}"
        )
        for asset_id, after in expected.items():
            transition = ours[asset_id]
            tracked = self.assets[asset_id]
            assert (transition.from_state, transition.to_state) == (tracked.facts.state, after.state)
            self._record(tracked, step, self.platform, after, transition)
        self.on_tenant_operation(operation)

    def _record(
        self,
        tracked: TrackedAsset,
        step: Step,
        actor: Actor,
        after: AssetFacts,
        transition: Transitioned,
    ) -> None:
        tracked.sequence = _extended(tracked.sequence, step, after)
        tracked.actors.append(actor)
        tracked.moments.append(transition.occurred_at)
        hypothesis.event(f"applied: {step}")
        self.on_applied(tracked.asset_id, transition)


@functools.cache
def _schema_template() -> Engine:
    """An in-memory SQLite database migrated once per process."""
    database = open_database("sqlite://")
    schema.upgrade(database)
    return database


def _copy_schema(database: Engine) -> None:
    """Give a fresh in-memory SQLite database the current schema: a copy of the template."""
    copy_sqlite(_schema_template(), database)


@dataclass(frozen=True, slots=True)
class _Stored:
    facts: AssetFacts
    version: int
    bases: dict[str, datetime | None]
    """The moments the time rules count from (``TimeBasis``: column name to value)."""
    trail: list[Row[Any]]
    """Its audit rows, oldest first (the columns of ``AuditEntry``; left as rows, which is quicker)."""


_FACT_COLUMNS = (
    assets.c.asset_id,
    assets.c.version,
    assets.c.asset_state,
    assets.c.pre_freeze_state,
    assets.c.pre_delete_state,
    assets.c.activate_on_upload,
    assets.c.review_required,
    assets.c.block_scope,
    files.c.state.label("main_file_state"),
    *(assets.c[basis.value] for basis in TimeBasis),
)


def _read_stored(
    lifecycle: Lifecycle,
    asset_ids: Sequence[str],
    *,
    trails: bool = True,
    since: datetime | None = None,
) -> dict[str, _Stored]:
    """What decisions read of each asset, its version, its time bases and its audit trail (none
    without ``trails``; only the rows recorded at ``since`` or later with it), in one transaction.

    The invariant runs after every step: a round trip per asset and per trail through the public
    API would take most of a run's time.
    """
    with transaction(lifecycle.database, write=False) as connection:
        records = connection.execute(
            select(*_FACT_COLUMNS)
            .join(
                files,
                and_(files.c.asset_id == assets.c.asset_id, files.c.asset_file_category == FileCategory.MAIN),
            )
            .where(assets.c.asset_id.in_(asset_ids))
        ).all()
        recorded = audit.c.occurred_at >= since if since is not None else true()
        audit_rows = (
            connection.execute(
                select(audit)
                .where(audit.c.asset_id.in_(asset_ids), recorded)
                .order_by(audit.c.asset_id, audit.c.seq)
            ).all()
            if trails
            else []
        )
    stored = {
        record.asset_id: _Stored(
            AssetFacts(
                state=record.asset_state,
                pre_freeze=record.pre_freeze_state,
                pre_delete=record.pre_delete_state,
                activate_on_upload=record.activate_on_upload,
                review_required=record.review_required,
                main_file_state=record.main_file_state,
                frozen_by_tenant=record.block_scope is BlockScope.TENANT,
            ),
            record.version,
            {basis.value: getattr(record, basis.value) for basis in TimeBasis},
            [],
        )
        for record in records
    }
    for row in audit_rows:
        stored[row.asset_id].trail.append(row)
    return stored


_MICROSECOND = timedelta(microseconds=1)


def _due_at(row: _Stored, time_rule: TimeRule, settings: Settings) -> datetime | None:
    """When ``time_rule`` falls due for the asset, by its stored basis and the engine's settings (the
    state and plan conditions aside: a sweep at that moment shows whether it applies)."""
    basis = row.bases[time_rule.basis.value]
    if basis is None:
        return None
    delay = timedelta(0) if time_rule.delay is None else settings.duration(time_rule.delay)
    return basis + delay


def _advanced(facts: AssetFacts, event: Event, definition: Definition) -> AssetFacts:
    """The facts after ``event``, which the table must allow from ``facts``."""
    for step, after in successors(facts, definition):
        if step == Step(event):
            return after
    raise AssertionError(f"the table does not allow {event.value} from {facts}")
