"""What callers hand the engine, and the field rules checked before anything is written.

Every check raises ``InvalidParameter`` naming the field; values come back canonical (the MD5 as
documented, 24 characters of base64; the file type from the name's extension when not given).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.billing import IMAGE_MODEL_TYPES, TIMBRE_MODEL_CATEGORY
from lifecycle.clock import LATEST_TIME, as_utc
from lifecycle.definition import FILE_CATEGORIES, AssetType, FailType, FileCategory, PlannedOperation
from lifecycle.errors import InvalidParameter

MAX_FILE_SIZE = 5_368_709_120
MAX_NAME = 128
MAX_DESCRIPTION = 1024
MAX_TAGS = 20
MAX_TAG = 64
MAX_ID = 64
MAX_REASON = 1024
MAX_FILES = 100
MAX_ACTOR = 128
MAX_REQUEST_ID = 128
MAX_BLOCK_REASON_CODE = 64
MAX_PAGE = 1000
"""Items a listing answers at most per page."""
MAX_OFFSET = 2**31 - 1
MAX_BATCH = 1000
"""Assets a batch action takes at most."""
ORDER_COLUMNS = ("create_time", "update_time", "asset_order")
"""What a listing may be sorted by (``asset_order``: the order a tenant gave; assets without one
after those with one, and the newest first among equals, as the platform documents it)."""

T = TypeVar("T")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HEX_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_FILE_TYPE = re.compile(r"[A-Za-z0-9]{1,32}")
_CHINESE = re.compile(
    r"[\u2e80-\u2fdf\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: what one line of
text may not hold."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BIDI_CONTROL = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
"""Bidirectional embeddings, overrides and isolates: invisible, and they reorder how the text
around them is displayed ("invoice\u202egpj.exe" shows as "invoiceexe.jpg"). Right-to-left text
needs none of them; the marks (U+200E, U+200F, U+061C) stay allowed."""
MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 64 * 1024
"""``asset_extra_meta``, and ``system_properties`` as a whole, each at most 64 KiB as compact JSON
(UTF-8, no spaces): room for hundreds of properties, while every read of an asset and every
listing page carries them (a page of 50 assets at both limits is 6.4 MiB)."""


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file declared when its asset is created (or later, ``Lifecycle.declare_file``); its upload
    is confirmed later."""

    file_name: str
    file_size: int
    file_md5: str
    asset_file_category: FileCategory = FileCategory.MAIN
    file_type: str | None = None
    timbre_model: bool = False
    """One of the timbre models of a customized image model (an OTHER file): not billed."""


@dataclass(frozen=True, slots=True)
class AutoOperation:
    """``auto_operation_config``: the system will BLOCK or DELETE the asset at ``operation_time``."""

    operation: PlannedOperation
    operation_time: datetime


@dataclass(frozen=True, slots=True)
class NewAsset:
    """An asset to create. Files declared with it: exactly one MAIN, others as the asset type
    allows; or none, each declared later (``Lifecycle.declare_file``) while it is CREATING."""

    asset_name: str
    asset_type: AssetType
    files: Sequence[NewFile] = ()
    asset_description: str = ""
    tags: Sequence[str] = ()
    activate_on_upload: bool | None = None
    """ACTIVED instead of UNACTIVED once the MAIN file is accepted; None takes the engine's setting."""
    review_required: bool = False
    """The uploaded MAIN file waits for a review verdict before it is accepted."""
    auto_operation: AutoOperation | None = None
    asset_extra_meta: Mapping[str, Any] | None = None
    system_properties: Sequence[Mapping[str, Any]] = ()
    asset_order: int | None = None
    app_user_id: str | None = None
    customized: bool = False
    """Made by the platform to the tenant's order (docs/billing.md): a customized image model's
    timbre models are not billed, and a customized video is free for its first months. Only the
    platform may create a customized asset (``create_asset(platform, new, project_id=...)``)."""


@dataclass(frozen=True, slots=True)
class CheckedFile:
    file_name: str
    file_size: int
    file_md5: str
    file_type: str
    asset_file_category: FileCategory
    timbre_model: bool


