"""State diagrams generated from the definition, never drawn by hand.

``python -m lifecycle.diagrams [DIR]`` (default ``docs/state-diagrams``) writes, for the asset
machine (``TRANSITIONS``) and the file machine (``FILE_TRANSITIONS``):

- ``<name>.md``: a heading, a legend and a Mermaid block (GitHub renders it);
- ``<name>.dot``: the same graph for Graphviz;
- ``<name>.svg``: ``dot -Tsvg`` of that file, where Graphviz is installed, stamped with the DOT's
  SHA-256 so a test can tell it is current without comparing Graphviz's bytes (they vary by
  version);

and a ``README.md`` index. Mermaid and DOT are both written from one ``Graph`` per machine, so
they cannot disagree; the output is deterministic (table order, then the enums' order), and a
test fails when the committed files differ from what the definition generates.

Drawing choices, made for legibility:

- every edge of the table is drawn; the events going from one state to another with the same
  line are listed on one edge, one per line, with their conditions in a compact form
  (``accept_upload [awaiting upload, auto-activate, no review]``);
- a set of states some edges all leave from (``LIVE_STATES``: freeze, delete; every state but
  DELETED: delete_force) is drawn as a box, and such an edge is drawn once, from the box: drawn
  from each state, these edges made most of the crossings;
- returns to a remembered state (restore, unfreeze) are dashed and say what decides them:
  ``unfreeze [pre-freeze = ACTIVED]``, ``restore [pre-delete = BLOCK]``;
- moves time makes are dotted and marked ⏱ with their delay from the ``Settings`` defaults
  (``⏱ purge (after 7 days)``); a move the system also makes when planned says so on its edge
  (``freeze (or ⏱ planned BLOCK)``) rather than doubling it with a parallel dotted one;
- ``CREATING`` has a start marker and ``DELETED`` an end marker; file states no move uses are
  drawn apart, in a box "not used by the engine";
- the asset machine is drawn top to bottom (its many returns go back up beside the forward moves,
  and it fits a page's width better), the file machine left to right.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from lifecycle.definition import (
    ALL_BUT_DELETED,
    DEFINITION,
    FILE_FINAL_STATES,
    FILE_INITIAL_STATE,
    FINAL_STATES,
    INITIAL_STATE,
    LIVE_STATES,
    AssetState,
    Declared,
    Definition,
    Delay,
    Event,
    FileState,
    FileTransition,
    Memory,
    Role,
    TimeBasis,
    TimeRule,
    Transition,
    UploadResult,
)
from lifecycle.errors import MissingProgram
from lifecycle.settings import Settings

DEFAULT_OUT = Path("docs/state-diagrams")
ASSET_MACHINE = "asset-lifecycle"
FILE_MACHINE = "file-lifecycle"
GENERATED_BY = "python -m lifecycle.diagrams"

_E = TypeVar("_E", bound=enum.Enum)


class Line(enum.Enum):
    """How an edge is drawn: each line says what kind of move it is."""

    MOVE = "a move an actor makes"
    MAIN_FILE = "the MAIN file, with its asset's move"
    CONFIRM = "a file other than MAIN, on its upload's confirmation"
    WITH_ASSET = "every file, with its asset"
    RETURN = "a return to a remembered state"
    TIME = "a move time makes"


@dataclass(frozen=True, slots=True)
class _Look:
    name: str
    """How the legend names the line."""
    colour: str
    dot_style: str
    mermaid_arrow: str
    dashes: str | None = None
    """The SVG dash pattern Mermaid draws it with (its dotted arrow has one of its own)."""
    width: int = 1
    mermaid_default: bool = False
    """Drawn as Mermaid draws a link unless told otherwise (no ``linkStyle``)."""


_LOOKS: dict[Line, _Look] = {
    Line.MOVE: _Look("solid", "#333333", "solid", "-->", mermaid_default=True),
    Line.RETURN: _Look("dashed, blue", "#1f5fa8", "dashed", "-.->", dashes="8 4"),
    Line.TIME: _Look("dotted, orange, ⏱", "#b05a00", "dotted", "-.->", dashes="2 3", width=2),
    Line.MAIN_FILE: _Look("solid", "#333333", "solid", "-->", mermaid_default=True),
    Line.CONFIRM: _Look("solid, green", "#2e7d32", "solid", "-->"),
    Line.WITH_ASSET: _Look("bold, purple", "#6a1b9a", "bold", "==>"),
}


def _dot_line(line: Line) -> str:
    look = _LOOKS[line]
    width = f", penwidth={look.width}" if look.width > 1 else ""
    return f'style={look.dot_style}, color="{look.colour}", fontcolor="{look.colour}"{width}'


def _mermaid_link(line: Line) -> str | None:
    look = _LOOKS[line]
    if look.mermaid_default:
        return None
    dashes = f",stroke-dasharray:{look.dashes}" if look.dashes else ""
    return f"stroke:{look.colour},color:{look.colour},stroke-width:{look.width}px{dashes}"


class Kind(enum.Enum):
    """How a state is drawn."""

    PLAIN = "plain"
    INITIAL = "initial"
    HOLDING = "holding"
    """A state that remembers where the asset was (frozen, in the recycle bin)."""
    FINAL = "final"
    UNUSED = "unused"


_DOT_KINDS: dict[Kind, str] = {
    Kind.PLAIN: 'fillcolor="#ffffff"',
    Kind.INITIAL: 'fillcolor="#fff8e1", penwidth=2',
    Kind.HOLDING: 'fillcolor="#e3ebf8"',
    Kind.FINAL: 'fillcolor="#e0e0e0", peripheries=2',
    Kind.UNUSED: 'style="rounded,dashed,filled", fillcolor="#f5f5f5", color="#9e9e9e", fontcolor="#757575"',
}
_MERMAID_KINDS: dict[Kind, str] = {
    Kind.PLAIN: "fill:#ffffff,stroke:#333333",
    Kind.INITIAL: "fill:#fff8e1,stroke:#333333,stroke-width:2px",
    Kind.HOLDING: "fill:#e3ebf8,stroke:#333333",
    Kind.FINAL: "fill:#e0e0e0,stroke:#333333,stroke-width:3px",
    Kind.UNUSED: "fill:#f5f5f5,stroke:#9e9e9e,color:#757575,stroke-dasharray:3 3",
}

_CONDITION_TEXT: dict[str, tuple[str, str]] = {
    "activates_on_upload": ("auto-activate", "no auto-activate"),
    "review_required": ("review", "no review"),
    "main_file_awaiting_upload": ("awaiting upload", "not awaiting upload"),
    "main_file_awaiting_review": ("awaiting review", "not awaiting review"),
    "frozen_in_recycle_bin": ("frozen in the bin", "not frozen in the bin"),
    "deleted_while_frozen": ("deleted while frozen", "not deleted while frozen"),
    "frozen_by_tenant": ("frozen with its tenant", "not frozen with its tenant"),
    **{f"restores_to_{s.value}": (f"pre-delete = {s.value}", f"pre-delete ≠ {s.value}") for s in AssetState},
    **{f"unfreezes_to_{s.value}": (f"pre-freeze = {s.value}", f"pre-freeze ≠ {s.value}") for s in AssetState},
}
"""Conditions in a compact form: (when it must hold, when it must not). A condition missing here
is shown by its name."""

_MEMORY_CONDITIONS = frozenset(
    {
        "deleted_while_frozen",
        *(f"restores_to_{s.value}" for s in AssetState),
        *(f"unfreezes_to_{s.value}" for s in AssetState),
    }
)
"""Conditions that read the asset's memory: an edge taken when one holds is a return."""

