"""Bad data: rows the engine never wrote, planted past the database's own checks as an operator's
manual edit would, on every backend.

- A state the definition does not know (a typo, the wrong case, empty, NULL), or a remembered state
  no legal history leaves: every read and every move raises ``CorruptRecord`` naming the asset,
  writes nothing, and the tenant's other assets keep working. Another tenant's corrupt asset
  answers exactly as a missing one.
- A broken foreign key (files, audit rows, an unfreeze application of an asset that does not exist):
  reads of the asset answer ``AssetNotFound`` (it does not exist); acting on the orphan row itself
  (deciding its application, retrying its creation request) is ``CorruptRecord``.
- Unknown values in the other enum columns, and a second MAIN file, are refused where they are read.
- A sweep passes over corrupt due rows, reports each, and moves every other due asset once.
- The database itself refuses unknown states, and its CHECK constraints list exactly the enums.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from sqlalchemy import Engine, exc, inspect, text
from structlog.testing import capture_logs

from lifecycle.actors import Platform, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    DEFINITION,
    LIVE_STATES,
    AssetState,
    BatchAction,
    Event,
    FileCategory,
    PlannedOperation,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import AssetNotFound, CorruptRecord, LifecycleError
from lifecycle.explore import reachable
from lifecycle.inputs import AutoOperation
from lifecycle.integrity import ProblemKind
from lifecycle.store import schema
from lifecycle.store.models import StoredEnum, metadata
from lifecycle.sweeps import SweepReport
from tests.conftest import POSTGRES_URL, START, TABLES, new_asset

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
ASSETS = "lifecycle_assets"
FILES = "lifecycle_asset_files"
AUDIT = "lifecycle_audit"
APPLICATIONS = "lifecycle_unfreeze_applications"
REQUESTS = "lifecycle_creation_requests"
AUDIT_TRIGGER = schema.AUDIT_APPEND_ONLY


# Planting bad rows -------------------------------------------------------------------------------


class Planter:
    """Runs statements behind the engine's back, past the database's own checks.

    SQLite (each test has its own file): a connection of its own with CHECK constraints ignored
    and foreign keys off, and ``asset_state``'s NOT NULL edited out of the table's SQL
    (``writable_schema``). PostgreSQL (one schema for the whole session): the CHECK and foreign
    key constraints are dropped, ``asset_state`` made nullable and the audit trigger disabled, all
    in one transaction, and ``restore`` empties the tables and puts every one of them back exactly
    as it was (or rebuilds the schema if that fails), so later tests find the schema intact.
    """

    def __init__(self, database: Engine) -> None:
        self.database = database
        self._relaxed = False
        self._dropped: list[tuple[str, str, str]] = []

    def __call__(self, sql: str, **params: object) -> None:
        if not self._relaxed:
            self._relax()
            self._relaxed = True
        if self.database.dialect.name == "sqlite":
            connection = self._sqlite()
            try:
                connection.execute(sql, params)
            finally:
                connection.close()
        else:
            with self.database.begin() as connection:
                connection.execute(text(sql), params)

    def _sqlite(self) -> sqlite3.Connection:
        connection = sqlite3.connect(str(self.database.url.database), isolation_level=None)
        connection.execute("PRAGMA ignore_check_constraints=ON")
        connection.execute("PRAGMA foreign_keys=OFF")
        return connection

    def _relax(self) -> None:
        if self.database.dialect.name == "sqlite":
            connection = self._sqlite()
            try:
                (version,) = connection.execute("PRAGMA schema_version").fetchone()
                connection.execute("PRAGMA writable_schema=ON")
                edited = connection.execute(
                    "UPDATE sqlite_schema SET sql = replace(sql, :strict, :lax) WHERE name = :table",
                    {
                        "strict": "asset_state VARCHAR(9) NOT NULL",
                        "lax": "asset_state VARCHAR(9)",
                        "table": ASSETS,
                    },
                ).rowcount
                connection.execute(f"PRAGMA schema_version={version + 1}")
                connection.execute("PRAGMA writable_schema=OFF")
                assert edited == 1
            finally:
                connection.close()
            return
        with self.database.begin() as connection:
            self._dropped = _constraints(connection)
            for table, name, _definition in self._dropped:
                connection.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
            connection.execute(text(f"ALTER TABLE {ASSETS} ALTER COLUMN asset_state DROP NOT NULL"))
            connection.execute(text(f"ALTER TABLE {AUDIT} DISABLE TRIGGER {AUDIT_TRIGGER}"))

    def restore(self) -> None:
        if not self._relaxed or self.database.dialect.name == "sqlite":
            return
        try:
            with self.database.begin() as connection:
                connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
                for table, name, definition in self._dropped:
                    connection.execute(
                        text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {_as_written(definition)}")
                    )
                connection.execute(text(f"ALTER TABLE {ASSETS} ALTER COLUMN asset_state SET NOT NULL"))
                connection.execute(text(f"ALTER TABLE {AUDIT} ENABLE TRIGGER {AUDIT_TRIGGER}"))
                restored = _constraints(connection)
            assert sorted(restored) == sorted(self._dropped)
        except BaseException:
            schema.drop(self.database)
            schema.upgrade(self.database)
            raise


def _constraints(connection: Any) -> list[tuple[str, str, str]]:
    """PostgreSQL: every CHECK and foreign key constraint of the lifecycle tables."""
    rows = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype IN ('c', 'f') AND conrelid::regclass::text = ANY(:tables)"
        ),
        {"tables": list(TABLES)},
    )
    return [(str(table), str(name), str(definition)) for table, name, definition in rows]


def _as_written(definition: str) -> str:
    """A constraint as the migrations wrote it. PostgreSQL shows ``CHECK (c IN ('A', …))`` as
    ``CHECK (((c)::text = ANY ((ARRAY['A'::character varying, …])::text[])))``, and would keep that
    text, written back, in yet another (equivalent) form."""
    check = re.fullmatch(r"CHECK \(\(\((\w+)\)::text = ANY .*\)", definition)
    if check is None:
        return definition
    column = check.group(1)
    values = ", ".join(f"'{value}'" for value in _listed(definition, column))  # still SQL-quoted
    return f"CHECK ({column} IN ({values}))"


@pytest.fixture
def plant(database: Engine) -> Iterator[Planter]:
    planter = Planter(database)
    try:
        yield planter
    finally:
        planter.restore()


def snapshot(database: Engine) -> dict[str, list[str]]:
    """Every row of every lifecycle table, as the driver returns it: to prove nothing was written."""
    with database.connect() as connection:
        return {
            table: sorted(repr(tuple(row)) for row in connection.exec_driver_sql(f"SELECT * FROM {table}"))
            for table in TABLES
        }


# Assets in legal states ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frozen:
    """An asset frozen by the platform, with a pending unfreeze application."""

    asset_id: str
    main_file_id: str
    cover_file_id: str
    application_id: str


def _uploaded(lifecycle: Lifecycle, tenant: Tenant, **options: Any) -> str:
    asset = lifecycle.create_asset(tenant, new_asset(**options))
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


def _frozen(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform, request_id: str | None = None
) -> Frozen:
    asset = lifecycle.create_asset(tenant, new_asset(), request_id=request_id)
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    lifecycle.activate(tenant, asset.asset_id)
    lifecycle.freeze(platform, asset.asset_id)
    application = lifecycle.apply_for_unfreeze(tenant, asset.asset_id)
    (cover,) = (f for f in asset.files if f.asset_file_category is FileCategory.COVER)
    return Frozen(asset.asset_id, asset.main_file.file_id, cover.file_id, application.application_id)


def _still_works(lifecycle: Lifecycle, tenant: Tenant, platform: Platform, asset_id: str) -> None:
    """A healthy asset of the same tenant: read, listed, moved and moved back."""
    assert lifecycle.get_asset(tenant, asset_id).asset_state is AssetState.UNACTIVED
    listed = lifecycle.list_assets(tenant, states=[AssetState.UNACTIVED])
    assert [asset.asset_id for asset in listed.items] == [asset_id]
    assert Event.ACTIVATE in lifecycle.allowed_events(tenant, asset_id)
    assert lifecycle.activate(tenant, asset_id).to_state is AssetState.ACTIVED
    assert lifecycle.freeze(platform, asset_id).to_state is AssetState.BLOCK
    assert lifecycle.unfreeze(platform, asset_id).to_state is AssetState.ACTIVED
    assert lifecycle.deactivate(tenant, asset_id).to_state is AssetState.UNACTIVED
    assert [entry.event for entry in lifecycle.history(tenant, asset_id)][-1] is Event.DEACTIVATE


def _corrupt(action: Callable[[], object], asset_id: str, problem: str) -> CorruptRecord:
    """``action`` must raise ``CorruptRecord`` naming ``asset_id``, its problem matching ``problem``."""
    with pytest.raises(CorruptRecord) as raised:
        action()
    error = raised.value
    assert error.asset_id == asset_id
    assert re.search(problem, error.problem), f"{error.problem!r} does not match {problem!r}"
    assert (error.code, error.http_status) == ("LIFECYCLE.CORRUPT_RECORD", 500)
    assert asset_id in error.message and error.problem in error.message
    # A client is told no more than that the record is damaged; the problem is for the operators.
    assert error.to_dict() == {
        "error_code": "LIFECYCLE.CORRUPT_RECORD",
        "error_msg": "the asset's stored record is damaged; the platform's operators must repair it",
    }
    return error


def _outcome(action: Callable[[], object], asset_id: str) -> tuple[type[LifecycleError], str, int, str]:
    """How ``action`` fails, ``asset_id`` taken out of its message."""
    with pytest.raises(LifecycleError) as raised:
        action()
    error = raised.value
    return type(error), error.code, error.http_status, error.message.replace(asset_id, "<asset>")


# 1. Unknown and impossible states ----------------------------------------------------------------


@dataclass(frozen=True)
class StateCase:
    state: str | None
    pre_freeze: str | None
    pre_delete: str | None
    problem: str
    """A regular expression the ``CorruptRecord``'s problem must match."""

    @property
    def known_state(self) -> AssetState | None:
        return next((member for member in AssetState if member.value == self.state), None)


