"""Hostile input over every public operation of ``Lifecycle`` and every command of the admin script.

Hypothesis draws wrong types, ids of every kind (missing, another tenant's, hostile strings),
hostile text (quotes, SQL, ``%`` and ``_``, NUL and other control characters, text at and past
every documented limit, emoji and their ZWJ sequences, right-to-left text, bidi overrides,
combining marks, lone surrogates), times, expected versions, page bounds and batch lists. For every
input, on SQLite and on PostgreSQL:

* the only exceptions are ``LifecycleError``s, and never ``StoreUnavailable``: bad input is refused
  before the database sees it. The admin script: an exit code from its documented table other
  than 1, and on failure exactly one line ``error CODE: message`` on stderr, no traceback;
* a refusal writes nothing: the row counts of the four tables and every row of the assets the
  example could touch are as they were;
* text comes back exactly as given, or is refused with ``InvalidParameter`` naming the field.

Which text is refused is written down again here (``RULES``, ``unstorable``, ``breaks_the_line``)
from the documented limits, independently of lifecycle/inputs.py: a test that asked the library
what it accepts would prove nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import Engine, func, select, text

from lifecycle.actors import Platform, System, Tenant
from lifecycle.cli import ExitCode
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    FILE_CATEGORIES,
    ApplicationState,
    AssetState,
    AssetType,
    BatchAction,
    Event,
    FailType,
    FileCategory,
    PlannedOperation,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    ApplicationNotFound,
    AssetNotFound,
    FileNotFound,
    InvalidParameter,
    LifecycleError,
    PermissionDenied,
    StoreUnavailable,
)
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from lifecycle.results import Asset
from lifecycle.store.database import open_database
from lifecycle.store.models import applications, assets, audit, files
from lifecycle.sweeps import SweepListener
from tests.conftest import MD5, START, TABLES, new_asset
from tests.test_cli import (  # noqa: F401 - fixtures used by name
    ADMIN_SCRIPT,
    _restore_logging,
    database_url,
)

HOSTILE = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
    # CI must answer the same for the same commit; a wider search is a run with this turned off.
    derandomize=True,
)
"""Examples per test are chosen so that this file runs in about a minute on SQLite."""

OWNER = Tenant("owner", app_user_id="owner-user")
INTRUDER = Tenant("intruder")
PLATFORM = Platform("operator-1")
MISSING = "00000000-0000-4000-8000-000000000000"
MAX_FILE_SIZE = 5_368_709_120
MAX_JSON_LEVELS = 32
MAX_JSON_BYTES = 64 * 1024
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


# The rules, written down again ------------------------------------------------------------------

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


# What Hypothesis draws ----------------------------------------------------------------------------

FRAGMENTS = (
    "'", '"', "`", "'; DROP TABLE lifecycle_assets; --", '" OR 1=1 --', "%", "_", "%_%", "\\", "\\%",
    "[%]", "*", "\x00", "\x01", "\x1b[2J", "\x1b]8;;http://x\x07", "\n", "\r\n", "\t", "\x7f", "\x85",
    "\x9b", "\u2028", "\u2029", "\u202e", "\u202d", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f",
    "\u061c", "\u200d", "\u200b", "\ufeff", "👩\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "👍🏽", "🇫🇷",
    "مرحبا", "שלום", "e\u0301", "Z\u0351\u0334\u0322", "\u0301", "\ud800", "\udfff", "\udcff",
    "丁", "中文", "𠀀", "\U0010ffff", "\uffff", "\ufffd", "ß", "İ", "ﬁ", " ", "  ", "/", ".", "..",
    "-", "a", "A", "1",
)  # fmt: skip
UNITS = ("x", "é", "😀", "\u0301", "中", "👩\u200d👩\u200d👧\u200d👦", "مرحبا ", "'%_")


def exactly(length: int, unit: str) -> str:
    """``length`` code points of ``unit`` repeated (a ZWJ sequence may be cut: still text)."""
    return (unit * (length // len(unit) + 1))[:length]


at_the_limits = st.builds(
    exactly,
    st.sampled_from(sorted({n + d for n in LIMITS for d in (-1, 0, 1)})),
    st.sampled_from(UNITS),
)
fragments = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=6).map("".join)
hostile_text = st.one_of(fragments, fragments, at_the_limits)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(max_size=4),
    st.just(["x"]),
    st.just({"x": 1}),
    st.just(object()),
)
hostile_or_junk = st.one_of(hostile_text, hostile_text, hostile_text, junk)
SAFE_FRAGMENTS = tuple(
    f for f in FRAGMENTS if f and not (unstorable(f) or breaks_the_line(f) or path_separator(f) or chinese(f))
)
safe_text = st.lists(
    st.one_of(
        st.sampled_from(SAFE_FRAGMENTS),
        st.text(
            st.characters(
                exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="/\\" + "".join(BIDI_CONTROLS)
            ),
            min_size=1,
            max_size=3,
        ).filter(lambda t: not chinese(t)),
    ),
    min_size=1,
    max_size=5,
).map("".join)
"""Text every field takes (one line, no path separator, no Chinese for app_user_id), and still
hostile: quotes, SQL, wildcards, emoji and ZWJ sequences, right-to-left text, combining marks."""
optional_text = st.one_of(st.none(), hostile_text, hostile_text, junk)
request_ids = st.one_of(st.none(), st.just("retry-1"), hostile_text, junk)
versions = st.one_of(
    st.none(),
    st.integers(-3, 12),
    st.sampled_from([2**31, 2**63, 2**64 + 1, 10**30, -(2**63)]),
    st.booleans(),
    st.floats(),
    st.sampled_from(["2", "1"]),
)
pages = st.one_of(st.integers(-2, 3), st.sampled_from([999, 1000, 1001, 2**31 - 1, 2**31, 2**63]), junk)
aware_times = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])),
    st.sampled_from(
        [
            datetime.max.replace(tzinfo=UTC),
            datetime.min.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=timezone(-timedelta(hours=23, minutes=59))),
            datetime.min.replace(tzinfo=timezone(timedelta(hours=23, minutes=59))),
            START,
            START + timedelta(microseconds=1),
            START - timedelta(days=1),
        ]
    ),
)
times = st.one_of(aware_times, aware_times, st.datetimes(), junk, st.just("2026-03-01T09:00:00Z"))


def valid_actors() -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [OWNER, Tenant("owner"), Tenant("owner", "someone"), INTRUDER, PLATFORM, System(), System("nightly")]
    )


hostile_actors = st.one_of(
    st.builds(Tenant, hostile_or_junk, st.one_of(st.none(), hostile_or_junk)),
    st.builds(
        Tenant, st.sampled_from(["owner", "owne_", "OWNER", "owner."]), st.one_of(st.none(), hostile_or_junk)
    ),
    st.builds(Platform, hostile_or_junk),
    st.builds(System, hostile_or_junk),
    junk,
    st.sampled_from([Tenant, "owner", Platform]),
)
actors = st.one_of(valid_actors(), valid_actors(), hostile_actors)


@dataclass(frozen=True)
class Pick:
    """Which arguments of an example are drawn hostile: none, one or two of them. The others are
    drawn well-formed (hostile text that every field takes), so that acceptance, and the exact
    round trip of what was accepted, are tested as often as refusal."""

    data: st.DataObject
    hostile: frozenset[str]

    @classmethod
    def of(cls, data: st.DataObject, names: Sequence[str]) -> Pick:
        if not names:
            return cls(data, frozenset())
        some = st.frozensets(st.sampled_from(names), min_size=1, max_size=2)
        return cls(data, data.draw(st.one_of(st.just(frozenset()), some), label="hostile"))

    def __call__(
        self, name: str, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = hostile_or_junk
    ) -> Any:
        return self.data.draw(bad if name in self.hostile else good, label=name)


# A world to act on -------------------------------------------------------------------------------


@dataclass(repr=False)
class World:
    """The owner's assets in each state that matters, and an intruder's (frozen, with its
    pending unfreeze application)."""

    creating: Asset
    unactived: Asset
    actived: Asset
    frozen: Asset
    binned: Asset
    theirs: Asset
    application: str
    their_application: str

    def __repr__(self) -> str:
        return f"World({', '.join(f'{a.asset_name}={a.asset_id}' for a in self.assets)})"

    @property
    def owners(self) -> list[str]:
        """The owner's assets."""
        return [asset.asset_id for asset in self.assets if asset.project_id == OWNER.project_id]

    @property
    def assets(self) -> list[Asset]:
        return [self.creating, self.unactived, self.actived, self.frozen, self.binned, self.theirs]

    @property
    def asset_ids(self) -> list[str]:
        return [asset.asset_id for asset in self.assets]

    @property
    def file_ids(self) -> list[str]:
        return [f.file_id for asset in self.assets for f in asset.files]

    def ids(self) -> st.SearchStrategy[Any]:
        """Ids of every kind: the world's, missing, look-alikes of the world's, hostile, not text."""
        real = self.asset_ids
        look_alikes = [
            variant
            for asset_id in real[:2]
            for variant in (
                asset_id.upper(),
                asset_id.replace("-", "_"),
                asset_id[:-1] + "_",
                asset_id[:-1] + "%",
                f" {asset_id}",
                f"{asset_id} ",
                f"{asset_id}\x00",
                f"{asset_id}'--",
                asset_id * 2,
                asset_id[:8],
            )
        ]
        fixed = [MISSING, "%", "_", "*", "' OR '1'='1", "a" * 64, "a" * 65, "", " ", ".", "-a", "a/b"]
        return st.one_of(
            st.sampled_from(real),
            st.sampled_from(real),
            st.sampled_from(look_alikes + fixed),
            hostile_text,
            junk,
        )

    def application_ids(self) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.sampled_from([self.application, self.their_application]),
            st.sampled_from([MISSING, self.application.upper(), self.application.replace("-", "_")]),
            st.sampled_from(self.asset_ids),
            hostile_text,
            junk,
        )


