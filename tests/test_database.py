"""Opening the database: which URLs work, files that are missing or read-only, and what an error
tells whom.

- ``postgresql://`` and ``postgres://`` use psycopg 3, the driver the package ships; without it,
  ``MissingDependency`` names the extra. Any other backend or driver is ``InvalidParameter``
  naming the supported ones.
- A SQLite file that does not exist is ``DatabaseMissing`` for every call but ``upgrade``, which
  creates it; nothing else creates the file.
- A SQLite file that cannot be written (``?mode=ro``, a read-only file, directory or mount) is
  read; a write to it is ``DatabaseReadOnly``.
- Every database error names the database, its password hidden; ``to_dict()``, the body a service
  sends its client, carries none of the detail of a failure of the service.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, text
from sqlalchemy.engine import make_url

from lifecycle.actors import Platform, System, Tenant
from lifecycle.definition import AssetState, BatchAction
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    CorruptRecord,
    DatabaseMissing,
    DatabaseReadOnly,
    InvalidParameter,
    LifecycleError,
    MissingDependency,
    MissingProgram,
    SchemaOutOfDate,
    StoreBusy,
    StoreUnavailable,
)
from lifecycle.store import schema
from lifecycle.store.database import open_database, translated_errors
from tests.conftest import POSTGRES_URL, TABLES, new_asset, read_only

TENANT = Tenant("tenant-a")
OPERATOR = Platform("ops-alice")


def _plain(url: str, scheme: str = "postgresql") -> str:
    """``url`` with the bare scheme people paste (no ``+driver``)."""
    return make_url(url).set(drivername=scheme).render_as_string(hide_password=False)


# Which URLs work -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_every_postgresql_url_form_uses_psycopg_3(scheme: str) -> None:
    """SQLAlchemy's default driver for a bare postgresql:// is psycopg2, which the package does not
    ship: before, this raised ModuleNotFoundError (psycopg2)."""
    pytest.importorskip("psycopg")
    database = open_database(f"{scheme}://user:secret@db.internal:5433/assets")
    try:
        assert (database.dialect.name, database.dialect.driver) == ("postgresql", "psycopg")
        url = database.url
        assert (url.host, url.port, url.database) == ("db.internal", 5433, "assets")
    finally:
        database.dispose()


@pytest.mark.postgresql
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_the_engine_works_on_a_bare_postgresql_url(postgres_engine: Engine, scheme: str) -> None:
    assert POSTGRES_URL is not None
    with Lifecycle(_plain(POSTGRES_URL, scheme)) as lifecycle:
        lifecycle.check_schema()
        asset = lifecycle.create_asset(TENANT, new_asset())
        assert lifecycle.get_asset(TENANT, asset.asset_id).asset_state is AssetState.CREATING
        assert lifecycle.database.dialect.driver == "psycopg"
    with postgres_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))


@pytest.mark.parametrize(
    "url", ["postgresql://app@db/assets", "postgres://app@db/assets", "postgresql+psycopg://app@db/assets"]
)
def test_without_psycopg_a_postgresql_url_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails, as uninstalled
    with pytest.raises(MissingDependency) as raised:
        Lifecycle(url)
    assert (raised.value.package, raised.value.extra) == ("psycopg", "postgres")
    assert raised.value.message == "psycopg is not installed: pip install 'lifecycle[postgres]'"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://app:secret@db/assets",
        "postgresql+asyncpg://app:secret@db/assets",
        "mysql://app:secret@db/assets",
        "mysql+pymysql://app:secret@db/assets",
        "oracle://app:secret@db/assets",
        "mssql+pyodbc://app:secret@db/assets",
        "sqlite+aiosqlite:///assets.db",
        "nosuchdb://app:secret@db/assets",
    ],
)
def test_an_unsupported_database_is_refused_naming_the_supported_ones(url: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        Lifecycle(url)
    error = raised.value
    assert error.field == "database"
    assert error.problem.startswith(f"{make_url(url).drivername}:// is not supported; lifecycle runs on")
    assert "sqlite:///PATH" in error.problem and "postgresql://" in error.problem
    assert "secret" not in error.message and "@db" not in error.message


@pytest.mark.parametrize("url", ["not a url", "postgresql://app:secret@db:port/assets", ""])
def test_a_malformed_url_is_invalid_without_repeating_it(url: str) -> None:
    with pytest.raises(InvalidParameter, match=r"^invalid parameter database: not a database URL") as raised:
        Lifecycle(url)
    assert "secret" not in raised.value.message


# A missing SQLite file ------------------------------------------------------------------------------


def test_every_call_but_upgrade_on_a_missing_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    """Before, the first call created an empty file and failed on "no such table"."""
    path = tmp_path / "typo.db"
    url = f"sqlite:///{path}"
    calls = {
        "check_schema": lambda lifecycle: lifecycle.check_schema(),
        "get_asset": lambda lifecycle: lifecycle.get_asset(OPERATOR, "a1"),
        "list_assets": lambda lifecycle: lifecycle.list_assets(TENANT),
        "history": lambda lifecycle: lifecycle.history(OPERATOR, "a1"),
        "verify_audit": lambda lifecycle: lifecycle.verify_audit(System()),
        "storage_report": lambda lifecycle: lifecycle.storage_report(OPERATOR),
        "due_counts": lambda lifecycle: lifecycle.due_counts(),
        "sweep": lambda lifecycle: lifecycle.sweep(),
        "create_asset": lambda lifecycle: lifecycle.create_asset(TENANT, new_asset()),
        "current_revision": lambda lifecycle: schema.current_revision(lifecycle.database),
    }
    with Lifecycle(url) as lifecycle:
        for name, call in calls.items():
            with pytest.raises(DatabaseMissing) as raised:
                call(lifecycle)
            error = raised.value
            assert error.message == (
                f"no database at {path} (create it with: lifecycle db upgrade, or Lifecycle.upgrade())"
            ), name
            assert (error.path, error.database) == (str(path), url), name
            assert not path.exists(), f"{name} created the file"
        lifecycle.upgrade()
        assert path.exists()
        lifecycle.check_schema()
        lifecycle.create_asset(TENANT, new_asset())


def test_a_relative_path_is_named_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Lifecycle("sqlite:///lifecycle.db") as lifecycle, pytest.raises(DatabaseMissing) as raised:
        lifecycle.check_schema()
    assert raised.value.path == str(tmp_path / "lifecycle.db")
    assert raised.value.database == "sqlite:///lifecycle.db"


def test_upgrade_in_a_missing_directory_names_it(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "directory" / "x.db"
    with Lifecycle(f"sqlite:///{path}") as lifecycle, pytest.raises(StoreUnavailable) as raised:
        lifecycle.upgrade()
    assert raised.value.message == (
        f"the database sqlite:///{path} cannot be created at {path}: its directory does not exist"
    )
    assert not path.parent.exists()


def test_a_read_only_url_never_creates_the_file_not_even_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with Lifecycle(f"sqlite:///{path}?mode=ro") as lifecycle, pytest.raises(DatabaseMissing):
        lifecycle.upgrade()
    assert not path.exists()


# A read-only SQLite file ---------------------------------------------------------------------------


@pytest.fixture
def backup(tmp_path: Path) -> tuple[Path, str]:
    """A database with one asset and its history, in its own directory, closed (no -wal, no -shm);
    and the asset's id."""
    directory = tmp_path / "backup"
    directory.mkdir()
    path = directory / "lifecycle.db"
    with Lifecycle(f"sqlite:///{path}") as lifecycle:
        lifecycle.upgrade()
        asset = lifecycle.create_asset(TENANT, new_asset())
        lifecycle.freeze(OPERATOR, asset.asset_id)
    assert sorted(p.name for p in directory.iterdir()) == ["lifecycle.db"]
    return path, asset.asset_id


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reads_work(url: str, asset_id: str) -> None:
    """Every reading call answers, and a write is refused as read-only."""
    with Lifecycle(url) as lifecycle:
        lifecycle.check_schema()
        assert lifecycle.get_asset(OPERATOR, asset_id).asset_state is AssetState.BLOCK
        history = lifecycle.history(OPERATOR, asset_id)
        assert [entry.to_state for entry in history] == [AssetState.CREATING, AssetState.BLOCK]
        assert lifecycle.list_assets(TENANT).total == 1
        assert lifecycle.verify_audit(System()).clean
        assert lifecycle.storage_report(OPERATOR).tenants[0].project_id == TENANT.project_id
        assert lifecycle.due_counts() is not None
        with pytest.raises(DatabaseReadOnly) as raised:
            lifecycle.create_asset(TENANT, new_asset())
        assert raised.value.database == url
        assert raised.value.message.startswith(f"the database {url} is read-only (")
        (failed,) = lifecycle.batch(TENANT, BatchAction.DELETE, [asset_id])
        assert failed.error_code == "LIFECYCLE.STORE_UNAVAILABLE"


