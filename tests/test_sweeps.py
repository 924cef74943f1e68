"""The moves time makes: each rule at its boundary, frozen assets left alone, plans, catch-up,
the found-then-changed regression, and exactly-once sweeping from many sweepers at once."""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from structlog.testing import capture_logs

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    UPLOAD_TIMEOUT_REASON,
    AssetState,
    Event,
    FileState,
    PlannedOperation,
    Role,
    TimeRule,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter, PermissionDenied, TransitionNotAllowed
from lifecycle.inputs import AutoOperation
from lifecycle.settings import Settings
from lifecycle.store.models import audit
from lifecycle.sweeps import SweepListener
from tests.conftest import START, new_asset

pytestmark = pytest.mark.facades

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MICRO = timedelta(microseconds=1)
WINDOW = timedelta(hours=24)
RETENTION = timedelta(days=7)


def _created(lifecycle: Lifecycle, tenant: Tenant, **options: Any) -> str:
    return lifecycle.create_asset(tenant, new_asset(**options)).asset_id


def _uploaded(lifecycle: Lifecycle, tenant: Tenant, **options: Any) -> str:
    asset = lifecycle.create_asset(tenant, new_asset(**options))
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


def _events(lifecycle: Lifecycle, tenant: Tenant, asset_id: str) -> list[Event]:
    return [entry.event for entry in lifecycle.history(tenant, asset_id)]


def _state(lifecycle: Lifecycle, tenant: Tenant, asset_id: str) -> AssetState:
    return lifecycle.get_asset(tenant, asset_id).asset_state


# The upload window -------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "moves"), [(-MICRO, False), (timedelta(0), True), (MICRO, True)])
def test_an_upload_times_out_at_its_deadline_to_the_microsecond(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, offset: timedelta, *, moves: bool
) -> None:
    asset_id = _created(lifecycle, tenant)
    clock.set(START + WINDOW + offset)
    report = lifecycle.sweep()
    assert report.rule("upload_timeout").moved == int(moves)
    asset = lifecycle.get_asset(tenant, asset_id)
    if not moves:
        assert asset.asset_state is AssetState.CREATING
        return
    assert asset.asset_state is AssetState.FAILED
    assert asset.reason == UPLOAD_TIMEOUT_REASON
    assert asset.main_file.state is FileState.FAILED
    last = lifecycle.history(tenant, asset_id)[-1]
    assert (last.event, last.actor_kind, last.actor_id) == (Event.TIME_OUT_UPLOAD, Role.SYSTEM, "scheduler")
    assert last.occurred_at == START + WINDOW + offset


def test_as_of_decides_what_is_due_and_the_clock_when_it_is_recorded(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    asset_id = _created(lifecycle, tenant)
    clock.set(START + 3 * DAY)
    assert lifecycle.sweep(as_of=START + WINDOW - MICRO).moved == 0
    assert lifecycle.sweep(as_of=START + WINDOW + MICRO).moved == 1
    assert lifecycle.history(tenant, asset_id)[-1].occurred_at == START + 3 * DAY


def test_an_uploaded_or_failed_asset_is_not_timed_out(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform
) -> None:
    uploaded = _uploaded(lifecycle, tenant)
    failed = _created(lifecycle, tenant)
    lifecycle.fire(platform, failed, Event.FAIL_UPLOAD)
    cancelled = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, cancelled.asset_id, cancelled.main_file.file_id, UploadResult.CANCELLED)
    clock.advance(2 * DAY)
    report = lifecycle.sweep()
    assert report.moved == 1, "only the cancelled upload, still in CREATING, times out"
    assert _state(lifecycle, tenant, uploaded) is AssetState.UNACTIVED
    assert _events(lifecycle, tenant, failed) == [Event.CREATE, Event.FAIL_UPLOAD]
    assert _state(lifecycle, tenant, cancelled.asset_id) is AssetState.FAILED


