"""The change feed across processes: a consumer killed in the middle of a batch loses nothing; two
instances of one consumer and four writing processes, for 30 seconds on PostgreSQL, deliver every
event once, in each asset's order; and a writer paused between taking its place in the feed and
committing is never skipped by a reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import FeedHeldBack
from lifecycle.feed import FeedEvent
from lifecycle.store.database import open_database
from lifecycle.store.models import audit
from tests.conftest import POSTGRES_URL, TABLES, new_asset
from tests.feed_worker import EFFECTS, TENANTS, effects_table, record

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = Platform("feed-test-operator")
LOAD_SECONDS = 30
WRITERS = 4


def _worker(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own worker module
        [sys.executable, "-m", "tests.feed_worker", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _line(process: subprocess.Popen[str], expected: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line == expected, f"the worker said {line!r}, not {expected!r}"


def _stop(processes: list[subprocess.Popen[str]]) -> None:
    """Kill what a failed test left running, so that no worker outlives it."""
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(60)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def url(database: Engine, tmp_path: Path) -> Iterator[str]:
    """The database's URL, its effects table made."""
    with database.begin() as connection:
        effects_table(connection)
    yield POSTGRES_URL if database.dialect.name == "postgresql" else str(database.url)  # type: ignore[misc]
    with database.begin() as connection:
        connection.execute(text(f"DROP TABLE {EFFECTS}"))


def _effects(database: Engine) -> list[tuple[str, str, int, int]]:
    with database.connect() as connection:
        rows = connection.execute(text(f"SELECT event_id, asset_id, version, pid FROM {EFFECTS} ORDER BY n"))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _all_events(database: Engine) -> list[str]:
    with database.connect() as connection:
        rows = connection.execute(select(audit.c.asset_id, audit.c.seq))
        return [f"{asset_id}:{seq}" for asset_id, seq in rows]


def test_a_consumer_killed_in_the_middle_of_a_batch_gets_the_rest_again_and_loses_nothing(
    lifecycle: Lifecycle, database: Engine, url: str
) -> None:
    tenant = Tenant(TENANTS[0])
    for n in range(10):
        asset = lifecycle.create_asset(tenant, new_asset(f"killed {n}"))
        lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    everything = _all_events(database)
    assert len(everything) == 20
    process = _worker("consumer", url, "survivor", "3")
    _line(process, "READY")
    _line(process, "BLOCKED")  # in its third batch: its rows written, not committed
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert process.stdout is not None
    process.stdout.close()
    committed = _effects(database)
    assert len(committed) == 14, "two batches of 7 committed; the third died with its process"
    restarted = lifecycle.consumer("survivor", record, batch_size=7)
    assert restarted.run_once() == 6
    delivered = [row[0] for row in _effects(database)]
    assert sorted(delivered) == sorted(everything), "every event, once"


@pytest.mark.postgresql
def test_four_writers_and_two_instances_of_a_consumer_deliver_every_event_once_in_order(
    postgres_engine: Engine,
) -> None:
    assert POSTGRES_URL is not None
    database = postgres_engine
    with database.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
        effects_table(connection)
    lifecycle = Lifecycle(database)
    for project_id in TENANTS:
        for n in range(20):
            asset = lifecycle.create_asset(Tenant(project_id), new_asset(f"shared {n}"))
            lifecycle.confirm_upload(
                Tenant(project_id), asset.asset_id, asset.main_file.file_id, UploadResult.CREATED
            )
    consumers: list[subprocess.Popen[str]] = []
    writers: list[subprocess.Popen[str]] = []
    try:
        consumers = [_worker("consumer", POSTGRES_URL, "load") for _ in range(2)]
        for process in consumers:
            _line(process, "READY")
        writers = [_worker("writer", POSTGRES_URL, str(LOAD_SECONDS), str(index)) for index in range(WRITERS)]
        counts: Counter[str] = Counter()
        for process in writers:
            out, _ = process.communicate(timeout=LOAD_SECONDS + 120)
            counts.update(json.loads(out.strip().splitlines()[-1]))
        assert not [key for key in counts if key.startswith("error")], counts
        for process in consumers:
            process.send_signal(signal.SIGTERM)  # handle what is left, then exit
        for process in consumers:
            _line(process, "DONE")
            process.wait(60)
            assert process.stdout is not None
            process.stdout.close()
        effects = _effects(database)
        everything = _all_events(database)
        delivered = [row[0] for row in effects]
        duplicates = [key for key, n in Counter(delivered).items() if n > 1]
        assert not duplicates, f"{len(duplicates)} events handled twice"
        assert sorted(delivered) == sorted(everything), "every event delivered, none lost"
        by_asset: dict[str, list[int]] = {}
        for _, asset_id, version, _ in effects:
            by_asset.setdefault(asset_id, []).append(version)
        assert all(versions == sorted(versions) for versions in by_asset.values()), "each asset in order"
        assert len({row[3] for row in effects}) == 2, "both instances took turns"
        assert counts["moved"] > 100 and counts["tenant_wide"] > 0, counts
        assert lifecycle.verify_audit(PLATFORM).clean
    finally:
        _stop(consumers + writers)
        with database.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {EFFECTS}"))


@pytest.mark.postgresql
def test_a_reader_never_skips_a_writer_paused_between_taking_its_place_and_committing(
    postgres_engine: Engine,
) -> None:
    """A writes its move (its place taken: its transaction's id) and pauses before its commit; B
    then writes and commits (its row has the higher audit id). A reader following ids would take
    B's row, move past A's and lose it when A commits. The feed holds B back until A ends."""
    assert POSTGRES_URL is not None
    with postgres_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    engine_a = open_database(POSTGRES_URL)
    try:
        writer_a = Lifecycle(engine_a)
        writer_b = Lifecycle(postgres_engine)
        tenant = Tenant(TENANTS[0])
        first = writer_b.create_asset(tenant, new_asset("paused"))
        second = writer_b.create_asset(tenant, new_asset("quick"))
        writer_b.feed.settle(PLATFORM)
        seen: list[FeedEvent] = []
        reader = writer_b.consumer("reader", lambda events, _c: seen.extend(events), start="end")
        assert reader.run_once() == 0

        written, go_on = threading.Event(), threading.Event()

        def pause_before_commit(_connection: Connection) -> None:
            written.set()
            assert go_on.wait(30)

        event.listen(engine_a, "commit", pause_before_commit)
        outcome: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: outcome.setdefault("a", writer_a.freeze(Platform("a"), first.asset_id))
        )
        thread.start()
        assert written.wait(30)
        writer_b.freeze(PLATFORM, second.asset_id)  # B commits while A is in flight
        assert reader.run_once() == 0, "B's row is held back while A, placed below it, may still commit"
        with pytest.raises(FeedHeldBack, match="holds them back"):
            writer_b.feed.settle(PLATFORM, timeout=timedelta(milliseconds=20))
        go_on.set()
        thread.join(30)
        event.remove(engine_a, "commit", pause_before_commit)
        assert reader.catch_up() == 2
        assert [e.record.asset_id for e in seen] == [first.asset_id, second.asset_id], (
            "A first: its place is lower"
        )
        with postgres_engine.connect() as connection:
            ids = dict(connection.execute(select(audit.c.asset_id, audit.c.id).where(audit.c.seq == 2)).all())
        assert ids[first.asset_id] < ids[second.asset_id], (
            "A's row has the lower id: following ids would have lost it"
        )
    finally:
        engine_a.dispose()
