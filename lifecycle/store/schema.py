"""Bringing a database's schema up to date, with Alembic, on the engine's own connection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from lifecycle.store.database import WRITE, create_missing_database, translated_errors
from lifecycle.store.models import Base

VERSION_TABLE = "lifecycle_alembic_version"
AUDIT_APPEND_ONLY = "lifecycle_audit_append_only"
"""PostgreSQL: the trigger function that refuses UPDATE and DELETE on the audit table."""
FEED_NOTIFY = "lifecycle_feed_notify"
"""PostgreSQL: the trigger function that notifies the change feed's consumers of new audit rows."""
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("no migrations found")
    return head


def current_revision(database: Engine) -> str | None:
    with translated_errors(database), database.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


MIGRATION_LOCK = 0x6C69666563796331
"""PostgreSQL advisory lock key ("lifecyc1") that serializes migrations across processes."""


def upgrade(database: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision``, in one transaction where the database allows.

    The one call that creates a missing SQLite file. Safe from any number of processes at once:
    each takes the migration lock first (PostgreSQL: a transaction-level advisory lock; SQLite: the
    write lock, taken by ``BEGIN IMMEDIATE``), so the first brings the schema up to date and the
    others then find it so and do nothing.
    """
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
    names = [table.name for table in reversed(Base.metadata.sorted_tables)] + [VERSION_TABLE]
    with translated_errors(database), database.begin() as connection:
        for name in names:
            connection.execute(text(f"DROP TABLE IF EXISTS {name}{cascade}"))
        if database.dialect.name == "postgresql":
            for function in (AUDIT_APPEND_ONLY, FEED_NOTIFY):
                connection.execute(text(f"DROP FUNCTION IF EXISTS {function}() CASCADE"))


def downgrade(database: Engine, revision: str = "base") -> None:
    _migrate(database, lambda config: command.downgrade(config, revision))
