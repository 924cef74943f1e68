"""Storage usage and billing (docs/billing.md): each rule pinned, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from lifecycle.actors import Platform, Tenant
from lifecycle.billing import (
    DEFAULT_FREE_BYTES,
    GIB,
    Exemption,
    Reason,
    StoragePolicy,
    add_months,
    billed_if_created_before,
    free_until,
)
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, AssetType, FailType, FileCategory, FileState, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    AssetNotFound,
    InvalidParameter,
    PermissionDenied,
    StorageAllowanceExceeded,
    TransitionNotAllowed,
)
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.results import Asset
from lifecycle.settings import Settings
from lifecycle.store.models import assets, audit, files
from tests.conftest import MD5, START

pytestmark = pytest.mark.facades

TENANT = Tenant("storage-a")
OTHER = Tenant("storage-b")
PLATFORM = Platform("billing-operator")
MB = 1_000_000


def _asset(
    asset_type: AssetType = AssetType.IMAGE,
    *,
    main: int = 10 * MB,
    others: tuple[tuple[FileCategory, int, bool], ...] = (),
    customized: bool = False,
    name: str = "asset",
) -> NewAsset:
    declared = [NewFile("main.bin", main, MD5)]
    declared += [
        NewFile(f"file{n}.bin", size, MD5, category, timbre_model=timbre)
        for n, (category, size, timbre) in enumerate(others)
    ]
    return NewAsset(asset_name=name, asset_type=asset_type, files=declared, customized=customized)


class Assets:
    """Assets made through the engine's public calls, for one tenant."""

    def __init__(self, lifecycle: Lifecycle, tenant: Tenant = TENANT) -> None:
        self.lifecycle = lifecycle
        self.tenant = tenant

    def create(self, new: NewAsset) -> Asset:
        """As the tenant; a customized asset as the platform, which alone may mark one."""
        if new.customized:
            return self.lifecycle.create_asset(PLATFORM, new, project_id=self.tenant.project_id)
        return self.lifecycle.create_asset(self.tenant, new)

    def created(self, new: NewAsset | None = None) -> str:
        return self.create(new or _asset()).asset_id

    def uploaded(self, new: NewAsset | None = None, *, every_file: bool = True) -> str:
        asset = self.create(new or _asset())
        for f in asset.files:
            if f.asset_file_category is FileCategory.MAIN or every_file:
                self.lifecycle.confirm_upload(self.tenant, asset.asset_id, f.file_id, UploadResult.CREATED)
        return asset.asset_id

    def in_state(self, state: AssetState, new: NewAsset | None = None) -> str:
        """An asset whose MAIN file was uploaded (10 MB by default), then moved to ``state``."""
        lc, tenant = self.lifecycle, self.tenant
        if state is AssetState.FAILED:
            asset = lc.create_asset(
                tenant, NewAsset("f", AssetType.IMAGE, [NewFile("m.bin", 10 * MB, MD5)], review_required=True)
            )
            lc.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
            lc.reject_review(PLATFORM, asset.asset_id, FailType.MANUAL_REVIEW_REJECT)
            return asset.asset_id
        asset_id = self.uploaded(new)
        if state is AssetState.ACTIVED:
            lc.activate(tenant, asset_id)
        elif state is AssetState.DELETING:
            lc.delete(tenant, asset_id)
        elif state is AssetState.DELETED:
            lc.delete(tenant, asset_id, force=True)
        elif state is AssetState.BLOCK:
            lc.freeze(PLATFORM, asset_id)
        else:
            assert state is AssetState.UNACTIVED
        return asset_id


def _report(lifecycle: Lifecycle, tenant: Tenant = TENANT, **options: object):  # type: ignore[no-untyped-def]
    [found] = lifecycle.storage_report(PLATFORM, project_id=tenant.project_id, **options).tenants  # type: ignore[arg-type]
    return found


@pytest.fixture
def made(lifecycle: Lifecycle) -> Assets:
    return Assets(lifecycle)


