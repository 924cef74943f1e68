"""Queries, verify and storage: ``get_asset``, ``history``, ``allowed_events``, ``list_assets``,
``verify_audit``, ``asset_storage`` and ``storage_report`` refuse hostile arguments and never
write; a tenant sees only its own assets (another tenant's answers as missing) and a listing's
total counts what it filters.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.actors import System, Tenant
from lifecycle.definition import AssetState
from lifecycle.errors import AssetNotFound, InvalidParameter, PermissionDenied
from tests.conftest import START
from tests.hostile.drawing import (
    HOSTILE,
    INTRUDER,
    OWNER,
    PLATFORM,
    Pick,
    actors,
    good_pages,
    hostile_or_junk,
    junk,
    pages,
    times,
)
from tests.hostile.rules import (
    _as_of_problems,
    _members_problem,
    _page_problems,
    actor_problems,
    bad_id,
    bad_whole_number,
)
from tests.hostile.world import Arena


@settings(HOSTILE, max_examples=150)
@given(data=st.data())
def test_queries_refuse_hostile_arguments_and_never_write(arena: Arena, data: st.DataObject) -> None:
    world = arena.world()
    lc = arena.lifecycle
    operation = data.draw(
        st.sampled_from(["get_asset", "history", "allowed_events", "list_assets"]), label="op"
    )
    names = ["actor", "asset_id", "project_id", "states", "order_by", "descending", "limit", "offset"]
    pick = Pick.of(data, names)
    actor = pick("actor", st.sampled_from([OWNER, Tenant("owner"), INTRUDER, PLATFORM, System()]), actors)
    problems = actor_problems(actor)
    before = arena.before()
    if operation != "list_assets":
        asset_id = pick("asset_id", st.sampled_from(world.asset_ids), world.ids())
        outcome = arena.attempt(partial(getattr(lc, operation), actor, asset_id))
        outcome.expect(problems | ({"asset_id"} if bad_id(asset_id) else set()))
        if outcome.error is None and isinstance(actor, Tenant):
            assert lc.get_asset(PLATFORM, asset_id).project_id == actor.project_id
        if isinstance(outcome.error, AssetNotFound):
            assert outcome.error.message == f"asset {asset_id} not found"
        assert arena.before() == before
        return
    tenant_acts = isinstance(actor, Tenant)
    project_id = pick(
        "project_id",
        st.sampled_from([None] if tenant_acts else ["owner", "intruder", "owne_", "OWNER", "nobody"]),
        st.one_of(st.sampled_from(["%", "_", "owner", None]), hostile_or_junk),
    )
    states = pick(
        "states",
        st.lists(st.sampled_from(AssetState), max_size=3),
        st.one_of(st.just("BLOCK"), st.lists(junk, min_size=1, max_size=1)),
    )
    order_by = pick("order_by", st.sampled_from(["create_time", "update_time"]), hostile_or_junk)
    descending = pick("descending", st.booleans(), junk)
    limit, offset = data.draw(good_pages, label="page")
    limit, offset = pick("limit", st.just(limit), pages), pick("offset", st.just(offset), pages)
    problems |= _page_problems(limit, offset) | _members_problem(states, AssetState, "states")
    problems |= set() if order_by in ("create_time", "update_time") else {"order_by"}
    problems |= set() if isinstance(descending, bool) else {"descending"}
    if not tenant_acts and (project_id is None or bad_id(project_id)):
        problems.add("project_id")
    outcome = arena.attempt(
        partial(
            lc.list_assets,
            actor,
            project_id=project_id,
            states=states,
            order_by=order_by,
            descending=descending,
            limit=limit,
            offset=offset,
        )
    )
    outcome.expect(problems)
    if outcome.error is None:
        page = outcome.result
        tenant = actor.project_id if tenant_acts else project_id
        assert {a.project_id for a in page.items} <= {tenant}
        everything = lc.list_assets(PLATFORM, project_id=tenant, limit=1000)
        assert page.total == sum(not states or a.asset_state in states for a in everything.items)
    assert arena.before() == before


@settings(HOSTILE, max_examples=40)
@given(data=st.data())
def test_verify_audit_refuses_hostile_arguments_and_never_writes(arena: Arena, data: st.DataObject) -> None:
    arena.world()
    pick = Pick.of(data, ["actor", "project_id", "page_size", "progress"])
    actor = pick("actor", st.sampled_from([PLATFORM, System()]), actors)
    project_id = pick("project_id", st.sampled_from([None, "owner", "intruder", "owne_"]), hostile_or_junk)
    page_size = pick("page_size", st.sampled_from([1, 2, 1000, 100_000]), st.one_of(pages, st.just(100_001)))
    progress = pick("progress", st.sampled_from([None, lambda done, total: None]), junk)
    problems = actor_problems(actor)
    problems |= {"project_id"} if project_id is not None and bad_id(project_id) else set()
    problems |= {"page_size"} if bad_whole_number(page_size, 1, 100_000) else set()
    problems |= {"progress"} if progress is not None and not callable(progress) else set()
    before = arena.before()
    outcome = arena.attempt(
        partial(
            arena.lifecycle.verify_audit, actor, project_id=project_id, page_size=page_size, progress=progress
        )
    )
    outcome.expect(problems)
    if outcome.error is None:
        assert outcome.result.clean, outcome.result
    assert arena.before() == before


def _storage_as_of_problems(as_of: object) -> set[str]:
    """As a sweep's: from 1970, the free periods before it are all in the calendar."""
    return _as_of_problems(as_of)


