"""Moves: ``fire`` and every wrapper (activate, deactivate, delete, restore, freeze, unfreeze,
pass_review, reject_review) refuse hostile arguments with ``InvalidParameter`` naming one of them
and write nothing; an accepted move records the actor, request id, reason and block reason code as
given.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.actors import System, Tenant
from lifecycle.definition import TABLE_EVENTS, Event, FailType
from tests.hostile.drawing import (
    HOSTILE,
    OWNER,
    PLATFORM,
    Pick,
    actors,
    good_reasons,
    good_request_ids,
    junk,
    optional_text,
    request_ids,
    safe_text,
    versions,
)
from tests.hostile.rules import RULES, _common_problems
from tests.hostile.world import Arena

MOVE_WRAPPERS = {
    "activate": Event.ACTIVATE,
    "deactivate": Event.DEACTIVATE,
    "delete": Event.DELETE,
    "restore": Event.RESTORE,
    "freeze": Event.FREEZE,
    "unfreeze": Event.UNFREEZE,
    "pass_review": Event.PASS_REVIEW,
    "reject_review": Event.REJECT_REVIEW,
}
MOVE_ARGUMENTS = (
    "actor", "asset_id", "reason", "request_id", "expected_version", "event", "fail_type",
    "block_reason_code", "force",
)  # fmt: skip
good_actors = st.sampled_from([OWNER, Tenant("owner"), PLATFORM, System()])


@settings(HOSTILE, max_examples=200)
@given(data=st.data())
def test_every_move_refuses_hostile_arguments_and_writes_nothing(arena: Arena, data: st.DataObject) -> None:
    world = arena.world()
    lc = arena.lifecycle
    operation = data.draw(st.sampled_from(["fire", "fire", *MOVE_WRAPPERS]), label="operation")
    pick = Pick.of(data, MOVE_ARGUMENTS)
    actor = pick("actor", good_actors, actors)
    asset_id = pick("asset_id", st.sampled_from(world.owners), world.ids())
    options: dict[str, Any] = {
        "reason": pick("reason", good_reasons, optional_text),
        "request_id": pick("request_id", good_request_ids, request_ids),
        "expected_version": pick("expected_version", st.none(), versions),
    }
    problems = _common_problems(
        actor, asset_id, options["reason"], options["request_id"], options["expected_version"]
    )
    code = None
    call: Callable[[], Any]
    if operation == "fire":
        event = pick(
            "event",
            st.sampled_from(TABLE_EVENTS),
            st.one_of(st.just(Event.CREATE), junk),
        )
        fail_type = pick(
            "fail_type",
            st.just(FailType.MANUAL_REVIEW_REJECT if event is Event.REJECT_REVIEW else None),
            st.one_of(st.sampled_from([None, *FailType]), junk),
        )
        code = pick(
            "block_reason_code",
            st.one_of(st.none(), safe_text) if event is Event.FREEZE else st.none(),
            optional_text,
        )
        problems |= _event_problems(event, fail_type, code)
        call = partial(
            lc.fire, actor, asset_id, event, fail_type=fail_type, block_reason_code=code, **options
        )
    elif operation == "delete":
        force = pick("force", st.booleans(), junk)
        problems |= set() if isinstance(force, bool) else {"force"}
        call = partial(lc.delete, actor, asset_id, force=force, **options)
    elif operation == "freeze":
        code = pick("block_reason_code", st.one_of(st.none(), safe_text), optional_text)
        problems |= {"block_reason_code"} if RULES["block_reason_code"].refuses_optional(code) else set()
        call = partial(lc.freeze, actor, asset_id, block_reason_code=code, **options)
    elif operation == "reject_review":
        fail_type = pick("fail_type", st.sampled_from(FailType), junk)
        problems |= _event_problems(Event.REJECT_REVIEW, fail_type, None)
        call = partial(lc.reject_review, actor, asset_id, fail_type, **options)
    else:
        call = partial(getattr(lc, operation), actor, asset_id, **options)
    outcome = arena.attempt(call)
    outcome.expect(problems)
    if outcome.error is None and not outcome.result.replayed:
        last = lc.history(PLATFORM, asset_id)[-1]
        assert (last.actor_kind, last.actor_id) == (actor.role, actor.actor_id)
        assert last.request_id == options["request_id"]
        if options["reason"] is not None:
            assert last.reason == options["reason"]
        if code is not None:
            assert lc.get_asset(PLATFORM, asset_id).block_reason_code == code


def _event_problems(event: object, fail_type: object, code: object) -> set[str]:
    problems = set()
    if not isinstance(event, Event) or event is Event.CREATE:
        problems.add("event")
    if fail_type is not None and not isinstance(fail_type, FailType):
        problems.add("fail_type")
    if (event is Event.REJECT_REVIEW) != (fail_type is not None):
        problems.add("fail_type")
    if RULES["block_reason_code"].refuses_optional(code) or (code is not None and event is not Event.FREEZE):
        problems.add("block_reason_code")
    return problems