def seed(lifecycle: Lifecycle) -> World:
    def uploaded(tenant: Tenant, name: str) -> Asset:
        asset = lifecycle.create_asset(tenant, new_asset(name))
        lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        return asset

    creating = lifecycle.create_asset(OWNER, new_asset("creating"))
    unactived = uploaded(OWNER, "unactived")
    actived = uploaded(OWNER, "actived")
    lifecycle.activate(OWNER, actived.asset_id)
    frozen = uploaded(OWNER, "frozen")
    lifecycle.freeze(PLATFORM, frozen.asset_id)
    application = lifecycle.apply_for_unfreeze(OWNER, frozen.asset_id, reason="ours").application_id
    binned = uploaded(OWNER, "binned")
    lifecycle.delete(OWNER, binned.asset_id)
    theirs = uploaded(INTRUDER, "theirs")
    lifecycle.freeze(PLATFORM, theirs.asset_id)
    their_application = lifecycle.apply_for_unfreeze(INTRUDER, theirs.asset_id).application_id
    return World(creating, unactived, actived, frozen, binned, theirs, application, their_application)


Snapshot = tuple[tuple[int, ...], tuple[Any, ...]]


def snapshot(database: Engine, asset_ids: Sequence[str]) -> Snapshot:
    """The row count of each of the four tables, and every row of the given assets in each."""
    tables = (assets, files, audit, applications)
    with database.connect() as connection:
        counts = tuple(
            int(connection.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables
        )
        rows = tuple(
            tuple(
                connection.execute(
                    select(t).where(t.c.asset_id.in_(list(asset_ids))).order_by(*t.primary_key.columns)
                ).all()
            )
            for t in tables
        )
    return counts, rows


class Arena:
    """A seeded world, seeded again only after an example changed it. (Not a dataclass: Hypothesis
    would print every asset of the world with each failing example.)"""

    def __init__(self, lifecycle: Lifecycle, database: Engine) -> None:
        self.lifecycle = lifecycle
        self.database = database
        self._world: World | None = None

    def __repr__(self) -> str:
        return f"Arena({self.engine.url.get_backend_name()}, {self._world!r})"

    def world(self) -> World:
        if self._world is None:
            self._world = seed(self.lifecycle)
        return self._world

    def before(self) -> Snapshot:
        return snapshot(self.database, self.world().asset_ids)

    def after(self, before: Snapshot, *, refused: str | None) -> None:
        """A refusal wrote nothing; a move of the world's assets has the next example seed afresh."""
        now = snapshot(self.database, self.world().asset_ids)
        if refused is not None:
            assert now == before, f"refused ({refused}) but something was written"
        elif now[1] != before[1]:
            self._world = None

    def attempt(self, call: Callable[[], Any]) -> Outcome:
        """Run ``call``: a result, or a ``LifecycleError`` that is not ``StoreUnavailable`` and
        wrote nothing. Any other exception fails the test (Hypothesis shows the input)."""
        before = self.before()
        outcome = Outcome(None, None)
        try:
            outcome.result = call()
        except LifecycleError as error:
            outcome.error = error
        if isinstance(outcome.error, StoreUnavailable):
            raise AssertionError("bad input reached the database") from outcome.error
        self.after(before, refused=None if outcome.error is None else repr(outcome.error))
        return outcome


@dataclass
class Outcome:
    result: Any
    error: LifecycleError | None

    def expect(self, problems: set[str], *, state_dependent: frozenset[str] = frozenset()) -> None:
        """Invalid input is refused (with ``InvalidParameter`` naming one of the invalid fields, or
        earlier by a role check); valid input is never refused as invalid, except for the
        ``state_dependent`` fields, which the stored state can make invalid."""
        error = self.error
        if currently_in_test_context():  # for --hypothesis-show-statistics
            event("accepted" if error is None else f"refused: {type(error).__name__}")
        if problems:
            assert error is not None, f"accepted although {sorted(problems)} are invalid: {self.result!r}"
        if isinstance(error, InvalidParameter):
            field_name = error.field.split("[")[0]
            assert field_name in problems | state_dependent, f"{error} (invalid: {sorted(problems)})"
            assert str(error).startswith(f"invalid parameter {error.field}: ")
        looked_up = getattr(error, "file_id", None) or getattr(error, "application_id", None)
        looked_up = looked_up or getattr(error, "asset_id", None)
        if isinstance(error, AssetNotFound | ApplicationNotFound | FileNotFound):
            assert not bad_id(looked_up), f"a malformed id was looked up, not refused as invalid: {error}"


@pytest.fixture
def arena(lifecycle: Lifecycle) -> Arena:
    return Arena(lifecycle, lifecycle.database)


# Creation: every field of NewAsset and NewFile ----------------------------------------------------

md5s = st.one_of(
    st.sampled_from([MD5, MD5.upper(), "OLjCwQk93Q/Dg6nZrJQFFQ==", "OLjCwQk93Q/Dg6nZrJQFFR==", MD5[:-1]]),
    st.sampled_from(["OLjCwQk93Q/Dg6nZrJQFFQ=", "\u039fLjCwQk93Q/Dg6nZrJQFFQ==", "g" * 32, " " * 24]),
    hostile_or_junk,
)
sizes = st.one_of(
    st.integers(-2, 3),
    st.sampled_from([MAX_FILE_SIZE, MAX_FILE_SIZE + 1, 2**63, 31032142]),
    st.booleans(),
    st.floats(),
    st.just("12"),
)
file_types = st.one_of(
    st.none(), st.sampled_from(["bin", "PNG", "a" * 32, "a" * 33, "m p4", "\ufb01", ""]), junk
)
json_keys = st.one_of(safe_text, hostile_text, st.integers(), st.booleans(), st.none(), st.floats())
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, -0.0, 5e-324, 1.7976931348623157e308]),
    st.floats(),
    safe_text,
    hostile_text,
    st.sampled_from([b"bytes", {1, 2}, datetime(2026, 1, 1, tzinfo=UTC)]),
)