@dataclass(frozen=True, slots=True)
class CheckedAsset:
    asset_name: str
    asset_type: AssetType
    asset_description: str
    tags: tuple[str, ...]
    files: tuple[CheckedFile, ...]
    review_required: bool
    activate_on_upload: bool | None
    auto_operation: AutoOperation | None
    asset_extra_meta: dict[str, Any] | None
    system_properties: list[dict[str, Any]]
    asset_order: int | None
    app_user_id: str | None
    customized: bool


_VALID_ACTORS: dict[Actor, None] = {}
"""Actors already checked (they are frozen): a service asks for the same few over and over."""
_MAX_VALID_ACTORS = 4096


def check_actor(actor: object) -> Actor:
    """An actor the engine can put in its audit trail, or ``InvalidParameter``."""
    try:
        if actor in _VALID_ACTORS:
            return actor
    except TypeError:  # unhashable: a field holds what no actor may; checked below
        pass
    checked = _checked_actor(actor)
    if len(_VALID_ACTORS) >= _MAX_VALID_ACTORS:
        _VALID_ACTORS.clear()
    _VALID_ACTORS[checked] = None
    return checked


def _checked_actor(actor: object) -> Actor:
    if isinstance(actor, Tenant):
        check_id(actor.project_id, "project_id")
        check_app_user_id(actor.app_user_id)
    elif isinstance(actor, Platform):
        _check_actor_name(actor.operator, "operator")
    elif isinstance(actor, System):
        _check_actor_name(actor.name, "system name")
    else:
        raise InvalidParameter("actor", "must be a Tenant, a Platform or the System")
    return actor


def _check_actor_name(value: object, name: str) -> None:
    text = check_text(value, name, minimum=1, maximum=MAX_ACTOR)
    if _CONTROL.search(text):
        raise InvalidParameter(name, "must not contain control characters")


def check_request_id(request_id: object) -> str | None:
    if request_id is None:
        return None
    return check_line(request_id, "request_id", maximum=MAX_REQUEST_ID)


def check_fail_type(fail_type: object) -> FailType | None:
    if fail_type is not None and not isinstance(fail_type, FailType):
        raise InvalidParameter("fail_type", "must be AUTOMATIC_REVIEW_REJECT or MANUAL_REVIEW_REJECT")
    return fail_type


def check_block_reason_code(code: object) -> str | None:
    if code is None:
        return None
    return check_line(code, "block_reason_code", maximum=MAX_BLOCK_REASON_CODE)


def check_version(version: object) -> int | None:
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise InvalidParameter("expected_version", "must be a positive whole number")
    return version


