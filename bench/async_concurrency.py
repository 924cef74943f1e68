"""Tasks against threads: moves per second with 32 concurrent tasks of one ``AsyncLifecycle`` on one
event loop, against 32 threads of one ``Lifecycle``, on PostgreSQL, in the same run (issue 18).

Each side has its own pool of ``POOL_SIZE`` (64) assets, created with their MAIN file accepted
(UNACTIVED), and its callers toggle random assets of it (``activate`` / ``deactivate``), one
transaction per move, exactly as ``bench/concurrency.py``'s callers do (its ``toggle``: a refused
or lost move is tried again at once as the other one):

* sync: 32 threads calling ``Lifecycle.activate`` / ``deactivate`` (bench/concurrency.py's engine
  side), its SQLAlchemy pool 32 connections (psycopg 3);
* async: 32 tasks on one event loop awaiting ``AsyncLifecycle.activate`` / ``deactivate``, its
  pool 32 connections (psycopg 3's async connection); the engine's one logic in greenlets.

Rounds alternate (sync, async, sync, …) after a warm-up of each; each side's figure is its median
round. Both trails are then verified (``verify_audit``) and counted against the moves made. The
ratio async / sync is recorded with a target of at least ``TARGET_RATIO``: the async facade should
cost a service little over threads (both are bound by one Python process's CPU: the greenlet
switches against the threads' GIL hand-overs).

Run: ``.venv/bin/python bench/async_concurrency.py [--postgres-url URL] [--callers 32] [--seconds S]
[--rounds R] [--json PATH]``. PostgreSQL only (SQLite has one writer at a time: there is nothing to
compare); its lifecycle tables are dropped and recreated: point it at a disposable database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

from benchdb import database_options, each_backend, target, verdict
from concurrency import MAX_ATTEMPTS, Measured, Outcome, Pool, Round, Side, Tally, engine_side, verify
from sqlalchemy import Engine
from transition import create_unactived

from lifecycle.actors import Tenant
from lifecycle.aio import AsyncLifecycle
from lifecycle.engine import Lifecycle
from lifecycle.errors import Conflict, TransitionNotAllowed
from lifecycle.store.database import open_async_database

POOL_SIZE = 64
TARGET_RATIO = 0.8


async def toggle(
    pool: Pool, rng: random.Random, stop: asyncio.Event, tally: Tally, engine: AsyncLifecycle
) -> None:
    """One task: ``concurrency.toggle``, awaiting each move."""
    while not stop.is_set():
        index = rng.randrange(len(pool.ids))
        activating = not pool.active[index]
        for _ in range(MAX_ATTEMPTS):
            outcome = await attempt(engine, pool.tenant, pool.ids[index], activating)
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


async def attempt(engine: AsyncLifecycle, tenant: Tenant, asset_id: str, activating: bool) -> Outcome:
    try:
        if activating:
            await engine.activate(tenant, asset_id)
        else:
            await engine.deactivate(tenant, asset_id)
    except TransitionNotAllowed:
        return Outcome.REFUSED
    except Conflict:
        return Outcome.LOST
    return Outcome.MOVED


def async_side(runner: asyncio.Runner, engine: AsyncLifecycle, pool: Pool) -> Side:
    """Every caller a task of one event loop (``runner``'s, kept from round to round with the
    engine's pool), through the one ``AsyncLifecycle``."""
    rounds = 0

    def side(callers: int, seconds: float) -> Round:
        nonlocal rounds
        rounds += 1
        number = rounds

        async def run() -> Round:
            stop = asyncio.Event()
            tallies = [Tally() for _ in range(callers)]
            tasks = [
                asyncio.create_task(
                    toggle(pool, random.Random(f"tasks-{callers}-{number}-{n}"), stop, tallies[n], engine)
                )
                for n in range(callers)
            ]
            began = time.perf_counter()
            await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_EXCEPTION)
            stop.set()
            await asyncio.gather(*tasks)  # those in flight finish their move; a failure is raised
            elapsed = time.perf_counter() - began
            return Round(
                moved=sum(t.moved for t in tallies),
                refused=sum(t.refused for t in tallies),
                lost=sum(t.lost for t in tallies),
                seconds=elapsed,
            )

        return runner.run(run())

    return side


def measure(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    lifecycle = Lifecycle(database)
    started = time.perf_counter()
    pools = {
        name: Pool(create_unactived(lifecycle, tenant, POOL_SIZE, name), tenant)
        for name, tenant in (("sync", Tenant("async-bench-threads")), ("async", Tenant("async-bench-tasks")))
    }
    print(f"  {2 * POOL_SIZE} UNACTIVED assets created in {time.perf_counter() - started:.1f}s")
    url = database.url.render_as_string(hide_password=False)
    with asyncio.Runner() as runner:
        engine = AsyncLifecycle(open_async_database(url, pool_size=args.callers, max_overflow=0))
        sides: dict[str, Side] = {
            "sync": engine_side(lifecycle, pools["sync"]),
            "async": async_side(runner, engine, pools["async"]),
        }
        for side in sides.values():
            side(args.callers, args.warmup)
        measured = {name: Measured() for name in sides}
        for _ in range(args.rounds):
            for name, side in sides.items():
                measured[name].rounds.append(side(args.callers, args.seconds))
        runner.run(engine.database.dispose())
    ratio = measured["async"].per_s / measured["sync"].per_s
    print(
        f"  {args.callers} callers: "
        + "   ".join(
            f"{name} {m.per_s:>7,.0f} moves/s ({sum(r.lost for r in m.rounds)} lost,"
            f" {sum(r.refused for r in m.rounds)} refused)"
            for name, m in measured.items()
        )
        + f"   async/sync {ratio:.2f}x"
    )
    verified = {name: verify(lifecycle, pool) for name, pool in pools.items()}
    for name, checked in verified.items():
        print(f"  {name}: audit trail verified, {checked['assets']} assets, {checked['rows']:,} rows")
    return {
        "pool_size": POOL_SIZE,
        "callers": args.callers,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        **{name: m.as_json() for name, m in measured.items()},
        "async_over_sync": round(ratio, 3),
        "audit_verified": verified,
    }


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    measure_name = f"{result['callers']} tasks / {result['callers']} threads moves/s"
    return [target(measure_name, backend, result["async_over_sync"], at_least=TARGET_RATIO)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--callers", type=int, default=32, help="tasks on one side, threads on the other")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a round")
    parser.add_argument("--warmup", type=float, default=1.0, help="length of each side's warm-up round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.callers < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--callers, --rounds and --seconds must be positive")
    args.only = "postgresql"
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    results = each_backend(
        args,
        "async_concurrency.db",
        lambda database: measure(database, args),
        targets=targets,
        pool_size=args.callers,
        max_overflow=0,
    )
    print()
    for backend, result in results.items():
        for entry in targets(backend, result):
            goal, ratio = f"target {entry['target']}", entry["ratio"]
            print(f"{backend:<11} {entry['measure']:<34} {ratio:>6.2f}x   {goal:<13} {verdict(entry)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
