"""Batches: ``batch`` refuses hostile actions and id lists (not a list, empty, more than 1,000 ids,
a malformed id) and writes nothing; an accepted batch answers each asset in the order given,
another tenant's as not found; exactly 1,000 ids run, 1,001 are refused.
"""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.actors import Tenant
from lifecycle.definition import BatchAction, Event
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter
from tests.hostile.drawing import (
    HOSTILE,
    MISSING,
    OWNER,
    PLATFORM,
    Pick,
    actors,
    good_request_ids,
    request_ids,
)
from tests.hostile.rules import RULES, actor_problems, bad_id
from tests.hostile.world import Arena


@settings(HOSTILE, max_examples=100)
@given(data=st.data())
def test_batches_refuse_hostile_lists_and_answer_each_asset_in_order(
    arena: Arena, data: st.DataObject
) -> None:
    world = arena.world()
    lc = arena.lifecycle
    pick = Pick.of(data, ["actor", "action", "asset_ids", "request_id"])
    actor = pick("actor", st.sampled_from([OWNER, PLATFORM]), actors)
    action = pick(
        "action", st.sampled_from(BatchAction), st.sampled_from(["DELETE", "delete", None, Event.DELETE])
    )
    ids = st.one_of(st.sampled_from(world.asset_ids), st.just(MISSING))
    asset_ids = pick(
        "asset_ids",
        st.one_of(
            st.lists(ids, min_size=1, max_size=4),
            st.lists(ids, min_size=1, max_size=2).map(lambda some: some * 2),  # duplicates
            st.lists(ids, min_size=1, max_size=3).map(tuple),
        ),
        st.one_of(
            st.tuples(st.lists(ids, max_size=2), world.ids().filter(bad_id)).map(lambda t: [*t[0], t[1]]),
            st.sampled_from([[], [MISSING] * 1001, MISSING, None, {MISSING: 1}, [MISSING, None]]),
        ),
    )
    request_id = pick("request_id", good_request_ids, request_ids)
    problems = actor_problems(actor) | ({"action"} if not isinstance(action, BatchAction) else set())
    if (
        not isinstance(asset_ids, list | tuple)
        or not 1 <= len(asset_ids) <= 1000
        or any(map(bad_id, asset_ids))
    ):
        problems.add("asset_ids")
    problems |= {"request_id"} if RULES["request_id"].refuses_optional(request_id) else set()
    outcome = arena.attempt(partial(lc.batch, actor, action, asset_ids, request_id=request_id))
    outcome.expect(problems)
    if outcome.error is None:
        results = outcome.result
        assert [r.asset_id for r in results] == list(asset_ids)
        for result in results:
            assert result.succeeded == (result.error_code is None)
            if result.error_code == "MSS.00000002":
                assert result.error_msg == f"asset {result.asset_id} not found"
            if isinstance(actor, Tenant) and result.asset_id == world.theirs.asset_id:
                assert (result.error_code, result.error_msg) == (
                    "MSS.00000002",
                    f"asset {result.asset_id} not found",
                )


def test_a_batch_of_exactly_the_most_ids_runs_and_one_more_is_refused(lifecycle: Lifecycle) -> None:
    results = lifecycle.batch(OWNER, BatchAction.DELETE, [MISSING] * 1000)
    assert len(results) == 1000 and {r.error_code for r in results} == {"MSS.00000002"}
    with pytest.raises(InvalidParameter, match="asset_ids"):
        lifecycle.batch(OWNER, BatchAction.DELETE, [MISSING] * 1001)