# What counts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [s for s in AssetState if s is not AssetState.CREATING])
def test_storage_counts_until_the_asset_is_deleted_for_good(
    lifecycle: Lifecycle, made: Assets, state: AssetState
) -> None:
    """Frozen assets and assets in the recycle bin count; failed ones too (their upload was
    accepted before the review failed); DELETED ones do not."""
    asset_id = made.in_state(state)
    assert lifecycle.get_asset(TENANT, asset_id).asset_state is state
    report = _report(lifecycle)
    expected = 0 if state is AssetState.DELETED else 10 * MB
    assert (report.used_bytes, report.chargeable_bytes) == (expected, expected)
    assert report.by_state[state].used_bytes == expected
    assert report.by_state[state].assets == 1
    assert lifecycle.asset_storage(TENANT, asset_id).billed is (state is not AssetState.DELETED)


def test_a_file_counts_once_its_upload_is_accepted_not_before(lifecycle: Lifecycle, made: Assets) -> None:
    cover = (FileCategory.COVER, 2 * MB, False)
    asset = lifecycle.create_asset(TENANT, _asset(others=(cover,)))
    assert _report(lifecycle).used_bytes == 0, "declared is not stored"
    [main, cover_file] = asset.files
    lifecycle.confirm_upload(TENANT, asset.asset_id, cover_file.file_id, UploadResult.CREATED)
    assert _report(lifecycle).by_state[AssetState.CREATING].used_bytes == 2 * MB, "a cover while CREATING"
    lifecycle.confirm_upload(TENANT, asset.asset_id, main.file_id, UploadResult.CREATED)
    assert _report(lifecycle).used_bytes == 12 * MB


@pytest.mark.parametrize(
    ("result", "size"),
    [(UploadResult.FAILED, None), (UploadResult.CANCELLED, None), (UploadResult.CREATED, 123)],
    ids=["failed", "cancelled", "differs-from-its-declaration"],
)
def test_an_upload_that_did_not_succeed_takes_no_storage(
    lifecycle: Lifecycle, result: UploadResult, size: int | None
) -> None:
    asset = lifecycle.create_asset(TENANT, _asset(others=((FileCategory.COVER, 2 * MB, False),)))
    for f in asset.files:
        lifecycle.confirm_upload(TENANT, asset.asset_id, f.file_id, result, file_size=size)
    stored = lifecycle.get_asset(TENANT, asset.asset_id)
    assert all(f.stored_at is None for f in stored.files)
    assert _report(lifecycle).used_bytes == 0
    verdict = lifecycle.asset_storage(TENANT, asset.asset_id)
    assert [code for code, _ in verdict.reasons] == [Reason.NOTHING_STORED]
    assert not verdict.billed


def test_a_timed_out_upload_takes_no_storage(database: Engine, clock: ManualClock) -> None:
    lifecycle = Lifecycle(database, clock=clock)
    asset_id = Assets(lifecycle).created()
    clock.advance(timedelta(hours=25))
    lifecycle.sweep()
    assert lifecycle.get_asset(TENANT, asset_id).asset_state is AssetState.FAILED
    assert _report(lifecycle).used_bytes == 0


# Exemptions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_model", [AssetType.HUMAN_MODEL, AssetType.HUMAN_MODEL_2D])
def test_the_timbre_models_of_a_customized_image_model_are_not_billed(
    lifecycle: Lifecycle, made: Assets, image_model: AssetType
) -> None:
    timbre = (FileCategory.OTHER, 3 * MB, True)
    mask = (FileCategory.OTHER, 1 * MB, False)
    asset_id = made.uploaded(_asset(image_model, others=(timbre, mask), customized=True))
    report = _report(lifecycle)
    assert (report.used_bytes, report.total.exempt_bytes, report.chargeable_bytes) == (
        14 * MB,
        3 * MB,
        11 * MB,
    )
    assert report.exempt[Exemption.TIMBRE_MODEL] == 3 * MB
    assert report.by_type[image_model].exempt_bytes == 3 * MB
    verdict = lifecycle.asset_storage(TENANT, asset_id)
    assert [f.exemption for f in verdict.files] == [None, Exemption.TIMBRE_MODEL, None]
    assert [code for code, _ in verdict.reasons] == [Reason.COUNTS, Reason.TIMBRE_MODELS_FREE]
    assert verdict.billed, "the image model itself is billed"


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        (_asset(AssetType.HUMAN_MODEL, others=((FileCategory.OTHER, MB, True),)), "customized"),
        (
            _asset(AssetType.VOICE_MODEL, others=((FileCategory.OTHER, MB, True),), customized=True),
            "image model",
        ),
        (_asset(AssetType.HUMAN_MODEL, others=((FileCategory.COVER, MB, True),), customized=True), "OTHER"),
    ],
    ids=["not-customized", "not-an-image-model", "not-an-other-file"],
)
def test_timbre_models_belong_to_customized_image_models_only(
    lifecycle: Lifecycle, database: Engine, new: NewAsset, problem: str
) -> None:
    with pytest.raises(InvalidParameter, match=problem) as refused:
        lifecycle.create_asset(PLATFORM, new, project_id=TENANT.project_id)
    assert refused.value.field == "timbre_model"
    with database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(assets)).scalar_one() == 0


