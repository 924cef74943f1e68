"""Concurrent callers: moves per second with 1, 4 and 16 callers over a shared pool of assets, the
engine against the plain driver running the same statements, on PostgreSQL and SQLite.

Each side has its own pool of ``POOL_SIZE`` (64) assets, created through the engine with their MAIN
file accepted (UNACTIVED). A caller picks an asset of its side's pool at random and moves it to the
other state: ``activate`` if the callers' shared view of the pool says it is UNACTIVED,
``deactivate`` if ACTIVED, one transaction per move. Two sides, measured in the same run:

* engine: ``Lifecycle.activate`` / ``deactivate`` from every caller through one ``Lifecycle``
  (its SQLAlchemy pool sized to the number of callers, as a service would size it);
* raw: the plain driver, one connection per caller (psycopg 3 on PostgreSQL, the standard
  library's sqlite3 on SQLite), running per move the statements the engine's repository issues:
  the decision ``SELECT`` (the asset, its MAIN file's state joined in), then the guarded ``UPDATE``
  (``WHERE asset_id, project_id, asset_state, version``, the same column list set) and the audit
  ``INSERT`` with its chain hash computed in Python from the ``audit_head`` just read (on
  PostgreSQL both in one ``WITH moved AS (UPDATE … RETURNING) INSERT … SELECT`` statement, as the
  engine sends them), then ``COMMIT``. On SQLite it takes the write lock up front
  (``BEGIN IMMEDIATE``), with the engine's settings (WAL, ``synchronous=NORMAL``, busy timeout).

Both sides treat a race the same way. The shared view is only what the callers last saw, so a
caller may ask for a move the asset has already made: the engine refuses it (``TransitionNotAllowed``)
and raw sees the state it read is not the move's source; both roll back and count it as
``refused``. Two callers may also read the same version and both write: the second guarded write
matches nothing (the engine raises ``Conflict``, raw's statement returns no row); both roll back
and count it as ``lost``. Either way the caller tries the other move on the same asset at once,
until one commits. On SQLite, where the write lock is taken before the read, no race is lost.

Rounds alternate (raw, engine, raw, engine, …) for each number of callers after a warm-up of each
side; a round runs its callers together for ``--seconds`` and counts the moves committed (the
callers in flight when it ends finish their move, and the time counts until they do). Each side's
figure is its median round, in moves per second. The callers of both sides draw their assets from
the same seeded sequences. After the rounds, both sides' trails are checked with
``Lifecycle.verify_audit`` (every chain hash recomputed, every history replayed) and counted: two
rows per asset from its creation and upload, one per move committed. The target (issue 16): with
16 callers on PostgreSQL, the engine at least 0.8x raw's moves per second. SQLite's single writer is
recorded, not targeted.

A side is a function: ``Side(callers, seconds) -> Round``. The thread-based sides build theirs with
``threaded``; an asyncio side (16 tasks of an ``AsyncLifecycle``, issue 18) will be one more such
function, running its callers as tasks on one event loop, and one more entry in ``SIDES``.

Run: ``.venv/bin/python bench/concurrency.py [--postgres-url URL] [--callers 1,4,16]
[--sqlite-callers 1,4,16] [--seconds S] [--rounds R] [--only sqlite|postgresql] [--json PATH]``.
PostgreSQL's lifecycle tables are dropped and recreated: point it at a disposable database.
"""

from __future__ import annotations

import argparse
import enum
import logging
import os
import random
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from benchdb import database_options, each_backend, target, verdict
from sqlalchemy import Engine
from transition import create_unactived, raw_chain_hash

from lifecycle.actors import Platform, Tenant
from lifecycle.engine import Lifecycle
from lifecycle.errors import Conflict, TransitionNotAllowed

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=True,
)

POOL_SIZE = 64
TARGET_RATIO = 0.8
TARGET_CALLERS = 16
"""The target applies with this many callers, on PostgreSQL."""
MAX_ATTEMPTS = 1000
"""A move still racing after this many attempts stops the run: something is wrong, not slow."""


# The pool and what a round counts -----------------------------------------------------------------


