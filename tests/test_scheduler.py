"""The scheduler: sweeps in the background, never overlaps itself, and stops after the batch in
flight, whether stopped by the service or by SIGTERM. No sleeps: tests wait on the events the
sweep's listener signals."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from lifecycle.actors import Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, TimeRule
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter
from lifecycle.scheduler import JOB_ID, SweepScheduler, run_blocking
from lifecycle.sweeps import SweepListener, SweepReport
from tests.conftest import new_asset

WAIT = 30  # seconds; a bound on waiting for an event, never a delay


class _Gate(SweepListener):
    """Holds the first batch between being found and being written until released."""

    def __init__(self) -> None:
        self.found_batch = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()
        self.reports: list[SweepReport] = []

    def found(self, rule: TimeRule, asset_ids: Sequence[str]) -> None:
        if not self.found_batch.is_set():
            self.found_batch.set()
            assert self.release.wait(WAIT)

    def finished(self, report: SweepReport) -> None:
        self.reports.append(report)
        self.done.set()


def _due_assets(lifecycle: Lifecycle, clock: ManualClock, count: int) -> list[str]:
    tenant = Tenant("scheduled")
    ids = [lifecycle.create_asset(tenant, new_asset()).asset_id for _ in range(count)]
    clock.advance(timedelta(days=2))
    return ids


def _states(lifecycle: Lifecycle, ids: Sequence[str]) -> list[AssetState]:
    return [lifecycle.get_asset(Tenant("scheduled"), asset_id).asset_state for asset_id in ids]


def test_a_started_scheduler_sweeps_in_the_background_and_logs(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    ids = _due_assets(lifecycle, clock, 3)
    gate = _Gate()
    gate.release.set()
    with capture_logs() as logs, SweepScheduler(lifecycle, interval=timedelta(hours=1), listener=gate):
        assert gate.done.wait(WAIT)
    assert gate.reports[0].moved == 3
    assert _states(lifecycle, ids) == [AssetState.FAILED] * 3
    events = [entry["event"] for entry in logs]
    assert events[0] == "scheduler_started"
    assert "sweep_finished" in events
    assert events[-1] == "scheduler_stopped"


def test_the_job_runs_on_an_interval_with_jitter_and_never_alongside_itself(lifecycle: Lifecycle) -> None:
    scheduler = SweepScheduler(lifecycle, interval=timedelta(seconds=90), jitter=timedelta(seconds=15))
    scheduler.start()
    try:
        job = scheduler._scheduler.get_job(JOB_ID)
        assert job.trigger.interval == timedelta(seconds=90)
        assert job.trigger.jitter == 15
        assert (job.max_instances, job.coalesce) == (1, True)
    finally:
        scheduler.stop()
    assert SweepScheduler(lifecycle, interval=timedelta(minutes=10)).jitter == timedelta(minutes=1)


def test_a_sweep_asked_for_while_one_runs_is_skipped(lifecycle: Lifecycle, clock: ManualClock) -> None:
    _due_assets(lifecycle, clock, 2)
    gate = _Gate()
    scheduler = SweepScheduler(lifecycle, listener=gate)
    running = threading.Thread(target=scheduler.sweep_now)
    running.start()
    assert gate.found_batch.wait(WAIT)
    with capture_logs() as logs:
        assert scheduler.sweep_now() is None
    assert [entry["event"] for entry in logs] == ["sweep_skipped"]
    gate.release.set()
    running.join(WAIT)
    assert scheduler.last_report is not None and scheduler.last_report.moved == 2


def test_stopping_lets_the_batch_in_flight_finish_and_starts_no_other(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    ids = _due_assets(lifecycle, clock, 10)
    stop_called, stop_returned = threading.Event(), threading.Event()
    returned_before_batch: list[bool] = []

    class Gate(_Gate):
        def written(self, rule: TimeRule, moved: int) -> None:
            returned_before_batch.append(stop_returned.is_set())

    gate = Gate()
    scheduler = SweepScheduler(lifecycle, batch_size=4, listener=gate)
    scheduler.start()
    assert gate.found_batch.wait(WAIT)

    def stop() -> None:
        stop_called.set()
        scheduler.stop()
        stop_returned.set()

    stopping = threading.Thread(target=stop)
    stopping.start()
    assert stop_called.wait(WAIT)
    assert scheduler._stop.wait(WAIT)  # the sweep's stop signal is set before the batch goes on
    gate.release.set()
    stopping.join(WAIT)
    assert stop_returned.is_set() and not scheduler.running
    assert returned_before_batch == [False], "stop() returned before the batch in flight was written"
    report = gate.reports[0]
    assert (report.moved, report.batches, report.stopped) == (4, 1, True)
    assert _states(lifecycle, ids).count(AssetState.FAILED) == 4
    assert lifecycle.due_counts()["upload_timeout"] == 6


def test_scheduler_settings_are_checked(lifecycle: Lifecycle) -> None:
    for interval in (timedelta(0), timedelta(seconds=-1), 60):
        with pytest.raises(InvalidParameter, match="interval"):
            SweepScheduler(lifecycle, interval=interval)  # type: ignore[arg-type]
    for jitter in (timedelta(seconds=-1), timedelta(minutes=1), 5):
        with pytest.raises(InvalidParameter, match="jitter"):
            SweepScheduler(lifecycle, interval=timedelta(minutes=1), jitter=jitter)  # type: ignore[arg-type]
    for size in (0, 10_001, True, "5"):
        with pytest.raises(InvalidParameter, match="batch_size"):
            SweepScheduler(lifecycle, batch_size=size)  # type: ignore[arg-type]


def test_a_stopped_scheduler_sweeps_again_when_started_again(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    first, second = _Gate(), _Gate()
    first.release.set()
    second.release.set()
    scheduler = SweepScheduler(lifecycle, listener=first)
    scheduler.start()
    assert first.done.wait(WAIT)
    scheduler.stop()
    ids = _due_assets(lifecycle, clock, 2)
    scheduler.listener = second
    scheduler.start()
    try:
        assert second.done.wait(WAIT)
    finally:
        scheduler.stop()
    assert second.reports[0].moved == 2
    assert _states(lifecycle, ids) == [AssetState.FAILED] * 2


def test_run_blocking_returns_after_its_stop_is_set(lifecycle: Lifecycle, clock: ManualClock) -> None:
    _due_assets(lifecycle, clock, 2)
    stop = threading.Event()
    gate = _Gate()
    gate.release.set()
    runner = threading.Thread(target=run_blocking, args=(lifecycle,), kwargs={"stop": stop, "listener": gate})
    runner.start()
    assert gate.done.wait(WAIT)
    stop.set()
    runner.join(WAIT)
    assert not runner.is_alive()
    assert gate.reports[0].moved == 2


CHILD = textwrap.dedent(
    """
    import sys
    import threading
    from datetime import UTC, datetime, timedelta

    import structlog

    from lifecycle import Lifecycle, ManualClock, Tenant
    from lifecycle.scheduler import run_blocking
    from lifecycle.sweeps import SweepListener
    from tests.conftest import new_asset

    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    lifecycle = Lifecycle(sys.argv[1], clock=clock)
    lifecycle.upgrade()
    for _ in range(10):
        lifecycle.create_asset(Tenant("t"), new_asset())
    clock.advance(timedelta(days=2))
    stop = threading.Event()

    class Pause(SweepListener):
        paused = False

        def found(self, rule, asset_ids):
            if self.paused:
                return
            self.paused = True
            print("FOUND", flush=True)
            sys.stdin.readline()
            # Go on with the batch only once SIGTERM has been handled.
            assert stop.wait(30), "SIGTERM was not handled"

    run_blocking(lifecycle, batch_size=4, listener=Pause(), stop=stop)
    print("RETURNED", lifecycle.due_counts()["upload_timeout"], flush=True)
    """
)


def test_sigterm_stops_the_blocking_runner_after_the_batch_in_flight(tmp_path: Path) -> None:
    import signal

    url = f"sqlite:///{tmp_path / 'sigterm.db'}"
    with subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            # The marker may share a line with a JSON log line the scheduler's thread wrote at the
            # same moment (two threads print to one stdout), so look for it within the line.
            while (line := child.stdout.readline()) and "FOUND" not in line:
                pass
            assert "FOUND" in line
            child.send_signal(signal.SIGTERM)
            output, _ = child.communicate("go\n", timeout=WAIT)
            assert child.returncode == 0
        finally:
            child.kill()
    assert "RETURNED 6" in output, output
    assert '"event": "scheduler_stopped"' in output