def nested(levels: int) -> Any:
    """JSON data ``levels`` containers deep: {"k": [[...["leaf"]...]]}."""
    value: Any = "leaf"
    for _ in range(levels - 1):
        value = [value]
    return {"k": value}


good_json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), safe_text
)


def json_objects(keys: st.SearchStrategy[Any], leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    values = st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3)
        ),
        max_leaves=6,
    )
    return st.dictionaries(keys, values, max_size=3)


good_json = json_objects(safe_text, good_json_leaves)
hostile_json = st.one_of(
    json_objects(json_keys, json_leaves),
    st.sampled_from(
        [nested(MAX_JSON_LEVELS), nested(MAX_JSON_LEVELS + 1), {"k": math.nan}, {1: "a", "1": "b"}]
    ),
    junk,
)


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
    elif not 1 <= len(declared) <= 100:
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
    if sum(f.asset_file_category is FileCategory.MAIN for f in declared) != 1:
        problems.add("files")
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


CREATION_FIELDS = (
    "asset_name", "asset_type", "files", "file_name", "file_size", "file_md5", "asset_file_category",
    "file_type", "asset_description", "tags", "activate_on_upload", "review_required", "auto_operation",
    "asset_extra_meta", "system_properties", "asset_order", "app_user_id",
)  # fmt: skip


def new_asset_from(pick: Pick) -> NewAsset:
    """A NewAsset whose picked fields are hostile and whose others are well-formed."""
    asset_type = pick(
        "asset_type",
        st.sampled_from([AssetType.HUMAN_MODEL, AssetType.VIDEO]),
        st.one_of(st.sampled_from(AssetType), junk),
    )

    def new_file(suffix: str, category: Any) -> NewFile:
        return NewFile(
            file_name=pick("file_name", safe_text.map(lambda t: t + suffix)),
            file_size=pick("file_size", st.sampled_from([1, 31032142, MAX_FILE_SIZE]), sizes),
            file_md5=pick("file_md5", st.sampled_from([MD5, "OLjCwQk93Q/Dg6nZrJQFFQ=="]), md5s),
            asset_file_category=pick(
                "asset_file_category", st.just(category), st.one_of(st.sampled_from(FileCategory), junk)
            ),
            file_type=pick("file_type", st.sampled_from([None, "bin", "MP4"]), file_types),
        )

    main = new_file(".bin", FileCategory.MAIN)
    cover = new_file(".png", FileCategory.COVER)
    files = pick(
        "files",
        st.sampled_from([[main], [main, cover], (main, cover)]),
        st.sampled_from(
            [[], [cover], [main, main], [main, "x"], "main.bin", None, [main] * 101, [main, cover, main]]
        ),
    )
    plan = st.builds(AutoOperation, st.sampled_from(PlannedOperation), times)
    return NewAsset(
        asset_name=pick("asset_name", safe_text),
        asset_type=asset_type,
        files=files,
        asset_description=pick(
            "asset_description", st.one_of(st.just(""), safe_text, safe_text.map(lambda t: f"{t}\n{t}\t"))
        ),
        tags=pick(
            "tags",
            st.lists(safe_text, max_size=3),
            st.one_of(
                st.lists(hostile_text, min_size=1, max_size=3),
                st.lists(st.just("t"), min_size=20, max_size=21),
                st.just("tag"),
                st.lists(junk, min_size=1, max_size=2),
            ),
        ),
        activate_on_upload=pick("activate_on_upload", st.one_of(st.none(), st.booleans()), junk),
        review_required=pick("review_required", st.booleans(), junk),
        auto_operation=pick(
            "auto_operation",
            st.one_of(
                st.none(),
                st.builds(
                    AutoOperation,
                    st.sampled_from(PlannedOperation),
                    st.sampled_from(
                        [START + timedelta(days=1), datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)]
                    ),
                ),
            ),
            st.one_of(plan, plan, st.builds(AutoOperation, junk, times), junk),
        ),
        asset_extra_meta=pick("asset_extra_meta", st.one_of(st.none(), good_json), hostile_json),
        system_properties=pick(
            "system_properties",
            st.one_of(st.just(()), st.lists(good_json, max_size=2)),
            st.one_of(st.lists(hostile_json, min_size=1, max_size=2), junk),
        ),
        asset_order=pick(
            "asset_order",
            st.one_of(st.none(), st.integers(0, 2**31 - 1)),
            st.one_of(st.integers(-3, -1), st.sampled_from([2**31, 2**63]), junk),
        ),
        app_user_id=pick("app_user_id", st.one_of(st.none(), safe_text)),
    )


