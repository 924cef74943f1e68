"""Every SQL statement the engine runs. State changes only through ``write_move``.

``write_move`` is a guarded write: ``UPDATE … WHERE asset_id, project_id, asset_state, version``
plus the audit row, in the caller's transaction. On PostgreSQL both are one statement (a
data-modifying CTE), so a transition costs the read and one round trip; on SQLite they are two
statements in-process. A write that matches nothing returns False: the caller raises ``Conflict``.

Statements are built once per repository and reused, so SQLAlchemy compiles each only once.
"""

from __future__ import annotations

import functools
from collections import Counter, namedtuple
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import Any, cast

from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Enum,
    Insert,
    Row,
    Select,
    Table,
    Update,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from lifecycle.chain import GENESIS, HASHED_COLUMNS, RECORDED_COLUMNS
from lifecycle.definition import (
    STORED_FILE_STATES,
    ApplicationState,
    AssetFacts,
    AssetState,
    AssetType,
    BlockScope,
    Definition,
    Event,
    FileCategory,
    FileState,
    UnknownValue,
)
from lifecycle.errors import CorruptRecord
from lifecycle.integrity import check_known, check_stored_state
from lifecycle.moves import AssetRow, Move
from lifecycle.records import TransitionRecord
from lifecycle.store import models
from lifecycle.store.prepared import Prepared, converted_row, result_processors

assets = cast(Table, models.assets)
files = cast(Table, models.files)
audit = cast(Table, models.audit)
applications = cast(Table, models.applications)
creation_requests = cast(Table, models.creation_requests)

_MAIN_FILE = files.alias("main_file")

TRANSACTION_ID = "pg_current_xact_id()::text::bigint"
"""PostgreSQL: the writing transaction's id, the base of its rows' places in the change feed."""


def FEED_PLACE(table: str) -> str:  # noqa: N802 - an SQL expression, spelled like the constant above
    """PostgreSQL: a move's place in the change feed: its transaction's id, never below the asset's
    previous place, so that an asset's rows are in the feed in the order they were written
    (lifecycle.feed explains why this never skips a row)."""
    return f"GREATEST({table}.feed_head, {TRANSACTION_ID})"


_DECISION_COLUMNS = (
    assets.c.asset_id,
    assets.c.project_id,
    assets.c.version,
    assets.c.asset_type,  # not decided on, but a row the engine acts on holds only known values
    assets.c.asset_state,
    assets.c.pre_freeze_state,
    assets.c.pre_delete_state,
    assets.c.activate_on_upload,
    assets.c.review_required,
    _MAIN_FILE.c.state.label("main_file_state"),
    assets.c.fail_type,
    assets.c.reason,
    assets.c.block_reason_code,
    assets.c.block_scope,
    assets.c.upload_deadline,
    assets.c.upload_time_left_us,
    assets.c.retention_started_at,
    assets.c.planned_operation,
    assets.c.planned_operation_time,
    assets.c.state_changed_at,
    assets.c.audit_head,
)

_MOVED_COLUMNS = (
    "asset_state",
    "version",
    "pre_freeze_state",
    "pre_delete_state",
    "fail_type",
    "reason",
    "block_reason_code",
    "block_scope",
    "upload_deadline",
    "upload_time_left_us",
    "retention_started_at",
    "planned_operation",
    "planned_operation_time",
    "update_time",
    "state_changed_at",
    "audit_head",
)

_MOVE_RECORDED = ("block_scope", "block_reason_code")
"""What a move's audit row records beyond ``HASHED_COLUMNS`` (a freeze's scope and code)."""
_AUDIT_COLUMNS = (*HASHED_COLUMNS, *_MOVE_RECORDED, "chain_hash")
_VERIFIED_AUDIT_COLUMNS = (*HASHED_COLUMNS, *RECORDED_COLUMNS, "chain_hash")
_AUDIT_ENUMS = tuple(name for name in _AUDIT_COLUMNS if isinstance(audit.c[name].type, Enum))


def decision_select() -> Select[Any]:
    """The columns a decision needs, the MAIN file's state joined in."""
    return select(*_DECISION_COLUMNS).select_from(
        assets.outerjoin(
            _MAIN_FILE,
            and_(
                _MAIN_FILE.c.asset_id == assets.c.asset_id,
                _MAIN_FILE.c.asset_file_category == FileCategory.MAIN,
            ),
        )
    )


_GUARD_COLUMNS: dict[str, Column[Any]] = {
    "b_asset_id": assets.c.asset_id,
    "b_project_id": assets.c.project_id,
    "b_source": assets.c.asset_state,
    "b_expected_version": assets.c.version,
}
"""The guard of every state change: the asset, its tenant, and the state and version it was read at
(parameter name: the column it must equal)."""

_GUARD = and_(*(column == bindparam(name, type_=column.type) for name, column in _GUARD_COLUMNS.items()))


def _guard_sql(table: str, value: dict[str, str]) -> str:
    """The guard in SQL text, ``table``'s columns against the expressions in ``value``."""
    return " AND ".join(f"{table}.{column.name} = {value[name]}" for name, column in _GUARD_COLUMNS.items())


_ALWAYS_SET = frozenset({"asset_state", "version", "update_time", "state_changed_at", "audit_head"})

_ROW_ATTRIBUTE = {
    "asset_state": "state",
    "pre_freeze_state": "facts.pre_freeze",
    "pre_delete_state": "facts.pre_delete",
}
_ROW_VALUE = {
    name: attrgetter(_ROW_ATTRIBUTE.get(name, name)) for name in _MOVED_COLUMNS if name not in _ALWAYS_SET
}
"""How to read each moved column's current value from an ``AssetRow``."""


def _move_params(move: Move) -> dict[str, Any]:
    """The guarded write's parameters: ``b_`` the guard, ``n_`` the new columns, ``a_`` the audit
    row (the move's record, ``TransitionRecord.audit_values``, chained to the asset's head)."""
    record = move.record
    head = record.chain_hash(move.previous_hash)
    return {
        "b_asset_id": record.asset_id,
        "b_project_id": record.project_id,
        "b_source": record.from_state,
        "b_expected_version": move.expected_version,
        "n_asset_state": record.to_state,
        "n_version": record.version,
        "n_pre_freeze_state": record.pre_freeze_state,
        "n_pre_delete_state": record.pre_delete_state,
        "n_fail_type": move.fail_type,
        "n_reason": move.reason,
        "n_block_reason_code": move.block_reason_code,
        "n_block_scope": move.block_scope,
        "n_upload_deadline": move.upload_deadline,
        "n_upload_time_left_us": move.upload_time_left_us,
        "n_retention_started_at": move.retention_started_at,
        "n_planned_operation": move.planned_operation,
        "n_planned_operation_time": move.planned_operation_time,
        "n_update_time": record.occurred_at,
        "n_state_changed_at": move.state_changed_at,
        "n_audit_head": head,
        "a_asset_id": record.asset_id,
        "a_project_id": record.project_id,
        "a_seq": record.version,
        "a_event": record.event,
        "a_from_state": record.from_state,
        "a_to_state": record.to_state,
        "a_actor_kind": record.actor_kind,
        "a_actor_id": record.actor_id,
        "a_reason": record.reason,
        "a_fail_type": record.fail_type,
        "a_request_id": record.request_id,
        "a_occurred_at": record.occurred_at,
        "a_pre_freeze_state": record.pre_freeze_state,
        "a_pre_delete_state": record.pre_delete_state,
        "a_block_scope": record.block_scope,
        "a_block_reason_code": record.block_reason_code,
        "a_chain_hash": head,
    }


