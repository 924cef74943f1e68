"""Time, injected: the engine never reads the wall clock except through a ``Clock``.

The engine works between ``EARLIEST_TIME`` and ``LATEST_TIME``. A clock reading outside them is
refused (``ClockOutOfRange``) before anything is computed from it: with the settings' bounded
delays (at most 100 years) and free period (at most 1,200 months), no time the engine computes
from a reading in range can leave Python's calendar (years 1 to 9999).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from lifecycle.errors import ClockOutOfRange, InvalidParameter

EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time the engine supports (the Unix epoch): a clock before it is broken."""
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
"""The first time the engine no longer supports: far enough from year 9999, the end of Python's
calendar, that the longest delay or free period added to any supported time still fits in it."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: for tests, demos and replays."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._now = as_utc(start, "start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            try:
                self._now += delta
            except OverflowError:
                raise InvalidParameter("delta", "takes the clock past the calendar (years 1-9999)") from None
            return self._now

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            self._now = as_utc(moment, "moment")
            return self._now


def as_utc(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC; a naive datetime is a programming error, not a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidParameter(name, "must be a timezone-aware datetime")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidParameter(name, "is out of range once converted to UTC") from None


def read_clock(clock: Clock) -> datetime:
    """``clock.now()`` in UTC, checked: ``InvalidParameter`` if it is not a timezone-aware
    datetime, ``ClockOutOfRange`` if it is not from ``EARLIEST_TIME`` up to ``LATEST_TIME``."""
    moment = clock.now()
    if not isinstance(moment, datetime):
        raise InvalidParameter("clock.now()", "must be a timezone-aware datetime")
    moment = as_utc(moment, "clock.now()")
    if not EARLIEST_TIME <= moment < LATEST_TIME:
        raise ClockOutOfRange(moment, EARLIEST_TIME, LATEST_TIME)
    return moment
