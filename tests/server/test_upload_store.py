"""The upload store on its own: links signed and expiring by its clock, refused when changed, bytes
kept whole or not at all, and paths that stay under its directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from lifecycle.clock import ManualClock
from lifecycle.errors import InvalidParameter
from lifecycle.server.errors import UploadLinkInvalid
from lifecycle.server.uploads import Received, UploadStore
from tests.server.sdk import md5

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DATA = b"the bytes of a picture" * 100


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> UploadStore:
    return UploadStore(tmp_path / "uploads", secret=b"k", link_lifetime=timedelta(hours=1), clock=clock)


def issued(store: UploadStore, file_id: str = "f1") -> tuple[str, dict[str, str]]:
    link = store.link("http://h:1/", store.ticket("p1", "a1", file_id, len(DATA), md5(DATA)))
    parts = urlsplit(link)
    return parts.path.removeprefix("/uploads/"), dict(parse_qsl(parts.query))


async def chunks(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_link_is_taken_until_it_expires(store: UploadStore, clock: ManualClock) -> None:
    file_id, query = issued(store)
    assert store.check(file_id, query).file_size == len(DATA)
    clock.advance(timedelta(minutes=59))
    store.check(file_id, query)
    clock.advance(timedelta(minutes=2))
    with pytest.raises(UploadLinkInvalid, match="expired"):
        store.check(file_id, query)


@pytest.mark.parametrize("field", ["project_id", "asset_id", "file_size", "file_md5", "expires", "signature"])
def test_a_changed_link_is_refused(store: UploadStore, field: str) -> None:
    file_id, query = issued(store)
    changed = {**query, field: "9" + query[field][1:]}
    with pytest.raises(UploadLinkInvalid):
        store.check(file_id, changed)
    with pytest.raises(UploadLinkInvalid):
        store.check("f2", query)
    with pytest.raises(UploadLinkInvalid, match="lacks"):
        store.check(file_id, {k: v for k, v in query.items() if k != field})


def test_another_stores_secret_does_not_sign_for_this_one(store: UploadStore, tmp_path: Path) -> None:
    other = UploadStore(tmp_path / "other", secret=b"another")
    file_id, query = issued(other)
    with pytest.raises(UploadLinkInvalid, match="signature"):
        store.check(file_id, query)


def test_bytes_are_kept_whole_with_their_size_and_md5(store: UploadStore) -> None:
    file_id, query = issued(store)
    ticket = store.check(file_id, query)
    received = asyncio.run(store.receive(ticket, chunks(DATA), md5(DATA)))
    assert received == Received(len(DATA), md5(DATA))
    assert store.received("p1", "a1", "f1") == received
    assert store.path("p1", "a1", "f1").read_bytes() == DATA
    store.remove_file("p1", "a1", "f1")
    assert store.received("p1", "a1", "f1") is None
    assert store.remove_asset("p1", "a1") is True
    assert store.remove_asset("p1", "a1") is False


@pytest.mark.parametrize(
    ("data", "content_md5", "problem"),
    [(DATA + b"!", None, "larger than the declared"), (DATA, md5(b"other"), "Content-MD5")],
)
def test_a_refused_upload_keeps_nothing(
    store: UploadStore, data: bytes, content_md5: str | None, problem: str
) -> None:
    file_id, query = issued(store)
    ticket = store.check(file_id, query)
    with pytest.raises(InvalidParameter, match=problem):
        asyncio.run(store.receive(ticket, chunks(data), content_md5))
    assert store.received("p1", "a1", "f1") is None
    assert list(store.path("p1", "a1", "f1").parent.iterdir()) == []


@pytest.mark.parametrize("identifier", ["..", "../x", ".hidden", "a/b", "", "x" * 65])
def test_ids_that_are_no_single_path_segment_are_refused(store: UploadStore, identifier: str) -> None:
    with pytest.raises(InvalidParameter):
        store.path("p1", identifier, "f1")