def assert_stored_as_given(asset: Asset, new: NewAsset, actor: Tenant) -> None:
    """Every field comes back exactly as given (canonical where documented: the MD5 in base64,
    the file type from the name in lower case, times in UTC)."""
    assert asset.asset_name == new.asset_name
    assert asset.asset_description == new.asset_description
    assert asset.tags == tuple(new.tags)
    assert asset.asset_type is new.asset_type
    assert [
        (f.file_name, f.file_size, f.file_md5, f.asset_file_category, f.file_type) for f in asset.files
    ] == [
        (f.file_name, f.file_size, canonical_md5(f.file_md5), f.asset_file_category, file_type_of(f))
        for f in new.files
    ]
    assert asset.asset_extra_meta == new.asset_extra_meta
    assert asset.system_properties == tuple(new.system_properties)
    assert asset.asset_order == new.asset_order
    assert asset.app_user_id == (new.app_user_id or actor.app_user_id)
    assert asset.review_required is new.review_required
    assert asset.activate_on_upload is bool(new.activate_on_upload)
    if new.auto_operation is not None:
        assert asset.planned_operation is new.auto_operation.operation
        assert asset.planned_operation_time == new.auto_operation.operation_time
    details = json.dumps(asset.to_details(), ensure_ascii=False).encode("utf-8")  # UTF-8 all through
    assert json.loads(details)["asset_name"] == new.asset_name


@settings(HOSTILE, max_examples=150)
@given(data=st.data())
def test_create_asset_stores_every_field_exactly_or_refuses_it(arena: Arena, data: st.DataObject) -> None:
    pick = Pick.of(data, [*CREATION_FIELDS, "actor", "request_id", "asset"])
    actor = pick("actor", st.sampled_from([OWNER, Tenant("owner")]), actors)
    new = pick("asset", st.just(None), junk) if "asset" in pick.hostile else new_asset_from(pick)
    request_id = pick("request_id", st.one_of(st.none(), safe_text), request_ids)
    _create(arena, actor, new, request_id)


def _create(arena: Arena, actor: Any, new: Any, request_id: object) -> None:
    problems = creation_problems(actor, new, request_id)
    replay = not problems and request_id is not None and _created_by(arena.database, actor, request_id)
    outcome = arena.attempt(partial(arena.lifecycle.create_asset, actor, new, request_id=request_id))
    outcome.expect(problems)
    if problems == {"role"}:
        assert isinstance(outcome.error, PermissionDenied)
    if not problems:
        stored = arena.lifecycle.get_asset(actor, outcome.result.asset_id)
        assert stored == outcome.result
        if not replay:
            assert_stored_as_given(stored, new, actor)


def _created_by(database: Engine, actor: Tenant, request_id: object) -> bool:
    """Whether this request id created an asset of this tenant already (a retry is answered)."""
    with database.connect() as connection:
        found = connection.execute(
            select(func.count())
            .select_from(audit)
            .where(
                audit.c.project_id == actor.project_id,
                audit.c.request_id == request_id,
                audit.c.event == Event.CREATE,
            )
        ).scalar_one()
    return bool(found)


def _asset_named(
    name: str, description: str = "", *, tags: Sequence[str] = (), file_name: str = "m.bin"
) -> NewAsset:
    return NewAsset(
        asset_name=name,
        asset_type=AssetType.HUMAN_MODEL,
        files=[NewFile(file_name, 1, MD5, FileCategory.MAIN, "bin")],
        asset_description=description,
        tags=tags,
    )


def _with_meta(meta: Any) -> NewAsset:
    return NewAsset("x", AssetType.HUMAN_MODEL, [NewFile("m.bin", 1, MD5)], asset_extra_meta=meta)


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["me"] = loop
    return loop


class _HiddenDict(dict[str, Any]):
    """A dict whose own iteration shows nothing, while ``json`` encodes its items."""

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def values(self) -> Any:
        return ()


def _planned(when: datetime) -> NewAsset:
    return NewAsset(
        "x",
        AssetType.HUMAN_MODEL,
        [NewFile("m.bin", 1, MD5)],
        auto_operation=AutoOperation(PlannedOperation.BLOCK, when),
    )


EXPLICIT_CREATIONS = {
    "sql and wildcards": _asset_named(
        "'; DROP TABLE lifecycle_assets; --", '" OR 1=1 -- ` %_%', tags=["%", "_", "%_"]
    ),
    "at every limit": _asset_named(
        exactly(128, "👩\u200d👩\u200d👧\u200d👦"),
        exactly(1024, "e\u0301"),
        tags=[exactly(64, "中")] * 20,
        file_name=exactly(252, "ß") + ".bin",
    ),
    "name past its limit": _asset_named(exactly(129, "x")),
    "description past its limit": _asset_named("x", exactly(1025, "x")),
    "tag past its limit": _asset_named("x", tags=[exactly(65, "x")]),
    "too many tags": _asset_named("x", tags=["t"] * 21),
    "file name past its limit": _asset_named("x", file_name=exactly(257, "ß")),
    "right to left, multi-line description": _asset_named(
        "مرحبا שלום \u200f!", "multi\nline\tdescription \x1b[31m as written"
    ),
    "right-to-left override in a name": _asset_named("invoice\u202egpj.exe"),
    "right-to-left override in a file name": _asset_named("x", file_name="invoice\u202egpj.exe"),
    "isolate in a tag": _asset_named("x", tags=["\u2067x\u2069"]),
    "NUL in a name": _asset_named("nul\x00"),
    "NUL in a description": _asset_named("x", "nul\x00"),
    "lone surrogate": _asset_named("lone \ud83d surrogate"),
    "line separator in a tag": _asset_named("x", tags=["line\u2028separator"]),
    "C1 control in a name": _asset_named("csi\x9b31m"),
    "JSON 32 levels deep": _with_meta(nested(MAX_JSON_LEVELS)),
    "JSON 33 levels deep": _with_meta(nested(MAX_JSON_LEVELS + 1)),
    "JSON keys 1 and '1'": _with_meta({1: "a", "1": "b"}),
    "JSON NUL": _with_meta({"k": "\x00"}),
    "JSON lone surrogate key": _with_meta({"\udc80": 1}),
    "JSON circular": _with_meta(_circular()),
    "JSON of 64 KiB": _with_meta({"k": "x" * (MAX_JSON_BYTES - len('{"k":""}'))}),
    "JSON one byte past 64 KiB": _with_meta({"k": "x" * (MAX_JSON_BYTES - len('{"k":""}') + 1)}),
    "JSON 200 levels deep in a dict that hides its items": _with_meta({"k": _HiddenDict(k=nested(200))}),
    "a plan out of range in UTC": _planned(datetime.max.replace(tzinfo=timezone(-timedelta(hours=1)))),
    "a plan at the end of time": _planned(datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)),
    "a plan at the last supported microsecond": _planned(LATEST_TIME - timedelta(microseconds=1)),
    "a naive plan": _planned(datetime(2030, 1, 1)),  # noqa: DTZ001 - on purpose
}


