"""The ends of the calendar: the clock's supported range, bounded settings, and no time arithmetic
that can leave Python's calendar (years 1 to 9999). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, update

from lifecycle.actors import Platform, Tenant
from lifecycle.billing import MAX_FREE_MONTHS, StoragePolicy, free_until
from lifecycle.clock import EARLIEST_TIME, LATEST_TIME, ManualClock
from lifecycle.definition import AssetState, AssetType, FileCategory, PlannedOperation, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import ClockOutOfRange, CorruptRecord, InvalidParameter, LifecycleError
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from lifecycle.settings import MAX_RECYCLE_RETENTION, MAX_UPLOAD_WINDOW, Settings
from lifecycle.store.models import assets, audit
from tests.conftest import MD5, START, new_asset

pytestmark = pytest.mark.facades

TENANT = Tenant("tenant-a")
PLATFORM = Platform("operator-7")
MICROSECOND = timedelta(microseconds=1)
YEAR_9999 = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = {
    "year 9999": YEAR_9999,
    "year 1": YEAR_1,
    "the first moment past the range": LATEST_TIME,
    "a microsecond before the range": EARLIEST_TIME - MICROSECOND,
}
LONGEST = Settings(
    upload_window=MAX_UPLOAD_WINDOW,
    recycle_retention=MAX_RECYCLE_RETENTION,
    storage=StoragePolicy(customized_video_free_months=MAX_FREE_MONTHS),
)


@dataclass(frozen=True)
class Seeds:
    """Assets on which every operation that computes times has work to do."""

    creating: str
    frozen: str  # frozen while CREATING: an unfreeze restarts its upload clock
    binned: str  # deleted while CREATING: a restore restarts its upload clock
    video: str  # a customized video: its free period is computed


def _seed(lifecycle: Lifecycle) -> Seeds:
    creating, frozen, binned = (lifecycle.create_asset(TENANT, new_asset()).asset_id for _ in range(3))
    lifecycle.freeze(PLATFORM, frozen)
    lifecycle.delete(TENANT, binned)
    video = lifecycle.create_asset(
        PLATFORM,
        NewAsset(
            "Promo", AssetType.VIDEO, [NewFile("promo.mp4", 1000, MD5, FileCategory.MAIN)], customized=True
        ),
        project_id=TENANT.project_id,
    )
    lifecycle.confirm_upload(TENANT, video.asset_id, video.main_file.file_id, UploadResult.CREATED)
    return Seeds(creating, frozen, binned, video.asset_id)


OPERATIONS: dict[str, Callable[[Lifecycle, Seeds, datetime | None], Any]] = {
    "create_asset": lambda lc, _s, _as_of: lc.create_asset(TENANT, new_asset()),
    "restore into CREATING": lambda lc, s, _as_of: lc.restore(TENANT, s.binned),
    "unfreeze into CREATING": lambda lc, s, _as_of: lc.unfreeze(PLATFORM, s.frozen),
    "sweep": lambda lc, _s, as_of: lc.sweep(as_of=as_of),
    "due_counts": lambda lc, _s, as_of: lc.due_counts(as_of=as_of),
    "storage_report": lambda lc, _s, as_of: lc.storage_report(PLATFORM, as_of=as_of),
    "asset_storage": lambda lc, s, as_of: lc.asset_storage(TENANT, s.video, as_of=as_of),
}
TAKES_AS_OF = frozenset({"sweep", "due_counts", "storage_report", "asset_storage"})


def _written(database: Engine) -> tuple[int, int]:
    with database.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(audit)).scalar_one(),
            connection.execute(select(func.count()).select_from(assets)).scalar_one(),
        )


# The clock's range ----------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("moment", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE)
def test_a_clock_outside_the_supported_range_is_refused_with_a_typed_error_and_writes_nothing(
    database: Engine, moment: datetime, operation: str
) -> None:
    clock = ManualClock(START)
    lifecycle = Lifecycle(database, clock=clock)
    seeds = _seed(lifecycle)
    before = _written(database)
    clock.set(moment)
    with pytest.raises(ClockOutOfRange, match=r"clock\.now\(\) reads .*, outside the times") as raised:
        OPERATIONS[operation](lifecycle, seeds, None)
    assert raised.value.reading == moment
    assert (raised.value.code, raised.value.http_status) == ("LIFECYCLE.CLOCK_OUT_OF_RANGE", 500)
    assert _written(database) == before


@pytest.mark.parametrize("moment", [EARLIEST_TIME, LATEST_TIME - MICROSECOND], ids=["earliest", "latest"])
def test_every_operation_works_at_both_ends_of_the_range_with_the_longest_settings(
    database: Engine, moment: datetime
) -> None:
    clock = ManualClock(moment)
    lifecycle = Lifecycle(database, clock=clock, settings=LONGEST)
    seeds = _seed(lifecycle)
    created = OPERATIONS["create_asset"](lifecycle, seeds, None)
    assert created.upload_deadline == moment + MAX_UPLOAD_WINDOW
    for name in ("restore into CREATING", "unfreeze into CREATING"):
        assert OPERATIONS[name](lifecycle, seeds, None).to_state is AssetState.CREATING
    for name in sorted(TAKES_AS_OF):
        for as_of in (None, EARLIEST_TIME):
            OPERATIONS[name](lifecycle, seeds, as_of)
    assert lifecycle.asset_storage(TENANT, seeds.video).free_until is not None


@pytest.mark.parametrize("operation", sorted(TAKES_AS_OF))
@pytest.mark.parametrize(
    "as_of",
    [
        EARLIEST_TIME - MICROSECOND,
        YEAR_1,
        datetime(1970, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_as_of_before_the_supported_range_is_invalid(
    database: Engine, operation: str, as_of: datetime
) -> None:
    lifecycle = Lifecycle(database, clock=ManualClock(START))
    seeds = _seed(lifecycle)
    with pytest.raises(InvalidParameter, match="as_of: must be 1970-01-01T00:00:00"):
        OPERATIONS[operation](lifecycle, seeds, as_of)


def test_a_planned_operation_at_or_past_the_end_of_the_range_is_invalid(database: Engine) -> None:
    lifecycle = Lifecycle(database, clock=ManualClock(START))
    before = _written(database)
    for when in (LATEST_TIME, YEAR_9999):
        with pytest.raises(InvalidParameter, match=r"operation_time: must be before 9000"):
            lifecycle.create_asset(
                TENANT, new_asset(auto_operation=AutoOperation(PlannedOperation.DELETE, when))
            )
    assert _written(database) == before
    last = LATEST_TIME - MICROSECOND
    planned = lifecycle.create_asset(
        TENANT, new_asset(auto_operation=AutoOperation(PlannedOperation.DELETE, last))
    )
    assert planned.planned_operation_time == last


# Settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recycle_retention", timedelta.max),
        ("recycle_retention", MAX_RECYCLE_RETENTION + MICROSECOND),
        ("upload_window", timedelta.max),
        ("upload_window", MAX_UPLOAD_WINDOW + MICROSECOND),
    ],
)
def test_settings_refuse_delays_past_their_maximum_naming_the_field(field: str, value: timedelta) -> None:
    with pytest.raises(InvalidParameter, match=f"{field}: must be from 1 microsecond to") as raised:
        Settings(**{field: value})  # type: ignore[arg-type]
    assert raised.value.field == field


def test_settings_accept_each_delay_at_its_maximum() -> None:
    assert (LONGEST.upload_window, LONGEST.recycle_retention) == (MAX_UPLOAD_WINDOW, MAX_RECYCLE_RETENTION)
    assert (MAX_UPLOAD_WINDOW.days, MAX_RECYCLE_RETENTION.days) == (365, 36_525)


def test_an_engine_takes_only_settings_it_can_check(database: Engine) -> None:
    class Unbounded:
        upload_window = recycle_retention = timedelta.max

    with pytest.raises(InvalidParameter, match="settings: must be a Settings"):
        Lifecycle(database, settings=Unbounded())  # type: ignore[arg-type]


def test_the_range_leaves_room_for_every_delay_and_free_period() -> None:
    """What makes the arithmetic safe, written down: the longest delay or free period added to the
    latest supported time, or taken from the earliest, is still in Python's calendar."""
    longest = max(MAX_UPLOAD_WINDOW, MAX_RECYCLE_RETENTION)
    assert LATEST_TIME + longest < datetime.max.replace(tzinfo=UTC)
    assert EARLIEST_TIME - longest > datetime.min.replace(tzinfo=UTC)
    assert free_until(LATEST_TIME - MICROSECOND, MAX_FREE_MONTHS) < datetime.max.replace(tzinfo=UTC)
    assert EARLIEST_TIME - timedelta(days=31 * MAX_FREE_MONTHS + 2) > datetime.min.replace(tzinfo=UTC)