_DEADLINE_DELAYS: dict[TimeBasis, Delay] = {TimeBasis.UPLOAD_DEADLINE: Delay.UPLOAD_WINDOW}
"""The ``Settings`` delay a deadline basis already holds: the upload deadline is set at creation
to the creation time + ``Settings.upload_window``."""

_GROUP_NAMES: dict[frozenset[enum.Enum], tuple[str, str]] = {
    LIVE_STATES: ("live", "live: nothing remembered"),
    ALL_BUT_DELETED: ("not_deleted", "not deleted"),
    frozenset({FileState.CREATING, FileState.CANCELLED}): ("awaiting_upload", "awaiting upload"),
    frozenset({FileState.CREATING, FileState.CANCELLED, FileState.UPLOADED}): (
        "not_accepted",
        "not accepted",
    ),
    frozenset(
        {FileState.CREATING, FileState.UPLOADED, FileState.CREATED, FileState.FAILED, FileState.CANCELLED}
    ): ("not_deleted", "not deleted"),
}
"""Names for the boxes around the source sets the tables use; another set gets an unnamed box."""


@dataclass(frozen=True, slots=True)
class State:
    name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class Group:
    """States drawn in one box, so that an edge leaving every one of them is drawn once, from the box."""

    id: str
    label: str
    states: tuple[str, ...]
    """Every state inside, those of boxes within included, in the enum's order."""
    parent: str | None


