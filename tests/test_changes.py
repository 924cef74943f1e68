"""Changes that move no state, on both backends: an asset created without files, its files declared
afterwards (as the platform's create-file does), a file found by its id alone, files deleted, and
the name, description and tags updated. Each is audited in the asset's chain, ``verify_audit``
stays clean, and still reports what is edited behind the engine's back.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, func, select, update

from lifecycle.actors import Platform, System, Tenant
from lifecycle.billing import StoragePolicy
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    AssetState,
    AssetType,
    Event,
    FileCategory,
    FileState,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    AssetNotFound,
    FileNotFound,
    InvalidParameter,
    LifecycleError,
    PermissionDenied,
    StorageAllowanceExceeded,
    TransitionNotAllowed,
)
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.integrity import ProblemKind
from lifecycle.settings import Settings
from lifecycle.store.models import audit, files
from tests.conftest import MD5, new_asset
from tests.test_audit_chain import tampering
from tests.test_racing_requests import THREADS, _race

TENANT = Tenant("tenant-a", app_user_id="user-1")
OTHER = Tenant("tenant-b")
PLATFORM = Platform("operator-7")
MAIN = NewFile("male001.bin", 31032142, MD5)
COVER = NewFile("male001.png", 110321, MD5, FileCategory.COVER)


def _bare(lifecycle: Lifecycle, name: str = "bare", asset_type: AssetType = AssetType.HUMAN_MODEL) -> str:
    return lifecycle.create_asset(TENANT, NewAsset(name, asset_type)).asset_id


def _clean(lifecycle: Lifecycle) -> None:
    report = lifecycle.verify_audit(System())
    assert report.clean, report.problems


def _events(lifecycle: Lifecycle, asset_id: str) -> list[Event]:
    return [entry.event for entry in lifecycle.history(TENANT, asset_id)]


# Declaring files after the creation ---------------------------------------------------------------


def test_an_asset_created_without_files_takes_its_files_later_and_leaves_creating_on_its_main_upload(
    lifecycle: Lifecycle,
) -> None:
    asset_id = _bare(lifecycle)
    created = lifecycle.get_asset(TENANT, asset_id)
    assert created.files == () and created.asset_state is AssetState.CREATING
    with pytest.raises(LookupError):
        _ = created.main_file

    cover = lifecycle.declare_file(TENANT, asset_id, COVER)
    main = lifecycle.declare_file(TENANT, asset_id, MAIN)
    assert (cover.state, main.state) == (FileState.CREATING, FileState.CREATING)
    assert main.file_md5 == base64.b64encode(bytes.fromhex(MD5)).decode()  # as the platform documents it
    asset = lifecycle.get_asset(TENANT, asset_id)
    assert [f.file_id for f in asset.files] == [cover.file_id, main.file_id]
    assert asset.version == 3 and asset.main_file == main

    confirmed = lifecycle.confirm_upload(
        TENANT, asset_id, main.file_id, UploadResult.CREATED, file_size=31032142
    )
    assert confirmed.transition is not None
    assert confirmed.transition.to_state is AssetState.UNACTIVED
    lifecycle.confirm_upload(TENANT, asset_id, cover.file_id, UploadResult.CREATED)
    assert _events(lifecycle, asset_id) == [
        Event.CREATE,
        Event.DECLARE_FILE,
        Event.DECLARE_FILE,
        Event.ACCEPT_UPLOAD,
    ]
    entry = lifecycle.history(TENANT, asset_id)[1]
    assert (entry.from_state, entry.to_state, entry.seq) == (AssetState.CREATING, AssetState.CREATING, 2)
    _clean(lifecycle)


def test_a_later_main_file_that_does_not_match_its_declaration_fails_the_asset(lifecycle: Lifecycle) -> None:
    asset_id = _bare(lifecycle)
    main = lifecycle.declare_file(TENANT, asset_id, MAIN)
    confirmed = lifecycle.confirm_upload(TENANT, asset_id, main.file_id, UploadResult.CREATED, file_size=5)
    assert confirmed.transition is not None and confirmed.transition.to_state is AssetState.FAILED
    _clean(lifecycle)


@pytest.mark.parametrize(
    ("asset_type", "new", "field"),
    [
        (AssetType.VOICE_MODEL, NewFile("c.png", 1, MD5, FileCategory.COVER), "asset_file_category"),
        (
            AssetType.BUSINESS_CARD_TEMPLET,
            NewFile("o.bin", 1, MD5, FileCategory.OTHER),
            "asset_file_category",
        ),
        (AssetType.HUMAN_MODEL, NewFile("a.bin", 0, MD5), "file_size"),
        (AssetType.HUMAN_MODEL, NewFile("a.bin", 1, "xyz"), "file_md5"),
        (AssetType.HUMAN_MODEL, NewFile("a/b.bin", 1, MD5), "file_name"),
    ],
)
def test_a_file_the_asset_type_or_the_rules_do_not_allow_is_refused_and_nothing_is_written(
    lifecycle: Lifecycle, asset_type: AssetType, new: NewFile, field: str
) -> None:
    asset_id = _bare(lifecycle, asset_type=asset_type)
    with pytest.raises(InvalidParameter) as refusal:
        lifecycle.declare_file(TENANT, asset_id, new)
    assert refusal.value.code == "MSS.00000003" and field in refusal.value.message
    assert lifecycle.get_asset(TENANT, asset_id).version == 1


def test_one_main_file_and_distinct_names(lifecycle: Lifecycle) -> None:
    asset_id = _bare(lifecycle)
    lifecycle.declare_file(TENANT, asset_id, MAIN)
    with pytest.raises(InvalidParameter, match="MAIN file already"):
        lifecycle.declare_file(TENANT, asset_id, NewFile("other.bin", 1, MD5))
    with pytest.raises(InvalidParameter, match="case-insensitively"):
        lifecycle.declare_file(TENANT, asset_id, NewFile("MALE001.BIN", 1, MD5, FileCategory.OTHER))
    declared_at_creation = lifecycle.create_asset(TENANT, new_asset()).asset_id
    with pytest.raises(InvalidParameter, match="MAIN file already"):
        lifecycle.declare_file(TENANT, declared_at_creation, NewFile("other.bin", 1, MD5))


def test_files_are_declared_only_while_the_asset_is_creating_and_its_window_open(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    uploaded = lifecycle.create_asset(TENANT, new_asset()).asset_id
    lifecycle.confirm_upload(
        TENANT, uploaded, lifecycle.get_asset(TENANT, uploaded).main_file.file_id, UploadResult.CREATED
    )
    with pytest.raises(TransitionNotAllowed) as refusal:
        lifecycle.declare_file(TENANT, uploaded, NewFile("late.bin", 1, MD5, FileCategory.OTHER))
    assert refusal.value.event is Event.DECLARE_FILE and refusal.value.http_status == 409
    assert "in state UNACTIVED: only in CREATING" in refusal.value.message

    waiting = _bare(lifecycle, "waiting")
    clock.advance(timedelta(hours=24))
    with pytest.raises(TransitionNotAllowed, match="upload window has closed"):
        lifecycle.declare_file(TENANT, waiting, MAIN)
    # The time rule still holds for an asset created without files: it times out as any other.
    assert lifecycle.sweep().moved == 1
    assert lifecycle.get_asset(TENANT, waiting).asset_state is AssetState.FAILED
    _clean(lifecycle)


def test_who_may_declare(lifecycle: Lifecycle) -> None:
    asset_id = _bare(lifecycle)
    with pytest.raises(PermissionDenied):
        lifecycle.declare_file(PLATFORM, asset_id, MAIN)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        lifecycle.declare_file(
            TENANT, asset_id, NewFile("t.bin", 1, MD5, FileCategory.OTHER, timbre_model=True)
        )
    with pytest.raises(AssetNotFound) as theirs:
        lifecycle.declare_file(OTHER, asset_id, MAIN)
    with pytest.raises(AssetNotFound) as missing:
        lifecycle.declare_file(OTHER, "no-such-asset", MAIN)
    assert theirs.value.to_dict()["error_code"] == missing.value.to_dict()["error_code"] == "MSS.00000002"
    with pytest.raises(InvalidParameter):
        lifecycle.declare_file(TENANT, asset_id, "main.bin")  # type: ignore[arg-type]


def test_a_retried_declaration_answers_with_the_file_it_declared(
    lifecycle: Lifecycle, database: Engine
) -> None:
    asset_id = _bare(lifecycle)
    first = lifecycle.declare_file(TENANT, asset_id, MAIN, request_id="declare-1")
    again = lifecycle.declare_file(TENANT, asset_id, MAIN, request_id="declare-1")
    assert again == first
    other = lifecycle.declare_file(TENANT, asset_id, COVER, request_id="declare-2")
    assert other.file_id != first.file_id
    # The same request id on another asset is another request.
    elsewhere = _bare(lifecycle, "elsewhere")
    assert lifecycle.declare_file(TENANT, elsewhere, MAIN, request_id="declare-1").file_id != first.file_id
    assert lifecycle.get_asset(TENANT, asset_id).version == 3
    _clean(lifecycle)


def test_racing_retries_of_one_declaration_declare_one_file_and_all_get_it(
    lifecycle: Lifecycle, database: Engine
) -> None:
    """On PostgreSQL, the asset's row lock orders them: the first declares, the others find its audit
    row once they hold the lock. On SQLite, the single writer does."""
    for round_ in range(10):
        asset_id = _bare(lifecycle, f"raced {round_}")
        declare = functools.partial(
            lifecycle.declare_file, TENANT, asset_id, MAIN, request_id=f"race-{round_}"
        )
        answers = _race([declare] * THREADS)
        assert not [a for a in answers if isinstance(a, LifecycleError)], answers
        assert len({a.file_id for a in answers if not isinstance(a, LifecycleError)}) == 1
        with database.connect() as connection:
            assert (
                connection.execute(
                    select(func.count()).select_from(files).where(files.c.asset_id == asset_id)
                ).scalar_one()
                == 1
            )
    _clean(lifecycle)


def test_racing_declarations_of_different_files_all_succeed_in_one_chain(
    lifecycle: Lifecycle,
) -> None:
    asset_id = _bare(lifecycle)
    calls = [
        functools.partial(
            lifecycle.declare_file, TENANT, asset_id, NewFile(f"other-{n}.bin", 1, MD5, FileCategory.OTHER)
        )
        for n in range(THREADS)
    ]
    answers = _race(calls)
    assert not [a for a in answers if isinstance(a, LifecycleError)], answers
    assert lifecycle.get_asset(TENANT, asset_id).version == 1 + THREADS
    _clean(lifecycle)


def test_a_declaration_past_the_free_allowance_is_refused_where_uploads_are(
    database: Engine, clock: ManualClock
) -> None:
    storage = dataclasses.replace(StoragePolicy(), refuse_uploads_over_allowance=True, free_bytes=1000)
    lifecycle = Lifecycle(database, clock=clock, settings=Settings(storage=storage))
    asset_id = _bare(lifecycle)
    lifecycle.declare_file(TENANT, asset_id, NewFile("small.bin", 600, MD5))
    with pytest.raises(StorageAllowanceExceeded):
        lifecycle.declare_file(TENANT, asset_id, NewFile("big.png", 600, MD5, FileCategory.COVER))
    assert len(lifecycle.get_asset(TENANT, asset_id).files) == 1


# Finding a file by its id -------------------------------------------------------------------------


def test_a_file_is_found_by_its_id_alone_and_another_tenants_answers_as_missing(lifecycle: Lifecycle) -> None:
    asset = lifecycle.create_asset(TENANT, new_asset())
    cover = asset.files[1]
    assert lifecycle.file_owner(TENANT, cover.file_id).asset_id == asset.asset_id
    assert lifecycle.file_owner(PLATFORM, cover.file_id).asset_id == asset.asset_id
    with pytest.raises(FileNotFound) as theirs:
        lifecycle.file_owner(OTHER, cover.file_id)
    with pytest.raises(FileNotFound) as missing:
        lifecycle.file_owner(OTHER, "no-such-file")
    assert theirs.value.message.replace(cover.file_id, "<id>") == missing.value.message.replace(
        "no-such-file", "<id>"
    )
    assert theirs.value.http_status == 404 and theirs.value.code == "MSS.00000002"
    with pytest.raises(InvalidParameter):
        lifecycle.file_owner(TENANT, "")


# Deleting files ------------------------------------------------------------------------------------


def test_a_file_never_uploaded_is_removed_and_a_stored_one_kept_as_deleted(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    asset = lifecycle.create_asset(TENANT, new_asset())
    main, cover = asset.files
    lifecycle.confirm_upload(TENANT, asset.asset_id, main.file_id, UploadResult.CREATED)
    # The cover, not uploaded: removed.
    removed = lifecycle.delete_file(TENANT, cover.file_id, request_id="del-cover")
    assert removed.state is FileState.DELETED and removed.file_id == cover.file_id
    assert [f.file_id for f in lifecycle.get_asset(TENANT, asset.asset_id).files] == [main.file_id]
    assert lifecycle.delete_file(TENANT, cover.file_id, request_id="del-cover") == removed
    with pytest.raises(FileNotFound):
        lifecycle.delete_file(TENANT, cover.file_id)

    stored = lifecycle.create_asset(TENANT, new_asset("stored"))
    s_main, s_cover = stored.files
    lifecycle.confirm_upload(TENANT, stored.asset_id, s_main.file_id, UploadResult.CREATED)
    lifecycle.confirm_upload(TENANT, stored.asset_id, s_cover.file_id, UploadResult.CREATED)
    assert [f.counted for f in lifecycle.asset_storage(TENANT, stored.asset_id).files] == [True, True]
    clock.advance(timedelta(minutes=5))
    kept = lifecycle.delete_file(TENANT, s_cover.file_id)
    assert kept.state is FileState.DELETED and kept.stored_at is not None
    after = lifecycle.get_asset(TENANT, stored.asset_id)
    assert [f.state for f in after.files] == [FileState.CREATED, FileState.DELETED]
    # No longer counted from the deletion on; a report of before it is as it was.
    assert [f.counted for f in lifecycle.asset_storage(TENANT, stored.asset_id).files] == [True, False]
    earlier = lifecycle.asset_storage(TENANT, stored.asset_id, as_of=clock.now() - timedelta(minutes=1))
    assert [f.counted for f in earlier.files] == [True, True]
    report = lifecycle.storage_report(TENANT)
    assert report.tenants[0].total.files == 2  # each asset's MAIN file
    with pytest.raises(TransitionNotAllowed, match="deleted already"):
        lifecycle.delete_file(TENANT, s_cover.file_id)
    assert _events(lifecycle, stored.asset_id)[-1] is Event.DELETE_FILE
    _clean(lifecycle)


def test_the_main_file_is_deleted_only_before_its_upload_and_can_then_be_declared_again(
    lifecycle: Lifecycle,
) -> None:
    asset_id = _bare(lifecycle)
    main = lifecycle.declare_file(TENANT, asset_id, MAIN)
    lifecycle.confirm_upload(TENANT, asset_id, main.file_id, UploadResult.CANCELLED)
    lifecycle.delete_file(TENANT, main.file_id)
    again = lifecycle.declare_file(TENANT, asset_id, NewFile("male002.bin", 31032142, MD5))
    lifecycle.confirm_upload(TENANT, asset_id, again.file_id, UploadResult.CREATED)
    with pytest.raises(TransitionNotAllowed, match="before its upload") as refusal:
        lifecycle.delete_file(TENANT, again.file_id)
    assert refusal.value.event is Event.DELETE_FILE
    _clean(lifecycle)


def test_racing_retries_of_one_deletion_all_answer_with_the_deleted_file(lifecycle: Lifecycle) -> None:
    for round_ in range(5):
        asset = lifecycle.create_asset(TENANT, new_asset(f"raced {round_}"))
        cover = asset.files[1]
        remove = functools.partial(lifecycle.delete_file, TENANT, cover.file_id, request_id=f"del-{round_}")
        answers = _race([remove] * THREADS)
        assert not [a for a in answers if isinstance(a, LifecycleError)], answers
        assert {a.file_id for a in answers if not isinstance(a, LifecycleError)} == {cover.file_id}
        assert _events(lifecycle, asset.asset_id).count(Event.DELETE_FILE) == 1
    _clean(lifecycle)


@pytest.mark.parametrize("where", ["frozen", "in the bin", "deleted"])
def test_no_file_of_a_frozen_or_deleted_asset_is_deleted(lifecycle: Lifecycle, where: str) -> None:
    asset = lifecycle.create_asset(TENANT, new_asset())
    if where == "frozen":
        lifecycle.freeze(PLATFORM, asset.asset_id)
    else:
        lifecycle.delete(TENANT, asset.asset_id, force=where == "deleted")
    with pytest.raises(TransitionNotAllowed):
        lifecycle.delete_file(TENANT, asset.files[1].file_id)
    with pytest.raises(FileNotFound):
        lifecycle.delete_file(OTHER, asset.files[1].file_id)
    with pytest.raises(PermissionDenied):
        lifecycle.delete_file(PLATFORM, asset.files[1].file_id)  # type: ignore[arg-type]


# Updating the metadata -----------------------------------------------------------------------------


def test_an_update_changes_name_description_and_tags_in_one_audited_step(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    asset = lifecycle.create_asset(TENANT, new_asset())
    clock.advance(timedelta(minutes=1))
    updated = lifecycle.update_asset(
        TENANT, asset.asset_id, name="Renamed", tags=["NEWS", "MALE"], request_id="u1"
    )
    assert (updated.asset_name, updated.tags, updated.asset_description) == ("Renamed", ("NEWS", "MALE"), "")
    assert updated.version == 2 and updated.update_time == clock.now()
    assert updated.asset_state is AssetState.CREATING
    again = lifecycle.update_asset(
        TENANT, asset.asset_id, name="Renamed", tags=["NEWS", "MALE"], request_id="u1"
    )
    assert again == updated
    described = lifecycle.update_asset(TENANT, asset.asset_id, description="a teacher")
    assert (described.asset_name, described.asset_description, described.version) == (
        "Renamed",
        "a teacher",
        3,
    )
    assert _events(lifecycle, asset.asset_id) == [Event.CREATE, Event.UPDATE_METADATA, Event.UPDATE_METADATA]
    _clean(lifecycle)


def test_an_update_is_checked_and_refused_where_the_asset_may_not_change(lifecycle: Lifecycle) -> None:
    asset_id = lifecycle.create_asset(TENANT, new_asset()).asset_id
    for options, field in (
        ({}, "asset"),
        ({"name": ""}, "asset_name"),
        ({"name": "x" * 129}, "asset_name"),
        ({"description": "d" * 1025}, "asset_description"),
        ({"tags": ["t"] * 21}, "tags"),
        ({"tags": "NEWS"}, "tags"),
    ):
        with pytest.raises(InvalidParameter, match=field):
            lifecycle.update_asset(TENANT, asset_id, **options)  # type: ignore[arg-type]
    lifecycle.freeze(PLATFORM, asset_id)
    with pytest.raises(TransitionNotAllowed) as refusal:
        lifecycle.update_asset(TENANT, asset_id, name="hidden")
    assert refusal.value.event is Event.UPDATE_METADATA and refusal.value.state is AssetState.BLOCK
    lifecycle.unfreeze(PLATFORM, asset_id)
    lifecycle.delete(TENANT, asset_id)
    with pytest.raises(TransitionNotAllowed):
        lifecycle.update_asset(TENANT, asset_id, name="binned")
    with pytest.raises(AssetNotFound):
        lifecycle.update_asset(OTHER, asset_id, name="theirs")
    with pytest.raises(PermissionDenied):
        lifecycle.update_asset(PLATFORM, asset_id, name="platform's")  # type: ignore[arg-type]
    assert lifecycle.get_asset(TENANT, asset_id).asset_name == "Male Teacher"


def test_an_update_with_a_state_moves_and_changes_in_one_transaction_or_not_at_all(
    lifecycle: Lifecycle,
) -> None:
    creating = lifecycle.create_asset(TENANT, new_asset()).asset_id
    with pytest.raises(TransitionNotAllowed) as refusal:
        lifecycle.update_asset(TENANT, creating, name="New", state=AssetState.ACTIVED)
    assert refusal.value.event is Event.ACTIVATE and refusal.value.state is AssetState.CREATING
    with pytest.raises(InvalidParameter, match="state"):
        lifecycle.update_asset(TENANT, creating, name="New", state=AssetState.BLOCK)
    assert lifecycle.get_asset(TENANT, creating).asset_name == "Male Teacher"
    assert _events(lifecycle, creating) == [Event.CREATE]

    asset = lifecycle.create_asset(TENANT, new_asset())
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.files[0].file_id, UploadResult.CREATED)
    both = lifecycle.update_asset(
        TENANT, asset.asset_id, name="Both", state=AssetState.ACTIVED, request_id="b"
    )
    assert (both.asset_name, both.asset_state) == ("Both", AssetState.ACTIVED)
    again = lifecycle.update_asset(
        TENANT, asset.asset_id, name="Both", state=AssetState.ACTIVED, request_id="b"
    )
    assert again == both
    there = lifecycle.update_asset(TENANT, asset.asset_id, tags=["NEWS"], state=AssetState.ACTIVED)
    assert (there.tags, there.asset_state) == (("NEWS",), AssetState.ACTIVED)
    assert _events(lifecycle, asset.asset_id)[-3:] == [
        Event.ACTIVATE,
        Event.UPDATE_METADATA,
        Event.UPDATE_METADATA,
    ]
    _clean(lifecycle)


def test_fire_refuses_the_changes_that_are_not_moves(lifecycle: Lifecycle) -> None:
    asset_id = lifecycle.create_asset(TENANT, new_asset()).asset_id
    for event in (Event.DECLARE_FILE, Event.DELETE_FILE, Event.UPDATE_METADATA):
        with pytest.raises(InvalidParameter, match="transition table decides"):
            lifecycle.fire(TENANT, asset_id, event)


# The audit trail and verify --------------------------------------------------------------------------


def test_listeners_hear_each_change_with_what_it_declared(lifecycle: Lifecycle) -> None:
    heard = []
    with lifecycle.listen(
        heard.append, events=[Event.DECLARE_FILE, Event.DELETE_FILE, Event.UPDATE_METADATA]
    ):
        asset_id = _bare(lifecycle)
        cover = lifecycle.declare_file(TENANT, asset_id, COVER)
        lifecycle.update_asset(TENANT, asset_id, name="heard")
        lifecycle.delete_file(TENANT, cover.file_id)
    assert [record.event for record in heard] == [
        Event.DECLARE_FILE,
        Event.UPDATE_METADATA,
        Event.DELETE_FILE,
    ]
    assert json.loads(heard[0].declared)["file_id"] == cover.file_id
    assert json.loads(heard[2].declared)["file_id"] == cover.file_id


def _subject(lifecycle: Lifecycle) -> tuple[str, str, str]:
    """An asset with a MAIN and a cover declared after its creation, uploaded, and a stored OTHER
    file declared later still, then deleted."""
    asset_id = _bare(lifecycle)
    cover = lifecycle.declare_file(TENANT, asset_id, COVER)
    other = lifecycle.declare_file(TENANT, asset_id, NewFile("mask.bin", 10, MD5, FileCategory.OTHER))
    main = lifecycle.declare_file(TENANT, asset_id, MAIN)
    lifecycle.confirm_upload(TENANT, asset_id, other.file_id, UploadResult.CREATED)
    lifecycle.confirm_upload(TENANT, asset_id, main.file_id, UploadResult.CREATED)
    lifecycle.delete_file(TENANT, other.file_id)
    lifecycle.update_asset(TENANT, asset_id, tags=["NEWS"])
    return asset_id, cover.file_id, other.file_id


@pytest.mark.parametrize(
    ("column", "value"),
    [("file_size", 1), ("file_name", "renamed.png"), ("file_md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
)
def test_a_later_declared_files_column_edited_behind_the_engines_back_is_reported(
    lifecycle: Lifecycle, database: Engine, column: str, value: object
) -> None:
    asset_id, cover_id, _ = _subject(lifecycle)
    _clean(lifecycle)
    with database.begin() as connection:
        connection.execute(update(files).where(files.c.file_id == cover_id).values({column: value}))
    report = lifecycle.verify_audit(System())
    assert report.broken_assets == [asset_id]
    assert [p.kind for p in report.problems] == [ProblemKind.COLUMN_MISMATCH]
    assert column in report.problems[0].detail


def test_a_deleted_file_brought_back_or_a_declared_file_removed_is_reported(
    lifecycle: Lifecycle, database: Engine
) -> None:
    asset_id, cover_id, other_id = _subject(lifecycle)
    with database.begin() as connection:
        connection.execute(
            update(files).where(files.c.file_id == other_id).values(state=FileState.CREATED, deleted_at=None)
        )
    report = lifecycle.verify_audit(System())
    assert report.broken_assets == [asset_id] and "state" in report.problems[0].detail
    with database.begin() as connection:
        connection.execute(delete(files).where(files.c.file_id == cover_id))
    assert any("missing" in p.detail for p in lifecycle.verify_audit(System()).problems)


def test_a_change_row_that_claims_a_move_breaks_the_replay(lifecycle: Lifecycle, database: Engine) -> None:
    """A declaration row rewritten (on PostgreSQL with the append-only trigger switched off, as
    someone with the database's keys could) to claim a state change: its hash breaks, and the move
    it claims is illegal."""
    asset_id, _, _ = _subject(lifecycle)
    with tampering(database) as connection:
        connection.execute(
            update(audit)
            .where(audit.c.asset_id == asset_id, audit.c.seq == 2)
            .values(to_state=AssetState.ACTIVED)
        )
    kinds = {p.kind for p in lifecycle.verify_audit(System()).problems}
    assert {ProblemKind.CHAIN_BROKEN, ProblemKind.ILLEGAL_MOVE} <= kinds


def test_the_change_feed_carries_the_changes(lifecycle: Lifecycle) -> None:
    asset_id, _, _ = _subject(lifecycle)
    lifecycle.feed.settle(PLATFORM)
    read = lifecycle.feed.read(PLATFORM, limit=100)
    events = [e.record.event for e in read if e.record.asset_id == asset_id]
    assert events.count(Event.DECLARE_FILE) == 3
    assert Event.DELETE_FILE in events and Event.UPDATE_METADATA in events
