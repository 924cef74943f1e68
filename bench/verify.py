"""What ``verify_audit`` costs over a million audit rows, and whether its memory grows with the
page or with the trail: on SQLite and PostgreSQL.

The trail: ``--assets`` assets (default 100,000) of ``--tenants`` tenants (default 10), each with a
history of ``--rows`` audit rows (default 10): 1,000,000 rows. One template asset is made through
the engine (a manual clock, a minute between moves): created, its MAIN file uploaded (UNACTIVED),
then activate, deactivate, freeze, unfreeze, delete, restore, activate, … until it has its rows, so
every history is a legal one that verify replays in full. Its rows are cloned, as stored, with new
ids (asset, tenant, files), each clone's hash chain recomputed (``lifecycle.chain.chain_hash``, the
function the engine writes with) and ``audit_head`` set to its last hash; inserted in bulk, 10,000
assets at a time (SQLite: ``executemany`` in one transaction; PostgreSQL: ``COPY``), then ANALYZEd.
Two kinds of trail, each measured on its own:

* ``declared``: assets created from revision 0005 on. Their creation row carries the declaration
  (``declared``: type, settings, deadline, files), so verify replays every move through
  ``plan_move`` and compares every column of the asset and of its files with the replay
  (docs/reliability.md, "What verify checks"), besides the chain, the sequence and the table.
* ``legacy``: assets created before revision 0005: no declaration, no freeze scope or code on their
  rows (hashes computed without them, as then). Verify checks the chain, the sequence, each move
  against the table and the end state; it cannot replay the columns.

Each verify runs in a new process (``--child``), one run per page size (``--page-sizes``, default
1,000, the admin script's default, and 10,000) and scope: every tenant (all the rows), then one
tenant (a tenth of them). Reported: assets, rows, seconds, rows per second, and the peak resident
memory the verify added (Linux: the high-water mark is reset just before it, ``/proc/self/
clear_refs``, and read after: the driver's buffers and SQLite's page cache count, not only Python's
objects). Memory is O(page), not O(rows), when a page's peak over every tenant is about its peak
over a tenth of the rows (at most 1.5x here) while the larger page's peak is larger. Every verify
must come back clean (the seeding is checked by the code it measures); a problem stops the run.
This is a measurement, not a test: it prints MET or MISSED beside the memory bound.

Run: ``.venv/bin/python bench/verify.py [--postgres-url URL] [--assets N] [--rows N] [--tenants N]
[--page-sizes N N] [--kinds declared legacy] [--only sqlite|postgresql] [--json PATH]``.
PostgreSQL's lifecycle tables are dropped and recreated: point it at a disposable database.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from benchdb import analyze, database_options, each_backend, reset, target
from sqlalchemy import JSON, Connection, Engine, Table, select, text

from lifecycle.actors import Platform, System, Tenant
from lifecycle.chain import RECORDED_COLUMNS, chain_hash
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetType, FileCategory, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.store.database import WRITE
from lifecycle.store.repository import assets, audit, files

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=True,
)

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TEMPLATE_TENANT = Tenant("bench-template", app_user_id="bench-user")
OPERATOR = Platform("bench-operator")
MD5 = "e10adc3949ba59abbe56e057f20f883e"
CHUNK = 10_000
"""Assets seeded per batch of inserts."""
MEMORY_BOUND = 1.5
"""A page's peak over every tenant, at most this many times its peak over one tenant's tenth."""
KINDS = ("declared", "legacy")


# The template ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One asset's rows: as the engine reads them (``typed``, for the hashes) and as stored
    (``stored``: the driver's values, for the inserts), audit rows in ``seq`` order."""

    asset_id: str
    project_id: str
    file_ids: tuple[str, ...]
    typed_audit: tuple[Mapping[str, Any], ...]
    stored_asset: dict[str, Any]
    stored_files: tuple[dict[str, Any], ...]
    stored_audit: tuple[dict[str, Any], ...]