@dataclass(frozen=True, slots=True)
class Edge:
    """One drawn edge: the table's edges from ``source`` (a state or a box) to ``dest`` drawn with
    ``line``, one label each."""

    source: str
    dest: str
    line: Line
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Graph:
    """A machine ready to draw: what both the Mermaid and the DOT text are written from."""

    name: str
    title: str
    intro: str
    states: tuple[State, ...]
    groups: tuple[Group, ...]
    initial: str
    final: tuple[str, ...]
    edges: tuple[Edge, ...]
    notes: tuple[str, ...]
    appendix: tuple[str, ...] = ()
    """Markdown lines for the page, after the notes."""
    unused_title: str = "not used by the engine"
    direction: str = "LR"
    """``LR`` (left to right) or ``TB`` (top to bottom), for both Graphviz and Mermaid."""

    def sources(self, edge: Edge) -> tuple[str, ...]:
        """The states an edge leaves from (every state in it, for an edge from a box)."""
        group = next((group for group in self.groups if group.id == edge.source), None)
        return (edge.source,) if group is None else group.states

    @property
    def lines(self) -> list[Line]:
        return [line for line in Line if any(edge.line is line for edge in self.edges)]


# Labels -----------------------------------------------------------------------------------


def condition_text(name: str, *, holds: bool = True) -> str:
    """A condition as an edge label shows it."""
    text = _CONDITION_TEXT.get(name)
    if text is None:
        return name if holds else f"not {name}"
    return text[0] if holds else text[1]


def duration_text(delay: timedelta) -> str:
    """``24 h``, ``7 days``, ``90 min``: in the largest unit that divides it."""
    seconds = int(delay.total_seconds())
    if seconds % 86400 == 0 and seconds > 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _delays(definition: Definition, event: Event, settings: Settings) -> str:
    delays = []
    for rule in definition.time_rules:
        delay = rule.delay or _DEADLINE_DELAYS.get(rule.basis)
        if rule.event is event and delay is not None:
            delays.append(duration_text(settings.duration(delay)))
    return f" (after {', '.join(delays)})" if delays else ""


def _guards(conditions: Iterable[str], unless: Iterable[str]) -> str:
    texts = [condition_text(name) for name in conditions]
    texts += [condition_text(name, holds=False) for name in unless]
    return f" [{', '.join(texts)}]" if texts else ""


def _planned(rules: Iterable[TimeRule], definition: Definition, source: AssetState) -> str:
    plans = [
        rule.plan.value for rule in rules if rule.plan is not None and source in definition.rule_states(rule)
    ]
    return f" (or ⏱ planned {', '.join(plans)})" if plans else ""


def _asset_label(definition: Definition, edge: Transition, source: AssetState, *, settings: Settings) -> str:
    guards = _guards(edge.conditions, edge.unless)
    if definition.events[edge.event].time_driven:
        return f"⏱ {edge.event.value}{_delays(definition, edge.event, settings)}{guards}"
    rules = [rule for rule in definition.time_rules if rule.event is edge.event]
    return f"{edge.event.value}{guards}{_planned(rules, definition, source)}"


def _file_label(
    definition: Definition, edge: FileTransition, _source: FileState, *, settings: Settings
) -> str:
    cause = edge.cause
    if isinstance(cause, Event):
        if definition.events[cause].time_driven:
            return f"⏱ {cause.value}{_delays(definition, cause, settings)}"
        return cause.value
    if isinstance(cause, UploadResult):
        return f"confirm {cause.value}" + (
            " [differs from its declaration]" if edge.declared is Declared.DIFFERS else ""
        )
    return f"asset {cause.value}"


# Graphs -----------------------------------------------------------------------------------


def _ordered(members: Iterable[_E], order: Sequence[_E]) -> list[_E]:
    return sorted(members, key=list(order).index)


