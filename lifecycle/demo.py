"""The main job: an end-to-end run on an embedded SQLite file, printing what happened.

``python -m lifecycle.demo [PATH]`` (``make demo``) starts from an empty database each time, seeds
a few tenants, drives assets through every kind of move (uploads, reviews, the tenant's switch,
the recycle bin, freezes of one asset and of a whole tenant, an unfreeze out of the recycle bin),
lets time pass on an injected clock, fires the moves time makes, and prints the counts per state
and one asset's audit trail.
"""

from __future__ import annotations

import logging
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    AssetState,
    AssetType,
    BatchAction,
    Event,
    FailType,
    FileCategory,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.results import Asset

DEFAULT_PATH = Path("lifecycle-demo.db")
PLATFORM = Platform("ops-alice")
SYSTEM = System()
TENANTS = 6
ASSETS_PER_TENANT = 80


def _new_asset(rng: random.Random, index: int) -> NewAsset:
    asset_type = rng.choice((AssetType.VIDEO, AssetType.IMAGE, AssetType.HUMAN_MODEL, AssetType.VOICE_MODEL))
    extra = FileCategory.SAMPLE if asset_type is AssetType.VOICE_MODEL else FileCategory.COVER
    md5 = f"{rng.getrandbits(128):032x}"
    return NewAsset(
        asset_name=f"{asset_type.value.lower()} {index}",
        asset_type=asset_type,
        files=[
            NewFile(f"main-{index}.bin", rng.randint(1_000, 50_000_000), md5),
            NewFile(f"extra-{index}.png", rng.randint(1_000, 500_000), md5, extra),
        ],
        review_required=index % 7 == 0,
        activate_on_upload=index % 3 == 0,
        tags=["demo"],
    )


def run(path: Path = DEFAULT_PATH, *, seed: int = 7) -> dict[str, int]:
    """Run the scenario on a fresh database at ``path``; return the counts per state."""
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    rng = random.Random(seed)  # noqa: S311 - a reproducible scenario, not a secret
    clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    print(f"lifecycle demo on sqlite:///{path} (clock starts {clock.now():%Y-%m-%d %H:%M} UTC)")
    with Lifecycle(f"sqlite:///{path}", clock=clock) as lifecycle:
        lifecycle.upgrade()
        tenants = [Tenant(f"tenant-{n:02d}") for n in range(TENANTS)]
        _upload_everything(lifecycle, rng, _seed(lifecycle, rng, tenants))
        featured = _drive_one_asset_everywhere(lifecycle, clock, tenants[0])
        _bin_and_freeze(lifecycle, tenants)
        clock.advance(timedelta(days=8))
        _let_time_move(lifecycle, tenants)
        return _report(lifecycle, tenants, featured)


def _seed(lifecycle: Lifecycle, rng: random.Random, tenants: list[Tenant]) -> list[tuple[Tenant, Asset]]:
    created = [
        (tenant, lifecycle.create_asset(tenant, _new_asset(rng, index)))
        for tenant in tenants
        for index in range(ASSETS_PER_TENANT)
    ]
    print(f"created {len(created)} assets for {len(tenants)} tenants")
    return created


def _upload_everything(lifecycle: Lifecycle, rng: random.Random, created: list[tuple[Tenant, Asset]]) -> None:
    moves: Counter[str] = Counter()
    for tenant, asset in created:
        roll, main = rng.random(), asset.main_file
        if roll < 0.15:
            continue  # never uploaded: the upload timeout will fail it
        result = UploadResult.FAILED if roll < 0.20 else UploadResult.CREATED
        declared_size = main.file_size + 1 if 0.20 <= roll < 0.25 else None  # a mismatching upload
        confirmed = lifecycle.confirm_upload(
            tenant, asset.asset_id, main.file_id, result, file_size=declared_size
        )
        moved = confirmed.transition
        assert moved is not None, "the MAIN file's confirmation always moves its asset"
        moves[moved.event.value] += 1
        if moved.event is Event.SUBMIT_FOR_REVIEW and rng.random() < 0.8:
            moves[lifecycle.pass_review(PLATFORM, asset.asset_id).event.value] += 1
        elif moved.event is Event.SUBMIT_FOR_REVIEW:
            rejected = lifecycle.reject_review(
                PLATFORM, asset.asset_id, FailType.MANUAL_REVIEW_REJECT, reason="title"
            )
            moves[rejected.event.value] += 1
    print("uploads and reviews: " + ", ".join(f"{name} {count}" for name, count in sorted(moves.items())))