def _no_history(state: str, pre_freeze: str, pre_delete: str) -> str:
    return re.escape(
        f"no legal history leaves it in {state} (pre-freeze {pre_freeze}, pre-delete {pre_delete})"
    )


STATE_CASES = {
    "typo": StateCase("ACTIVATED", None, None, "asset_state 'ACTIVATED' is not a state of the definition"),
    "wrong-case": StateCase("actived", None, None, "asset_state 'actived' is not a state of the definition"),
    "empty": StateCase("", None, None, "asset_state '' is not a state of the definition"),
    "null": StateCase(None, None, None, "asset_state is NULL"),
    "remembered-typo": StateCase(
        "BLOCK", "Actived", None, "pre_freeze_state 'Actived' is not a state of the definition"
    ),
    "active-remembering-a-freeze": StateCase(
        "ACTIVED", "UNACTIVED", None, _no_history("ACTIVED", "UNACTIVED", "NULL")
    ),
    "frozen-remembering-nothing": StateCase("BLOCK", None, None, _no_history("BLOCK", "NULL", "NULL")),
    "frozen-remembering-frozen": StateCase("BLOCK", "BLOCK", None, _no_history("BLOCK", "BLOCK", "NULL")),
    "deleted-remembering-a-state": StateCase(
        "DELETED", None, "ACTIVED", _no_history("DELETED", "NULL", "ACTIVED")
    ),
    "in-the-bin-remembering-nothing": StateCase(
        "DELETING", None, None, _no_history("DELETING", "NULL", "NULL")
    ),
}


def _plant_state(plant: Planter, asset_id: str, case: StateCase) -> None:
    plant(
        f"UPDATE {ASSETS} SET asset_state = :state, pre_freeze_state = :pre_freeze,"
        " pre_delete_state = :pre_delete WHERE asset_id = :asset_id",
        state=case.state,
        pre_freeze=case.pre_freeze,
        pre_delete=case.pre_delete,
        asset_id=asset_id,
    )


