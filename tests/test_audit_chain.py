"""The tamper-evident audit trail: every row hash-chained per asset, ``verify_audit`` (and
``lifecycle audit verify``) recomputing the chains and replaying every history through the table,
and PostgreSQL refusing UPDATE and DELETE on the audit table."""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, event, exc, func, select, text, update

from lifecycle.actors import Platform, System, Tenant
from lifecycle.chain import GENESIS, HASHED_COLUMNS, chain_hash
from lifecycle.cli import ExitCode, main
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, BlockScope, Event, FailType, Role, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter, PermissionDenied
from lifecycle.integrity import ProblemKind
from lifecycle.records import TransitionRecord
from lifecycle.store import schema
from lifecycle.store.models import assets, audit
from tests.conftest import POSTGRES_URL, TABLES, new_asset
from tests.facades import transactions_engine

pytestmark = pytest.mark.facades


def _uploaded(lifecycle: Lifecycle, tenant: Tenant, name: str = "Male Teacher") -> str:
    asset = lifecycle.create_asset(tenant, new_asset(name))
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


def _varied_history(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform
) -> list[str]:
    """Assets that went through every kind of write: single moves, memory kept and used, a
    tenant-wide freeze and unfreeze, an approved application, and a sweep's bulk writes."""
    active = _uploaded(lifecycle, tenant, "active")
    lifecycle.activate(tenant, active)
    frozen_in_bin = _uploaded(lifecycle, tenant, "frozen in the bin")
    lifecycle.delete(tenant, frozen_in_bin)
    lifecycle.freeze(platform, frozen_in_bin, reason="copyright claim")
    application = lifecycle.apply_for_unfreeze(tenant, frozen_in_bin, reason="licence attached")
    lifecycle.approve_unfreeze(platform, application.application_id)
    purged = _uploaded(lifecycle, tenant, "purged by the sweep")
    lifecycle.delete(tenant, purged)
    timed_out = lifecycle.create_asset(tenant, new_asset("never uploaded")).asset_id
    other = Tenant("tenant-b")
    theirs = _uploaded(lifecycle, other, "tenant-wide")
    lifecycle.freeze_tenant(platform, other.project_id, reason="unpaid")
    lifecycle.unfreeze_tenant(platform, other.project_id, reason="paid")
    clock.advance(timedelta(days=8))
    report = lifecycle.sweep()
    assert report.moved == 2  # the timeout and the purge, written in bulk
    return [active, frozen_in_bin, purged, timed_out, theirs]


@pytest.fixture
def histories(lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform) -> list[str]:
    return _varied_history(lifecycle, clock, tenant, platform)


@contextlib.contextmanager
def tampering(database: Engine) -> Iterator[Any]:
    """A connection that can change audit rows, as someone with the database's keys could: on
    PostgreSQL it must first switch the append-only trigger off."""
    with database.begin() as connection:
        if database.dialect.name == "postgresql":
            connection.execute(
                text("ALTER TABLE lifecycle_audit DISABLE TRIGGER lifecycle_audit_append_only")
            )
        yield connection
        if database.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE lifecycle_audit ENABLE TRIGGER lifecycle_audit_append_only"))


def _problems(lifecycle: Lifecycle) -> set[tuple[str, ProblemKind, int | None]]:
    report = lifecycle.verify_audit(System())
    return {(problem.asset_id, problem.kind, problem.seq) for problem in report.problems}


def _legacy_chain(rows: list[dict[str, Any]]) -> list[str]:
    hashes, previous = [], GENESIS
    for row in rows:
        previous = chain_hash(previous, {name: row[name] for name in HASHED_COLUMNS})
        hashes.append(previous)
    return hashes


def _rows(database: Engine, asset_id: str) -> list[dict[str, Any]]:
    with database.connect() as connection:
        result = connection.execute(select(audit).where(audit.c.asset_id == asset_id).order_by(audit.c.seq))
        return [dict(row) for row in result.mappings()]


# What the engine writes ------------------------------------------------------------------------


