"""Sweeping on a schedule, with APScheduler 3 (the only module that imports it).

``SweepScheduler`` runs ``Lifecycle.sweep`` every ``interval`` (plus a random jitter, so that the
instances of a service do not all sweep in lockstep) in a background thread. An embedding
service starts it and stops it from its own start-up and shutdown hooks; ``run_blocking`` is the
admin script's runner, which sweeps until SIGTERM or Ctrl-C. ``AsyncSweepScheduler`` does the same
for an ``AsyncLifecycle`` on the service's event loop (APScheduler's asyncio scheduler).

A sweep never overlaps itself in one process (APScheduler's ``max_instances=1``, and a lock for
sweeps asked for by hand). Stopping sets the sweep's stop signal and waits: the batch in flight
is committed whole, no further batch starts, and what remains waits for the next sweep. Sweeps in
other processes are safe anyway: each due asset moves exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from lifecycle.actors import System
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter, LifecycleError
from lifecycle.settings import DEFAULT_BATCH_SIZE, DEFAULT_SWEEP_INTERVAL
from lifecycle.sweeps import SweepListener, SweepReport, check_batch_size

if TYPE_CHECKING:
    from lifecycle.aio import AsyncLifecycle

JOB_ID = "lifecycle-sweep"


class SweepScheduler:
    """Sweeps every ``interval`` in a background thread until stopped.

    ``jitter`` (default: a tenth of the interval) delays each run by a random amount up to it.
    The first sweep runs at once when started, unless ``sweep_at_start`` is False.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        interval: timedelta = DEFAULT_SWEEP_INTERVAL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        jitter: timedelta | None = None,
        actor: System | None = None,
        listener: SweepListener | None = None,
        sweep_at_start: bool = True,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``, if given, is the sweep's stop signal too: setting it ends the sweep in flight
        after its batch, as ``stop()`` does."""
        jitter = _checked_schedule(interval, jitter, batch_size)
        self.lifecycle = lifecycle
        self._log = lifecycle.context.logs.scheduler
        self.interval = interval
        self.jitter = jitter
        self.batch_size = batch_size
        self.actor = System() if actor is None else actor
        self.listener = listener or SweepListener()
        self._sweep_at_start = sweep_at_start
        self._stop = stop or threading.Event()
        self._sweeping = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self.trigger = _trigger(interval, jitter)
        self.last_report: SweepReport | None = None

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        """Start sweeping in the background (idempotent while running)."""
        if self.running:
            return
        self._stop.clear()
        # A scheduler that was shut down cannot run jobs again: each start gets a fresh one.
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(self.sweep_now, self.trigger, **_job_options(self._sweep_at_start))
        # Paused until its start is logged, so that no sweep's events come before it.
        self._scheduler.start(paused=True)
        _log_started(self._log, self.interval, self.jitter, self.batch_size, self.actor)
        self._scheduler.resume()

    def stop(self, *, wait: bool = True) -> None:
        """Stop: the sweep in flight finishes its batch and ends; with ``wait``, return after it."""
        self._stop.set()
        if self.running:
            self._scheduler.shutdown(wait=wait)
            self._log.info("scheduler_stopped", actor_id=self.actor.actor_id)

    def sweep_now(self) -> SweepReport | None:
        """One sweep, unless one is running in this process already (then None)."""
        if not self._sweeping.acquire(blocking=False):
            self._log.info("sweep_skipped", reason="a sweep is already running in this process")
            return None
        try:
            if self._stop.is_set():
                return None
            self.last_report = self.lifecycle.sweep(
                batch_size=self.batch_size, actor=self.actor, listener=self.listener, stop=self._stop
            )
            return self.last_report
        except LifecycleError as error:
            # The next run tries again; nothing of a failed batch was written.
            self._log.error("sweep_failed", error_code=error.code, error=error.message)
            return None
        finally:
            self._sweeping.release()

    def __enter__(self) -> SweepScheduler:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class AsyncSweepScheduler:
    """``SweepScheduler`` for asyncio: sweeps an ``AsyncLifecycle`` every ``interval`` on the
    running event loop (APScheduler's ``AsyncIOScheduler``), each sweep a task of that loop.

    ``start()`` is called from the loop (a service's start-up hook); ``await stop()`` sets the
    sweep's stop signal and waits for the sweep in flight, which commits its batch and ends.
    """

    def __init__(
        self,
        lifecycle: AsyncLifecycle,
        *,
        interval: timedelta = DEFAULT_SWEEP_INTERVAL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        jitter: timedelta | None = None,
        actor: System | None = None,
        listener: SweepListener | None = None,
        sweep_at_start: bool = True,
        stop: threading.Event | None = None,
    ) -> None:
        jitter = _checked_schedule(interval, jitter, batch_size)
        self.lifecycle = lifecycle
        self._log = lifecycle.context.logs.scheduler
        self.interval = interval
        self.jitter = jitter
        self.batch_size = batch_size
        self.actor = System() if actor is None else actor
        self.listener = listener or SweepListener()
        self._sweep_at_start = sweep_at_start
        # The sweep checks its stop signal between batches, inside its greenlet: a threading.Event
        # (is_set only, never waited on) is what Lifecycle.sweep takes.
        self._stop = stop or threading.Event()
        self._sweeping: asyncio.Lock | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self.trigger = _trigger(interval, jitter)
        self.last_report: SweepReport | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    def start(self) -> None:
        """Start sweeping on the running event loop (idempotent while running)."""
        if self.running:
            return
        self._stop.clear()
        self._sweeping = self._sweeping or asyncio.Lock()
        self._scheduler = AsyncIOScheduler(timezone=UTC, event_loop=asyncio.get_running_loop())
        self._scheduler.add_job(self.sweep_now, self.trigger, **_job_options(self._sweep_at_start))
        # Paused until its start is logged, so that no sweep's events come before it.
        self._scheduler.start(paused=True)
        _log_started(self._log, self.interval, self.jitter, self.batch_size, self.actor)
        self._scheduler.resume()

    async def stop(self) -> None:
        """Stop: the sweep in flight finishes its batch and ends; returns after it."""
        self._stop.set()
        # The sweep in flight first: APScheduler's asyncio executor cancels its jobs' tasks when it
        # shuts down, which would roll back the batch being written. A sweep starting meanwhile
        # finds the stop signal set and ends at once.
        if self._sweeping is not None:
            async with self._sweeping:
                pass
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in the loop's next callback
            self._log.info("scheduler_stopped", actor_id=self.actor.actor_id)

    async def sweep_now(self) -> SweepReport | None:
        """One sweep, unless one is running on this scheduler already (then None)."""
        self._sweeping = self._sweeping or asyncio.Lock()
        if self._sweeping.locked():
            self._log.info("sweep_skipped", reason="a sweep is already running in this process")
            return None
        async with self._sweeping:
            if self._stop.is_set():
                return None
            try:
                self.last_report = await self.lifecycle.sweep(
                    batch_size=self.batch_size, actor=self.actor, listener=self.listener, stop=self._stop
                )
            except LifecycleError as error:
                self._log.error("sweep_failed", error_code=error.code, error=error.message)
                return None
            return self.last_report

    async def __aenter__(self) -> AsyncSweepScheduler:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


def _checked_schedule(interval: object, jitter: object, batch_size: int) -> timedelta:
    """The jitter (default: a tenth of the interval), the schedule checked."""
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise InvalidParameter("interval", "must be a positive timedelta")
    jitter = interval / 10 if jitter is None else jitter
    if not isinstance(jitter, timedelta) or jitter < timedelta(0) or jitter >= interval:
        raise InvalidParameter("jitter", "must be a timedelta from zero up to the interval")
    check_batch_size(batch_size)
    return jitter


def _trigger(interval: timedelta, jitter: timedelta) -> IntervalTrigger:
    seconds, spread = interval.total_seconds(), jitter.total_seconds()
    return IntervalTrigger(seconds=seconds, jitter=spread or None, timezone=UTC)


def _job_options(sweep_at_start: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        "id": JOB_ID,
        "max_instances": 1,
        "coalesce": True,
        "replace_existing": True,
        "misfire_grace_time": None,
    }
    if sweep_at_start:
        options["next_run_time"] = datetime.now(UTC)
    return options


def _log_started(log: Any, interval: timedelta, jitter: timedelta, batch_size: int, actor: System) -> None:
    log.info(
        "scheduler_started",
        interval_s=interval.total_seconds(),
        jitter_s=jitter.total_seconds(),
        batch_size=batch_size,
        actor_id=actor.actor_id,
    )


def run_blocking(
    lifecycle: Lifecycle,
    *,
    interval: timedelta = DEFAULT_SWEEP_INTERVAL,
    batch_size: int = DEFAULT_BATCH_SIZE,
    jitter: timedelta | None = None,
    actor: System | None = None,
    listener: SweepListener | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Sweep on schedule until SIGTERM, SIGINT (Ctrl-C) or ``stop``; then finish the batch in
    flight and return. Signal handlers are installed only when called from the main thread."""
    stop = stop or threading.Event()
    sweep_stop = threading.Event()
    scheduler = SweepScheduler(
        lifecycle,
        interval=interval,
        batch_size=batch_size,
        jitter=jitter,
        actor=actor,
        listener=listener,
        stop=sweep_stop,
    )
    with _stopping_on_signals(stop, sweep_stop):
        scheduler.start()
        try:
            stop.wait()
        finally:
            scheduler.stop(wait=True)


@contextmanager
def _stopping_on_signals(*events: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``events`` (the runner's wake-up and the sweep's stop signal, so the
    sweep in flight stops after its batch at once); the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in signals}

    def request_stop(_number: int, _frame: object) -> None:
        for event in events:
            event.set()

    for number in signals:
        signal.signal(number, request_stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back; use the default.
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