def test_the_cases_are_what_they_say() -> None:
    """Each case holds a value the definition does not know, or a combination no legal history
    leaves (checked against the table, so the cases stay honest if it changes)."""
    reached = {
        tuple(None if state is None else state.value for state in (f.state, f.pre_freeze, f.pre_delete))
        for f in reachable()
    }
    known = {member.value for member in AssetState}
    for name, case in STATE_CASES.items():
        values = (case.state, case.pre_freeze, case.pre_delete)
        unknown = case.state is None or any(value not in known for value in values if value is not None)
        assert unknown or values not in reached, name


@pytest.mark.parametrize("case", list(STATE_CASES.values()), ids=list(STATE_CASES))
def test_every_read_and_move_of_a_corrupt_asset_is_a_corrupt_record_and_writes_nothing(
    lifecycle: Lifecycle, plant: Planter, tenant: Tenant, platform: Platform, case: StateCase
) -> None:
    bad = _frozen(lifecycle, tenant, platform, request_id="create-bad")
    healthy = _uploaded(lifecycle, tenant)
    _plant_state(plant, bad.asset_id, case)
    before = snapshot(lifecycle.database)
    asset_id = bad.asset_id
    actions: dict[str, Callable[[], object]] = {
        "get_asset": lambda: lifecycle.get_asset(tenant, asset_id),
        "get_asset by the platform": lambda: lifecycle.get_asset(platform, asset_id),
        "list_assets": lambda: lifecycle.list_assets(tenant),
        "list_assets by the platform": lambda: lifecycle.list_assets(platform, project_id=tenant.project_id),
        "history": lambda: lifecycle.history(tenant, asset_id),
        "allowed_events": lambda: lifecycle.allowed_events(tenant, asset_id),
        "allowed_events of the platform": lambda: lifecycle.allowed_events(platform, asset_id),
        "activate": lambda: lifecycle.activate(tenant, asset_id),
        "delete": lambda: lifecycle.delete(tenant, asset_id),
        "delete for good": lambda: lifecycle.delete(platform, asset_id, force=True),
        "restore": lambda: lifecycle.restore(tenant, asset_id, request_id="restore-1"),
        "freeze": lambda: lifecycle.freeze(platform, asset_id),
        "unfreeze": lambda: lifecycle.unfreeze(platform, asset_id),
        "fire with an expected version": lambda: lifecycle.fire(
            platform, asset_id, Event.UNFREEZE, expected_version=4
        ),
        "confirm_upload": lambda: lifecycle.confirm_upload(
            tenant, asset_id, bad.main_file_id, UploadResult.CREATED
        ),
        "confirm_upload of another file": lambda: lifecycle.confirm_upload(
            tenant, asset_id, bad.cover_file_id, UploadResult.CREATED
        ),
        "apply_for_unfreeze": lambda: lifecycle.apply_for_unfreeze(tenant, asset_id),
        "approve_unfreeze": lambda: lifecycle.approve_unfreeze(platform, bad.application_id),
        "a retried creation": lambda: lifecycle.create_asset(tenant, new_asset(), request_id="create-bad"),
        "asset_storage": lambda: lifecycle.asset_storage(tenant, asset_id),
        "asset_storage by the platform": lambda: lifecycle.asset_storage(platform, asset_id),
    }
    problems = {name: _corrupt(action, asset_id, case.problem).problem for name, action in actions.items()}
    assert len(set(problems.values())) == 1, f"every read names the same problem: {problems}"
    (result,) = lifecycle.batch(tenant, BatchAction.DELETE, [asset_id])
    assert (result.status, result.error_code) == ("FAILED", "LIFECYCLE.CORRUPT_RECORD")
    assert result.error_msg == CorruptRecord.server_message
    assert isinstance(result.error, CorruptRecord) and result.error.asset_id == asset_id
    assert snapshot(lifecycle.database) == before, "nothing was written"
    _still_works(lifecycle, tenant, platform, healthy)


@pytest.mark.parametrize("case", list(STATE_CASES.values()), ids=list(STATE_CASES))
def test_a_storage_report_names_an_asset_whose_state_it_cannot_place(
    lifecycle: Lifecycle, plant: Planter, tenant: Tenant, platform: Platform, case: StateCase
) -> None:
    """A state nobody knows cannot be counted or left out: the report is refused with the problem
    every read of that asset reports, now and as of a past moment (the state then comes from the
    audit trail, where the planted value is not). A known state with an impossible memory is placed
    by its state (memory does not decide storage); ``asset_storage`` and ``audit verify`` refuse it."""
    bad = _frozen(lifecycle, tenant, platform)
    _uploaded(lifecycle, tenant)
    _plant_state(plant, bad.asset_id, case)
    if case.known_state is None:
        _corrupt(lambda: lifecycle.storage_report(platform), bad.asset_id, case.problem)
        _corrupt(lambda: lifecycle.storage_report(tenant), bad.asset_id, case.problem)
    else:
        [report] = lifecycle.storage_report(platform).tenants
        assert report.by_state[case.known_state].assets >= 1
    [past] = lifecycle.storage_report(platform, as_of=lifecycle.clock.now()).tenants
    assert past.total.assets == 2


def test_a_storage_report_names_an_audit_row_whose_state_it_cannot_place(
    lifecycle: Lifecycle, plant: Planter, tenant: Tenant, platform: Platform
) -> None:
    bad = _frozen(lifecycle, tenant, platform)
    plant(
        f"UPDATE {AUDIT} SET to_state = 'Frozen' WHERE asset_id = :asset_id AND seq = 4",
        asset_id=bad.asset_id,
    )
    [now] = lifecycle.storage_report(platform).tenants
    assert now.by_state[AssetState.BLOCK].assets == 1
    _corrupt(
        lambda: lifecycle.storage_report(platform, as_of=lifecycle.clock.now()),
        bad.asset_id,
        "audit row 4: to_state 'Frozen' is not a value the engine knows",
    )


