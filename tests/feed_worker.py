"""Processes for the change feed's tests (``tests/test_feed_processes.py``).

``python -m tests.feed_worker writer URL SECONDS INDEX`` makes random moves on the feed tenants'
assets (and creates some, and freezes a whole tenant now and then) for SECONDS, then prints one
JSON line of counts.

``python -m tests.feed_worker consumer URL NAME [BLOCK_AT]`` runs the consumer NAME: its handler
records each event in ``EFFECTS`` in the consumer's own transaction. It runs until SIGTERM, then
handles what is left and exits; with BLOCK_AT, it instead prints ``BLOCKED`` in its BLOCK_AT-th
batch (after writing that batch's rows, before the commit) and waits to be killed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, text

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import Event
from lifecycle.engine import Lifecycle
from lifecycle.errors import Conflict, LifecycleError, StoreBusy, TransitionNotAllowed
from lifecycle.feed import FeedEvent
from lifecycle.store.database import open_database
from tests.conftest import new_asset

TENANTS = ("feed-a", "feed-b")
EFFECTS = "test_feed_effects"
EVENTS = (Event.ACTIVATE, Event.DEACTIVATE, Event.DELETE, Event.RESTORE)


def effects_table(connection: Connection) -> None:
    connection.execute(text(f"DROP TABLE IF EXISTS {EFFECTS}"))
    key = "BIGSERIAL" if connection.dialect.name == "postgresql" else "INTEGER"
    connection.execute(
        text(
            f"CREATE TABLE {EFFECTS} (n {key} PRIMARY KEY, event_id VARCHAR(200) NOT NULL,"
            " asset_id VARCHAR(64) NOT NULL, version INTEGER NOT NULL, pid INTEGER NOT NULL)"
        )
    )


def record(events: Sequence[FeedEvent], connection: Connection) -> None:
    connection.execute(
        text(f"INSERT INTO {EFFECTS} (event_id, asset_id, version, pid) VALUES (:e, :a, :v, :p)"),
        [
            {"e": event.event_id, "a": event.record.asset_id, "v": event.record.version, "p": os.getpid()}
            for event in events
        ],
    )


def writer(url: str, seconds: float, index: int) -> None:
    rng = random.Random(index)
    lifecycle = Lifecycle(open_database(url))
    platform = Platform(f"feed-writer-{index}")
    counts: Counter[str] = Counter()
    assets = {
        asset.asset_id: project_id
        for project_id in TENANTS
        for asset in lifecycle.list_assets(platform, project_id=project_id, limit=1000).items
    }
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        roll = rng.random()
        try:
            if roll < 0.05:
                project_id = rng.choice(TENANTS)
                created = lifecycle.create_asset(Tenant(project_id), new_asset(f"w{index}"))
                assets[created.asset_id] = project_id
                counts["created"] += 1
            elif roll < 0.08:
                project_id = rng.choice(TENANTS)
                lifecycle.freeze_tenant(platform, project_id)
                lifecycle.unfreeze_tenant(platform, project_id)
                counts["tenant_wide"] += 1
            else:
                asset_id = rng.choice(list(assets))
                lifecycle.fire(Tenant(assets[asset_id]), asset_id, rng.choice(EVENTS))
                counts["moved"] += 1
        except (TransitionNotAllowed, Conflict):
            counts["refused"] += 1
        except StoreBusy:
            counts["busy"] += 1
        except LifecycleError as error:
            counts[f"error {type(error).__name__}"] += 1
    print(json.dumps(counts), flush=True)


def consumer(url: str, name: str, block_at: int | None) -> None:
    lifecycle = Lifecycle(open_database(url))
    batches = {"n": 0}

    def handler(events: Sequence[FeedEvent], connection: Connection) -> None:
        record(events, connection)
        batches["n"] += 1
        if batches["n"] == block_at:
            print("BLOCKED", flush=True)
            threading.Event().wait()  # until killed, the batch's rows written, not committed

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    feed = lifecycle.consumer(name, handler, batch_size=7, poll_interval=timedelta(milliseconds=100))
    print("READY", flush=True)
    feed.run(stop)
    feed.catch_up(timedelta(minutes=5))  # the backlog a loaded machine left, committed before the stop
    print("DONE", flush=True)


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "writer":
        writer(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    else:
        consumer(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else None)
