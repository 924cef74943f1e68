"""Walking the transition table: what states and memories an asset can reach, and how.

Pure functions over a ``Definition``; the test generators are built on them, so a transition
added to the table shows up in every derived suite:

- ``covering_paths``: a few event paths from creation that together take every arrow of the
  state diagram (each transition from each of its sources), and so visit every state;
- ``refused_pairs``: every (state, event) the table has no transition for at all;
- ``conditional_refusals``: every reachable situation where an event the state does have a
  transition for is refused, because that transition's conditions fail there;
- ``path_to``: a shortest legal path to a state (and remembered states), for test factories.

``lifecycle.testing`` re-exports them for users' suites.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from lifecycle.definition import (
    DEFINITION,
    INITIAL_STATE,
    AssetFacts,
    AssetState,
    Definition,
    Event,
    FileState,
    Memory,
    Role,
    Transition,
)
from lifecycle.errors import InvalidDefinition, NoLegalPath
from lifecycle.moves import advance_facts

_STATE_ORDER = list(AssetState)
_EVENT_ORDER = list(Event)


@dataclass(frozen=True, slots=True)
class Step:
    """One move of a path; ``tenant_wide`` marks a freeze made by freezing the whole tenant."""

    event: Event
    tenant_wide: bool = False

    def __str__(self) -> str:
        return "freeze_tenant" if self.tenant_wide else self.event.value


@dataclass(frozen=True, slots=True)
class Path:
    """Steps from creation, and the facts after each (``facts[0]`` is the asset as created).

    ``str(path)`` is a short id for ``pytest.mark.parametrize(..., ids=str)``: the creation's
    choices where they differ from the defaults, then the steps, e.g.
    ``review:submit_for_review>pass_review>freeze``.
    """

    steps: tuple[Step, ...]
    facts: tuple[AssetFacts, ...]

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(step.event for step in self.steps)

    @property
    def states(self) -> tuple[AssetState, ...]:
        """The states the asset passes through, from creation on (one more than the steps)."""
        return tuple(facts.state for facts in self.facts)

    @property
    def start(self) -> AssetFacts:
        return self.facts[0]

    @property
    def end(self) -> AssetFacts:
        return self.facts[-1]

    @property
    def id(self) -> str:
        choices = [
            name
            for name, chosen in (
                ("review", self.start.review_required),
                ("activate", self.start.activate_on_upload),
            )
            if chosen
        ]
        prefix = f"{','.join(choices)}:" if choices else ""
        return prefix + (">".join(str(step) for step in self.steps) or "created")

    def __str__(self) -> str:
        return self.id

    def describe(self) -> str:
        """The path as a line of states and moves: ``CREATING -accept_upload-> UNACTIVED``."""
        parts = [self.facts[0].state.value]
        for step, after in zip(self.steps, self.facts[1:], strict=True):
            parts.append(f"-{step}-> {after.state.value}")
        return " ".join(parts)

    def arrows(self, definition: Definition = DEFINITION) -> tuple[Arrow, ...]:
        """The arrow each step takes."""
        taken = []
        for step, before in zip(self.steps, self.facts, strict=False):
            edge = definition.resolve(step.event, before)
            if edge is None:
                raise InvalidDefinition(f"step {step} of path {self.id} is refused by this definition")
            taken.append(Arrow(edge, before.state))
        return tuple(taken)


class Arrow(NamedTuple):
    """One arrow of the state diagram: a transition, from one of its sources."""

    transition: Transition
    source: AssetState

    def __str__(self) -> str:
        edge = self.transition
        guards = [*edge.conditions, *(f"not {name}" for name in edge.unless)]
        when = f" [{', '.join(guards)}]" if guards else ""
        return f"{self.source.value} -{edge.event.value}-> {edge.dest.value}{when}"


class Refusal(NamedTuple):
    """A (state, event) pair the table refuses whatever else the asset remembers."""

    state: AssetState
    event: Event

    def __str__(self) -> str:
        return f"{self.state.value}:{self.event.value}"


class ConditionalRefusal(NamedTuple):
    """An event refused in one situation although its state has a transition for it: the
    transition's conditions fail there. ``path`` leads to the situation."""

    path: Path
    event: Event

    @property
    def facts(self) -> AssetFacts:
        return self.path.end

    @property
    def state(self) -> AssetState:
        return self.path.end.state

    def __str__(self) -> str:
        return f"{describe(self.facts)}:{self.event.value}"


def describe(facts: AssetFacts) -> str:
    """A short label for a configuration: ``BLOCK,pf=DELETING,pd=ACTIVED``; in CREATING, also the
    MAIN file's state and the creation's choices."""
    parts = [facts.state.value]
    if facts.pre_freeze:
        parts.append(f"pf={facts.pre_freeze.value}")
    if facts.pre_delete:
        parts.append(f"pd={facts.pre_delete.value}")
    if facts.frozen_by_tenant:
        parts.append("tenant-wide")
    if facts.state is AssetState.CREATING:
        parts.append(f"file={facts.main_file_state.value}")
        parts.append("review" if facts.review_required else "no-review")
        parts.append("activate" if facts.activate_on_upload else "stay-unactived")
    return ",".join(parts)