@settings(HOSTILE, max_examples=80)
@given(data=st.data())
def test_storage_queries_refuse_hostile_arguments_and_never_write(arena: Arena, data: st.DataObject) -> None:
    world = arena.world()
    lc = arena.lifecycle
    pick = Pick.of(data, ["actor", "asset_id", "project_id", "as_of", "page_size", "progress"])
    actor = pick("actor", st.sampled_from([OWNER, Tenant("owner"), INTRUDER, PLATFORM, System()]), actors)
    as_of = pick("as_of", st.sampled_from([None, START, START - timedelta(days=30)]), times)
    problems = actor_problems(actor) | _storage_as_of_problems(as_of)
    before = arena.before()
    if data.draw(st.booleans(), label="asset_storage"):
        asset_id = pick("asset_id", st.sampled_from(world.asset_ids), world.ids())
        outcome = arena.attempt(partial(lc.asset_storage, actor, asset_id, as_of=as_of))
        outcome.expect(problems | ({"asset_id"} if bad_id(asset_id) else set()))
        if outcome.error is None and isinstance(actor, Tenant):
            assert outcome.result.project_id == actor.project_id
        if isinstance(outcome.error, AssetNotFound):
            assert outcome.error.message == f"asset {asset_id} not found"
        assert arena.before() == before
        return
    project_id = pick(
        "project_id",
        st.sampled_from([None, "owner", "intruder", "owne_", "nobody"]),
        st.one_of(st.sampled_from(["%", "_"]), hostile_or_junk),
    )
    page_size = pick("page_size", st.sampled_from([1, 2, 200, 10_000]), st.one_of(pages, st.just(10_001)))
    progress = pick("progress", st.sampled_from([None, lambda done, total: None]), junk)
    problems |= {"project_id"} if project_id is not None and bad_id(project_id) else set()
    problems |= {"page_size"} if bad_whole_number(page_size, 1, 10_000) else set()
    problems |= {"progress"} if progress is not None and not callable(progress) else set()
    outcome = arena.attempt(
        partial(
            lc.storage_report,
            actor,
            project_id=project_id,
            as_of=as_of,
            page_size=page_size,
            progress=progress,
        )
    )
    outcome.expect(problems)
    if outcome.error is None:
        seen = {tenant.project_id for tenant in outcome.result.tenants}
        if isinstance(actor, Tenant):
            assert seen == {actor.project_id}
        elif project_id is not None:
            assert seen == {project_id}
    elif isinstance(actor, Tenant) and project_id not in (None, actor.project_id) and not problems:
        assert isinstance(outcome.error, PermissionDenied | InvalidParameter), outcome.error
    assert arena.before() == before
