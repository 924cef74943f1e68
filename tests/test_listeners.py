"""After-commit listeners hear every kind of transition this process applies, once each, after the
commit; never a refusal, a rollback or a replayed request; a listener's failure is logged and
undoes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, BatchAction, Event, FailType, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter, TransitionNotAllowed
from lifecycle.records import TransitionRecord
from tests.conftest import new_asset

pytestmark = pytest.mark.facades

TENANT = Tenant("listened", app_user_id="u")
PLATFORM = Platform("listening-operator")


def test_every_kind_of_transition_reaches_a_listener_once_after_its_commit(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    heard: list[TransitionRecord] = []
    committed: list[bool] = []

    def listener(record: TransitionRecord) -> None:
        heard.append(record)
        # After the commit: another read sees the move already.
        committed.append(lifecycle.get_asset(PLATFORM, record.asset_id).version >= record.version)

    lifecycle.listen(listener)
    first = lifecycle.create_asset(TENANT, new_asset("first"))  # a creation
    lifecycle.confirm_upload(TENANT, first.asset_id, first.main_file.file_id, UploadResult.CREATED)  # upload
    lifecycle.activate(TENANT, first.asset_id)  # a single move
    second = lifecycle.create_asset(TENANT, new_asset("second", review_required=True))
    lifecycle.confirm_upload(TENANT, second.asset_id, second.main_file.file_id, UploadResult.CREATED)
    lifecycle.reject_review(PLATFORM, second.asset_id, FailType.MANUAL_REVIEW_REJECT)
    lifecycle.batch(TENANT, BatchAction.DELETE, [first.asset_id, second.asset_id])  # a batch
    lifecycle.freeze_tenant(PLATFORM, TENANT.project_id)  # tenant-wide
    lifecycle.unfreeze_tenant(PLATFORM, TENANT.project_id)
    third = lifecycle.create_asset(TENANT, new_asset("third"))
    lifecycle.confirm_upload(TENANT, third.asset_id, third.main_file.file_id, UploadResult.CREATED)
    lifecycle.freeze(PLATFORM, third.asset_id)
    applied = lifecycle.apply_for_unfreeze(TENANT, third.asset_id)
    lifecycle.approve_unfreeze(PLATFORM, applied.application_id)  # an approval
    lifecycle.delete(TENANT, first.asset_id)  # unfrozen out of the bin, back where it was: binned again
    clock.advance(lifecycle.settings.recycle_retention + timedelta(seconds=1))
    lifecycle.sweep(actor=System())  # the sweep purges it

    expected = [
        (entry.asset_id, entry.seq, entry.event)
        for asset in (first, second, third)
        for entry in lifecycle.history(PLATFORM, asset.asset_id)
    ]
    got = [(record.asset_id, record.version, record.event) for record in heard]
    assert sorted(got, key=str) == sorted(expected, key=str), "every transition, each once"
    assert len(got) == len(set(got))
    assert all(committed)
    kinds = {record.event for record in heard}
    assert {
        Event.CREATE,
        Event.ACCEPT_UPLOAD,
        Event.ACTIVATE,
        Event.DELETE,
        Event.FREEZE,
        Event.UNFREEZE,
    } <= kinds
    assert Event.PURGE in kinds, "the sweep's moves too"
    sweep = [record for record in heard if record.event is Event.PURGE]
    assert {record.actor_kind.value for record in sweep} == {"system"}


def test_refusals_rollbacks_and_replays_are_not_heard(lifecycle: Lifecycle) -> None:
    heard: list[TransitionRecord] = []
    lifecycle.listen(heard.append)
    asset = lifecycle.create_asset(TENANT, new_asset())
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    heard.clear()
    with pytest.raises(TransitionNotAllowed):
        lifecycle.restore(TENANT, asset.asset_id)
    first = lifecycle.activate(TENANT, asset.asset_id, request_id="r-1")
    again = lifecycle.activate(TENANT, asset.asset_id, request_id="r-1")
    assert again.replayed and not first.replayed
    assert [record.event for record in heard] == [Event.ACTIVATE]
    assert heard[0].result() == first


def test_filters_by_event_destination_and_tenant(lifecycle: Lifecycle) -> None:
    frozen: list[TransitionRecord] = []
    activated: list[TransitionRecord] = []
    others: list[TransitionRecord] = []
    lifecycle.listen(frozen.append, events=[Event.FREEZE])
    lifecycle.listen(activated.append, to_states={AssetState.ACTIVED})
    lifecycle.listen(others.append, project_id="someone-else")
    asset = lifecycle.create_asset(TENANT, new_asset())
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    lifecycle.activate(TENANT, asset.asset_id)
    lifecycle.freeze(PLATFORM, asset.asset_id)
    assert [record.event for record in frozen] == [Event.FREEZE]
    assert [record.event for record in activated] == [Event.ACTIVATE]
    assert others == []


def test_a_failing_listener_is_logged_and_neither_undoes_the_move_nor_silences_the_others(
    lifecycle: Lifecycle,
) -> None:
    def broken(record: TransitionRecord) -> None:
        raise RuntimeError(f"cannot handle {record.event.value}")

    after: list[TransitionRecord] = []
    lifecycle.listen(broken)
    lifecycle.listen(after.append)
    with capture_logs() as logs:
        asset = lifecycle.create_asset(TENANT, new_asset())
    assert lifecycle.get_asset(TENANT, asset.asset_id).version == 1
    assert [record.event for record in after] == [Event.CREATE]
    [failure] = [entry for entry in logs if entry["event"] == "listener_failed"]
    assert failure["log_level"] == "error" and "cannot handle create" in failure["error"]


def test_a_closed_subscription_hears_nothing_more(lifecycle: Lifecycle) -> None:
    heard: list[TransitionRecord] = []
    with lifecycle.listen(heard.append):
        lifecycle.create_asset(TENANT, new_asset("heard"))
    lifecycle.create_asset(TENANT, new_asset("not heard"))
    assert len(heard) == 1


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"listener": "not callable"}, "listener"),
        ({"listener": print, "events": ["freeze"]}, "events"),
        ({"listener": print, "events": []}, "events"),
        ({"listener": print, "to_states": "ACTIVED"}, "to_states"),
        ({"listener": print, "project_id": "bad id"}, "project_id"),
    ],
)
def test_a_listener_is_checked_when_registered(
    lifecycle: Lifecycle, arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidParameter, match=field):
        lifecycle.listen(**arguments)  # type: ignore[arg-type]