def initial_facts() -> list[AssetFacts]:
    """An asset as created, for each choice a creation makes (review, activate on upload)."""
    return [
        AssetFacts(
            INITIAL_STATE,
            activate_on_upload=activate,
            review_required=review,
            main_file_state=FileState.CREATING,
        )
        for review in (False, True)
        for activate in (False, True)
    ]


def moves(facts: AssetFacts, definition: Definition = DEFINITION) -> Iterator[tuple[Step, Arrow, AssetFacts]]:
    """Every legal move from ``facts``, in table order: the step, the arrow it takes, the facts after.

    A freeze that remembers a pre-freeze state comes twice: on its own, then tenant-wide.
    """
    for spec in definition.events.values():
        edge = definition.resolve(spec.event, facts)
        if edge is None:
            continue
        arrow = Arrow(edge, facts.state)
        yield (
            Step(spec.event),
            arrow,
            advance_facts(facts, spec.event, edge.dest, edge.remembers, definition=definition),
        )
        if spec.event is Event.FREEZE and edge.remembers is Memory.PRE_FREEZE:
            tenant_wide = advance_facts(
                facts, spec.event, edge.dest, edge.remembers, definition=definition, tenant_wide=True
            )
            yield Step(spec.event, tenant_wide=True), arrow, tenant_wide


def successors(facts: AssetFacts, definition: Definition = DEFINITION) -> Iterator[tuple[Step, AssetFacts]]:
    for step, _arrow, after in moves(facts, definition):
        yield step, after


def reachable(definition: Definition = DEFINITION) -> dict[AssetFacts, Path]:
    """Every reachable configuration, with a shortest path to it (breadth first, table order)."""
    paths: dict[AssetFacts, Path] = {}
    queue: deque[AssetFacts] = deque()
    for start in initial_facts():
        paths[start] = Path((), (start,))
        queue.append(start)
    while queue:
        facts = queue.popleft()
        for step, after in successors(facts, definition):
            if after not in paths:
                path = paths[facts]
                paths[after] = Path((*path.steps, step), (*path.facts, after))
                queue.append(after)
    return paths


def role_for(event: Event, definition: Definition = DEFINITION) -> Role:
    """A role allowed to fire ``event`` (tenant first, then platform, then system)."""
    roles = definition.roles(event)
    return next(role for role in (Role.TENANT, Role.PLATFORM, Role.SYSTEM) if role in roles)


def situations(definition: Definition = DEFINITION) -> dict[AssetFacts, Path]:
    """Reachable configurations that differ in what one event could do to them.

    Two configurations are the same situation when they have the same state and memory and
    every event resolves to the same edge; the shortest path of the first found is kept.
    """
    chosen: dict[tuple[object, ...], tuple[AssetFacts, Path]] = {}
    for facts, path in reachable(definition).items():
        key = (
            facts.state,
            facts.pre_freeze,
            facts.pre_delete,
            facts.frozen_by_tenant,
            tuple(definition.resolve(spec.event, facts) for spec in definition.events.values()),
        )
        chosen.setdefault(key, (facts, path))
    return dict(chosen.values())


def arrows(definition: Definition = DEFINITION) -> list[Arrow]:
    """Every arrow of the state diagram: each transition from each of its sources, in table order."""
    return [
        Arrow(edge, source)
        for edge in definition.transitions
        for source in sorted(edge.sources, key=_STATE_ORDER.index)
    ]


def covering_paths(definition: Definition = DEFINITION) -> list[Path]:
    """A few event paths from creation that together take every arrow of the table (every
    transition from every one of its sources, conditional ones too) and so visit every state.

    Greedy and deterministic: a path starts from the creation nearest to an arrow not taken yet,
    then goes on to the nearest arrow not taken yet (arrows into a final state last, since they
    end the path) until none is reachable; the next path starts from creation again. Parametrize
    a test over the result and a transition added to the table becomes a new case, or a longer
    one. Raises ``InvalidDefinition`` naming any arrow no legal path takes.
    """
    untaken = dict.fromkeys(arrows(definition))
    paths: list[Path] = []
    while untaken:
        routes = [_nearest(start, untaken, definition) for start in initial_facts()]
        found = [(len(route), index, route) for index, route in enumerate(routes) if route is not None]
        if not found:
            dead = "; ".join(str(arrow) for arrow in untaken)
            raise InvalidDefinition(f"transitions no legal path takes: {dead}")
        start = initial_facts()[min(found)[1]]
        steps: list[Step] = []
        facts: list[AssetFacts] = [start]
        route = routes[min(found)[1]]
        while route is not None:
            for step, arrow, after in route:
                untaken.pop(arrow, None)
                steps.append(step)
                facts.append(after)
            route = _nearest(facts[-1], untaken, definition) if untaken else None
        paths.append(Path(tuple(steps), tuple(facts)))
    return paths


