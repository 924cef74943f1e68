"""Migration 0002 on a database with assets in it: the recycle bin's retention clock is filled in
from the delete (from the unfreeze for an asset deleted while frozen and since unfrozen; not at
all for one still frozen), the sweep indexes are swapped, and the
downgrade gives back the 0001 table with every row intact. Migration 0004 on a database with files
in it: each stored file's ``stored_at`` is filled in from the audit trail (MAIN files) or from its
confirmation (the others), never for a file whose upload did not succeed.

The rows are written with Core against the table as reflected at revision 0001, not through the
models (which describe the head revision).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, inspect, select

from lifecycle.store import schema
from lifecycle.store.database import open_database
from lifecycle.store.models import assets

ASSETS = "lifecycle_assets"
DELETED_AT = datetime(2026, 2, 20, 8, 30, 15, 123456, tzinfo=UTC)
"""T: when the plain DELETING asset was deleted (its ``state_changed_at``)."""
CREATED_AT = DELETED_AT - timedelta(days=3)
NEW_INDEXES = {
    "ix_lifecycle_assets_asset_state_retention_started_at": ["asset_state", "retention_started_at"],
    "ix_lifecycle_assets_planned_operation_planned_operation_time": [
        "planned_operation",
        "planned_operation_time",
    ],
}
OLD_INDEXES = {
    "ix_lifecycle_assets_asset_state_state_changed_at": ["asset_state", "state_changed_at"],
    "ix_lifecycle_assets_planned_operation_time": ["planned_operation_time"],
}


def _asset(asset_id: str, state: str, **columns: Any) -> dict[str, Any]:
    """Every NOT NULL column of 0001's ``lifecycle_assets``; enums as their stored strings."""
    return {
        "asset_id": asset_id,
        "project_id": "tenant-m",
        "app_user_id": None,
        "asset_name": asset_id,
        "asset_description": "",
        "asset_type": "HUMAN_MODEL",
        "asset_state": state,
        "version": 3,
        "pre_freeze_state": None,
        "pre_delete_state": None,
        "activate_on_upload": False,
        "review_required": False,
        "tags": [],
        "system_properties": [],
        "create_time": CREATED_AT,
        "update_time": DELETED_AT,
        "state_changed_at": DELETED_AT,
        "upload_deadline": None,
        "upload_time_left_us": None,
        "planned_operation": None,
        "planned_operation_time": None,
        **columns,
    }


ROWS = [
    _asset("active", "ACTIVED", state_changed_at=DELETED_AT - timedelta(hours=5)),
    _asset("in-bin", "DELETING", pre_delete_state="ACTIVED"),
    _asset(
        "deleted-while-frozen",
        "DELETING",
        pre_delete_state="BLOCK",
        pre_freeze_state="ACTIVED",
        state_changed_at=DELETED_AT + timedelta(hours=2),
        planned_operation="DELETE",
        planned_operation_time=DELETED_AT + timedelta(days=30),
    ),
    # Deleted while frozen, then unfrozen ten days later: still in the bin, no longer frozen.
    _asset("unfrozen-in-bin", "DELETING", pre_delete_state="ACTIVED"),
]
UNFROZEN_AT = DELETED_AT + timedelta(days=10)


def _audit(asset_id: str, seq: int, event: str, source: str, dest: str, at: datetime) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "project_id": "tenant-m",
        "seq": seq,
        "event": event,
        "from_state": source,
        "to_state": dest,
        "actor_kind": "platform",
        "actor_id": "operator",
        "occurred_at": at,
    }


AUDIT_ROWS = [
    # An older unfreeze, before the asset went to the bin, does not count.
    _audit("unfrozen-in-bin", 2, "unfreeze", "BLOCK", "ACTIVED", DELETED_AT - timedelta(days=1)),
    _audit("unfrozen-in-bin", 3, "unfreeze", "DELETING", "DELETING", UNFROZEN_AT),
]
RETENTION = {
    "active": None,
    "in-bin": DELETED_AT,
    "deleted-while-frozen": None,
    "unfrozen-in-bin": UNFROZEN_AT,
}


def _at_revision(database: Engine, tmp_path: Path, revision: str) -> Iterator[Engine]:
    """A database at ``revision``: a fresh SQLite file, or the shared PostgreSQL database rebuilt
    (and left at head afterwards, whatever happened, for the tests that share it)."""
    if database.dialect.name == "sqlite":
        fresh = open_database(f"sqlite:///{tmp_path / f'at-{revision}.db'}")
        schema.upgrade(fresh, revision)
        yield fresh
        fresh.dispose()
        return
    schema.drop(database)
    schema.upgrade(database, revision)
    try:
        yield database
    finally:
        schema.drop(database)
        schema.upgrade(database)