def test_only_the_platform_marks_an_asset_customized_and_the_audit_trail_says_who(
    lifecycle: Lifecycle, database: Engine
) -> None:
    """Customized storage is free: the tenant billed for it may not grant itself that."""
    video = _asset(AssetType.VIDEO, customized=True)
    model = _asset(AssetType.HUMAN_MODEL, others=((FileCategory.OTHER, MB, True),), customized=True)
    for new in (video, model):
        with pytest.raises(PermissionDenied, match="may not 'create a customized asset'"):
            lifecycle.create_asset(TENANT, new)
    assert _counts(database) == (0, 0, 0)
    with pytest.raises(PermissionDenied, match="another tenant"):
        lifecycle.create_asset(TENANT, _asset(), project_id=OTHER.project_id)
    with pytest.raises(InvalidParameter, match="project_id"):
        lifecycle.create_asset(PLATFORM, video)
    made = lifecycle.create_asset(PLATFORM, video, project_id=TENANT.project_id)
    assert (made.project_id, made.customized) == (TENANT.project_id, True)
    [creation] = lifecycle.history(TENANT, made.asset_id)
    assert (creation.actor_kind.value, creation.actor_id) == ("platform", PLATFORM.operator)
    plain = lifecycle.create_asset(TENANT, _asset())
    assert not plain.customized


def test_a_customized_video_is_free_for_six_months_to_the_microsecond(
    database: Engine, clock: ManualClock
) -> None:
    lifecycle = Lifecycle(database, clock=clock)
    video = Assets(lifecycle).uploaded(_asset(AssetType.VIDEO, main=50 * MB, customized=True))
    plain = Assets(lifecycle).uploaded(_asset(AssetType.VIDEO, main=7 * MB))
    ends = datetime(2026, 9, 2, tzinfo=UTC)  # created 1 March 09:00: free through 1 September
    clock.set(ends + timedelta(days=30))
    for as_of, free in (
        (ends - timedelta(microseconds=1), True),
        (ends, False),
        (ends + timedelta(microseconds=1), False),
    ):
        report = _report(lifecycle, as_of=as_of)
        assert report.exempt[Exemption.CUSTOMIZED_VIDEO] == (50 * MB if free else 0), as_of
        assert report.chargeable_bytes == (7 * MB if free else 57 * MB), (
            "a video not customized counts at once"
        )
        verdict = lifecycle.asset_storage(TENANT, video, as_of=as_of)
        assert verdict.free_until == ends
        reason = Reason.CUSTOMIZED_VIDEO_FREE if free else Reason.CUSTOMIZED_VIDEO_FREE_PERIOD_OVER
        assert verdict.reasons[-1][0] is reason
        assert verdict.billed is not free
    assert lifecycle.asset_storage(TENANT, plain).free_until is None


