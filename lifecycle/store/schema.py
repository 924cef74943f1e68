"""Bringing a database's schema up to date, with Alembic, on the engine's own connection.

Alembic is imported by the calls that migrate (``upgrade``, ``downgrade``). Knowing where a
database stands (``current_revision``, ``head_revision``: what ``Lifecycle.check_schema`` and every
admin command check first) needs only the version table and the migration files' revision ids, so
it is done without Alembic, which a service's start and each admin command then never import.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, String, column, inspect, select, table, text

from lifecycle.errors import SchemaOutOfDate
from lifecycle.store.database import WRITE, create_missing_database, translated_errors
from lifecycle.store.models import metadata

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "lifecycle_alembic_version"
AUDIT_APPEND_ONLY = "lifecycle_audit_append_only"
"""PostgreSQL: the trigger function that refuses UPDATE and DELETE on the audit table."""
FEED_NOTIFY = "lifecycle_feed_notify"
"""PostgreSQL: the trigger function that notifies the change feed's consumers of new audit rows."""
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    from alembic.config import Config  # noqa: PLC0415 - only migrating needs Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The revision this version of lifecycle needs: its newest migration's.

    Read from the migration files' ``revision`` and ``down_revision`` lines without running them
    (Alembic's ``ScriptDirectory`` imports every one); tests/test_schema.py checks that the
    answer is Alembic's.
    """
    return migrations_head(MIGRATIONS / "versions")


def migrations_head(versions: Path) -> str:
    """The one revision in ``versions`` that no migration there names as its ``down_revision``."""
    follows = dict(_revision_ids(path) for path in versions.glob("*.py"))
    heads = sorted(set(follows).difference(*follows.values()))
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {versions} have {len(heads)} heads: {heads}")
    return heads[0]


def _revision_ids(path: Path) -> tuple[str, tuple[str, ...]]:
    """A migration file's revision and the revisions it follows (none for the first, two for a
    merge), from its top-level ``revision = …`` and ``down_revision = …`` (script.py.mako)."""
    found: dict[str, object] = {}
    for statement in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id in {"revision", "down_revision"}:
                found[target.id] = ast.literal_eval(statement.value)
    revision, follows = found.get("revision"), found.get("down_revision")
    if not isinstance(revision, str):
        raise RuntimeError(f"{path} assigns no revision")
    if isinstance(follows, str):
        return revision, (follows,)
    if isinstance(follows, tuple):
        return revision, tuple(str(name) for name in follows)
    return revision, ()


def current_revision(database: Engine) -> str | None:
    """The revision the database's version table records; None before the first migration.
    ``DatabaseMissing`` where an SQLite file does not exist (reading never creates it)."""
    with translated_errors(database), database.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        version = column("version_num", String)
        recorded = connection.execute(select(version).select_from(table(VERSION_TABLE))).scalars().all()
    if len(recorded) > 1:
        raise SchemaOutOfDate(
            f"the database's {VERSION_TABLE} records {len(recorded)} revisions"
            f" ({', '.join(sorted(recorded))}); lifecycle's migrations are one line, so something"
            " else wrote them"
        )
    return recorded[0] if recorded else None


MIGRATION_LOCK = 0x6C69666563796331
"""PostgreSQL advisory lock key ("lifecyc1") that serializes migrations across processes."""


def upgrade(database: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision``, in one transaction where the database allows.

    The one call that creates a missing SQLite file. Safe from any number of processes at once:
    each takes the migration lock first (PostgreSQL: a transaction-level advisory lock; SQLite: the
    write lock, taken by ``BEGIN IMMEDIATE``), so the first brings the schema up to date and the
    others then find it so and do nothing.
    """
    from alembic import command  # noqa: PLC0415 - only migrating needs Alembic

    create_missing_database(database)
    _migrate(database, lambda config: command.upgrade(config, revision))


def _migrate(database: Engine, run: Callable[[Config], None]) -> None:
    config = alembic_config()
    with translated_errors(database), database.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():  # Alembic joins this transaction: the lock is held until it commits
            if database.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            run(config)


def drop(database: Engine) -> None:
    """Drop every lifecycle table and the version table, whatever revision they are at.

    For disposable databases (tests, benchmarks): it destroys the data.
    """
    cascade = " CASCADE" if database.dialect.name == "postgresql" else ""
    names = [table.name for table in reversed(metadata.sorted_tables)] + [VERSION_TABLE]
    with translated_errors(database), database.begin() as connection:
        for name in names:
            connection.execute(text(f"DROP TABLE IF EXISTS {name}{cascade}"))
        if database.dialect.name == "postgresql":
            for function in (AUDIT_APPEND_ONLY, FEED_NOTIFY):
                connection.execute(text(f"DROP FUNCTION IF EXISTS {function}() CASCADE"))


def downgrade(database: Engine, revision: str = "base") -> None:
    from alembic import command  # noqa: PLC0415 - only migrating needs Alembic

    _migrate(database, lambda config: command.downgrade(config, revision))