TENANT_WIDE = {
    "freeze_tenant": [*LIVE_STATES, AssetState.DELETING, AssetState.BLOCK],
    "unfreeze_tenant": [AssetState.BLOCK, AssetState.DELETING],
}
"""The states each tenant-wide operation reads (and acts on, or reports as skipped)."""


@pytest.mark.parametrize("case", list(STATE_CASES.values()), ids=list(STATE_CASES))
@pytest.mark.parametrize("operation", ["freeze_tenant", "unfreeze_tenant"])
def test_a_tenant_wide_operation_will_not_act_over_a_corrupt_asset_it_would_touch(
    lifecycle: Lifecycle, plant: Planter, tenant: Tenant, platform: Platform, case: StateCase, operation: str
) -> None:
    """All or nothing: a corrupt asset in a state the operation acts on (or in a state nobody knows,
    so nobody can say whether it would) fails the whole operation before anything is written. One
    in a known state it would leave alone anyway (DELETED) does not stop it."""
    bad = _frozen(lifecycle, tenant, platform)
    healthy = _uploaded(lifecycle, tenant)
    if operation == "unfreeze_tenant":
        lifecycle.freeze_tenant(platform, tenant.project_id)
    _plant_state(plant, bad.asset_id, case)
    before = snapshot(lifecycle.database)
    run = getattr(lifecycle, operation)
    if case.known_state is not None and case.known_state not in TENANT_WIDE[operation]:
        done = run(platform, tenant.project_id)
        assert [move.asset_id for move in done.moved] == [healthy]
        assert bad.asset_id not in {asset_id for asset_id, _ in done.skipped}
        return
    _corrupt(lambda: run(platform, tenant.project_id), bad.asset_id, case.problem)
    assert snapshot(lifecycle.database) == before, "nothing was written"


@pytest.mark.parametrize("case", list(STATE_CASES.values()), ids=list(STATE_CASES))
def test_another_tenants_corrupt_asset_answers_exactly_as_a_missing_one(
    lifecycle: Lifecycle,
    plant: Planter,
    tenant: Tenant,
    other_tenant: Tenant,
    platform: Platform,
    case: StateCase,
) -> None:
    bad = _frozen(lifecycle, tenant, platform)
    _plant_state(plant, bad.asset_id, case)
    before = snapshot(lifecycle.database)
    missing = str(uuid.uuid4())

    def actions(asset_id: str) -> dict[str, Callable[[], object]]:
        return {
            "get_asset": lambda: lifecycle.get_asset(other_tenant, asset_id),
            "history": lambda: lifecycle.history(other_tenant, asset_id),
            "allowed_events": lambda: lifecycle.allowed_events(other_tenant, asset_id),
            "activate": lambda: lifecycle.activate(other_tenant, asset_id),
            "restore with a request id": lambda: lifecycle.restore(other_tenant, asset_id, request_id="r-1"),
            "delete": lambda: lifecycle.delete(other_tenant, asset_id),
            "confirm_upload": lambda: lifecycle.confirm_upload(
                other_tenant, asset_id, bad.main_file_id, UploadResult.CREATED
            ),
            "apply_for_unfreeze": lambda: lifecycle.apply_for_unfreeze(other_tenant, asset_id),
            "asset_storage": lambda: lifecycle.asset_storage(other_tenant, asset_id),
        }

    corrupt, absent = actions(bad.asset_id), actions(missing)
    for name in corrupt:
        answer = _outcome(corrupt[name], bad.asset_id)
        assert answer == _outcome(absent[name], missing), name
        assert answer[0] is AssetNotFound, name
    (result,) = lifecycle.batch(other_tenant, BatchAction.DELETE, [bad.asset_id])
    (unknown,) = lifecycle.batch(other_tenant, BatchAction.DELETE, [missing])
    assert (result.error_code, result.error_msg) == (
        unknown.error_code,
        (unknown.error_msg or "").replace(missing, bad.asset_id),
    )
    assert lifecycle.list_assets(other_tenant).total == 0
    assert lifecycle.freeze_tenant(platform, other_tenant.project_id).moved == ()
    assert snapshot(lifecycle.database) == before, "nothing was written"


# Unknown values in the other enum columns ---------------------------------------------------------


@dataclass(frozen=True)
class ValueCase:
    sql: str
    """An UPDATE of the frozen asset's rows (``:asset_id``)."""
    problem: str
    raises: tuple[str, ...]
    """The actions that must answer ``CorruptRecord`` (the others do not read the value)."""


ROW_READS = ("get_asset", "list_assets")
DECISIONS = ("allowed_events", "unfreeze", "freeze_tenant", "approve_unfreeze")
VALUE_CASES = {
    "fail_type": ValueCase(
        f"UPDATE {ASSETS} SET fail_type = 'BOGUS' WHERE asset_id = :asset_id",
        "fail_type 'BOGUS' is not a value",
        (*ROW_READS, *DECISIONS),
    ),
    "block_scope": ValueCase(
        f"UPDATE {ASSETS} SET block_scope = 'asset' WHERE asset_id = :asset_id",
        "block_scope 'asset' is not a value",
        (*ROW_READS, *DECISIONS),
    ),
    "planned_operation": ValueCase(
        f"UPDATE {ASSETS} SET planned_operation = 'PURGE' WHERE asset_id = :asset_id",
        "planned_operation 'PURGE' is not a value",
        (*ROW_READS, *DECISIONS),
    ),
    "asset_type": ValueCase(
        f"UPDATE {ASSETS} SET asset_type = 'VIDEO_MODEL' WHERE asset_id = :asset_id",
        "asset_type 'VIDEO_MODEL' is not a value",
        (*ROW_READS, *DECISIONS),
    ),
    "main file state": ValueCase(
        f"UPDATE {FILES} SET state = 'created' WHERE asset_id = :asset_id AND asset_file_category = 'MAIN'",
        "state 'created' is not a value",
        (*ROW_READS, *DECISIONS, "confirm_upload"),
    ),
    "main file category": ValueCase(
        f"UPDATE {FILES} SET asset_file_category = 'main' WHERE asset_id = :asset_id"
        " AND asset_file_category = 'MAIN'",
        "category 'main' is not a value",
        (*ROW_READS, "confirm_upload"),
    ),
    "cover file state": ValueCase(
        f"UPDATE {FILES} SET state = '' WHERE asset_id = :asset_id AND asset_file_category = 'COVER'",
        "state '' is not a value",
        (*ROW_READS, "confirm_upload of the cover"),
    ),
    "audit event": ValueCase(
        f"UPDATE {AUDIT} SET event = 'activated' WHERE asset_id = :asset_id AND seq = 3",
        "event 'activated' is not a value",
        ("history",),
    ),
    "audit to_state": ValueCase(
        f"UPDATE {AUDIT} SET to_state = 'Actived' WHERE asset_id = :asset_id AND seq = 3",
        "to_state 'Actived' is not a value",
        ("history",),
    ),
}