@pytest.mark.parametrize("new", EXPLICIT_CREATIONS.values(), ids=EXPLICIT_CREATIONS)
def test_explicit_hostile_creations(arena: Arena, new: NewAsset) -> None:
    _create(arena, OWNER, new, None)


def test_a_name_full_of_sql_and_wildcards_changes_no_table_and_no_listing(lifecycle: Lifecycle) -> None:
    """Bound parameters all through: the text is stored, the tables are all there, and tenants
    whose ids differ only where a LIKE pattern would match anything see only their own."""
    tenants = [Tenant(p) for p in ("a_c", "abc", "a.c", "A_C")]
    name = "'; DROP TABLE lifecycle_assets; -- %_"
    for tenant in tenants:
        lifecycle.create_asset(tenant, _asset_named(name))
    for tenant in tenants:
        page = lifecycle.list_assets(tenant)
        assert page.total == 1
        assert [(a.project_id, a.asset_name) for a in page.items] == [(tenant.project_id, name)]
    with lifecycle.database.connect() as connection:
        for table in TABLES:
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    with pytest.raises(InvalidParameter, match="project_id"):
        lifecycle.list_assets(PLATFORM, project_id="a%")


# Moves: fire and every wrapper ------------------------------------------------------------------

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
good_reasons = st.one_of(st.none(), safe_text)
good_request_ids = st.one_of(st.none(), safe_text)
good_actors = st.sampled_from([OWNER, Tenant("owner"), PLATFORM, System()])


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
            st.sampled_from([e for e in Event if e is not Event.CREATE]),
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


# Uploads ---------------------------------------------------------------------------------------


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


# A whole tenant -----------------------------------------------------------------------------------


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


# Unfreeze applications -----------------------------------------------------------------------------


def _page_problems(limit: object, offset: object) -> set[str]:
    problems = {"limit"} if bad_whole_number(limit, 1, 1000) else set()
    return problems | ({"offset"} if bad_whole_number(offset, 0, 2**31 - 1) else set())


def _members_problem(values: object, kind: type, name: str) -> set[str]:
    if not isinstance(values, list | tuple) or not all(isinstance(v, kind) for v in values):
        return {name}
    return set()


good_pages = st.tuples(st.sampled_from([1, 2, 50, 1000]), st.sampled_from([0, 1, 2**31 - 1]))


@settings(HOSTILE, max_examples=150)
@given(data=st.data())
def test_unfreeze_applications_refuse_hostile_arguments_and_write_nothing(
    arena: Arena, data: st.DataObject
) -> None:
    world = arena.world()
    lc = arena.lifecycle
    operation = data.draw(st.sampled_from(["apply", "approve", "reject", "get", "list"]), label="operation")
    names = [
        "actor",
        "asset_id",
        "application_id",
        "reason",
        "request_id",
        "project_id",
        "states",
        "limit",
        "offset",
    ]
    pick = Pick.of(data, names)
    tenant_acts = operation in ("apply", "get", "list")
    actor = pick("actor", st.just(OWNER) if tenant_acts else st.just(PLATFORM), actors)
    reason = pick("reason", good_reasons, optional_text)
    if operation == "apply":
        asset_id = pick("asset_id", st.sampled_from(world.owners), world.ids())
        outcome = arena.attempt(partial(lc.apply_for_unfreeze, actor, asset_id, reason=reason))
        outcome.expect(_common_problems(actor, asset_id, reason, None))
        if outcome.error is None:
            assert (outcome.result.reason, outcome.result.applied_by) == (reason, actor.actor_id)
        return
    if operation == "list":
        project_id = pick(
            "project_id",
            st.sampled_from([None, "owner", "intruder", "owne_"]),
            st.one_of(st.just("%"), hostile_or_junk),
        )
        states = pick(
            "states",
            st.lists(st.sampled_from(ApplicationState), max_size=2),
            st.one_of(st.just("PENDING"), st.lists(junk, min_size=1, max_size=1)),
        )
        limit, offset = data.draw(good_pages, label="page")
        limit, offset = pick("limit", st.just(limit), pages), pick("offset", st.just(offset), pages)
        problems = (
            actor_problems(actor)
            | _page_problems(limit, offset)
            | _members_problem(states, ApplicationState, "states")
        )
        if isinstance(actor, Platform | System) and project_id is not None and bad_id(project_id):
            problems.add("project_id")
        outcome = arena.attempt(
            partial(
                lc.list_unfreeze_applications,
                actor,
                project_id=project_id,
                states=states,
                limit=limit,
                offset=offset,
            )
        )
        outcome.expect(problems)
        if outcome.error is None:
            wanted = actor.project_id if isinstance(actor, Tenant) else project_id
            assert all(wanted is None or a.project_id == wanted for a in outcome.result)
        return
    application_id = pick(
        "application_id",
        st.sampled_from([world.application, world.their_application]),
        world.application_ids(),
    )
    problems = actor_problems(actor) | ({"application_id"} if bad_id(application_id) else set())
    if operation == "get":
        outcome = arena.attempt(partial(lc.get_unfreeze_application, actor, application_id))
        outcome.expect(problems)
        if outcome.error is None and isinstance(actor, Tenant):
            assert outcome.result.project_id == actor.project_id
        return
    problems |= {"reason"} if RULES["reason"].refuses_optional(reason) else set()
    if operation == "approve":
        request_id = pick("request_id", good_request_ids, request_ids)
        problems |= {"request_id"} if RULES["request_id"].refuses_optional(request_id) else set()
        outcome = arena.attempt(
            partial(lc.approve_unfreeze, actor, application_id, reason=reason, request_id=request_id)
        )
    else:
        outcome = arena.attempt(partial(lc.reject_unfreeze, actor, application_id, reason=reason))
    outcome.expect(problems)
    if outcome.error is None and not getattr(outcome.result, "replayed", False):
        decided = lc.get_unfreeze_application(PLATFORM, application_id)
        assert (decided.decided_by, decided.decision_reason) == (actor.actor_id, reason)


# Queries ------------------------------------------------------------------------------------------


