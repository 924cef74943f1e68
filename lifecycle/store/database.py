"""Connecting to SQLite or PostgreSQL, and the one place where driver errors become ours.

SQLite: WAL, ``synchronous=NORMAL``, foreign keys on, a busy timeout, and write transactions that
take the write lock up front (``BEGIN IMMEDIATE``) so that two writers never deadlock on a lock
upgrade. A file is opened as an SQLite URI in ``mode=rw``, so that a mistyped path is
``DatabaseMissing`` instead of a new empty database: only ``schema.upgrade`` creates the file. A
file this process may not write is read as it is (see ``SqliteFile.connect``).
PostgreSQL: psycopg 3, read committed; guarded writes make lost races visible.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import urllib.parse
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.util.concurrency import await_only

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

from lifecycle.errors import (
    DatabaseMissing,
    DatabaseReadOnly,
    InvalidParameter,
    LifecycleError,
    MissingDependency,
    StoreBusy,
    StoreUnavailable,
)
from lifecycle.store.checkout import check_at_checkout
from lifecycle.waits import in_async_call, pause

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

READ_ONLY_SQLSTATE = "25006"
"""PostgreSQL's read_only_sql_transaction: a write on a standby or in a read-only transaction."""

SUPPORTED_DATABASES = (
    "sqlite:///PATH (the standard library's sqlite3)"
    " and postgresql://… (psycopg 3; also written postgres://… or postgresql+psycopg://…)"
)

PYSQLITE_OPTIONS = frozenset(
    {"uri", "timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"}
)
"""Query keys of an SQLite URL that SQLAlchemy hands to the sqlite3 module; the others (``mode``,
``immutable``, ``cache``, ``vfs``, …) are SQLite's own URI parameters."""

SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})