def test_an_upload_waiting_for_review_is_not_timed_out(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform, system: System
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset(review_required=True))
    clock.advance(HOUR)
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    assert lifecycle.get_asset(tenant, asset.asset_id).upload_deadline is None, "the window stopped"
    lifecycle.freeze(platform, asset.asset_id)
    lifecycle.unfreeze(platform, asset.asset_id)
    clock.advance(10 * DAY)
    assert lifecycle.sweep().moved == 0, "uploaded in time; the review may take longer"
    with pytest.raises(TransitionNotAllowed):
        lifecycle.fire(system, asset.asset_id, Event.TIME_OUT_UPLOAD)
    lifecycle.pass_review(platform, asset.asset_id)
    assert _state(lifecycle, tenant, asset.asset_id) is AssetState.UNACTIVED


def test_a_frozen_upload_keeps_its_time_left_and_times_out_after_the_unfreeze(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform
) -> None:
    asset_id = _created(lifecycle, tenant)
    clock.advance(10 * HOUR)
    lifecycle.freeze(platform, asset_id)
    clock.advance(30 * DAY)
    assert lifecycle.sweep().moved == 0, "time never moves a frozen asset"
    lifecycle.unfreeze(platform, asset_id)
    unfrozen_at = clock.now()
    clock.set(unfrozen_at + 14 * HOUR - MICRO)
    assert lifecycle.sweep().moved == 0
    clock.set(unfrozen_at + 14 * HOUR)
    assert lifecycle.sweep().moved == 1
    assert _state(lifecycle, tenant, asset_id) is AssetState.FAILED