@settings(HOSTILE, max_examples=150)
@given(data=st.data())
def test_queries_refuse_hostile_arguments_and_never_write(arena: Arena, data: st.DataObject) -> None:
    world = arena.world()
    lc = arena.lifecycle
    operation = data.draw(
        st.sampled_from(["get_asset", "history", "allowed_events", "list_assets"]), label="op"
    )
    names = ["actor", "asset_id", "project_id", "states", "order_by", "descending", "limit", "offset"]
    pick = Pick.of(data, names)
    actor = pick("actor", st.sampled_from([OWNER, Tenant("owner"), INTRUDER, PLATFORM, System()]), actors)
    problems = actor_problems(actor)
    before = arena.before()
    if operation != "list_assets":
        asset_id = pick("asset_id", st.sampled_from(world.asset_ids), world.ids())
        outcome = arena.attempt(partial(getattr(lc, operation), actor, asset_id))
        outcome.expect(problems | ({"asset_id"} if bad_id(asset_id) else set()))
        if outcome.error is None and isinstance(actor, Tenant):
            assert lc.get_asset(PLATFORM, asset_id).project_id == actor.project_id
        if isinstance(outcome.error, AssetNotFound):
            assert outcome.error.message == f"asset {asset_id} not found"
        assert arena.before() == before
        return
    tenant_acts = isinstance(actor, Tenant)
    project_id = pick(
        "project_id",
        st.sampled_from([None] if tenant_acts else ["owner", "intruder", "owne_", "OWNER", "nobody"]),
        st.one_of(st.sampled_from(["%", "_", "owner", None]), hostile_or_junk),
    )
    states = pick(
        "states",
        st.lists(st.sampled_from(AssetState), max_size=3),
        st.one_of(st.just("BLOCK"), st.lists(junk, min_size=1, max_size=1)),
    )
    order_by = pick("order_by", st.sampled_from(["create_time", "update_time"]), hostile_or_junk)
    descending = pick("descending", st.booleans(), junk)
    limit, offset = data.draw(good_pages, label="page")
    limit, offset = pick("limit", st.just(limit), pages), pick("offset", st.just(offset), pages)
    problems |= _page_problems(limit, offset) | _members_problem(states, AssetState, "states")
    problems |= set() if order_by in ("create_time", "update_time") else {"order_by"}
    problems |= set() if isinstance(descending, bool) else {"descending"}
    if not tenant_acts and (project_id is None or bad_id(project_id)):
        problems.add("project_id")
    outcome = arena.attempt(
        partial(
            lc.list_assets,
            actor,
            project_id=project_id,
            states=states,
            order_by=order_by,
            descending=descending,
            limit=limit,
            offset=offset,
        )
    )
    outcome.expect(problems)
    if outcome.error is None:
        page = outcome.result
        tenant = actor.project_id if tenant_acts else project_id
        assert {a.project_id for a in page.items} <= {tenant}
        everything = lc.list_assets(PLATFORM, project_id=tenant, limit=1000)
        assert page.total == sum(not states or a.asset_state in states for a in everything.items)
    assert arena.before() == before


@settings(HOSTILE, max_examples=40)
@given(data=st.data())
def test_verify_audit_refuses_hostile_arguments_and_never_writes(arena: Arena, data: st.DataObject) -> None:
    arena.world()
    pick = Pick.of(data, ["actor", "project_id", "page_size", "progress"])
    actor = pick("actor", st.sampled_from([PLATFORM, System()]), actors)
    project_id = pick("project_id", st.sampled_from([None, "owner", "intruder", "owne_"]), hostile_or_junk)
    page_size = pick("page_size", st.sampled_from([1, 2, 1000, 100_000]), st.one_of(pages, st.just(100_001)))
    progress = pick("progress", st.sampled_from([None, lambda done, total: None]), junk)
    problems = actor_problems(actor)
    problems |= {"project_id"} if project_id is not None and bad_id(project_id) else set()
    problems |= {"page_size"} if bad_whole_number(page_size, 1, 100_000) else set()
    problems |= {"progress"} if progress is not None and not callable(progress) else set()
    before = arena.before()
    outcome = arena.attempt(
        partial(
            arena.lifecycle.verify_audit, actor, project_id=project_id, page_size=page_size, progress=progress
        )
    )
    outcome.expect(problems)
    if outcome.error is None:
        assert outcome.result.clean, outcome.result
    assert arena.before() == before


def _storage_as_of_problems(as_of: object) -> set[str]:
    """As a sweep's: from 1970, the free periods before it are all in the calendar."""
    return _as_of_problems(as_of)


@settings(HOSTILE, max_examples=80)
@given(data=st.data())
def test_storage_queries_refuse_hostile_arguments_and_never_write(arena: Arena, data: st.DataObject) -> None:
    world = arena.world()
    lc = arena.lifecycle
    pick = Pick.of(data, ["actor", "asset_id", "project_id", "as_of", "page_size", "progress"])
    actor = pick("actor", st.sampled_from([OWNER, Tenant("owner"), INTRUDER, PLATFORM, System()]), actors)
    as_of = pick("as_of", st.sampled_from([None, START, START - timedelta(days=30)]), times)
    problems = actor_problems(actor) | _storage_as_of_problems(as_of)
    before = arena.before()
    if data.draw(st.booleans(), label="asset_storage"):
        asset_id = pick("asset_id", st.sampled_from(world.asset_ids), world.ids())
        outcome = arena.attempt(partial(lc.asset_storage, actor, asset_id, as_of=as_of))
        outcome.expect(problems | ({"asset_id"} if bad_id(asset_id) else set()))
        if outcome.error is None and isinstance(actor, Tenant):
            assert outcome.result.project_id == actor.project_id
        if isinstance(outcome.error, AssetNotFound):
            assert outcome.error.message == f"asset {asset_id} not found"
        assert arena.before() == before
        return
    project_id = pick(
        "project_id",
        st.sampled_from([None, "owner", "intruder", "owne_", "nobody"]),
        st.one_of(st.sampled_from(["%", "_"]), hostile_or_junk),
    )
    page_size = pick("page_size", st.sampled_from([1, 2, 200, 10_000]), st.one_of(pages, st.just(10_001)))
    progress = pick("progress", st.sampled_from([None, lambda done, total: None]), junk)
    problems |= {"project_id"} if project_id is not None and bad_id(project_id) else set()
    problems |= {"page_size"} if bad_whole_number(page_size, 1, 10_000) else set()
    problems |= {"progress"} if progress is not None and not callable(progress) else set()
    outcome = arena.attempt(
        partial(
            lc.storage_report,
            actor,
            project_id=project_id,
            as_of=as_of,
            page_size=page_size,
            progress=progress,
        )
    )
    outcome.expect(problems)
    if outcome.error is None:
        seen = {tenant.project_id for tenant in outcome.result.tenants}
        if isinstance(actor, Tenant):
            assert seen == {actor.project_id}
        elif project_id is not None:
            assert seen == {project_id}
    elif isinstance(actor, Tenant) and project_id not in (None, actor.project_id) and not problems:
        assert isinstance(outcome.error, PermissionDenied | InvalidParameter), outcome.error
    assert arena.before() == before