def open_database(url: str, **engine_options: Any) -> Engine:
    """An engine for ``url``, configured for the engine's transactions.

    ``InvalidParameter`` for a URL that is not one of ``SUPPORTED_DATABASES``;
    ``MissingDependency`` when PostgreSQL's driver, psycopg 3, is not installed.
    """
    parsed = _parse(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return _sqlite_engine(parsed, engine_options)
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        # SQLAlchemy's default for a bare postgresql:// is psycopg2, which the package does not
        # ship: psycopg 3 is named explicitly.
        try:
            database = create_engine(parsed.set(drivername="postgresql+psycopg"), **engine_options)
        except ImportError as error:
            raise MissingDependency("psycopg", "postgres") from error
        if "pool_pre_ping" not in engine_options:  # else SQLAlchemy pings every checkout, or none
            check_at_checkout(database)
        return database
    raise InvalidParameter(
        "database", f"{parsed.drivername}:// is not supported; lifecycle runs on {SUPPORTED_DATABASES}"
    )


def open_async_database(url: str, **engine_options: Any) -> AsyncEngine:
    """An asyncio engine for ``url`` (the URLs ``open_database`` takes), on the native async
    driver: aiosqlite for SQLite, psycopg 3's async connection for PostgreSQL. Configured as
    ``open_database`` configures its engine: its sync side (``sync_engine``, which
    ``AsyncLifecycle`` runs the engine's logic on) gets the same events.

    ``MissingDependency`` (extra ``async``) when aiosqlite or greenlet is not installed.
    """
    parsed = _parse(url)
    backend, _, driver = parsed.drivername.partition("+")
    try:
        from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415 - async callers only

        if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
            return _async_sqlite_engine(parsed, engine_options, create_async_engine)
        if backend in ("postgresql", "postgres") and driver in ("", "psycopg", "psycopg_async"):
            async_url = parsed.set(drivername="postgresql+psycopg_async")
            database = create_async_engine(async_url, **engine_options)
            if "pool_pre_ping" not in engine_options:  # as open_database's
                check_at_checkout(database.sync_engine)
            return database
    except ImportError as error:
        missing = getattr(error, "name", None) or "greenlet"
        raise MissingDependency(missing, "postgres" if missing == "psycopg" else "async") from error
    raise InvalidParameter(
        "database", f"{parsed.drivername}:// is not supported; lifecycle runs on {SUPPORTED_DATABASES}"
    )


def _async_sqlite_engine(url: URL, engine_options: dict[str, Any], create: Any) -> AsyncEngine:
    import aiosqlite  # noqa: F401, PLC0415 - SQLAlchemy imports it on first connect; fail here, clearly

    file = SqliteFile.from_url(url)
    connect_args = engine_options.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    database: AsyncEngine = create(
        url.set(drivername="sqlite+aiosqlite"), connect_args=connect_args, **engine_options
    )
    if file is not None:

        @event.listens_for(database.sync_engine, "do_connect")
        def _connect(dialect: Any, _record: Any, _args: Any, driver_options: dict[str, Any]) -> Any:
            options = {key: value for key, value in driver_options.items() if key != "uri"}
            try:
                return dialect.connect(file.uri(), uri=True, **options)
            except sqlite3.OperationalError as error:
                if not file.path.exists():
                    raise DatabaseMissing(str(file.path), database=file.database) from error
                raise

    prepare_sqlite(
        database.sync_engine,
        wal=file is not None,
        busy_timeout_ms=round(float(connect_args["timeout"]) * 1000),
    )
    return database


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except (exc.ArgumentError, ValueError) as error:
        # The text is not repeated: it may hold a password.
        raise InvalidParameter(
            "database", "not a database URL (for example sqlite:///lifecycle.db or postgresql://user@host/db)"
        ) from error


def display_url(url: URL) -> str:
    """The URL as messages show it: its password ``***``, a password in its query left out."""
    query = {key: value for key, value in url.query.items() if key.lower() not in SECRET_QUERY_KEYS}
    return url.set(query=query).render_as_string(hide_password=True)


def _sqlite_engine(url: URL, engine_options: dict[str, Any]) -> Engine:
    file = SqliteFile.from_url(url)
    connect_args = engine_options.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    if file is None:
        engine_options.setdefault("poolclass", StaticPool)
    database = create_engine(url, connect_args=connect_args, **engine_options)
    if file is not None:

        @event.listens_for(database, "do_connect")
        def _connect(_dialect: Any, _record: Any, _args: Any, driver_options: dict[str, Any]) -> Any:
            return file.connect(driver_options)

    prepare_sqlite(
        database, wal=file is not None, busy_timeout_ms=round(float(connect_args["timeout"]) * 1000)
    )
    return database


@dataclass(frozen=True, slots=True)
class SqliteFile:
    """An SQLite database in a file, as its URL names it.

    SQLite's URI parameters in the URL (``?mode=ro``, ``?immutable=1``, …) are handed to SQLite,
    with or without ``uri=true``; without a ``mode``, the file is opened ``mode=rw``: never created.
    """

    path: Path
    options: Mapping[str, str]
    database: str
    """The URL, for messages."""

    @classmethod
    def from_url(cls, url: URL) -> SqliteFile | None:
        """The file ``url`` names; None for an in-memory database."""
        options = {
            key: value if isinstance(value, str) else value[-1]
            for key, value in url.query.items()
            if key not in PYSQLITE_OPTIONS
        }
        name = url.database or ""
        if _truthy(str(url.query.get("uri", ""))) and name.startswith("file:"):
            name = urllib.parse.unquote(urllib.parse.urlsplit(name).path)
        if name in ("", ":memory:") or options.get("mode") == "memory":
            return None
        return cls(Path(os.path.abspath(name)), options, display_url(url))

    @property
    def immutable(self) -> bool:
        return _truthy(self.options.get("immutable", ""))

    @property
    def read_only(self) -> bool:
        """The URL asks for reading only (``mode=ro`` or ``immutable=1``)."""
        return self.options.get("mode") == "ro" or self.immutable

    def uri(self, **options: str) -> str:
        merged = {"mode": "rw", **self.options, **options}
        return f"file:{urllib.parse.quote(str(self.path))}?{urllib.parse.urlencode(merged)}"

    def connect(self, driver_options: Mapping[str, Any]) -> sqlite3.Connection:
        """A connection to the file: ``DatabaseMissing`` if there is none.

        A file this process may not write, SQLite opens for reading. A database in WAL mode also
        needs its ``-shm`` file, which SQLite creates beside it: when it cannot (a read-only
        directory or mount), and no ``-wal`` file holds changes the database file lacks (so nobody
        has it open), the file is read as it is, ``immutable=1``. With such a ``-wal`` file it
        cannot be read without them, and the error says so.
        """
        options = {key: value for key, value in driver_options.items() if key != "uri"}
        try:
            connection: sqlite3.Connection = sqlite3.connect(self.uri(), uri=True, **options)
        except sqlite3.OperationalError as error:
            if not self.path.exists():
                raise DatabaseMissing(str(self.path), database=self.database) from error
            raise
        try:
            connection.execute("PRAGMA journal_mode").fetchone()  # reads the -shm of a WAL database
        except sqlite3.OperationalError as error:
            connection.close()
            shm_refused = _primary_code(error) in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY)
            if self.immutable or not shm_refused:
                raise
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StoreUnavailable(
                    f"the database {self.database} cannot be read here: SQLite cannot create"
                    f" {self.path}-shm, and {wal} holds changes not yet in {self.path}; copy the"
                    " database and its -wal file into a directory this process can write",
                    database=self.database,
                    detail=str(error),
                ) from error
            connection = sqlite3.connect(self.uri(mode="ro", immutable="1"), uri=True, **options)
        return connection


