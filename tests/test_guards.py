"""The guarded write, and the edges of the API: what reaches the database and what cannot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from lifecycle.actors import Platform, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, BatchAction, Event, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import Conflict, InvalidParameter
from lifecycle.moves import MoveRequest, plan_move
from lifecycle.settings import Settings
from lifecycle.store.repository import audit
from tests.conftest import new_asset

pytestmark = pytest.mark.facades


def _audit_rows(lifecycle: Lifecycle) -> int:
    with lifecycle.database.connect() as connection:
        return connection.execute(select(func.count()).select_from(audit)).scalar_one()


def _uploaded(lifecycle: Lifecycle, tenant: Tenant) -> str:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


def test_the_guarded_write_refuses_a_move_planned_from_a_stale_read(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    repository = lifecycle.context.repository
    with lifecycle.database.connect() as connection:
        stale = repository.read_row(connection, asset_id)
    assert stale is not None
    lifecycle.activate(tenant, asset_id)  # the asset moves on after the read
    move = plan_move(
        stale,
        Event.ACTIVATE,
        tenant,
        MoveRequest(),
        lifecycle.clock.now(),
        upload_window=timedelta(1),
        definition=lifecycle.definition,
    )
    before = _audit_rows(lifecycle)
    with lifecycle.database.begin() as connection:
        written = repository.write_move(connection, move)
    assert written is False
    assert _audit_rows(lifecycle) == before
    assert lifecycle.get_asset(tenant, asset_id).version == 3


def test_a_change_between_read_and_write_is_a_conflict_and_writes_nothing(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    repository = lifecycle.context.repository
    with lifecycle.database.connect() as connection:
        stale = repository.read_row(connection, asset_id)
    lifecycle.freeze(platform, asset_id)
    monkeypatch.setattr(repository, "read_row", lambda _connection, _asset_id, _project=None, **_lock: stale)
    before = _audit_rows(lifecycle)
    with pytest.raises(Conflict, match="nothing was written"):
        lifecycle.activate(tenant, asset_id)
    monkeypatch.undo()
    assert _audit_rows(lifecycle) == before
    assert lifecycle.get_asset(tenant, asset_id).asset_state is AssetState.BLOCK


BAD_CALLS: list[tuple[str, Any]] = [
    ("an actor that is a string", lambda lc, i: lc.fire("tenant-a", i, Event.ACTIVATE)),
    ("a tenant with a bad project id", lambda lc, i: lc.fire(Tenant("bad id"), i, Event.ACTIVATE)),
    ("a tenant user id in Chinese", lambda lc, _i: lc.create_asset(Tenant("t", "用户"), new_asset())),
    ("an operator name too long", lambda lc, i: lc.fire(Platform("o" * 129), i, Event.FREEZE)),
    ("batch ids that are not a list", lambda lc, _i: lc.batch(Tenant("t"), BatchAction.ACTIVE, None)),
    ("batch ids that are not strings", lambda lc, _i: lc.batch(Tenant("t"), BatchAction.ACTIVE, [1])),
    ("states that are not a list", lambda lc, _i: lc.list_assets(Tenant("t"), states=AssetState.ACTIVED)),
    (
        "application states as strings",
        lambda lc, _i: lc.list_unfreeze_applications(Tenant("t"), states=["BOGUS"]),
    ),
    ("an offset beyond any page", lambda lc, _i: lc.list_assets(Tenant("t"), offset=2**70)),
    ("an event that is a string", lambda lc, i: lc.fire(Tenant("t"), i, "activate")),
    ("a reason too long", lambda lc, i: lc.fire(Tenant("t"), i, Event.ACTIVATE, reason="r" * 1025)),
    (
        "a version that is not a number",
        lambda lc, i: lc.fire(Tenant("t"), i, Event.ACTIVATE, expected_version="2"),
    ),
]


@pytest.mark.parametrize(("name", "call"), BAD_CALLS, ids=[name for name, _ in BAD_CALLS])
def test_bad_input_is_a_typed_error_and_writes_nothing(lifecycle: Lifecycle, name: str, call: Any) -> None:
    asset_id = _uploaded(lifecycle, Tenant("t"))
    before = _audit_rows(lifecycle)
    with pytest.raises(InvalidParameter):
        call(lifecycle, asset_id)
    assert _audit_rows(lifecycle) == before


def test_a_naive_clock_is_refused_before_anything_is_written(lifecycle: Lifecycle, tenant: Tenant) -> None:
    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 1, 1)  # noqa: DTZ001 - the mistake under test

    naive = Lifecycle(lifecycle.database, clock=NaiveClock())
    with pytest.raises(InvalidParameter, match="timezone-aware"):
        naive.create_asset(tenant, new_asset())
    assert _audit_rows(lifecycle) == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"upload_window": 5},
        {"upload_window": timedelta(0)},
        {"recycle_retention": timedelta(days=-1)},
        {"activate_on_upload": "yes"},
    ],
)
def test_settings_are_checked_when_made(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        Settings(**settings)


def test_a_mismatch_reason_stays_short_whatever_the_uploaded_name(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    odd_name = "\u200b" * 256
    confirmed = lifecycle.confirm_upload(
        tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED, file_name=odd_name, file_size=1
    )
    assert confirmed.transition is not None and confirmed.transition.to_state is AssetState.FAILED
    reason = lifecycle.get_asset(tenant, asset.asset_id).reason
    assert reason == "MAIN file does not match its declaration: file_size, file_name differ"


def test_manual_clock_refuses_naive_moments() -> None:
    with pytest.raises(InvalidParameter):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001
    assert ManualClock(datetime(2026, 1, 1, tzinfo=UTC)).now().tzinfo is UTC
