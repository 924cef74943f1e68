"""The main job (the first Quickstart command) runs end to end, and runs again with the same outcome.

The job runs twice (once through ``run``, once through ``play`` with its output captured); the
checks read what the second run left in its database (the audit table and the assets, through
SQLAlchemy Core), what it reported and what it printed. What must happen is derived from the
definition (events, edges, time rules, file categories), so an event added to the table fails
here until the main job exercises it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from sqlalchemy import Engine, Row, select

from lifecycle import demo, render
from lifecycle.actors import Platform
from lifecycle.billing import Exemption, Usage
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    DEFINITION,
    FILE_CATEGORIES,
    AssetState,
    AssetType,
    BlockScope,
    Event,
    FileCategory,
    FileState,
    Role,
)
from lifecycle.engine import Lifecycle
from lifecycle.store.database import open_database
from lifecycle.store.models import assets, audit, files

SEEDED = demo.TENANTS * demo.ASSETS_PER_TENANT


@dataclass(frozen=True)
class Ran:
    first: dict[str, int]
    first_stdout: str
    first_stderr: str
    outcome: demo.Outcome
    printed: str
    progress: str
    database: Engine
    assets: dict[str, Row[Any]]
    trails: dict[str, list[Row[Any]]]
    """Each asset's audit rows, oldest first."""

    def in_state(self, state: AssetState, project_id: str | None = None) -> set[str]:
        return {
            asset_id
            for asset_id, row in self.assets.items()
            if row.asset_state is state and project_id in (None, row.project_id)
        }


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        first = demo.run(path)
    printed, progress = io.StringIO(), io.StringIO()
    # Wide enough for every table to be boxed, one row a line (the narrow layouts: below).
    outcome = demo.play(
        path, out=render.console(printed, width=200), progress_console=Console(file=progress, width=100)
    )
    database = open_database(f"sqlite:///{path}")
    with database.connect() as connection:
        asset_rows = {row.asset_id: row for row in connection.execute(select(assets))}
        trails: dict[str, list[Row[Any]]] = {}
        for row in connection.execute(select(audit).order_by(audit.c.asset_id, audit.c.seq)):
            trails.setdefault(row.asset_id, []).append(row)
    yield Ran(
        first,
        stdout.getvalue(),
        stderr.getvalue(),
        outcome,
        printed.getvalue(),
        progress.getvalue(),
        database,
        asset_rows,
        trails,
    )
    database.dispose()


def _summary(printed: str) -> list[str]:
    """What a run says it did, before its tables (the same every run, ids included), word by word
    (the runs print in different widths)."""
    return printed[: printed.index("assets per state")].split()


def test_the_main_job_runs_again_with_the_same_outcome(ran: Ran) -> None:
    assert ran.first == ran.outcome.counts
    assert _summary(ran.first_stdout) == _summary(ran.printed)
    assert len(_summary(ran.printed)) > 100
    assert set(ran.first) == {state.value for state in AssetState}
    assert sum(ran.first.values()) == SEEDED == ran.outcome.seeded == len(ran.assets)
    # The counts (read through the engine's listing) agree with the table itself.
    assert Counter(row.asset_state.value for row in ran.assets.values()) == +Counter(ran.first)


def test_every_event_of_the_transition_table_occurs(ran: Ran) -> None:
    expected = {Event.CREATE, *DEFINITION.events}
    occurred = {row.event for trail in ran.trails.values() for row in trail}
    assert expected - occurred == set()


def test_every_edge_of_the_transition_table_is_taken(ran: Ran) -> None:
    edges = {(edge.event, source, edge.dest) for edge in DEFINITION.transitions for source in edge.sources}
    taken = {(row.event, row.from_state, row.to_state) for trail in ran.trails.values() for row in trail}
    assert sorted(f"{e.value}: {s.value} -> {d.value}" for e, s, d in edges - taken) == []


def test_every_asset_type_is_seeded_with_the_files_its_type_allows(ran: Ran) -> None:
    with ran.database.connect() as connection:
        declared = connection.execute(
            select(assets.c.asset_id, assets.c.asset_type, files.c.asset_file_category).join(
                files, files.c.asset_id == assets.c.asset_id
            )
        ).all()
    categories: dict[AssetType, set[FileCategory]] = {}
    for row in declared:
        categories.setdefault(row.asset_type, set()).add(row.asset_file_category)
    assert categories == {asset_type: set(allowed) for asset_type, allowed in FILE_CATEGORIES.items()}
    assert set(categories) == set(AssetType)
    mains = Counter(row.asset_id for row in declared if row.asset_file_category is FileCategory.MAIN)
    assert set(mains.values()) == {1}
    assert len(mains) == SEEDED
    assert len(declared) == ran.outcome.files > SEEDED  # other files besides the MAIN ones