@pytest.mark.parametrize("case", list(VALUE_CASES.values()), ids=list(VALUE_CASES))
def test_an_unknown_value_in_any_enum_column_is_a_corrupt_record_where_it_is_read(
    lifecycle: Lifecycle, plant: Planter, tenant: Tenant, platform: Platform, case: ValueCase
) -> None:
    bad = _frozen(lifecycle, tenant, platform)
    healthy = _uploaded(lifecycle, tenant)
    plant(case.sql, asset_id=bad.asset_id)
    before = snapshot(lifecycle.database)
    actions: dict[str, Callable[[], object]] = {
        "get_asset": lambda: lifecycle.get_asset(tenant, bad.asset_id),
        "list_assets": lambda: lifecycle.list_assets(tenant),
        "history": lambda: lifecycle.history(tenant, bad.asset_id),
        "allowed_events": lambda: lifecycle.allowed_events(platform, bad.asset_id),
        "unfreeze": lambda: lifecycle.unfreeze(platform, bad.asset_id),
        "freeze_tenant": lambda: lifecycle.freeze_tenant(platform, tenant.project_id),
        "approve_unfreeze": lambda: lifecycle.approve_unfreeze(platform, bad.application_id),
        "confirm_upload": lambda: lifecycle.confirm_upload(
            tenant, bad.asset_id, bad.main_file_id, UploadResult.CREATED
        ),
        "confirm_upload of the cover": lambda: lifecycle.confirm_upload(
            tenant, bad.asset_id, bad.cover_file_id, UploadResult.CREATED
        ),
    }
    assert set(case.raises) <= set(actions)
    for name in case.raises:
        _corrupt(actions[name], bad.asset_id, case.problem)
    assert snapshot(lifecycle.database) == before, "nothing was written"
    _still_works(lifecycle, tenant, platform, healthy)


# Broken foreign keys --------------------------------------------------------------------------------


def test_rows_of_an_asset_that_does_not_exist(
    lifecycle: Lifecycle, plant: Planter, tenant: Tenant, platform: Platform
) -> None:
    """The asset row deleted by hand, its files, audit rows and pending application left behind.

    The asset does not exist, so reads and moves of it answer ``AssetNotFound``, exactly as for an
    id never used. Acting on an orphan row itself is ``CorruptRecord``: approving or rejecting its
    unfreeze application, or retrying the request that created it (its request row says it was
    created). Reading the application still answers (its own row is whole), and ``verify_audit``
    reports the orphans.
    """
    bad = _frozen(lifecycle, tenant, platform, request_id="create-gone")
    healthy = _uploaded(lifecycle, tenant)
    plant(f"DELETE FROM {ASSETS} WHERE asset_id = :asset_id", asset_id=bad.asset_id)
    before = snapshot(lifecycle.database)
    assert before[FILES] and before[AUDIT] and before[APPLICATIONS]
    missing = str(uuid.uuid4())

    def actions(asset_id: str) -> dict[str, Callable[[], object]]:
        return {
            "get_asset": lambda: lifecycle.get_asset(tenant, asset_id),
            "get_asset by the platform": lambda: lifecycle.get_asset(platform, asset_id),
            "history": lambda: lifecycle.history(tenant, asset_id),
            "allowed_events": lambda: lifecycle.allowed_events(tenant, asset_id),
            "unfreeze": lambda: lifecycle.unfreeze(platform, asset_id),
            "confirm_upload": lambda: lifecycle.confirm_upload(
                tenant, asset_id, bad.main_file_id, UploadResult.CREATED
            ),
            "apply_for_unfreeze": lambda: lifecycle.apply_for_unfreeze(tenant, asset_id),
        }

    gone, absent = actions(bad.asset_id), actions(missing)
    for name in gone:
        answer = _outcome(gone[name], bad.asset_id)
        assert answer == _outcome(absent[name], missing), name
        assert answer[0] is AssetNotFound, name

    does_not_exist = (
        f"unfreeze application {re.escape(bad.application_id)} refers to it, but it does not exist"
    )
    _corrupt(lambda: lifecycle.approve_unfreeze(platform, bad.application_id), bad.asset_id, does_not_exist)
    _corrupt(lambda: lifecycle.reject_unfreeze(platform, bad.application_id), bad.asset_id, does_not_exist)
    _corrupt(
        lambda: lifecycle.create_asset(tenant, new_asset(), request_id="create-gone"),
        bad.asset_id,
        "request 'create-gone' is recorded as its creation, but it does not exist",
    )
    assert lifecycle.get_unfreeze_application(platform, bad.application_id).asset_id == bad.asset_id
    assert [a.asset_id for a in lifecycle.list_unfreeze_applications(platform)] == [bad.asset_id]
    assert [asset.asset_id for asset in lifecycle.list_assets(tenant).items] == [healthy]
    assert lifecycle.freeze_tenant(platform, tenant.project_id).moved[0].asset_id == healthy
    lifecycle.unfreeze_tenant(platform, tenant.project_id)
    after = snapshot(lifecycle.database)
    assert {table: after[table] for table in (FILES, APPLICATIONS)} == {
        table: before[table] for table in (FILES, APPLICATIONS)
    }, "the orphan rows were left as they were"

    report = lifecycle.verify_audit(platform)
    orphans = {
        (p.asset_id, p.detail.split()[0]) for p in report.problems if p.kind is ProblemKind.ORPHAN_ROWS
    }
    assert orphans == {(bad.asset_id, table) for table in (AUDIT, FILES, APPLICATIONS, REQUESTS)}
    _still_works(lifecycle, tenant, platform, healthy)