_Record = namedtuple("_Record", [column.name for column in _DECISION_COLUMNS])  # type: ignore[misc]
_PROJECT_ID = _Record._fields.index("project_id")


def _converted(values: Sequence[Any], process: Any, *, memo: bool) -> list[Any]:
    """``values`` through a bind or result processor; with ``memo``, each distinct value once
    (a batch repeats most values: its ``now``, reasons, states)."""
    if not memo:
        return [None if value is None else process(value) for value in values]
    seen: dict[Any, Any] = {None: None}
    converted = []
    for value in values:
        done = seen.get(value, _UNSEEN)
        if done is _UNSEEN:
            done = seen[value] = process(value)
        converted.append(done)
    return converted


_UNSEEN = object()


def check_asset_record(record: Any, definition: Definition) -> None:
    """``CorruptRecord`` unless the asset's own columns (a decision row or the full row) hold only
    what a legal history can. The combinations found sound are few, and remembered."""
    key = (
        id(definition),
        record.asset_state,
        record.pre_freeze_state,
        record.pre_delete_state,
        record.asset_type,
        record.fail_type,
        record.block_scope,
        record.planned_operation,
    )
    if key in _SOUND:
        return
    _check_asset_record(record, definition)
    if len(_SOUND) < _MAX_SOUND:
        _SOUND[key] = definition


_SOUND: dict[tuple[Any, ...], Definition] = {}
"""Column combinations already checked, by definition (held, so that its id is not reused)."""
_MAX_SOUND = 10_000


def _check_asset_record(record: Any, definition: Definition) -> None:
    check_stored_state(
        record.asset_id, record.asset_state, record.pre_freeze_state, record.pre_delete_state, definition
    )
    check_known(
        record.asset_id,
        {
            "asset_type": record.asset_type,
            "fail_type": record.fail_type,
            "block_scope": record.block_scope,
            "planned_operation": record.planned_operation,
        },
    )


def _check_file_record(row: Any) -> None:
    check_known(row.asset_id, {"file_state": row.state, "file_category": row.asset_file_category})


def row_from(record: Any, definition: Definition) -> AssetRow:
    """The decision's view of a row; ``CorruptRecord`` if it holds what no legal history can."""
    check_asset_record(record, definition)
    if isinstance(record.main_file_state, UnknownValue):
        check_known(record.asset_id, {"main_file_state": record.main_file_state})
    return AssetRow(
        asset_id=record.asset_id,
        project_id=record.project_id,
        version=record.version,
        facts=_facts(
            record.asset_state,
            record.pre_freeze_state,
            record.pre_delete_state,
            record.activate_on_upload,
            record.review_required,
            record.main_file_state or FileState.CREATING,
            record.block_scope is BlockScope.TENANT,
        ),
        fail_type=record.fail_type,
        reason=record.reason,
        block_reason_code=record.block_reason_code,
        block_scope=record.block_scope,
        upload_deadline=record.upload_deadline,
        upload_time_left_us=record.upload_time_left_us,
        retention_started_at=record.retention_started_at,
        planned_operation=record.planned_operation,
        planned_operation_time=record.planned_operation_time,
        state_changed_at=record.state_changed_at,
        audit_head=record.audit_head,
    )


@dataclass(frozen=True, slots=True)
class AssetFilters:
    """A listing's optional filters, checked (``lifecycle.reader``)."""

    asset_types: tuple[AssetType, ...] = ()
    name: str | None = None
    """Part of the name, case-insensitively (lower-cased already)."""
    tag: str | None = None
    """Part of one tag, case-insensitively (lower-cased already)."""
    created_from: datetime | None = None
    created_to: datetime | None = None
    app_user_id: str | None = None
    asset_ids: tuple[str, ...] = ()


def _contains(part: str) -> str:
    """A LIKE pattern matching text that contains ``part`` (its wildcards escaped)."""
    escaped = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


IN_LIST_CHUNK = 10_000
"""Ids per ``IN`` list: well within SQLite's limit on a statement's parameters (32,766)."""


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[start : start + IN_LIST_CHUNK]) for start in range(0, len(ids), IN_LIST_CHUNK)]


def _among(column: Column[Any], name: str, dialect_name: str) -> ColumnElement[bool]:
    """``column`` is one of the list bound as ``name``: on PostgreSQL one array parameter
    (``= ANY``), elsewhere an expanding ``IN`` (one parameter per value, rendered per call)."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _repeated(records: Iterable[Any]) -> dict[str, int]:
    """Assets read more than once: the decision's join gives one row per MAIN file."""
    counts = Counter(record.asset_id for record in records)
    return {asset_id: count for asset_id, count in counts.items() if count > 1}


def _too_many_main_files(asset_id: str, count: int) -> CorruptRecord:
    return CorruptRecord(asset_id, f"it has {count} MAIN files; every asset has exactly one")


@functools.lru_cache(maxsize=1024)
def _facts(
    state: AssetState,
    pre_freeze: AssetState | None,
    pre_delete: AssetState | None,
    activate_on_upload: bool,
    review_required: bool,
    main_file_state: FileState,
    frozen_by_tenant: bool,
) -> AssetFacts:
    """Facts are few and immutable: rows read in bulk share them instead of building each."""
    return AssetFacts(
        state, pre_freeze, pre_delete, activate_on_upload, review_required, main_file_state, frozen_by_tenant
    )


class _Processors:
    """Bind processors per parameter, applied once per distinct value of a batch."""

    def __init__(self, types: dict[str, Any], dialect: Dialect) -> None:
        self.names = list(types)
        self.processors = [types[name]._cached_bind_processor(dialect) for name in self.names]

    def columns(self, params: Sequence[dict[str, Any]]) -> list[list[Any]]:
        result: list[list[Any]] = []
        for name, process in zip(self.names, self.processors, strict=True):
            values = [row[name] for row in params]
            result.append(values if process is None else _converted(values, process, memo=True))
        return result


