"""The audit trail's hash chain: what each audit row's hash covers, and how it is computed.

Each audit row's ``chain_hash`` is the SHA-256 of the previous row's hash (of the same asset; the
empty string before the first) and the row's content, as canonical JSON. The asset row keeps the
latest hash (``audit_head``). Editing a row breaks its hash; deleting one leaves a gap in ``seq``
and breaks the hash of the row after it; deleting the latest is seen against ``audit_head`` and
the asset's ``version``. The chain carries no secret: it proves that rows were not changed one by
one, not that nobody rewrote a whole chain (keep ``audit verify --json``'s heads elsewhere for that).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

HASHED_COLUMNS = (
    "asset_id",
    "project_id",
    "seq",
    "event",
    "from_state",
    "to_state",
    "actor_kind",
    "actor_id",
    "reason",
    "fail_type",
    "request_id",
    "occurred_at",
    "pre_freeze_state",
    "pre_delete_state",
)
"""The audit columns every row's hash covers, in the order they are hashed."""

RECORDED_COLUMNS = ("block_scope", "block_reason_code", "declared")
"""Audit columns added by revision 0005, set only on the rows they concern (a freeze's scope and
code, a creation's declarations): a row's hash covers those of them that are not NULL, so the
rows written before them keep their hashes."""

GENESIS = ""
"""The 'previous hash' of an asset's first audit row."""


def canonical(value: Any) -> Any:
    """A value as the chain hashes it: enums by value, times in UTC to the microsecond."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def chain_hash(previous: str, row: Mapping[str, Any]) -> str:
    """The hash of an audit row (``row`` maps each of ``HASHED_COLUMNS``, and any of
    ``RECORDED_COLUMNS``, to its value)."""
    content: list[Any] = [previous, *(canonical(row[name]) for name in HASHED_COLUMNS)]
    recorded = {name: canonical(row[name]) for name in RECORDED_COLUMNS if row.get(name) is not None}
    if recorded:
        content.append(recorded)
    encoded = json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(encoded).hexdigest()


DECLARED_ASSET_COLUMNS = (
    "asset_type",
    "activate_on_upload",
    "review_required",
    "customized",
    "upload_deadline",
    "planned_operation",
    "planned_operation_time",
)
"""What a creation sets that later moves (or storage billing) depend on and no move records."""

DECLARED_FILE_COLUMNS = (
    "file_id",
    "position",
    "file_name",
    "file_md5",
    "file_size",
    "file_type",
    "asset_file_category",
    "timbre_model",
)
"""A file's declaration: fixed at its asset's creation, never changed."""


def declared_json(asset: Mapping[str, Any], files: Sequence[Mapping[str, Any]]) -> str:
    """The creation row's ``declared`` column: canonical JSON of what the creation declared."""
    declared = {
        **{name: canonical(asset[name]) for name in DECLARED_ASSET_COLUMNS},
        "files": [{name: canonical(f[name]) for name in DECLARED_FILE_COLUMNS} for f in files],
    }
    return json.dumps(declared, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
