"""What a sweep costs, next to the raw set-based SQL, on SQLite and PostgreSQL.

Three measurements, each in the same run:

* **Throughput** over ``--due`` assets (default 200,000) whose upload window has run out: the
  engine's ``Lifecycle.sweep`` against the raw set-based statements a hand-written sweep would run,
  written with SQLAlchemy Core, in batches of the same size, one transaction per batch:
  ``UPDATE lifecycle_assets … WHERE asset_id IN (SELECT … due … LIMIT n [FOR UPDATE SKIP LOCKED])``
  then ``INSERT INTO lifecycle_audit … SELECT`` of the moved rows, then the MAIN files' ``UPDATE``
  (the engine's move fails the MAIN file too, so both sides write the same rows). Rounds alternate
  (raw, engine, raw, engine), each on freshly seeded assets; each side's figure is its median
  round, in assets moved per second, audit rows included. Target (issue 16): the engine at least
  0.8x the raw throughput.
* **Memory** of a sweep, with ``tracemalloc``: the peak over ``--memory-small`` and over
  ``--memory-large`` due assets at the same batch size. Bounded by the batch size, the two peaks
  are about the same, whatever the number of due assets.
* **Nothing due** over ``--idle`` assets (default 1,000,000: CREATING with future deadlines, in the
  bin since today, live with future plans): the time and memory of a sweep, and each rule's query
  plan (``EXPLAIN ANALYZE, BUFFERS`` on PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite), which reads
  only the index.

The audit trail is hash-chained (migration 0003): each audit row's ``chain_hash`` is the SHA-256 of
the canonical JSON (compact, ASCII) of the previous hash of the same asset (``''`` before the
first) and the row's ``HASHED_COLUMNS``; the asset's ``audit_head`` holds the latest. The engine
computes each hash in Python, from the ``audit_head`` it read with the row. A hand-written
tamper-evident sweep has to do the same, so the raw side does too, in the way a careful one would:
inside its set-based ``UPDATE``, ``audit_head`` is set to the hash of the old ``audit_head`` and the
new row (its constant part, timestamp included, spelled in once per sweep as JSON text; the
asset, tenant and seq quoted in SQL), and the audit ``INSERT … SELECT`` copies the new
``audit_head`` into ``chain_hash``. No extra statement or round trip, no row brought into Python.
The SHA-256 itself is PostgreSQL's built-in ``sha256()``; SQLite has none, so the raw side
registers one on its connections (``create_function``, Python's ``hashlib``, called by SQLite once
per row) — as the engine, it hashes in Python there. The JSON is built with ``to_json`` (PostgreSQL)
or ``json_quote`` (SQLite), which write what Python's ``json.dumps`` writes for ASCII text such as
this bench's ids (non-ASCII text would need JSON escapes to match the engine's hashes). After each
round the trail of a sample of tenants (about 0.3% of the assets: ``VERIFY_TENANTS``) is checked
with ``Lifecycle.verify_audit``, every chain recomputed and history replayed, on both sides, so a
baseline that got the hash wrong stops the run.

Assets are seeded with one server-side ``INSERT … SELECT`` over generated numbers per table (fast,
and outside the timings); each due asset gets its creation audit row with its proper chain hash
(computed by the same SQL, so the seeding costs no round trips), and ``audit_head`` set to it:
after the sweep each asset's history (created, timed out) passes ``verify_audit``. Idle assets are
only read, never moved: their history is not seeded (``audit_head`` is ``''``, as before the first
row). Rounds start from emptied tables (``TRUNCATE`` on PostgreSQL, where the audit table refuses
``DELETE``); tables are ANALYZEd after seeding, as autovacuum keeps statistics on a live database.
Logging: structlog filtered at WARNING, as a production service would run it.

Run: ``.venv/bin/python bench/sweep.py [--postgres-url URL] [--due N] [--idle N] [--batch-size B]
[--rounds R] [--json PATH]``. PostgreSQL's lifecycle tables are dropped and recreated: point it at a
disposable database.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from benchdb import analyze, database_options, each_backend, execute_all, reset, target
from sqlalchemy import Engine, bindparam, event, insert, literal, literal_column, select, update
from sqlalchemy import cast as sql_cast

from lifecycle.actors import Platform
from lifecycle.clock import ManualClock
from lifecycle.definition import UPLOAD_TIMEOUT_REASON, AssetState, Event, FileCategory, FileState, Role
from lifecycle.engine import Lifecycle
from lifecycle.settings import Settings
from lifecycle.store.database import WRITE
from lifecycle.store.repository import assets, audit, files
from lifecycle.sweeps import Sweeper

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=True,
)

TARGET_RATIO = 0.8
"""Engine throughput over the raw statements', at least (issue 16)."""
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = Settings().upload_window
TENANTS = 1000
"""Seeded assets belong to ``tenant-0`` … ``tenant-999`` (asset number modulo 1000)."""
VERIFY_TENANTS = ("tenant-0", "tenant-1", "tenant-500")
"""Tenants whose audit trail is verified after each round (a sample: the whole trail would take
longer than the round)."""