def test_the_free_period_is_a_setting(database: Engine, clock: ManualClock) -> None:
    video = ""
    for months, free in ((0, False), (1, False), (7, True)):
        policy = StoragePolicy(customized_video_free_months=months)
        lifecycle = Lifecycle(database, clock=clock, settings=Settings(storage=policy))
        if months == 0:
            video = Assets(lifecycle).uploaded(_asset(AssetType.VIDEO, main=50 * MB, customized=True))
            verdict = lifecycle.asset_storage(TENANT, video)
            assert (verdict.free_until, [code for code, _ in verdict.reasons]) == (None, [Reason.COUNTS])
            clock.advance(timedelta(days=40))
        assert (_report(lifecycle).exempt[Exemption.CUSTOMIZED_VIDEO] == 50 * MB) is free, months
        assert (lifecycle.asset_storage(TENANT, video).reasons[-1][0] is Reason.CUSTOMIZED_VIDEO_FREE) is free


@pytest.mark.parametrize(
    ("created", "ends"),
    [
        (datetime(2026, 8, 31, 12, 0, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)),
        (datetime(2026, 8, 29, 23, 0, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)),
        (datetime(2027, 8, 31, 12, 0, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)),
        (datetime(2027, 8, 29, 12, 0, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)),
        (datetime(2026, 3, 31, 0, 0, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)),
        (datetime(2026, 7, 15, 23, 59, 59, 999999, tzinfo=UTC), datetime(2027, 1, 16, tzinfo=UTC)),
    ],
)
def test_six_calendar_months_end_with_the_last_day_of_a_shorter_month(
    created: datetime, ends: datetime
) -> None:
    """Free through the same day six months later, or that month's last day (UTC)."""
    assert free_until(created, 6) == ends
    assert add_months(created.date(), 6) == (ends - timedelta(days=1)).date()
    assert billed_if_created_before(ends, 6) > created
    assert billed_if_created_before(ends - timedelta(microseconds=1), 6) <= created


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    created=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - st.datetimes takes naive bounds
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)),
    months=st.integers(min_value=0, max_value=30),
)
def test_one_bound_says_exactly_which_videos_are_still_free(
    created: datetime, later: timedelta, months: int
) -> None:
    """The SQL compares creation times with one bound; it must say what the calendar says."""
    as_of = created + later
    assert (as_of < free_until(created, months)) == (created >= billed_if_created_before(as_of, months))


# The allowance and the report --------------------------------------------------------------------


def test_billable_is_chargeable_beyond_the_free_allowance(database: Engine, clock: ManualClock) -> None:
    lifecycle = Lifecycle(database, clock=clock, settings=Settings(storage=StoragePolicy(free_bytes=25 * MB)))
    made = Assets(lifecycle)
    made.uploaded()
    made.uploaded()
    report = _report(lifecycle)
    assert (report.chargeable_bytes, report.billable_bytes, report.free_bytes_left) == (20 * MB, 0, 5 * MB)
    made.uploaded()
    report = _report(lifecycle)
    assert (report.billable_bytes, report.free_bytes_left, report.over_allowance) == (5 * MB, 0, True)
    assert Lifecycle(database, clock=clock).settings.storage.free_bytes == DEFAULT_FREE_BYTES == 5 * GIB


def test_the_report_breaks_down_by_type_and_by_state_and_the_parts_add_up(
    lifecycle: Lifecycle, made: Assets
) -> None:
    made.in_state(AssetState.ACTIVED, _asset(AssetType.IMAGE, main=1 * MB))
    made.in_state(AssetState.BLOCK, _asset(AssetType.VIDEO, main=2 * MB, customized=True))
    made.in_state(AssetState.DELETING, _asset(AssetType.PPT, main=4 * MB))
    made.in_state(AssetState.DELETED, _asset(AssetType.PPT, main=8 * MB))
    made.uploaded(
        _asset(
            AssetType.HUMAN_MODEL,
            main=16 * MB,
            others=((FileCategory.OTHER, 32 * MB, True),),
            customized=True,
        )
    )
    made.created(_asset(AssetType.AUDIO, main=64 * MB))
    report = _report(lifecycle)
    assert report.used_bytes == (1 + 2 + 4 + 16 + 32) * MB
    assert report.total.exempt_bytes == (2 + 32) * MB
    assert report.total.assets == 6
    assert {kind: u.used_bytes for kind, u in report.by_type.items()} == {
        AssetType.IMAGE: 1 * MB,
        AssetType.VIDEO: 2 * MB,
        AssetType.PPT: 4 * MB,
        AssetType.HUMAN_MODEL: 48 * MB,
        AssetType.AUDIO: 0,
    }
    assert {state: (u.assets, u.used_bytes) for state, u in report.by_state.items()} == {
        AssetState.ACTIVED: (1, 1 * MB),
        AssetState.BLOCK: (1, 2 * MB),
        AssetState.DELETING: (1, 4 * MB),
        AssetState.DELETED: (1, 0),
        AssetState.UNACTIVED: (1, 48 * MB),
        AssetState.CREATING: (1, 0),
    }
    for parts in (report.by_type.values(), report.by_state.values()):
        assert sum((u.used_bytes for u in parts), 0) == report.used_bytes
        assert sum((u.exempt_bytes for u in parts), 0) == report.total.exempt_bytes
        assert sum((u.files for u in parts), 0) == report.total.files == 5
    shape = report.to_json()
    assert set(shape["by_type"]) == {kind.value for kind in AssetType}
    assert set(shape["by_state"]) == {state.value for state in AssetState}
    assert shape["by_type"]["MUSIC"] == {
        "assets": 0,
        "files": 0,
        "used_bytes": 0,
        "exempt_bytes": 0,
        "chargeable_bytes": 0,
    }