# 2. Sweeps ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueCorruption:
    rule: str
    sql: str
    """An UPDATE of one asset's rows (``:asset_id``) that leaves it due, but corrupt."""
    problem: str
    repair: str
    """The UPDATE that puts it right again."""


FIRST_THREE = [
    DueCorruption(
        "upload_timeout",
        f"UPDATE {ASSETS} SET pre_delete_state = 'ACTIVED' WHERE asset_id = :asset_id",
        _no_history("CREATING", "NULL", "ACTIVED"),
        f"UPDATE {ASSETS} SET pre_delete_state = NULL WHERE asset_id = :asset_id",
    ),
    DueCorruption(
        "upload_timeout",
        f"UPDATE {ASSETS} SET fail_type = 'BOGUS' WHERE asset_id = :asset_id",
        "fail_type 'BOGUS' is not a value the engine knows",
        f"UPDATE {ASSETS} SET fail_type = NULL WHERE asset_id = :asset_id",
    ),
    DueCorruption(
        "upload_timeout",
        f"UPDATE {FILES} SET state = 'creating' WHERE asset_id = :asset_id AND asset_file_category = 'MAIN'",
        "main_file_state 'creating' is not a value the engine knows",
        f"UPDATE {FILES} SET state = 'CREATING' WHERE asset_id = :asset_id AND asset_file_category = 'MAIN'",
    ),
]
IN_THE_MIDDLE = DueCorruption(
    "upload_timeout",
    f"UPDATE {ASSETS} SET asset_type = 'VIDEO_MODEL' WHERE asset_id = :asset_id",
    "asset_type 'VIDEO_MODEL' is not a value the engine knows",
    f"UPDATE {ASSETS} SET asset_type = 'HUMAN_MODEL' WHERE asset_id = :asset_id",
)
PLANNED = DueCorruption(
    "planned_delete",
    f"UPDATE {ASSETS} SET block_scope = 'asset' WHERE asset_id = :asset_id",
    "block_scope 'asset' is not a value the engine knows",
    f"UPDATE {ASSETS} SET block_scope = NULL WHERE asset_id = :asset_id",
)
IN_THE_BIN = DueCorruption(
    "recycle_bin_purge",
    f"UPDATE {ASSETS} SET pre_delete_state = NULL WHERE asset_id = :asset_id",
    _no_history("DELETING", "NULL", "NULL"),
    f"UPDATE {ASSETS} SET pre_delete_state = 'UNACTIVED' WHERE asset_id = :asset_id",
)


@dataclass
class DueAssets:
    corrupt: dict[str, DueCorruption]
    healthy: dict[str, str]
    """Asset id: the rule that must move it."""


def _due_assets(lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, plant: Planter) -> DueAssets:
    """Assets due for three of the rules, the earliest three (by the upload deadline) corrupt, one
    more corrupt among the healthy ones, and one corrupt in each of the other two rules."""
    corrupt: dict[str, DueCorruption] = {}
    healthy: dict[str, str] = {}
    for corruption in FIRST_THREE:
        corrupt[lifecycle.create_asset(tenant, new_asset()).asset_id] = corruption
        clock.advance(SECOND)
    for index in range(7):
        asset_id = lifecycle.create_asset(tenant, new_asset()).asset_id
        if index == 3:
            corrupt[asset_id] = IN_THE_MIDDLE
        else:
            healthy[asset_id] = "upload_timeout"
        clock.advance(SECOND)
    plan = {"auto_operation": AutoOperation(PlannedOperation.DELETE, START + 2 * DAY)}
    for index in range(3):
        asset_id = _uploaded(lifecycle, tenant, **plan)
        if index == 0:
            corrupt[asset_id] = PLANNED
        else:
            healthy[asset_id] = "planned_delete"
    for index in range(3):
        asset_id = _uploaded(lifecycle, tenant)
        lifecycle.delete(tenant, asset_id)
        if index == 1:
            corrupt[asset_id] = IN_THE_BIN
        else:
            healthy[asset_id] = "recycle_bin_purge"
    for asset_id, corruption in corrupt.items():
        plant(corruption.sql, asset_id=asset_id)
    return DueAssets(corrupt, healthy)


def _rows_of(database: Engine, asset_ids: list[str]) -> dict[str, list[str]]:
    everything = snapshot(database)
    return {
        table: [row for row in rows if any(a in row for a in asset_ids)] for table, rows in everything.items()
    }


def _moves_by_system(lifecycle: Lifecycle, tenant: Tenant, asset_id: str) -> list[Event]:
    return [e.event for e in lifecycle.history(tenant, asset_id) if e.actor_kind.value == "system"]


RULE_EVENT = {rule.name: rule.event for rule in DEFINITION.time_rules}


def _check_skipped(report: SweepReport, due: DueAssets) -> None:
    assert len(report.skipped) == len(due.corrupt), "each corrupt row reported once"
    for row in report.skipped:
        corruption = due.corrupt[row.asset_id]
        assert row.rule == corruption.rule
        assert re.search(corruption.problem, row.problem), row.problem
    by_rule = {
        rule.name: sum(c.rule == rule.name for c in due.corrupt.values()) for rule in DEFINITION.time_rules
    }
    assert {rule.rule: rule.corrupt for rule in report.rules} == by_rule