def _grouping(source_sets: Iterable[frozenset[_E]], order: Sequence[_E]) -> dict[frozenset[_E], Group]:
    """A box for each set of two or more states an edge leaves from, where boxes can nest.

    A state is drawn in one place, so boxes are nested or apart: a set that overlaps one chosen
    before it (in table order) gets no box, and its edges are drawn from each state.
    """
    chosen: list[frozenset[_E]] = []
    for sources in source_sets:
        fits = all(sources <= other or other <= sources or not sources & other for other in chosen)
        if len(sources) > 1 and sources not in chosen and fits:
            chosen.append(sources)
    names = {
        sources: _GROUP_NAMES.get(sources, (f"group_{number}", ""))
        for number, sources in enumerate(chosen, 1)
    }
    groups: dict[frozenset[_E], Group] = {}
    for sources in sorted(chosen, key=len, reverse=True):
        around = [other for other in chosen if sources < other]
        parent = names[min(around, key=len)][0] if around else None
        group_id, label = names[sources]
        groups[sources] = Group(
            group_id, label, tuple(state.value for state in _ordered(sources, order)), parent
        )
    return groups


_Row = tuple[frozenset[_E], _E, Line, Callable[[_E], str]]


def _build(rows: Sequence[_Row[_E]], order: Sequence[_E]) -> tuple[tuple[Group, ...], tuple[Edge, ...]]:
    """The edges, merged by (source, destination, line) in table order, and the boxes they leave.

    A table edge is drawn from a box when it leaves every state in it, to a state outside it, with
    the same label from each; otherwise from each state.
    """
    boxes = _grouping((sources for sources, dest, _, _ in rows if dest not in sources), order)
    merged: dict[tuple[str, str, Line], list[str]] = {}
    for sources, dest, line, label in rows:
        labels = {source.value: label(source) for source in _ordered(sources, order)}
        box = boxes.get(sources)
        if box is not None and dest not in sources and len(set(labels.values())) == 1:
            labels = {box.id: labels[box.states[0]]}
        for source, text in labels.items():
            texts = merged.setdefault((source, dest.value, line), [])
            if text not in texts:
                texts.append(text)
    edges = tuple(Edge(source, dest, line, tuple(texts)) for (source, dest, line), texts in merged.items())

    # Keep the boxes some edge leaves; a box inside a dropped one moves to the box around that.
    used = {edge.source for edge in edges}
    parents = {box.id: box.parent for box in boxes.values()}

    def kept_parent(parent: str | None) -> str | None:
        while parent is not None and parent not in used:
            parent = parents[parent]
        return parent

    kept = tuple(
        Group(box.id, box.label, box.states, kept_parent(box.parent))
        for box in boxes.values()
        if box.id in used
    )
    return kept, edges


def _line(definition: Definition, edge: Transition) -> Line:
    if definition.events[edge.event].time_driven:
        return Line.TIME
    return Line.RETURN if set(edge.conditions) & _MEMORY_CONDITIONS else Line.MOVE


def asset_graph(definition: Definition = DEFINITION, settings: Settings | None = None) -> Graph:
    """The asset machine: every edge of ``definition.transitions``."""
    settings = settings or Settings()
    holding = {
        edge.dest
        for edge in definition.transitions
        if edge.remembers in (Memory.PRE_FREEZE, Memory.PRE_DELETE)
    }
    states = tuple(
        State(
            state.value,
            Kind.INITIAL
            if state is INITIAL_STATE
            else Kind.FINAL
            if state in FINAL_STATES
            else Kind.HOLDING
            if state in holding
            else Kind.PLAIN,
        )
        for state in AssetState
    )
    groups, edges = _build(
        [
            (
                edge.sources,
                edge.dest,
                _line(definition, edge),
                functools.partial(_asset_label, definition, edge, settings=settings),
            )
            for edge in definition.transitions
        ],
        list(AssetState),
    )
    remembered: dict[Memory, list[str]] = {}
    for edge in definition.transitions:
        if edge.remembers is not None and edge.event.value not in remembered.get(edge.remembers, []):
            remembered.setdefault(edge.remembers, []).append(edge.event.value)
    notes = (
        "An edge leaving a box leaves every state in it.",
        "`[…]`: the conditions under which an edge is taken. *awaiting upload* and *awaiting review* are"
        " the MAIN file's state; *auto-activate* is the asset's activate-on-upload; *review* its"
        " review-required.",
        "*pre-freeze* is the state a freeze found the asset in (an asset frozen while in the recycle bin"
        " unfreezes to its *pre-delete* state); *pre-delete* is the state a delete found it in. What a"
        " move remembers: "
        + "; ".join(
            f"{', '.join(f'`{event}`' for event in events)}: `{memory.value}`"
            for memory, events in remembered.items()
        )
        + ".",
        "⏱ delays are the `Settings` defaults. Time never moves a frozen asset.",
    )
    appendix = (
        "| event | who | what |",
        "|---|---|---|",
        *(
            f"| `{spec.event.value}`{' ⏱' if spec.time_driven else ''}"
            f" | {', '.join(role.value for role in Role if role in spec.roles)} | {spec.summary} |"
            for spec in definition.events.values()
        ),
    )
    return Graph(
        name=ASSET_MACHINE,
        title="The asset lifecycle",
        intro="Every edge of the transition table, `lifecycle.definition.TRANSITIONS`.",
        states=states,
        groups=groups,
        initial=INITIAL_STATE.value,
        final=tuple(state.value for state in _ordered(FINAL_STATES, list(AssetState))),
        edges=edges,
        notes=notes,
        appendix=appendix,
        # Top to bottom: the returns out of the bin and out of a freeze go back up, beside the
        # forward moves rather than across them, and the picture fits a page's width better.
        direction="TB",
    )