def test_the_sweep_moved_assets_under_every_time_rule(ran: Ran) -> None:
    report = ran.outcome.sweep
    for rule in DEFINITION.time_rules:
        moved = report.rule(rule.name)
        assert moved.moved > 0, rule.name
        assert (moved.changed, moved.busy, moved.refused) == (0, 0, 0), rule.name
    # The report agrees with the audit trail: every move by the system is the sweep's, made at
    # its moment.
    by_system = [row for trail in ran.trails.values() for row in trail if row.actor_kind is Role.SYSTEM]
    expected = Counter[Event]()
    for rule in report.rules:
        expected[rule.event] += rule.moved
    assert Counter(row.event for row in by_system) == +expected
    assert {row.occurred_at for row in by_system} == {report.as_of}
    # One sweep caught up with everything that was due.
    with Lifecycle(ran.database, clock=ManualClock(report.as_of)) as lifecycle:
        assert lifecycle.due_counts() == {rule.name: 0 for rule in DEFINITION.time_rules}


def test_no_asset_is_left_creating_and_only_unfinished_uploads_timed_out(ran: Ran) -> None:
    assert ran.outcome.counts[AssetState.CREATING.value] == 0
    # (A timed-out asset may have moved on in the same sweep: a planned freeze or delete.)
    timed_out = {
        a for a, trail in ran.trails.items() if any(row.event is Event.TIME_OUT_UPLOAD for row in trail)
    }
    assert len(timed_out) == ran.outcome.sweep.rule("upload_timeout").moved
    # Each had never had its MAIN file uploaded (cancelled at most); the timeout failed that file.
    for asset_id in timed_out:
        trail = ran.trails[asset_id]
        before = trail[: next(i for i, row in enumerate(trail) if row.event is Event.TIME_OUT_UPLOAD)]
        assert not {row.event for row in before} & {Event.ACCEPT_UPLOAD, Event.SUBMIT_FOR_REVIEW}
    with ran.database.connect() as connection:
        main_files = connection.execute(
            select(files.c.state).where(
                files.c.asset_file_category == FileCategory.MAIN, files.c.asset_id.in_(timed_out)
            )
        ).scalars()
        assert set(main_files) == {FileState.FAILED}


def test_the_recycle_bin_keeps_only_what_the_rules_keep(ran: Ran) -> None:
    """After the retention has passed, the bin holds the assets deleted while frozen (still
    frozen: time does not move them) and those the sweep itself deleted as planned (their
    retention starts at the sweep). Nothing else."""
    report = ran.outcome.sweep
    deleted_while_frozen = {
        a
        for a, trail in ran.trails.items()
        if trail[-1].event is Event.DELETE and trail[-1].from_state is AssetState.BLOCK
    }
    deleted_as_planned = {
        a
        for a, trail in ran.trails.items()
        if trail[-1].event is Event.DELETE and trail[-1].actor_kind is Role.SYSTEM
    }
    assert deleted_while_frozen
    assert len(deleted_as_planned) == report.rule("planned_delete").moved
    assert ran.in_state(AssetState.DELETING) == deleted_while_frozen | deleted_as_planned
    for asset_id in deleted_while_frozen:
        row = ran.assets[asset_id]
        assert (row.pre_delete_state, row.retention_started_at) == (AssetState.BLOCK, None)
        assert row.pre_freeze_state is not None
    for asset_id in deleted_as_planned:
        assert ran.assets[asset_id].retention_started_at == report.as_of
    frozen_tenant = ran.outcome.frozen_tenant
    assert len(deleted_while_frozen & ran.in_state(AssetState.DELETING, frozen_tenant)) >= (
        demo.DELETED_WHILE_TENANT_FROZEN
    )


