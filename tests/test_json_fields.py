"""``asset_extra_meta`` and ``system_properties``: JSON data, bounded in size (64 KiB each as
compact JSON) and depth (32 levels), checked as ``json`` reads it (issue 13, item 10)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lifecycle.actors import Tenant
from lifecycle.definition import AssetType
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter
from lifecycle.inputs import MAX_JSON_BYTES, NewAsset, NewFile, check_new_asset
from lifecycle.store.models import assets
from tests.conftest import MD5

pytestmark = pytest.mark.facades

TENANT = Tenant("tenant-a")
FIELDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "asset_extra_meta": lambda value: {"asset_extra_meta": value},
    "system_properties": lambda value: {"system_properties": [value]},
}


def _asset(**fields: Any) -> NewAsset:
    return NewAsset("x", AssetType.VIDEO, [NewFile("x.mp4", 1, MD5)], **fields)


def _size(value: object) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _filled(character: str, size: int) -> dict[str, Any]:
    """{"k": "ééé…x"}: ``size`` bytes as compact JSON, mostly of ``character``."""
    room = size - _size({"k": ""})
    width = len(character.encode("utf-8"))
    value = {"k": character * (room // width) + "x" * (room % width)}
    assert _size(value) == size
    return value


def _count(lifecycle: Lifecycle) -> int:
    with lifecycle.database.connect() as connection:
        return connection.execute(select(func.count()).select_from(assets)).scalar_one()


class HiddenDict(dict[str, Any]):
    """A dict whose own iteration shows nothing, while ``json`` encodes its items."""

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def values(self) -> Any:
        return ()


def _deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


@pytest.mark.parametrize("character", ["x", "é", "中", "😀"], ids=["1-byte", "2-byte", "3-byte", "4-byte"])
@pytest.mark.parametrize("field", FIELDS)
def test_json_at_its_size_limit_is_stored_exactly_and_one_byte_more_is_refused(
    lifecycle: Lifecycle, field: str, character: str
) -> None:
    """The limit is in UTF-8 bytes of compact JSON; one system property at the limit leaves the
    list's brackets over it, so the largest property is two bytes smaller."""
    brackets = 2 if field == "system_properties" else 0
    largest = _filled(character, MAX_JSON_BYTES - brackets)
    asset = lifecycle.create_asset(TENANT, _asset(**FIELDS[field](largest)))
    stored = lifecycle.get_asset(TENANT, asset.asset_id)
    if field == "asset_extra_meta":
        assert stored.asset_extra_meta == largest
    else:
        assert stored.system_properties == (largest,)
    before = _count(lifecycle)
    over = _filled(character, MAX_JSON_BYTES - brackets + 1)
    with pytest.raises(
        InvalidParameter, match=f"{field}: must be at most 65536 bytes as compact JSON"
    ) as refused:
        lifecycle.create_asset(TENANT, _asset(**FIELDS[field](over)))
    assert refused.value.field == field
    assert _count(lifecycle) == before


def test_each_field_has_its_own_allowance(lifecycle: Lifecycle) -> None:
    half = _filled("x", MAX_JSON_BYTES // 2)
    both = _asset(asset_extra_meta=_filled("x", MAX_JSON_BYTES), system_properties=[half, half])
    assert _size([half, half]) > MAX_JSON_BYTES
    with pytest.raises(InvalidParameter, match="system_properties"):
        lifecycle.create_asset(TENANT, both)
    fits = _asset(
        asset_extra_meta=_filled("x", MAX_JSON_BYTES), system_properties=[_filled("x", MAX_JSON_BYTES - 2)]
    )
    lifecycle.create_asset(TENANT, fits)


@pytest.mark.parametrize("field", FIELDS)
def test_fifty_mebibytes_are_refused_and_nothing_is_written(lifecycle: Lifecycle, field: str) -> None:
    before = _count(lifecycle)
    with pytest.raises(InvalidParameter, match=field):
        lifecycle.create_asset(TENANT, _asset(**FIELDS[field]({"k": "x" * 50 * 2**20})))
    many = {"k": list(range(2**20))}  # a million small numbers: the size, not the depth
    with pytest.raises(InvalidParameter, match=field):
        lifecycle.create_asset(TENANT, _asset(**FIELDS[field](many)))
    assert _count(lifecycle) == before


@pytest.mark.parametrize(
    "hidden",
    [HiddenDict(k=_deep(200)), HiddenDict(k=_deep(5000)), HiddenDict(k="x" * MAX_JSON_BYTES)],
    ids=["200 levels", "5000 levels", "64 KiB"],
)
@pytest.mark.parametrize("field", FIELDS)
def test_json_a_dict_hides_from_iteration_is_checked_as_json_reads_it(
    lifecycle: Lifecycle, field: str, hidden: HiddenDict
) -> None:
    """A dict subclass whose iteration shows nothing used to pass every check while ``json`` still
    encoded its items: 200 levels deep and 64 KiB were stored, 5,000 levels raised RecursionError."""
    before = _count(lifecycle)
    with pytest.raises(InvalidParameter, match=field):
        lifecycle.create_asset(TENANT, _asset(**FIELDS[field]({"meta": hidden})))
    assert _count(lifecycle) == before


def test_what_is_stored_is_what_was_checked(lifecycle: Lifecycle) -> None:
    class Loud(str):
        __slots__ = ()

        def __str__(self) -> str:
            return "\x00 not what json writes"

    given = {"plain": HiddenDict(a=1), "text": Loud("quiet"), "tuple": (1, 2)}
    asset = lifecycle.create_asset(TENANT, _asset(asset_extra_meta=given))
    expected = {"plain": {"a": 1}, "text": "quiet", "tuple": [1, 2]}
    assert asset.asset_extra_meta == expected
    assert lifecycle.get_asset(TENANT, asset.asset_id).asset_extra_meta == expected


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
).filter(lambda value: "\\u0000" not in json.dumps(value))  # NUL: refused in any text


@settings(max_examples=200, deadline=None, derandomize=True)
@given(content=st.dictionaries(st.text(max_size=5), json_values, max_size=5), extra=st.integers(0, 1))
def test_the_size_limit_is_exact_whatever_the_json(content: dict[str, Any], extra: int) -> None:
    """Whatever the data, at the limit it is accepted and one byte over it is refused: the early
    refusal of a huge value never counts more than the encoding's bytes."""
    try:
        _asset_checked({**content, "pad": ""})
    except InvalidParameter:  # text the engine refuses anyway (lone surrogates, bidi controls)
        return
    room = MAX_JSON_BYTES - _size({**content, "pad": ""})
    if room < 0:
        return
    padded = {**content, "pad": "x" * (room + extra)}
    if extra:
        with pytest.raises(InvalidParameter, match="65536 bytes"):
            _asset_checked(padded)
    else:
        assert _asset_checked(padded) == json.loads(json.dumps(padded))


def _asset_checked(meta: dict[str, Any]) -> Any:
    return check_new_asset(_asset(asset_extra_meta=meta), datetime(2026, 1, 1, tzinfo=UTC)).asset_extra_meta
