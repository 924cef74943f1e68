"""Unfreeze applications: apply, approve, reject, get and list refuse hostile arguments and write
nothing; a tenant sees only its own applications, and a decision records who decided and why.
"""

from __future__ import annotations

from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.actors import Platform, System, Tenant
from lifecycle.definition import ApplicationState
from tests.hostile.drawing import (
    HOSTILE,
    OWNER,
    PLATFORM,
    Pick,
    actors,
    good_pages,
    good_reasons,
    good_request_ids,
    hostile_or_junk,
    junk,
    optional_text,
    pages,
    request_ids,
)
from tests.hostile.rules import (
    RULES,
    _common_problems,
    _members_problem,
    _page_problems,
    actor_problems,
    bad_id,
)
from tests.hostile.world import Arena


@settings(HOSTILE, max_examples=150)
@given(data=st.data())
def test_unfreeze_applications_refuse_hostile_arguments_and_write_nothing(
    arena: Arena, data: st.DataObject
) -> None:
    world = arena.world()
    lc = arena.lifecycle
    operation = data.draw(st.sampled_from(["apply", "approve", "reject", "get", "list"]), label="operation")
    names = [
        "actor",
        "asset_id",
        "application_id",
        "reason",
        "request_id",
        "project_id",
        "states",
        "limit",
        "offset",
    ]
    pick = Pick.of(data, names)
    tenant_acts = operation in ("apply", "get", "list")
    actor = pick("actor", st.just(OWNER) if tenant_acts else st.just(PLATFORM), actors)
    reason = pick("reason", good_reasons, optional_text)
    if operation == "apply":
        asset_id = pick("asset_id", st.sampled_from(world.owners), world.ids())
        outcome = arena.attempt(partial(lc.apply_for_unfreeze, actor, asset_id, reason=reason))
        outcome.expect(_common_problems(actor, asset_id, reason, None))
        if outcome.error is None:
            assert (outcome.result.reason, outcome.result.applied_by) == (reason, actor.actor_id)
        return
    if operation == "list":
        project_id = pick(
            "project_id",
            st.sampled_from([None, "owner", "intruder", "owne_"]),
            st.one_of(st.just("%"), hostile_or_junk),
        )
        states = pick(
            "states",
            st.lists(st.sampled_from(ApplicationState), max_size=2),
            st.one_of(st.just("PENDING"), st.lists(junk, min_size=1, max_size=1)),
        )
        limit, offset = data.draw(good_pages, label="page")
        limit, offset = pick("limit", st.just(limit), pages), pick("offset", st.just(offset), pages)
        problems = (
            actor_problems(actor)
            | _page_problems(limit, offset)
            | _members_problem(states, ApplicationState, "states")
        )
        if isinstance(actor, Platform | System) and project_id is not None and bad_id(project_id):
            problems.add("project_id")
        outcome = arena.attempt(
            partial(
                lc.list_unfreeze_applications,
                actor,
                project_id=project_id,
                states=states,
                limit=limit,
                offset=offset,
            )
        )
        outcome.expect(problems)
        if outcome.error is None:
            wanted = actor.project_id if isinstance(actor, Tenant) else project_id
            assert all(wanted is None or a.project_id == wanted for a in outcome.result)
        return
    application_id = pick(
        "application_id",
        st.sampled_from([world.application, world.their_application]),
        world.application_ids(),
    )
    problems = actor_problems(actor) | ({"application_id"} if bad_id(application_id) else set())
    if operation == "get":
        outcome = arena.attempt(partial(lc.get_unfreeze_application, actor, application_id))
        outcome.expect(problems)
        if outcome.error is None and isinstance(actor, Tenant):
            assert outcome.result.project_id == actor.project_id
        return
    problems |= {"reason"} if RULES["reason"].refuses_optional(reason) else set()
    if operation == "approve":
        request_id = pick("request_id", good_request_ids, request_ids)
        problems |= {"request_id"} if RULES["request_id"].refuses_optional(request_id) else set()
        outcome = arena.attempt(
            partial(lc.approve_unfreeze, actor, application_id, reason=reason, request_id=request_id)
        )
    else:
        outcome = arena.attempt(partial(lc.reject_unfreeze, actor, application_id, reason=reason))
    outcome.expect(problems)
    if outcome.error is None and not getattr(outcome.result, "replayed", False):
        decided = lc.get_unfreeze_application(PLATFORM, application_id)
        assert (decided.decided_by, decided.decision_reason) == (actor.actor_id, reason)
