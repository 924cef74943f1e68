"""The soak test: 8 processes doing mixed operations on shared assets against PostgreSQL while
sweeps run, then ``verify_audit`` clean and every invariant holding.

Not part of the default suite: ``pytest tests/test_soak.py --soak SECONDS`` (``.ci/run`` runs a
short form; ``docs/reliability.md`` records a 60-second run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, and_, func, select, text

from lifecycle.actors import System, Tenant
from lifecycle.definition import ApplicationState, AssetState, FileState, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.store.models import applications, assets, audit, files
from tests.conftest import POSTGRES_URL, TABLES, new_asset
from tests.soak_worker import SETTINGS, TENANTS

pytestmark = pytest.mark.soak

PROCESSES = 8
ASSETS_PER_TENANT = 50
SEED = 20261122
ROOT = Path(__file__).resolve().parent.parent


def _seed(lifecycle: Lifecycle) -> int:
    created = 0
    for project_id in TENANTS:
        tenant = Tenant(project_id)
        for n in range(ASSETS_PER_TENANT):
            asset = lifecycle.create_asset(tenant, new_asset(f"shared {n}"))
            if n % 3:
                lifecycle.confirm_upload(
                    tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED
                )
            created += 1
    return created


def test_eight_processes_of_mixed_operations_leave_a_verifiable_trail(
    postgres_engine: Engine, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = float(request.config.getoption("--soak"))
    assert POSTGRES_URL is not None
    with postgres_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    lifecycle = Lifecycle(postgres_engine, settings=SETTINGS)
    seeded = _seed(lifecycle)

    workers = [
        subprocess.Popen(  # noqa: S603 - our own worker module
            [sys.executable, "-m", "tests.soak_worker", POSTGRES_URL, str(seconds), str(SEED), str(index)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(PROCESSES)
    ]
    reports = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=seconds + 300)
        assert worker.returncode == 0, stderr
        reports.append(json.loads(stdout.strip().splitlines()[-1]))

    final = lifecycle.sweep()
    report = lifecycle.verify_audit(System())

    counts: Counter[str] = Counter()
    for worker_report in reports:
        counts.update(worker_report["counts"])
    retries = sum(worker_report["retries"] for worker_report in reports)
    elapsed = max(worker_report["seconds"] for worker_report in reports)
    errors = {name: n for name, n in counts.items() if name.startswith("error")}
    with postgres_engine.connect() as connection:
        total_assets = connection.execute(select(func.count()).select_from(assets)).scalar_one()
        total_rows = connection.execute(select(func.count()).select_from(audit)).scalar_one()
        pending_not_frozen = connection.execute(
            select(func.count())
            .select_from(applications.join(assets, applications.c.asset_id == assets.c.asset_id))
            .where(
                applications.c.state == ApplicationState.PENDING,
                assets.c.asset_state != AssetState.BLOCK,
                # deleted while frozen: still frozen, in the bin (docs/lifecycle.md)
                ~and_(assets.c.asset_state == AssetState.DELETING, assets.c.pre_freeze_state.is_not(None)),
            )
        ).scalar_one()
        live_files_of_deleted = connection.execute(
            select(func.count())
            .select_from(files.join(assets, files.c.asset_id == assets.c.asset_id))
            .where(assets.c.asset_state == AssetState.DELETED, files.c.state != FileState.DELETED)
        ).scalar_one()
        moves_by_sweeps = connection.execute(
            select(func.count()).select_from(audit).where(audit.c.actor_kind == "system")
        ).scalar_one()

    with capsys.disabled():
        print(
            f"\nsoak: {PROCESSES} processes x {seconds:g} s on PostgreSQL:"
            f" {counts['operations']:,} operations"
            f" ({counts['operations'] / elapsed:,.0f}/s), {counts['succeeded']:,} succeeded,"
            f" {counts['refused']:,} refused by the table, {counts['conflicts']:,} conflicts,"
            f" {retries:,} retries, {counts['busy']:,} busy past the bound, errors {errors or 0};"
            f" {moves_by_sweeps:,} moves by sweeps ({final.moved} in the final sweep);"
            f" {seeded} assets seeded, {total_assets:,} at the end, {total_rows:,} audit rows;"
            f" verify: {report.assets:,} assets, {report.rows:,} rows, clean={report.clean}"
            f" in {report.seconds:.2f} s"
        )
        for name, n in sorted(counts.items()):
            if name.startswith("succeeded: "):
                print(f"  {name.removeprefix('succeeded: ')}: {n:,}")

    assert report.clean, report.problems[:10]
    assert (report.assets, report.rows) == (total_assets, total_rows)
    assert not errors, errors
    assert pending_not_frozen == 0
    assert live_files_of_deleted == 0
    assert counts["operations"] > 0 and counts["succeeded"] > 0
    assert moves_by_sweeps > 0, "sweeps ran while the workers did"
