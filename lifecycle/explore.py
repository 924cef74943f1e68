"""Walking the transition table: what states and memories an asset can reach, and how.

Pure functions over a ``Definition``; the test generators are built on them, so a transition
added to the table shows up in every derived suite.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from lifecycle.definition import (
    DEFINITION,
    INITIAL_STATE,
    AssetFacts,
    Definition,
    Event,
    FileState,
    Memory,
    Role,
)
from lifecycle.moves import advance_facts


@dataclass(frozen=True, slots=True)
class Step:
    """One move of a path; ``tenant_wide`` marks a freeze made by freezing the whole tenant."""

    event: Event
    tenant_wide: bool = False


@dataclass(frozen=True, slots=True)
class Path:
    """Steps from creation, and the facts after each (``facts[0]`` is the asset as created)."""

    steps: tuple[Step, ...]
    facts: tuple[AssetFacts, ...]

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(step.event for step in self.steps)


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


def successors(facts: AssetFacts, definition: Definition = DEFINITION) -> Iterator[tuple[Step, AssetFacts]]:
    for spec in definition.events.values():
        edge = definition.resolve(spec.event, facts)
        if edge is None:
            continue
        yield Step(spec.event), advance_facts(facts, spec.event, edge.dest, edge.remembers)
        if spec.event is Event.FREEZE and edge.remembers is Memory.PRE_FREEZE:
            tenant_wide = advance_facts(facts, spec.event, edge.dest, edge.remembers, tenant_wide=True)
            yield Step(spec.event, tenant_wide=True), tenant_wide


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
