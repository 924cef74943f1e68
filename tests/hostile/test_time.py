"""Time: ``sweep`` and ``due_counts`` refuse hostile arguments (a time that is naive, before 1970 or
later than now; a batch size out of range; a bad actor, listener or stop) and write nothing; an
accepted sweep runs as of a time no later than now, and due counts are whole numbers.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.actors import System
from lifecycle.sweeps import SweepListener
from tests.conftest import START
from tests.hostile.drawing import HOSTILE, Pick, actors, junk, pages, times
from tests.hostile.rules import _as_of_problems, actor_problems, bad_whole_number
from tests.hostile.world import Arena


class _Listener(SweepListener):
    pass


@settings(HOSTILE, max_examples=60)
@given(data=st.data())
def test_sweeps_and_due_counts_refuse_hostile_arguments(arena: Arena, data: st.DataObject) -> None:
    arena.world()
    lc = arena.lifecycle
    pick = Pick.of(data, ["as_of", "batch_size", "actor", "listener", "stop"])
    as_of = pick("as_of", st.sampled_from([None, START, START - timedelta(days=30)]), times)
    problems = _as_of_problems(as_of)
    if data.draw(st.booleans(), label="due_counts"):
        outcome = arena.attempt(partial(lc.due_counts, as_of=as_of))
        outcome.expect(problems)
        if outcome.error is None:
            assert all(isinstance(n, int) and n >= 0 for n in outcome.result.values())
        return
    batch_size = pick("batch_size", st.sampled_from([1, 500, 10_000]), st.one_of(pages, st.just(10_001)))
    actor = pick("actor", st.sampled_from([None, System(), System("nightly")]), actors)
    listener = pick("listener", st.one_of(st.none(), st.builds(_Listener)), junk)
    stop = pick("stop", st.none(), junk)
    problems |= {"batch_size"} if bad_whole_number(batch_size, 1, 10_000) else set()
    problems |= set() if actor is None else actor_problems(actor)
    problems |= set() if listener is None or isinstance(listener, SweepListener) else {"listener"}
    problems |= set() if stop is None else {"stop"}
    outcome = arena.attempt(
        partial(lc.sweep, as_of=as_of, batch_size=batch_size, actor=actor, listener=listener, stop=stop)
    )
    outcome.expect(problems)
    if outcome.error is None:
        assert outcome.result.as_of <= START