# The test clock -----------------------------------------------------------------------------------------


def test_a_manual_clock_moved_past_the_calendar_refuses_and_stays_where_it_was() -> None:
    clock = ManualClock(YEAR_9999)
    with pytest.raises(InvalidParameter, match="delta: takes the clock past the calendar"):
        clock.advance(timedelta(days=1))
    assert clock.now() == YEAR_9999


# Stored times the engine cannot have written -----------------------------------------------------------


def _tamper(database: Engine, asset_id: str, **values: Any) -> None:
    with database.begin() as connection:
        connection.execute(update(assets).where(assets.c.asset_id == asset_id).values(**values))


def test_an_upload_time_left_past_the_calendar_is_a_corrupt_record_not_an_overflow(database: Engine) -> None:
    lifecycle = Lifecycle(database, clock=ManualClock(START))
    seeds = _seed(lifecycle)
    _tamper(database, seeds.frozen, upload_time_left_us=2**62)
    before = _written(database)
    with pytest.raises(CorruptRecord, match="upload_time_left_us"):
        lifecycle.unfreeze(PLATFORM, seeds.frozen)
    assert _written(database) == before


def test_a_retention_start_at_the_end_of_the_calendar_never_falls_due_and_the_sweep_goes_on(
    database: Engine,
) -> None:
    clock = ManualClock(START)
    lifecycle = Lifecycle(database, clock=clock)
    plan = AutoOperation(PlannedOperation.BLOCK, START + timedelta(hours=1))
    asset_id = lifecycle.create_asset(TENANT, new_asset(auto_operation=plan)).asset_id
    lifecycle.delete(TENANT, asset_id)
    _tamper(database, asset_id, retention_started_at=YEAR_9999)
    clock.advance(timedelta(hours=2))
    report = lifecycle.sweep()
    assert report.rule("planned_freeze").moved == 1
    assert lifecycle.get_asset(TENANT, asset_id).asset_state is AssetState.BLOCK