@pytest.mark.parametrize("batch_size", [1, 2, 3, 500])
def test_a_sweep_skips_corrupt_due_rows_reports_each_and_moves_every_other_once(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, plant: Planter, batch_size: int
) -> None:
    due = _due_assets(lifecycle, clock, tenant, plant)
    corrupt_rows = _rows_of(lifecycle.database, list(due.corrupt))
    clock.set(START + 30 * DAY)

    with capture_logs() as logs:
        report = lifecycle.sweep(batch_size=batch_size)

    _check_skipped(report, due)
    logged = [entry for entry in logs if entry["event"] == "sweep_row_skipped"]
    assert {(e["asset_id"], e["rule"], e["problem"], e["log_level"]) for e in logged} == {
        (row.asset_id, row.rule, row.problem, "warning") for row in report.skipped
    }
    assert len(logged) == len(due.corrupt)
    moved = {rule.rule: rule.moved for rule in report.rules}
    assert moved == {
        rule.name: sum(r == rule.name for r in due.healthy.values()) for rule in DEFINITION.time_rules
    }
    for asset_id, rule in due.healthy.items():
        assert _moves_by_system(lifecycle, tenant, asset_id) == [RULE_EVENT[rule]], "moved exactly once"
    assert _rows_of(lifecycle.database, list(due.corrupt)) == corrupt_rows, "the corrupt rows were left alone"
    assert next(e for e in logs if e["event"] == "sweep_finished")["rules"]["upload_timeout"]["corrupt"] == 4

    again = lifecycle.sweep(batch_size=batch_size)
    assert again.moved == 0
    _check_skipped(again, due)  # still corrupt: reported again until repaired

    repaired = next(iter(due.corrupt))
    plant(due.corrupt.pop(repaired).repair, asset_id=repaired)
    after_repair = lifecycle.sweep(batch_size=batch_size)
    assert after_repair.moved == 1
    assert _moves_by_system(lifecycle, tenant, repaired) == [Event.TIME_OUT_UPLOAD]
    _check_skipped(after_repair, due)


FILE_COLUMNS = (
    "asset_id, position, file_name, file_md5, file_size, file_type, asset_file_category, state, reason,"
    " create_time, update_time"
)
SECOND_MAIN_FILE = (
    f"INSERT INTO {FILES} (file_id, {FILE_COLUMNS}) SELECT 'copy-' || file_id, {FILE_COLUMNS}"
    f" FROM {FILES} WHERE asset_id = :asset_id AND asset_file_category = 'MAIN'"
)