def test_the_tenant_frozen_for_good_stays_frozen_and_the_other_is_released(ran: Ran) -> None:
    frozen_tenant = ran.outcome.frozen_tenant
    tenant_assets = {a for a, row in ran.assets.items() if row.project_id == frozen_tenant}
    blocked = ran.in_state(AssetState.BLOCK, frozen_tenant)
    binned = ran.in_state(AssetState.DELETING, frozen_tenant)
    gone = ran.in_state(AssetState.DELETED, frozen_tenant)
    # Every asset of the frozen tenant is frozen, deleted while frozen, or deleted for good.
    assert blocked | binned | gone == tenant_assets
    assert all(ran.assets[a].pre_delete_state is AssetState.BLOCK for a in binned)
    assert len(blocked) == demo.ASSETS_PER_TENANT - len(gone) - len(binned) > 0
    # Time moved none of them, though it would have: uploads never made (their window paused)
    # and planned operations (waiting for an unfreeze).
    assert not [row for a in tenant_assets for row in ran.trails[a] if row.actor_kind is Role.SYSTEM]
    assert any(ran.assets[a].pre_freeze_state is AssetState.CREATING for a in blocked)
    assert any(ran.assets[a].planned_operation is not None for a in blocked)
    # Outside that tenant, nothing is still frozen by a tenant-wide freeze: the other tenant's
    # unfreeze released everything it froze (its assets frozen on their own stay frozen).
    elsewhere = {a for a in ran.in_state(AssetState.BLOCK) if ran.assets[a].project_id != frozen_tenant}
    assert {ran.assets[a].block_scope for a in elsewhere} == {BlockScope.ASSET}
    investigated = ran.in_state(AssetState.BLOCK, ran.outcome.featured_tenant)
    assert investigated, "a complaint during the tenant-wide freeze keeps its asset frozen"
    # The BLOCK count: the frozen tenant's frozen assets, and elsewhere each asset whose last move
    # froze it (the platform on a complaint, the system on a plan) or restored it frozen.
    last_froze = {a for a, trail in ran.trails.items() if trail[-1].to_state is AssetState.BLOCK}
    assert elsewhere == last_froze - tenant_assets
    assert ran.outcome.counts[AssetState.BLOCK.value] == len(blocked) + len(elsewhere)
    planned = {a for a in elsewhere if ran.trails[a][-1].actor_kind is Role.SYSTEM}
    assert len(planned) == ran.outcome.sweep.rule("planned_freeze").moved


def _table_rows(printed: str, title: str) -> list[list[str]]:
    """The cells of each row of the table printed under ``title`` (a row's wrapped lines
    joined)."""
    lines = iter(printed[printed.index(title) :].splitlines())
    for line in lines:
        if line.startswith("┡"):  # below the header
            break
    rows: list[list[str]] = []
    for line in lines:
        if not line.startswith("│"):
            break
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[0]:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def test_the_report_prints_the_counts_the_sweep_and_the_featured_trail(ran: Ran) -> None:
    printed = ran.printed
    for state, count in ran.outcome.counts.items():
        assert re.search(rf"│ {state} +│ +{count:,} │", printed), state
    for rule in ran.outcome.sweep.rules:
        assert re.search(rf"│ {rule.rule} → {rule.event.value} +│ +{rule.moved:,} │", printed), rule.rule

    featured = ran.outcome.featured_asset_id
    rows = _table_rows(printed, f"audit trail of asset {featured}")
    with Lifecycle(ran.database) as lifecycle:
        history = lifecycle.history(demo.PLATFORM, featured)
    assert [row[:7] for row in rows] == [
        [
            str(entry.seq),
            f"{entry.occurred_at:%Y-%m-%d %H:%M:%S}",
            entry.event.value,
            f"{entry.from_state.value if entry.from_state else '-'} → {entry.to_state.value}",
            f"{entry.actor_kind.value}:{entry.actor_id}",
            entry.pre_freeze_state.value if entry.pre_freeze_state else "",
            entry.pre_delete_state.value if entry.pre_delete_state else "",
        ]
        for entry in history
    ]
    # The remembered states, as the featured asset's walk (demo._feature) shows them:
    # (event, move, pre-freeze, pre-delete).
    shown = [(row[2], row[3], row[5], row[6]) for row in rows]
    deleted_while_frozen = ("delete", "BLOCK → DELETING", "ACTIVED", "BLOCK")
    restored_still_frozen = ("restore", "DELETING → BLOCK", "ACTIVED", "")
    frozen_in_the_bin = ("freeze", "DELETING → BLOCK", "DELETING", "ACTIVED")
    unfrozen_out_of_the_bin = ("unfreeze", "BLOCK → ACTIVED", "", "")
    unfrozen_in_the_bin = ("unfreeze", "DELETING → DELETING", "", "ACTIVED")
    restored_where_the_freeze_found_it = ("restore", "DELETING → ACTIVED", "", "")
    for expected in (deleted_while_frozen, restored_still_frozen, unfrozen_in_the_bin):
        assert expected in shown, expected
    at = shown.index(frozen_in_the_bin)
    assert shown[at + 1] == unfrozen_out_of_the_bin, "to the state it had before it was deleted"
    at = shown.index(unfrozen_in_the_bin)
    assert shown[at + 1] == restored_where_the_freeze_found_it
    # The move that leaves the asset where it was is explained under the trail.
    seq = rows[at][0]
    said = " ".join(printed[printed.index(f"seq {seq}: unfreeze DELETING → DELETING: ") :].split())
    assert said.startswith(
        f"seq {seq}: unfreeze DELETING → DELETING: deleted while frozen, the asset is unfrozen and stays"
        " in the recycle bin; its pre-delete state becomes the state the freeze found it in, where a"
        " restore returns it"
    )