def _file_line(definition: Definition, edge: FileTransition) -> Line:
    if isinstance(edge.cause, Event):
        return Line.TIME if definition.events[edge.cause].time_driven else Line.MAIN_FILE
    return Line.CONFIRM if isinstance(edge.cause, UploadResult) else Line.WITH_ASSET


def file_graph(definition: Definition = DEFINITION, settings: Settings | None = None) -> Graph:
    """The file machine: every edge of ``definition.file_transitions``, and the states it leaves out."""
    settings = settings or Settings()
    unused = definition.unused_file_states()
    states = tuple(
        State(
            state.value,
            Kind.UNUSED
            if state in unused
            else Kind.INITIAL
            if state is FILE_INITIAL_STATE
            else Kind.FINAL
            if state in FILE_FINAL_STATES
            else Kind.PLAIN,
        )
        for state in FileState
    )
    groups, edges = _build(
        [
            (
                edge.sources,
                edge.dest,
                _file_line(definition, edge),
                functools.partial(_file_label, definition, edge, settings=settings),
            )
            for edge in definition.file_transitions
        ],
        list(FileState),
    )
    accepting = [
        ", ".join(state.value for state in _ordered(asset_states, list(AssetState)))
        for asset_states in dict.fromkeys(
            edge.asset_states for edge in definition.file_transitions if edge.asset_states is not None
        )
    ]
    notes = (
        "An edge leaving a box leaves every state in it.",
        "Black edges (and the ⏱ dotted one) move the MAIN file: it follows its asset, and the edge names"
        " the asset's event (see [the asset lifecycle](asset-lifecycle.md)).",
        "Green edges move a file other than MAIN: `confirm_upload` of that file, reporting the result"
        " shown; the asset does not move. An upload reported CREATED whose size, MD5 or name differs from"
        " what was declared fails the file."
        + (f" Accepted while the asset is one of {'; or '.join(accepting)}." if accepting else ""),
        "Purple edges move every file of the asset, MAIN included, when the asset enters the state named.",
        "Files keep their state while the asset is frozen or in the recycle bin.",
        (
            f"{', '.join(f'`{state.value}`' for state in unused)}: in the platform's enum, not used by the"
            " engine (no move reaches or leaves them)."
            if unused
            else "Every state of the platform's enum is used."
        ),
    )
    return Graph(
        name=FILE_MACHINE,
        title="The file lifecycle",
        intro="Every edge of the file machine, `lifecycle.definition.FILE_TRANSITIONS`.",
        states=states,
        groups=groups,
        initial=FILE_INITIAL_STATE.value,
        final=tuple(state.value for state in _ordered(FILE_FINAL_STATES, list(FileState))),
        edges=edges,
        notes=notes,
    )


def graphs(definition: Definition = DEFINITION) -> tuple[Graph, Graph]:
    """The asset machine and the file machine, ready to draw."""
    return asset_graph(definition), file_graph(definition)


