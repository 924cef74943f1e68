"""Batch actions and tenant-wide freezes decide every asset in one transaction and write the moves in
bulk, yet each asset keeps its own answer, as if each were its own call: a refusal, a missing or
corrupt asset, a repeated id or a retried request is answered for that asset alone, and a bulk write
that fails as a whole falls back to one transaction per asset."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, update

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import AssetState, BatchAction, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import StoreUnavailable
from lifecycle.store.models import assets
from tests.conftest import new_asset
from tests.facades import transactions_engine

pytestmark = pytest.mark.facades

TENANT = Tenant("batched")
PLATFORM = Platform("batch-operator")


def _uploaded(lifecycle: Lifecycle, count: int) -> list[str]:
    ids = []
    for n in range(count):
        asset = lifecycle.create_asset(TENANT, new_asset(f"asset {n}"))
        lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        ids.append(asset.asset_id)
    return ids


class _Commits:
    """Counts the commits on a database while listening."""

    def __init__(self, database: Engine) -> None:
        self.database = database
        self.count = 0
        event.listen(database, "commit", self._seen)

    def _seen(self, _connection: Any) -> None:
        self.count += 1

    def stop(self) -> int:
        event.remove(self.database, "commit", self._seen)
        return self.count


def test_a_batch_is_one_transaction_and_answers_each_asset_as_its_own_call(
    lifecycle: Lifecycle, database: Engine
) -> None:
    active, inactive, deleted = _uploaded(lifecycle, 3)
    lifecycle.activate(TENANT, active)
    lifecycle.delete(TENANT, deleted)
    other = lifecycle.create_asset(Tenant("someone-else"), new_asset()).asset_id
    results = lifecycle.batch(
        TENANT, BatchAction.ACTIVE, [inactive, active, "no-such-asset", other, deleted, inactive]
    )
    assert [(r.asset_id, r.status) for r in results] == [
        (inactive, "SUCCESS"),
        (active, "FAILED"),  # ACTIVED already: refused by the table
        ("no-such-asset", "FAILED"),
        (other, "FAILED"),  # another tenant's: as missing
        (deleted, "FAILED"),
        (inactive, "FAILED"),  # repeated: the first made it ACTIVED, the second is refused
    ]
    assert [r.error_code for r in results[1:]] == [
        "MSS.00000003",
        *["MSS.00000002"] * 2,
        *["MSS.00000003"] * 2,
    ]
    assert lifecycle.get_asset(TENANT, inactive).asset_state is AssetState.ACTIVED
    assert lifecycle.verify_audit(PLATFORM).clean


def test_a_batch_commits_once_for_all_its_moves(lifecycle: Lifecycle, database: Engine) -> None:
    ids = _uploaded(lifecycle, 4)
    commits = _Commits(transactions_engine(lifecycle))
    results = lifecycle.batch(TENANT, BatchAction.ACTIVE, ids)
    assert commits.stop() == 1
    assert [r.status for r in results] == ["SUCCESS"] * 4


def test_a_retried_batch_answers_each_asset_with_its_first_outcome(lifecycle: Lifecycle) -> None:
    ids = _uploaded(lifecycle, 3)
    lifecycle.activate(TENANT, ids[2])
    first = lifecycle.batch(TENANT, BatchAction.DELETE, ids[:2], request_id="batch-1")
    again = lifecycle.batch(TENANT, BatchAction.DELETE, ids, request_id="batch-1")
    assert [r.transition.replayed for r in again[:2] if r.transition] == [True, True]
    assert [r.transition for r in again[:2]] != [
        r.transition for r in first
    ]  # replayed differs only in the flag
    assert [(r.transition.version, r.transition.to_state) for r in again[:2] if r.transition] == [
        (r.transition.version, r.transition.to_state) for r in first if r.transition
    ]
    assert again[2].status == "SUCCESS" and again[2].transition is not None
    assert not again[2].transition.replayed, "a new asset in the retry moves now"


def test_a_corrupt_asset_fails_alone(lifecycle: Lifecycle, database: Engine) -> None:
    good, bad = _uploaded(lifecycle, 2)
    with database.begin() as connection:
        connection.execute(update(assets).where(assets.c.asset_id == bad).values(pre_delete_state="ACTIVED"))
    results = lifecycle.batch(TENANT, BatchAction.DELETE, [bad, good])
    assert [(r.status, r.error_code) for r in results] == [
        ("FAILED", "LIFECYCLE.CORRUPT_RECORD"),
        ("SUCCESS", None),
    ]


def test_a_bulk_write_that_fails_as_a_whole_falls_back_to_one_transaction_per_asset(
    lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _uploaded(lifecycle, 3)
    repository = lifecycle.context.repository
    real = repository.write_moves
    calls: list[int] = []

    def failing_once(connection: Any, moves: Any) -> Any:
        calls.append(len(moves))
        if len(calls) == 1:
            raise StoreUnavailable("the bulk write failed (injected)")
        return real(connection, moves)

    monkeypatch.setattr(repository, "write_moves", failing_once)
    results = lifecycle.batch(TENANT, BatchAction.DELETE, ids)
    assert [r.status for r in results] == ["SUCCESS"] * 3
    assert calls == [3], "the fallback moves each asset with its own guarded write"
    assert all(lifecycle.get_asset(TENANT, i).asset_state is AssetState.DELETING for i in ids)


def test_a_tenant_wide_freeze_writes_every_asset_in_one_statement_and_skips_the_frozen(
    lifecycle: Lifecycle, database: Engine
) -> None:
    ids = _uploaded(lifecycle, 5)
    lifecycle.freeze(PLATFORM, ids[0])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    watched = transactions_engine(lifecycle)
    event.listen(watched, "before_cursor_execute", seen)
    result = lifecycle.freeze_tenant(PLATFORM, TENANT.project_id, reason="audit")
    event.remove(watched, "before_cursor_execute", seen)
    assert sorted(t.asset_id for t in result.moved) == sorted(ids[1:])
    assert result.skipped == ((ids[0], "already frozen"),)
    asset_updates = [
        s for s in statements if s.lstrip().upper().startswith(("UPDATE LIFECYCLE_ASSETS", "WITH"))
    ]
    assert len(asset_updates) == 1, statements
    assert lifecycle.verify_audit(PLATFORM).clean
