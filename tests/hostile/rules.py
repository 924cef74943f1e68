"""The rules, written down again: which input each operation must refuse.

Written from the documented limits, independently of lifecycle/inputs.py: a test that asked the
library what it accepts would prove nothing. ``Rule`` and ``RULES`` hold the text fields' limits,
``unstorable`` and ``breaks_the_line`` what no text (or no one-line text) may hold, and the
``*_problems`` functions name the arguments of one call that these rules refuse.

Helpers the tests call keep the names they had, leading underscore included: with
``derandomize=True`` Hypothesis seeds each test from its source, so renaming a helper inside a
test would change the examples it draws.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lifecycle.actors import Platform, System, Tenant
from lifecycle.definition import FILE_CATEGORIES, AssetType, FileCategory, PlannedOperation
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from tests.conftest import START

MAX_FILE_SIZE = 5_368_709_120
MAX_JSON_LEVELS = 32
MAX_JSON_BYTES = 64 * 1024
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


# Text and values ----------------------------------------------------------------------------------

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
CHINESE = (
    (0x2E80, 0x2FDF),
    (0x3000, 0x303F),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
)
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def unstorable(value: str) -> bool:
    """What no text field may hold: NUL (PostgreSQL cannot store it), lone surrogates (not UTF-8),
    bidi embeddings, overrides and isolates (they disguise what the text says)."""
    return any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF or c in BIDI_CONTROLS for c in value)


def breaks_the_line(value: str) -> bool:
    """Control characters (C0, DEL, C1) and the line and paragraph separators."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


def chinese(value: str) -> bool:
    return any(low <= ord(c) <= high for c in value for low, high in CHINESE)


def path_separator(value: str) -> bool:
    return "/" in value or "\\" in value


@dataclass(frozen=True)
class Rule:
    """A text field's documented limits."""

    minimum: int
    maximum: int
    one_line: bool = True
    forbidden: Callable[[str], bool] | None = None

    def refuses(self, value: object) -> bool:
        if not isinstance(value, str):
            return True
        return (
            not self.minimum <= len(value) <= self.maximum
            or unstorable(value)
            or (self.one_line and breaks_the_line(value))
            or (self.forbidden is not None and self.forbidden(value))
        )

    def refuses_optional(self, value: object) -> bool:
        return value is not None and self.refuses(value)


RULES = {
    "asset_name": Rule(1, 128),
    "asset_description": Rule(0, 1024, one_line=False),
    "tags": Rule(1, 64),
    "file_name": Rule(1, 256, forbidden=path_separator),
    "reason": Rule(1, 1024),
    "request_id": Rule(1, 128),
    "block_reason_code": Rule(1, 64),
    "operator": Rule(1, 128),
    "system name": Rule(1, 128),
    "app_user_id": Rule(1, 64, forbidden=chinese),
}
LIMITS = sorted({rule.maximum for rule in RULES.values()} | {64})


def bad_id(value: object) -> bool:
    return not isinstance(value, str) or not ID.fullmatch(value)


def bad_whole_number(value: object, low: int, high: float = math.inf) -> bool:
    return isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high


def actor_problems(actor: object) -> set[str]:
    """The fields an actor would be refused for (empty: a well-formed actor)."""
    if isinstance(actor, Tenant):
        problems = {"project_id"} if bad_id(actor.project_id) else set()
        return problems | (
            {"app_user_id"} if RULES["app_user_id"].refuses_optional(actor.app_user_id) else set()
        )
    if isinstance(actor, Platform):
        return {"operator"} if RULES["operator"].refuses(actor.operator) else set()
    if isinstance(actor, System):
        return {"system name"} if RULES["system name"].refuses(actor.name) else set()
    return {"actor"}


def json_refused(value: object, level: int = 0) -> bool:  # noqa: PLR0911 - one answer per JSON kind
    """Not JSON data this engine stores as given: non-text keys, unstorable strings, values JSON
    has no spelling for, or containers nested more than 32 levels."""
    if value is None or isinstance(value, bool | int):
        return False
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, list | dict) and level >= MAX_JSON_LEVELS:
        return True
    if isinstance(value, list):
        return any(json_refused(item, level + 1) for item in value)
    if isinstance(value, dict):
        return any(
            not isinstance(key, str) or unstorable(key) or json_refused(item, level + 1)
            for key, item in value.items()
        )
    return True


