"""What the listing's filters cost: ``list_assets`` of one tenant among many, unfiltered (the
baseline) and with each of the platform's filters, on SQLite and PostgreSQL, in the same run.

``--tenants`` tenants (default 20) of ``--assets`` assets each (default 5,000: 100,000 assets), each
asset with a MAIN file, inserted in bulk (the listing reads rows, not histories). The tenant's
assets spread over the 13 asset types, 4 third-party users, 12 hours of creation times, names and
tags with a word that about one asset in fifty carries. Each listing asks for the first page of
50 (the SDK's default limit is 10; 50 reads more) and its total, ``--repeat`` times (default 50),
alternating with the baseline; reported: the median milliseconds of each, and each filter's over
the baseline's. The indexed filters (type, third-party user, creation window) should cost about
what the baseline does; the text filters (part of a name, part of a tag) read the tenant's rows
(no index serves a substring), so they grow with one tenant's assets, never with the table.

Run: ``.venv/bin/python bench/listing.py [--postgres-url URL] [--tenants N] [--assets N]
[--repeat N] [--only sqlite|postgresql] [--json PATH]``.
PostgreSQL's lifecycle tables are dropped and recreated: point it at a disposable database.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from benchdb import analyze, database_options, each_backend, target
from sqlalchemy import Engine, insert

from lifecycle.actors import Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, AssetType, FileCategory, FileState
from lifecycle.engine import Lifecycle
from lifecycle.store.database import WRITE
from lifecycle.store.repository import assets, files

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=True,
)

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MD5 = "OLjCwQk93Q/Dg6nZrJQFFQ=="
CHUNK = 5_000
INDEXED_TARGET = 3.0
"""An indexed filter's page, at most this many times the unfiltered page's time."""
TYPES = list(AssetType)


def seed(database: Engine, tenants: int, per_tenant: int) -> None:
    asset_rows: list[dict[str, Any]] = []
    file_rows: list[dict[str, Any]] = []

    def flush() -> None:
        with database.connect() as connection:
            connection.execution_options(**{WRITE: True})
            with connection.begin():
                connection.execute(insert(assets), asset_rows)
                connection.execute(insert(files), file_rows)
        asset_rows.clear()
        file_rows.clear()

    for tenant in range(tenants):
        for n in range(per_tenant):
            created = START + timedelta(seconds=n * 43_200 // per_tenant)
            asset_id = str(uuid.uuid4())
            rare = n % 50 == 0
            asset_rows.append(
                {
                    "asset_id": asset_id,
                    "project_id": f"tenant-{tenant}",
                    "app_user_id": f"user-{n % 4}",
                    "asset_name": f"{'Rare' if rare else 'Common'} asset {n}",
                    "asset_description": "",
                    "asset_type": TYPES[n % len(TYPES)],
                    "asset_state": AssetState.UNACTIVED,
                    "version": 2,
                    "activate_on_upload": False,
                    "review_required": False,
                    "tags": ["NEWS", "MALE", "RAREWORD" if rare else "EDUCATION"],
                    "asset_extra_meta": None,
                    "system_properties": [],
                    "asset_order": None,
                    "create_time": created,
                    "update_time": created,
                    "state_changed_at": created,
                    "upload_deadline": None,
                    "upload_time_left_us": None,
                    "retention_started_at": None,
                    "planned_operation": None,
                    "planned_operation_time": None,
                    "audit_head": "h",
                    "customized": False,
                }
            )
            file_rows.append(
                {
                    "file_id": str(uuid.uuid4()),
                    "asset_id": asset_id,
                    "position": 0,
                    "file_name": f"main-{n}.bin",
                    "file_md5": MD5,
                    "file_size": 1000,
                    "file_type": "bin",
                    "asset_file_category": FileCategory.MAIN,
                    "state": FileState.CREATED,
                    "reason": None,
                    "create_time": created,
                    "update_time": created,
                    "stored_at": created,
                    "timbre_model": False,
                    "deleted_at": None,
                }
            )
            if len(asset_rows) >= CHUNK:
                flush()
    if asset_rows:
        flush()
    analyze(database)


FILTERS: dict[str, dict[str, Any]] = {
    "asset type": {"asset_types": [AssetType.VIDEO]},
    "third-party user": {"app_user_id": "user-2"},
    "creation window (1 hour)": {
        "created_from": START + timedelta(hours=5),
        "created_to": START + timedelta(hours=6),
    },
    "part of the name": {"name": "rare"},
    "part of a tag": {"tag": "rarew"},
    "type, user and window": {
        "asset_types": [AssetType.VIDEO, AssetType.IMAGE],
        "app_user_id": "user-1",
        "created_from": START + timedelta(hours=2),
    },
}
INDEXED = ("asset type", "third-party user", "creation window (1 hour)", "type, user and window")


def _median_ms(call: Callable[[], object], times: list[float]) -> None:
    started = time.perf_counter()
    call()
    times.append((time.perf_counter() - started) * 1000)


def bench(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    print(f"  seeding {args.tenants} tenants x {args.assets:,} assets ...")
    seed(database, args.tenants, args.assets)
    lifecycle = Lifecycle(database, clock=ManualClock(START + timedelta(days=1)))
    tenant = Tenant("tenant-7")
    results: dict[str, Any] = {}
    for label, options in FILTERS.items():
        page = lifecycle.list_assets(tenant, **options)
        baseline: list[float] = []
        filtered: list[float] = []
        for _ in range(args.repeat):
            _median_ms(lambda: lifecycle.list_assets(tenant), baseline)
            _median_ms(lambda options=options: lifecycle.list_assets(tenant, **options), filtered)
        base, cost = statistics.median(baseline), statistics.median(filtered)
        results[label] = {
            "matches": page.total,
            "baseline_ms": round(base, 3),
            "filtered_ms": round(cost, 3),
            "ratio": round(cost / base, 3),
        }
        print(
            f"  {label:26} {page.total:6,} matches: {cost:8.2f} ms"
            f" (unfiltered {base:6.2f} ms; {cost / base:5.2f}x)"
        )
    return {"tenants": args.tenants, "assets_per_tenant": args.assets, "filters": results}


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        target(
            f"listing by {label} / unfiltered",
            backend,
            measured["ratio"],
            at_most=INDEXED_TARGET if label in INDEXED else None,
        )
        for label, measured in result["filters"].items()
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--assets", type=int, default=5_000, help="assets per tenant")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one backend only")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    each_backend(args, "listing.db", lambda database: bench(database, args), targets=targets)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