def test_a_free_period_ending_past_the_calendar_ends_at_its_last_instant(database: Engine) -> None:
    lifecycle = Lifecycle(database, clock=ManualClock(START))
    seeds = _seed(lifecycle)
    _tamper(database, seeds.video, create_time=datetime(9999, 10, 1, tzinfo=UTC))
    assert lifecycle.asset_storage(TENANT, seeds.video).free_until == datetime.max.replace(tzinfo=UTC)


# Any clock, any settings: only typed errors -------------------------------------------------------------

moments = st.one_of(
    st.datetimes(  # supported
        min_value=EARLIEST_TIME.replace(tzinfo=None),
        max_value=(LATEST_TIME - MICROSECOND).replace(tzinfo=None),
        timezones=st.just(UTC),
    ),
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
    ),
    st.sampled_from(
        [
            YEAR_9999,
            YEAR_1,
            EARLIEST_TIME,
            EARLIEST_TIME - MICROSECOND,
            LATEST_TIME,
            LATEST_TIME - MICROSECOND,
            START,
        ]
    ),
)


def _mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid five times in six, so that most examples get past ``Settings`` to the operations."""
    return st.integers(1, 6).flatmap(lambda pick: invalid if pick == 3 else valid)


upload_windows = _mostly(
    st.one_of(
        st.timedeltas(MICROSECOND, MAX_UPLOAD_WINDOW), st.sampled_from([MICROSECOND, MAX_UPLOAD_WINDOW])
    ),
    st.one_of(
        st.timedeltas(), st.sampled_from([timedelta(0), MAX_UPLOAD_WINDOW + MICROSECOND, timedelta.max])
    ),
)
retentions = _mostly(
    st.one_of(
        st.timedeltas(MICROSECOND, MAX_RECYCLE_RETENTION),
        st.sampled_from([MICROSECOND, MAX_RECYCLE_RETENTION]),
    ),
    st.one_of(
        st.timedeltas(), st.sampled_from([timedelta(0), MAX_RECYCLE_RETENTION + MICROSECOND, timedelta.max])
    ),
)
free_months = _mostly(st.integers(0, MAX_FREE_MONTHS), st.sampled_from([MAX_FREE_MONTHS + 1, 10**6]))


def _in_range(moment: datetime) -> bool | None:
    """Whether the engine supports ``moment``; None where it is not even a time in UTC."""
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        return None
    return EARLIEST_TIME <= in_utc < LATEST_TIME


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    moment=moments,
    upload_window=upload_windows,
    recycle_retention=retentions,
    free_months=free_months,
    as_of=st.one_of(st.none(), moments),
)
def test_any_clock_and_any_settings_give_an_answer_or_a_typed_error(
    database: Engine,
    moment: datetime,
    upload_window: timedelta,
    recycle_retention: timedelta,
    free_months: int,
    as_of: datetime | None,
) -> None:
    within = {
        "upload_window": timedelta(0) < upload_window <= MAX_UPLOAD_WINDOW,
        "recycle_retention": timedelta(0) < recycle_retention <= MAX_RECYCLE_RETENTION,
        "customized_video_free_months": free_months <= MAX_FREE_MONTHS,
    }
    if not all(within.values()):
        with pytest.raises(InvalidParameter) as refused:
            Settings(
                upload_window=upload_window,
                recycle_retention=recycle_retention,
                storage=StoragePolicy(customized_video_free_months=free_months),
            )
        assert not within[refused.value.field], refused.value
        event("settings refused")
        return
    chosen = Settings(
        upload_window=upload_window,
        recycle_retention=recycle_retention,
        storage=StoragePolicy(customized_video_free_months=free_months),
    )
    clock = ManualClock(START)
    lifecycle = Lifecycle(database, clock=clock, settings=chosen)
    seeds = _seed(lifecycle)
    supported = _in_range(moment)
    if supported is None:  # no time in UTC: the clock itself refuses it
        with pytest.raises(InvalidParameter, match="moment"):
            clock.set(moment)
        event("clock not a time in UTC")
        return
    clock.set(moment)
    event("clock in range" if supported else "clock out of range")
    for name, operation in OPERATIONS.items():
        given_as_of = as_of if name in TAKES_AS_OF else None
        valid_as_of = given_as_of is None or bool(_in_range(given_as_of) and given_as_of <= moment)
        error = _error(partial(operation, lifecycle, seeds, given_as_of))
        if not supported:
            assert isinstance(error, ClockOutOfRange), (name, error)
        elif not valid_as_of:
            assert isinstance(error, InvalidParameter) and error.field == "as_of", (name, error)
        else:
            assert error is None, (name, error)


def _error(call: Callable[[], object]) -> LifecycleError | None:
    """The typed error ``call`` raised, or None; any other exception fails the test."""
    try:
        call()
    except LifecycleError as error:
        return error
    return None
