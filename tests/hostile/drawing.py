"""What Hypothesis draws: who acts, hostile text and junk, ids, times, versions, pages, JSON, and
``Pick``, which draws one or two arguments of an example hostile and the others well-formed.

``HOSTILE`` is the settings every property test here starts from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lifecycle.actors import Platform, System, Tenant
from tests.conftest import MD5, START
from tests.hostile.rules import (
    BIDI_CONTROLS,
    LIMITS,
    MAX_FILE_SIZE,
    MAX_JSON_LEVELS,
    breaks_the_line,
    chinese,
    path_separator,
    unstorable,
)

HOSTILE = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
    # CI must answer the same for the same commit; a wider search is a run with this turned off.
    derandomize=True,
)
"""Examples per test are chosen so that this package runs in about a minute on SQLite."""


# Who acts -----------------------------------------------------------------------------------------

OWNER = Tenant("owner", app_user_id="owner-user")
INTRUDER = Tenant("intruder")
PLATFORM = Platform("operator-1")
MISSING = "00000000-0000-4000-8000-000000000000"


# Text, junk, numbers and times --------------------------------------------------------------------

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
good_reasons = st.one_of(st.none(), safe_text)
good_request_ids = st.one_of(st.none(), safe_text)
good_pages = st.tuples(st.sampled_from([1, 2, 50, 1000]), st.sampled_from([0, 1, 2**31 - 1]))


# Actors -------------------------------------------------------------------------------------------


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


# Files and JSON -----------------------------------------------------------------------------------

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


# One example's arguments --------------------------------------------------------------------------


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