@pytest.fixture
def engine_at_0001(database: Engine, tmp_path: Path) -> Iterator[Engine]:
    yield from _at_revision(database, tmp_path, "0001")


def _indexes(database: Engine) -> dict[str, list[str]]:
    return {index["name"]: list(index["column_names"]) for index in inspect(database).get_indexes(ASSETS)}


def _columns(database: Engine) -> set[str]:
    return {column["name"] for column in inspect(database).get_columns(ASSETS)}


def _reflected_rows(database: Engine) -> dict[str, dict[str, Any]]:
    """Every row as the database gives it back, read through the table as it is now."""
    table = Table(ASSETS, MetaData(), autoload_with=database)
    with database.connect() as connection:
        return {row["asset_id"]: dict(row) for row in connection.execute(select(table)).mappings()}


def _retention(database: Engine) -> dict[str, datetime | None]:
    """``retention_started_at`` read through the models, so both backends answer in aware UTC."""
    with database.connect() as connection:
        result = connection.execute(select(assets.c.asset_id, assets.c.retention_started_at))
        return {row.asset_id: row.retention_started_at for row in result}


def test_migration_0002_fills_the_retention_clock_swaps_the_indexes_and_downgrades(
    engine_at_0001: Engine,
) -> None:
    database = engine_at_0001
    assert schema.current_revision(database) == "0001"
    assert "retention_started_at" not in _columns(database)
    table = Table(ASSETS, MetaData(), autoload_with=database)
    audit_table = Table("lifecycle_audit", MetaData(), autoload_with=database)
    with database.begin() as connection:
        connection.execute(table.insert(), ROWS)
        connection.execute(audit_table.insert(), AUDIT_ROWS)
    at_0001 = _reflected_rows(database)
    assert set(at_0001) == set(RETENTION)

    schema.upgrade(database, "0002")
    assert schema.current_revision(database) == "0002"
    assert _retention(database) == RETENTION
    indexes = _indexes(database)
    for name, columns in NEW_INDEXES.items():
        assert indexes.get(name) == columns, name
    assert "ix_lifecycle_assets_asset_state_state_changed_at" not in indexes
    assert "ix_lifecycle_assets_planned_operation_time" not in indexes
    assert indexes["ix_lifecycle_assets_asset_state_upload_deadline"] == ["asset_state", "upload_deadline"]

    schema.downgrade(database, "0001")
    assert schema.current_revision(database) == "0001"
    assert "retention_started_at" not in _columns(database)
    indexes = _indexes(database)
    for name, columns in OLD_INDEXES.items():
        assert indexes.get(name) == columns, name
    assert not set(NEW_INDEXES) & set(indexes)
    assert _reflected_rows(database) == at_0001

    schema.upgrade(database)
    assert schema.current_revision(database) == schema.head_revision()
    assert _retention(database) == RETENTION
    assert set(NEW_INDEXES) <= set(_indexes(database))


# Migration 0004: when each file's bytes began to take storage ---------------------------------------

T_ACCEPTED = datetime(2026, 2, 1, 10, 0, 0, 111111, tzinfo=UTC)
T_COVER = T_ACCEPTED + timedelta(hours=1)
T_DELETED_ACCEPTED = T_ACCEPTED + timedelta(days=1)
T_SUBMITTED = T_ACCEPTED + timedelta(days=2)
FILES = "lifecycle_asset_files"


def _file(file_id: str, asset_id: str, category: str, state: str, updated: datetime) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "asset_id": asset_id,
        "position": 0 if category == "MAIN" else 1,
        "file_name": f"{file_id}.bin",
        "file_md5": "OLjCwQk93Q/Dg6nZrJQFFQ==",
        "file_size": 1000,
        "file_type": "bin",
        "asset_file_category": category,
        "state": state,
        "reason": None,
        "create_time": CREATED_AT,
        "update_time": updated,
    }


