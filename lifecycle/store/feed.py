"""The change feed's statements: reading the audit trail in feed order, and the consumers' cursors.

A row's place in the feed is ``(feed_txid, id)``. What may be read is what no transaction still
in progress can come before (``lifecycle.feed`` explains the horizon).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Row,
    Table,
    func,
    literal,
    literal_column,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from lifecycle.store import models

audit = cast(Table, models.audit)
consumers = cast(Table, models.feed_consumers)

HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
"""PostgreSQL: the oldest transaction still in progress, as this statement's snapshot sees it: no
row placed below it can still appear."""

Position = tuple[int, int]
BEGINNING: Position = (0, 0)


def _place() -> Any:
    return tuple_(audit.c.feed_txid, audit.c.id)


def _at(position: Position) -> Any:
    return tuple_(literal(position[0], BigInteger), literal(position[1], BigInteger))


def _readable(connection: Connection) -> ColumnElement[bool]:
    if connection.dialect.name == "postgresql":
        return audit.c.feed_txid < literal_column(HORIZON)
    return true()  # one writer at a time: a row committed is never preceded by one to come


def read(connection: Connection, after: Position, limit: int) -> list[Row[Any]]:
    """The audit rows after ``after``, in feed order, that nothing can come before any more."""
    statement = (
        select(audit)
        .where(_place() > _at(after), _readable(connection))
        .order_by(audit.c.feed_txid, audit.c.id)
        .limit(limit)
    )
    return list(connection.execute(statement))


def end(connection: Connection) -> Position:
    """The place of the latest row that can be read now (``BEGINNING`` if none)."""
    row = connection.execute(
        select(audit.c.feed_txid, audit.c.id)
        .where(_readable(connection))
        .order_by(audit.c.feed_txid.desc(), audit.c.id.desc())
        .limit(1)
    ).first()
    return BEGINNING if row is None else (int(row[0]), int(row[1]))


def latest(connection: Connection) -> Position:
    """The place of the latest row committed, readable or not yet (``BEGINNING`` if none)."""
    row = connection.execute(
        select(audit.c.feed_txid, audit.c.id).order_by(audit.c.feed_txid.desc(), audit.c.id.desc()).limit(1)
    ).first()
    return BEGINNING if row is None else (int(row[0]), int(row[1]))


def cursor(connection: Connection, name: str) -> Position | None:
    row = connection.execute(
        select(consumers.c.position_txid, consumers.c.position_id).where(consumers.c.name == name)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def count_after(connection: Connection, after: Position) -> int:
    """How many rows there are after ``after`` (committed ones, readable or soon to be)."""
    return int(
        connection.execute(select(func.count()).select_from(audit).where(_place() > _at(after))).scalar_one()
    )


def place_before(connection: Connection, moment: datetime) -> Position:
    """The place just before the first row that happened at ``moment`` or later: a cursor there
    replays everything from then on."""
    first = connection.execute(
        select(audit.c.feed_txid, audit.c.id)
        .where(audit.c.occurred_at >= moment)
        .order_by(audit.c.feed_txid, audit.c.id)
        .limit(1)
    ).first()
    if first is None:
        return end(connection)
    txid, row_id = int(first[0]), int(first[1])
    return (txid, row_id - 1)


# Consumers --------------------------------------------------------------------------------------


def claim(connection: Connection, name: str, start: Position, now: datetime) -> Position | None:
    """The consumer's cursor, its row locked until the transaction ends (made at ``start`` if it
    is new); None if another instance holds it (PostgreSQL; SQLite's writer holds the database)."""
    upsert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        upsert(consumers)
        .values(name=name, position_txid=start[0], position_id=start[1], created_at=now, updated_at=now)
        .on_conflict_do_nothing()
    )
    statement = select(consumers.c.position_txid, consumers.c.position_id).where(consumers.c.name == name)
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    row = connection.execute(statement).first()
    return None if row is None else (int(row[0]), int(row[1]))


def advance(connection: Connection, name: str, position: Position, now: datetime) -> None:
    connection.execute(
        update(consumers)
        .where(consumers.c.name == name)
        .values(position_txid=position[0], position_id=position[1], updated_at=now)
    )


def move(connection: Connection, name: str, position: Position, now: datetime) -> Position | None:
    """Set the consumer's cursor (waiting for an instance that holds it); its cursor before, or
    None if there is no such consumer."""
    statement = select(consumers.c.position_txid, consumers.c.position_id).where(consumers.c.name == name)
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = connection.execute(statement).first()
    if row is None:
        return None
    advance(connection, name, position, now)
    return (int(row[0]), int(row[1]))


def all_consumers(connection: Connection) -> Sequence[Row[Any]]:
    return list(connection.execute(select(consumers).order_by(consumers.c.name)))


def lags(connection: Connection, positions: Sequence[Position]) -> list[int]:
    return [count_after(connection, position) for position in positions]


__all__ = [
    "BEGINNING",
    "HORIZON",
    "Position",
    "advance",
    "all_consumers",
    "claim",
    "count_after",
    "cursor",
    "end",
    "lags",
    "latest",
    "move",
    "place_before",
    "read",
]