def test_every_row_chains_to_the_one_before_and_the_asset_keeps_the_head(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    for asset_id in histories:
        rows = _rows(database, asset_id)
        assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
        previous = GENESIS
        for row in rows:
            assert row["chain_hash"] == chain_hash(previous, row)
            assert len(row["chain_hash"]) == 64
            previous = row["chain_hash"]
        with database.connect() as connection:
            head = connection.execute(
                select(assets.c.audit_head).where(assets.c.asset_id == asset_id)
            ).scalar()
        assert head == previous


def test_the_hash_covers_every_column_of_the_row(
    lifecycle: Lifecycle, database: Engine, tenant: Tenant
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    row = _rows(database, asset_id)[-1]
    original = chain_hash(GENESIS, row)
    for name in HASHED_COLUMNS:
        changed = {**row, name: "x" if row[name] != "x" else "y"}
        assert chain_hash(GENESIS, changed) != original, name
    assert chain_hash("0" * 64, row) != original


def test_a_clean_database_verifies_clean(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    with database.connect() as connection:
        total_rows = connection.execute(select(func.count()).select_from(audit)).scalar_one()
    report = lifecycle.verify_audit(System())
    assert report.clean, report.problems
    assert (report.assets, report.rows) == (len(histories), total_rows)
    assert report.to_json()["clean"] is True


def test_verify_reads_page_by_page_and_reports_progress(
    lifecycle: Lifecycle, histories: list[str], tenant: Tenant
) -> None:
    seen: list[tuple[int, int]] = []
    report = lifecycle.verify_audit(
        Platform("auditor"), page_size=2, progress=lambda *done: seen.append(done)
    )
    assert report.clean and report.assets == len(histories)
    assert seen == [(2, 5), (4, 5), (5, 5)]
    mine = lifecycle.verify_audit(System(), project_id=tenant.project_id)
    assert mine.clean and mine.assets == len(histories) - 1


def test_a_page_is_read_with_as_many_parameters_whatever_it_holds(
    lifecycle: Lifecycle, database: Engine, tenant: Tenant
) -> None:
    """A page names its assets by their span of ids, never one bound parameter per asset:
    PostgreSQL takes at most 65,535, and pages go up to 100,000 assets."""
    for number in range(40):
        _uploaded(lifecycle, tenant, f"asset {number}")
    parameters: list[int] = []

    def count(*args: Any) -> None:
        parameters.append(len(args[3]))  # (connection, cursor, statement, parameters, …)

    watched = transactions_engine(lifecycle)
    event.listen(watched, "before_cursor_execute", count)
    try:
        everything = lifecycle.verify_audit(System(), page_size=1000)
        mine = lifecycle.verify_audit(System(), page_size=1000, project_id=tenant.project_id)
    finally:
        event.remove(watched, "before_cursor_execute", count)
    assert everything.clean and mine.clean and everything.assets == mine.assets == 40
    assert everything.rows == mine.rows == 80
    assert 0 < max(parameters) <= 6, parameters


def test_verify_holds_one_page_at_a_time(
    lifecycle: Lifecycle, histories: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory is O(page): each page is let go before the next is read (bench/verify.py measures
    it over a million rows)."""

    class Page(list[Any]):
        """A page that a weak reference can watch."""

    repository = lifecycle.context.repository
    read = repository.histories
    pages: list[weakref.ref[Page]] = []
    held: list[int] = []

    def watched(connection: Any, **where: Any) -> Page:
        held.append(sum(page() is not None for page in pages))
        page = Page(read(connection, **where))
        pages.append(weakref.ref(page))
        return page

    monkeypatch.setattr(repository, "histories", watched)
    report = lifecycle.verify_audit(System(), page_size=2)
    assert report.clean and report.assets == len(histories)
    assert held == [0, 0, 0], "pages still held when the next was read"


def test_only_the_platform_and_the_system_verify(lifecycle: Lifecycle, tenant: Tenant) -> None:
    with pytest.raises(PermissionDenied):
        lifecycle.verify_audit(tenant)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="page_size"):
        lifecycle.verify_audit(System(), page_size=0)


# Tampering ------------------------------------------------------------------------------------


def test_an_edited_row_breaks_its_hash_and_only_that_asset_is_reported(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    _, frozen_in_bin, *_ = histories
    with tampering(database) as connection:
        connection.execute(
            update(audit)
            .where(audit.c.asset_id == frozen_in_bin, audit.c.seq == 4)
            .values(reason="nothing to see here", actor_id="someone-else")
        )
    assert _problems(lifecycle) == {(frozen_in_bin, ProblemKind.CHAIN_BROKEN, 4)}


def test_a_deleted_row_leaves_a_gap_and_breaks_the_next_hash(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    _, frozen_in_bin, *_ = histories
    with tampering(database) as connection:
        connection.execute(audit.delete().where(audit.c.asset_id == frozen_in_bin, audit.c.seq == 3))
    problems = _problems(lifecycle)
    assert (frozen_in_bin, ProblemKind.SEQUENCE_GAP, 4) in problems
    assert (frozen_in_bin, ProblemKind.CHAIN_BROKEN, 4) in problems
    assert {asset for asset, _, _ in problems} == {frozen_in_bin}


def test_a_deleted_latest_row_is_seen_against_the_asset(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    active, *_ = histories
    with tampering(database) as connection:
        connection.execute(audit.delete().where(audit.c.asset_id == active, audit.c.seq == 3))
    kinds = {kind for asset, kind, _ in _problems(lifecycle) if asset == active}
    assert kinds == {ProblemKind.STATE_MISMATCH, ProblemKind.HEAD_MISMATCH}


def test_a_state_edited_behind_the_engines_back_differs_from_its_history(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    active, frozen_in_bin, *_ = histories
    with database.begin() as connection:
        connection.execute(update(assets).where(assets.c.asset_id == active).values(asset_state="UNACTIVED"))
        connection.execute(
            update(assets).where(assets.c.asset_id == frozen_in_bin).values(pre_delete_state="UNACTIVED")
        )
    report = lifecycle.verify_audit(System())
    assert {(p.asset_id, p.kind) for p in report.problems} == {
        (active, ProblemKind.STATE_MISMATCH),
        (frozen_in_bin, ProblemKind.STATE_MISMATCH),
    }
    detail = next(p.detail for p in report.problems if p.asset_id == active)
    assert "stored UNACTIVED" in detail and "history ends ACTIVED" in detail


def test_a_rewritten_chain_still_fails_the_replay_through_the_table(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    """Someone who recomputes every hash can hide an edit from the chain, not from the table:
    an asset 'restored' out of the bin straight to ACTIVED, memory and all, is still illegal."""
    _, frozen_in_bin, *_ = histories
    rows = _rows(database, frozen_in_bin)
    assert [row["event"].value for row in rows][:4] == ["create", "accept_upload", "delete", "freeze"]
    rows[3] = {**rows[3], "event": "activate", "to_state": AssetState.ACTIVED, "pre_freeze_state": None}
    previous = GENESIS
    with tampering(database) as connection:
        for row in rows:
            previous = chain_hash(previous, row)
            connection.execute(
                update(audit)
                .where(audit.c.id == row["id"])
                .values(
                    event=row["event"], to_state=row["to_state"], pre_freeze_state=None, chain_hash=previous
                )
            )
        connection.execute(
            update(assets).where(assets.c.asset_id == frozen_in_bin).values(audit_head=previous)
        )
    problems = _problems(lifecycle)
    assert (frozen_in_bin, ProblemKind.ILLEGAL_MOVE, 4) in problems
    assert {kind for _, kind, _ in problems} <= {ProblemKind.ILLEGAL_MOVE}


@pytest.mark.postgresql
def test_postgresql_refuses_update_and_delete_on_the_audit_table(
    postgres_engine: Engine, clock: ManualClock, tenant: Tenant
) -> None:
    database = postgres_engine
    with database.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    lifecycle = Lifecycle(database, clock=clock)
    asset_id = _uploaded(lifecycle, tenant)
    for statement in (
        update(audit).where(audit.c.asset_id == asset_id).values(reason="rewritten"),
        audit.delete().where(audit.c.asset_id == asset_id),
    ):
        with (
            pytest.raises(exc.DBAPIError, match="lifecycle_audit is append-only") as refused,
            database.begin() as c,
        ):
            c.execute(statement)
        assert getattr(refused.value.orig, "sqlstate", None) == "42501"
    assert len(_rows(database, asset_id)) == 2
    assert lifecycle.verify_audit(System()).clean


# The migration that added the chain -------------------------------------------------------------


def test_the_migration_chains_existing_rows_exactly_as_the_engine_does(
    lifecycle: Lifecycle, database: Engine, histories: list[str]
) -> None:
    # Rows as the engine wrote them before revision 0005 recorded declarations and freeze scopes:
    # what migration 0003 finds on a database at 0002, and chains again.
    before = {asset_id: _legacy_chain(_rows(database, asset_id)) for asset_id in histories}
    schema.downgrade(database, "0002")
    with database.connect() as connection:
        columns = connection.execute(select(text("*")).select_from(text("lifecycle_audit")).limit(1)).keys()
    assert "chain_hash" not in columns
    schema.upgrade(database)
    after = {asset_id: [row["chain_hash"] for row in _rows(database, asset_id)] for asset_id in histories}
    assert after == before
    assert lifecycle.verify_audit(System()).clean


# The admin script -----------------------------------------------------------------------------


@pytest.fixture
def database_url(database: Engine, tmp_path: Path) -> str:
    if database.dialect.name == "postgresql":
        assert POSTGRES_URL is not None
        return POSTGRES_URL
    return database.url.render_as_string(hide_password=False)


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("_restore_logging")
def test_audit_verify_exits_0_when_clean_and_10_listing_each_problem(
    lifecycle: Lifecycle, database: Engine, histories: list[str], database_url: str
) -> None:
    runner = CliRunner()
    clean = runner.invoke(main, ["--db", database_url, "audit", "verify"], catch_exceptions=False)
    assert clean.exit_code == ExitCode.OK, clean.output
    assert "5 assets" in clean.stdout and "clean" in clean.stdout
    active = histories[0]
    with tampering(database) as connection:
        connection.execute(
            update(audit).where(audit.c.asset_id == active, audit.c.seq == 2).values(actor_id="x")
        )
    broken = runner.invoke(main, ["--db", database_url, "audit", "verify", "--json"], catch_exceptions=False)
    assert broken.exit_code == ExitCode.AUDIT_PROBLEMS == 10
    answer = json.loads(broken.stdout)
    assert answer["clean"] is False and answer["broken_assets"] == [active]
    assert answer["problems"] == [
        {
            "asset_id": active,
            "kind": "chain_broken",
            "seq": 2,
            "detail": "the row's hash does not match its content and the row before it",
        }
    ]
    table = runner.invoke(main, ["--db", database_url, "audit", "verify"], catch_exceptions=False)
    assert (
        table.exit_code == 10 and "chain_broken" in table.stdout and "1 assets with problems" in table.stdout
    )


# One hash, two spellings -----------------------------------------------------------------------

_TEXT = st.one_of(st.none(), st.text(max_size=40))


@given(
    previous=st.text(alphabet="0123456789abcdef", min_size=0, max_size=64),
    event=st.sampled_from(Event),
    from_state=st.one_of(st.none(), st.sampled_from(AssetState)),
    to_state=st.sampled_from(AssetState),
    pre_freeze=st.one_of(st.none(), st.sampled_from(AssetState)),
    pre_delete=st.one_of(st.none(), st.sampled_from(AssetState)),
    actor_kind=st.sampled_from(Role),
    reason=_TEXT,
    fail_type=st.one_of(st.none(), st.sampled_from(FailType)),
    request_id=_TEXT,
    block_scope=st.one_of(st.none(), st.sampled_from(BlockScope)),
    block_reason_code=_TEXT,
    declared=_TEXT,
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    version=st.integers(min_value=1, max_value=2**31),
)
def test_a_records_own_hash_is_the_chains_hash_of_its_audit_row(
    previous: str,
    event: Event,
    from_state: AssetState | None,
    to_state: AssetState,
    pre_freeze: AssetState | None,
    pre_delete: AssetState | None,
    actor_kind: Role,
    reason: str | None,
    fail_type: FailType | None,
    request_id: str | None,
    block_scope: BlockScope | None,
    block_reason_code: str | None,
    declared: str | None,
    occurred_at: datetime,
    version: int,
) -> None:
    """``TransitionRecord.chain_hash`` spells the chain's hash out for speed; ``chain_hash`` over
    the audit row is what verify recomputes: they must never differ."""
    record = TransitionRecord(
        asset_id="a-1",
        project_id="tenant-é",
        event=event,
        from_state=from_state,
        to_state=to_state,
        version=version,
        actor_kind=actor_kind,
        actor_id="actor-✓",
        occurred_at=occurred_at,
        reason=reason,
        fail_type=fail_type,
        request_id=request_id,
        pre_freeze_state=pre_freeze,
        pre_delete_state=pre_delete,
        block_scope=block_scope,
        block_reason_code=block_reason_code,
        declared=declared,
    )
    assert record.chain_hash(previous) == chain_hash(previous, record.audit_values())
