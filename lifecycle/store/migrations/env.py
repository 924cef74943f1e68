"""Alembic environment: runs on the connection the engine hands it (``Lifecycle.upgrade``)."""

from __future__ import annotations

from alembic import context

from lifecycle.store.models import metadata
from lifecycle.store.schema import VERSION_TABLE

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the engine runs migrations
    raise RuntimeError("run migrations through lifecycle.store.schema.upgrade()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