def check_page(limit: object, offset: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidParameter("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidParameter("offset", f"must be a whole number from 0 to {MAX_OFFSET}")


def check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameter(name, "must be true or false")
    return value


def check_members(values: object, kind: type[T], name: str, *, maximum: int | None = None) -> list[T]:
    """A list or tuple whose members are all ``kind``, as a list."""
    if not isinstance(values, list | tuple) or not all(isinstance(v, kind) for v in values):
        raise InvalidParameter(name, f"must be a list of {kind.__name__}")
    if maximum is not None and len(values) > maximum:
        raise InvalidParameter(name, f"must hold at most {maximum} items")
    return list(values)


def check_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID or not _ID.fullmatch(value):
        raise InvalidParameter(name, f"must be 1-{MAX_ID} letters, digits, '_', '-' or '.'")
    return value


def check_app_user_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise InvalidParameter("app_user_id", f"must be 1-{MAX_ID} characters")
    check_storable(value, "app_user_id")
    if _CHINESE.search(value):
        raise InvalidParameter("app_user_id", "must not contain Chinese characters")
    if _CONTROL.search(value):
        raise InvalidParameter("app_user_id", "must not contain control characters")
    return value


def check_text(value: object, name: str, *, minimum: int, maximum: int) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(name, "must be text")
    if not minimum <= len(value) <= maximum:
        raise InvalidParameter(name, f"must be {minimum}-{maximum} characters, not {len(value)}")
    return check_storable(value, name)


def check_storable(value: str, name: str) -> str:
    """Text every backend stores and gives back exactly, and that displays as what it says.

    NUL: PostgreSQL's text cannot hold it (SQLite can: the two would differ). A lone surrogate is
    not a character and cannot be encoded as UTF-8 for any database, file or terminal. Bidi
    embeddings, overrides and isolates make the text display as something else than it is.
    """
    if "\x00" in value:
        raise InvalidParameter(name, "must not contain NUL (\\x00): PostgreSQL text cannot hold it")
    if _SURROGATE.search(value):
        raise InvalidParameter(name, "must be valid Unicode: no lone surrogates (U+D800-U+DFFF)")
    if _BIDI_CONTROL.search(value):
        raise InvalidParameter(
            name,
            "must not contain bidirectional embedding, override or isolate characters"
            " (U+202A-U+202E, U+2066-U+2069): they disguise how the text reads",
        )
    return value


def check_reason(value: object) -> str | None:
    if value is None:
        return None
    return check_line(value, "reason", maximum=MAX_REASON)


def check_line(value: object, name: str, *, maximum: int) -> str:
    """One line of text: no control characters (a newline or an escape sequence in a reason
    would reach the terminal of the operator reading the audit trail)."""
    text = check_text(value, name, minimum=1, maximum=maximum)
    if _CONTROL.search(text):
        raise InvalidParameter(name, "must be one line without control characters")
    return text


def canonical_md5(value: object) -> str:
    """The MD5 as the platform documents it: 24 characters of base64. Hex (32 digits) is accepted."""
    if isinstance(value, str) and _HEX_MD5.fullmatch(value):
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    if isinstance(value, str) and len(value) == 24:
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) == 16:
            return base64.b64encode(digest).decode("ascii")
    raise InvalidParameter("file_md5", "must be an MD5 digest: 24 characters of base64 or 32 hex digits")


def check_file_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_FILE_SIZE:
        raise InvalidParameter("file_size", f"must be a whole number of bytes from 1 to {MAX_FILE_SIZE}")
    return value


def check_file_name(value: object) -> str:
    name = check_text(value, "file_name", minimum=1, maximum=256)
    if _CONTROL.search(name) or "/" in name or "\\" in name:
        raise InvalidParameter("file_name", "must not contain control characters or path separators")
    return name


def check_file(new_file: NewFile, asset_type: AssetType) -> CheckedFile:
    name = check_file_name(new_file.file_name)
    if not isinstance(new_file.asset_file_category, FileCategory):
        raise InvalidParameter("asset_file_category", "must be a FileCategory")
    allowed = FILE_CATEGORIES[asset_type]
    if new_file.asset_file_category not in allowed:
        names = ", ".join(c.value for c in FileCategory if c in allowed)
        category = new_file.asset_file_category.value
        raise InvalidParameter(
            "asset_file_category",
            f"{category} is not a file category of {asset_type.value} (allowed: {names})",
        )
    file_type = new_file.file_type
    if file_type is None:
        file_type = name.rsplit(".", 1)[1] if "." in name.strip(".") else "bin"
    if not isinstance(file_type, str) or not _FILE_TYPE.fullmatch(file_type):
        raise InvalidParameter("file_type", "must be 1-32 letters or digits")
    if not isinstance(new_file.timbre_model, bool):
        raise InvalidParameter("timbre_model", "must be true or false")
    return CheckedFile(
        file_name=name,
        file_size=check_file_size(new_file.file_size),
        file_md5=canonical_md5(new_file.file_md5),
        file_type=file_type.lower(),
        asset_file_category=new_file.asset_file_category,
        timbre_model=new_file.timbre_model,
    )


def _check_timbre_models(files: Sequence[CheckedFile], asset_type: AssetType, customized: bool) -> None:
    """Only a customized image model has timbre models, declared among its OTHER files."""
    marked = [f for f in files if f.timbre_model]
    if not marked:
        return
    kinds = " or ".join(sorted(kind.value for kind in IMAGE_MODEL_TYPES))
    if asset_type not in IMAGE_MODEL_TYPES or not customized:
        raise InvalidParameter(
            "timbre_model", f"only a customized image model ({kinds}, customized) has timbre models"
        )
    wrong = [f.file_name for f in marked if f.asset_file_category is not TIMBRE_MODEL_CATEGORY]
    if wrong:
        category = TIMBRE_MODEL_CATEGORY.value
        raise InvalidParameter(
            "timbre_model", f"{wrong[0]!r} is not an {category} file, as a timbre model is declared"
        )


def _json_ready(value: object, name: str) -> Any:
    """``value`` as the JSON data that will be stored, checked: what is checked is a plain copy
    (dicts, lists, str, int, float, bool, None), and the copy is what is encoded and stored, so
    nothing a container hides from one reading (a dict subclass whose iteration differs from what
    ``json`` encodes) gets past the checks. At most ``MAX_JSON_BYTES`` as compact JSON."""
    plain = _plain_json(value, name, 0, _Budget(name))
    try:
        encoded = json.dumps(plain, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:  # an integer too long for text, for one
        raise InvalidParameter(name, f"must be JSON data ({error})") from None
    size = len(encoded.encode("utf-8"))
    if size > MAX_JSON_BYTES:
        raise InvalidParameter(name, f"must be at most {MAX_JSON_BYTES} bytes as compact JSON, not {size}")
    return json.loads(encoded)


class _Budget:
    """A running lower bound on the encoded size, so that a huge value is refused after reading
    at most about ``MAX_JSON_BYTES`` of it, not all of it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.spent = 0

    def spend(self, size: int) -> None:
        self.spent += size
        if self.spent > MAX_JSON_BYTES:
            raise InvalidParameter(self.name, f"must be at most {MAX_JSON_BYTES} bytes as compact JSON")


def _plain_json(value: object, name: str, level: int, budget: _Budget) -> Any:
    """A plain copy of JSON data. Keys are text (JSON would turn ``1`` into ``"1"``, or two keys
    into one), every string is storable text, and containers nest at most ``MAX_JSON_DEPTH``
    levels (deeper JSON would reach Python's recursion limit at a depth that depends on the
    caller's stack). Containers are read as ``json`` reads them: a dict's or a list's own items,
    whatever a subclass's iteration says."""
    if not isinstance(value, dict | list | tuple):
        return _plain_scalar(value, name, budget)
    if level >= MAX_JSON_DEPTH:
        raise InvalidParameter(name, f"must be JSON data nested at most {MAX_JSON_DEPTH} levels deep")
    budget.spend(2)
    if isinstance(value, dict):
        copy: dict[str, Any] = {}
        for key, item in dict.items(value):
            if not isinstance(key, str):
                raise InvalidParameter(name, f"must be JSON data: keys are text, not {type(key).__name__}")
            budget.spend(2 if copy else 1)  # the colon, and the comma before all but the first
            key_text = _plain_scalar(key, name, budget)
            if key_text in copy:  # two str subclasses that read as one key
                raise InvalidParameter(name, f"must be JSON data: the key {key_text!r} is given twice")
            copy[key_text] = _plain_json(item, name, level + 1, budget)
        return copy
    items: list[Any] = []
    for item in list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value):
        budget.spend(1 if items else 0)  # the comma before all but the first
        items.append(_plain_json(item, name, level + 1, budget))
    return items


def _plain_scalar(value: object, name: str, budget: _Budget) -> Any:
    """A JSON scalar as its plain value: subclasses of str, int and float are read as their base
    value, as ``json`` encodes them (not as their ``__str__`` says)."""
    if value is None:
        budget.spend(4)
        return None
    if isinstance(value, bool):
        budget.spend(4)
        return value is True
    if isinstance(value, str):
        budget.spend(len(value) + 2)  # characters: at most its UTF-8 bytes
        return check_storable(str.__str__(value), name)
    if isinstance(value, int):
        budget.spend(1)
        return int.__int__(value)
    if isinstance(value, float):
        budget.spend(1)
        number = float.__float__(value)
        if not math.isfinite(number):
            raise InvalidParameter(name, f"must be JSON data: {number} has no JSON spelling")
        return number
    kinds = "objects, arrays, text, numbers, booleans, null"
    raise InvalidParameter(name, f"must be JSON data ({kinds}), not {type(value).__name__}")


def _check_auto_operation(auto: object, now: datetime) -> AutoOperation | None:
    if auto is None:
        return None
    if not isinstance(auto, AutoOperation) or not isinstance(auto.operation, PlannedOperation):
        raise InvalidParameter("auto_operation_config.operation", "must be BLOCK or DELETE")
    if not isinstance(auto.operation_time, datetime):
        raise InvalidParameter("auto_operation_config.operation_time", "must be a timezone-aware datetime")
    when = as_utc(auto.operation_time, "auto_operation_config.operation_time")
    if when <= now:
        raise InvalidParameter("auto_operation_config.operation_time", "must be in the future")
    if when >= LATEST_TIME:
        raise InvalidParameter(
            "auto_operation_config.operation_time",
            f"must be before {LATEST_TIME.isoformat()}, the end of the times the engine supports",
        )
    return AutoOperation(auto.operation, when)


def check_asset_name(value: object) -> str:
    name = check_text(value, "asset_name", minimum=1, maximum=MAX_NAME)
    if _CONTROL.search(name):
        raise InvalidParameter("asset_name", "must not contain control characters")
    return name


def check_description(value: object) -> str:
    return check_text(value, "asset_description", minimum=0, maximum=MAX_DESCRIPTION)


def check_tags(value: object) -> tuple[str, ...]:
    raw_tags = check_members(value, str, "tags", maximum=MAX_TAGS)
    return tuple(check_line(tag, "tags", maximum=MAX_TAG) for tag in raw_tags)


def check_new_asset(new: NewAsset, now: datetime) -> CheckedAsset:
    if not isinstance(new, NewAsset):
        raise InvalidParameter("asset", "must be a NewAsset")
    if not isinstance(new.asset_type, AssetType):
        raise InvalidParameter("asset_type", "must be an AssetType")
    name = check_asset_name(new.asset_name)
    description = check_description(new.asset_description)
    tags = check_tags(new.tags)
    declared = check_members(new.files, NewFile, "files", maximum=MAX_FILES)
    files = tuple(check_file(f, new.asset_type) for f in declared)
    for flag, value in (
        ("review_required", new.review_required),
        ("activate_on_upload", new.activate_on_upload),
        ("customized", new.customized),
    ):
        if not isinstance(value, bool) and not (flag == "activate_on_upload" and value is None):
            raise InvalidParameter(flag, "must be true or false")
    mains = sum(f.asset_file_category is FileCategory.MAIN for f in files)
    if files and mains != 1:
        raise InvalidParameter(
            "files", f"must declare exactly one MAIN file (or no file, to declare each later), not {mains}"
        )
    lowered = [f.file_name.lower() for f in files]
    if len(set(lowered)) != len(lowered):
        raise InvalidParameter("file_name", "file names of one asset must differ (case-insensitively)")
    _check_timbre_models(files, new.asset_type, new.customized)
    auto = _check_auto_operation(new.auto_operation, now)
    if new.asset_extra_meta is not None and not isinstance(new.asset_extra_meta, Mapping):
        raise InvalidParameter("asset_extra_meta", "must be an object")
    extra_meta = (
        None if new.asset_extra_meta is None else _json_ready(dict(new.asset_extra_meta), "asset_extra_meta")
    )
    raw_properties = new.system_properties
    if not isinstance(raw_properties, list | tuple) or not all(
        isinstance(p, Mapping) for p in raw_properties
    ):
        raise InvalidParameter("system_properties", "must be a list of objects")
    properties = _json_ready([dict(p) for p in raw_properties], "system_properties")
    order = new.asset_order
    if order is not None and (
        isinstance(order, bool) or not isinstance(order, int) or not 0 <= order < 2**31
    ):
        raise InvalidParameter("asset_order", "must be a whole number from 0 to 2147483647")
    return CheckedAsset(
        asset_name=name,
        asset_type=new.asset_type,
        asset_description=description,
        tags=tags,
        files=files,
        review_required=new.review_required,
        activate_on_upload=new.activate_on_upload,
        auto_operation=auto,
        asset_extra_meta=extra_meta,
        system_properties=properties,
        asset_order=order,
        app_user_id=check_app_user_id(new.app_user_id),
        customized=new.customized,
    )