STORAGE_ASSETS = [
    _asset("live", "ACTIVED", audit_head="h"),
    _asset("gone", "DELETED", audit_head="h"),
    _asset("waiting", "CREATING", audit_head="h"),
    _asset("in-review", "CREATING", audit_head="h"),
]
STORAGE_FILES = [
    _file("live-main", "live", "MAIN", "CREATED", T_ACCEPTED),
    _file("live-cover", "live", "COVER", "CREATED", T_COVER),
    _file("gone-main", "gone", "MAIN", "DELETED", DELETED_AT),
    _file("gone-cover", "gone", "COVER", "DELETED", DELETED_AT),
    _file("waiting-main", "waiting", "MAIN", "CREATING", CREATED_AT),
    _file("waiting-cover", "waiting", "COVER", "FAILED", T_COVER),
    _file("in-review-main", "in-review", "MAIN", "UPLOADED", T_SUBMITTED),
]
STORAGE_AUDIT = [
    {**_audit("live", 2, "accept_upload", "CREATING", "UNACTIVED", T_ACCEPTED), "chain_hash": "h"},
    {**_audit("live", 3, "activate", "UNACTIVED", "ACTIVED", T_COVER), "chain_hash": "h"},
    {**_audit("gone", 2, "accept_upload", "CREATING", "UNACTIVED", T_DELETED_ACCEPTED), "chain_hash": "h"},
    {**_audit("gone", 3, "delete_force", "UNACTIVED", "DELETED", DELETED_AT), "chain_hash": "h"},
    {**_audit("in-review", 2, "submit_for_review", "CREATING", "CREATING", T_SUBMITTED), "chain_hash": "h"},
]
STORED_AT = {
    "live-main": T_ACCEPTED,  # from the audit trail
    "live-cover": T_COVER,  # its confirmation: its update time
    "gone-main": T_DELETED_ACCEPTED,  # the audit trail outlives the deletion
    "gone-cover": None,  # its confirmation time was overwritten by the deletion: not known
    "waiting-main": None,
    "waiting-cover": None,  # a failed upload takes no storage
    "in-review-main": T_SUBMITTED,
}


@pytest.fixture
def engine_at_0003(database: Engine, tmp_path: Path) -> Iterator[Engine]:
    yield from _at_revision(database, tmp_path, "0003")


def _stored_at(database: Engine) -> dict[str, datetime | None]:
    from lifecycle.store.models import files

    with database.connect() as connection:
        return {
            row.file_id: row.stored_at
            for row in connection.execute(select(files.c.file_id, files.c.stored_at))
        }


def test_migration_0004_says_when_each_stored_file_was_stored_and_downgrades(engine_at_0003: Engine) -> None:
    database = engine_at_0003
    names = (ASSETS, FILES, "lifecycle_audit")
    tables = {name: Table(name, MetaData(), autoload_with=database) for name in names}
    with database.begin() as connection:
        connection.execute(tables[ASSETS].insert(), STORAGE_ASSETS)
        connection.execute(tables[FILES].insert(), STORAGE_FILES)
        connection.execute(tables["lifecycle_audit"].insert(), STORAGE_AUDIT)
    files_at_0003 = Table(FILES, MetaData(), autoload_with=database)
    assert "stored_at" not in files_at_0003.c

    schema.upgrade(database, "0004")
    assert _stored_at(database) == STORED_AT
    with database.connect() as connection:
        assert set(connection.execute(select(assets.c.customized)).scalars()) == {False}

    schema.downgrade(database, "0003")
    columns = {column["name"] for column in inspect(database).get_columns(FILES)}
    assert {"stored_at", "timbre_model"}.isdisjoint(columns)
    assert "customized" not in _columns(database)

    schema.upgrade(database)
    assert _stored_at(database) == STORED_AT


# Migration 0005: creation requests, and a database that already holds duplicates --------------------

DUPLICATED = [
    _asset("first", "CREATING", version=1, audit_head="h"),
    _asset("second", "CREATING", version=1, audit_head="h"),
    _asset("third", "CREATING", version=1, audit_head="h"),
    _asset("alone", "CREATING", version=1, audit_head="h"),
]
DUPLICATED_AUDIT = [
    {**_audit(asset_id, 1, "create", "CREATING", "CREATING", CREATED_AT), "from_state": None}
    | {"request_id": request_id, "chain_hash": "h", "actor_kind": "tenant", "actor_id": "tenant-m"}
    for asset_id, request_id in (("first", "r1"), ("second", "r1"), ("third", "r1"), ("alone", "r2"))
]


@pytest.fixture
def engine_at_0004(database: Engine, tmp_path: Path) -> Iterator[Engine]:
    yield from _at_revision(database, tmp_path, "0004")


