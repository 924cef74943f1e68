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
    """Check each PostgreSQL connection ``database``'s pool hands out (see the module's doc), in
    place of ``pool_pre_ping``."""
    dialect = database.dialect

    @event.listens_for(database, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN] = monotonic()

    @event.listens_for(database, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.pop(_CHECKED_IN, None)
        if checked_in is None:
            return  # just connected
        quiet = _quiet(dbapi_connection)
        if quiet is None:
            raise exc.InvalidatePoolError("the connection is closed")
        if quiet and monotonic() - checked_in <= round_trip_after_idle_s:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            raise exc.InvalidatePoolError("the connection did not answer a ping")


def _quiet(dbapi_connection: Any) -> bool | None:
    """True if the idle connection's socket has nothing to read, False if something arrived while
    it was idle (the server's goodbye, or a notice), None if it is closed already."""
    connection = getattr(dbapi_connection, "driver_connection", dbapi_connection)  # asyncio's adapter
    pgconn = getattr(connection, "pgconn", None)
    if pgconn is None or connection.closed:
        return None
    try:
        socket = pgconn.socket
    except Exception:  # noqa: BLE001 - psycopg raises OperationalError for a connection gone bad
        return None
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(socket, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    readable, _, _ = select.select([socket], [], [], 0)  # pragma: no cover - platforms without poll
    return not readable