# Batches -------------------------------------------------------------------------------------------


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


# Time ----------------------------------------------------------------------------------------------


class _Listener(SweepListener):
    pass


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


# The same answer on both backends -----------------------------------------------------------------


@pytest.fixture
def both_backends(
    sqlite_template: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[list[Lifecycle]]:
    postgres: Engine = request.getfixturevalue("postgres_engine")
    with postgres.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    path = tmp_path / "same.db"
    path.write_bytes(sqlite_template.read_bytes())
    sqlite = open_database(f"sqlite:///{path}")
    yield [Lifecycle(sqlite, clock=ManualClock(START)), Lifecycle(postgres, clock=ManualClock(START))]
    sqlite.dispose()


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


# The admin script -----------------------------------------------------------------------------------

EXIT_CODES_OF_FAILURES = {2, 3, 4, 5, 6}
"""Documented exit codes a refused command may end with (7, unavailable, would be the database's
fault, 1 a bug)."""
REPORTS = {0, 8, getattr(ExitCode, "AUDIT_PROBLEMS", 0)}
"""Done, or done with a report of what failed (8: a batch's results; an audit's problems)."""
ERROR_LINE = re.compile(r"error (MSS\.\d{8}|LIFECYCLE\.[A-Z_]+): [^\n]*\n")
NOT_FUZZED = {
    ("scheduler", "run"): "runs until SIGTERM: tests/test_cli.py runs it in a real process",
    ("diagrams",): "writes files wherever --out points: no place for fuzzed paths",
}


class Script:
    """The admin script on one database, with a world seeded through the library."""

    def __init__(self, url: str, arena: Arena) -> None:
        self.url = url
        self.arena = arena

    def __repr__(self) -> str:
        return f"Script({self.arena!r})"

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(ADMIN_SCRIPT, ["--db", self.url, *args], catch_exceptions=False)

    def run(self, *args: str) -> Result:
        """Run a command: a documented exit code; on failure nothing on stdout, one error line on
        stderr (after the progress bar, when one was asked for) and nothing written."""
        before = self.arena.before()
        result = self(*args)
        assert "Traceback" not in result.stderr
        if result.exit_code in REPORTS:
            self.arena.after(before, refused=None)
            return result
        assert result.exit_code in EXIT_CODES_OF_FAILURES, f"exit {result.exit_code}: {result.stderr!r}"
        assert result.stdout == ""
        error = result.stderr.rsplit("\x1b[?25h", 1)[-1] if "--progress" in args else result.stderr
        assert ERROR_LINE.fullmatch(error), f"not one error line: {result.stderr!r}"
        self.arena.after(before, refused=result.stderr)
        return result


@pytest.fixture
def script(database_url: str) -> Iterator[Script]:  # noqa: F811 - the fixture imported above
    lifecycle = Lifecycle(database_url)
    yield Script(database_url, Arena(lifecycle, lifecycle.database))
    lifecycle.close()


def leaf_commands(
    group: click.Group = ADMIN_SCRIPT, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], click.Command]:
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found |= leaf_commands(command, (*path, name))
        else:
            found[(*path, name)] = command
    return found


FUZZED = sorted(set(leaf_commands()) - set(NOT_FUZZED))
TIME_TEXTS = (
    "2026-03-01T09:00:00Z", "2026-03-01T09:00:00", "2026-03-01T09:00:00+08:00", "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "now", "",
    "2026-03-01T09:00:00.999999999Z", "+002026-03-01", "2999-01-01T00:00:00Z",
)  # fmt: skip
JSON_TEXTS = (
    "{}", '{"k": "v"}', '{"k": "\\u0000"}', '{"k": "\\ud800"}', '{"\\u202e": 1}', "[]", "NaN", '{"a": NaN}',
    '{"a": 1e999}', "[" * 5000 + "]" * 5000, '{"a": ' + "[" * 40 + "]" * 40 + "}", "{", '{"a": 1, "a": 2}',
    '{"big": ' + "9" * 5000 + "}",
)  # fmt: skip
NUMBER_TEXTS = (
    "1",
    "0",
    "-1",
    "1024",
    "1_000",
    " 7 ",
    "\uff11\uff12",
    "99999999999999999999999",
    "1e3",
    "0x10",
)


def _cli_value(pick: Pick, param: click.Parameter, kind: click.ParamType, world: World) -> str:
    """A value for one parameter: one that makes sense for it, or (when picked) hostile text."""
    name = param.name or ""
    first = world.asset_ids[0]
    by_name = {
        "tenant": ["owner", "intruder", "owne_", "OWNER"],
        "app_user": ["owner-user", "u1"],
        "operator": ["ops-alice"],
        "asset_id": [*world.asset_ids, MISSING, first.upper(), first.replace("-", "_")],
        "asset_ids": [*world.asset_ids, MISSING, first.upper(), first.replace("-", "_")],
        "application_id": [world.application, world.their_application, MISSING],
        "file_id": [*world.file_ids[:4], MISSING],
        "project_id": ["owner", "intruder", "owne_", "%"],
    }
    by_kind = {"TIME": list(TIME_TEXTS), "JSON": list(JSON_TEXTS), "filename": ["-", "/nonexistent/ids.txt"]}
    sensible = by_name.get(name) or by_kind.get(kind.name)
    if sensible is None and isinstance(kind, click.Choice):
        sensible = [str(c) for c in kind.choices] + [str(c).upper() for c in kind.choices][:2]
    elif sensible is None and isinstance(kind, click.types.IntParamType):
        sensible = list(NUMBER_TEXTS)
    elif sensible is None:
        sensible = ["x", "male001.bin", MD5, "OLjCwQk93Q/Dg6nZrJQFFQ==", "retry-1"]
    value: str = pick(name, st.sampled_from(sensible), hostile_text)
    return value


def _cli_arguments(data: st.DataObject, command: click.Command, world: World) -> list[str]:
    """Every parameter of the command, from its click definition: options present or not (flags,
    repeated ones, several values), arguments after ``--`` so that they are taken as given."""
    pick = Pick.of(data, [param.name or "" for param in command.params])
    options: list[str] = []
    arguments: list[str] = []
    for param in command.params:
        kinds = (
            list(param.type.types)
            if isinstance(param.type, click.Tuple)
            else [param.type] * max(param.nargs, 1)
        )
        if isinstance(param, click.Argument):
            count = (
                data.draw(st.integers(0, 3), label=f"{param.name} count")
                if param.nargs == -1
                else param.nargs
            )
            arguments += [_cli_value(pick, param, kinds[0], world) for _ in range(count)]
            continue
        assert isinstance(param, click.Option)
        times = [0, 1, 2] if param.multiple else [0, 1]
        wanted = data.draw(
            st.sampled_from(times[1:2] if param.required and param.name not in pick.hostile else times)
        )
        for _ in range(wanted):
            if param.is_flag:
                options.append(
                    data.draw(st.sampled_from([*param.opts, *param.secondary_opts]), label=param.name)
                )
            elif param.nargs == 1:
                options.append(f"{param.opts[0]}={_cli_value(pick, param, kinds[0], world)}")
            else:
                options += [param.opts[0], *(_cli_value(pick, param, kind, world) for kind in kinds)]
    return [*options, "--", *arguments]