def test_migration_0005_gives_each_request_to_its_first_asset_and_names_the_duplicates(
    engine_at_0004: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Racing retries made three assets of request r1 before requests were unique: the migration
    keeps all three (they are real assets), gives r1 to the first, and says so in a warning."""
    from lifecycle.actors import Tenant
    from lifecycle.engine import Lifecycle
    from lifecycle.store.models import creation_requests
    from tests.conftest import new_asset

    database = engine_at_0004
    tables = {name: Table(name, MetaData(), autoload_with=database) for name in (ASSETS, "lifecycle_audit")}
    with database.begin() as connection:
        connection.execute(tables[ASSETS].insert(), DUPLICATED)
        connection.execute(tables["lifecycle_audit"].insert(), DUPLICATED_AUDIT)

    with caplog.at_level("WARNING", logger="lifecycle.migrations"):
        schema.upgrade(database)
    with database.connect() as connection:
        claimed = {row.request_id: row.asset_id for row in connection.execute(select(creation_requests))}
        kept = connection.execute(select(assets.c.asset_id).order_by(assets.c.asset_id)).scalars().all()
    assert claimed == {"r1": "first", "r2": "alone"}
    assert kept == ["alone", "first", "second", "third"]
    [warning] = [record.getMessage() for record in caplog.records if record.name == "lifecycle.migrations"]
    assert warning.startswith("2 assets were created by a retry of a request")
    assert "kept first, also made second" in warning and "kept first, also made third" in warning

    retried = Lifecycle(database).create_asset(Tenant("tenant-m"), new_asset(), request_id="r1")
    assert retried.asset_id == "first"

    schema.downgrade(database, "0004")
    assert "lifecycle_creation_requests" not in inspect(database).get_table_names()
    assert {"block_scope", "block_reason_code", "declared"}.isdisjoint(
        column["name"] for column in inspect(database).get_columns("lifecycle_audit")
    )


# Migration 0007: changes that move no state, a deleted file's time, the listing's indexes ------------


@pytest.fixture
def engine_at_0006(database: Engine, tmp_path: Path) -> Iterator[Engine]:
    yield from _at_revision(database, tmp_path, "0006")


def test_migration_0007_widens_the_audit_events_and_downgrades_only_without_changes(
    engine_at_0006: Engine,
) -> None:
    from lifecycle.actors import Tenant
    from lifecycle.definition import FileCategory
    from lifecycle.engine import Lifecycle
    from lifecycle.errors import InvalidParameter
    from lifecycle.inputs import NewFile
    from tests.conftest import MD5, new_asset

    database = engine_at_0006
    tenant = Tenant("tenant-m")
    # An asset made at 0006 (its files declared at creation), written through 0006's tables.
    names = (ASSETS, FILES, "lifecycle_audit")
    tables = {name: Table(name, MetaData(), autoload_with=database) for name in names}
    with database.begin() as connection:
        connection.execute(tables[ASSETS].insert(), [STORAGE_ASSETS[0]])
        connection.execute(tables[FILES].insert(), [STORAGE_FILES[0]])
        connection.execute(tables["lifecycle_audit"].insert(), STORAGE_AUDIT[:2])
    assert "deleted_at" not in tables[FILES].c

    def audit_rows() -> list[tuple[Any, ...]]:
        audit_table = Table("lifecycle_audit", MetaData(), autoload_with=database)
        with database.connect() as connection:
            query = select(audit_table.c.id, audit_table.c.seq, audit_table.c.event).order_by(
                audit_table.c.id
            )
            return [tuple(row) for row in connection.execute(query)]

    at_0006 = audit_rows()

    schema.upgrade(database)
    assert "deleted_at" in {column["name"] for column in inspect(database).get_columns(FILES)}
    indexes = _indexes(database)
    assert indexes["ix_lifecycle_assets_project_id_asset_type_create_time"] == [
        "project_id",
        "asset_type",
        "create_time",
    ]
    assert indexes["ix_lifecycle_assets_project_id_app_user_id_create_time"] == [
        "project_id",
        "app_user_id",
        "create_time",
    ]
    assert audit_rows() == at_0006  # the audit table copied whole where it is rebuilt (SQLite)

    # No change recorded yet: the downgrade gives 0006 back.
    schema.downgrade(database, "0006")
    assert "deleted_at" not in {column["name"] for column in inspect(database).get_columns(FILES)}
    assert "ix_lifecycle_assets_project_id_asset_type_create_time" not in _indexes(database)
    assert audit_rows() == at_0006

    schema.upgrade(database)
    lifecycle = Lifecycle(database)
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.declare_file(tenant, asset.asset_id, NewFile("extra.bin", 1, MD5, FileCategory.OTHER))
    with pytest.raises(InvalidParameter, match="cannot downgrade below 0007: 1 audit rows"):
        schema.downgrade(database, "0006")
    assert schema.current_revision(database) == schema.head_revision()
