"""Hand-written hostile arguments across operations (flags that are not booleans, times before year
1 in UTC, a listener or stop that is not one, lone surrogates and NUL in ids, an id past its limit,
bad text in an actor) are refused with ``InvalidParameter`` and write nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import BatchAction, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter
from tests.hostile.drawing import OWNER
from tests.hostile.world import Arena, World


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda lc, w: lc.delete(OWNER, w.unactived.asset_id, force="no"), id="delete force='no'"
        ),
        pytest.param(lambda lc, w: lc.delete(OWNER, w.unactived.asset_id, force=1), id="delete force=1"),
        pytest.param(lambda lc, w: lc.list_assets(OWNER, descending="yes"), id="list descending='yes'"),
        pytest.param(lambda lc, w: lc.sweep(listener=object()), id="sweep listener=object()"),
        pytest.param(lambda lc, w: lc.sweep(stop=True), id="sweep stop=True"),
        pytest.param(lambda lc, w: lc.sweep(as_of=datetime.min.replace(tzinfo=UTC)), id="sweep as of year 1"),
        pytest.param(lambda lc, w: lc.due_counts(as_of=datetime(1, 1, 3, tzinfo=UTC)), id="due as of year 1"),
        pytest.param(
            lambda lc, w: lc.due_counts(as_of=datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))),
            id="due as of before year 1 in UTC",
        ),
        pytest.param(
            lambda lc, w: lc.batch(OWNER, BatchAction.DELETE, [w.unactived.asset_id, "a b"]), id="batch"
        ),
        pytest.param(lambda lc, w: lc.get_asset(OWNER, "\ud800"), id="lone surrogate id"),
        pytest.param(lambda lc, w: lc.history(OWNER, f"{w.unactived.asset_id}\x00"), id="NUL in an id"),
        pytest.param(lambda lc, w: lc.allowed_events(OWNER, "a" * 65), id="id past its limit"),
        pytest.param(lambda lc, w: lc.get_unfreeze_application(OWNER, "\x00"), id="NUL application id"),
        pytest.param(
            lambda lc, w: lc.confirm_upload(OWNER, w.creating.asset_id, "\ud800", UploadResult.CREATED),
            id="lone surrogate file id",
        ),
        pytest.param(lambda lc, w: lc.get_asset(Tenant("owner", "\udfff"), w.creating.asset_id), id="actor"),
        pytest.param(lambda lc, w: lc.freeze(Platform("op\u202e"), w.creating.asset_id), id="bidi operator"),
    ],
)
def test_explicit_hostile_arguments_are_refused_as_invalid_and_write_nothing(
    arena: Arena, call: Callable[[Lifecycle, World], Any]
) -> None:
    world = arena.world()
    outcome = arena.attempt(partial(call, arena.lifecycle, world))
    assert isinstance(outcome.error, InvalidParameter), outcome