@pytest.mark.parametrize("page_size", [1, 2, 200])
def test_every_tenant_in_pages_is_the_sum_of_each_alone(lifecycle: Lifecycle, page_size: int) -> None:
    for n, project in enumerate(("t-3", "t-1", "t-2")):
        made = Assets(lifecycle, Tenant(project))
        for _ in range(n + 1):
            made.uploaded()
    pages: list[tuple[int, int]] = []
    report = lifecycle.storage_report(
        PLATFORM, page_size=page_size, progress=lambda done, total: pages.append((done, total))
    )
    assert [t.project_id for t in report.tenants] == ["t-1", "t-2", "t-3"]
    assert [t.used_bytes for t in report.tenants] == [20 * MB, 30 * MB, 10 * MB]
    assert report.used_bytes == 60 * MB
    for tenant in report.tenants:
        alone = _report(lifecycle, Tenant(tenant.project_id))
        assert alone == tenant
    assert pages[-1] == (3, 3)
    assert len(pages) == -(-3 // page_size)


def test_a_tenant_with_nothing_reports_zeros(lifecycle: Lifecycle) -> None:
    report = lifecycle.storage_report(TENANT)
    [alone] = report.tenants
    assert (alone.project_id, alone.used_bytes, alone.billable_bytes, alone.total.assets) == (
        TENANT.project_id,
        0,
        0,
        0,
    )
    assert lifecycle.storage_report(PLATFORM).tenants == ()


# As of a moment ----------------------------------------------------------------------------------


def test_as_of_a_past_moment_the_history_decides(database: Engine, clock: ManualClock) -> None:
    lifecycle = Lifecycle(database, clock=clock)
    made = Assets(lifecycle)
    kept = made.uploaded()  # 10 MB at START
    clock.advance(timedelta(days=1))
    frozen_then_deleted = made.uploaded(_asset(main=20 * MB))
    clock.advance(timedelta(days=1))
    lifecycle.freeze(PLATFORM, frozen_then_deleted)
    clock.advance(timedelta(days=1))
    lifecycle.delete(PLATFORM, frozen_then_deleted, force=True)
    clock.advance(timedelta(days=1))
    made.uploaded(_asset(main=40 * MB))
    clock.advance(timedelta(days=1))

    def at(days: float) -> dict[AssetState, int]:
        report = _report(lifecycle, as_of=START + timedelta(days=days))
        return {state: u.used_bytes for state, u in report.by_state.items()}

    assert at(0.5) == {AssetState.UNACTIVED: 10 * MB}
    assert at(1.5) == {AssetState.UNACTIVED: 30 * MB}
    assert at(2.5) == {AssetState.UNACTIVED: 10 * MB, AssetState.BLOCK: 20 * MB}
    assert at(3.5) == {AssetState.UNACTIVED: 10 * MB, AssetState.DELETED: 0}
    assert at(4.5) == {AssetState.UNACTIVED: 50 * MB, AssetState.DELETED: 0}
    assert lifecycle.storage_report(PLATFORM, as_of=START - timedelta(seconds=1)).tenants == ()
    verdict = lifecycle.asset_storage(TENANT, frozen_then_deleted, as_of=START + timedelta(days=2.5))
    assert (verdict.state, verdict.chargeable_bytes) == (AssetState.BLOCK, 20 * MB)
    assert verdict.reasons[0][0] is Reason.FROZEN_STILL_COUNTS
    verdict = lifecycle.asset_storage(TENANT, frozen_then_deleted)
    assert (verdict.state, verdict.state_since, verdict.billed) == (
        AssetState.DELETED,
        START + timedelta(days=3),
        False,
    )
    assert verdict.reasons[0][0] is Reason.DELETED
    before = lifecycle.asset_storage(TENANT, kept, as_of=START - timedelta(seconds=1))
    assert (before.state, before.reasons[0][0], before.used_bytes) == (None, Reason.NOT_CREATED_YET, 0)


def test_as_of_may_not_be_in_the_future_or_naive(lifecycle: Lifecycle, clock: ManualClock) -> None:
    with pytest.raises(InvalidParameter, match="as_of"):
        lifecycle.storage_report(PLATFORM, as_of=clock.now() + timedelta(seconds=1))
    with pytest.raises(InvalidParameter, match="as_of"):
        lifecycle.storage_report(PLATFORM, as_of=datetime(2026, 3, 1))  # noqa: DTZ001 - naive on purpose


OPERATIONS = (
    "upload", "cancel", "activate", "delete", "restore", "freeze", "unfreeze", "delete_force", "advance",
)  # fmt: skip


@settings(max_examples=25, deadline=None, derandomize=True)
@given(steps=st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 5)), max_size=25))
def test_now_from_the_assets_equals_now_from_the_audit_trail(
    sqlite_template: object, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]
) -> None:
    """The report reads states from the assets now, and from the audit trail for a past moment:
    asked for the current moment both ways, after any history, the two agree."""
    import shutil

    from lifecycle.store.database import open_database

    path = tmp_path_factory.mktemp("now") / "lifecycle.db"
    shutil.copy(str(sqlite_template), path)
    database = open_database(f"sqlite:///{path}")
    clock = ManualClock(START)
    lifecycle = Lifecycle(database, clock=clock)
    made = Assets(lifecycle)
    ids: list[str] = []
    moves: dict[str, Callable[[str], object]] = {
        "activate": lambda i: lifecycle.activate(TENANT, i),
        "delete": lambda i: lifecycle.delete(TENANT, i),
        "restore": lambda i: lifecycle.restore(TENANT, i),
        "freeze": lambda i: lifecycle.freeze(PLATFORM, i),
        "unfreeze": lambda i: lifecycle.unfreeze(PLATFORM, i),
        "delete_force": lambda i: lifecycle.delete(TENANT, i, force=True),
    }
    try:
        for operation, n in steps:
            if operation == "upload":
                kind = [AssetType.VIDEO, AssetType.HUMAN_MODEL, AssetType.IMAGE][n % 3]
                customized = n % 2 == 0
                timbre = ((FileCategory.OTHER, MB, customized),) if kind is AssetType.HUMAN_MODEL else ()
                ids.append(
                    made.uploaded(_asset(kind, main=(n + 1) * MB, others=timbre, customized=customized))
                )
            elif operation == "cancel":  # a CREATING asset whose upload was cancelled: a self-loop
                cancelled = lifecycle.get_asset(TENANT, made.created())
                lifecycle.confirm_upload(
                    TENANT, cancelled.asset_id, cancelled.main_file.file_id, UploadResult.CANCELLED
                )
                ids.append(cancelled.asset_id)
            elif operation == "advance":
                clock.advance(timedelta(days=40 * n + 1))
            elif ids:
                with contextlib.suppress(TransitionNotAllowed):  # a refusal is part of a history too
                    moves[operation](ids[n % len(ids)])
        now = _report(lifecycle)
        from_history = _report(lifecycle, as_of=clock.now())
        assert now == from_history
        for asset_id in ids:
            assert lifecycle.asset_storage(TENANT, asset_id) == lifecycle.asset_storage(
                TENANT, asset_id, as_of=clock.now()
            )
        assert sum(lifecycle.asset_storage(TENANT, i).chargeable_bytes for i in ids) == now.chargeable_bytes
    finally:
        database.dispose()