@pytest.mark.parametrize("form", ["?mode=ro", "uri"])
def test_a_rollback_journal_backup_opened_read_only_is_read_and_never_written(
    backup: tuple[Path, str], form: str
) -> None:
    """A backup in rollback-journal mode, opened read-only: before, ``?mode=ro`` was ignored
    (the file was written), and the URI form failed every read on ``PRAGMA journal_mode=WAL``."""
    path, asset_id = backup
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    before = _digest(path)
    url = f"sqlite:///{path}?mode=ro" if form == "?mode=ro" else f"sqlite:///file:{path}?mode=ro&uri=true"
    _reads_work(url, asset_id)
    assert _digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["lifecycle.db"]


def test_a_read_only_file_in_a_read_only_directory_is_read(backup: tuple[Path, str]) -> None:
    """A WAL database on read-only media: SQLite cannot create its -shm beside it. Before, every
    command failed ("unable to open database file" for root, "attempt to write a readonly
    database" for another user)."""
    path, asset_id = backup
    before = _digest(path)
    with read_only(path, path.parent):
        assert not os.access(path.parent / "probe", os.F_OK)
        with pytest.raises(OSError):  # noqa: PT011 - whichever errno the platform gives
            (path.parent / "probe").touch()
        _reads_work(f"sqlite:///{path}", asset_id)
        _reads_work(f"sqlite:///{path}?mode=ro", asset_id)
    assert _digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["lifecycle.db"]