def make_template(database: Engine, rows: int) -> Template:
    """An asset with ``rows`` audit rows, made through the engine, read back; then the tables
    emptied."""
    clock = ManualClock(START)
    engine = Lifecycle(database, clock=clock)
    new = NewAsset(
        asset_name="bench template",
        asset_type=AssetType.HUMAN_MODEL,
        files=[
            NewFile("model.bin", 31032142, MD5, FileCategory.MAIN),
            NewFile("cover.png", 110321, MD5, FileCategory.COVER),
        ],
    )
    asset = engine.create_asset(TEMPLATE_TENANT, new)
    asset_id, tenant = asset.asset_id, TEMPLATE_TENANT
    cycle: list[Callable[[], object]] = [
        lambda: engine.activate(tenant, asset_id),
        lambda: engine.deactivate(tenant, asset_id),
        lambda: engine.freeze(OPERATOR, asset_id, reason="complaint", block_reason_code="B-1"),
        lambda: engine.unfreeze(OPERATOR, asset_id, reason="reviewed"),
        lambda: engine.delete(tenant, asset_id),
        lambda: engine.restore(tenant, asset_id),
    ]
    moves = [
        lambda: engine.confirm_upload(tenant, asset_id, asset.main_file.file_id, UploadResult.CREATED),
        *(cycle[number % len(cycle)] for number in range(rows - 2)),
    ]
    for move in moves[: rows - 1]:
        clock.advance(timedelta(minutes=1))
        move()
    with database.connect() as connection:
        typed_audit = tuple(
            dict(row)
            for row in connection.execute(
                select(audit).where(audit.c.asset_id == asset_id).order_by(audit.c.seq)
            ).mappings()
        )
        stored_asset = _stored(connection, assets, asset_id, "asset_id")[0]
        stored_files = tuple(_stored(connection, files, asset_id, "position"))
        stored_audit = tuple(_stored(connection, audit, asset_id, "seq"))
    report = engine.verify_audit(System())
    if not report.clean or report.rows != rows:
        raise SystemExit(f"the template does not verify: {report.to_json()}")
    reset(database)
    return Template(
        asset_id=asset_id,
        project_id=tenant.project_id,
        file_ids=tuple(str(row["file_id"]) for row in stored_files),
        typed_audit=typed_audit,
        stored_asset=stored_asset,
        stored_files=stored_files,
        stored_audit=tuple({k: v for k, v in row.items() if k != "id"} for row in stored_audit),
    )


def _stored(connection: Connection, table: Table, asset_id: str, order: str) -> list[dict[str, Any]]:
    """A table's rows of one asset as the driver returns them (no SQLAlchemy type processing)."""
    columns = ", ".join(column.name for column in table.c)
    statement = text(f"SELECT {columns} FROM {table.name} WHERE asset_id = :id ORDER BY {order}")
    return [dict(row) for row in connection.execute(statement, {"id": asset_id}).mappings()]


# Cloning -----------------------------------------------------------------------------------------


@dataclass
class Clones:
    """The rows of assets ``start`` … ``stop - 1``, cloned from the template."""

    assets: list[tuple[Any, ...]]
    files: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]]


def clone(template: Template, kind: str, tenants: int, start: int, stop: int, postgres: bool) -> Clones:
    legacy = kind == "legacy"
    creation = template.typed_audit[0]
    declared_text = creation["declared"]
    typed = [dict(row) for row in template.typed_audit]
    stored_audit = [dict(row) for row in template.stored_audit]
    if legacy:  # rows as written before revision 0005: no declaration, no freeze scope or code
        for row in (*typed, *stored_audit):
            for name in RECORDED_COLUMNS:
                row[name] = None
    json_columns = {
        table.name: {column.name for column in table.c if isinstance(column.type, JSON)}
        for table in (assets, files)
    }

    def stored_value(table: str, name: str, value: Any) -> Any:
        # psycopg reads JSON columns as Python values; COPY takes them back as JSON text.
        return json.dumps(value) if postgres and name in json_columns[table] else value

    out = Clones([], [], [])
    for number in range(start, stop):
        asset_id = f"bench-{number:07d}"
        project_id = f"bench-tenant-{number % tenants}"
        file_ids = {old: f"{asset_id}-{position}" for position, old in enumerate(template.file_ids)}
        previous = ""
        for seq, (hashed, stored) in enumerate(zip(typed, stored_audit, strict=True), start=1):
            declared = stored["declared"]
            if seq == 1 and declared_text is not None and not legacy:
                for old, new in file_ids.items():
                    declared = declared.replace(old, new)
            current = chain_hash(
                previous, {**hashed, "asset_id": asset_id, "project_id": project_id, "declared": declared}
            )
            out.audit.append(
                tuple(
                    {
                        "asset_id": asset_id,
                        "project_id": project_id,
                        "declared": declared,
                        "chain_hash": current,
                    }.get(name, value)
                    for name, value in stored.items()
                )
            )
            previous = current
        replaced = {"asset_id": asset_id, "project_id": project_id, "audit_head": previous}
        out.assets.append(
            tuple(
                stored_value(assets.name, name, replaced.get(name, value))
                for name, value in template.stored_asset.items()
            )
        )
        for row in template.stored_files:
            replaced = {"asset_id": asset_id, "file_id": file_ids[row["file_id"]]}
            out.files.append(
                tuple(
                    stored_value(files.name, name, replaced.get(name, value)) for name, value in row.items()
                )
            )
    return out


