"""PostgreSQL connections checked as the pool hands them out, with a round trip only where needed.

SQLAlchemy's ``pool_pre_ping`` sends an empty statement at every checkout: one round trip more
per transaction, which a busy service pays on every move (a fifth of a move's round trips, and
measured at about 5% of the moves 16 callers make per second, bench/concurrency.py). A connection
whose server process ended while it sat in the pool (terminated, the server restarted or shut
down) has said so on its socket: the server's goodbye, a FATAL message and the end of the stream,
is there to read. So a connection checked in moments ago is checked by looking at its socket,
without waiting; only one with something to read, or one idle for longer than
``ROUND_TRIP_AFTER_IDLE_S`` (which a firewall or NAT may have dropped without a word), is pinged
as ``pool_pre_ping`` would. A connection found dead is replaced, and with it every connection
pooled before it (as ``pool_pre_ping`` does), before any statement of the transaction is sent.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, exc

from lifecycle.errors import InvalidParameter

ROUND_TRIP_AFTER_IDLE_S = 5.0
"""A connection idle in the pool for longer than this is pinged (a round trip) at checkout."""

_CHECKED_IN = "lifecycle_checked_in"
"""The connection record's ``info`` key: when the connection was last returned to the pool."""


def check_at_checkout(
    database: Engine,
    *,
    round_trip_after_idle_s: float = ROUND_TRIP_AFTER_IDLE_S,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Check each connection ``database``'s pool hands out (see the module's doc), in place of
    ``pool_pre_ping``: a PostgreSQL engine on psycopg 3 (``InvalidParameter`` for any other)."""
    dialect = database.dialect
    if dialect.name != "postgresql" or dialect.driver not in ("psycopg", "psycopg_async"):
        raise InvalidParameter("database", "must be a PostgreSQL engine on psycopg 3 (postgresql+psycopg://)")
    driver_error: Any = dialect.loaded_dbapi.Error  # the driver's DB-API error class

    @event.listens_for(database, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN] = monotonic()

    @event.listens_for(database, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.pop(_CHECKED_IN, None)
        if checked_in is None:
            return  # just connected (a reconnection clears ``info`` too)
        quiet = _quiet(dbapi_connection, driver_error)
        if quiet is None:
            raise exc.DisconnectionError("the connection is closed")  # this one: replaced alone
        if quiet and monotonic() - checked_in <= round_trip_after_idle_s:
            return
        # The dialect's ping itself, as pool_pre_ping's: a disconnect is told by the dialect's
        # is_disconnect (users' handle_error hooks are not consulted here).
        try:
            alive = dialect.do_ping(dbapi_connection)
        except driver_error as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            raise exc.InvalidatePoolError("the connection did not answer a ping")


def _quiet(dbapi_connection: Any, driver_error: type[Exception]) -> bool | None:
    """True if the idle connection's socket has nothing to read; False if something arrived while
    it was idle (the server's goodbye, or a notice), or if its socket cannot be looked at; None if
    psycopg holds it closed already."""
    connection = getattr(dbapi_connection, "driver_connection", dbapi_connection)  # asyncio's adapter
    if getattr(connection, "closed", False):
        return None
    try:
        socket = connection.pgconn.socket
    except (AttributeError, driver_error):  # no libpq connection to look at: ping it
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(socket, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    readable, _, _ = select.select([socket], [], [], 0)  # pragma: no cover - platforms without poll
    return not readable