def test_now_counts_what_an_instance_with_a_clock_ahead_stored(database: Engine) -> None:
    """Instances' clocks differ: an upload another instance stored "later" than this one's now
    counts now (and against the allowance), though not as of this one's now read as a past moment."""
    behind = _enforcing(database, ManualClock(START), free=15 * MB)
    ahead = _enforcing(database, ManualClock(START + timedelta(seconds=2)), free=15 * MB)
    first, second = Assets(behind).created(), Assets(behind).created()
    Assets(ahead).lifecycle.confirm_upload(
        TENANT, first, ahead.get_asset(TENANT, first).main_file.file_id, UploadResult.CREATED
    )
    assert _report(behind).used_bytes == 10 * MB
    assert behind.asset_storage(TENANT, first).billed
    assert _report(behind, as_of=START).used_bytes == 0, "at START it had not been stored yet"
    with pytest.raises(StorageAllowanceExceeded):
        behind.confirm_upload(
            TENANT, second, behind.get_asset(TENANT, second).main_file.file_id, UploadResult.CREATED
        )


def test_moves_that_stay_in_a_state_do_not_restart_it(database: Engine, clock: ManualClock) -> None:
    """An asset's state_since is when it entered its state, now and as of now alike: a cancelled
    upload stays CREATING, an unfreeze within the recycle bin stays DELETING."""
    lifecycle = Lifecycle(database, clock=clock)
    made = Assets(lifecycle)
    waiting = made.created()
    binned = made.uploaded()
    clock.advance(timedelta(hours=1))
    main = lifecycle.get_asset(TENANT, waiting).main_file.file_id
    lifecycle.confirm_upload(TENANT, waiting, main, UploadResult.CANCELLED)
    lifecycle.freeze(PLATFORM, binned)
    clock.advance(timedelta(hours=1))
    lifecycle.delete(TENANT, binned)
    clock.advance(timedelta(hours=1))
    lifecycle.unfreeze(PLATFORM, binned)
    clock.advance(timedelta(hours=1))
    for asset_id, entered in ((waiting, START), (binned, START + timedelta(hours=2))):
        now = lifecycle.asset_storage(TENANT, asset_id)
        assert now == lifecycle.asset_storage(TENANT, asset_id, as_of=clock.now())
        assert now.state_since == entered