class _ValuesStatement:
    """SQLite: the guarded writes of a batch as ``UPDATE … FROM (VALUES (...), ...) AS v WHERE
    <guard>``, or its audit rows as one multi-row ``INSERT``, in chunks that stay within SQLite's
    limit on parameters per statement.

    Which assets an update wrote is read from its count of changed rows: all of the chunk, as a
    rule; where some were left alone (changed since they were read), from their ``audit_head``,
    which is now the move's new head exactly where the move was written (the write transaction
    holds the database meanwhile). ``RETURNING`` would hand each row back through a step of its
    own, each taking the GIL again: a sweep writing in one thread while planning in another would
    wait on the planning thread once per row."""

    MAX_PARAMETERS = 32_766

    def __init__(
        self, table: Table, columns: dict[str, Column[Any]], dialect: Dialect, *, update: bool
    ) -> None:
        self._processors = _Processors({name: column.type for name, column in columns.items()}, dialect)
        self._table = table
        self._names = list(columns)
        self._update = update
        self.chunk = self.MAX_PARAMETERS // len(self._names)
        self._asset_id = self._names.index("b_asset_id") if update else -1
        self._new_head = self._names.index("n_audit_head") if update else -1

    def sql(self, rows: int) -> str:
        placeholders = ", ".join(["(" + ", ".join("?" * len(self._names)) + ")"] * rows)
        if not self._update:
            columns = ", ".join(name.removeprefix("a_") for name in self._names)
            return f"INSERT INTO {self._table.name} ({columns}) VALUES {placeholders}"  # noqa: S608
        # SQLite names the columns of a VALUES list column1, column2, ...; and the statement must
        # begin with UPDATE (not WITH) for the driver to report how many rows it changed.
        column = {name: f"v.column{position}" for position, name in enumerate(self._names, start=1)}
        sets = ", ".join(f"{name[2:]} = {column[name]}" for name in self._names if name.startswith("n_"))
        table = self._table.name
        return (
            f"UPDATE {table} SET {sets} FROM (VALUES {placeholders}) AS v"  # noqa: S608
            f" WHERE {_guard_sql(table, column)}"
        )

    def rows(self, params: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Each move's values, converted for the driver, in the statement's order."""
        return list(zip(*self._processors.columns(params), strict=True))

    def execute(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> set[str]:
        """Run over every one of ``rows``; the ids of the assets written (by an update)."""
        written: set[str] = set()
        for start in range(0, len(rows), self.chunk):
            chunk = rows[start : start + self.chunk]
            result = connection.exec_driver_sql(self.sql(len(chunk)), tuple(chain.from_iterable(chunk)))
            if self._update:
                written.update(self._written(connection, chunk, result.rowcount))
        return written

    def _written(self, connection: Connection, chunk: Sequence[tuple[Any, ...]], changed: int) -> list[str]:
        asset_ids = [row[self._asset_id] for row in chunk]
        if changed == len(chunk):
            return asset_ids
        stored = select(assets.c.asset_id, assets.c.audit_head).where(assets.c.asset_id.in_(asset_ids))
        heads = dict(connection.execute(stored).tuples().all())
        return [row[self._asset_id] for row in chunk if heads.get(row[self._asset_id]) == row[self._new_head]]


class _UnnestStatement:
    """PostgreSQL: the claim and the guarded writes of a whole batch as one statement.

    ``WITH v AS (SELECT * FROM unnest(<one array per varying parameter>)), locked AS (SELECT …
    WHERE asset_id = ANY(<the ids>) FOR UPDATE SKIP LOCKED), moved AS (UPDATE lifecycle_assets …
    FROM v WHERE asset_id is locked AND <guard against v>), audited AS (INSERT INTO lifecycle_audit
    SELECT … FROM v JOIN moved) SELECT <how many were locked>, <the ids moved>``: rows another
    transaction holds are passed over (never waited for, so sweepers cannot deadlock), and the
    rest get the same guard as the single write. The claim is a primary-key lookup by array, so
    the plan stays index lookups however large the table.

    A value the whole batch shares (a sweep's time, actor, event, reason, …) is sent once, as a
    scalar, rather than as an array of copies; and every parameter is sent in PostgreSQL's binary
    format, which psycopg writes and the server reads without parsing text. One statement is
    built per set of shared columns.
    """

    _ALWAYS_ARRAY = "b_asset_id"
    """The batch's rows: an array even in a batch of one."""

    def __init__(self, moved_columns: Sequence[str], dialect: Dialect) -> None:
        moved = {f"n_{name}": assets.c[name] for name in moved_columns}
        audited = {f"a_{name}": audit.c[name] for name in _AUDIT_COLUMNS}
        sources = {**_GUARD_COLUMNS, **moved, **audited}
        self._processors = _Processors({name: column.type for name, column in sources.items()}, dialect)
        self._types = {name: column.type.compile(dialect=dialect) for name, column in sources.items()}
        self._moved_columns = moved_columns
        # One statement per set of shared columns; batches of varied moves make varied sets, so
        # the cache is bounded (as psycopg's own of prepared statements is).
        self._statement = functools.lru_cache(maxsize=128)(self._build)

    def prepare(self, params: Sequence[dict[str, Any]]) -> Callable[[Connection], tuple[set[str], int]]:
        """The batch's statement and arguments; sent, it claims and writes the batch and answers
        the ids moved and how many rows were busy (held by another transaction)."""
        values = dict(zip(self._processors.names, self._processors.columns(params), strict=True))
        shared = frozenset(
            name
            for name, column in values.items()
            if name != self._ALWAYS_ARRAY and all(value == column[0] for value in column)
        )
        statement, arguments = self._statement(shared), self._arguments(values, shared)

        def send(connection: Connection) -> tuple[set[str], int]:
            locked, moved = connection.exec_driver_sql(statement, arguments).one()
            return set(moved), len(params) - locked

        return send

    def _build(self, shared: frozenset[str]) -> str:
        # Parameters are %(pN)b: psycopg's named parameter in binary format, under a short name, so
        # that the statement stays within the length psycopg caches its parsing for (4,096 bytes).
        short = {name: f"p{position}" for position, name in enumerate(self._processors.names)}

        def parameter(name: str, array: bool) -> str:
            return f"CAST(%({short[name]})b AS {self._types[name]}{'[]' if array else ''})"

        def value(name: str) -> str:
            return f"{'c' if name in shared else 'v'}.{name}"

        varying = [name for name in self._processors.names if name not in shared]
        arrays = ", ".join(parameter(name, array=True) for name in varying)
        scalars = ", ".join(f"{parameter(name, array=False)} AS {name}" for name in sorted(shared))
        sets = ", ".join(f"{name} = {value(f'n_{name}')}" for name in self._moved_columns)
        sets += f", feed_head = {FEED_PLACE('a')}"
        ids = parameter(self._ALWAYS_ARRAY, array=True)
        # Only the table's own column and table names are spliced in; every value is a parameter.
        return (
            f"WITH c AS (SELECT {scalars or '1 AS one'}),"  # noqa: S608
            f" v AS (SELECT * FROM unnest({arrays}) AS v({', '.join(varying)})),"
            f" locked AS (SELECT asset_id FROM {assets.name} WHERE asset_id = ANY({ids})"
            " FOR UPDATE SKIP LOCKED),"
            f" moved AS (UPDATE {assets.name} AS a SET {sets}"
            " FROM v, c WHERE a.asset_id = ANY(ARRAY(SELECT asset_id FROM locked))"
            f" AND {_guard_sql('a', {name: value(name) for name in _GUARD_COLUMNS})}"
            " RETURNING a.asset_id, a.feed_head),"
            f" audited AS (INSERT INTO {audit.name} ({', '.join(_AUDIT_COLUMNS)}, feed_txid)"
            f" SELECT {', '.join(value(f'a_{name}') for name in _AUDIT_COLUMNS)}, moved.feed_head"
            " FROM v JOIN moved ON moved.asset_id = v.b_asset_id, c"
            " RETURNING asset_id)"
            " SELECT (SELECT count(*) FROM locked) AS locked, ARRAY(SELECT asset_id FROM audited) AS moved"
        )

    def _arguments(self, values: dict[str, list[Any]], shared: frozenset[str]) -> dict[str, Any]:
        return {
            f"p{position}": values[name][0] if name in shared else values[name]
            for position, name in enumerate(self._processors.names)
        }


@dataclass(frozen=True, slots=True)
class PreparedMoves:
    """A batch of guarded writes, prepared (``Repository.prepare_moves``); ``write`` sends them in
    the caller's transaction."""

    moves: Sequence[tuple[AssetRow, Move]]
    _send: Callable[[Connection], tuple[set[str], int]]
    _follow: Callable[[Connection, Sequence[Move]], None]

    def write(self, connection: Connection) -> BulkWrite:
        written, busy = self._send(connection)
        self._follow(connection, [move for _, move in self.moves if move.asset_id in written])
        return BulkWrite(written, busy)


@dataclass(frozen=True, slots=True)
class BulkWrite:
    written: set[str]
    """The assets moved (one audit row each)."""
    busy: int
    """Rows left alone because another transaction held them (PostgreSQL)."""


class Repository:
    """The statements for one dialect, built once."""

    def __init__(self, dialect: Dialect, definition: Definition) -> None:
        self._definition = definition
        dialect_name = dialect.name
        self.dialect_name = dialect_name
        self._read = decision_select().where(assets.c.asset_id == bindparam("asset_id"))
        self._read_locked = (
            self._read.with_for_update(of=assets) if dialect_name == "postgresql" else self._read
        )
        guarded = (
            update(assets)
            .where(_GUARD)
            .values({name: bindparam(f"n_{name}", type_=assets.c[name].type) for name in _MOVED_COLUMNS})
        )
        self._guarded_update: Update = guarded
        self._audit_insert: Insert = insert(audit).values(
            {name: bindparam(f"a_{name}", type_=audit.c[name].type) for name in _AUDIT_COLUMNS}
        )
        self._moved_and_audited: Insert | None = None
        if dialect_name == "postgresql":
            moved = (
                guarded.values(feed_head=literal_column(FEED_PLACE(assets.name)))
                .returning(assets.c.asset_id, assets.c.feed_head)
                .cte("moved")
            )
            # PostgreSQL cannot infer the type of a bare parameter in a SELECT list: cast each.
            audit_values = [
                moved.c.asset_id
                if name == "asset_id"
                else sql_cast(bindparam(f"a_{name}", type_=audit.c[name].type), audit.c[name].type)
                for name in _AUDIT_COLUMNS
            ]
            self._moved_and_audited = (
                insert(audit)
                .from_select(
                    [*_AUDIT_COLUMNS, "feed_txid"],
                    select(*audit_values, moved.c.feed_head).select_from(moved),
                )
                .returning(audit.c.seq)
            )
        self._insert_asset: Insert = insert(assets)
        self._insert_creation: Insert = insert(audit)
        if dialect_name == "postgresql":  # the creation's place in the change feed: its transaction's id
            self._insert_asset = self._insert_asset.values(feed_head=literal_column(TRANSACTION_ID))
            self._insert_creation = self._insert_creation.values(feed_txid=literal_column(TRANSACTION_ID))
        upsert = postgresql_insert if dialect_name == "postgresql" else sqlite_insert
        self._claim_request = (
            upsert(creation_requests).on_conflict_do_nothing().returning(creation_requests.c.asset_id)
        )
        self._prepared_read = Prepared(self._read, dialect)
        self._prepared_read_locked = Prepared(self._read_locked, dialect)
        self._read_processors = result_processors([column.type for column in _DECISION_COLUMNS], dialect)
        self._prepared_guarded_update = Prepared(self._guarded_update, dialect)
        self._prepared_audit_insert = Prepared(self._audit_insert, dialect)
        self._prepared_moved_and_audited = (
            None if self._moved_and_audited is None else Prepared(self._moved_and_audited, dialect)
        )
        self._dialect = dialect
        self._find_processors = [
            (column.type._cached_result_processor(dialect, None), isinstance(column.type, Enum))
            for column in _DECISION_COLUMNS
        ]
        self._bulk_updates: dict[tuple[str, ...], _UnnestStatement | _ValuesStatement] = {}
        self._bulk_audit = _ValuesStatement(
            audit, {f"a_{name}": audit.c[name] for name in _AUDIT_COLUMNS}, dialect, update=False
        )
        self._main_file_update = (
            update(files)
            .where(
                _among(files.c.asset_id, "f_asset_ids", dialect_name),
                files.c.asset_file_category == FileCategory.MAIN,
            )
            .values(
                state=bindparam("f_state", type_=files.c.state.type),
                update_time=bindparam("f_now"),
                stored_at=func.coalesce(
                    files.c.stored_at, bindparam("f_stored_at", type_=files.c.stored_at.type)
                ),
            )
        )
        self._files_deleted = (
            update(files)
            .where(_among(files.c.asset_id, "f_asset_ids", dialect_name))
            .values(state=FileState.DELETED, update_time=bindparam("f_now"))
        )

    # Reads -------------------------------------------------------------------------------

    def read_row(
        self, connection: Connection, asset_id: str, project_id: str | None = None, *, lock: bool = False
    ) -> AssetRow | None:
        """The asset's decision row; None if it is missing or (with ``project_id``) another tenant's.

        The tenant is checked before the row is, so a corrupt row of another tenant answers as a
        missing one too. ``lock``: hold the row until the transaction ends, for a write that the
        guarded move does not cover (an unfreeze application, a file's upload), so that no move
        of the asset commits in between. (SQLite's write transactions hold the database's lock.)
        """
        read = self._prepared_read_locked if lock else self._prepared_read
        cursor = read.run(connection, {"asset_id": asset_id})
        found = cursor.fetchall()
        cursor.close()
        if not found or (project_id is not None and found[0][_PROJECT_ID] != project_id):
            return None
        if len(found) > 1:
            raise _too_many_main_files(asset_id, len(found))
        return row_from(_Record(*converted_row(found[0], self._read_processors)), self._definition)

    def read_rows(
        self, connection: Connection, asset_ids: Sequence[str], project_id: str | None, *, lock: bool
    ) -> dict[str, AssetRow | CorruptRecord]:
        """The decision rows of ``asset_ids`` (those of ``project_id``, where given), in one statement,
        locked in id order (``lock``, where rows can be locked); a corrupt row as its error."""
        statement = decision_select().where(assets.c.asset_id.in_(list(asset_ids)))
        if project_id is not None:
            statement = statement.where(assets.c.project_id == project_id)
        statement = statement.order_by(assets.c.asset_id)
        if lock and self.dialect_name == "postgresql":
            statement = statement.with_for_update(of=assets)
        return self._decision_rows(connection, statement)

    def last_audits(self, connection: Connection, asset_ids: Sequence[str]) -> dict[str, Row[Any]]:
        """Each asset's latest audit row (the one its version names), in one statement."""
        if not asset_ids:
            return {}
        statement = (
            select(audit)
            .join(assets, and_(assets.c.asset_id == audit.c.asset_id, assets.c.version == audit.c.seq))
            .where(assets.c.asset_id.in_(list(asset_ids)))
        )
        return {row.asset_id: row for row in connection.execute(statement)}

    def claim_creation(
        self, connection: Connection, project_id: str, request_id: str, asset_id: str
    ) -> str | None:
        """Claim the tenant's creation request for ``asset_id`` (about to be inserted): None if
        claimed, else the asset that request created already.

        The request's primary key decides: a concurrent claim of the same request waits for this
        transaction and then finds the request taken (``ON CONFLICT DO NOTHING``), and reads
        the asset it made. Nothing is written for a request already taken.
        """
        claimed = connection.execute(
            self._claim_request,
            {"project_id": project_id, "request_id": request_id, "asset_id": asset_id},
        ).first()
        if claimed is not None:
            return None
        return str(
            connection.execute(
                select(creation_requests.c.asset_id).where(
                    creation_requests.c.project_id == project_id,
                    creation_requests.c.request_id == request_id,
                )
            ).scalar_one()
        )

    def last_audit(self, connection: Connection, asset_id: str) -> Row[Any] | None:
        return connection.execute(
            select(audit).where(audit.c.asset_id == asset_id).order_by(audit.c.seq.desc()).limit(1)
        ).first()

    def audit_row(self, connection: Connection, asset_id: str, seq: int) -> Row[Any] | None:
        """The asset's audit row ``seq``: the move that made version ``seq``."""
        return connection.execute(
            select(audit).where(audit.c.asset_id == asset_id, audit.c.seq == seq)
        ).first()

    # The guarded write ---------------------------------------------------------------------

    def write_move(self, connection: Connection, move: Move) -> bool:
        """Apply ``move`` if the asset is still as read; False (nothing written) if not."""
        params = _move_params(move)
        if self._prepared_moved_and_audited is not None:
            cursor = self._prepared_moved_and_audited.run(connection, params)
            moved = cursor.fetchone()
            cursor.close()
            if moved is None:
                return False
        else:
            cursor = self._prepared_guarded_update.run(connection, params)
            updated = cursor.rowcount
            cursor.close()
            if updated != 1:
                return False
            self._prepared_audit_insert.run(connection, params).close()
        self._follow_moves(connection, [move])
        return True

    def write_moves(self, connection: Connection, moves: Sequence[tuple[AssetRow, Move]]) -> BulkWrite:
        """Apply many moves, each planned from the row given with it: ``prepare_moves`` then its
        ``write``."""
        return self.prepare_moves(moves).write(connection)

    def prepare_moves(self, moves: Sequence[tuple[AssetRow, Move]]) -> PreparedMoves:
        """Many moves' guarded writes, ready to send: their statements chosen and their
        parameters converted, in Python alone (no database), so that a sweep can prepare one
        batch while another is being written.

        Each move is guarded exactly as in ``write_move`` (asset, tenant, expected state and
        version): a row that changed since it was read is left alone, without an audit row. The
        writes are sent in bulk: on PostgreSQL one statement that claims the rows (``FOR UPDATE
        SKIP LOCKED``: a row another transaction holds is left alone too, as ``busy``), updates
        them ``FROM unnest(<one array per column>)`` and inserts their audit rows; on
        SQLite one ``UPDATE … FROM (VALUES …) RETURNING`` and one multi-row audit ``INSERT``.
        Only the columns some move of the batch changes are set (the guard guarantees the others
        already hold what the move would write), so indexes on untouched columns are left alone,
        as a hand-written sweep would leave them.
        """
        if not moves:
            return PreparedMoves(moves, lambda _: (set(), 0), self._follow_moves)
        params = [_move_params(move) for _, move in moves]
        rows = [row for row, _ in moves]
        changed = tuple(
            name
            for name in _MOVED_COLUMNS
            if name in _ALWAYS_SET
            or [new[f"n_{name}"] for new in params] != list(map(_ROW_VALUE[name], rows))
        )
        statement = self._bulk_update(changed)
        if isinstance(statement, _UnnestStatement):
            return PreparedMoves(moves, statement.prepare(params), self._follow_moves)
        updates, audit_rows = statement.rows(params), self._bulk_audit.rows(params)
        asset_ids = [move.asset_id for _, move in moves]

        def send(connection: Connection) -> tuple[set[str], int]:
            written = statement.execute(connection, updates)
            audited = [
                row for row, asset_id in zip(audit_rows, asset_ids, strict=True) if asset_id in written
            ]
            self._bulk_audit.execute(connection, audited)
            return written, 0

        return PreparedMoves(moves, send, self._follow_moves)

    def _bulk_update(self, columns: tuple[str, ...]) -> _UnnestStatement | _ValuesStatement:
        statement = self._bulk_updates.get(columns)
        if statement is None:
            if self.dialect_name == "postgresql":
                statement = _UnnestStatement(columns, self._dialect)
            else:
                moved = {f"n_{name}": assets.c[name] for name in columns}
                statement = _ValuesStatement(assets, {**_GUARD_COLUMNS, **moved}, self._dialect, update=True)
            self._bulk_updates[columns] = statement
        return statement

    def _follow_moves(self, connection: Connection, moves: Sequence[Move]) -> None:
        """What moves do beyond the asset row: its files, and pending unfreeze applications.

        The moves of one call share their actor and time (one request, or one sweep's batch)."""
        if not moves:
            return
        actor_id, now = moves[0].record.actor_id, moves[0].record.occurred_at
        by_main_file_state: dict[FileState, list[str]] = {}
        for move in moves:
            if move.main_file_state is not None:
                by_main_file_state.setdefault(move.main_file_state, []).append(move.asset_id)
        for state, asset_ids in by_main_file_state.items():
            stored_at = now if state in STORED_FILE_STATES else None
            for chunk in _chunks(asset_ids):
                connection.execute(
                    self._main_file_update,
                    {"f_asset_ids": chunk, "f_state": state, "f_now": now, "f_stored_at": stored_at},
                )
        deleted = [move.asset_id for move in moves if move.files_deleted]
        if deleted:
            for chunk in _chunks(deleted):
                connection.execute(self._files_deleted, {"f_asset_ids": chunk, "f_now": now})
            self._close_pending(
                connection, deleted, ApplicationState.REJECTED, actor_id, "the asset was deleted", now
            )
        unfrozen: dict[str | None, list[str]] = {}
        for move in moves:
            if move.event is Event.UNFREEZE:
                unfrozen.setdefault(move.record.reason, []).append(move.asset_id)
        for reason, asset_ids in unfrozen.items():
            self._close_pending(connection, asset_ids, ApplicationState.APPROVED, actor_id, reason, now)

    # Creation ------------------------------------------------------------------------------

    def insert_asset(
        self,
        connection: Connection,
        asset: dict[str, Any],
        asset_files: Sequence[dict[str, Any]],
        creation: TransitionRecord,
    ) -> None:
        """Insert a new asset, its files and its creation's audit row, the first of its chain."""
        creation_audit = creation.audit_values()
        head = creation.chain_hash(GENESIS)
        connection.execute(self._insert_asset, {**asset, "audit_head": head})
        if asset_files:  # an empty list would insert one row of defaults
            connection.execute(insert(files), list(asset_files))
        connection.execute(self._insert_creation, {**creation_audit, "chain_hash": head})

    def set_file_state(
        self,
        connection: Connection,
        asset_id: str,
        file_id: str,
        expected: Iterable[FileState],
        state: FileState,
        reason: str | None,
        now: datetime,
    ) -> bool:
        result = connection.execute(
            update(files)
            .where(
                files.c.file_id == file_id,
                files.c.asset_id == asset_id,
                files.c.state.in_(list(expected)),
            )
            .values(
                state=state,
                reason=reason,
                update_time=now,
                stored_at=func.coalesce(
                    files.c.stored_at,
                    literal(now if state in STORED_FILE_STATES else None, files.c.stored_at.type),
                ),
            )
        )
        return result.rowcount == 1

    def files_by_id(self, connection: Connection, file_ids: Sequence[str]) -> list[Row[Any]]:
        if not file_ids:
            return []
        rows = list(connection.execute(select(files).where(files.c.file_id.in_(list(file_ids)))))
        for row in rows:
            _check_file_record(row)
        return rows

    def file_with_owner(self, connection: Connection, file_id: str) -> Row[Any] | None:
        """The file ``file_id`` with its asset's ``project_id`` (``owner``), or None."""
        row = connection.execute(
            select(files, assets.c.project_id.label("owner"))
            .join(assets, assets.c.asset_id == files.c.asset_id)
            .where(files.c.file_id == file_id)
        ).first()
        if row is not None:
            _check_file_record(row)
        return row

    def insert_file(self, connection: Connection, values: dict[str, Any]) -> None:
        connection.execute(insert(files), values)

    def remove_file(self, connection: Connection, asset_id: str, file_id: str) -> bool:
        """Remove a file whose bytes were never stored; False if it is not so (or not there)."""
        result = connection.execute(
            delete(files).where(
                files.c.asset_id == asset_id, files.c.file_id == file_id, files.c.stored_at.is_(None)
            )
        )
        return result.rowcount == 1

    def delete_stored_file(self, connection: Connection, asset_id: str, file_id: str, now: datetime) -> bool:
        """Mark a stored file DELETED, its bytes no longer counted from ``now``; False if it was not
        a stored, undeleted file."""
        result = connection.execute(
            update(files)
            .where(
                files.c.asset_id == asset_id,
                files.c.file_id == file_id,
                files.c.stored_at.is_not(None),
                files.c.deleted_at.is_(None),
                files.c.state != FileState.DELETED,
            )
            .values(state=FileState.DELETED, deleted_at=now, update_time=now)
        )
        return result.rowcount == 1

    def change_of_request(
        self, connection: Connection, project_id: str, request_id: str, event: Event
    ) -> Row[Any] | None:
        """The tenant's audit row of ``event`` made by request ``request_id``, if any (the earliest)."""
        return connection.execute(
            select(audit)
            .where(audit.c.project_id == project_id, audit.c.request_id == request_id, audit.c.event == event)
            .order_by(audit.c.id)
            .limit(1)
        ).first()

    def write_change(
        self,
        connection: Connection,
        record: TransitionRecord,
        previous_hash: str,
        expected_version: int,
        values: dict[str, Any],
    ) -> bool:
        """Record a change that moves no state (``lifecycle.definition.RECORDED_CHANGES``): the
        asset's version, chain head and update time advanced, with ``values`` (the other columns
        the change sets), under the same guard as a move (asset, tenant, state, version), then its
        audit row. False (nothing written) if the asset is no longer as it was read."""
        head = record.chain_hash(previous_hash)
        statement = (
            update(assets)
            .where(
                assets.c.asset_id == record.asset_id,
                assets.c.project_id == record.project_id,
                assets.c.asset_state == record.from_state,
                assets.c.version == expected_version,
            )
            .values(
                {**values, "version": record.version, "audit_head": head, "update_time": record.occurred_at}
            )
        )
        if self.dialect_name == "postgresql":
            moved = connection.execute(
                statement.values(feed_head=literal_column(FEED_PLACE(assets.name))).returning(
                    assets.c.feed_head
                )
            ).first()
            if moved is None:
                return False
            place = int(moved.feed_head)
        else:
            if connection.execute(statement).rowcount != 1:
                return False
            place = 0
        connection.execute(insert(audit), {**record.audit_values(), "chain_hash": head, "feed_txid": place})
        return True

    def file(self, connection: Connection, asset_id: str, file_id: str) -> Row[Any] | None:
        row = connection.execute(
            select(files).where(files.c.asset_id == asset_id, files.c.file_id == file_id)
        ).first()
        if row is not None:
            _check_file_record(row)
        return row

    # Queries -------------------------------------------------------------------------------

    def asset(self, connection: Connection, asset_id: str) -> Row[Any] | None:
        return connection.execute(select(assets).where(assets.c.asset_id == asset_id)).first()

    def check_asset_record(self, record: Row[Any]) -> None:
        """``CorruptRecord`` unless the full asset row holds only what a legal history can."""
        check_asset_record(record, self._definition)

    def files_of(self, connection: Connection, asset_ids: Sequence[str]) -> list[Row[Any]]:
        if not asset_ids:
            return []
        rows = list(
            connection.execute(
                select(files)
                .where(files.c.asset_id.in_(list(asset_ids)))
                .order_by(files.c.asset_id, files.c.position)
            )
        )
        for row in rows:
            _check_file_record(row)
        return rows

    def list_assets(
        self,
        connection: Connection,
        project_id: str,
        states: Sequence[AssetState],
        order_column: str,
        descending: bool,
        limit: int,
        offset: int,
        filters: AssetFilters | None = None,
    ) -> tuple[list[Row[Any]], int]:
        where: list[ColumnElement[bool]] = [assets.c.project_id == project_id]
        if states:
            where.append(assets.c.asset_state.in_(list(states)))
        if filters is not None:
            where.extend(self._filtered(filters))
        column = assets.c[order_column]
        order: tuple[ColumnElement[Any], ...]
        if order_column == "asset_order":  # equals: the newest first; no order: last (both databases)
            ranked = column.desc() if descending else column.asc()
            newest = (assets.c.create_time.desc(), assets.c.asset_id.desc())
            order = (column.is_(None), ranked, *newest)
        else:
            order = (column.desc(), assets.c.asset_id.desc()) if descending else (column, assets.c.asset_id)
        rows = list(
            connection.execute(select(assets).where(*where).order_by(*order).limit(limit).offset(offset))
        )
        total = connection.execute(select(func.count()).select_from(assets).where(*where)).scalar_one()
        return rows, int(total)

    def _filtered(self, filters: AssetFilters) -> list[ColumnElement[bool]]:
        """The listing's optional filters as conditions (each ANDed with the tenant's)."""
        where: list[ColumnElement[bool]] = []
        if filters.asset_types:
            where.append(assets.c.asset_type.in_(list(filters.asset_types)))
        if filters.app_user_id is not None:
            where.append(assets.c.app_user_id == filters.app_user_id)
        if filters.created_from is not None:
            where.append(assets.c.create_time >= filters.created_from)
        if filters.created_to is not None:
            where.append(assets.c.create_time <= filters.created_to)
        if filters.asset_ids:
            where.append(assets.c.asset_id.in_(list(filters.asset_ids)))
        if filters.name is not None:
            where.append(func.lower(assets.c.asset_name).like(_contains(filters.name), escape="\\"))
        if filters.tag is not None:
            # One tag containing it: the JSON array's elements, each compared on its own.
            elements = (
                "json_array_elements_text(lifecycle_assets.tags) AS tag(value)"
                if self.dialect_name == "postgresql"
                else "json_each(lifecycle_assets.tags) AS tag"
            )
            exists = text(
                f"EXISTS (SELECT 1 FROM {elements}"  # noqa: S608 - a constant per dialect
                " WHERE lower(tag.value) LIKE :tag_pattern ESCAPE '\\')"
            ).bindparams(tag_pattern=_contains(filters.tag))
            where.append(cast("ColumnElement[bool]", exists))  # a where clause, as text
        return where

    def summaries(
        self, connection: Connection, asset_ids: Sequence[str], project_id: str | None
    ) -> list[Row[Any]]:
        """The summary columns of ``asset_ids`` (those of ``project_id``, where given), each with its
        first COVER file's id and state, where it has one."""
        cover = (
            select(files.c.file_id)
            .where(
                files.c.asset_id == assets.c.asset_id,
                files.c.asset_file_category == FileCategory.COVER,
                files.c.state != FileState.DELETED,
            )
            .order_by(files.c.position)
            .limit(1)
            .scalar_subquery()
        )
        statement = select(
            assets.c.asset_id,
            assets.c.project_id,
            assets.c.asset_name,
            assets.c.asset_state,
            assets.c.asset_type,
            assets.c.block_reason_code,
            cover.label("cover_file_id"),
        ).where(assets.c.asset_id.in_(list(asset_ids)))
        if project_id is not None:
            statement = statement.where(assets.c.project_id == project_id)
        return list(connection.execute(statement))

    def history(self, connection: Connection, asset_id: str) -> list[Row[Any]]:
        rows = list(
            connection.execute(select(audit).where(audit.c.asset_id == asset_id).order_by(audit.c.seq))
        )
        for row in rows:
            values = row._mapping
            check_known(asset_id, {f"audit row {row.seq}: {name}": values[name] for name in _AUDIT_ENUMS})
        return rows

    def lock_tenant_rows(
        self, connection: Connection, project_id: str, states: Iterable[AssetState]
    ) -> list[AssetRow]:
        """A tenant's rows in ``states``, locked for this transaction where rows can be locked.

        (SQLite's write transactions already hold the database's write lock.)
        """
        statement = (
            decision_select()
            .where(
                assets.c.project_id == project_id,
                or_(
                    assets.c.asset_state.in_(list(states)),
                    # A state nobody knows may be one of ``states``: read it, so row_from refuses it.
                    assets.c.asset_state.not_in(list(AssetState)),
                    assets.c.asset_state.is_(None),
                ),
            )
            .order_by(assets.c.asset_id)
        )
        if self.dialect_name == "postgresql":
            statement = statement.with_for_update(of=assets)
        rows = []
        for found in self._decision_rows(connection, statement).values():
            if isinstance(found, CorruptRecord):
                raise found
            rows.append(found)
        return rows

    # Sweeps -------------------------------------------------------------------------------------

    def find_due(
        self,
        connection: Connection,
        due: ColumnElement[bool],
        order: ColumnElement[Any],
        limit: int,
        exclude: Sequence[str] = (),
    ) -> tuple[list[AssetRow], list[CorruptRecord]]:
        """Up to ``limit`` rows matching ``due`` and not in ``exclude``, earliest first (a plain
        read: ``write_moves`` claims them), and the corrupt rows among them, set apart.

        Rows are read in bulk, so the columns are converted with their result processors applied
        to the driver's rows directly, each enum value once per batch, instead of building a
        SQLAlchemy ``Row`` per asset.
        """
        statement = decision_select().where(due)
        if exclude:
            statement = statement.where(assets.c.asset_id.not_in(list(exclude)))
        rows: list[AssetRow] = []
        corrupt: list[CorruptRecord] = []
        for found in self._decision_rows(connection, statement.order_by(order).limit(limit)).values():
            (corrupt if isinstance(found, CorruptRecord) else rows).append(found)  # type: ignore[arg-type]
        return rows, corrupt

    def _decision_rows(
        self, connection: Connection, statement: Select[Any]
    ) -> dict[str, AssetRow | CorruptRecord]:
        """The decision rows a statement reads, in its order, by asset; a corrupt row as its error.

        Rows are read in bulk, so the columns are converted with their result processors applied
        to the driver's rows directly, each enum value once per batch, instead of building a
        SQLAlchemy ``Row`` per asset.
        """
        result = connection.execute(statement)
        records = result.cursor.fetchall()
        result.close()
        columns = (
            [
                values if process is None else _converted(values, process, memo=memo)
                for values, (process, memo) in zip(
                    zip(*records, strict=True), self._find_processors, strict=True
                )
            ]
            if records
            else []
        )
        found: list[Any] = [_Record(*record) for record in zip(*columns, strict=True)]
        repeated = _repeated(found)
        rows: dict[str, AssetRow | CorruptRecord] = {}
        for record in found:
            if record.asset_id in repeated:
                rows[record.asset_id] = _too_many_main_files(record.asset_id, repeated[record.asset_id])
                continue
            try:
                rows[record.asset_id] = row_from(record, self._definition)
            except CorruptRecord as error:
                rows[record.asset_id] = error
        return rows

    # Verifying the audit trail ------------------------------------------------------------------

    def histories(
        self, connection: Connection, after: str, limit: int, project_id: str | None
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
        """The next ``limit`` assets by id after ``after``, each with its audit rows in order and
        its files.

        Read from one snapshot (PostgreSQL: a repeatable-read transaction; SQLite: one read
        transaction), so a move committed meanwhile is either wholly in it or wholly not. Three
        statements: the page of assets, then the audit rows and the files of the ids it spans
        (each asset's columns read once, not once per audit row; no bound parameter per asset,
        of which PostgreSQL takes at most 65,535).
        """
        if self.dialect_name == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        page = select(assets).where(assets.c.asset_id > after)
        if project_id is not None:
            page = page.where(assets.c.project_id == project_id)
        found: dict[str, tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = {
            row["asset_id"]: (dict(row), [], [])
            for row in connection.execute(page.order_by(assets.c.asset_id).limit(limit)).mappings()
        }
        if not found:
            return []
        last = next(reversed(found))  # the page's last in the database's order (its collation)

        def of_the_page(table: Table) -> list[ColumnElement[bool]]:
            spanned = [table.c.asset_id > after, table.c.asset_id <= last]
            if project_id is None:
                return spanned  # every asset in the span is in the page
            in_page = select(assets.c.asset_id).where(
                assets.c.asset_id > after, assets.c.asset_id <= last, assets.c.project_id == project_id
            )
            return [*spanned, table.c.asset_id.in_(in_page)]

        history = select(*(audit.c[name] for name in _VERIFIED_AUDIT_COLUMNS)).where(*of_the_page(audit))
        # Rows of an asset that does not exist fall in the span too: they are not its page's
        # (Auditor reports them as orphans).
        for row in connection.execute(history.order_by(audit.c.asset_id, audit.c.seq)).mappings():
            asset = found.get(row["asset_id"])
            if asset is not None:
                asset[1].append(dict(row))
        page_files = select(files).where(*of_the_page(files)).order_by(files.c.asset_id, files.c.position)
        for row in connection.execute(page_files).mappings():
            asset = found.get(row["asset_id"])
            if asset is not None:
                asset[2].append(dict(row))
        return list(found.values())

    def orphans(self, connection: Connection, project_id: str | None) -> dict[str, list[str]]:
        """Asset ids that audit rows, files or unfreeze applications refer to but that do not exist
        (a broken foreign key), by table."""
        found: dict[str, list[str]] = {}
        for table in (audit, files, applications, creation_requests):
            statement = (
                select(table.c.asset_id)
                .distinct()
                .where(~select(assets.c.asset_id).where(assets.c.asset_id == table.c.asset_id).exists())
            )
            if project_id is not None and "project_id" in table.c:
                statement = statement.where(table.c.project_id == project_id)
            ids = sorted(connection.execute(statement).scalars())
            if ids:
                found[table.name] = ids
        return found

    def count_assets(self, connection: Connection, project_id: str | None) -> int:
        """How many assets there are (of one tenant, where given)."""
        where = true() if project_id is None else assets.c.project_id == project_id
        return self.count(connection, where)

    def count(self, connection: Connection, where: ColumnElement[bool]) -> int:
        return int(connection.execute(select(func.count()).select_from(assets).where(where)).scalar_one())

    # Unfreeze applications ---------------------------------------------------------------------

    def insert_application(self, connection: Connection, values: dict[str, Any]) -> None:
        connection.execute(insert(applications), values)

    def pending_application(self, connection: Connection, asset_id: str) -> Row[Any] | None:
        return connection.execute(
            select(applications).where(
                applications.c.asset_id == asset_id, applications.c.state == ApplicationState.PENDING
            )
        ).first()

    def application(
        self, connection: Connection, application_id: str, *, lock: bool = False
    ) -> Row[Any] | None:
        """The application's row; ``lock``: held until the transaction ends, so that no other
        decision on it commits in between (where rows can be locked)."""
        statement = select(applications).where(applications.c.application_id == application_id)
        if lock and self.dialect_name == "postgresql":
            statement = statement.with_for_update()
        return connection.execute(statement).first()

    def decide_application(
        self,
        connection: Connection,
        application_id: str,
        state: ApplicationState,
        decided_by: str,
        reason: str | None,
        now: datetime,
    ) -> bool:
        result = connection.execute(
            update(applications)
            .where(
                applications.c.application_id == application_id,
                applications.c.state == ApplicationState.PENDING,
            )
            .values(state=state, decided_by=decided_by, decided_at=now, decision_reason=reason)
        )
        return result.rowcount == 1

    def _close_pending(
        self,
        connection: Connection,
        asset_ids: Sequence[str],
        state: ApplicationState,
        decided_by: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        for chunk in _chunks(asset_ids):
            connection.execute(
                update(applications)
                .where(
                    applications.c.asset_id.in_(chunk),
                    applications.c.state == ApplicationState.PENDING,
                )
                .values(state=state, decided_by=decided_by, decided_at=now, decision_reason=reason)
            )

    def list_applications(
        self,
        connection: Connection,
        project_id: str | None,
        states: Sequence[ApplicationState],
        limit: int,
        offset: int,
    ) -> list[Row[Any]]:
        where: list[ColumnElement[bool]] = []
        if project_id is not None:
            where.append(applications.c.project_id == project_id)
        if states:
            where.append(applications.c.state.in_(list(states)))
        return list(
            connection.execute(
                select(applications)
                .where(*where)
                .order_by(applications.c.applied_at, applications.c.application_id)
                .limit(limit)
                .offset(offset)
            )
        )