# The audit chain, in SQL ----------------------------------------------------------------------


class SqlText(str):
    """A SQL expression of type text: an element of the hashed JSON array, quoted as JSON in SQL."""

    __slots__ = ()


class SqlInt(str):
    """A SQL integer expression: an element of the hashed JSON array."""

    __slots__ = ()


def sqlite_sha256(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def register_sqlite_sha256(database: Engine) -> None:
    """SQLite has no SHA-256: give every connection one, ``bench_sha256(text)``, hex digest."""

    @event.listens_for(database, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("bench_sha256", 1, sqlite_sha256, deterministic=True)


def chain_hash_sql(dialect: str, previous: SqlText | str, row: list[Any]) -> str:
    """SQL for an audit row's chain hash: the SHA-256 of ``[previous, *row]`` as canonical JSON.

    Elements are ``SqlText`` (quoted as JSON in SQL), ``SqlInt`` (its digits), or Python values,
    written as JSON here; the hashed columns in ``HASHED_COLUMNS`` order, as ``lifecycle.integrity``
    hashes them. Consecutive constants make one literal."""
    pieces: list[str] = []
    constant = "["
    for position, element in enumerate([previous, *row]):
        constant += "," if position else ""
        if isinstance(element, SqlText | SqlInt):
            if constant:
                pieces.append("'" + constant.replace("'", "''") + "'")
                constant = ""
            if isinstance(element, SqlInt):
                pieces.append(f"CAST({element} AS TEXT)")
            elif dialect == "postgresql":
                pieces.append(f"CAST(to_json(CAST({element} AS TEXT)) AS TEXT)")
            else:
                pieces.append(f"json_quote({element})")
        else:
            constant += json.dumps(element, ensure_ascii=True, separators=(",", ":"))
    pieces.append("'" + (constant + "]").replace("'", "''") + "'")
    document = " || ".join(pieces)
    if dialect == "postgresql":
        return f"encode(sha256(convert_to({document}, 'UTF8')), 'hex')"
    return f"bench_sha256({document})"


def canonical_time(moment: datetime) -> str:
    """A timestamp as the chain hashes it: UTC, microseconds, ISO 8601."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# Seeding --------------------------------------------------------------------------------------


def _numbers(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        return f"SELECT n FROM generate_series(1, {count}) AS n"
    return (
        f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count})"
        " SELECT n FROM g"
    )


def _ts(database: Engine, moment: datetime) -> str:
    """A timestamp literal stored the way the engine stores it (naive UTC text on SQLite)."""
    if database.dialect.name == "postgresql":
        return f"TIMESTAMPTZ '{moment.isoformat()}'"
    return f"'{moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}'"


def _seconds_before(database: Engine, moment: datetime) -> str:
    """``moment`` minus n seconds, for the row numbered n, stored as the engine stores it."""
    if database.dialect.name == "postgresql":
        return f"{_ts(database, moment)} - n * INTERVAL '1 second'"
    start = _ts(database, moment)
    return f"strftime('%Y-%m-%d %H:%M:%S', {start}, '-' || n || ' seconds') || '.000000'"


def seed(database: Engine, prefix: str, count: int, kind: str) -> None:
    """``count`` assets named ``prefix-N``: ``due`` ones past their upload deadline (with a MAIN
    file each), or ``idle`` ones of which none is due."""
    dialect = database.dialect.name
    asset_id = f"'{prefix}-' || n"
    created = _ts(database, NOW - WINDOW - timedelta(hours=1))
    later = _ts(database, NOW + timedelta(days=30))
    json_list = "'[]'::json" if dialect == "postgresql" else "'[]'"
    project_id = f"'tenant-' || (n % {TENANTS})"
    creation_hash = chain_hash_sql(
        dialect,
        "",  # GENESIS: a creation is the first row of its asset's chain
        [
            SqlText(asset_id), SqlText(project_id), 1,  # seq
            Event.CREATE.value, None, AssetState.CREATING.value,  # event, from, to
            Role.TENANT.value, SqlText(project_id), None, None, None,  # actor; reason, fail type, request
            canonical_time(NOW - WINDOW - timedelta(hours=1)), None, None,  # created; no remembered state
        ],
    )
    if kind == "due":
        # Deadlines a second apart, all passed: every row has its own timestamp to convert.
        state, retention, plan, plan_time = "'CREATING'", "NULL", "NULL", "NULL"
        deadline = _seconds_before(database, NOW - timedelta(hours=1))
    else:
        # A third each: uploads still within their window, assets in the bin since now, live assets
        # with a plan a month away. None is due at NOW.
        state = "CASE n % 3 WHEN 0 THEN 'CREATING' WHEN 1 THEN 'DELETING' ELSE 'ACTIVED' END"
        deadline = f"CASE n % 3 WHEN 0 THEN {later} END"
        retention = f"CASE n % 3 WHEN 1 THEN {_ts(database, NOW)} END"
        plan = "CASE n % 3 WHEN 2 THEN CASE n % 2 WHEN 0 THEN 'BLOCK' ELSE 'DELETE' END END"
        plan_time = f"CASE n % 3 WHEN 2 THEN {later} END"
    # Due assets: their creation row's hash, as the engine would have written it. Idle ones are only
    # read: no history, the head before the first row.
    head = creation_hash if kind == "due" else "''"
    statements = [
        f"""INSERT INTO lifecycle_assets (asset_id, project_id, asset_name, asset_description, asset_type,
            asset_state, version, activate_on_upload, review_required, tags, system_properties,
            create_time, update_time, state_changed_at, upload_deadline, retention_started_at,
            planned_operation, planned_operation_time, audit_head)
        SELECT {asset_id}, {project_id}, 'bench asset', '', 'VIDEO', {state}, 1, false, false,
            {json_list}, {json_list}, {created}, {created}, {created}, {deadline}, {retention}, {plan},
            {plan_time}, {head}
        FROM ({_numbers(dialect, count)}) AS numbers""",
    ]
    if kind == "due":
        statements.append(
            f"""INSERT INTO lifecycle_asset_files (file_id, asset_id, position, file_name, file_md5,
                file_size, file_type, asset_file_category, state, create_time, update_time)
            SELECT {asset_id} || '-main', {asset_id}, 0, 'main.mp4', 'OLjCwQk90P7Dg6nZrJQFFQ==', 1048576,
                'mp4', 'MAIN', 'CREATING', {created}, {created}
            FROM ({_numbers(dialect, count)}) AS numbers"""
        )
        statements.append(
            f"""INSERT INTO lifecycle_audit (asset_id, project_id, seq, event, from_state, to_state,
                actor_kind, actor_id, occurred_at, chain_hash)
            SELECT {asset_id}, {project_id}, 1, '{Event.CREATE.value}', NULL, '{AssetState.CREATING.value}',
                '{Role.TENANT.value}', {project_id}, {created}, {creation_hash}
            FROM ({_numbers(dialect, count)}) AS numbers"""
        )
    execute_all(database, statements)




# The two sides ---------------------------------------------------------------------------------


def raw_sweep(database: Engine, batch_size: int, now: datetime) -> int:
    """The set-based sweep a careful hand-written job would run, batch by batch (SQLAlchemy Core)."""
    due = select(assets.c.asset_id).where(
        assets.c.asset_state == AssetState.CREATING,
        assets.c.pre_freeze_state.is_(None),
        assets.c.upload_deadline <= now,
    )
    due = due.order_by(assets.c.upload_deadline).limit(batch_size)
    if database.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # The new audit row's hash, chained to the head the row holds (SET reads the row as it was).
    table = assets.name
    head = chain_hash_sql(
        database.dialect.name,
        SqlText(f"{table}.audit_head"),
        [
            SqlText(f"{table}.asset_id"), SqlText(f"{table}.project_id"), SqlInt(f"{table}.version + 1"),
            Event.TIME_OUT_UPLOAD.value, AssetState.CREATING.value, AssetState.FAILED.value,
            Role.SYSTEM.value, "scheduler", UPLOAD_TIMEOUT_REASON, None, None,  # actor; reason, fail, request
            canonical_time(now), None, None,  # occurred at; no remembered state
        ],
    )
    moved = (
        update(assets)
        .where(assets.c.asset_id.in_(due.scalar_subquery()), assets.c.asset_state == AssetState.CREATING)
        .values(
            asset_state=AssetState.FAILED,
            version=assets.c.version + 1,
            reason=UPLOAD_TIMEOUT_REASON,
            upload_deadline=None,
            update_time=now,
            state_changed_at=now,
            audit_head=literal_column(head),
        )
        .returning(assets.c.asset_id)
    )
    occurred_at: Any = bindparam("now", now, type_=audit.c.occurred_at.type)
    if database.dialect.name == "postgresql":
        # PostgreSQL cannot infer a bare parameter's type in a SELECT list. (Not on SQLite: there
        # CAST(… AS DATETIME) has NUMERIC affinity and turns '2026-06-01 12:00…' into 2026.)
        occurred_at = sql_cast(occurred_at, audit.c.occurred_at.type)
    audited = insert(audit).from_select(
        [
            "asset_id",
            "project_id",
            "seq",
            "event",
            "from_state",
            "to_state",
            "actor_kind",
            "actor_id",
            "reason",
            "occurred_at",
            "chain_hash",
        ],
        select(
            assets.c.asset_id,
            assets.c.project_id,
            assets.c.version,
            sql_cast(literal(Event.TIME_OUT_UPLOAD.value), audit.c.event.type),
            sql_cast(literal(AssetState.CREATING.value), audit.c.from_state.type),
            sql_cast(literal(AssetState.FAILED.value), audit.c.to_state.type),
            sql_cast(literal(Role.SYSTEM.value), audit.c.actor_kind.type),
            sql_cast(literal("scheduler"), audit.c.actor_id.type),
            sql_cast(literal(UPLOAD_TIMEOUT_REASON), audit.c.reason.type),
            occurred_at,
            assets.c.audit_head,  # the hash the UPDATE just set
        ).where(assets.c.asset_id.in_(bindparam("ids", expanding=True))),
    )
    main_failed = (
        update(files)
        .where(
            files.c.asset_id.in_(bindparam("ids", expanding=True)),
            files.c.asset_file_category == FileCategory.MAIN,
        )
        .values(state=FileState.FAILED, update_time=now)
    )
    total = 0
    while True:
        with database.connect() as connection:
            connection.execution_options(**{WRITE: True})
            with connection.begin():
                ids = list(connection.execute(moved).scalars())
                if ids:
                    connection.execute(audited, {"ids": ids, "now": now})
                    connection.execute(main_failed, {"ids": ids})
        if not ids:
            return total
        total += len(ids)


def engine_sweep(database: Engine, batch_size: int, now: datetime) -> int:
    lifecycle = Lifecycle(database, clock=ManualClock(now))
    return lifecycle.sweep(batch_size=batch_size).moved


def timed_round(
    database: Engine, side: str, due: int, batch_size: int, round_number: int
) -> tuple[float, int]:
    """One side's sweep over ``due`` freshly seeded assets: assets moved per second, and how many
    assets' audit trails were then verified."""
    reset(database)
    seed(database, f"{side}{round_number}", due, "due")
    analyze(database)
    gc.collect()
    run = raw_sweep if side == "raw" else engine_sweep
    started = time.perf_counter()
    moved = run(database, batch_size, NOW)
    elapsed = time.perf_counter() - started
    if moved != due:
        raise SystemExit(f"{side} moved {moved} of {due} due assets")
    with database.connect() as connection:
        rows = connection.execute(select(audit.c.id).where(audit.c.event == Event.TIME_OUT_UPLOAD)).all()
    if len(rows) != due:
        raise SystemExit(f"{side} wrote {len(rows)} audit rows for {due} moves")
    verified = verify_sample(database, side)
    return due / elapsed, verified


def verify_sample(database: Engine, side: str) -> int:
    """The audit trail of ``VERIFY_TENANTS``' assets, checked by the engine's verifier (untimed):
    every chain hash recomputed, every history replayed. Stops the run on any problem."""
    lifecycle = Lifecycle(database, clock=ManualClock(NOW))
    checked = 0
    for tenant in VERIFY_TENANTS:
        report = lifecycle.verify_audit(Platform("bench"), project_id=tenant)
        if not report.clean:
            shown = "; ".join(f"{p.asset_id} {p.kind.value}: {p.detail}" for p in report.problems[:5])
            raise SystemExit(f"{side}: audit trail broken ({len(report.problems)} problems): {shown}")
        checked += report.assets
    return checked


def measure_throughput(database: Engine, due: int, batch_size: int, rounds: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"raw": [], "engine": []}
    for round_number in range(rounds):
        for side in ("raw", "engine"):
            rate, verified = timed_round(database, side, due, batch_size, round_number)
            rates[side].append(rate)
            print(
                f"    round {round_number + 1} {side:6}: {rate:>9,.0f} assets/s"
                f"   (then {verified:,} assets' audit trails verified, no problem)"
            )
    raw, eng = statistics.median(rates["raw"]), statistics.median(rates["engine"])
    return {
        "due": due,
        "batch_size": batch_size,
        "raw_per_s": round(raw),
        "engine_per_s": round(eng),
        "raw_rounds": [round(r) for r in rates["raw"]],
        "engine_rounds": [round(r) for r in rates["engine"]],
        "engine_over_raw": round(eng / raw, 3),
        "target": TARGET_RATIO,
        "target_met": eng / raw >= TARGET_RATIO,
    }


def traced_peak(database: Engine, batch_size: int) -> int:
    """The peak of Python memory allocated during one sweep (tracemalloc)."""
    lifecycle = Lifecycle(database, clock=ManualClock(NOW))
    lifecycle.due_counts()  # connect and compile outside the trace
    gc.collect()
    tracemalloc.start()
    try:
        lifecycle.sweep(batch_size=batch_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def measure_memory(database: Engine, small: int, large: int, batch_size: int) -> dict[str, Any]:
    peaks = {}
    for count in (small, large):
        reset(database)
        seed(database, f"mem{count}", count, "due")
        analyze(database)
        peak = traced_peak(database, batch_size)
        peaks[count] = peak
        print(f"    sweep over {count:>7,} due assets, batch {batch_size}: peak {peak / 1e6:6.1f} MB")
    return {
        "batch_size": batch_size,
        "peak_bytes": {str(count): peak for count, peak in peaks.items()},
        "large_over_small": round(peaks[large] / peaks[small], 2),
    }


def query_plans(database: Engine) -> dict[str, list[str]]:
    lifecycle = Lifecycle(database, clock=ManualClock(NOW))
    sweeper = Sweeper(lifecycle.context)
    plans: dict[str, list[str]] = {}
    for rule in lifecycle.definition.time_rules:
        query = (
            select(assets.c.asset_id)
            .where(sweeper.due_clause(rule, NOW))
            .order_by(assets.c[rule.basis.value])
            .limit(500)
        )
        compiled = query.compile(database, compile_kwargs={"literal_binds": True})
        postgres = database.dialect.name == "postgresql"
        prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)" if postgres else "EXPLAIN QUERY PLAN"
        with database.connect() as connection:
            rows = connection.exec_driver_sql(f"{prefix} {compiled}").all()
        plans[rule.name] = [str(row[0]) if postgres else str(row[-1]) for row in rows]
    return plans


def measure_idle(database: Engine, idle: int) -> dict[str, Any]:
    reset(database)
    started = time.perf_counter()
    seed(database, "idle", idle, "idle")
    analyze(database)
    print(f"    {idle:,} assets seeded in {time.perf_counter() - started:.1f}s, none due")
    timings = []
    for _ in range(5):
        lifecycle = Lifecycle(database, clock=ManualClock(NOW))
        started = time.perf_counter()
        report = lifecycle.sweep()
        timings.append(time.perf_counter() - started)
        if report.moved:
            raise SystemExit(f"an idle sweep moved {report.moved} assets")
    peak = traced_peak(database, 500)
    plans = query_plans(database)
    median_ms = statistics.median(timings) * 1000
    print(f"    sweep with nothing due: median {median_ms:.2f} ms, peak {peak / 1e3:.0f} KB")
    for name, plan in plans.items():
        print(f"      {name}:")
        for line in plan:
            print(f"        {line}")
    return {
        "assets": idle,
        "sweep_ms_median": round(statistics.median(timings) * 1000, 3),
        "sweep_ms_rounds": [round(t * 1000, 3) for t in timings],
        "peak_bytes": peak,
        "plans": plans,
    }


def bench(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    print(f"  throughput: {args.rounds} rounds per side, {args.due:,} due assets, batch {args.batch_size}")
    throughput = measure_throughput(database, args.due, args.batch_size, args.rounds)
    print(
        f"  engine {throughput['engine_per_s']:,}/s vs raw {throughput['raw_per_s']:,}/s:"
        f" {throughput['engine_over_raw']:.2f}x of raw (target >= {TARGET_RATIO}x)"
        f" {'TARGET MET' if throughput['target_met'] else 'TARGET MISSED'}"
    )
    print("  memory:")
    memory = measure_memory(database, args.memory_small, args.memory_large, args.batch_size)
    print(f"  nothing due over {args.idle:,} assets:")
    idle = measure_idle(database, args.idle)
    return {"throughput": throughput, "memory": memory, "idle": idle}


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    ratio = result["throughput"]["engine_over_raw"]
    return [target("sweep: engine / raw assets/s", backend, ratio, at_least=TARGET_RATIO)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--due", type=int, default=200_000, help="due assets per throughput round")
    parser.add_argument("--idle", type=int, default=1_000_000, help="assets, none due, for the idle sweep")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds per side, alternating")
    parser.add_argument("--memory-small", type=int, default=10_000)
    parser.add_argument("--memory-large", type=int, default=50_000)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one backend only")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # register_sqlite_sha256 before the first connection: every pooled one gets the function.
    each_backend(
        args,
        "sweep.db",
        lambda database: bench(database, args),
        prepare_sqlite=register_sqlite_sha256,
        targets=targets,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