# The recycle bin ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "moves"), [(-MICRO, False), (timedelta(0), True), (MICRO, True)])
def test_the_recycle_bin_empties_itself_after_the_retention(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, offset: timedelta, *, moves: bool
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    clock.advance(HOUR)
    deleted_at = clock.now()
    lifecycle.delete(tenant, asset_id)
    clock.set(deleted_at + RETENTION + offset)
    assert lifecycle.sweep().rule("recycle_bin_purge").moved == int(moves)
    asset = lifecycle.get_asset(tenant, asset_id)
    if moves:
        assert asset.asset_state is AssetState.DELETED
        assert {f.state for f in asset.files} == {FileState.DELETED}
        assert lifecycle.history(tenant, asset_id)[-1].event is Event.PURGE
    else:
        assert asset.asset_state is AssetState.DELETING
        assert asset.retention_started_at == deleted_at


def test_the_retention_is_a_setting_read_when_the_sweep_runs(
    database: Engine, clock: ManualClock, tenant: Tenant
) -> None:
    seven_days = Lifecycle(database, clock=clock)
    asset_id = _uploaded(seven_days, tenant)
    seven_days.delete(tenant, asset_id)
    clock.advance(2 * DAY)
    assert seven_days.sweep().moved == 0
    two_days = Lifecycle(database, clock=clock, settings=Settings(recycle_retention=2 * DAY))
    assert two_days.sweep().moved == 1, "assets already in the bin follow the new retention"


def test_an_asset_deleted_while_frozen_waits_in_the_bin_until_unfrozen_then_gets_its_full_retention(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform, system: System
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    lifecycle.freeze(platform, asset_id)
    lifecycle.delete(tenant, asset_id)
    assert lifecycle.get_asset(tenant, asset_id).retention_started_at is None
    clock.advance(60 * DAY)
    assert lifecycle.sweep().moved == 0
    with pytest.raises(TransitionNotAllowed):
        lifecycle.fire(system, asset_id, Event.PURGE)
    lifecycle.unfreeze(platform, asset_id)
    unfrozen_at = clock.now()
    assert lifecycle.get_asset(tenant, asset_id).retention_started_at == unfrozen_at
    clock.set(unfrozen_at + RETENTION - MICRO)
    assert lifecycle.sweep().moved == 0
    clock.set(unfrozen_at + RETENTION)
    assert lifecycle.sweep().moved == 1
    assert _state(lifecycle, tenant, asset_id) is AssetState.DELETED


def test_an_asset_frozen_in_the_bin_is_not_purged(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    lifecycle.delete(tenant, asset_id)
    lifecycle.freeze(platform, asset_id)
    clock.advance(30 * DAY)
    assert lifecycle.sweep().moved == 0
    lifecycle.unfreeze(platform, asset_id)
    assert _state(lifecycle, tenant, asset_id) is AssetState.UNACTIVED, "back to its pre-delete state"


# Planned operations -----------------------------------------------------------------------------


def _planned(operation: PlannedOperation, after: timedelta) -> dict[str, Any]:
    return {"auto_operation": AutoOperation(operation, START + after)}


@pytest.mark.parametrize(
    ("operation", "dest", "memory"),
    [
        (PlannedOperation.BLOCK, AssetState.BLOCK, "pre_freeze_state"),
        (PlannedOperation.DELETE, AssetState.DELETING, "pre_delete_state"),
    ],
)
def test_a_planned_operation_happens_at_its_time_through_the_usual_transition(
    lifecycle: Lifecycle,
    clock: ManualClock,
    tenant: Tenant,
    operation: PlannedOperation,
    dest: AssetState,
    memory: str,
) -> None:
    asset_id = _uploaded(lifecycle, tenant, **_planned(operation, 3 * DAY))
    lifecycle.activate(tenant, asset_id)
    clock.set(START + 3 * DAY - MICRO)
    assert lifecycle.sweep().moved == 0
    clock.set(START + 3 * DAY)
    assert lifecycle.sweep().moved == 1
    asset = lifecycle.get_asset(tenant, asset_id)
    assert asset.asset_state is dest
    assert getattr(asset, memory) is AssetState.ACTIVED
    assert asset.planned_operation is None, "a plan happens once"
    last = lifecycle.history(tenant, asset_id)[-1]
    assert (last.actor_kind, last.reason) == (Role.SYSTEM, f"planned {operation.value} operation")
    clock.advance(HOUR)
    assert lifecycle.sweep().moved == 0


def test_a_plan_whose_asset_is_frozen_waits_and_fires_after_the_unfreeze(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform
) -> None:
    asset_id = _uploaded(lifecycle, tenant, **_planned(PlannedOperation.DELETE, DAY))
    lifecycle.freeze(platform, asset_id)
    clock.advance(3 * DAY)
    assert lifecycle.sweep().moved == 0
    lifecycle.unfreeze(platform, asset_id)
    assert lifecycle.sweep().rule("planned_delete").moved == 1
    assert _state(lifecycle, tenant, asset_id) is AssetState.DELETING


def test_a_plan_met_in_the_bin_is_done_so_a_later_restore_sticks(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    asset_id = _uploaded(lifecycle, tenant, **_planned(PlannedOperation.DELETE, DAY))
    lifecycle.delete(tenant, asset_id)
    clock.advance(2 * DAY)
    assert lifecycle.sweep().moved == 0, "already in the bin"
    lifecycle.restore(tenant, asset_id)
    assert lifecycle.get_asset(tenant, asset_id).planned_operation is None
    assert lifecycle.sweep().moved == 0
    assert _state(lifecycle, tenant, asset_id) is AssetState.UNACTIVED


def test_moves_before_the_plans_time_leave_the_plan_in_place(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    asset_id = _uploaded(lifecycle, tenant, **_planned(PlannedOperation.DELETE, 2 * DAY))
    clock.advance(DAY)
    lifecycle.delete(tenant, asset_id)
    lifecycle.restore(tenant, asset_id)
    assert lifecycle.get_asset(tenant, asset_id).planned_operation is PlannedOperation.DELETE
    clock.advance(DAY)
    assert lifecycle.sweep().rule("planned_delete").moved == 1


def test_a_planned_freeze_in_the_bin_freezes_it_there(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    asset_id = _uploaded(lifecycle, tenant, **_planned(PlannedOperation.BLOCK, DAY))
    lifecycle.delete(tenant, asset_id)
    clock.advance(DAY)
    assert lifecycle.sweep().rule("planned_freeze").moved == 1
    asset = lifecycle.get_asset(tenant, asset_id)
    assert (asset.asset_state, asset.pre_freeze_state, asset.pre_delete_state) == (
        AssetState.BLOCK,
        AssetState.DELETING,
        AssetState.UNACTIVED,
    )
    clock.advance(30 * DAY)
    assert lifecycle.sweep().moved == 0, "frozen in the bin: not purged"


# Catching up -------------------------------------------------------------------------------------


def test_one_sweep_after_downtime_makes_the_moves_in_the_order_they_fell_due(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    timeout_first = _created(lifecycle, tenant, **_planned(PlannedOperation.DELETE, 2 * DAY))
    delete_first = _created(lifecycle, tenant, **_planned(PlannedOperation.DELETE, 12 * HOUR))
    clock.advance(5 * DAY)
    report = lifecycle.sweep()
    assert _events(lifecycle, tenant, timeout_first) == [Event.CREATE, Event.TIME_OUT_UPLOAD, Event.DELETE]
    assert lifecycle.get_asset(tenant, timeout_first).pre_delete_state is AssetState.FAILED
    assert _events(lifecycle, tenant, delete_first) == [Event.CREATE, Event.DELETE]
    assert lifecycle.get_asset(tenant, delete_first).pre_delete_state is AssetState.CREATING
    assert (report.rule("upload_timeout").moved, report.rule("planned_delete").moved) == (1, 2)


def test_a_restarted_engine_catches_up_in_batches_with_nothing_kept_in_memory(
    database: Engine, clock: ManualClock, tenant: Tenant
) -> None:
    before = Lifecycle(database, clock=clock)
    ids = [_created(before, tenant) for _ in range(10)]
    before.close()
    clock.advance(3 * DAY)
    after = Lifecycle(database, clock=clock)
    assert after.due_counts() == {
        "upload_timeout": 10,
        "planned_freeze": 0,
        "planned_delete": 0,
        "recycle_bin_purge": 0,
    }
    report = after.sweep(batch_size=3)
    assert (report.moved, report.batches) == (10, 4)
    assert {_state(after, tenant, asset_id) for asset_id in ids} == {AssetState.FAILED}
    assert after.due_counts()["upload_timeout"] == 0


def test_a_clock_set_back_after_a_sweep_moves_nothing_twice(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, database: Engine
) -> None:
    created = [_created(lifecycle, tenant) for _ in range(3)]
    deleted = _uploaded(lifecycle, tenant)
    lifecycle.delete(tenant, deleted)
    clock.advance(10 * DAY)
    assert lifecycle.sweep().moved == 4
    rows = _audit_rows(database)
    for back in (DAY, 5 * DAY, 9 * DAY):
        clock.set(START + 10 * DAY - back)
        assert lifecycle.sweep().moved == 0
    clock.set(START + 10 * DAY)
    assert lifecycle.sweep().moved == 0
    assert _audit_rows(database) == rows
    assert {_state(lifecycle, tenant, asset_id) for asset_id in created} == {AssetState.FAILED}


def _audit_rows(database: Engine) -> int:
    with database.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(audit)).scalar_one())


# Found, then changed: the regression test --------------------------------------------------------


class _UsersMoveHalf(SweepListener):
    """Once the sweep has found its batch, the users finish the upload of every other asset."""

    def __init__(self, lifecycle: Lifecycle, tenant: Tenant) -> None:
        self.lifecycle = lifecycle
        self.tenant = tenant
        self.moved_by_users: list[str] = []

    def found(self, rule: TimeRule, asset_ids: Sequence[str]) -> None:
        if self.moved_by_users:
            return
        for asset_id in asset_ids[::2]:
            asset = self.lifecycle.get_asset(self.tenant, asset_id)
            self.lifecycle.confirm_upload(
                self.tenant, asset_id, asset.main_file.file_id, UploadResult.CREATED
            )
            self.moved_by_users.append(asset_id)


def test_assets_users_move_after_the_sweep_found_them_are_left_alone(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    ids = [_created(lifecycle, tenant) for _ in range(10)]
    clock.advance(2 * DAY)
    users = _UsersMoveHalf(lifecycle, tenant)
    report = lifecycle.sweep(listener=users)
    assert len(users.moved_by_users) == 5
    untouched = [asset_id for asset_id in ids if asset_id not in users.moved_by_users]
    assert report.rule("upload_timeout").moved == 5
    assert report.rule("upload_timeout").changed == 5
    for asset_id in users.moved_by_users:
        assert _events(lifecycle, tenant, asset_id) == [Event.CREATE, Event.ACCEPT_UPLOAD]
        assert _state(lifecycle, tenant, asset_id) is AssetState.UNACTIVED
    for asset_id in untouched:
        assert _events(lifecycle, tenant, asset_id) == [Event.CREATE, Event.TIME_OUT_UPLOAD]
    for asset_id in ids:
        _assert_consistent_trail(lifecycle, tenant, asset_id)


def _assert_consistent_trail(lifecycle: Lifecycle, tenant: Tenant, asset_id: str) -> None:
    """One row per version, each starting where the one before ended, ending at the asset's state."""
    trail = lifecycle.history(tenant, asset_id)
    asset = lifecycle.get_asset(tenant, asset_id)
    assert [entry.seq for entry in trail] == list(range(1, asset.version + 1))
    for before, after in itertools.pairwise(trail):
        assert after.from_state is before.to_state, trail
    assert trail[-1].to_state is asset.asset_state


# Stopping, reporting, refusing -------------------------------------------------------------------


class _StopAfterFirstBatch(SweepListener):
    def __init__(self, stop: Any) -> None:
        self.stop = stop

    def written(self, rule: TimeRule, moved: int) -> None:
        self.stop.set()


def test_a_stop_ends_the_sweep_after_the_batch_in_flight(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    import threading

    for _ in range(5):
        _created(lifecycle, tenant)
    clock.advance(2 * DAY)
    stop = threading.Event()
    first = lifecycle.sweep(batch_size=2, stop=stop, listener=_StopAfterFirstBatch(stop))
    assert (first.moved, first.batches, first.stopped) == (2, 1, True)
    rest = lifecycle.sweep(batch_size=2)
    assert (rest.moved, rest.stopped) == (3, False)


def test_each_sweep_logs_what_each_rule_moved_and_how_long_it_took(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    _created(lifecycle, tenant)
    clock.advance(2 * DAY)
    with capture_logs() as logs:
        lifecycle.sweep()
    finished = [entry for entry in logs if entry["event"] == "sweep_finished"]
    assert len(finished) == 1
    entry = finished[0]
    assert entry["moved"] == 1 and entry["log_level"] == "info"
    assert set(entry["rules"]) == {"upload_timeout"}, "only the rules that did something"
    assert entry["rules"]["upload_timeout"]["moved"] == 1
    assert set(entry["rules"]["upload_timeout"]) == {"moved", "duration_ms"}
    assert all(rule["duration_ms"] >= 0 for rule in entry["rules"].values())
    assert entry["duration_ms"] >= entry["rules"]["upload_timeout"]["duration_ms"]


def test_sweep_inputs_are_checked(lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant) -> None:
    from datetime import datetime

    with pytest.raises(InvalidParameter, match=r"as_of.*later than now"):
        lifecycle.sweep(as_of=clock.now() + MICRO)
    with pytest.raises(InvalidParameter, match="as_of"):
        lifecycle.sweep(as_of=datetime(2026, 3, 1))  # noqa: DTZ001 - the naive datetime is the point
    for size in (0, -1, 10_001, True, 2.5, "9"):
        with pytest.raises(InvalidParameter, match="batch_size"):
            lifecycle.sweep(batch_size=size)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        lifecycle.sweep(actor=tenant)  # type: ignore[arg-type]


def test_the_sweeper_is_named_in_the_audit_trail(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    asset_id = _created(lifecycle, tenant)
    clock.advance(2 * DAY)
    lifecycle.sweep(actor=System("sweeper-eu-1"))
    assert lifecycle.history(tenant, asset_id)[-1].actor_id == "sweeper-eu-1"


# Batches in flight: the next one found and planned while one is written --------------------------


class _Batches(SweepListener):
    def __init__(self) -> None:
        self.found_ids: list[list[str]] = []
        self.calls: list[str] = []

    def found(self, rule: TimeRule, asset_ids: Sequence[str]) -> None:
        self.found_ids.append(list(asset_ids))
        self.calls.append(f"found {len(asset_ids)}")

    def written(self, rule: TimeRule, moved: int) -> None:
        self.calls.append(f"written {moved}")


def _is_find(statement: str) -> bool:
    return statement.startswith("SELECT lifecycle_assets.asset_id") and "LIMIT" in statement


def _is_bulk_write(statement: str) -> bool:
    return statement.startswith("WITH c AS") or (
        statement.startswith("UPDATE lifecycle_assets") and "FROM (VALUES" in statement
    )


BOUND: contextvars.ContextVar[str] = contextvars.ContextVar("bound", default="unbound")


def _sweep_in_batches_of_two(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, *, overlapping: bool
) -> list[tuple[threading.Thread, str, int]]:
    """Six due assets swept in three batches, the first write held (``overlapping``) until the
    next batch has been looked for: each write's thread, the context variable it saw, and how
    many batches had been found when it began."""
    database = lifecycle.database
    ids = [_created(lifecycle, tenant) for _ in range(6)]
    clock.advance(2 * DAY)
    batches = _Batches()
    next_found = threading.Event()
    writes: list[tuple[threading.Thread, str, int]] = []

    def hold_the_first_write(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _is_find(statement) and batches.found_ids:
            next_found.set()  # a batch was handed to the writer: this find looks for the next
        elif _is_bulk_write(statement):
            writes.append((threading.current_thread(), BOUND.get(), len(batches.found_ids)))
            if overlapping and len(writes) == 1:
                assert next_found.wait(30), "the next batch was not looked for while the first was written"

    token = BOUND.set("request-7")
    event.listen(database, "before_cursor_execute", hold_the_first_write)
    try:
        report = lifecycle.sweep(batch_size=2, listener=batches)
    finally:
        event.remove(database, "before_cursor_execute", hold_the_first_write)
        BOUND.reset(token)
    assert (report.moved, report.rule("upload_timeout").changed, report.batches) == (6, 0, 3)
    assert sorted(itertools.chain.from_iterable(batches.found_ids)) == sorted(ids), "each asset found once"
    assert batches.calls == ["found 2", "written 2"] * 3
    for asset_id in ids:
        assert _events(lifecycle, tenant, asset_id) == [Event.CREATE, Event.TIME_OUT_UPLOAD]
    return writes


def test_the_next_batch_is_found_while_one_is_written_and_never_takes_its_rows(
    database: Engine, clock: ManualClock, tenant: Tenant
) -> None:
    """A database the pool can lend a second connection of (a SQLite file, PostgreSQL): a batch's
    write runs in a thread of its own, in the caller's context, while the next batch is found
    without its rows."""
    writes = _sweep_in_batches_of_two(Lifecycle(database, clock=clock), clock, tenant, overlapping=True)
    assert threading.current_thread() not in {thread for thread, _, _ in writes}
    assert {bound for _, bound, _ in writes} == {"request-7"}, "the writer runs in the caller's context"


def test_with_one_connection_each_batch_is_written_before_the_next_is_found(
    clock: ManualClock, tenant: Tenant
) -> None:
    """An in-memory SQLite database has one connection: each batch is written in the caller's
    thread before the next is found."""
    with Lifecycle("sqlite://", clock=clock) as lifecycle:
        lifecycle.upgrade()
        writes = _sweep_in_batches_of_two(lifecycle, clock, tenant, overlapping=False)
    assert {thread for thread, _, _ in writes} == {threading.current_thread()}
    assert [found for _, _, found in writes] == [1, 2, 3], "each batch written before the next is found"


def test_an_interrupt_while_a_batch_is_in_flight_waits_for_it_counts_it_and_goes_up(
    database: Engine, clock: ManualClock, tenant: Tenant
) -> None:
    lifecycle = Lifecycle(database, clock=clock)
    ids = [_created(lifecycle, tenant) for _ in range(4)]
    clock.advance(2 * DAY)
    batches = _Batches()

    def interrupt_the_next_find(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _is_find(statement) and batches.found_ids:  # the first batch is in flight meanwhile
            raise KeyboardInterrupt

    event.listen(database, "before_cursor_execute", interrupt_the_next_find)
    try:
        with pytest.raises(KeyboardInterrupt):
            lifecycle.sweep(batch_size=2, listener=batches)
    finally:
        event.remove(database, "before_cursor_execute", interrupt_the_next_find)
    assert batches.calls == ["found 2", "written 2"], "the batch in flight counted, then the interrupt"
    moved = [asset_id for asset_id in ids if Event.TIME_OUT_UPLOAD in _events(lifecycle, tenant, asset_id)]
    assert sorted(moved) == sorted(batches.found_ids[0])