def create_missing_database(database: Engine) -> None:
    """Create the SQLite file ``database`` names when there is none (``schema.upgrade`` does this
    first, and nothing else does); any other database is left alone."""
    if database.dialect.name != "sqlite":
        return
    file = SqliteFile.from_url(database.url)
    if file is None or file.read_only or file.path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(file.uri(mode="rwc"), uri=True)) as created:
            created.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as error:
        why = "its directory does not exist" if not file.path.parent.is_dir() else str(error)
        raise StoreUnavailable(
            f"the database {file.database} cannot be created at {file.path}: {why}",
            database=file.database,
            detail=str(error),
        ) from error


def _truthy(value: str) -> bool:
    """SQLite's reading of a boolean URI parameter."""
    return value.lower() in ("1", "yes", "true", "on")


def _primary_code(error: sqlite3.Error) -> int:
    return int(getattr(error, "sqlite_errorcode", 0)) & 0xFF


def copy_sqlite(source: Engine, target: Engine) -> None:
    """Copy one SQLite database into another with SQLite's backup API: a migrated in-memory
    template copied this way is many times quicker than running the migrations again."""
    with source.connect() as reading, target.connect() as writing:
        template, copy = reading.connection.driver_connection, writing.connection.driver_connection
        assert template is not None, "a checked-out connection has its driver connection"
        assert copy is not None, "a checked-out connection has its driver connection"
        template.backup(copy)


