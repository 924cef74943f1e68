"""``verify_audit`` checks every column that decides who may act on an asset, where it stands and what
time will do to it, and its files' declarations, against what the audit trail records or implies.

Each column is edited behind the engine's back (as someone with the database's keys could) and must
be reported, naming the column, on that asset alone. docs/reliability.md ("What verify checks")
lists every column of the asset and file rows with how it is known, or why it is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetType, FailType, FileCategory, PlannedOperation, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from lifecycle.integrity import COLUMN_CHECKS, ProblemKind
from lifecycle.store.models import assets, files
from tests.conftest import MD5, new_asset

pytestmark = pytest.mark.facades

TENANT = Tenant("tenant-a")
OTHER = Tenant("tenant-b")
PLATFORM = Platform("operator-7")


@dataclass(frozen=True)
class Assets:
    tenant_frozen: str
    binned: str
    planned: str
    rejected: str
    customized: str


def _uploaded(lifecycle: Lifecycle, name: str, **options: Any) -> str:
    asset = lifecycle.create_asset(TENANT, new_asset(name, **options))
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


@pytest.fixture
def subjects(lifecycle: Lifecycle, clock: ManualClock) -> Assets:
    frozen = _uploaded(lifecycle, "frozen with its tenant")
    lifecycle.freeze_tenant(PLATFORM, TENANT.project_id, reason="unpaid", block_reason_code="BILLING")
    lifecycle.unfreeze(PLATFORM, frozen)  # the others stay frozen on their own; refreeze it below
    binned = _uploaded(lifecycle, "binned")
    lifecycle.delete(TENANT, binned)
    lifecycle.freeze_tenant(PLATFORM, TENANT.project_id, reason="unpaid again", block_reason_code="BILLING")
    clock.advance(timedelta(hours=1))
    planned = lifecycle.create_asset(
        TENANT,
        new_asset(
            "planned",
            auto_operation=AutoOperation(PlannedOperation.DELETE, clock.now() + timedelta(days=3)),
        ),
    ).asset_id
    rejected_asset = lifecycle.create_asset(TENANT, new_asset("rejected", review_required=True))
    lifecycle.confirm_upload(
        TENANT, rejected_asset.asset_id, rejected_asset.main_file.file_id, UploadResult.CREATED
    )
    lifecycle.reject_review(PLATFORM, rejected_asset.asset_id, FailType.MANUAL_REVIEW_REJECT, reason="blurry")
    video = NewAsset(
        "made to order",
        AssetType.VIDEO,
        [NewFile("clip.mp4", 5_000, MD5), NewFile("cover.png", 300, MD5, FileCategory.COVER)],
        customized=True,
    )
    customized = lifecycle.create_asset(PLATFORM, video, project_id=OTHER.project_id)
    lifecycle.confirm_upload(OTHER, customized.asset_id, customized.main_file.file_id, UploadResult.CREATED)
    subjects = Assets(frozen, binned, planned, rejected_asset.asset_id, customized.asset_id)
    report = lifecycle.verify_audit(System())
    assert report.clean, report.problems
    return subjects


LATER = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ASSET_TAMPERINGS: list[tuple[str, str, object]] = [
    ("customized", "project_id", "tenant-a"),  # handed to another tenant
    ("tenant_frozen", "block_scope", "ASSET"),  # a tenant-wide unfreeze would leave it frozen
    ("tenant_frozen", "block_reason_code", "OTHER"),
    ("tenant_frozen", "reason", "nothing happened"),
    ("binned", "retention_started_at", LATER - timedelta(days=30)),  # purged at the next sweep
    ("planned", "upload_time_left_us", 3_600_000_000),
    ("planned", "upload_deadline", LATER),  # timed out at the next sweep
    ("planned", "planned_operation_time", LATER),
    ("planned", "planned_operation", "BLOCK"),
    ("planned", "activate_on_upload", True),
    ("planned", "review_required", True),
    ("planned", "create_time", LATER - timedelta(days=200)),
    ("planned", "asset_type", "IMAGE"),
    ("rejected", "fail_type", "AUTOMATIC_REVIEW_REJECT"),
    ("rejected", "state_changed_at", LATER),
    ("customized", "customized", False),  # billed from day one
]


@pytest.mark.parametrize(
    ("subject", "column", "value"), ASSET_TAMPERINGS, ids=[f"{s}.{c}" for s, c, _ in ASSET_TAMPERINGS]
)
def test_an_edited_asset_column_is_reported_on_that_asset_alone(
    lifecycle: Lifecycle, database: Engine, subjects: Assets, subject: str, column: str, value: object
) -> None:
    asset_id = getattr(subjects, subject)
    with database.begin() as connection:
        connection.execute(update(assets).where(assets.c.asset_id == asset_id).values({column: value}))
    problems = lifecycle.verify_audit(System()).problems
    assert {problem.asset_id for problem in problems} == {asset_id}
    assert {problem.kind for problem in problems} == {ProblemKind.COLUMN_MISMATCH}, problems
    assert any(column in problem.detail for problem in problems), problems


def test_an_asset_handed_to_another_tenant_is_reported_even_for_its_new_tenant(
    lifecycle: Lifecycle, database: Engine, subjects: Assets
) -> None:
    with database.begin() as connection:
        connection.execute(
            update(assets).where(assets.c.asset_id == subjects.customized).values(project_id="tenant-c")
        )
    mine = lifecycle.verify_audit(System(), project_id="tenant-c")
    assert [(problem.asset_id, problem.kind) for problem in mine.problems] == [
        (subjects.customized, ProblemKind.COLUMN_MISMATCH)
    ]
    assert "tenant 'tenant-b'" in mine.problems[0].detail


FILE_TAMPERINGS: list[tuple[FileCategory, str, object]] = [
    (FileCategory.COVER, "file_size", 1),  # what storage billing sums
    (FileCategory.MAIN, "file_size", 10**9),
    (FileCategory.MAIN, "file_md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
    (FileCategory.COVER, "timbre_model", True),  # exempt from billing
    (FileCategory.COVER, "asset_file_category", "OTHER"),
    (FileCategory.MAIN, "stored_at", LATER),
    (FileCategory.MAIN, "state", "CREATING"),
]


@pytest.mark.parametrize(
    ("category", "column", "value"),
    FILE_TAMPERINGS,
    ids=[f"{c.value}.{column}" for c, column, _ in FILE_TAMPERINGS],
)
def test_an_edited_file_column_is_reported_on_its_asset(
    lifecycle: Lifecycle,
    database: Engine,
    subjects: Assets,
    category: FileCategory,
    column: str,
    value: object,
) -> None:
    asset_id = subjects.customized
    with database.begin() as connection:
        connection.execute(
            update(files)
            .where(files.c.asset_id == asset_id, files.c.asset_file_category == category)
            .values({column: value})
        )
    problems = lifecycle.verify_audit(System()).problems
    assert {(problem.asset_id, problem.kind) for problem in problems} == {
        (asset_id, ProblemKind.COLUMN_MISMATCH)
    }
    assert any(column in problem.detail for problem in problems), problems


def test_a_file_added_or_removed_behind_the_engines_back_is_reported(
    lifecycle: Lifecycle, database: Engine, subjects: Assets
) -> None:
    with database.begin() as connection:
        connection.execute(
            update(files)
            .where(files.c.asset_id == subjects.planned, files.c.asset_file_category == FileCategory.COVER)
            .values(asset_id=subjects.rejected)
        )
    details = {(p.asset_id, p.detail) for p in lifecycle.verify_audit(System()).problems}
    assert {asset_id for asset_id, _ in details} == {subjects.planned, subjects.rejected}
    assert any("missing" in detail for asset_id, detail in details if asset_id == subjects.planned)
    assert any("never declared" in detail for asset_id, detail in details if asset_id == subjects.rejected)


def test_every_checked_column_is_a_column_of_the_asset_row() -> None:
    assert set(COLUMN_CHECKS) <= set(assets.c.keys())
