"""Fixtures of the hostile-input tests: ``arena`` (a world on each backend), ``script`` (the admin
script on each backend) and ``both_backends`` (one SQLite and one PostgreSQL ``Lifecycle``).

The admin script's ``_restore_logging`` (autouse) applies to every test here, as it did when
these tests were one module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lifecycle.clock import ManualClock
from lifecycle.engine import Lifecycle
from lifecycle.store.database import open_database
from tests.conftest import START, TABLES
from tests.hostile.script import Script
from tests.hostile.world import Arena
from tests.test_cli import _restore_logging, database_url  # noqa: F401 - fixtures used by name


@pytest.fixture
def arena(lifecycle: Lifecycle) -> Arena:
    return Arena(lifecycle, lifecycle.database)


@pytest.fixture
def script(database_url: str) -> Iterator[Script]:  # noqa: F811 - the fixture imported above
    lifecycle = Lifecycle(database_url)
    yield Script(database_url, Arena(lifecycle, lifecycle.database))
    lifecycle.close()


@pytest.fixture
def both_backends(
    sqlite_template: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[list[Lifecycle]]:
    postgres: Engine = request.getfixturevalue("postgres_engine")
    with postgres.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    path = tmp_path / "same.db"
    path.write_bytes(sqlite_template.read_bytes())
    sqlite = open_database(f"sqlite:///{path}")
    yield [Lifecycle(sqlite, clock=ManualClock(START)), Lifecycle(postgres, clock=ManualClock(START))]
    sqlite.dispose()
