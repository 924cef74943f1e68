"""Uploads: ``confirm_upload`` refuses hostile ids, results, sizes, MD5s, file names, reasons and
request ids with ``InvalidParameter`` naming one of them, and writes nothing.
"""

from __future__ import annotations

from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.actors import Tenant
from lifecycle.definition import UploadResult
from tests.conftest import MD5
from tests.hostile.drawing import (
    HOSTILE,
    MISSING,
    OWNER,
    Pick,
    actors,
    good_reasons,
    good_request_ids,
    hostile_or_junk,
    md5s,
    optional_text,
    request_ids,
    sizes,
)
from tests.hostile.rules import (
    MAX_FILE_SIZE,
    RULES,
    _common_problems,
    bad_id,
    bad_whole_number,
    canonical_md5,
)
from tests.hostile.world import Arena


@settings(HOSTILE, max_examples=100)
@given(data=st.data())
def test_confirm_upload_refuses_hostile_arguments_and_writes_nothing(
    arena: Arena, data: st.DataObject
) -> None:
    world = arena.world()
    pick = Pick.of(
        data,
        [
            "actor",
            "asset_id",
            "file_id",
            "result",
            "file_size",
            "file_md5",
            "file_name",
            "reason",
            "request_id",
        ],
    )
    actor = pick("actor", st.sampled_from([OWNER, Tenant("owner", "uploader")]), actors)
    asset = pick("asset_id", st.sampled_from(world.assets), st.none())
    asset_id = asset.asset_id if asset is not None else data.draw(world.ids(), label="hostile asset_id")
    file_ids = [f.file_id for f in asset.files] if asset is not None else world.file_ids
    file_id = pick(
        "file_id",
        st.sampled_from(file_ids),
        st.one_of(st.sampled_from([*world.file_ids, MISSING, world.file_ids[0].upper()]), hostile_or_junk),
    )
    result = pick("result", st.sampled_from(UploadResult), st.sampled_from(["CREATED", None, 1, "created"]))
    size = pick("file_size", st.sampled_from([None, 31032142, 110321, 1]), sizes)
    md5 = pick("file_md5", st.sampled_from([None, MD5, MD5.upper()]), md5s)
    name = pick(
        "file_name", st.sampled_from([None, "male001.bin", "MALE001.BIN", "male001.png"]), hostile_or_junk
    )
    reason = pick("reason", good_reasons, optional_text)
    request_id = pick("request_id", good_request_ids, request_ids)
    problems = _common_problems(actor, asset_id, reason, request_id)
    if not problems and not isinstance(actor, Tenant):
        problems.add("role")
    problems |= set() if isinstance(result, UploadResult) else {"result"}
    problems |= {"file_size"} if size is not None and bad_whole_number(size, 1, MAX_FILE_SIZE) else set()
    problems |= {"file_md5"} if md5 is not None and canonical_md5(md5) is None else set()
    problems |= {"file_name"} if RULES["file_name"].refuses_optional(name) else set()
    problems |= {"file_id"} if bad_id(file_id) else set()
    outcome = arena.attempt(
        partial(
            arena.lifecycle.confirm_upload,
            actor,
            asset_id,
            file_id,
            result,
            file_size=size,
            file_md5=md5,
            file_name=name,
            reason=reason,
            request_id=request_id,
        )
    )
    # A file confirmed already is refused as invalid by what is stored ("not awaiting upload").
    outcome.expect(problems, state_dependent=frozenset({"file_id"}))
