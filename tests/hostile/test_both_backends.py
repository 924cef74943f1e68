"""The same answer on both backends: the same text (names, descriptions, tags, file names, JSON,
reasons, request ids) given to SQLite and to PostgreSQL is stored and read back the same, or
refused with the same error type, code, HTTP status and message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.definition import AssetType, FileCategory
from lifecycle.engine import Lifecycle
from lifecycle.errors import LifecycleError
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.results import Asset
from tests.conftest import MD5
from tests.hostile.drawing import (
    HOSTILE,
    OWNER,
    good_json,
    hostile_json,
    hostile_or_junk,
    hostile_text,
    optional_text,
    request_ids,
    safe_text,
)


def _answer(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except LifecycleError as error:
        return type(error).__name__, error.code, error.http_status, error.message


@pytest.mark.postgresql
@settings(HOSTILE, max_examples=80)
@given(
    name=st.one_of(safe_text, hostile_or_junk),
    description=st.one_of(safe_text, hostile_text),
    tags=st.lists(st.one_of(safe_text, hostile_text), max_size=2),
    file_name=st.one_of(safe_text, hostile_text),
    meta=st.one_of(st.none(), good_json, hostile_json),
    reason=st.one_of(safe_text, optional_text),
    request_id=st.one_of(safe_text, request_ids),
)
def test_sqlite_and_postgresql_give_the_same_answer_to_the_same_text(
    both_backends: list[Lifecycle],
    name: Any,
    description: str,
    tags: list[str],
    file_name: str,
    meta: Any,
    reason: Any,
    request_id: Any,
) -> None:
    new = NewAsset(
        asset_name=name,
        asset_type=AssetType.HUMAN_MODEL,
        files=[NewFile(file_name, 1, MD5, FileCategory.MAIN, "bin")],
        asset_description=description,
        tags=tags,
        asset_extra_meta=meta,
    )
    answers = []
    for lc in both_backends:
        created = _answer(partial(lc.create_asset, OWNER, new, request_id=request_id))
        if not isinstance(created, Asset):
            answers.append(created)
            continue
        moved = _answer(partial(lc.delete, OWNER, created.asset_id, reason=reason, request_id=request_id))
        entries = lc.history(OWNER, created.asset_id)
        details = {k: v for k, v in created.to_details().items() if k not in ("asset_id", "files")}
        answers.append(
            (
                details,
                [(f.file_name, f.file_type, f.file_md5) for f in created.files],
                moved if isinstance(moved, tuple) else (moved.to_state, moved.version, moved.replayed),
                [(e.event, e.reason, e.request_id, e.actor_id) for e in entries],
            )
        )
    assert answers[0] == answers[1]
