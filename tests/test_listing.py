"""Listing a tenant's assets with the platform's filters (type, part of the name, part of a tag, a
creation window, third-party user, ids), and asset summaries, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from lifecycle.actors import Platform, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, AssetType, FileCategory, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter, PermissionDenied
from lifecycle.inputs import NewAsset, NewFile
from tests.conftest import MD5, START

TENANT = Tenant("tenant-a", app_user_id="user-1")
OTHER = Tenant("tenant-b", app_user_id="user-1")
PLATFORM = Platform("operator-7")


@pytest.fixture
def listed(lifecycle: Lifecycle, clock: ManualClock) -> dict[str, str]:
    """Five assets of the tenant, an hour apart, and one of another tenant that matches everything."""
    made: dict[str, str] = {}
    for key, name, asset_type, tags, user in (
        ("teacher", "Male Teacher", AssetType.HUMAN_MODEL, ["EDUCATION", "MALE"], "user-1"),
        ("anchor", "News anchor_01", AssetType.HUMAN_MODEL_2D, ["NEWS", "FEMALE"], "user-2"),
        ("intro", "intro video", AssetType.VIDEO, ["E-COMMERCE"], "user-1"),
        ("percent", "100% real", AssetType.IMAGE, ["50%_OFF"], None),
        ("slides", "Teacher's slides", AssetType.PPT, [], "user-2"),
    ):
        actor = Tenant(TENANT.project_id, app_user_id=user) if user else Tenant(TENANT.project_id)
        made[key] = lifecycle.create_asset(actor, NewAsset(name, asset_type, tags=tags)).asset_id
        clock.advance(timedelta(hours=1))
    lifecycle.create_asset(OTHER, NewAsset("Male Teacher", AssetType.HUMAN_MODEL, tags=["EDUCATION"]))
    return made


def _ids(lifecycle: Lifecycle, listed: dict[str, str], **options: Any) -> list[str]:
    page = lifecycle.list_assets(TENANT, **options)
    names = {asset_id: key for key, asset_id in listed.items()}
    found = [names[asset.asset_id] for asset in page.items]
    if options.get("limit") is None and options.get("offset") is None:
        assert page.total == len(found)
    return found


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["slides", "percent", "intro", "anchor", "teacher"]),
        (
            {"name": None, "tag": None, "created_from": None, "created_to": None, "app_user_id": None},
            ["slides", "percent", "intro", "anchor", "teacher"],
        ),
        ({"descending": False}, ["teacher", "anchor", "intro", "percent", "slides"]),
        ({"asset_types": [AssetType.HUMAN_MODEL, AssetType.PPT]}, ["slides", "teacher"]),
        ({"name": "teacher"}, ["slides", "teacher"]),
        ({"name": "TEACHER"}, ["slides", "teacher"]),
        ({"name": "_"}, ["anchor"]),  # a LIKE wildcard is matched as itself
        ({"name": "%"}, ["percent"]),
        ({"name": "nobody"}, []),
        ({"tag": "news"}, ["anchor"]),
        ({"tag": "MALE"}, ["anchor", "teacher"]),  # part of one tag: FEMALE contains it
        ({"tag": "%_"}, ["percent"]),
        ({"tag": 'NEWS","FEMALE'}, []),  # one tag, never the JSON text across two
        ({"app_user_id": "user-2"}, ["slides", "anchor"]),
        ({"created_from": START + timedelta(hours=1)}, ["slides", "percent", "intro", "anchor"]),
        ({"created_to": START + timedelta(hours=1)}, ["anchor", "teacher"]),
        (
            {"created_from": START + timedelta(hours=1), "created_to": START + timedelta(hours=2)},
            ["intro", "anchor"],
        ),
        ({"name": "e", "app_user_id": "user-1", "asset_types": [AssetType.VIDEO]}, ["intro"]),
        ({"limit": 2, "offset": 1}, ["percent", "intro"]),
    ],
)
def test_each_filter_and_their_combination(
    lifecycle: Lifecycle, listed: dict[str, str], options: dict[str, Any], expected: list[str]
) -> None:
    assert _ids(lifecycle, listed, **options) == expected


def test_the_total_counts_every_match_beyond_the_page(lifecycle: Lifecycle, listed: dict[str, str]) -> None:
    page = lifecycle.list_assets(TENANT, name="e", limit=2)
    assert len(page.items) == 2 and page.total == 5  # every name has an e


def test_by_ids_states_and_update_time(
    lifecycle: Lifecycle, listed: dict[str, str], clock: ManualClock
) -> None:
    wanted = [listed["teacher"], listed["intro"], "no-such-asset"]
    assert _ids(lifecycle, listed, asset_ids=wanted) == ["intro", "teacher"]
    clock.advance(timedelta(minutes=5))
    lifecycle.update_asset(TENANT, listed["teacher"], description="updated last")
    assert _ids(lifecycle, listed, order_by="update_time", limit=1) == ["teacher"]
    assert _ids(lifecycle, listed, states=[AssetState.CREATING], asset_types=[AssetType.VIDEO]) == ["intro"]
    assert _ids(lifecycle, listed, states=[AssetState.ACTIVED]) == []


def test_by_asset_order_equals_newest_first_and_unordered_last(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    made: dict[str, str] = {}
    for key, order in (("two", 2), ("one", 1), ("none", None), ("one-later", 1)):
        made[key] = lifecycle.create_asset(TENANT, NewAsset(key, AssetType.IMAGE, asset_order=order)).asset_id
        clock.advance(timedelta(hours=1))
    for descending, expected in (
        (False, ["one-later", "one", "two", "none"]),
        (True, ["two", "one-later", "one", "none"]),
    ):
        page = lifecycle.list_assets(TENANT, order_by="asset_order", descending=descending)
        names = {asset_id: key for key, asset_id in made.items()}
        assert [names[asset.asset_id] for asset in page.items] == expected, descending


def test_the_platform_lists_a_named_tenant_with_filters(lifecycle: Lifecycle, listed: dict[str, str]) -> None:
    page = lifecycle.list_assets(PLATFORM, project_id=OTHER.project_id, name="teacher", tag="educ")
    assert page.total == 1 and page.items[0].project_id == OTHER.project_id


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"asset_types": ["VIDEO"]}, "asset_types"),
        ({"asset_types": AssetType.VIDEO}, "asset_types"),
        ({"name": ""}, "name"),
        ({"name": "n" * 129}, "name"),
        ({"tag": 3}, "tag"),
        ({"name": "a\x00"}, "name"),
        ({"created_from": START.replace(tzinfo=None)}, "created_from"),
        ({"created_to": "2026-01-01T00:00:00Z"}, "created_to"),
        ({"created_from": START + timedelta(hours=1), "created_to": START}, "created_to"),
        ({"app_user_id": "用户"}, "app_user_id"),
        ({"asset_ids": ["ok", "not ok"]}, "asset_ids[1]"),
        ({"asset_ids": ["a"] * 1001}, "asset_ids"),
        ({"sort_key": "create_time"}, "sort_key"),
    ],
)
def test_bad_filters_are_refused(lifecycle: Lifecycle, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameter) as refusal:
        lifecycle.list_assets(TENANT, **options)
    assert refusal.value.message.startswith(f"invalid parameter '{field}'") or field in refusal.value.message


def test_the_listing_by_type_and_user_uses_their_indexes(
    lifecycle: Lifecycle, database: Engine, listed: dict[str, str]
) -> None:
    """The query plan of each filtered listing reads an index of the tenant, never the whole table."""
    statements = {
        "ix_lifecycle_assets_project_id_asset_type_create_time": (
            "SELECT asset_id FROM lifecycle_assets WHERE project_id = 'tenant-a' AND asset_type = 'VIDEO'"
            " ORDER BY create_time DESC"
        ),
        "ix_lifecycle_assets_project_id_app_user_id_create_time": (
            "SELECT asset_id FROM lifecycle_assets WHERE project_id = 'tenant-a' AND app_user_id = 'user-1'"
            " ORDER BY create_time DESC"
        ),
    }
    with database.connect() as connection:
        for index, statement in statements.items():
            if database.dialect.name == "sqlite":
                plan = " ".join(
                    str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {statement}"))
                )
            else:
                connection.execute(text("SET LOCAL enable_seqscan = off"))
                plan = " ".join(str(row[0]) for row in connection.execute(text(f"EXPLAIN {statement}")))
            assert index in plan, plan


# Summaries ---------------------------------------------------------------------------------------------


def test_summaries_in_the_order_asked_with_the_cover_and_without_anothers(lifecycle: Lifecycle) -> None:
    with_cover = lifecycle.create_asset(
        TENANT,
        NewAsset(
            "covered",
            AssetType.VIDEO,
            files=[NewFile("v.mp4", 10, MD5), NewFile("c.png", 5, MD5, FileCategory.COVER)],
        ),
    )
    lifecycle.confirm_upload(TENANT, with_cover.asset_id, with_cover.main_file.file_id, UploadResult.CREATED)
    bare = lifecycle.create_asset(TENANT, NewAsset("bare", AssetType.IMAGE))
    lifecycle.freeze(PLATFORM, bare.asset_id, block_reason_code="C-1")
    theirs = lifecycle.create_asset(OTHER, NewAsset("theirs", AssetType.IMAGE))

    asked = [bare.asset_id, theirs.asset_id, "missing", with_cover.asset_id, bare.asset_id]
    summaries = lifecycle.asset_summaries(TENANT, asked)
    assert [s.asset_id for s in summaries] == [bare.asset_id, with_cover.asset_id]
    frozen, covered = summaries
    assert frozen.to_details() == {
        "asset_id": bare.asset_id,
        "asset_name": "bare",
        "asset_state": "BLOCK",
        "asset_type": "IMAGE",
        "block_reason_code": "C-1",
    }
    assert frozen.cover is None
    assert covered.asset_state is AssetState.UNACTIVED
    assert covered.cover is not None and covered.cover.file_id == with_cover.files[1].file_id
    assert [s.asset_id for s in lifecycle.asset_summaries(PLATFORM, asked)] == [
        bare.asset_id,
        theirs.asset_id,
        with_cover.asset_id,
    ]


def test_bad_summary_requests_are_refused(lifecycle: Lifecycle) -> None:
    for asked, field in (
        ([], "asset_ids"),
        (["a"] * 101, "asset_ids"),
        (["bad id"], "asset_ids[0]"),
        ("a", "asset_ids"),
    ):
        with pytest.raises(InvalidParameter, match=field.replace("[", r"\[")):
            lifecycle.asset_summaries(TENANT, asked)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        lifecycle.list_assets(TENANT, project_id=OTHER.project_id, name="x")