def test_a_read_only_file_in_a_writable_directory_is_read(backup: tuple[Path, str]) -> None:
    path, asset_id = backup
    before = _digest(path)
    with read_only(path):
        _reads_work(f"sqlite:///{path}", asset_id)
    assert _digest(path) == before


def test_a_read_only_directory_whose_wal_holds_changes_is_refused_not_read_stale(tmp_path: Path) -> None:
    """Read as it is, the file would miss what its -wal holds: refused, saying why."""
    source = tmp_path / "live" / "lifecycle.db"
    source.parent.mkdir()
    copy = tmp_path / "copy" / "lifecycle.db"
    copy.parent.mkdir()
    with Lifecycle(f"sqlite:///{source}") as lifecycle:
        lifecycle.upgrade()
        lifecycle.create_asset(TENANT, new_asset())
    with closing(sqlite3.connect(source, isolation_level=None)) as writer:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE lifecycle_assets SET asset_name = 'renamed'")
        shutil.copy(source, copy)  # the rename is in the -wal only
        shutil.copy(f"{source}-wal", f"{copy}-wal")
    assert Path(f"{copy}-wal").stat().st_size > 0
    url = f"sqlite:///{copy}"
    with read_only(copy, Path(f"{copy}-wal"), copy.parent), Lifecycle(url) as lifecycle:
        with pytest.raises(StoreUnavailable) as raised:
            lifecycle.list_assets(TENANT)
        assert raised.value.message == (
            f"the database {url} cannot be read here: SQLite cannot create {copy}-shm, and {copy}-wal"
            f" holds changes not yet in {copy}; copy the database and its -wal file into a directory"
            " this process can write"
        )