def test_every_command_of_the_admin_script_is_fuzzed_or_says_why_not() -> None:
    commands = leaf_commands()
    assert set(NOT_FUZZED) <= set(commands)
    assert ("show",) in FUZZED and ("application", "apply") in FUZZED
    assert len(FUZZED) + len(NOT_FUZZED) == len(commands)


@settings(HOSTILE, max_examples=200)
@given(data=st.data())
def test_every_command_answers_hostile_arguments_with_a_documented_exit_code_and_one_line(
    script: Script, data: st.DataObject
) -> None:
    world = script.arena.world()
    path = data.draw(st.sampled_from(FUZZED), label="command")
    args = _cli_arguments(data, leaf_commands()[path], world)
    result = script.run(*path, *args)
    if currently_in_test_context():
        event(f"exit {result.exit_code}")
    if result.exit_code == 0 and "--json" in args:
        json.loads(result.stdout)  # one JSON document
    if result.exit_code == 0 and "--json" not in args:
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stdout), "a raw control character"


CREATE = ("create", "--tenant=owner", "--name=x", "--type=VIDEO", "--main-file", "x.mp4", "1", MD5)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([*CREATE, "--extra-meta", "[" * 5000 + "]" * 5000], id="JSON deeper than Python reads"),
        pytest.param([*CREATE, "--extra-meta", '{"a": ' + "[" * 40 + "]" * 40 + "}"], id="JSON 41 levels"),
        pytest.param([*CREATE, "--extra-meta", '{"a": "\\u0000"}'], id="JSON NUL"),
        pytest.param([*CREATE, "--extra-meta", '{"a": "' + "x" * 65536 + '"}'], id="JSON past 64 KiB"),
        pytest.param([*CREATE, "--extra-meta", '{"\\ud800": 1}'], id="JSON lone surrogate"),
        pytest.param([*CREATE, "--name=bytes \udcff not UTF-8"], id="argv bytes not UTF-8"),
        pytest.param([*CREATE, "--tag=\u202egpj.exe"], id="bidi override tag"),
        pytest.param(["batch", "DELETE", "--tenant=owner", "--ids-from=ids\x00.txt"], id="NUL in a path"),
        pytest.param(["batch", "DELETE", "--tenant=owner", "--", MISSING, "\udcff"], id="batch id not UTF-8"),
        pytest.param(["show", "--tenant=owner", "--", "\udcff"], id="id not UTF-8"),
        pytest.param(["history", "--operator=ops", "--", f"{MISSING}\x00"], id="NUL in an id"),
        pytest.param(["application", "show", "--tenant=owner", "--", "%"], id="wildcard application id"),
        pytest.param(["sweep", "--as-of=0001-01-01T00:00:00Z"], id="sweep as of year 1"),
        pytest.param(["sweep", "--as-of=1969-12-31T23:59:59Z"], id="sweep as of 1969"),
        pytest.param(["due", "--as-of=0001-01-01T00:00:00+23:59"], id="due before year 1 in UTC"),
        pytest.param(["list", "--operator=ops", "--project=%"], id="wildcard project"),
        pytest.param(["tenant", "freeze", "--operator=op\x1b[2J", "--", "owner"], id="escape in an operator"),
    ],
)
def test_the_admin_script_refuses_input_no_shell_would_type_in_one_line(
    script: Script, args: list[str]
) -> None:
    result = script.run(*args)
    assert result.exit_code == 2, result.stderr
    assert "\x1b" not in result.stderr and "\x00" not in result.stderr


@settings(HOSTILE, max_examples=60)
@given(data=st.data())
def test_the_admin_script_stores_text_exactly_or_refuses_it_in_one_line(
    script: Script, data: st.DataObject
) -> None:
    """--json gives back what was given, or the command is refused naming the field (exit 2)."""
    pick = Pick.of(data, ["asset_name", "asset_description", "tags", "file_name", "reason", "request_id"])
    name = pick("asset_name", safe_text, hostile_text)
    description = pick("asset_description", safe_text, hostile_text)
    tags = pick("tags", st.lists(safe_text, max_size=2), st.lists(hostile_text, min_size=1, max_size=2))
    file_name = pick("file_name", safe_text.map(lambda t: t + ".bin"), hostile_text)
    reason = pick("reason", safe_text, hostile_text)
    request_id = pick("request_id", safe_text, hostile_text)
    created = script.run(
        "create", "--tenant=owner", f"--name={name}", "--type=HUMAN_MODEL", f"--description={description}",
        *(f"--tag={tag}" for tag in tags), "--json", "--main-file", file_name, "31032142", MD5,
    )  # fmt: skip
    new = NewAsset(name, AssetType.HUMAN_MODEL, [NewFile(file_name, 31032142, MD5)], description, tags)
    problems = creation_problems(Tenant("owner"), new, None)
    if problems:
        assert _refused_field(created) in problems, created.stderr
        return
    assert created.exit_code == 0, created.stderr
    details = json.loads(created.stdout)
    assert (details["asset_name"], details["asset_description"], details["tags"]) == (name, description, tags)
    assert details["files"][0]["file_name"] == file_name
    asset_id = details["asset_id"]
    shown = script.run("show", "--tenant=owner", "--json", "--", asset_id)
    assert json.loads(shown.stdout) == details
    view = script.run("show", "--tenant=owner", "--", asset_id).stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", view), "a raw control character on the terminal"
    deleted = script.run(
        "delete",
        "--tenant=owner",
        f"--reason={reason}",
        f"--request-id={request_id}",
        "--json",
        "--",
        asset_id,
    )
    move_problems = {n for n, v in (("reason", reason), ("request_id", request_id)) if RULES[n].refuses(v)}
    if move_problems:
        assert _refused_field(deleted) in move_problems, deleted.stderr
        return
    assert deleted.exit_code == 0, deleted.stderr
    entries = json.loads(script.run("history", "--operator=ops", "--json", "--", asset_id).stdout)["entries"]
    assert (entries[-1]["reason"], entries[-1]["request_id"]) == (reason, request_id)


def _refused_field(result: Result) -> str:
    """The field an ``error MSS.00000003: invalid parameter FIELD: …`` line names."""
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.stderr!r}"
    found = re.match(r"error MSS\.00000003: invalid parameter ([^:]+):", result.stderr)
    assert found, result.stderr
    return found.group(1)