def test_a_main_file_reported_failed_after_review_was_asked_for_still_counts(lifecycle: Lifecycle) -> None:
    """Its bytes were stored when it was submitted for review: like a rejected one, it counts until
    the asset is deleted for good (docs/billing.md)."""
    new = NewAsset("r", AssetType.IMAGE, [NewFile("m.bin", 10 * MB, MD5)], review_required=True)
    asset = lifecycle.create_asset(TENANT, new)
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    assert _report(lifecycle).by_state[AssetState.CREATING].used_bytes == 10 * MB, "awaiting review"
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.FAILED)
    failed = lifecycle.asset_storage(TENANT, asset.asset_id)
    assert (failed.state, failed.chargeable_bytes) == (AssetState.FAILED, 10 * MB)
    lifecycle.delete(TENANT, asset.asset_id, force=True)
    assert _report(lifecycle).used_bytes == 0


# Who may ask -------------------------------------------------------------------------------------


def test_a_tenant_sees_its_own_storage_only(lifecycle: Lifecycle) -> None:
    theirs = Assets(lifecycle, OTHER).uploaded()
    with pytest.raises(PermissionDenied):
        lifecycle.storage_report(TENANT, project_id=OTHER.project_id)
    with pytest.raises(AssetNotFound) as hidden:
        lifecycle.asset_storage(TENANT, theirs)
    with pytest.raises(AssetNotFound) as missing:
        lifecycle.asset_storage(TENANT, "no-such-asset")
    assert str(hidden.value).replace(theirs, "X") == str(missing.value).replace("no-such-asset", "X")
    [own] = lifecycle.storage_report(TENANT).tenants
    assert (own.project_id, own.used_bytes) == (TENANT.project_id, 0)


