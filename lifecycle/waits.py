"""Waiting inside the engine's sync code without blocking an event loop: ``pause``.

``AsyncLifecycle`` (lifecycle.aio) runs the engine's one, synchronous logic in a greenlet on the
event loop (SQLAlchemy's asyncio bridge): there a ``time.sleep`` would stop every other task of
the loop for its whole length. Every wait of the engine's own (a retry's back-off, the change
feed's pauses while its horizon passes, SQLite's switch to WAL) goes through ``pause`` instead,
which awaits ``asyncio.sleep`` when called in such a greenlet and sleeps otherwise.
"""

from __future__ import annotations

import time

from sqlalchemy.util import concurrency
from sqlalchemy.util.concurrency import await_only


def in_async_call() -> bool:
    """Whether this code runs in an async call's greenlet (False where greenlet is not installed:
    SQLAlchemy's ``in_greenlet`` raises then, and no async call can be running)."""
    return bool(getattr(concurrency, "have_greenlet", False)) and concurrency.in_greenlet()


def pause(seconds: float) -> None:
    """Wait ``seconds``: on the event loop (``asyncio.sleep``) when called from an async call's
    greenlet, so that the loop's other tasks run meanwhile; ``time.sleep`` anywhere else."""
    if in_async_call():
        import asyncio  # noqa: PLC0415 - only async calls get here, with asyncio loaded already

        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)