def _layout(graph: Graph) -> tuple[dict[str | None, list[Group]], dict[str | None, list[State]]]:
    """Boxes and drawn states by the box they sit in directly (None: outside every box)."""
    boxes: dict[str | None, list[Group]] = {}
    for group in graph.groups:
        boxes.setdefault(group.parent, []).append(group)
    states: dict[str | None, list[State]] = {}
    for state in graph.states:
        if state.kind is not Kind.UNUSED:
            around = [group for group in graph.groups if state.name in group.states]
            states.setdefault(min(around, key=lambda g: len(g.states)).id if around else None, []).append(
                state
            )
    return boxes, states


# Mermaid ----------------------------------------------------------------------------------
#
# ``flowchart``, not ``stateDiagram-v2``: a state diagram cannot style one transition, so returns
# and time moves would look like every other move. A flowchart has dotted and thick links,
# ``linkStyle`` per link (colour, dash pattern), ``classDef`` for states, circles for the start and
# end markers, links from a subgraph (the boxes) and subgraphs for the states drawn apart; GitHub
# renders all of it. ``LR`` reads like the lifecycle, creation on the left, deletion on the right.


def _mermaid_label(texts: Iterable[str]) -> str:
    return "<br/>".join(text.replace('"', "#quot;") for text in texts)


def to_mermaid(graph: Graph) -> str:
    """The graph as a Mermaid ``flowchart``."""
    lines = [
        f"%% {graph.title}: generated by {GENERATED_BY} from lifecycle/definition.py; do not edit.",
        f"flowchart {graph.direction}",
        *(f"    classDef {kind.value} {_MERMAID_KINDS[kind]}" for kind in Kind),
        "    classDef marker fill:#222222,stroke:#222222",
        '    start_marker((" ")):::marker',
    ]
    boxes, placed = _layout(graph)

    def write(box: str | None, indent: str) -> None:
        for group in boxes.get(box, []):
            lines.append(f'{indent}subgraph {group.id} ["{group.label or " "}"]')
            write(group.id, indent + "    ")
            lines.append(f"{indent}end")
        lines.extend(
            f'{indent}{state.name}("{state.name}"):::{state.kind.value}' for state in placed.get(box, [])
        )

    write(None, "    ")
    unused = [state for state in graph.states if state.kind is Kind.UNUSED]
    if unused:
        lines.append(f'    subgraph unused_states ["{graph.unused_title}"]')
        lines.extend(f'        {state.name}("{state.name}"):::{state.kind.value}' for state in unused)
        lines.append("    end")
    lines.append('    end_marker(((" "))):::marker')

    links = [f"    start_marker --> {graph.initial}"]
    styled: dict[Line, list[int]] = {}
    for edge in graph.edges:
        styled.setdefault(edge.line, []).append(len(links))
        arrow = _LOOKS[edge.line].mermaid_arrow
        links.append(f'    {edge.source} {arrow}|"{_mermaid_label(edge.labels)}"| {edge.dest}')
    links.extend(f"    {final} --> end_marker" for final in graph.final)
    lines.extend(links)
    for line, indexes in styled.items():
        style = _mermaid_link(line)
        if style is not None:
            lines.append(f"    linkStyle {','.join(map(str, indexes))} {style}")
    return "\n".join(lines) + "\n"


# DOT --------------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dot_legend(graph: Graph) -> str:
    """The graph's title with its legend under it, as a Graphviz HTML-like label."""
    rows = [
        f'<tr><td align="left" colspan="2"><font point-size="16"><b>{_html(graph.title)}</b></font></td></tr>'
    ]
    rows += [
        f'<tr><td align="left"><font color="{_LOOKS[line].colour}">{_html(_LOOKS[line].name)}</font></td>'
        f'<td align="left">{_html(line.value)}</td></tr>'
        for line in graph.lines
    ]
    if graph.groups:
        rows.append(
            '<tr><td align="left">box</td>'
            '<td align="left">an edge leaving a box leaves every state in it</td></tr>'
        )
    return f'<table border="0" cellborder="0" cellspacing="0" cellpadding="2">{"".join(rows)}</table>'


