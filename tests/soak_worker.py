"""One process of the soak test (``tests/test_soak.py``): mixed operations on shared assets.

``python -m tests.soak_worker URL SECONDS SEED INDEX`` runs random operations of every kind
against the assets of the soak tenants until SECONDS have passed, sweeping now and then (worker 0
often), and prints one JSON line of counts: what it did, what the table refused, conflicts
(lost races, a typed error), retries, and errors (anything else: there must be none).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from lifecycle.actors import Platform, System, Tenant
from lifecycle.definition import BatchAction, PlannedOperation, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    ApplicationNotPending,
    Conflict,
    LifecycleError,
    StoreBusy,
    TransitionNotAllowed,
    UnfreezeAlreadyPending,
)
from lifecycle.inputs import AutoOperation
from lifecycle.settings import Settings
from lifecycle.store.database import open_database
from tests.conftest import new_asset

TENANTS = tuple(f"soak-{n}" for n in range(4))
SETTINGS = Settings(upload_window=timedelta(seconds=3), recycle_retention=timedelta(seconds=5))
"""Short windows, so that time makes moves due while the soak runs."""
REFUSALS = (TransitionNotAllowed, UnfreezeAlreadyPending, ApplicationNotPending)


class Worker:
    def __init__(self, lifecycle: Lifecycle, rng: random.Random, index: int) -> None:
        self.lifecycle = lifecycle
        self.rng = rng
        self.index = index
        self.platform = Platform(f"soak-operator-{index}")
        self.counts: Counter[str] = Counter()
        self.assets: dict[str, str] = {}  # asset id -> tenant
        self.created: list[str] = []
        self.refresh()

    def refresh(self) -> None:
        for project_id in TENANTS:
            page = self.lifecycle.list_assets(self.platform, project_id=project_id, limit=1000)
            self.assets.update({asset.asset_id: project_id for asset in page.items})

    def pick(self) -> tuple[Tenant, str]:
        asset_id = self.rng.choice(list(self.assets))
        return Tenant(self.assets[asset_id]), asset_id

    def operations(self) -> list[tuple[int, str, Callable[[], object]]]:
        return [
            (14, "activate", lambda: self.lifecycle.activate(*self.pick())),
            (10, "deactivate", lambda: self.lifecycle.deactivate(*self.pick())),
            (10, "delete", lambda: self.lifecycle.delete(*self.pick())),
            (8, "restore", lambda: self.lifecycle.restore(*self.pick())),
            (2, "delete_force", self.delete_force),
            (5, "freeze", lambda: self.lifecycle.freeze(self.platform, self.pick()[1], reason="soak")),
            (5, "unfreeze", lambda: self.lifecycle.unfreeze(self.platform, self.pick()[1], reason="soak")),
            (8, "create", self.create),
            (8, "confirm_upload", self.confirm_upload),
            (6, "expected_version", self.move_at_version),
            (4, "batch", self.batch),
            (4, "application", self.application),
            (1, "tenant_freeze", self.tenant_freeze),
            (10, "read", self.read),
            (
                5 if self.index == 0 else 1,
                "sweep",
                lambda: self.lifecycle.sweep(actor=System(f"soak-{self.index}")),
            ),
        ]

    def delete_force(self) -> object:
        tenant, asset_id = self.pick()
        return self.lifecycle.delete(tenant, asset_id, force=True)

    def create(self) -> object:
        tenant = Tenant(self.rng.choice(TENANTS))
        plan = None
        if self.rng.random() < 0.3:
            operation = self.rng.choice(list(PlannedOperation))
            at = datetime.now(UTC) + timedelta(seconds=self.rng.uniform(0.5, 4))
            plan = AutoOperation(operation, at)
        asset = self.lifecycle.create_asset(tenant, new_asset(f"soak {self.index}", auto_operation=plan))
        self.assets[asset.asset_id] = tenant.project_id
        self.created.append(asset.asset_id)
        return asset

    def confirm_upload(self) -> object:
        """Mostly an asset this worker created lately (still CREATING unless time or a move beat it)."""
        tenant, asset_id = self.pick()
        if self.created and self.rng.random() < 0.8:
            asset_id = self.created.pop(self.rng.randrange(len(self.created)))
            tenant = Tenant(self.assets[asset_id])
        asset = self.lifecycle.get_asset(tenant, asset_id)
        result = self.rng.choice([UploadResult.CREATED] * 4 + [UploadResult.FAILED])
        return self.lifecycle.confirm_upload(tenant, asset_id, asset.main_file.file_id, result)

    def move_at_version(self) -> object:
        """Read, then move at the version read: a race with another worker is a ``Conflict``."""
        tenant, asset_id = self.pick()
        version = self.lifecycle.get_asset(tenant, asset_id).version
        event = self.rng.choice([self.lifecycle.activate, self.lifecycle.deactivate, self.lifecycle.delete])
        return event(tenant, asset_id, expected_version=version)

    def batch(self) -> object:
        tenant = Tenant(self.rng.choice(TENANTS))
        mine = [asset_id for asset_id, owner in self.assets.items() if owner == tenant.project_id]
        chosen = self.rng.sample(mine, min(5, len(mine)))
        results = self.lifecycle.batch(tenant, self.rng.choice(list(BatchAction)), chosen)
        self.counts["batch_items_failed"] += sum(result.status == "FAILED" for result in results)
        return results

    def application(self) -> object:
        tenant, asset_id = self.pick()
        application = self.lifecycle.apply_for_unfreeze(tenant, asset_id, reason="soak")
        if self.rng.random() < 0.7:
            return self.lifecycle.approve_unfreeze(self.platform, application.application_id)
        return self.lifecycle.reject_unfreeze(self.platform, application.application_id)

    def tenant_freeze(self) -> object:
        project_id = self.rng.choice(TENANTS)
        self.lifecycle.freeze_tenant(self.platform, project_id, reason="soak")
        return self.lifecycle.unfreeze_tenant(self.platform, project_id, reason="soak")

    def read(self) -> object:
        tenant, asset_id = self.pick()
        self.lifecycle.history(tenant, asset_id)
        return self.lifecycle.get_asset(tenant, asset_id)

    def run(self, seconds: float) -> dict[str, object]:
        operations = self.operations()
        weights = [weight for weight, _, _ in operations]
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            _, name, operation = self.rng.choices(operations, weights)[0]
            self.counts["operations"] += 1
            try:
                operation()
            except Conflict:
                self.counts["conflicts"] += 1
            except REFUSALS:
                self.counts["refused"] += 1
            except StoreBusy as error:
                self.counts["busy"] += 1
                self.counts[f"error: {error.code}"] += 1
            except LifecycleError as error:
                self.counts[f"error: {error.code}: {error}"] += 1
            else:
                self.counts["succeeded"] += 1
                self.counts[f"succeeded: {name}"] += 1
        elapsed = time.monotonic() - started
        return {
            "worker": self.index,
            "seconds": round(elapsed, 3),
            "retries": self.lifecycle.transaction_retries,
            "counts": dict(self.counts),
        }


def main() -> None:
    url, seconds, seed, index = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lifecycle = Lifecycle(open_database(url, pool_size=2), settings=SETTINGS)
    worker = Worker(lifecycle, random.Random(seed * 100 + index), index)
    print(json.dumps(worker.run(seconds)), flush=True)


if __name__ == "__main__":
    main()
