"""Connecting to SQLite or PostgreSQL, and the one place where driver errors become ours.

SQLite: WAL, ``synchronous=NORMAL``, foreign keys on, a busy timeout, and write transactions that
take the write lock up front (``BEGIN IMMEDIATE``) so that two writers never deadlock on a lock
upgrade. PostgreSQL: psycopg 3, read committed; guarded writes make lost races visible.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from lifecycle.errors import LifecycleError, MissingDependency, StoreBusy, StoreUnavailable

WRITE = "lifecycle_write"
"""Execution option: this connection's transaction will write (SQLite takes the lock up front)."""

SQLITE_BUSY_TIMEOUT_MS = 10_000

TRANSIENT_SQLSTATES = {
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
    "55P03": "lock_not_available",
}
"""PostgreSQL errors after which the server has rolled the transaction back and running it again
may well succeed: ``StoreBusy``. (55P03 is what a ``lock_timeout`` running out raises: PostgreSQL's
counterpart of SQLITE_BUSY.)"""

TRANSIENT_SQLITE_CODES = {5: "SQLITE_BUSY", 6: "SQLITE_LOCKED"}
"""SQLite's primary result codes (``sqlite_errorcode & 0xff``) for a lock held elsewhere."""


def open_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for ``url``, configured for the engine's transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, engine_options)
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() in ("psycopg", "") and importlib.util.find_spec("psycopg") is None:
            raise MissingDependency("psycopg", "postgres")
        if parsed.get_driver_name() == "":
            url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
        engine_options.setdefault("pool_pre_ping", True)
        return create_engine(url, **engine_options)
    return create_engine(url, **engine_options)


def _sqlite_engine(url: str, engine_options: dict[str, Any]) -> Engine:
    parsed = make_url(url)
    in_memory = parsed.database in (None, "", ":memory:")
    connect_args = engine_options.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    if in_memory:
        engine_options.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **engine_options)
    prepare_sqlite(engine, wal=not in_memory, busy_timeout_ms=round(float(connect_args["timeout"]) * 1000))
    return engine


def copy_sqlite(source: Engine, target: Engine) -> None:
    """Copy one SQLite database into another with SQLite's backup API: a migrated in-memory
    template copied this way is many times quicker than running the migrations again."""
    with source.connect() as reading, target.connect() as writing:
        template, copy = reading.connection.driver_connection, writing.connection.driver_connection
        assert template is not None, "a checked-out connection has its driver connection"
        assert copy is not None, "a checked-out connection has its driver connection"
        template.backup(copy)


def prepare_sqlite(
    engine: Engine, *, wal: bool = True, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> None:
    """Take over pysqlite's transaction handling so that writes can ``BEGIN IMMEDIATE``.

    ``busy_timeout_ms``: how long a statement waits for a lock before SQLite answers SQLITE_BUSY
    (``open_engine`` passes the ``timeout`` of its ``connect_args``, so that one setting rules).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if wal:
            _use_wal(cursor, busy_timeout_ms)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN"
        connection.exec_driver_sql(mode)


def _use_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switch the file to WAL (it stays so): only the first connection to a new file changes it.

    The switch needs the file to itself, and SQLite answers SQLITE_BUSY at once, without waiting
    out the busy timeout, when another connection is busy with it: say, another process
    switching it at the same moment. Such a connection waits here, within the busy timeout,
    until the file is in WAL (switched by the other) or the switch succeeds.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF not in TRANSIENT_SQLITE_CODES or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


@contextlib.contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction on its own connection; ``write`` ones take SQLite's write lock up front."""
    with translated_errors(), engine.connect() as connection:
        if write:
            connection.execution_options(**{WRITE: True})
        committing = False
        try:
            with connection.begin():
                yield connection
                committing = True  # the block is done: leaving it commits
        except exc.DBAPIError as error:
            if committing and write and error.connection_invalidated:
                # Lost while committing: the server may have committed before it went, so this is
                # no "nothing was written" (and, like every lost connection, it is not retried).
                raise StoreUnavailable(
                    f"the connection was lost while committing ({_first_line(error)}):"
                    " the transaction may or may not have been written"
                ) from error
            raise


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Driver errors become ``StoreUnavailable`` (the original kept as ``__cause__``); contention
    the database rolled back (``transient_code``) becomes its subclass ``StoreBusy``."""
    try:
        yield
    except LifecycleError:
        raise
    except exc.SQLAlchemyError as error:
        code = transient_code(error)
        if code is not None:
            raise StoreBusy(code, _first_line(error)) from error
        raise StoreUnavailable(f"the database failed: {_first_line(error)}; nothing was written") from error


def transient_code(error: BaseException) -> str | None:
    """The database's code for an error worth running the whole transaction again for, else None.

    Only errors after which the database has rolled the transaction back on a live connection:
    a lost connection is never transient here, since a commit's outcome may then be unknown.
    """
    if not isinstance(error, exc.DBAPIError) or error.connection_invalidated:
        return None
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate if sqlstate in TRANSIENT_SQLSTATES else None
    sqlite_code = getattr(original, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int) and sqlite_code & 0xFF in TRANSIENT_SQLITE_CODES:
        name = getattr(original, "sqlite_errorname", None)
        return name if isinstance(name, str) else TRANSIENT_SQLITE_CODES[sqlite_code & 0xFF]
    return None


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