# The report in 80, 100 and 200 columns ------------------------------------------------------------


def _printed(parts: list[RenderableType], width: int) -> str:
    out = io.StringIO()
    console = render.console(out, width=width)
    for part in parts:
        console.print(part)
    return out.getvalue()


def _tables(parts: list[RenderableType]) -> Iterator[render.FittedTable]:
    for part in parts:
        if isinstance(part, render.FittedTable):
            yield part
        elif isinstance(part, Group):
            yield from _tables(list(part.renderables))


def _cells(line: str, bar: str) -> list[str]:
    return [cell.strip() for cell in line.strip()[1:-1].split(bar)]


def _read_boxed(lines: list[str], table: render.FittedTable) -> list[list[str]]:
    """The header and the rows of a boxed table, a cell's wrapped lines joined. A row starts where
    a column that never wraps has a value (those are on a row's first line)."""
    header = [""] * len(table.columns)
    rows: list[list[str]] = []
    fixed = [i for i, column in enumerate(table.columns) if not column.wraps]
    for line in lines:
        if line.startswith("┃"):
            header = [f"{a} {b}".strip() for a, b in zip(header, _cells(line, "┃"), strict=True)]
        elif line.startswith("│"):
            cells = _cells(line, "│")
            if any(cells[i] for i in fixed) or not rows:
                rows.append(cells)
            else:
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return [header, *rows]


def _read_folded(lines: list[str], table: render.FittedTable) -> list[list[str]]:
    """The header and the rows of a folded table: the key columns on each row's line (split at
    two spaces: no value here holds two), the others below as ``header: value`` (three spaces
    apart, a long one continued on lines indented further), an empty value left out."""
    headers = [column.header for column in table.columns]
    keys = [headers.index(header) for header in re.split(r" {2,}", lines[0].strip())]
    assert set(lines[1]) == {"─"}
    rows: list[list[str]] = []
    last = 0
    for line in lines[2:]:
        text, indent = line.strip(), len(line) - len(line.lstrip())
        if set(text) == {"─"}:  # a section
            continue
        pairs = re.split(r" {3,}", text)
        if (
            indent >= 4
            and all(re.match(r"[^:]+: ", pair) for pair in pairs)
            and any(pair.split(": ", 1)[0] in headers for pair in pairs)
        ):
            for pair in pairs:
                header, value = pair.split(": ", 1)
                last = headers.index(header)
                rows[-1][last] = value
        elif indent >= 6 and rows:  # a long value, continued
            rows[-1][last] += " " + text
        else:
            rows.append([""] * len(headers))
            for index, value in zip(keys, re.split(r" {2,}", text), strict=True):
                rows[-1][index] = value
    return [headers, *rows]


@pytest.mark.parametrize("width", [80, 100, 200])
def test_in_80_100_and_200_columns_every_table_shows_every_column_and_value_whole(
    ran: Ran, width: int
) -> None:
    """Read as a person reads it: no line wider than the terminal, nothing cut short with "…",
    and each table, boxed or folded, gives back every header and every value it was given."""
    parts = demo.report_of(ran.outcome)
    printed = _printed(parts, width)
    assert max(cell_len(line) for line in printed.splitlines()) <= width
    assert "…" not in printed
    for note in ran.outcome.notes:
        assert " ".join(note.split()) in " ".join(printed.split())
    tables = list(_tables(parts))
    assert len(tables) == 10  # counts, sweep, trail, tenants, by type, by state, twice why and files
    layouts = Counter[str]()
    for table in tables:
        shown = _printed([table], width)
        assert shown in printed
        lines = shown.splitlines()
        if table.title:  # above, wrapped to the width
            above = len(_printed([table.title], width).splitlines())
            assert " ".join(lines[:above]).split() == table.title.split()
            lines = lines[above:]
        if table.caption:  # below, likewise
            below = len(_printed([table.caption], width).splitlines())
            assert " ".join(lines[-below:]).split() == table.caption.split()
            lines = lines[:-below]
        boxed = lines[0].startswith("┏")
        layouts["boxed" if boxed else "folded"] += 1
        read = _read_boxed(lines, table) if boxed else _read_folded(lines, table)
        assert read == [[column.header for column in table.columns], *map(list, table.rows)], table
    if width == 200:
        assert layouts == {"boxed": 10}
    else:
        assert layouts["folded"] >= 3, "the trail, the tenants, the files: too wide to box"