def _drive_one_asset_everywhere(lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant) -> Asset:
    """Active, frozen, deleted while frozen, restored (still frozen), unfrozen, deleted, frozen in
    the bin, then unfrozen out of the bin through an application: to its pre-delete state."""
    featured = lifecycle.list_assets(tenant, states=[AssetState.UNACTIVED], limit=1).items[0]
    lifecycle.activate(tenant, featured.asset_id, request_id="req-activate")
    clock.advance(timedelta(hours=2))
    lifecycle.freeze(PLATFORM, featured.asset_id, reason="complaint about content", block_reason_code="C-001")
    lifecycle.delete(tenant, featured.asset_id)
    lifecycle.restore(tenant, featured.asset_id)
    lifecycle.unfreeze(PLATFORM, featured.asset_id, reason="complaint withdrawn")
    lifecycle.delete(tenant, featured.asset_id)
    lifecycle.freeze(PLATFORM, featured.asset_id, reason="second complaint")
    application = lifecycle.apply_for_unfreeze(tenant, featured.asset_id, reason="the content is licensed")
    lifecycle.approve_unfreeze(PLATFORM, application.application_id, reason="licence checked")
    return featured


def _bin_and_freeze(lifecycle: Lifecycle, tenants: list[Tenant]) -> None:
    tenant = tenants[0]
    unactived = lifecycle.list_assets(tenant, states=[AssetState.UNACTIVED], limit=30).items
    batch = lifecycle.batch(
        tenant, BatchAction.ACTIVE, [a.asset_id for a in unactived[:10]] + ["no-such-asset"]
    )
    print(f"batch ACTIVE over 11 assets: {dict(Counter(r.status for r in batch))}")
    binned = lifecycle.batch(tenant, BatchAction.DELETE, [a.asset_id for a in unactived[10:20]])
    lifecycle.delete(tenant, unactived[20].asset_id, force=True)
    print(f"recycle bin: {sum(r.succeeded for r in binned)} deleted, 1 deleted for good")
    frozen = lifecycle.freeze_tenant(PLATFORM, tenants[1].project_id, reason="tenant-wide investigation")
    print(f"tenant-wide freeze of {tenants[1].project_id}: {len(frozen.moved)} frozen")
    unfrozen = lifecycle.unfreeze_tenant(PLATFORM, tenants[1].project_id, reason="investigation closed")
    print(f"tenant-wide unfreeze: {len(unfrozen.moved)} back where each was")
    lifecycle.freeze_tenant(PLATFORM, tenants[2].project_id, reason="unpaid bills")


def _let_time_move(lifecycle: Lifecycle, tenants: list[Tenant]) -> None:
    """The moves time makes: one sweep, as the scheduler runs it, after eight days."""
    report = lifecycle.sweep(batch_size=200)
    moved = ", ".join(f"{rule.rule} {rule.moved}" for rule in report.rules)
    print(f"8 days later, one sweep ({report.batches} batches, {report.seconds * 1000:.0f} ms): {moved}")


def _report(lifecycle: Lifecycle, tenants: list[Tenant], featured: Asset) -> dict[str, int]:
    counts = {
        state.value: sum(
            lifecycle.list_assets(PLATFORM, project_id=t.project_id, states=[state], limit=1).total
            for t in tenants
        )
        for state in AssetState
    }
    print("\nassets per state:")
    for state, count in counts.items():
        print(f"  {state:<10} {count:>5}")
    print(f"\naudit trail of asset {featured.asset_id} ({featured.asset_name}):")
    for entry in lifecycle.history(PLATFORM, featured.asset_id):
        source = entry.from_state.value if entry.from_state else "-"
        remembered = [("pre_freeze", entry.pre_freeze_state), ("pre_delete", entry.pre_delete_state)]
        memory = ", ".join(f"{name}={state.value}" for name, state in remembered if state is not None)
        print(
            f"  {entry.seq:>2} {entry.occurred_at:%Y-%m-%d %H:%M} {entry.event.value:<17}"
            f" {source:>9} -> {entry.to_state.value:<9} by {entry.actor_kind.value}:{entry.actor_id}"
            + (f"  [{memory}]" if memory else "")
            + (f"  ({entry.reason})" if entry.reason else "")
        )
    return counts


def main(argv: list[str] | None = None) -> int:
    # The demo is an application, so it may configure logging: warnings only, on stderr.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    args = sys.argv[1:] if argv is None else argv
    run(Path(args[0]) if args else DEFAULT_PATH)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
