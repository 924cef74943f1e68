"""Creation: every field of ``NewAsset`` and ``NewFile``, drawn hostile one or two at a time, is
stored exactly as given (canonical where documented) or refused with ``InvalidParameter`` naming
it, and a refusal writes nothing. Explicit cases sit at and just past every limit; SQL and LIKE
wildcards in a name change no table and no tenant's listing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text

from lifecycle.actors import Tenant
from lifecycle.definition import AssetType, Event, FileCategory, PlannedOperation
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter, PermissionDenied
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from lifecycle.results import Asset
from lifecycle.store.models import audit
from tests.conftest import MD5, START, TABLES
from tests.hostile.drawing import (
    HOSTILE,
    OWNER,
    PLATFORM,
    Pick,
    actors,
    exactly,
    file_types,
    good_json,
    hostile_json,
    hostile_text,
    junk,
    md5s,
    nested,
    request_ids,
    safe_text,
    sizes,
    times,
)
from tests.hostile.rules import (
    LATEST_TIME,
    MAX_FILE_SIZE,
    MAX_JSON_BYTES,
    MAX_JSON_LEVELS,
    canonical_md5,
    creation_problems,
    file_type_of,
)
from tests.hostile.world import Arena

CREATION_FIELDS = (
    "asset_name", "asset_type", "files", "file_name", "file_size", "file_md5", "asset_file_category",
    "file_type", "asset_description", "tags", "activate_on_upload", "review_required", "auto_operation",
    "asset_extra_meta", "system_properties", "asset_order", "app_user_id",
)  # fmt: skip


def new_asset_from(pick: Pick) -> NewAsset:
    """A NewAsset whose picked fields are hostile and whose others are well-formed."""
    asset_type = pick(
        "asset_type",
        st.sampled_from([AssetType.HUMAN_MODEL, AssetType.VIDEO]),
        st.one_of(st.sampled_from(AssetType), junk),
    )

    def new_file(suffix: str, category: Any) -> NewFile:
        return NewFile(
            file_name=pick("file_name", safe_text.map(lambda t: t + suffix)),
            file_size=pick("file_size", st.sampled_from([1, 31032142, MAX_FILE_SIZE]), sizes),
            file_md5=pick("file_md5", st.sampled_from([MD5, "OLjCwQk93Q/Dg6nZrJQFFQ=="]), md5s),
            asset_file_category=pick(
                "asset_file_category", st.just(category), st.one_of(st.sampled_from(FileCategory), junk)
            ),
            file_type=pick("file_type", st.sampled_from([None, "bin", "MP4"]), file_types),
        )

    main = new_file(".bin", FileCategory.MAIN)
    cover = new_file(".png", FileCategory.COVER)
    files = pick(
        "files",
        st.sampled_from([[main], [main, cover], (main, cover)]),
        st.sampled_from(
            [[], [cover], [main, main], [main, "x"], "main.bin", None, [main] * 101, [main, cover, main]]
        ),
    )
    plan = st.builds(AutoOperation, st.sampled_from(PlannedOperation), times)
    return NewAsset(
        asset_name=pick("asset_name", safe_text),
        asset_type=asset_type,
        files=files,
        asset_description=pick(
            "asset_description", st.one_of(st.just(""), safe_text, safe_text.map(lambda t: f"{t}\n{t}\t"))
        ),
        tags=pick(
            "tags",
            st.lists(safe_text, max_size=3),
            st.one_of(
                st.lists(hostile_text, min_size=1, max_size=3),
                st.lists(st.just("t"), min_size=20, max_size=21),
                st.just("tag"),
                st.lists(junk, min_size=1, max_size=2),
            ),
        ),
        activate_on_upload=pick("activate_on_upload", st.one_of(st.none(), st.booleans()), junk),
        review_required=pick("review_required", st.booleans(), junk),
        auto_operation=pick(
            "auto_operation",
            st.one_of(
                st.none(),
                st.builds(
                    AutoOperation,
                    st.sampled_from(PlannedOperation),
                    st.sampled_from(
                        [START + timedelta(days=1), datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)]
                    ),
                ),
            ),
            st.one_of(plan, plan, st.builds(AutoOperation, junk, times), junk),
        ),
        asset_extra_meta=pick("asset_extra_meta", st.one_of(st.none(), good_json), hostile_json),
        system_properties=pick(
            "system_properties",
            st.one_of(st.just(()), st.lists(good_json, max_size=2)),
            st.one_of(st.lists(hostile_json, min_size=1, max_size=2), junk),
        ),
        asset_order=pick(
            "asset_order",
            st.one_of(st.none(), st.integers(0, 2**31 - 1)),
            st.one_of(st.integers(-3, -1), st.sampled_from([2**31, 2**63]), junk),
        ),
        app_user_id=pick("app_user_id", st.one_of(st.none(), safe_text)),
    )


def assert_stored_as_given(asset: Asset, new: NewAsset, actor: Tenant) -> None:
    """Every field comes back exactly as given (canonical where documented: the MD5 in base64,
    the file type from the name in lower case, times in UTC)."""
    assert asset.asset_name == new.asset_name
    assert asset.asset_description == new.asset_description
    assert asset.tags == tuple(new.tags)
    assert asset.asset_type is new.asset_type
    assert [
        (f.file_name, f.file_size, f.file_md5, f.asset_file_category, f.file_type) for f in asset.files
    ] == [
        (f.file_name, f.file_size, canonical_md5(f.file_md5), f.asset_file_category, file_type_of(f))
        for f in new.files
    ]
    assert asset.asset_extra_meta == new.asset_extra_meta
    assert asset.system_properties == tuple(new.system_properties)
    assert asset.asset_order == new.asset_order
    assert asset.app_user_id == (new.app_user_id or actor.app_user_id)
    assert asset.review_required is new.review_required
    assert asset.activate_on_upload is bool(new.activate_on_upload)
    if new.auto_operation is not None:
        assert asset.planned_operation is new.auto_operation.operation
        assert asset.planned_operation_time == new.auto_operation.operation_time
    details = json.dumps(asset.to_details(), ensure_ascii=False).encode("utf-8")  # UTF-8 all through
    assert json.loads(details)["asset_name"] == new.asset_name


@settings(HOSTILE, max_examples=150)
@given(data=st.data())
def test_create_asset_stores_every_field_exactly_or_refuses_it(arena: Arena, data: st.DataObject) -> None:
    pick = Pick.of(data, [*CREATION_FIELDS, "actor", "request_id", "asset"])
    actor = pick("actor", st.sampled_from([OWNER, Tenant("owner")]), actors)
    new = pick("asset", st.just(None), junk) if "asset" in pick.hostile else new_asset_from(pick)
    request_id = pick("request_id", st.one_of(st.none(), safe_text), request_ids)
    _create(arena, actor, new, request_id)


def _create(arena: Arena, actor: Any, new: Any, request_id: object) -> None:
    problems = creation_problems(actor, new, request_id)
    replay = not problems and request_id is not None and _created_by(arena.database, actor, request_id)
    outcome = arena.attempt(partial(arena.lifecycle.create_asset, actor, new, request_id=request_id))
    outcome.expect(problems)
    if problems == {"role"}:
        assert isinstance(outcome.error, PermissionDenied)
    if not problems:
        stored = arena.lifecycle.get_asset(actor, outcome.result.asset_id)
        assert stored == outcome.result
        if not replay:
            assert_stored_as_given(stored, new, actor)


def _created_by(database: Engine, actor: Tenant, request_id: object) -> bool:
    """Whether this request id created an asset of this tenant already (a retry is answered)."""
    with database.connect() as connection:
        found = connection.execute(
            select(func.count())
            .select_from(audit)
            .where(
                audit.c.project_id == actor.project_id,
                audit.c.request_id == request_id,
                audit.c.event == Event.CREATE,
            )
        ).scalar_one()
    return bool(found)


def _asset_named(
    name: str, description: str = "", *, tags: Sequence[str] = (), file_name: str = "m.bin"
) -> NewAsset:
    return NewAsset(
        asset_name=name,
        asset_type=AssetType.HUMAN_MODEL,
        files=[NewFile(file_name, 1, MD5, FileCategory.MAIN, "bin")],
        asset_description=description,
        tags=tags,
    )


def _with_meta(meta: Any) -> NewAsset:
    return NewAsset("x", AssetType.HUMAN_MODEL, [NewFile("m.bin", 1, MD5)], asset_extra_meta=meta)


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["me"] = loop
    return loop


class _HiddenDict(dict[str, Any]):
    """A dict whose own iteration shows nothing, while ``json`` encodes its items."""

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def values(self) -> Any:
        return ()


def _planned(when: datetime) -> NewAsset:
    return NewAsset(
        "x",
        AssetType.HUMAN_MODEL,
        [NewFile("m.bin", 1, MD5)],
        auto_operation=AutoOperation(PlannedOperation.BLOCK, when),
    )


EXPLICIT_CREATIONS = {
    "sql and wildcards": _asset_named(
        "'; DROP TABLE lifecycle_assets; --", '" OR 1=1 -- ` %_%', tags=["%", "_", "%_"]
    ),
    "at every limit": _asset_named(
        exactly(128, "👩\u200d👩\u200d👧\u200d👦"),
        exactly(1024, "e\u0301"),
        tags=[exactly(64, "中")] * 20,
        file_name=exactly(252, "ß") + ".bin",
    ),
    "name past its limit": _asset_named(exactly(129, "x")),
    "description past its limit": _asset_named("x", exactly(1025, "x")),
    "tag past its limit": _asset_named("x", tags=[exactly(65, "x")]),
    "too many tags": _asset_named("x", tags=["t"] * 21),
    "file name past its limit": _asset_named("x", file_name=exactly(257, "ß")),
    "right to left, multi-line description": _asset_named(
        "مرحبا שלום \u200f!", "multi\nline\tdescription \x1b[31m as written"
    ),
    "right-to-left override in a name": _asset_named("invoice\u202egpj.exe"),
    "right-to-left override in a file name": _asset_named("x", file_name="invoice\u202egpj.exe"),
    "isolate in a tag": _asset_named("x", tags=["\u2067x\u2069"]),
    "NUL in a name": _asset_named("nul\x00"),
    "NUL in a description": _asset_named("x", "nul\x00"),
    "lone surrogate": _asset_named("lone \ud83d surrogate"),
    "line separator in a tag": _asset_named("x", tags=["line\u2028separator"]),
    "C1 control in a name": _asset_named("csi\x9b31m"),
    "JSON 32 levels deep": _with_meta(nested(MAX_JSON_LEVELS)),
    "JSON 33 levels deep": _with_meta(nested(MAX_JSON_LEVELS + 1)),
    "JSON keys 1 and '1'": _with_meta({1: "a", "1": "b"}),
    "JSON NUL": _with_meta({"k": "\x00"}),
    "JSON lone surrogate key": _with_meta({"\udc80": 1}),
    "JSON circular": _with_meta(_circular()),
    "JSON of 64 KiB": _with_meta({"k": "x" * (MAX_JSON_BYTES - len('{"k":""}'))}),
    "JSON one byte past 64 KiB": _with_meta({"k": "x" * (MAX_JSON_BYTES - len('{"k":""}') + 1)}),
    "JSON 200 levels deep in a dict that hides its items": _with_meta({"k": _HiddenDict(k=nested(200))}),
    "a plan out of range in UTC": _planned(datetime.max.replace(tzinfo=timezone(-timedelta(hours=1)))),
    "a plan at the end of time": _planned(datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)),
    "a plan at the last supported microsecond": _planned(LATEST_TIME - timedelta(microseconds=1)),
    "a naive plan": _planned(datetime(2030, 1, 1)),  # noqa: DTZ001 - on purpose
}


@pytest.mark.parametrize("new", EXPLICIT_CREATIONS.values(), ids=EXPLICIT_CREATIONS)
def test_explicit_hostile_creations(arena: Arena, new: NewAsset) -> None:
    _create(arena, OWNER, new, None)


def test_a_name_full_of_sql_and_wildcards_changes_no_table_and_no_listing(lifecycle: Lifecycle) -> None:
    """Bound parameters all through: the text is stored, the tables are all there, and tenants
    whose ids differ only where a LIKE pattern would match anything see only their own."""
    tenants = [Tenant(p) for p in ("a_c", "abc", "a.c", "A_C")]
    name = "'; DROP TABLE lifecycle_assets; -- %_"
    for tenant in tenants:
        lifecycle.create_asset(tenant, _asset_named(name))
    for tenant in tenants:
        page = lifecycle.list_assets(tenant)
        assert page.total == 1
        assert [(a.project_id, a.asset_name) for a in page.items] == [(tenant.project_id, name)]
    with lifecycle.database.connect() as connection:
        for table in TABLES:
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    with pytest.raises(InvalidParameter, match="project_id"):
        lifecycle.list_assets(PLATFORM, project_id="a%")