def test_a_table_too_wide_for_its_box_folds_its_columns_below_each_row() -> None:
    table = render.FittedTable(
        render.Column("asset_id"),
        render.Column("state"),
        render.Column("size", "right", key=False),
        render.Column("reason", wraps=True, key=False),
        title="t",
    )
    asset_id = "d2b9f798-4b9f-4556-b7de-87c074f643d8"
    table.add_row(asset_id, "DELETING", "1.16 GiB", "campaign over, the new version is live")
    table.add_row("a", "BLOCK", "0 B", "")
    # Boxed, even wrapped, it needs 73 columns: in 60 the key columns stay on the row's line.
    assert _printed([table], 60).splitlines() == [
        "t",
        "asset_id                              state",
        "──────────────────────────────────────────────",
        f"{asset_id}  DELETING",
        "    size: 1.16 GiB",
        "    reason: campaign over, the new version is live",
        "a                                     BLOCK",
        "    size: 0 B",
    ]
    # In 40, not even both key columns fit: the id alone, whole.
    narrow = _printed([table], 40).splitlines()
    assert narrow[1:] == [
        "asset_id",
        "─" * 36,
        asset_id,
        "    state: DELETING   size: 1.16 GiB",
        "    reason: campaign over, the new",
        "      version is live",
        "a",
        "    state: BLOCK   size: 0 B",
    ]
    assert "┃" in _printed([table], 73) and "┃" not in _printed([table], 72)


def test_the_console_is_100_columns_into_a_file_unless_columns_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert render.console(io.StringIO()).width == render.WIDTH == 100
    assert render.console(io.StringIO(), width=80).width == 80
    monkeypatch.setenv("COLUMNS", "132")
    assert render.console(io.StringIO()).width == 132


def test_the_summary_says_plainly_what_became_of_the_uploads_and_what_the_sweep_freed(ran: Ran) -> None:
    said = " ".join(ran.printed[: ran.printed.index("assets per state")].split())
    assert "cancelled, not retried" not in said
    assert re.search(
        r"MAIN file uploads: [\d,]+ uploaded as declared; \d+ uploaded as declared on a second"
        r" try \(the first was cancelled\); \d+ cancelled and not tried again",
        said,
    )
    report, before = ran.outcome.storage, ran.outcome.storage_before_sweep
    purged = ran.outcome.sweep.rule("recycle_bin_purge").moved
    assert (
        f"the sweep's purge of the recycle bin ({purged} assets deleted for good) freed"
        f" {render.size(before.used_bytes - report.used_bytes)}: the storage report as of the moment"
        f" before the sweep, read back from the audit trail, gives {render.size(before.used_bytes)} used;"
        f" after it, {render.size(report.used_bytes)}"
    ) in said


def test_some_tenants_are_over_their_free_allowance_and_some_within_and_the_report_says_which(
    ran: Ran,
) -> None:
    tenants = ran.outcome.storage.tenants
    over = {t.project_id for t in tenants if t.over_allowance}
    assert 0 < len(over) < len(tenants)
    rows = _table_rows(ran.printed, "storage per tenant")  # the tenants' rows, above the totals
    assert {row[0]: row[-1] for row in rows} == {
        t.project_id: "over" if t.project_id in over else "within" for t in tenants
    }
    assert re.search(rf"│ total: {len(tenants)} tenants .*│ {len(over)} over +│", ran.printed)
    said = " ".join(ran.printed.split())
    assert f"{len(over)} tenants over it, {len(tenants) - len(over)} within it" in said


def test_the_report_goes_to_stdout_and_the_progress_to_stderr(ran: Ran) -> None:
    assert "assets per state" in ran.first_stdout
    assert "audit trail of asset" in ran.first_stdout
    assert "creating assets" not in ran.first_stdout
    assert "creating assets" in ran.first_stderr
    assert "assets per state" not in ran.first_stderr


