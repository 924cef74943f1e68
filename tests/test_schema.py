"""The schema: Alembic builds it from empty, it matches the models, and upgrading twice is safe."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from lifecycle.actors import Tenant
from lifecycle.engine import Lifecycle
from lifecycle.errors import SchemaOutOfDate, StoreUnavailable
from lifecycle.store import schema
from lifecycle.store.database import open_database
from lifecycle.store.models import PREFIX, metadata
from tests.conftest import new_asset


def test_a_migrated_database_matches_the_models(database: Engine) -> None:
    with database.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "version_table": schema.VERSION_TABLE,
                # A host service's own tables are none of our business.
                "include_name": lambda name, kind, _parent: kind != "table" or name.startswith(PREFIX),
            },
        )
        assert compare_metadata(context, metadata) == []
    assert schema.current_revision(database) == schema.head_revision()


def test_every_table_shares_the_prefix(database: Engine) -> None:
    tables = [name for name in inspect(database).get_table_names() if name.startswith(PREFIX)]
    assert sorted(tables) == sorted([*metadata.tables, schema.VERSION_TABLE])
    assert all(name.startswith(PREFIX) for name in metadata.tables)
    assert schema.VERSION_TABLE.startswith(PREFIX), "a host service's own alembic_version is left alone"


def test_upgrade_from_empty_then_again_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with Lifecycle(url) as lifecycle:
        lifecycle.upgrade()
        lifecycle.upgrade()
        assert schema.current_revision(lifecycle.database) == schema.head_revision()
        lifecycle.create_asset(Tenant("t"), new_asset())


def _empty_database(path: Path) -> str:
    """An SQLite file without the schema (one that does not exist is ``DatabaseMissing``)."""
    sqlite3.connect(path).close()
    return f"sqlite:///{path}"


def test_a_database_without_the_schema_answers_with_a_typed_error(tmp_path: Path) -> None:
    with (
        Lifecycle(_empty_database(tmp_path / "empty.db")) as lifecycle,
        pytest.raises(StoreUnavailable) as failure,
    ):
        lifecycle.create_asset(Tenant("t"), new_asset())
    assert "no such table" in str(failure.value)
    assert failure.value.__cause__ is not None


def test_check_schema_names_the_revision_to_upgrade_to(tmp_path: Path) -> None:
    with Lifecycle(_empty_database(tmp_path / "behind.db")) as lifecycle:
        needs = f"at revision none, the engine needs {schema.head_revision()}"
        with pytest.raises(SchemaOutOfDate, match=needs):
            lifecycle.check_schema()
        lifecycle.upgrade()
        lifecycle.check_schema()


def test_the_head_revision_is_alembics() -> None:
    """``head_revision`` reads the migration files without Alembic; Alembic agrees."""
    assert schema.head_revision() == ScriptDirectory.from_config(schema.alembic_config()).get_current_head()


def _migration(versions: Path, revision: str, follows: str | tuple[str, ...] | None) -> None:
    """A migration file as script.py.mako writes one."""
    (versions / f"{revision}_step.py").write_text(
        f'"""Step {revision}."""\n\nrevision = {revision!r}\ndown_revision = {follows!r}\n'
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    pass\n",
        encoding="utf-8",
    )


def test_branched_migrations_have_their_merge_as_head(tmp_path: Path) -> None:
    """Two branches adding a migration each after the same one, then the merge Alembic makes."""
    versions = tmp_path / "versions"
    versions.mkdir()
    _migration(versions, "0001", None)
    _migration(versions, "0002a", "0001")
    _migration(versions, "0002b", "0001")
    with pytest.raises(RuntimeError, match=re.escape("have 2 heads: ['0002a', '0002b']")):
        schema.migrations_head(versions)
    _migration(versions, "0003", ("0002a", "0002b"))
    assert schema.migrations_head(versions) == "0003" == ScriptDirectory(str(tmp_path)).get_current_head()


def test_a_version_table_naming_two_revisions_is_a_typed_error(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "lifecycle.db"
    shutil.copy(sqlite_template, path)
    with Lifecycle(f"sqlite:///{path}") as lifecycle:
        with lifecycle.database.begin() as connection:
            connection.execute(text(f"INSERT INTO {schema.VERSION_TABLE} (version_num) VALUES ('0001')"))
        with pytest.raises(SchemaOutOfDate, match=rf"records 2 revisions \(0001, {schema.head_revision()}\)"):
            lifecycle.check_schema()


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    schema.upgrade(database)  # creates the file
    with database.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    database.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000, "synchronous": 1}