def to_dot(graph: Graph) -> str:
    """The graph in Graphviz's DOT language."""
    lines = [
        f"// {graph.title}: generated by {GENERATED_BY} from lifecycle/definition.py; do not edit.",
        f"digraph {_quoted(graph.name)} {{",
        f"    graph [rankdir={graph.direction}, compound=true, newrank=true, nodesep=0.35, ranksep=0.9,"
        f" fontname=Helvetica, labelloc=t, labeljust=l, label=<{_dot_legend(graph)}>];",
        '    node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=12, margin="0.15,0.07"];',
        "    edge [fontname=Helvetica, fontsize=10, arrowsize=0.8];",
        '    start_marker [shape=circle, style=filled, fillcolor="#222222", label="", width=0.2];',
        '    end_marker [shape=doublecircle, style=filled, fillcolor="#222222", label="", width=0.12];',
    ]
    boxes, placed = _layout(graph)

    def write(box: str | None, indent: str) -> None:
        for group in boxes.get(box, []):
            lines.append(f"{indent}subgraph cluster_{group.id} {{")
            lines.append(
                f'{indent}    label={_quoted(group.label)}; style="rounded,filled"; fillcolor="#fafafa";'
                ' color="#9e9e9e"; fontcolor="#616161"; fontsize=11;'
            )
            write(group.id, indent + "    ")
            lines.append(f"{indent}}}")
        lines.extend(
            f"{indent}{_quoted(state.name)} [{_DOT_KINDS[state.kind]}];" for state in placed.get(box, [])
        )

    write(None, "    ")
    unused = [state for state in graph.states if state.kind is Kind.UNUSED]
    if unused:
        lines.append("    subgraph cluster_unused_states {")
        lines.append(
            f'        label={_quoted(graph.unused_title)}; style="rounded,dashed"; color="#9e9e9e";'
            ' fontcolor="#757575"; fontsize=11;'
        )
        lines.extend(f"        {_quoted(state.name)} [{_DOT_KINDS[state.kind]}];" for state in unused)
        lines.append("    }")
    lines.append(f"    start_marker -> {_quoted(graph.initial)};")
    tails = {group.id: group.states[0] for group in graph.groups}
    for edge in graph.edges:
        label = "".join(f"{_quoted(text)[1:-1]}\\l" for text in edge.labels)
        tail = f"{_quoted(tails[edge.source])} -> " if edge.source in tails else f"{_quoted(edge.source)} -> "
        box = f", ltail=cluster_{edge.source}" if edge.source in tails else ""
        lines.append(f'    {tail}{_quoted(edge.dest)} [label="{label}"{box}, {_dot_line(edge.line)}];')
    lines.extend(f"    {_quoted(final)} -> end_marker;" for final in graph.final)
    lines.append("}")
    return "\n".join(lines) + "\n"


# Markdown ---------------------------------------------------------------------------------


def to_markdown(graph: Graph) -> str:
    """A page for GitHub: the heading, the legend and the Mermaid block."""
    lines = [
        f"# {graph.title}",
        "",
        f"<!-- Generated by `{GENERATED_BY}` from `lifecycle/definition.py`; do not edit. -->",
        "",
        f"{graph.intro} Also rendered by Graphviz: [{graph.name}.svg]({graph.name}.svg)"
        f" (from [{graph.name}.dot]({graph.name}.dot)).",
        "",
        "| line | meaning |",
        "|---|---|",
        *(f"| {_LOOKS[line].name} | {line.value} |" for line in graph.lines),
        "",
        *(f"- {note}" for note in graph.notes),
        "",
        "```mermaid",
        to_mermaid(graph).rstrip("\n"),
        "```",
        "",
    ]
    if graph.appendix:
        lines.extend([*graph.appendix, ""])
    return "\n".join(lines)


def _index(pages: Sequence[Graph]) -> str:
    lines = [
        "# State diagrams",
        "",
        f"<!-- Generated by `{GENERATED_BY}` from `lifecycle/definition.py`; do not edit. -->",
        "",
        f"Generated from `lifecycle/definition.py` by `{GENERATED_BY}`; a test fails when these files"
        " differ from what the definition generates. Each machine comes as a page with a Mermaid diagram"
        " and its legend, as DOT, and as SVG rendered from that DOT by Graphviz.",
        "",
        *(
            f"- [{graph.title}]({graph.name}.md) ([SVG]({graph.name}.svg), [DOT]({graph.name}.dot))"
            for graph in pages
        ),
        "",
    ]
    for graph in pages:
        lines.extend([f"## {graph.title}", "", f"![{graph.title}]({graph.name}.svg)", ""])
    return "\n".join(lines)


# Writing ----------------------------------------------------------------------------------


