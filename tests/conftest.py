"""One suite, every backend: tests that take ``lifecycle`` run on SQLite and on PostgreSQL.

PostgreSQL runs where ``LIFECYCLE_TEST_POSTGRES_URL`` is set, and is skipped with that reason
where it is not. ``pytest -m postgresql`` selects only the PostgreSQL half.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
import structlog
from sqlalchemy import Engine, create_engine, make_url, text

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetType, FileCategory
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.store import schema
from lifecycle.store.database import open_database


def _own_postgres_database(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets a database of its own beside the one named (created
    on first use), so that workers never truncate each other's tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = make_url(url)
    if str(base.database).endswith(f"_{worker}"):
        return url  # this module imported a second time (as ``conftest`` and as ``tests.conftest``)
    own = base.set(database=f"{base.database}_{worker}")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{own.database}"'))
    finally:
        admin.dispose()
    return own.render_as_string(hide_password=False)


POSTGRES_URL = _own_postgres_database(os.environ.get("LIFECYCLE_TEST_POSTGRES_URL"))
if POSTGRES_URL:
    os.environ["LIFECYCLE_TEST_POSTGRES_URL"] = POSTGRES_URL  # for the subprocesses tests start
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TABLES = (
    "lifecycle_audit",
    "lifecycle_creation_requests",
    "lifecycle_feed_consumers",
    "lifecycle_unfreeze_applications",
    "lifecycle_asset_files",
    "lifecycle_assets",
)
MD5 = "38b8c2c1093dd0fec383a9d9ac940515"


def _drop_event(_logger: object, _name: str, _event: object) -> object:
    raise structlog.DropEvent


# The test suite is the application here: it decides where logs go (nowhere; tests that look
# at logs use structlog.testing.capture_logs).
structlog.configure(processors=[_drop_event], cache_logger_on_first_use=False)


@pytest.fixture(autouse=True)
def _structlog_restored() -> Iterator[None]:
    """What a test configures of structlog (the admin script and the main job are applications,
    and configure it) ends with the test: no later test on the same worker inherits it."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "lifecycle.db"
    database = open_database(f"sqlite:///{path}")
    schema.upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    database = open_database(POSTGRES_URL, pool_size=20, max_overflow=10)
    schema.drop(database)  # start from nothing, whatever an earlier run or benchmark left behind
    schema.upgrade(database)
    yield database
    database.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "lifecycle.db"
        shutil.copy(sqlite_template, path)
        sqlite = open_database(f"sqlite:///{path}")
        yield sqlite
        sqlite.dispose()
    else:
        postgres: Engine = request.getfixturevalue("postgres_engine")
        with postgres.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
        yield postgres


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


FACADES = ["sync", "async"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``facades`` that take ``lifecycle`` run on both facades: ``Lifecycle`` and
    ``AsyncLifecycle`` (seen through ``tests.facades.SyncView``); the others on ``Lifecycle``."""
    if "facade" in metafunc.fixturenames and metafunc.definition.get_closest_marker("facades"):
        metafunc.parametrize("facade", FACADES, indirect=True)


@pytest.fixture
def facade(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sync"))


@pytest.fixture
def lifecycle(database: Engine, clock: ManualClock, facade: str) -> Iterator[Lifecycle]:
    if facade == "sync":
        yield Lifecycle(database, clock=clock)
        return
    from lifecycle.aio import AsyncLifecycle
    from tests.facades import EventLoopThread, SyncView

    loop = EventLoopThread()
    url = database.url.render_as_string(hide_password=False)
    engine = AsyncLifecycle(url, clock=clock)
    try:
        yield cast(Lifecycle, SyncView(engine, loop, database))
    finally:
        loop.run(engine.close())
        loop.close()


@pytest.fixture
def tenant() -> Tenant:
    return Tenant("tenant-a", app_user_id="user-1")


@pytest.fixture
def other_tenant() -> Tenant:
    return Tenant("tenant-b")


@pytest.fixture
def platform() -> Platform:
    return Platform("operator-7")


@pytest.fixture
def system() -> System:
    return System()


def new_asset(
    name: str = "Male Teacher",
    *,
    activate_on_upload: bool | None = None,
    review_required: bool = False,
    **options: object,
) -> NewAsset:
    return NewAsset(
        asset_name=name,
        asset_type=AssetType.HUMAN_MODEL,
        files=[
            NewFile("male001.bin", 31032142, MD5, FileCategory.MAIN),
            NewFile("male001.png", 110321, MD5, FileCategory.COVER),
        ],
        activate_on_upload=activate_on_upload,
        review_required=review_required,
        **options,  # type: ignore[arg-type]
    )


ACTORS = {
    "tenant": Tenant("tenant-a", app_user_id="user-1"),
    "platform": Platform("operator-7"),
    "system": System(),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run the soak test (tests/test_soak.py) for SECONDS; it is left out without this option",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak") is not None:
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


def pytest_report_header() -> str:
    if POSTGRES_URL:
        return "lifecycle backends: sqlite, postgresql (LIFECYCLE_TEST_POSTGRES_URL is set)"
    return "lifecycle backends: sqlite only; PostgreSQL tests skipped: LIFECYCLE_TEST_POSTGRES_URL is not set"


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make ``paths`` unwritable for this process: mode bits, and for root (whom they do not stop)
    the immutable attribute; skips where that cannot be done."""
    modes = {path: path.stat().st_mode for path in paths}
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    chattr = shutil.which("chattr") if os.geteuid() == 0 else None
    try:
        if os.geteuid() == 0:
            if chattr is None:
                pytest.skip("running as root without chattr: cannot make a file read-only for root")
            made = subprocess.run([chattr, "+i", *paths], capture_output=True, text=True, check=False)  # noqa: S603
            if made.returncode != 0:
                pytest.skip(f"running as root and chattr +i failed here: {made.stderr.strip()}")
        yield
    finally:
        if chattr is not None:
            subprocess.run([chattr, "-i", *paths], capture_output=True, check=False)  # noqa: S603
        for path, mode in modes.items():
            path.chmod(mode)