def seed(database: Engine, template: Template, kind: str, count: int, tenants: int) -> float:
    """``count`` clones of the template; the seconds it took."""
    started = time.perf_counter()
    postgres = database.dialect.name == "postgresql"
    columns = {
        assets.name: list(template.stored_asset),
        files.name: list(template.stored_files[0]),
        audit.name: list(template.stored_audit[0]),
    }
    with database.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            for start in range(0, count, CHUNK):
                made = clone(template, kind, tenants, start, min(start + CHUNK, count), postgres)
                for table, rows in (
                    (assets.name, made.assets),
                    (files.name, made.files),
                    (audit.name, made.audit),
                ):
                    _insert(connection, table, columns[table], rows, postgres)
    analyze(database)
    return time.perf_counter() - started


def _insert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], postgres: bool
) -> None:
    names = ", ".join(columns)
    if postgres:
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # type: ignore[arg-type]


# Measuring, in a new process ---------------------------------------------------------------------


def _status(field: str) -> int | None:
    """A line of /proc/self/status in bytes (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's resident-memory high-water mark (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(url: str, page_size: int, project_id: str | None) -> None:
    """One verify: prints its figures as one JSON line."""
    engine = Lifecycle(url)
    engine.check_schema()  # connects, and imports what the first verify would
    before = _status("VmRSS")
    reset = _reset_peak()
    started = time.perf_counter()
    report = engine.verify_audit(System(), project_id=project_id, page_size=page_size)
    seconds = time.perf_counter() - started
    peak = _status("VmHWM") if reset else None
    if peak is None or before is None:  # elsewhere: the peak since the process started
        peak, before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, 0
    engine.close()
    figures = {
        "assets": report.assets,
        "rows": report.rows,
        "seconds": seconds,
        "rows_per_second": report.rows / seconds,
        "peak_added_bytes": peak - before,
        "rss_before_bytes": before,
        "clean": report.clean,
        "problems": [problem.to_json() for problem in report.problems[:5]],
    }
    print(json.dumps(figures))


def run_child(url: str, page_size: int, project_id: str | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", url, "--page-size", str(page_size)]
    if project_id is not None:
        command += ["--project", project_id]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if finished.returncode != 0:
        raise SystemExit(f"verify failed:\n{finished.stderr}")
    figures: dict[str, Any] = json.loads(finished.stdout.splitlines()[-1])
    if not figures["clean"]:
        raise SystemExit(f"the seeded trail does not verify: {figures['problems']}")
    return figures


def _mb(count: float) -> str:
    return f"{count / 2**20:.1f} MiB"


def measure(args: argparse.Namespace, url_of: Callable[[Engine], str]) -> Callable[[Engine], dict[str, Any]]:
    def run(database: Engine) -> dict[str, Any]:
        url = url_of(database)
        template = make_template(database, args.rows)
        results: dict[str, Any] = {}
        for kind in args.kinds:
            reset(database)
            seconds = seed(database, template, kind, args.assets, args.tenants)
            rows = args.assets * args.rows
            described = {
                "declared": "declared (created from revision 0005 on)",
                "legacy": "legacy (created before revision 0005)",
            }[kind]
            print(
                f"  {described}: {args.assets:,} assets, {rows:,} audit rows, {args.tenants} tenants"
                f" (seeded in {seconds:.0f} s)"
            )
            runs: dict[str, Any] = {}
            for page_size in args.page_sizes:
                for scope, project_id in (("every tenant", None), ("one tenant", "bench-tenant-0")):
                    figures = run_child(url, page_size, project_id)
                    runs[f"{page_size}/{scope}"] = figures
                    print(
                        f"    page {page_size:>6,}, {scope:<12}: {figures['rows']:>9,} rows in"
                        f" {figures['seconds']:6.1f} s = {figures['rows_per_second']:>7,.0f} rows/s;"
                        f" peak memory +{_mb(figures['peak_added_bytes'])}"
                    )
            verdicts = []
            for page_size in args.page_sizes:
                every, one = runs[f"{page_size}/every tenant"], runs[f"{page_size}/one tenant"]
                ratio = every["peak_added_bytes"] / max(one["peak_added_bytes"], 1)
                verdicts.append(ratio <= MEMORY_BOUND)
                print(
                    f"    page {page_size:>6,}: peak over {every['rows']:,} rows"
                    f" / over {one['rows']:,} rows = {ratio:.2f}x (bound {MEMORY_BOUND}x)"
                )
            small, large = min(args.page_sizes), max(args.page_sizes)
            growth = (
                runs[f"{large}/every tenant"]["peak_added_bytes"]
                / max(runs[f"{small}/every tenant"]["peak_added_bytes"], 1)
            )
            print(
                f"    page {large:,} / page {small:,}: peak {growth:.1f}x;"
                f" memory O(page), not O(rows): {'MET' if all(verdicts) else 'MISSED'}"
            )
            results[kind] = {
                "seed_seconds": seconds,
                "runs": runs,
                "page_sizes": list(args.page_sizes),
                "memory_bounded": all(verdicts),
            }
        return results

    return run


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per trail and page size, the peak over every tenant against the peak over one tenant's
    tenth (O(page): at most ``MEMORY_BOUND``); and, recorded, the larger page's peak against the
    smaller's."""
    entries = []
    for kind, measured in result.items():
        runs, (small, large) = measured["runs"], sorted(measured["page_sizes"])
        for page_size in (small, large):
            every, one = runs[f"{page_size}/every tenant"], runs[f"{page_size}/one tenant"]
            ratio = every["peak_added_bytes"] / max(one["peak_added_bytes"], 1)
            entries.append(
                target(
                    f"verify {kind}, page {page_size:,}: peak memory, all rows / a tenth",
                    backend,
                    ratio,
                    at_most=MEMORY_BOUND,
                )
            )
        growth = runs[f"{large}/every tenant"]["peak_added_bytes"] / max(
            runs[f"{small}/every tenant"]["peak_added_bytes"], 1
        )
        measure = f"verify {kind}: peak memory, page {large:,} / page {small:,}"
        entries.append(target(measure, backend, growth))
    return entries


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--assets", type=int, default=100_000, help="assets seeded")
    parser.add_argument("--rows", type=int, default=10, help="audit rows per asset (at least 2)")
    parser.add_argument("--tenants", type=int, default=10, help="tenants the assets belong to")
    parser.add_argument("--page-sizes", type=int, nargs=2, default=[1000, 10_000], help="two page sizes")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="trails measured")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one backend only")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--page-size", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.page_size, args.project)
        return 0
    if args.rows < 2:
        parser.error("--rows must be at least 2 (a creation and an upload)")
    if args.assets // args.tenants < max(args.page_sizes):
        parser.error("one tenant's assets (--assets / --tenants) must fill a page of the larger size")
    print(
        f"verify_audit over {args.assets * args.rows:,} audit rows; Python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    each_backend(
        args,
        "verify.db",
        measure(args, lambda database: database.url.render_as_string(hide_password=False)),
        targets=targets,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