def svg_stamp(dot_name: str, dot_text: str) -> str:
    """The comment that says which DOT an SVG was rendered from."""
    digest = hashlib.sha256(dot_text.encode("utf-8")).hexdigest()
    return f"<!-- generated from {dot_name} sha256={digest} -->"


def _stamped(svg: str, stamp: str) -> str:
    if svg.startswith("<?xml"):
        prolog, newline, rest = svg.partition("\n")
        return f"{prolog}{newline}{stamp}\n{rest}"
    return f"{stamp}\n{svg}"


def _is_current(path: Path, stamp: str) -> bool:
    if not path.is_file():
        return False
    with path.open(encoding="utf-8") as svg:
        head = svg.readline() + svg.readline()
    return stamp in head


def _missing_dot() -> MissingProgram:
    return MissingProgram(
        "Graphviz's dot",
        "rendering the state diagrams as SVG",
        "install Graphviz (https://graphviz.org/download/)",
    )


def render_svg(dot_text: str) -> str:
    """``dot -Tsvg`` of ``dot_text``; ``MissingProgram`` where Graphviz is not installed."""
    program = shutil.which("dot")
    if program is None:
        raise _missing_dot()
    rendered = subprocess.run(  # noqa: S603 - the program found on the PATH, a fixed argument list
        [program, "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True, check=True
    )
    return rendered.stdout.decode("utf-8")


def _write(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def write_diagrams(out: Path, definition: Definition = DEFINITION, *, svg: bool | None = None) -> list[Path]:
    """Write each machine's ``.md``, ``.dot`` (and ``.svg``) into ``out``, with a ``README.md`` index.

    ``svg``: True renders SVG with Graphviz's ``dot`` (``MissingProgram`` where it is not on the
    PATH), None renders it where ``dot`` is found, False does not. An SVG stamped with the current
    DOT's digest is left as it is: it was rendered from this very DOT, and rendering it again with
    another Graphviz version would change its bytes for nothing. Returns the files written (or
    found current), in a fixed order.
    """
    if svg is True and shutil.which("dot") is None:
        raise _missing_dot()
    render = svg is True or (svg is None and shutil.which("dot") is not None)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pages = graphs(definition)
    for graph in pages:
        dot_text = to_dot(graph)
        for suffix, text in ((".md", to_markdown(graph)), (".dot", dot_text)):
            _write(out / f"{graph.name}{suffix}", text)
            written.append(out / f"{graph.name}{suffix}")
        if render:
            path = out / f"{graph.name}.svg"
            stamp = svg_stamp(path.with_suffix(".dot").name, dot_text)
            if not _is_current(path, stamp):
                path.write_bytes(_stamped(render_svg(dot_text), stamp).encode("utf-8"))
            written.append(path)
    _write(out / "README.md", _index(pages))
    written.append(out / "README.md")
    return written


def stale_svgs(out: Path, definition: Definition = DEFINITION) -> list[Path]:
    """The SVGs in ``out`` missing, or not rendered from the DOT the definition generates now."""
    return [
        out / f"{graph.name}.svg"
        for graph in graphs(definition)
        if not _is_current(out / f"{graph.name}.svg", svg_stamp(f"{graph.name}.dot", to_dot(graph)))
    ]


def out_of_date_svgs(out: Path, definition: Definition = DEFINITION) -> list[Path]:
    """The SVGs ``out`` holds that were not rendered from the DOT the definition generates now
    (the stale ones that exist: a missing SVG is not out of date, it was never written)."""
    return [path for path in stale_svgs(out, definition) if path.exists()]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lifecycle.diagrams [DIR]``: regenerate the diagrams (default docs/state-diagrams)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or any(arg.startswith("-") for arg in args):
        print(f"usage: {GENERATED_BY} [DIR]   (default: {DEFAULT_OUT})", file=sys.stderr)
        return 2
    out = Path(args[0]) if args else DEFAULT_OUT
    for path in write_diagrams(out):
        print(f"wrote {path}")
    stale = stale_svgs(out)
    if stale:
        out_of_date = out_of_date_svgs(out)
        missing = [path for path in stale if path not in out_of_date]
        said = [f"{', '.join(map(str, missing))} not written"] if missing else []
        said += [f"{', '.join(map(str, out_of_date))} out of date (left as they were)"] if out_of_date else []
        print(
            f"Graphviz's dot is not on the PATH, so no SVG was rendered: {'; '.join(said)}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