@pytest.mark.postgresql
def test_a_read_only_postgresql_transaction_is_databaseread_only(postgres_engine: Engine) -> None:
    """The same error on PostgreSQL (a standby, or default_transaction_read_only)."""
    with postgres_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    assert POSTGRES_URL is not None
    reading = open_database(POSTGRES_URL, connect_args={"options": "-c default_transaction_read_only=on"})
    try:
        with Lifecycle(reading) as lifecycle:
            assert lifecycle.list_assets(TENANT).total == 0
            with pytest.raises(DatabaseReadOnly) as raised:
                lifecycle.create_asset(TENANT, new_asset())
        database = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        assert raised.value.message.startswith(f"the database {database} is read-only (")
    finally:
        reading.dispose()


# Errors name the database; clients learn nothing of it ----------------------------------------------


def test_a_database_error_names_the_database_with_its_password_hidden(tmp_path: Path) -> None:
    url = "postgresql+psycopg://app:s3cret@127.0.0.1:1/assets_prod?connect_timeout=5"
    with Lifecycle(url) as lifecycle, pytest.raises(StoreUnavailable) as raised:
        lifecycle.list_assets(TENANT)
    error = raised.value
    shown = "postgresql+psycopg://app:***@127.0.0.1:1/assets_prod?connect_timeout=5"
    assert error.database == shown
    assert error.message.startswith(f"the database {shown} failed: ")
    assert "s3cret" not in error.message

    in_query = "postgresql+psycopg://app@127.0.0.1:1/assets_prod?password=s3cret"
    with Lifecycle(in_query) as lifecycle, pytest.raises(StoreUnavailable) as raised:
        lifecycle.list_assets(TENANT)
    assert raised.value.database == "postgresql+psycopg://app@127.0.0.1:1/assets_prod"
    assert "s3cret" not in raised.value.message


def test_sqlite_errors_name_the_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    url = f"sqlite:///{path}"
    with Lifecycle(url) as lifecycle, pytest.raises(StoreUnavailable) as raised:
        lifecycle.list_assets(TENANT)
    assert type(raised.value) is StoreUnavailable
    assert raised.value.message.startswith(f"the database {url} failed: no such table: ")


def _failures(tmp_path: Path) -> dict[str, tuple[LifecycleError, list[str]]]:
    """Failures of the service, each raised for real where it can be, with the internal detail its
    message carries and a client must not see."""
    failures: dict[str, tuple[LifecycleError, list[str]]] = {}

    def caught(name: str, call: object, secrets: list[str]) -> None:
        try:
            call()  # type: ignore[operator]
        except LifecycleError as error:
            failures[name] = (error, secrets)
        else:  # pragma: no cover - the set-up failed
            raise AssertionError(f"{name} did not fail")

    unreachable = "postgresql+psycopg://app:s3cret@db-primary.internal:6543/assets_prod?connect_timeout=1"
    with Lifecycle(unreachable) as lifecycle:
        caught(
            "unreachable",
            lambda: lifecycle.list_assets(TENANT),
            ["db-primary.internal", "6543", "assets_prod"],
        )
    empty = tmp_path / "empty-file.db"
    sqlite3.connect(empty).close()
    with Lifecycle(f"sqlite:///{empty}") as lifecycle:
        caught("no such table", lambda: lifecycle.list_assets(TENANT), [str(tmp_path), "lifecycle_assets"])
        caught("schema out of date", lifecycle.check_schema, ["revision", schema.head_revision(), "upgrade"])
    missing = tmp_path / "typo.db"
    with Lifecycle(f"sqlite:///{missing}") as lifecycle:
        caught("missing", lambda: lifecycle.list_assets(TENANT), [str(missing), "upgrade"])
    upgraded = tmp_path / "upgraded.db"
    with Lifecycle(f"sqlite:///{upgraded}") as lifecycle:
        lifecycle.upgrade()
    with Lifecycle(f"sqlite:///{upgraded}?mode=ro") as lifecycle:
        caught("read-only", lambda: lifecycle.create_asset(TENANT, new_asset()), [str(upgraded), "readonly"])

    def busy() -> None:
        database = open_database(f"sqlite:///{upgraded}")
        try:
            with translated_errors(database):
                raise _operational("BEGIN IMMEDIATE", sqlite3.OperationalError("database is locked"), 5)
        finally:
            database.dispose()

    caught("busy", busy, [str(upgraded), "database is locked", "SQLITE_BUSY"])
    failures["corrupt"] = (
        CorruptRecord("a1", "asset_state 'ACTIVATED' is not a state of the definition"),
        ["asset_state", "ACTIVATED"],
    )
    failures["missing package"] = (MissingDependency("psycopg", "postgres"), ["psycopg", "pip"])
    failures["missing program"] = (
        MissingProgram("Graphviz's dot", "rendering the state diagrams", "install Graphviz"),
        ["dot", "Graphviz"],
    )
    return failures