@pytest.mark.parametrize("batch_size", [2, 500])
def test_an_asset_with_two_main_files_is_skipped_instead_of_failing_the_sweep(
    lifecycle: Lifecycle,
    clock: ManualClock,
    tenant: Tenant,
    platform: Platform,
    plant: Planter,
    batch_size: int,
) -> None:
    """Nothing in the schema stops a second MAIN file row; the decision's join then reads the asset
    twice. A sweep used to plan its move twice and fail whole on the audit trail's unique (asset,
    seq), every time, so that nothing due moved any more. (Both rows are in one batch here: the
    asset is due first. A copy cut off by the batch's end is moved once, never twice.)"""
    doubled = lifecycle.create_asset(tenant, new_asset()).asset_id
    clock.advance(SECOND)
    others = [lifecycle.create_asset(tenant, new_asset()).asset_id for _ in range(3)]
    plant(SECOND_MAIN_FILE, asset_id=doubled)
    before = snapshot(lifecycle.database)
    problem = "it has 2 MAIN files; every asset has exactly one"
    _corrupt(lambda: lifecycle.allowed_events(tenant, doubled), doubled, problem)
    _corrupt(lambda: lifecycle.delete(tenant, doubled), doubled, problem)
    _corrupt(lambda: lifecycle.freeze_tenant(platform, tenant.project_id), doubled, problem)
    assert snapshot(lifecycle.database) == before, "nothing was written"

    clock.set(START + 2 * DAY)
    report = lifecycle.sweep(batch_size=batch_size)
    assert [(row.asset_id, row.rule, row.problem) for row in report.skipped] == [
        (doubled, "upload_timeout", problem)
    ]
    assert report.rule("upload_timeout").moved == len(others)
    for asset_id in others:
        assert _moves_by_system(lifecycle, tenant, asset_id) == [Event.TIME_OUT_UPLOAD]
    assert _moves_by_system(lifecycle, tenant, doubled) == []


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    """The admin script configures logging (it is an application); put the suite's back."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


@pytest.mark.usefixtures("_restore_logging")
def test_the_admin_sweep_lists_the_skipped_rows_and_exits_0(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, plant: Planter
) -> None:
    """A sweep with skipped rows did its job: every healthy due asset moved. The corrupt rows are
    data to repair, reported on stdout (and ``audit verify`` exits 10 for them), not a failure of
    the sweep, so it exits 0 like any other sweep."""
    due = _due_assets(lifecycle, clock, tenant, plant)
    if lifecycle.database.dialect.name == "sqlite":
        url = lifecycle.database.url.render_as_string(hide_password=False)
    else:
        assert POSTGRES_URL is not None
        url = POSTGRES_URL
    (entry_point,) = entry_points(group="console_scripts", name="lifecycle")
    script = entry_point.load()
    result = CliRunner().invoke(script, ["--db", url, "sweep", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["moved"] == len(due.healthy)
    assert {row["asset_id"]: row["rule"] for row in report["skipped"]} == {
        asset_id: corruption.rule for asset_id, corruption in due.corrupt.items()
    }
    for row in report["skipped"]:
        assert re.search(due.corrupt[row["asset_id"]].problem, row["problem"])
    corrupt_by_rule = {rule["rule"]: rule["corrupt"] for rule in report["rules"]}
    assert corrupt_by_rule == {
        "upload_timeout": 4,
        "planned_freeze": 0,
        "planned_delete": 1,
        "recycle_bin_purge": 1,
    }
    assert result.stderr.count("sweep_row_skipped") == len(due.corrupt), "each is logged as a warning"

    readable = CliRunner().invoke(script, ["--db", url, "sweep"], catch_exceptions=False)
    assert readable.exit_code == 0, readable.stderr
    assert "skipped: corrupt rows" in readable.stdout


# 3. The database refuses unknown states ------------------------------------------------------------


STATE_COLUMNS = {
    ASSETS: ("asset_state", "pre_freeze_state", "pre_delete_state"),
    AUDIT: ("from_state", "to_state", "pre_freeze_state", "pre_delete_state"),
}
NOT_NULL = {(ASSETS, "asset_state"), (AUDIT, "to_state")}
BAD_STATES = ["actived", "ACTIVATED", "", "Block", " BLOCK", None]
STATE_TARGETS = [
    pytest.param(table, column, value, id=f"{table}.{column}={value!r}")
    for table, columns in STATE_COLUMNS.items()
    for column in columns
    for value in BAD_STATES
    if value is not None or (table, column) in NOT_NULL  # NULL is a legal "remembers nothing"
]


def _refused(database: Engine, statement: str, params: dict[str, object], constraint: str) -> None:
    """``statement`` fails at the database, on ``constraint``; the audit trigger (PostgreSQL) is
    disabled for it, so that it is the constraint that refuses, not the trigger."""
    with database.connect() as connection:
        connection.begin()
        if database.dialect.name == "postgresql":
            connection.execute(text(f"ALTER TABLE {AUDIT} DISABLE TRIGGER {AUDIT_TRIGGER}"))
        with pytest.raises(exc.IntegrityError) as refused:
            connection.execute(text(statement), params)
        connection.rollback()  # puts the trigger back too: DDL is transactional on PostgreSQL
    assert constraint in str(refused.value.orig), str(refused.value.orig)


@pytest.mark.parametrize(("table", "column", "value"), STATE_TARGETS)
def test_the_database_refuses_a_state_the_definition_does_not_know(
    lifecycle: Lifecycle, tenant: Tenant, table: str, column: str, value: str | None
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    lifecycle.activate(tenant, asset_id)
    before = snapshot(lifecycle.database)
    if value is not None:
        constraint = f"ck_{table}_{column}"
    elif lifecycle.database.dialect.name == "sqlite":
        constraint = f"NOT NULL constraint failed: {table}.{column}"
    else:
        constraint = f'null value in column "{column}" of relation "{table}" violates not-null constraint'
    where = "asset_id = :asset_id" + (" AND seq = 2" if table == AUDIT else "")
    _refused(
        lifecycle.database,
        f"UPDATE {table} SET {column} = :value WHERE {where}",
        {"value": value, "asset_id": asset_id},
        constraint,
    )
    names = [c.name for c in metadata.tables[table].columns if c.name != "id"]
    key = {ASSETS: {"asset_id": ":new_id"}, AUDIT: {"seq": "seq + 100"}}[table]
    selected = ", ".join(":value" if name == column else key.get(name, name) for name in names)
    _refused(
        lifecycle.database,
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {selected} FROM {table} WHERE {where}",
        {"value": value, "asset_id": asset_id, "new_id": str(uuid.uuid4())},
        constraint,
    )
    assert snapshot(lifecycle.database) == before, "nothing was written"


def _enum_columns() -> list[tuple[str, str, type[Any]]]:
    return [
        (table.name, column.name, column.type.enum_class)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, StoredEnum)
    ]


def test_every_enum_column_is_a_stored_enum_with_its_check() -> None:
    columns = _enum_columns()
    assert {(table, column) for table, column, _ in columns} >= {
        (table, column) for table, names in STATE_COLUMNS.items() for column in names
    }
    for table, column, enum_class in columns:
        assert enum_class is not None, f"{table}.{column}"
        if column in STATE_COLUMNS.get(table, ()):
            assert enum_class is AssetState


def _check_constraints(database: Engine) -> dict[str, str]:
    """Every CHECK constraint of the lifecycle tables, as the database holds it: name: definition."""
    with database.connect() as connection:
        if database.dialect.name == "postgresql":
            rows = connection.execute(
                text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE contype = 'c' AND conrelid::regclass::text = ANY(:tables)"
                ),
                {"tables": list(TABLES)},
            )
            return {str(name): str(definition) for name, definition in rows}
        found: dict[str, str] = {}
        for (sql,) in connection.exec_driver_sql(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name LIKE 'lifecycle%'"
        ):
            for name, definition in re.findall(r"CONSTRAINT (\w+) (CHECK \((?:[^()]|\([^()]*\))*\))", sql):
                found[name] = definition
        return found


def _listed(definition: str, column: str) -> list[str]:
    """The values a CHECK constraint allows in ``column``, in its order.

    PostgreSQL: ``CHECK (((c)::text = ANY ((ARRAY['A'::character varying, …])::text[])))``;
    SQLite: ``CHECK (c IN ('A', …))``.
    """
    postgres = re.fullmatch(
        rf"CHECK \(\(\({column}\)::text = ANY \(\(ARRAY\[(.*)\]\)::text\[\]\)\)\)", definition
    )
    sqlite = re.fullmatch(rf"CHECK \({column} IN \((.*)\)\)", definition)
    match = postgres or sqlite
    assert match is not None, f"not a list of values of {column}: {definition}"
    return re.findall(r"'((?:[^']|'')*)'", match.group(1))


def test_each_check_constraint_lists_exactly_the_values_of_its_enum(database: Engine) -> None:
    constraints = _check_constraints(database)
    expected = {f"ck_{table}_{column}": (column, enum_class) for table, column, enum_class in _enum_columns()}
    assert sorted(constraints) == sorted(expected), "one CHECK per enum column, and no other"
    for name, (column, enum_class) in expected.items():
        listed = _listed(constraints[name], column)
        assert len(listed) == len(set(listed)), f"{name} lists a value twice: {listed}"
        assert sorted(listed) == sorted(member.value for member in enum_class), name
    states = [member.value for member in AssetState]
    for table, columns in STATE_COLUMNS.items():
        for column in columns:
            assert sorted(_listed(constraints[f"ck_{table}_{column}"], column)) == sorted(states)


def test_the_state_columns_that_must_hold_a_state_are_not_null(database: Engine) -> None:
    inspector = inspect(database)
    for table, columns in STATE_COLUMNS.items():
        nullable = {c["name"]: c["nullable"] for c in inspector.get_columns(table)}
        assert {column: nullable[column] for column in columns} == {
            column: (table, column) not in NOT_NULL for column in columns
        }
