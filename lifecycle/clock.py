"""Time, injected: the engine never reads the wall clock except through a ``Clock``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from lifecycle.errors import InvalidParameter


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
            self._now += delta
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
