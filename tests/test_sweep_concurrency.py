"""Exactly once across instances: four sweepers at once over thousands of due assets.

On PostgreSQL the sweepers are separate processes (as separate service instances are); on SQLite
they are threads of one process, each with its own engine. Every due asset must move exactly
once, none of the assets just inside the horizon may move, and no error may escape (on SQLite:
no "database is locked").
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from lifecycle.clock import ManualClock
from lifecycle.definition import Event
from lifecycle.engine import Lifecycle
from lifecycle.settings import Settings
from lifecycle.store.models import audit
from tests.conftest import START
from tests.seeding import seed_creating

SWEEPERS = 4
DUE = 5_000
INSIDE_HORIZON = 200
ROUNDS = 3
BATCH = 250
WINDOW = Settings().upload_window


def _sweep(url: str, as_of: datetime, name: str) -> tuple[int, int, int]:
    lifecycle = Lifecycle(url, clock=ManualClock(as_of))
    try:
        from lifecycle.actors import System

        report = lifecycle.sweep(batch_size=BATCH, actor=System(name))
        timeout = report.rule("upload_timeout")
        return timeout.moved, timeout.changed, timeout.busy
    finally:
        lifecycle.close()


def _sweep_in_process(url: str, as_of: datetime, name: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        results.put((name, _sweep(url, as_of, name)))
    except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
        results.put((name, repr(error)))


def _run_processes(url: str, as_of: datetime) -> list[tuple[str, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(SWEEPERS)
    results = context.Queue()
    processes = [
        context.Process(target=_sweep_in_process, args=(url, as_of, f"sweeper-{n}", barrier, results))
        for n in range(SWEEPERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * SWEEPERS
    return [results.get(timeout=10) for _ in processes]


def _run_threads(url: str, as_of: datetime) -> list[tuple[str, Any]]:
    barrier = threading.Barrier(SWEEPERS)
    outcomes: list[tuple[str, Any]] = []

    def run(name: str) -> None:
        barrier.wait()
        try:
            outcomes.append((name, _sweep(url, as_of, name)))
        except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
            outcomes.append((name, repr(error)))

    threads = [threading.Thread(target=run, args=(f"sweeper-{n}",)) for n in range(SWEEPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def _timeouts(database: Engine) -> Counter[str]:
    with database.connect() as connection:
        return Counter(
            connection.execute(
                select(audit.c.asset_id).where(audit.c.event == Event.TIME_OUT_UPLOAD)
            ).scalars()
        )


def test_four_sweepers_move_every_due_asset_exactly_once_and_nothing_else(database: Engine) -> None:
    url = database.url.render_as_string(hide_password=False)
    run = _run_processes if database.dialect.name == "postgresql" else _run_threads
    carried_over: list[str] = []
    for round_number in range(ROUNDS):
        as_of = START + timedelta(days=10 * (round_number + 1))
        due = seed_creating(
            database,
            DUE,
            created_at=as_of - WINDOW - timedelta(hours=1),
            upload_window=WINDOW,
            project_id="t",
        )
        # Due one microsecond after this sweep: the next round's sweep must move them.
        inside = seed_creating(
            database,
            INSIDE_HORIZON,
            created_at=as_of - WINDOW + timedelta(microseconds=1),
            upload_window=WINDOW,
            project_id="t",
        )
        outcomes = run(url, as_of)
        errors = [outcome for _, outcome in outcomes if isinstance(outcome, str)]
        assert errors == []
        assert len(outcomes) == SWEEPERS
        expected = set(due) | set(carried_over)
        timeouts = _timeouts(database)
        moved_now = {asset_id for asset_id in expected if timeouts[asset_id] == 1}
        missing = len(expected - moved_now)
        assert moved_now == expected, f"round {round_number}: {missing} due assets not moved"
        assert max(timeouts.values()) == 1, "an asset timed out twice"
        assert not set(inside) & set(timeouts), "an asset inside the horizon moved"
        assert sum(outcome[0] for _, outcome in outcomes) == len(expected)
        carried_over = inside
