"""A whole tenant: ``freeze_tenant`` and ``unfreeze_tenant`` refuse hostile arguments and write
nothing; an accepted one touches only the named tenant's assets (a LIKE pattern or a look-alike id
matches no one else's) and records the reason, request id and actor on each move.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile.drawing import (
    HOSTILE,
    PLATFORM,
    Pick,
    actors,
    good_reasons,
    good_request_ids,
    hostile_or_junk,
    optional_text,
    request_ids,
    safe_text,
)
from tests.hostile.rules import RULES, _common_problems, bad_id
from tests.hostile.world import Arena


@settings(HOSTILE, max_examples=80)
@given(data=st.data())
def test_tenant_wide_moves_refuse_hostile_arguments_and_touch_only_that_tenant(
    arena: Arena, data: st.DataObject
) -> None:
    arena.world()
    lc = arena.lifecycle
    freeze = data.draw(st.booleans(), label="freeze")
    pick = Pick.of(data, ["actor", "project_id", "reason", "request_id", "block_reason_code"])
    actor = pick("actor", st.just(PLATFORM), actors)
    project_id = pick(
        "project_id",
        st.sampled_from(["owner", "intruder", "owne_", "OWNER", "owner.", "nobody"]),
        st.one_of(st.sampled_from(["%", "owner%", "_", "owner "]), hostile_or_junk),
    )
    reason = pick("reason", good_reasons, optional_text)
    request_id = pick("request_id", good_request_ids, request_ids)
    problems = _common_problems(actor, "x", reason, request_id) | (
        {"project_id"} if bad_id(project_id) else set()
    )
    if freeze:
        code = pick("block_reason_code", st.one_of(st.none(), safe_text), optional_text)
        problems |= {"block_reason_code"} if RULES["block_reason_code"].refuses_optional(code) else set()
        call: Callable[[], Any] = partial(
            lc.freeze_tenant, actor, project_id, reason=reason, block_reason_code=code, request_id=request_id
        )
    else:
        call = partial(lc.unfreeze_tenant, actor, project_id, reason=reason, request_id=request_id)
    outcome = arena.attempt(call)
    outcome.expect(problems)
    if outcome.error is None:
        operation = outcome.result
        touched = [t.asset_id for t in operation.moved] + [asset_id for asset_id, _ in operation.skipped]
        owners = {lc.get_asset(PLATFORM, asset_id).project_id for asset_id in touched}
        assert owners <= {project_id}, f"a tenant-wide move of {project_id!r} touched {owners}"
        for moved in operation.moved:
            last = lc.history(PLATFORM, moved.asset_id)[-1]
            assert (last.reason, last.request_id, last.actor_id) == (reason, request_id, actor.actor_id)
