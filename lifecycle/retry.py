"""Running a transaction again when the database refused it for contention: ``RetryPolicy``.

PostgreSQL answers a deadlock (40P01), a serialization failure (40001) or a lock wait that ran out
(55P03) by rolling the transaction back; SQLite answers a write lock held elsewhere past its busy
timeout with SQLITE_BUSY (or SQLITE_LOCKED). ``store.database.translated_errors`` turns those, and
only those, into ``StoreBusy``. The engine then runs the whole transaction again (read, decide,
guarded write, audit) after an exponential backoff with jitter, up to ``RetryPolicy.attempts``
times; past that the caller gets the ``StoreBusy``, saying how many attempts were made. A lost
connection is not retried: a commit's outcome may be unknown then (``StoreUnavailable``).

Every retry logs ``transaction_retried`` (warning) and adds one to ``Retries.count``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from lifecycle.errors import InvalidParameter, StoreBusy
from lifecycle.waits import pause

if TYPE_CHECKING:
    import tenacity

MAX_ATTEMPTS = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how patiently, a transaction refused for contention is run again.

    The wait before retry ``n`` (1, 2, …) is ``first_wait * 2**(n-1)`` plus a random share of
    ``jitter``, at most ``max_wait``. With the defaults a transaction is tried 5 times, over
    0.75-0.95 s of waiting in all (on SQLite each attempt first waits out the busy timeout).
    """

    attempts: int = 5
    """Attempts in all, the first included: 1 turns retrying off."""
    first_wait: timedelta = timedelta(milliseconds=50)
    max_wait: timedelta = timedelta(seconds=1)
    jitter: timedelta = timedelta(milliseconds=50)
    """Up to this much is added to each wait at random, so that racing writers spread out."""
    sleep: Callable[[float], None] = time.sleep
    """Called with the seconds to wait; tests pass one that does not sleep. The default,
    ``time.sleep``, becomes ``lifecycle.waits.pause`` in an async call, so that a back-off never
    blocks the event loop. It is called in the thread that runs the transaction: for a sweep's
    batch, the sweep's writer thread (``lifecycle.sweeps``)."""

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise InvalidParameter("attempts", f"must be a whole number from 1 to {MAX_ATTEMPTS}")
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise InvalidParameter("attempts", f"must be a whole number from 1 to {MAX_ATTEMPTS}")
        for name in ("first_wait", "max_wait", "jitter"):
            value = getattr(self, name)
            if not isinstance(value, timedelta):
                raise InvalidParameter(name, "must be a timedelta")
            if value < timedelta(0):
                raise InvalidParameter(name, "must not be negative")
        if self.max_wait < self.first_wait:
            raise InvalidParameter("max_wait", "must not be shorter than first_wait")
        if not callable(self.sleep):
            raise InvalidParameter("sleep", "must be callable with the seconds to wait")

    def wait(self, retry: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the second attempt)."""
        exponent = min(retry - 1, 64)  # bounded: a huge retry number cannot overflow
        backoff = self.first_wait.total_seconds() * math.pow(2, exponent)
        spread = (rng or _RANDOM).uniform(0, self.jitter.total_seconds())
        return min(backoff + spread, self.max_wait.total_seconds())


_RANDOM = random.Random()  # noqa: S311 - jitter, not secrets


class Retries:
    """Runs transactions under one ``RetryPolicy`` and counts the retries; thread-safe.

    ``run(attempt)`` calls ``attempt`` (a whole transaction) and returns what it returns. Only
    ``StoreBusy`` is retried; any other error leaves at once, as it was raised. A first attempt
    that succeeds costs one call: the retrying machinery (tenacity) is imported and built only
    after a refusal.
    """

    def __init__(self, policy: RetryPolicy, logger: Any) -> None:
        if not isinstance(policy, RetryPolicy):
            raise InvalidParameter("retry", "must be a RetryPolicy")
        self.policy = policy
        self._log = logger
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """Transactions run again since this was made, over all threads."""
        with self._lock:
            return self._count

    def run(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, run again after a backoff each time it raises ``StoreBusy``, at most
        ``policy.attempts`` times in all; past that, the last ``StoreBusy`` counting them."""
        try:
            return attempt()
        except StoreBusy as refused:
            if self.policy.attempts == 1:
                raise
            first = refused
        return self._again(attempt, first)

    def _again(self, attempt: Callable[[], T], first: StoreBusy) -> T:
        import tenacity  # noqa: PLC0415 - only a refused transaction needs it (see the class)

        policy = self.policy
        sleep = pause if policy.sleep is time.sleep else policy.sleep
        wait = policy.wait(1)
        self._retrying(1, first, wait)
        sleep(wait)
        retrying = tenacity.Retrying(
            sleep=sleep,
            stop=tenacity.stop_after_attempt(policy.attempts - 1),
            wait=lambda state: policy.wait(state.attempt_number + 1),
            retry=tenacity.retry_if_exception_type(StoreBusy),
            before_sleep=lambda state: self._retrying(
                state.attempt_number + 1,
                _busy(state),
                state.next_action.sleep if state.next_action is not None else 0.0,
            ),
            retry_error_callback=_give_up,
        )
        return retrying(attempt)

    def _retrying(self, failed_attempt: int, error: StoreBusy, wait: float) -> None:
        with self._lock:
            self._count += 1
        self._log.warning(
            "transaction_retried",
            attempt=failed_attempt,
            max_attempts=self.policy.attempts,
            wait_ms=round(wait * 1000, 3),
            db_code=error.db_code,
            error=error.detail,
        )


def _busy(state: tenacity.RetryCallState) -> StoreBusy:
    assert state.outcome is not None, "tenacity decides after an attempt"
    error = state.outcome.exception()
    assert isinstance(error, StoreBusy), "only StoreBusy is retried"
    return error


def _give_up(state: tenacity.RetryCallState) -> NoReturn:
    """Past the bound: the last ``StoreBusy``, counting every attempt (the first, run before
    tenacity took over, included), its driver error the cause."""
    last = _busy(state)
    raise StoreBusy(
        last.db_code, last.detail or "", attempts=state.attempt_number + 1, database=last.database
    ) from last.__cause__