def json_too_big(value: object) -> bool:
    """Longer than 64 KiB as compact JSON in UTF-8 (for data ``json_refused`` accepts)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) > MAX_JSON_BYTES


def canonical_md5(value: object) -> str | None:
    """The documented MD5 forms (32 hex digits, or 24 characters of base64 of 16 bytes), as the
    engine gives them back (base64); None for anything else."""
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"[0-9a-fA-F]{32}", value):
        return base64.b64encode(bytes.fromhex(value)).decode()
    if len(value) == 24:
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        return base64.b64encode(digest).decode() if len(digest) == 16 else None
    return None


def file_type_of(new_file: NewFile) -> str | None:
    """The documented file type: the one given, else the name's extension, else ``bin``; None
    when it is not 1-32 letters or digits."""
    given = new_file.file_type
    if given is None:
        name = new_file.file_name
        given = name.rsplit(".", 1)[1] if isinstance(name, str) and "." in name.strip(".") else "bin"
    if isinstance(given, str) and re.fullmatch(r"[A-Za-z0-9]{1,32}", given):
        return given.lower()
    return None


# The arguments of one call ------------------------------------------------------------------------


def creation_problems(actor: object, new: NewAsset, request_id: object) -> set[str]:  # noqa: PLR0912
    """Every field of ``new`` that the documented rules refuse ("role": the actor is not a tenant)."""
    problems = actor_problems(actor)
    if not problems and isinstance(actor, System):
        problems.add("role")
    if not problems and isinstance(actor, Platform):
        problems.add("project_id")  # the platform names the tenant it creates for
    if RULES["request_id"].refuses_optional(request_id):
        problems.add("request_id")
    if not isinstance(new, NewAsset):
        return problems | {"asset"}
    valid_type = isinstance(new.asset_type, AssetType)
    if not valid_type:
        problems.add("asset_type")
    for name in ("asset_name", "asset_description"):
        if RULES[name].refuses(getattr(new, name)):
            problems.add(name)
    tags = new.tags
    if (
        not isinstance(tags, list | tuple)
        or len(tags) > 20
        or any(RULES["tags"].refuses(tag) for tag in tags)
    ):
        problems.add("tags")
    declared = new.files
    if not isinstance(declared, list | tuple) or not all(isinstance(f, NewFile) for f in declared):
        problems.add("files")
        declared = []
    elif len(declared) > 100:
        problems.add("files")
    for f in declared:
        problems |= {"file_name"} if RULES["file_name"].refuses(f.file_name) else set()
        if not isinstance(f.asset_file_category, FileCategory) or (
            valid_type and f.asset_file_category not in FILE_CATEGORIES[new.asset_type]
        ):
            problems.add("asset_file_category")
        if file_type_of(f) is None:
            problems.add("file_type")
        if bad_whole_number(f.file_size, 1, MAX_FILE_SIZE):
            problems.add("file_size")
        if canonical_md5(f.file_md5) is None:
            problems.add("file_md5")
    if declared and sum(f.asset_file_category is FileCategory.MAIN for f in declared) != 1:
        problems.add("files")  # none at all is valid: each is declared later (declare_file)
    names = [f.file_name.lower() for f in declared if isinstance(f.file_name, str)]
    if len(set(names)) != len(names):
        problems.add("file_name")
    if not isinstance(new.review_required, bool):
        problems.add("review_required")
    if new.activate_on_upload is not None and not isinstance(new.activate_on_upload, bool):
        problems.add("activate_on_upload")
    problems |= auto_operation_problems(new.auto_operation)
    meta = new.asset_extra_meta
    if meta is not None and (not isinstance(meta, dict) or json_refused(meta) or json_too_big(meta)):
        problems.add("asset_extra_meta")
    properties = new.system_properties
    if (
        not isinstance(properties, list | tuple)
        or not all(isinstance(p, dict) for p in properties)
        or json_refused(list(properties))
        or json_too_big(list(properties))
    ):
        problems.add("system_properties")
    if new.asset_order is not None and bad_whole_number(new.asset_order, 0, 2**31 - 1):
        problems.add("asset_order")
    if RULES["app_user_id"].refuses_optional(new.app_user_id):
        problems.add("app_user_id")
    return problems


def auto_operation_problems(auto: object) -> set[str]:
    if auto is None:
        return set()
    if not isinstance(auto, AutoOperation) or not isinstance(auto.operation, PlannedOperation):
        return {"auto_operation_config.operation"}
    when = auto.operation_time
    if not isinstance(when, datetime) or when.utcoffset() is None:
        return {"auto_operation_config.operation_time"}
    try:
        in_utc = when.astimezone(UTC)
    except OverflowError:
        return {"auto_operation_config.operation_time"}
    return set() if START < in_utc < LATEST_TIME else {"auto_operation_config.operation_time"}


def _common_problems(
    actor: object, asset_id: object, reason: object, request_id: object, version: object = None
) -> set[str]:
    problems = actor_problems(actor) | ({"asset_id"} if bad_id(asset_id) else set())
    problems |= {
        n for n, v in (("reason", reason), ("request_id", request_id)) if RULES[n].refuses_optional(v)
    }
    return problems | (
        {"expected_version"} if version is not None and bad_whole_number(version, 1) else set()
    )


def _page_problems(limit: object, offset: object) -> set[str]:
    problems = {"limit"} if bad_whole_number(limit, 1, 1000) else set()
    return problems | ({"offset"} if bad_whole_number(offset, 0, 2**31 - 1) else set())


def _members_problem(values: object, kind: type, name: str) -> set[str]:
    if not isinstance(values, list | tuple) or not all(isinstance(v, kind) for v in values):
        return {name}
    return set()


def _as_of_problems(as_of: object) -> set[str]:
    """None is now; else an aware time not later than now (START), nor earlier than 1970."""
    if as_of is None:
        return set()
    if not isinstance(as_of, datetime) or as_of.utcoffset() is None:
        return {"as_of"}
    try:
        in_utc = as_of.astimezone(UTC)
    except OverflowError:
        return {"as_of"}
    return set() if EARLIEST_TIME <= in_utc <= START else {"as_of"}