@dataclass
class Pool:
    """A side's assets, and the callers' shared view of which are ACTIVED (what they last saw)."""

    ids: list[str]
    tenant: Tenant
    active: list[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.active = [False] * len(self.ids)


class Outcome(enum.Enum):
    MOVED = "moved"
    REFUSED = "refused"
    """The asset was no longer in the move's source state when read."""
    LOST = "lost"
    """The guarded write matched nothing: another caller moved the asset after it was read."""


@dataclass
class Tally:
    """What one caller did in a round."""

    moved: int = 0
    refused: int = 0
    lost: int = 0


@dataclass(frozen=True)
class Round:
    moved: int
    refused: int
    lost: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.moved / self.seconds


Side = Callable[[int, float], Round]
"""``side(callers, seconds)``: run ``callers`` concurrent callers for ``seconds``, what they did."""

Attempt = Callable[[str, bool], Outcome]
"""One transaction: move the asset (``activate`` when True, else ``deactivate``)."""


def toggle(pool: Pool, rng: random.Random, stop: threading.Event, tally: Tally, attempt: Attempt) -> None:
    """One caller: move random assets of the pool until ``stop``; a refused or lost move is tried
    again at once as the other move (the asset has just made the one asked for)."""
    while not stop.is_set():
        index = rng.randrange(len(pool.ids))
        activating = not pool.active[index]
        for _ in range(MAX_ATTEMPTS):
            outcome = attempt(pool.ids[index], activating)
            if outcome is Outcome.MOVED:
                pool.active[index] = activating
                tally.moved += 1
                break
            if outcome is Outcome.REFUSED:
                tally.refused += 1
            else:
                tally.lost += 1
            activating = not activating
        else:
            raise RuntimeError(f"asset {pool.ids[index]} still racing after {MAX_ATTEMPTS} attempts")


def threaded(pool: Pool, seed: str, caller_attempt: Callable[[int], Attempt]) -> Side:
    """A side whose callers are threads, caller ``n`` moving with ``caller_attempt(n)``."""
    rounds = 0

    def side(callers: int, seconds: float) -> Round:
        nonlocal rounds
        rounds += 1
        attempts = [caller_attempt(n) for n in range(callers)]  # connections opened before the start
        tallies = [Tally() for _ in range(callers)]
        start, stop = threading.Barrier(callers + 1), threading.Event()
        failures: list[BaseException] = []

        def run(n: int) -> None:
            rng = random.Random(f"{seed}-{callers}-{rounds}-{n}")
            try:
                start.wait()
                toggle(pool, rng, stop, tallies[n], attempts[n])
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                failures.append(error)
                stop.set()

        threads = [threading.Thread(target=run, args=(n,), name=f"caller-{n}") for n in range(callers)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        if failures:
            raise failures[0]
        return Round(
            moved=sum(t.moved for t in tallies),
            refused=sum(t.refused for t in tallies),
            lost=sum(t.lost for t in tallies),
            seconds=elapsed,
        )

    return side


# The engine ----------------------------------------------------------------------------------------


def engine_side(lifecycle: Lifecycle, pool: Pool) -> Side:
    """Every caller through the one ``Lifecycle``."""
    tenant = pool.tenant

    def caller_attempt(_: int) -> Attempt:
        def attempt(asset_id: str, activating: bool) -> Outcome:
            try:
                if activating:
                    lifecycle.activate(tenant, asset_id)
                else:
                    lifecycle.deactivate(tenant, asset_id)
            except TransitionNotAllowed:
                return Outcome.REFUSED
            except Conflict:
                return Outcome.LOST
            return Outcome.MOVED

        return attempt

    return threaded(pool, "callers", caller_attempt)


# Raw: the same statements through the plain driver ----------------------------------------------

_DECISION = (
    "asset_id",
    "project_id",
    "version",
    "asset_type",
    "asset_state",
    "pre_freeze_state",
    "pre_delete_state",
    "activate_on_upload",
    "review_required",
    "main_file_state",
    "fail_type",
    "reason",
    "block_reason_code",
    "block_scope",
    "upload_deadline",
    "upload_time_left_us",
    "retention_started_at",
    "planned_operation",
    "planned_operation_time",
    "state_changed_at",
    "audit_head",
)
"""The decision row's columns, as the engine's ``SELECT`` reads them."""
_KEPT = (
    "pre_freeze_state",
    "pre_delete_state",
    "fail_type",
    "reason",
    "block_reason_code",
    "block_scope",
    "upload_deadline",
    "upload_time_left_us",
    "retention_started_at",
    "planned_operation",
    "planned_operation_time",
)
"""Columns the guarded write sets that an activation leaves as they were (written back as read)."""
_MOVED = ("asset_state", "version", *_KEPT, "update_time", "state_changed_at", "audit_head")
_AUDITED = (
    "asset_id",
    "project_id",
    "seq",
    "event",
    "from_state",
    "to_state",
    "actor_kind",
    "actor_id",
    "reason",
    "fail_type",
    "request_id",
    "occurred_at",
    "pre_freeze_state",
    "pre_delete_state",
    "block_scope",
    "block_reason_code",
    "chain_hash",
)
_AUDIT_CAST = {"seq": "integer", "occurred_at": "timestamptz"}
"""PostgreSQL types of the audit values in the CTE's ``SELECT`` list (the others: text)."""
_GUARD = {
    "asset_id": "b_asset_id",
    "project_id": "b_project_id",
    "asset_state": "b_source",
    "version": "b_version",
}


def statements(postgres: bool) -> tuple[str, str, str | None]:
    """The decision ``SELECT``, the guarded write (the CTE on PostgreSQL, else the ``UPDATE``) and
    the audit ``INSERT`` (SQLite), with the driver's named parameters."""

    def p(name: str) -> str:
        return f"%({name})s" if postgres else f":{name}"

    columns = ", ".join(
        "main_file.state AS main_file_state" if name == "main_file_state" else f"lifecycle_assets.{name}"
        for name in _DECISION
    )
    select = (
        f"SELECT {columns} FROM lifecycle_assets LEFT OUTER JOIN lifecycle_asset_files AS main_file"
        " ON main_file.asset_id = lifecycle_assets.asset_id AND main_file.asset_file_category = 'MAIN'"
        f" WHERE lifecycle_assets.asset_id = {p('asset_id')}"
    )
    sets = ", ".join(f"{name} = {p('n_' + name)}" for name in _MOVED)
    guard = " AND ".join(f"lifecycle_assets.{column} = {p(name)}" for column, name in _GUARD.items())
    update = f"UPDATE lifecycle_assets SET {sets} WHERE {guard}"
    audited = ", ".join(_AUDITED)
    if postgres:
        values = ", ".join(
            "moved.asset_id"
            if name == "asset_id"
            else f"CAST({p('a_' + name)} AS {_AUDIT_CAST.get(name, 'text')})"
            for name in _AUDITED
        )
        moved_and_audited = (
            f"WITH moved AS ({update} RETURNING lifecycle_assets.asset_id)"
            f" INSERT INTO lifecycle_audit ({audited}) SELECT {values} FROM moved"
            " RETURNING lifecycle_audit.seq"
        )
        return select, moved_and_audited, None
    insert = f"INSERT INTO lifecycle_audit ({audited}) VALUES ({', '.join(p('a_' + n) for n in _AUDITED)})"
    return select, update, insert


def sqlite_time(moment: datetime) -> str:
    """A time as SQLAlchemy stores it on SQLite (naive UTC text), which the engine reads back."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def move_params(row: dict[str, Any], tenant: Tenant, activating: bool, postgres: bool) -> dict[str, Any]:
    """The guarded write's parameters for the move from the decision ``row``: what the engine's
    repository sends, chain hash included (hand-written, as ``transition.raw_chain_hash``)."""
    source, dest = ("UNACTIVED", "ACTIVED") if activating else ("ACTIVED", "UNACTIVED")
    event = "activate" if activating else "deactivate"
    now = datetime.now(UTC)
    stored_now: Any = now if postgres else sqlite_time(now)
    seq = row["version"] + 1
    hashed = (
        row["asset_id"],
        row["project_id"],
        seq,
        event,
        source,
        dest,
        tenant.role.value,
        tenant.actor_id,
    )
    hashed += (None, None, None, now.isoformat(timespec="microseconds"))  # reason, fail type, request
    hashed += (row["pre_freeze_state"], row["pre_delete_state"])
    chained = raw_chain_hash(row["audit_head"], hashed)
    params: dict[str, Any] = {f"n_{name}": row[name] for name in _KEPT}
    params.update(
        b_asset_id=row["asset_id"],
        b_project_id=tenant.project_id,
        b_source=source,
        b_version=row["version"],
        n_asset_state=dest,
        n_version=seq,
        n_update_time=stored_now,
        n_state_changed_at=stored_now,
        n_audit_head=chained,
        a_asset_id=row["asset_id"],
        a_project_id=row["project_id"],
        a_seq=seq,
        a_event=event,
        a_from_state=source,
        a_to_state=dest,
        a_actor_kind=tenant.role.value,
        a_actor_id=tenant.actor_id,
        a_reason=None,
        a_fail_type=None,
        a_request_id=None,
        a_occurred_at=stored_now,
        a_pre_freeze_state=row["pre_freeze_state"],
        a_pre_delete_state=row["pre_delete_state"],
        a_block_scope=None,
        a_block_reason_code=None,
        a_chain_hash=chained,
    )
    return params


def postgres_raw_side(url: str, pool: Pool) -> Side:
    """psycopg 3, one connection per caller (kept from round to round, as the engine's pool keeps
    its own), the statements of ``statements(postgres=True)``."""
    import psycopg  # noqa: PLC0415 - the postgres extra; only this side needs it

    select, moved_and_audited, _ = statements(postgres=True)
    connections: list[Any] = []
    tenant = pool.tenant

    def caller_attempt(n: int) -> Attempt:
        while len(connections) <= n:
            connections.append(psycopg.connect(url))
        connection = connections[n]

        def attempt(asset_id: str, activating: bool) -> Outcome:
            found = connection.execute(select, {"asset_id": asset_id}).fetchone()
            if found is None or found[1] != tenant.project_id:
                raise RuntimeError(f"raw: asset {asset_id} is not the tenant's")
            row = dict(zip(_DECISION, found, strict=True))
            if row["asset_state"] != ("UNACTIVED" if activating else "ACTIVED"):
                connection.rollback()
                return Outcome.REFUSED
            params = move_params(row, tenant, activating, postgres=True)
            if connection.execute(moved_and_audited, params).fetchone() is None:
                connection.rollback()
                return Outcome.LOST
            connection.commit()
            return Outcome.MOVED

        return attempt

    return threaded(pool, "callers", caller_attempt)


def sqlite_raw_side(path: Path, pool: Pool) -> Side:
    """sqlite3, one connection per caller with the engine's settings, ``BEGIN IMMEDIATE``."""
    select, update, insert = statements(postgres=False)
    assert insert is not None
    connections: list[sqlite3.Connection] = []
    tenant = pool.tenant

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    def caller_attempt(n: int) -> Attempt:
        while len(connections) <= n:
            connections.append(connect())
        connection = connections[n]

        def attempt(asset_id: str, activating: bool) -> Outcome:
            connection.execute("BEGIN IMMEDIATE")
            found = connection.execute(select, {"asset_id": asset_id}).fetchone()
            if found is None or found[1] != tenant.project_id:
                connection.execute("ROLLBACK")
                raise RuntimeError(f"raw: asset {asset_id} is not the tenant's")
            row = dict(zip(_DECISION, found, strict=True))
            if row["asset_state"] != ("UNACTIVED" if activating else "ACTIVED"):
                connection.execute("ROLLBACK")
                return Outcome.REFUSED
            params = move_params(row, tenant, activating, postgres=False)
            if connection.execute(update, params).rowcount != 1:
                connection.execute("ROLLBACK")
                return Outcome.LOST
            connection.execute(insert, params)
            connection.execute("COMMIT")
            return Outcome.MOVED

        return attempt

    return threaded(pool, "callers", caller_attempt)


# Measuring ----------------------------------------------------------------------------------------


@dataclass
class Measured:
    """One side's rounds at one number of callers."""

    rounds: list[Round] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return statistics.median(r.per_s for r in self.rounds)

    def as_json(self) -> dict[str, Any]:
        return {
            "moves_per_s": round(self.per_s, 1),
            "rounds_moves_per_s": [round(r.per_s, 1) for r in self.rounds],
            "moved": sum(r.moved for r in self.rounds),
            "refused": sum(r.refused for r in self.rounds),
            "lost": sum(r.lost for r in self.rounds),
        }


def measure(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    backend = database.dialect.name
    postgres = backend == "postgresql"
    callers_list: list[int] = args.callers if postgres else args.sqlite_callers
    lifecycle = Lifecycle(database)
    started = time.perf_counter()
    pools = {
        name: Pool(create_unactived(lifecycle, tenant, POOL_SIZE, name), tenant)
        for name, tenant in (
            ("raw", Tenant(f"concurrency-raw-{backend}")),
            ("engine", Tenant(f"concurrency-engine-{backend}")),
        )
    }
    print(
        f"  {2 * POOL_SIZE} UNACTIVED assets created in {time.perf_counter() - started:.1f}s"
        f" ({POOL_SIZE} per side)"
    )
    if postgres:
        raw = postgres_raw_side(
            database.url.set(drivername="postgresql").render_as_string(hide_password=False), pools["raw"]
        )
    else:
        raw = sqlite_raw_side(Path(str(database.url.database)), pools["raw"])
    sides: dict[str, Side] = {"raw": raw, "engine": engine_side(lifecycle, pools["engine"])}
    load_before = os.getloadavg()
    print(f"  load average before: {', '.join(f'{load:.2f}' for load in load_before)}")
    for side in sides.values():
        side(max(callers_list), args.warmup)
    found: dict[str, Any] = {}
    for callers in callers_list:
        measured = {name: Measured() for name in sides}
        for _ in range(args.rounds):
            for name, side in sides.items():
                measured[name].rounds.append(side(callers, args.seconds))
        ratio = measured["engine"].per_s / measured["raw"].per_s
        found[str(callers)] = {
            **{name: m.as_json() for name, m in measured.items()},
            "engine_over_raw": round(ratio, 3),
        }
        print(
            f"  {_callers(callers):>10}: "
            + "   ".join(
                f"{name} {m.per_s:>7,.0f} moves/s ({sum(r.lost for r in m.rounds)} lost,"
                f" {sum(r.refused for r in m.rounds)} refused)"
                for name, m in measured.items()
            )
            + f"   engine/raw {ratio:.2f}x"
        )
    load_after = os.getloadavg()
    print(f"  load average after: {', '.join(f'{load:.2f}' for load in load_after)}")
    verified = {name: verify(lifecycle, pool) for name, pool in pools.items()}
    for name, checked in verified.items():
        print(
            f"  {name}: audit trail verified, {checked['assets']} assets, {checked['rows']:,} rows"
            " (2 per asset before the moves, 1 per move), every chain recomputed, no problem"
        )
    return {
        "pool_size": POOL_SIZE,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "callers": found,
        "audit_verified": verified,
    }


def verify(lifecycle: Lifecycle, pool: Pool) -> dict[str, Any]:
    """The side's trail, checked by the engine's verifier, and counted against the moves made."""
    report = lifecycle.verify_audit(Platform("bench"), project_id=pool.tenant.project_id)
    if not report.clean:
        shown = "; ".join(f"{p.asset_id} {p.kind.value}: {p.detail}" for p in report.problems[:5])
        raise SystemExit(f"audit trail broken ({len(report.problems)} problems): {shown}")
    with lifecycle.database.connect() as connection:
        versions = connection.exec_driver_sql(
            "SELECT sum(version) FROM lifecycle_assets WHERE project_id = "
            + ("%(p)s" if lifecycle.database.dialect.name == "postgresql" else ":p"),
            {"p": pool.tenant.project_id},
        ).scalar_one()
    if report.rows != versions:
        raise SystemExit(f"{report.rows} audit rows for versions summing to {versions}")
    return {"assets": report.assets, "rows": report.rows, "moves": report.rows - 2 * len(pool.ids)}


def _callers(count: int | str) -> str:
    return f"{count} caller{'' if int(count) == 1 else 's'}"


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for callers, figures in result["callers"].items():
        goal = (
            {"at_least": TARGET_RATIO} if backend == "postgresql" and int(callers) == TARGET_CALLERS else {}
        )
        found.append(
            target(f"{_callers(callers)}: engine / raw moves/s", backend, figures["engine_over_raw"], **goal)
        )
    return found


def parse_args(argv: list[str]) -> argparse.Namespace:
    def counts(value: str) -> list[int]:
        return [int(n) for n in value.split(",")]

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument(
        "--callers", type=counts, default=[1, 4, 16], help="PostgreSQL: callers per round, comma-separated"
    )
    parser.add_argument("--sqlite-callers", type=counts, default=[1, 4, 16], help="SQLite: callers per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a round")
    parser.add_argument("--warmup", type=float, default=1.0, help="length of each side's warm-up round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side and number of callers")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one backend only")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if min(*args.callers, *args.sqlite_callers) < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("callers, --rounds and --seconds must be positive")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    most = max(*args.callers, *args.sqlite_callers)
    results = each_backend(
        args,
        "concurrency.db",
        lambda database: measure(database, args),
        targets=targets,
        pool_size=most,
        max_overflow=0,
    )
    print()
    for backend, result in results.items():
        for entry in targets(backend, result):
            goal = f"target {entry['target']}" if entry["target"] else ""
            print(
                f"{backend:<11} {entry['measure']:<34} {entry['ratio']:>6.2f}x   {goal:<13} {verdict(entry)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