def test_progress_is_shown_for_every_phase(ran: Ran) -> None:
    progress = ran.progress
    assert re.search(rf"creating assets .* {SEEDED}/{SEEDED}", progress)
    assert re.search(rf"uploading .* {SEEDED}/{SEEDED}", progress)
    assert re.search(rf"moves .* {demo.TENANTS}/{demo.TENANTS}", progress)
    moved = ran.outcome.sweep.moved
    assert re.search(rf"sweep .* {moved}/{moved}", progress)


def test_the_main_job_never_deletes_a_database_that_is_not_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "lifecycle.db"
    precious.write_bytes(b"the admin script's database")
    saved = structlog.get_config()
    try:
        assert demo.main([str(precious)]) == 2  # main() configures structlog: it is an application
    finally:
        structlog.configure(**saved)
    assert precious.read_bytes() == b"the admin script's database"
    assert capsys.readouterr().err == (
        f"error MSS.00000003: invalid parameter path: {precious}"
        " exists and is not a demo database (*demo.db)\n"
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_only_the_package_and_make_test_adds_the_development_tools(tmp_path: Path) -> None:
    """The Makefile's two installs, with a stand-in for .venv's python that records its calls:
    demo, then test (the tools are added), then demo again (nothing to install)."""
    root = Path(__file__).parents[1]
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(root / name, tmp_path / name)
    os.utime(tmp_path / "pyproject.toml", (1_000_000_000, 1_000_000_000))
    calls = tmp_path / "calls"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\n')
    python.chmod(0o755)

    def make(target: str) -> list[str]:
        calls.write_text("")
        subprocess.run(["make", "-s", target], cwd=tmp_path, check=True, capture_output=True)  # noqa: S603, S607 - make on PATH
        return calls.read_text().splitlines()

    assert make("demo") == ["-m pip install --quiet -e .", "-m lifecycle.demo"]
    assert make("test") == ["-m pip install --quiet -e .[dev,postgres]", "-m pytest -n auto --dist worksteal"]
    assert make("demo") == ["-m lifecycle.demo"]
    assert make("lint")[0].startswith("-m ruff"), "the tools are installed already"


def test_the_main_job_reports_every_tenants_storage_and_why(ran: Ran) -> None:
    """The report printed is the engine's on what the job left; it shows every billing rule at
    work; and what the sweep freed is what the assets it deleted for good had stored."""
    report, before = ran.outcome.storage, ran.outcome.storage_before_sweep
    lifecycle = Lifecycle(ran.database, clock=ManualClock(report.as_of))
    assert lifecycle.storage_report(Platform("checker")) == report
    assert len(report.tenants) == demo.TENANTS
    assert sum(t.exempt[Exemption.TIMBRE_MODEL] for t in report.tenants) > 0
    assert sum(t.exempt[Exemption.CUSTOMIZED_VIDEO] for t in report.tenants) > 0
    by_state = {
        state: sum(t.by_state.get(state, Usage()).used_bytes for t in report.tenants) for state in AssetState
    }
    assert by_state[AssetState.BLOCK] > 0 and by_state[AssetState.DELETING] > 0, "frozen and binned count"
    assert by_state[AssetState.DELETED] == 0
    assert report.billable_bytes == sum(max(0, t.chargeable_bytes - t.free_bytes) for t in report.tenants) > 0
    purged = {
        asset_id
        for asset_id, trail in ran.trails.items()
        if trail[-1].actor_kind is Role.SYSTEM and trail[-1].to_state is AssetState.DELETED
    }
    with ran.database.connect() as connection:
        stored = connection.execute(
            select(files.c.asset_id, files.c.file_size).where(files.c.stored_at.is_not(None))
        ).all()
    assert purged
    freed = sum(size for asset_id, size in stored if asset_id in purged)
    assert before.used_bytes - report.used_bytes == freed
    assert f"total: {demo.TENANTS} tenants" in ran.printed
    assert render.size(report.used_bytes) in ran.printed
    for reason in ("TIMBRE_MODELS_FREE", "CUSTOMIZED_VIDEO_FREE"):
        assert reason in ran.printed


def test_the_main_job_answers_help_without_making_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        demo.main(["--help"])
    assert exited.value.code == 0
    assert "usage: python -m lifecycle.demo [-h] [path]" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [], "no file named --help, nor any other"
