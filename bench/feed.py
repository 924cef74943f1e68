"""What the change feed costs and delivers, on SQLite and PostgreSQL, in one run.

* **Cost per transition**: the raw guarded UPDATE + audit INSERT pair of ``bench/transition.py``,
  without the feed (the columns left at their default, PostgreSQL's NOTIFY trigger disabled) and
  with it (the asset's ``feed_head`` raised to the transaction's id and copied into the audit
  row's ``feed_txid``, the trigger on), in alternating rounds, each side first every other round;
  target: at most 5% more.
* **Reading**: events a consumer handles per second (batches of 500, its handler doing nothing).
* **Latency** (PostgreSQL, woken by LISTEN/NOTIFY): from a move's commit to its handler, p50 and
  p99, while a writer thread makes moves one after another and a consumer thread runs.

A measurement, not a test: it exits 0, printing MET or MISSED per target.

Run: ``.venv/bin/python bench/feed.py [--postgres-url URL] [--only sqlite|postgresql]
[--transitions N] [--rounds R] [--events N] [--latency-moves N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchdb import analyze, database_options, each_backend, target
from sqlalchemy import Connection, Engine, bindparam, insert, literal_column
from transition import _AUDITED, RawMoves, new_pool

from lifecycle.actors import Tenant
from lifecycle.engine import Lifecycle
from lifecycle.feed import FeedEvent
from lifecycle.store.repository import TRANSACTION_ID, assets, audit

TARGET = 1.05


class FeedRawMoves(RawMoves):
    """The raw pair, with what the feed adds to it (PostgreSQL; on SQLite the feed adds nothing to
    the statements, the row id ordering the feed)."""

    def __init__(self, database: Engine, tenant: Tenant) -> None:
        super().__init__(database, tenant)
        if database.dialect.name == "postgresql":
            self.update = self.update.values(
                feed_head=literal_column(f"GREATEST({assets.name}.feed_head, {TRANSACTION_ID})")
            )
            self.insert = insert(audit).values(
                {
                    **{name: bindparam(f"a_{name}", type_=audit.c[name].type) for name in _AUDITED},
                    "feed_txid": literal_column(TRANSACTION_ID),
                }
            )


def _trigger(database: Engine, *, enabled: bool) -> None:
    if database.dialect.name != "postgresql":
        return
    with database.begin() as connection:
        action = "ENABLE" if enabled else "DISABLE"
        connection.exec_driver_sql(f"ALTER TABLE {audit.name} {action} TRIGGER lifecycle_feed_notify")


def cost(lifecycle: Lifecycle, transitions: int, rounds: int) -> dict[str, Any]:
    database = lifecycle.database
    plain_tenant, fed_tenant = Tenant("bench-plain"), Tenant("bench-fed")
    plain = RawMoves(database, plain_tenant)
    fed = FeedRawMoves(database, fed_tenant)
    plain_pool = new_pool(lifecycle, plain_tenant, min(1000, transitions), "plain")
    fed_pool = new_pool(lifecycle, fed_tenant, min(1000, transitions), "fed")
    analyze(database)
    timings: dict[str, list[float]] = {"without": [], "with": []}
    sides = [("without", plain, plain_pool), ("with", fed, fed_pool)]
    for round_number in range(rounds + 1):  # the first round warms up
        # Each side goes first every other round, so that neither always finds the tables and the
        # WAL grown by the other.
        for side, moves, pool in sides if round_number % 2 else sides[::-1]:
            _trigger(database, enabled=side == "with")
            gc.collect()
            started = time.perf_counter()
            moves.run(pool, transitions)
            if round_number:
                timings[side].append((time.perf_counter() - started) / transitions)
    _trigger(database, enabled=True)
    without, with_feed = statistics.median(timings["without"]), statistics.median(timings["with"])
    ratio = with_feed / without
    print(
        f"  a transition without the feed {without * 1e6:.0f} µs, with it {with_feed * 1e6:.0f} µs:"
        f" {ratio:.3f}x (target <= {TARGET}x) {'MET' if ratio <= TARGET else 'MISSED'}"
    )
    return {
        "without_us": round(without * 1e6, 1),
        "with_us": round(with_feed * 1e6, 1),
        "ratio": round(ratio, 3),
    }


def reading(lifecycle: Lifecycle, events: int) -> dict[str, Any]:
    tenant = Tenant("bench-read")
    pool = new_pool(lifecycle, tenant, 500, "read")
    moves = RawMoves(lifecycle.database, tenant)
    moves.run(pool, max(0, events - 1000))  # with the 1,000 creations and uploads: about ``events``
    handled = {"n": 0}

    def handler(batch: Sequence[FeedEvent], _connection: Connection) -> None:
        handled["n"] += len(batch)

    consumer = lifecycle.consumer("bench-reader", handler, batch_size=500)
    started = time.perf_counter()
    consumer.run_once()
    elapsed = time.perf_counter() - started
    rate = handled["n"] / elapsed
    print(f"  a consumer read {handled['n']:,} events in {elapsed:.2f} s: {rate:,.0f} events/s")
    return {"events": handled["n"], "events_per_s": round(rate)}


def latency(lifecycle: Lifecycle, moves_count: int) -> dict[str, Any]:
    tenant = Tenant("bench-latency")
    pool = new_pool(lifecycle, tenant, 200, "latency")
    committed: dict[str, float] = {}
    delays: list[float] = []
    done = threading.Event()

    def handler(batch: Sequence[FeedEvent], _connection: Connection) -> None:
        now = time.time()
        for event in batch:
            started = committed.get(event.event_id)
            if started is not None:
                delays.append(now - started)
        if len(delays) >= moves_count:
            done.set()

    consumer = lifecycle.consumer("bench-latency", handler, start="end", poll_interval=timedelta(seconds=1))
    consumer.run_once()
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,))
    runner.start()
    try:
        for n in range(moves_count):
            asset_id = pool.ids[n % len(pool.ids)]
            move = lifecycle.activate if n // len(pool.ids) % 2 == 0 else lifecycle.deactivate
            moved = move(tenant, asset_id)
            committed[f"{asset_id}:{moved.version}"] = time.time()
        done.wait(60)
    finally:
        stop.set()
        runner.join(60)
    delays.sort()
    p50, p99 = delays[len(delays) // 2], delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"  commit to handler over {len(delays)} moves: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    return {"moves": len(delays), "p50_ms": round(p50 * 1000, 2), "p99_ms": round(p99 * 1000, 2)}


def measure(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    lifecycle = Lifecycle(database)
    result = {
        "cost": cost(lifecycle, args.transitions, args.rounds),
        "reading": reading(lifecycle, args.events),
    }
    if database.dialect.name == "postgresql":
        result["latency"] = latency(lifecycle, args.latency_moves)
    return result


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        target("a transition with the feed / without it", backend, result["cost"]["ratio"], at_most=TARGET)
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--transitions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-moves", type=int, default=500)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    each_backend(args, "feed.db", lambda database: measure(database, args), targets=targets)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