def _operational(statement: str, original: sqlite3.OperationalError, code: int) -> Exception:
    original.sqlite_errorcode = code
    original.sqlite_errorname = "SQLITE_BUSY"
    return exc.OperationalError(statement, {}, original)


def test_the_error_body_of_a_failure_of_the_service_carries_none_of_its_detail(tmp_path: Path) -> None:
    """Before, ``to_dict()`` was the message: host, port, database name, path, SQL, driver text."""
    failures = _failures(tmp_path)
    assert set(failures) >= {"unreachable", "missing", "read-only", "busy", "corrupt"}
    for name, (error, secrets) in failures.items():
        body = error.to_dict()
        assert "s3cret" not in error.message, name
        assert body == {"error_code": error.code, "error_msg": type(error).server_message}, name
        assert error.http_status >= 500, name
        for secret in secrets:
            assert secret in error.message or secret in repr(error.__dict__), (name, secret)
            assert secret.lower() not in body["error_msg"].lower(), (name, secret)
    assert failures["busy"][0].to_dict() == {
        "error_code": "LIFECYCLE.STORE_BUSY",
        "error_msg": "the service's database is busy; nothing was written, and trying again is safe",
    }
    assert failures["unreachable"][0].to_dict() == {
        "error_code": "LIFECYCLE.STORE_UNAVAILABLE",
        "error_msg": "the service's database is unavailable; try again later",
    }
    assert isinstance(failures["busy"][0], StoreBusy)
    assert isinstance(failures["schema out of date"][0], SchemaOutOfDate)


def test_every_error_class_answering_5xx_has_its_own_client_text() -> None:
    """A new failure class that forgot its ``server_message`` would say only "the service failed";
    each says what kind of failure it is, in its own words."""
    classes: set[type[LifecycleError]] = set()
    pending: list[type[LifecycleError]] = [LifecycleError]
    while pending:
        cls = pending.pop()
        classes.add(cls)
        pending.extend(cls.__subclasses__())
    for cls in classes:
        if cls.http_status >= 500 and cls not in (DatabaseMissing, DatabaseReadOnly):
            assert "server_message" in vars(cls), cls.__name__


def test_a_batch_result_carries_the_client_text_and_keeps_the_error(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with Lifecycle(f"sqlite:///{path}") as lifecycle:
        lifecycle.upgrade()
        asset = lifecycle.create_asset(TENANT, new_asset())
    with Lifecycle(f"sqlite:///{path}?mode=ro") as lifecycle:
        (result,) = lifecycle.batch(TENANT, BatchAction.DELETE, [asset.asset_id])
    assert result.to_json()["error_msg"] == StoreUnavailable.server_message
    assert isinstance(result.error, DatabaseReadOnly)
    assert str(path) in result.error.message
    assert str(path) not in str(result.to_json())