def prepare_sqlite(
    database: Engine, *, wal: bool = True, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> None:
    """Take over pysqlite's transaction handling so that writes can ``BEGIN IMMEDIATE``.

    ``busy_timeout_ms``: how long a statement waits for a lock before SQLite answers SQLITE_BUSY
    (``open_database`` passes the ``timeout`` of its ``connect_args``, so that one setting rules).
    """

    @event.listens_for(database, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if wal:
            _use_wal(cursor, busy_timeout_ms)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(database, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN"
        connection.exec_driver_sql(mode)


def _use_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switch the file to WAL (it stays so): only the first connection to a new file changes it.

    Not where this connection may not change the journal mode (a read-only file, ``mode=ro``):
    reading needs no WAL, and a write is refused anyway. The switch needs the file to itself,
    and SQLite answers SQLITE_BUSY at once, without waiting out the busy timeout, when another
    connection is busy with it: say, another process switching it at the same moment. Such a
    connection waits here, within the busy timeout, until the file is in WAL (switched by the
    other) or the switch succeeds.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        cursor.execute("PRAGMA journal_mode")  # a DBAPI cursor: aiosqlite's adapter returns None here
        if cursor.fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            code = _primary_code(error)
            if code == sqlite3.SQLITE_READONLY:
                return
            if code not in TRANSIENT_SQLITE_CODES or time.monotonic() > deadline:
                raise
            pause(0.005)


WRITER_TURN_TIMEOUT_S = SQLITE_BUSY_TIMEOUT_MS / 1000
"""How long an async SQLite write waits for its turn before it goes on to SQLite's own lock."""

_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, Any] = weakref.WeakKeyDictionary()
"""Per async SQLite engine and event loop, the ``asyncio.Lock`` its write transactions take turns on."""


@contextlib.contextmanager
def _writers_take_turns(database: Engine, write: bool) -> Iterator[None]:
    """On an async SQLite engine (aiosqlite, in an ``AsyncLifecycle`` call's greenlet), one write
    transaction at a time per engine, queued on the event loop: SQLite has one writer anyway, and
    writers waiting in its busy handler sleep in growing steps (up to 100 ms) while the loop could
    hand the lock on at once. Other processes' writers still meet the busy timeout."""
    if not (write and database.dialect.name == "sqlite" and database.dialect.is_async and in_async_call()):
        yield
        return
    import asyncio  # noqa: PLC0415 - async callers only, with asyncio loaded already

    by_loop = _SQLITE_WRITERS.setdefault(database, weakref.WeakKeyDictionary())
    lock = by_loop.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    try:
        await_only(asyncio.wait_for(lock.acquire(), WRITER_TURN_TIMEOUT_S))
    except TimeoutError:
        # Held that long (say, by a consumer's handler writing through the engine inside its own
        # batch): go on without a turn, to SQLite's busy timeout and StoreBusy, as without turns.
        yield
        return
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def transaction(database: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction on its own connection; ``write`` ones take SQLite's write lock up front."""
    with translated_errors(database), _writers_take_turns(database, write), database.connect() as connection:
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
                name = display_url(database.url)
                raise StoreUnavailable(
                    f"the connection to the database {name} was lost while committing"
                    f" ({_first_line(error)}): the transaction may or may not have been written",
                    database=name,
                    detail=_first_line(error),
                ) from error
            raise


@contextlib.contextmanager
def translated_errors(database: Engine | None = None) -> Iterator[None]:
    """Driver errors become ``StoreUnavailable`` (the original kept as ``__cause__``), naming
    ``database``; contention the database rolled back (``transient_code``) becomes its
    subclass ``StoreBusy``, and a write the database may not take ``DatabaseReadOnly``."""
    try:
        yield
    except LifecycleError:
        raise
    except exc.SQLAlchemyError as error:
        name = None if database is None else display_url(database.url)
        detail = _first_line(error)
        code = transient_code(error)
        if code is not None:
            raise StoreBusy(code, detail, database=name) from error
        if _refused_as_read_only(error):
            raise DatabaseReadOnly(database=name, detail=detail) from error
        named = f"{name} " if name else ""
        raise StoreUnavailable(
            f"the database {named}failed: {detail}; nothing was written", database=name, detail=detail
        ) from error


def _refused_as_read_only(error: exc.SQLAlchemyError) -> bool:
    original = getattr(error, "orig", None)
    if getattr(original, "sqlstate", None) == READ_ONLY_SQLSTATE:
        return True
    return isinstance(original, sqlite3.Error) and _primary_code(original) == sqlite3.SQLITE_READONLY


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
