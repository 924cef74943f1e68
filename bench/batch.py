"""What a batch action and a tenant-wide freeze cost per asset, next to the same moves made one call
at a time, on SQLite and PostgreSQL.

* batch: ``Lifecycle.batch(tenant, ACTIVE | UNACTIVE, 500 ids)`` (one transaction: the rows read
  and locked in one statement, every move decided, one bulk guarded write with its audit rows)
  against 500 ``activate``/``deactivate`` calls (a transaction each), on two pools of 500 UNACTIVED
  assets, in alternating rounds; target: the batch at least 5x faster per asset.
* tenant-wide: ``freeze_tenant`` and ``unfreeze_tenant`` of a tenant with 10,000 assets (seeded in
  bulk), per asset, against ``freeze`` and ``unfreeze`` calls one asset at a time (on 500 assets of
  another tenant); target: the same 5x.

Both sides' audit trails are verified after the timing (``verify_audit``). A measurement, not a
test: it exits 0 whatever the figures, printing MET or MISSED per target.

Run: ``.venv/bin/python bench/batch.py [--sqlite-path PATH] [--postgres-url URL] [--only sqlite|postgresql]
[--rounds R] [--tenant-assets N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchdb import analyze, database_options, each_backend, target
from sqlalchemy import Engine, insert

from lifecycle.actors import Platform, Tenant
from lifecycle.chain import GENESIS, chain_hash
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    AssetState,
    AssetType,
    BatchAction,
    Event,
    FileCategory,
    FileState,
    Role,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile, canonical_md5
from lifecycle.store.repository import assets, audit, files

TARGET = 5.0
BATCH = 500
MD5 = "38b8c2c1093dd0fec383a9d9ac940515"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
PLATFORM = Platform("bench-operator")


def unactived(lifecycle: Lifecycle, tenant: Tenant, count: int) -> list[str]:
    ids = []
    for n in range(count):
        asset = lifecycle.create_asset(
            tenant,
            NewAsset(
                f"bench {n}",
                AssetType.IMAGE,
                [NewFile("image.png", 1000, MD5), NewFile("cover.png", 10, MD5, FileCategory.COVER)],
                activate_on_upload=False,
            ),
        )
        lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        ids.append(asset.asset_id)
    return ids


def seed_creating(database: Engine, project_id: str, count: int) -> None:
    """``count`` assets in CREATING, written in bulk as ``create_asset`` would write them."""
    created = NOW - timedelta(hours=1)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    creations = []
    for asset_id in ids:
        row: dict[str, Any] = {
            "asset_id": asset_id,
            "project_id": project_id,
            "seq": 1,
            "event": Event.CREATE,
            "from_state": None,
            "to_state": AssetState.CREATING,
            "actor_kind": Role.TENANT,
            "actor_id": project_id,
            "reason": None,
            "fail_type": None,
            "request_id": None,
            "occurred_at": created,
            "pre_freeze_state": None,
            "pre_delete_state": None,
        }
        row["chain_hash"] = chain_hash(GENESIS, row)
        creations.append(row)
    with database.begin() as connection:
        connection.execute(
            insert(assets),
            [
                {
                    "asset_id": c["asset_id"],
                    "project_id": project_id,
                    "app_user_id": None,
                    "asset_name": "seeded",
                    "asset_description": "",
                    "asset_type": AssetType.VIDEO,
                    "asset_state": AssetState.CREATING,
                    "version": 1,
                    "activate_on_upload": False,
                    "review_required": False,
                    "tags": [],
                    "system_properties": [],
                    "create_time": created,
                    "update_time": created,
                    "state_changed_at": created,
                    "upload_deadline": created + timedelta(days=1),
                    "audit_head": c["chain_hash"],
                }
                for c in creations
            ],
        )
        connection.execute(
            insert(files),
            [
                {
                    "file_id": str(uuid.uuid4()),
                    "asset_id": c["asset_id"],
                    "position": 0,
                    "file_name": "clip.mp4",
                    "file_md5": canonical_md5(MD5),
                    "file_size": 1000,
                    "file_type": "mp4",
                    "asset_file_category": FileCategory.MAIN,
                    "state": FileState.CREATING,
                    "create_time": created,
                    "update_time": created,
                }
                for c in creations
            ],
        )
        connection.execute(insert(audit), creations)


def timed(run: Callable[[], object], count: int) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / count


def measure(database: Engine, rounds: int, tenant_assets: int) -> dict[str, Any]:
    lifecycle = Lifecycle(database, clock=ManualClock(NOW))
    tenant = Tenant("bench-batch")
    started = time.perf_counter()
    singles, batched = unactived(lifecycle, tenant, BATCH), unactived(lifecycle, tenant, BATCH)
    frozen_one_by_one = unactived(lifecycle, Tenant("bench-frozen-singly"), BATCH)
    seed_creating(database, "bench-tenant-wide", tenant_assets)
    analyze(database)
    print(f"  {3 * BATCH} assets created, {tenant_assets} seeded, in {time.perf_counter() - started:.1f}s")

    single_s: list[float] = []
    batch_s: list[float] = []
    for round_number in range(rounds):
        move = lifecycle.activate if round_number % 2 == 0 else lifecycle.deactivate
        action = BatchAction.ACTIVE if round_number % 2 == 0 else BatchAction.UNACTIVE
        single_s.append(timed(lambda move=move: [move(tenant, asset_id) for asset_id in singles], BATCH))
        answers: list[Any] = []
        batch_s.append(
            timed(
                lambda action=action, answers=answers: answers.extend(
                    lifecycle.batch(tenant, action, batched)
                ),
                BATCH,
            )
        )
        assert all(answer.succeeded for answer in answers), answers[:3]

    freeze_single: list[float] = []
    freeze_tenant: list[float] = []
    for _ in range(max(1, rounds // 2)):
        for move in (lifecycle.freeze, lifecycle.unfreeze):
            freeze_single.append(
                timed(lambda move=move: [move(PLATFORM, asset_id) for asset_id in frozen_one_by_one], BATCH)
            )
        frozen = timed(lambda: lifecycle.freeze_tenant(PLATFORM, "bench-tenant-wide"), tenant_assets)
        unfrozen = timed(lambda: lifecycle.unfreeze_tenant(PLATFORM, "bench-tenant-wide"), tenant_assets)
        freeze_tenant.extend([frozen, unfrozen])

    report = lifecycle.verify_audit(PLATFORM)
    if not report.clean:
        raise SystemExit(f"audit trail broken: {report.problems[:3]}")
    median = statistics.median
    result = {
        "batch_assets": BATCH,
        "single_us_per_asset": round(median(single_s) * 1e6, 1),
        "batch_us_per_asset": round(median(batch_s) * 1e6, 1),
        "batch_speedup": round(median(single_s) / median(batch_s), 2),
        "tenant_assets": tenant_assets,
        "single_freeze_us_per_asset": round(median(freeze_single) * 1e6, 1),
        "tenant_wide_us_per_asset": round(median(freeze_tenant) * 1e6, 1),
        "tenant_wide_speedup": round(median(freeze_single) / median(freeze_tenant), 2),
        "audit_rows_verified": report.rows,
    }
    for name, speedup in (("batch", result["batch_speedup"]), ("tenant-wide", result["tenant_wide_speedup"])):
        verdict = "MET" if speedup >= TARGET else "MISSED"
        print(f"  {name}: {speedup:.1f}x faster per asset than one call each (target >= {TARGET}x) {verdict}")
    print(
        f"  batch {result['batch_us_per_asset']:.0f} µs/asset vs {result['single_us_per_asset']:.0f};"
        f" tenant-wide {result['tenant_wide_us_per_asset']:.0f} µs/asset"
        f" vs {result['single_freeze_us_per_asset']:.0f}"
    )
    return result


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        target(
            "batch: one call per asset / batch, time per asset",
            backend,
            result["batch_speedup"],
            at_least=TARGET,
        ),
        target(
            "tenant-wide freeze: one call per asset / tenant-wide, time per asset",
            backend,
            result["tenant_wide_speedup"],
            at_least=TARGET,
        ),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tenant-assets", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    each_backend(
        args, "batch.db", lambda database: measure(database, args.rounds, args.tenant_assets), targets=targets
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
