"""The state diagrams: generated from the definition, committed, and current.

The drawings are read back from their text (Mermaid and DOT) and checked against the tables, so
an edge the tables have and a drawing lacks, or the other way round, fails here.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle import diagrams
from lifecycle.definition import (
    CONDITIONS,
    DEFINITION,
    FILE_INITIAL_STATE,
    FINAL_STATES,
    INITIAL_STATE,
    AssetState,
    Declared,
    Event,
    FileState,
    UploadResult,
)
from lifecycle.errors import MissingProgram
from lifecycle.settings import Settings

COMMITTED = Path(__file__).parents[1] / "docs" / "state-diagrams"
MACHINES = (diagrams.ASSET_MACHINE, diagrams.FILE_MACHINE)
STALE = "docs/state-diagrams is stale: run python -m lifecycle.diagrams"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


# Reading the drawings back -----------------------------------------------------------------


@dataclass
class Drawn:
    """Edges as drawn: (states left from, destination, style, label lines), and the boxes."""

    edges: list[tuple[frozenset[str], str, str, tuple[str, ...]]] = field(default_factory=list)
    boxes: dict[str, set[str]] = field(default_factory=dict)

    def labels(self, source: str, dest: str) -> list[tuple[str, str]]:
        """(label line, style) of every edge drawn from ``source`` to ``dest``."""
        return [
            (label, style)
            for sources, to, style, labels in self.edges
            if source in sources and to == dest
            for label in labels
        ]


def _read_mermaid(text: str) -> Drawn:
    drawn = Drawn()
    open_boxes: list[str] = []
    links: list[tuple[str, str, str, tuple[str, ...]]] = []
    styles: dict[int, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if match := re.fullmatch(r'subgraph (\w+) \["[^"]*"\]', line):
            open_boxes.append(match[1])
            drawn.boxes[match[1]] = set()
        elif line == "end":
            open_boxes.pop()
        elif match := re.fullmatch(r'(\w+)\("\1"\):::\w+', line):
            for box in open_boxes:
                drawn.boxes[box].add(match[1])
        elif match := re.fullmatch(r'(\w+) (-->|-\.->|==>)(?:\|"(.*)"\|)? (\w+)', line):
            labels = tuple(match[3].split("<br/>")) if match[3] else ()
            links.append((match[1], match[4], match[2], labels))
        elif match := re.fullmatch(r"linkStyle ([\d,]+) (.+)", line):
            styles.update({int(index): match[2] for index in match[1].split(",")})
    assert not open_boxes
    for index, (source, dest, arrow, labels) in enumerate(links):
        sources = frozenset(drawn.boxes.get(source, {source}))
        drawn.edges.append((sources, dest, f"{arrow} {styles.get(index, '')}", labels))
    return drawn


def _read_dot(text: str) -> Drawn:
    drawn = Drawn()
    open_boxes: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if match := re.fullmatch(r"subgraph cluster_(\w+) \{", line):
            open_boxes.append(match[1])
            drawn.boxes[match[1]] = set()
        elif line == "}" and open_boxes:
            open_boxes.pop()
        elif match := re.fullmatch(r'"(\w+)" \[.*\];', line):
            for box in open_boxes:
                drawn.boxes[box].add(match[1])
        elif match := re.fullmatch(r'"?(\w+)"? -> "?(\w+)"?(?: \[(.*)\])?;', line):
            attributes = match[3] or ""
            label = re.search(r'label="((?:[^"\\]|\\.)*)"', attributes)
            labels = tuple(part for part in label[1].split("\\l") if part) if label else ()
            tail = re.search(r"ltail=cluster_(\w+)", attributes)
            sources = frozenset(drawn.boxes[tail[1]]) if tail else frozenset({match[1]})
            style = re.search(r"style=(\w+)", attributes)
            drawn.edges.append((sources, match[2], style[1] if style else "solid", labels))
    assert not open_boxes
    return drawn


def _drawings(name: str) -> dict[str, Drawn]:
    graph = next(graph for graph in diagrams.graphs() if graph.name == name)
    return {"mermaid": _read_mermaid(diagrams.to_mermaid(graph)), "dot": _read_dot(diagrams.to_dot(graph))}


def _names(label: str, cause: str) -> bool:
    """Whether a label line is about ``cause`` (``delete`` is not ``delete_force``)."""
    return re.match(rf"(⏱ )?{re.escape(cause)}( |$)", label) is not None


# The committed files ----------------------------------------------------------------------


def test_the_committed_diagrams_are_what_the_definition_generates(tmp_path: Path) -> None:
    written = diagrams.write_diagrams(tmp_path, svg=False)
    assert [path.name for path in written] == [
        "asset-lifecycle.md",
        "asset-lifecycle.dot",
        "file-lifecycle.md",
        "file-lifecycle.dot",
        "README.md",
    ]
    for path in written:
        committed = COMMITTED / path.name
        assert committed.is_file(), f"{committed} is missing: {STALE}"
        assert committed.read_bytes() == path.read_bytes(), f"{committed} differs: {STALE}"


@pytest.mark.parametrize("name", MACHINES)
def test_the_committed_svgs_were_rendered_from_the_current_dot(name: str) -> None:
    svg = COMMITTED / f"{name}.svg"
    assert svg.is_file(), f"{svg} is missing: {STALE} (with Graphviz installed)"
    prolog, stamp = svg.read_text(encoding="utf-8").splitlines()[:2]
    assert prolog.startswith("<?xml")
    graph = next(graph for graph in diagrams.graphs() if graph.name == name)
    digest = hashlib.sha256(diagrams.to_dot(graph).encode("utf-8")).hexdigest()
    assert stamp == f"<!-- generated from {name}.dot sha256={digest} -->", f"{svg} is stale: {STALE}"
    assert diagrams.stale_svgs(COMMITTED) == []


# Rendering -------------------------------------------------------------------------------


@needs_dot
def test_rendering_writes_stamped_svgs_with_every_state(tmp_path: Path) -> None:
    written = diagrams.write_diagrams(tmp_path / "new", svg=True)
    svgs = [path for path in written if path.suffix == ".svg"]
    assert [path.name for path in svgs] == ["asset-lifecycle.svg", "file-lifecycle.svg"]
    for path, states in zip(svgs, (AssetState, FileState), strict=True):
        text = path.read_text(encoding="utf-8")
        dot_text = path.with_suffix(".dot").read_bytes()
        assert text.splitlines()[1] == (
            f"<!-- generated from {path.stem}.dot sha256={hashlib.sha256(dot_text).hexdigest()} -->"
        )
        assert "<svg" in text and text.rstrip().endswith("</svg>")
        for state in states:
            assert f">{state.value}</text>" in text
    assert diagrams.stale_svgs(tmp_path / "new") == []


@needs_dot
def test_an_svg_rendered_from_the_same_dot_is_kept_and_a_stale_one_rendered_again(tmp_path: Path) -> None:
    diagrams.write_diagrams(tmp_path, svg=True)
    current, stale = tmp_path / "asset-lifecycle.svg", tmp_path / "file-lifecycle.svg"
    kept = current.read_text(encoding="utf-8") + "<!-- another Graphviz version -->\n"
    current.write_text(kept, encoding="utf-8")
    stale.write_text('<?xml version="1.0"?>\n<!-- generated from file-lifecycle.dot sha256=00 -->\n<svg/>\n')
    assert diagrams.stale_svgs(tmp_path) == [stale]
    diagrams.write_diagrams(tmp_path)
    assert current.read_text(encoding="utf-8") == kept
    assert diagrams.stale_svgs(tmp_path) == []
    assert "<svg width=" in stale.read_text(encoding="utf-8")


def test_svg_without_graphviz_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(MissingProgram, match="Graphviz") as refused:
        diagrams.write_diagrams(tmp_path / "out", svg=True)
    assert refused.value.code == "LIFECYCLE.MISSING_DEPENDENCY"
    assert not (tmp_path / "out").exists()
    written = diagrams.write_diagrams(tmp_path / "out")  # None: without Graphviz, no SVG
    assert [path.suffix for path in written] == [".md", ".dot", ".md", ".dot", ".md"]


def test_the_script_says_when_the_svgs_could_not_be_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert diagrams.main([str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert f"{tmp_path / 'asset-lifecycle.svg'}, {tmp_path / 'file-lifecycle.svg'} not written" in said
    assert "out of date" not in said, "an SVG never written is not out of date"
    assert (tmp_path / "asset-lifecycle.dot").is_file()
    assert diagrams.main(["--svg"]) == 2


# What the drawings show -------------------------------------------------------------------


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_every_edge_of_the_asset_table_is_drawn_with_its_conditions(form: str) -> None:
    drawn = _drawings(diagrams.ASSET_MACHINE)[form]
    for edge in DEFINITION.transitions:
        spec = DEFINITION.events[edge.event]
        for source in edge.sources:
            found = [
                (label, style)
                for label, style in drawn.labels(source.value, edge.dest.value)
                if _names(label, edge.event.value)
                and all(diagrams.condition_text(name) in label for name in edge.conditions)
                and all(diagrams.condition_text(name, holds=False) in label for name in edge.unless)
            ]
            assert found, f"{form}: {edge.event.value} {source.value} -> {edge.dest.value} not drawn"
            ((label, style),) = found
            returns = edge.event in (Event.RESTORE, Event.UNFREEZE)  # back where the asset was
            assert ("dashed" in style or "8 4" in style) == returns, (edge, style)
            assert ("dotted" in style or "2 3" in style) == spec.time_driven, (edge, style)
            assert label.startswith("⏱") == spec.time_driven, label
            for rule in DEFINITION.time_rules:
                if rule.event is edge.event and rule.plan is not None:
                    planned = source in DEFINITION.rule_states(rule)
                    assert (f"⏱ planned {rule.plan.value}" in label) == planned, label


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_every_drawn_asset_edge_is_in_the_table(form: str) -> None:
    drawn = _drawings(diagrams.ASSET_MACHINE)[form]
    table = {
        (event.value, source.value, edge.dest.value)
        for edge in DEFINITION.transitions
        for event in [edge.event]
        for source in edge.sources
    }
    markers = 0
    for sources, dest, _, labels in drawn.edges:
        if not labels:
            markers += 1
            continue
        for label in labels:
            event = re.sub(r"^⏱ ", "", label).split(" ")[0]
            for source in sources:
                assert (event, source, dest) in table, (label, source, dest)
    assert markers == 2


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_every_file_transition_is_drawn(form: str) -> None:
    drawn = _drawings(diagrams.FILE_MACHINE)[form]
    for edge in DEFINITION.file_transitions:
        cause = (
            f"confirm {edge.cause.value}"
            if isinstance(edge.cause, UploadResult)
            else f"asset {edge.cause.value}"
            if isinstance(edge.cause, AssetState)
            else edge.cause.value
        )
        for source in edge.sources:
            found = [
                label for label, _ in drawn.labels(source.value, edge.dest.value) if _names(label, cause)
            ]
            assert found, f"{form}: {cause} {source.value} -> {edge.dest.value} not drawn"
            if edge.declared is Declared.DIFFERS:
                assert any("differs from its declaration" in label for label in found), found
            if isinstance(edge.cause, Event) and DEFINITION.events[edge.cause].time_driven:
                assert any(label.startswith("⏱") for label in found), found


@pytest.mark.parametrize("form", ["mermaid", "dot"])
def test_unused_file_states_are_drawn_apart_not_dropped(form: str) -> None:
    drawn = _drawings(diagrams.FILE_MACHINE)[form]
    unused = {state.value for state in DEFINITION.unused_file_states()}
    assert unused
    assert drawn.boxes["unused_states"] == unused
    for sources, dest, _, _ in drawn.edges:
        assert not (sources | {dest}) & unused


def test_initial_and_final_states_have_markers() -> None:
    for name, initial, finals in (
        (diagrams.ASSET_MACHINE, INITIAL_STATE.value, {state.value for state in FINAL_STATES}),
        (diagrams.FILE_MACHINE, FILE_INITIAL_STATE.value, {FileState.DELETED.value}),
    ):
        for form, drawn in _drawings(name).items():
            starts = [dest for sources, dest, _, _ in drawn.edges if sources == {"start_marker"}]
            ends = {next(iter(sources)) for sources, dest, _, _ in drawn.edges if dest == "end_marker"}
            assert (starts, ends) == ([initial], finals), form


def test_every_condition_has_a_compact_text() -> None:
    for name in CONDITIONS:
        assert diagrams.condition_text(name) != name
        assert diagrams.condition_text(name, holds=False) not in (name, diagrams.condition_text(name))


def test_delays_come_from_the_settings() -> None:
    default = diagrams.to_dot(diagrams.asset_graph())
    assert "⏱ time_out_upload (after 24 h)" in default and "⏱ purge (after 7 days)" in default
    longer = diagrams.asset_graph(settings=Settings(upload_window=timedelta(hours=36)))
    assert "⏱ time_out_upload (after 36 h)" in diagrams.to_mermaid(longer)
    assert "⏱ time_out_upload (after 24 h)" not in diagrams.to_mermaid(longer)


def test_diagrams_are_byte_identical_on_every_run(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in diagrams.write_diagrams(tmp_path / "1", svg=False)}
    second = {p.name: p.read_bytes() for p in diagrams.write_diagrams(tmp_path / "2", svg=False)}
    assert first == second