_Route = list[tuple[Step, Arrow, AssetFacts]]


def _nearest(start: AssetFacts, untaken: dict[Arrow, None], definition: Definition) -> _Route | None:
    """The shortest route from ``start`` that ends by taking an arrow in ``untaken``; one that
    leaves the asset somewhere it can still move from is preferred."""
    for allow_ending in (False, True):
        came_from: dict[AssetFacts, tuple[AssetFacts, Step, Arrow] | None] = {start: None}
        queue: deque[AssetFacts] = deque([start])
        while queue:
            facts = queue.popleft()
            for step, arrow, after in moves(facts, definition):
                ends = next(moves(after, definition), None) is None
                if arrow in untaken and (allow_ending or not ends):
                    route: _Route = [(step, arrow, after)]
                    back = came_from[facts]
                    while back is not None:
                        before, back_step, back_arrow = back
                        route.append((back_step, back_arrow, facts))
                        facts = before
                        back = came_from[facts]
                    route.reverse()
                    return route
                if after not in came_from:
                    came_from[after] = (facts, step, arrow)
                    queue.append(after)
    return None


def refused_pairs(definition: Definition = DEFINITION) -> list[Refusal]:
    """Every (state, event) the table has no transition for: refused whatever the asset remembers.

    In the enums' order, states first; ``create`` is not an event an asset can be sent.
    """
    taken = {(source, edge.event) for edge in definition.transitions for source in edge.sources}
    events = sorted(
        (event for event in definition.events if event is not Event.CREATE), key=_EVENT_ORDER.index
    )
    return [Refusal(state, event) for state in AssetState for event in events if (state, event) not in taken]


def conditional_refusals(definition: Definition = DEFINITION) -> list[ConditionalRefusal]:
    """Every situation (``situations``) where an event is refused although its state has a
    transition for it, because that transition's conditions fail there: an upload confirmed
    twice, the purge of an asset deleted while frozen, a second freeze of an asset frozen on its
    own, an unfreeze of an asset in the recycle bin that is not frozen, …

    In the order of the situations (shortest paths first), then the events'.
    """
    refusals = []
    for facts, path in situations(definition).items():
        for spec in definition.events.values():
            if (
                facts.state in definition.sources(spec.event)
                and definition.resolve(spec.event, facts) is None
            ):
                refusals.append(ConditionalRefusal(path, spec.event))
    return refusals


def path_to(
    state: AssetState,
    *,
    pre_freeze: AssetState | None = None,
    pre_delete: AssetState | None = None,
    frozen_by_tenant: bool | None = False,
    review_required: bool | None = None,
    activate_on_upload: bool | None = None,
    main_file_state: FileState | None = None,
    definition: Definition = DEFINITION,
) -> Path:
    """A shortest legal path from creation to ``state`` with the given remembered states.

    ``None`` leaves a field free (the shortest path decides); ``frozen_by_tenant`` is False by
    default (a freeze of the asset on its own), None to leave it free too. Raises
    ``NoLegalPath``, listing what is reachable in ``state``, where no legal path leads.
    """
    __tracebackhide__ = True  # pytest: a failure points at the caller, not in here
    wanted = {
        "pre_freeze": pre_freeze,
        "pre_delete": pre_delete,
        "frozen_by_tenant": frozen_by_tenant,
        "review_required": review_required,
        "activate_on_upload": activate_on_upload,
        "main_file_state": main_file_state,
    }
    constrained = {name: value for name, value in wanted.items() if value is not None}
    paths = reachable(definition)
    in_state = [facts for facts in paths if facts.state is state]  # shortest path first
    for facts in in_state:
        if all(getattr(facts, name) == value for name, value in constrained.items()):
            return paths[facts]
    shown = {*_MEMORY, *constrained}
    options = dict.fromkeys(
        _summary({name: getattr(facts, name) for name in wanted if name in shown})
        for facts in sorted(in_state, key=_rank)
    )
    raise NoLegalPath(state, _summary(constrained), list(options))


_MEMORY = ("pre_freeze", "pre_delete", "frozen_by_tenant")


def _rank(facts: AssetFacts) -> tuple[int, ...]:
    """Sorts configurations by their memory in the enums' order, then by the creation's choices."""
    return (
        -1 if facts.pre_freeze is None else _STATE_ORDER.index(facts.pre_freeze),
        -1 if facts.pre_delete is None else _STATE_ORDER.index(facts.pre_delete),
        facts.frozen_by_tenant,
        facts.review_required,
        facts.activate_on_upload,
        list(FileState).index(facts.main_file_state),
    )


def _summary(values: Mapping[str, object]) -> str:
    """``pre_freeze=ACTIVED, frozen_by_tenant=True``: the fields set, False and None left out."""
    shown = [
        f"{name}={value.value if isinstance(value, AssetState | FileState) else value}"
        for name, value in values.items()
        if value is not None and value is not False
    ]
    return ", ".join(shown) or "nothing remembered"