# Refusing uploads past the allowance -------------------------------------------------------------


def _counts(database: Engine) -> tuple[int, ...]:
    with database.connect() as connection:
        return tuple(
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (assets, files, audit)
        )


def _enforcing(database: Engine, clock: ManualClock, free: int) -> Lifecycle:
    policy = StoragePolicy(free_bytes=free, refuse_uploads_over_allowance=True)
    return Lifecycle(database, clock=clock, settings=Settings(storage=policy))


def test_uploads_past_the_allowance_are_accepted_unless_the_service_refuses_them(
    database: Engine, clock: ManualClock
) -> None:
    lifecycle = Lifecycle(database, clock=clock, settings=Settings(storage=StoragePolicy(free_bytes=15 * MB)))
    made = Assets(lifecycle)
    made.uploaded()
    made.uploaded()
    assert _report(lifecycle).billable_bytes == 5 * MB


def test_a_creation_whose_files_would_not_fit_is_refused_and_writes_nothing(
    database: Engine, clock: ManualClock
) -> None:
    lifecycle = _enforcing(database, clock, free=25 * MB)
    made = Assets(lifecycle)
    made.uploaded()  # 10 MB
    before = _counts(database)
    with pytest.raises(StorageAllowanceExceeded) as refused:
        made.created(_asset(main=16 * MB))
    error = refused.value
    assert (error.chargeable_bytes, error.adding_bytes, error.free_bytes) == (10 * MB, 16 * MB, 25 * MB)
    assert (error.http_status, error.code) == (403, "MSS.00000003")
    assert "nothing was written" in error.message
    assert _counts(database) == before
    made.created(_asset(main=15 * MB))  # fits exactly


def test_an_accepted_upload_past_the_allowance_is_refused_and_writes_nothing(
    database: Engine, clock: ManualClock
) -> None:
    lifecycle = Lifecycle(database, clock=clock)
    first = Assets(lifecycle).created(_asset(main=10 * MB))
    second = lifecycle.create_asset(
        TENANT, _asset(main=8 * MB, others=((FileCategory.COVER, 6 * MB, False),))
    )
    lifecycle = _enforcing(database, clock, free=15 * MB)
    main = lifecycle.get_asset(TENANT, first).main_file.file_id
    lifecycle.confirm_upload(TENANT, first, main, UploadResult.CREATED)
    before = _counts(database)
    for f in second.files:
        with pytest.raises(StorageAllowanceExceeded):
            lifecycle.confirm_upload(TENANT, second.asset_id, f.file_id, UploadResult.CREATED)
    assert _counts(database) == before
    unchanged = lifecycle.get_asset(TENANT, second.asset_id)
    assert unchanged.asset_state is AssetState.CREATING
    assert [(f.state, f.stored_at) for f in unchanged.files] == [(FileState.CREATING, None)] * 2
    # The recycle bin still counts; room made by deleting for good is used.
    lifecycle.delete(TENANT, first)
    with pytest.raises(StorageAllowanceExceeded):  # the recycle bin still counts
        lifecycle.confirm_upload(TENANT, second.asset_id, second.files[0].file_id, UploadResult.CREATED)
    lifecycle.delete(TENANT, first, force=True)
    for f in second.files:
        lifecycle.confirm_upload(TENANT, second.asset_id, f.file_id, UploadResult.CREATED)
    assert _report(lifecycle).chargeable_bytes == 14 * MB


def test_exempt_uploads_are_never_refused(database: Engine, clock: ManualClock) -> None:
    lifecycle = _enforcing(database, clock, free=0)
    made = Assets(lifecycle)
    made.uploaded(_asset(AssetType.VIDEO, main=100 * MB, customized=True))
    with pytest.raises(StorageAllowanceExceeded):
        made.created(
            _asset(AssetType.HUMAN_MODEL, main=MB, others=((FileCategory.OTHER, MB, True),), customized=True)
        )
    report = _report(lifecycle)
    assert (report.used_bytes, report.chargeable_bytes) == (100 * MB, 0)
