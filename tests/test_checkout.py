"""PostgreSQL connections checked at checkout (lifecycle/store/checkout.py): a round trip only for
a connection idle a while or with something to read, a dead one replaced before it is used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, exc

from lifecycle.errors import InvalidParameter
from lifecycle.store import checkout
from lifecycle.store.checkout import ROUND_TRIP_AFTER_IDLE_S, check_at_checkout
from lifecycle.store.database import open_database


class Pings:
    """The dialect's pings on ``database``, counted (each one is a round trip)."""

    def __init__(self, database: Engine) -> None:
        self.count = 0
        ping = database.dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            self.count += 1
            return ping(dbapi_connection)

        database.dialect.do_ping = counted  # type: ignore[method-assign]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(postgres_engine: Engine) -> str:
    return postgres_engine.url.render_as_string(hide_password=False)


@pytest.fixture
def checked(url: str) -> Iterator[tuple[Engine, Clock, Pings]]:
    """One pooled connection, checked at checkout on a clock the test moves."""
    database = create_engine(url, pool_size=1, max_overflow=0)
    clock = Clock()
    check_at_checkout(database, monotonic=clock)
    yield database, clock, Pings(database)
    database.dispose()


def _backend(database: Engine) -> int:
    with database.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(url: str, pid: int) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as killer:
        assert killer.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone() == (True,)


@pytest.mark.postgresql
def test_a_connection_back_moments_ago_is_handed_out_without_a_round_trip(
    checked: tuple[Engine, Clock, Pings],
) -> None:
    database, clock, pings = checked
    first = _backend(database)
    for _ in range(5):
        clock.now += 1.0
        assert _backend(database) == first
    assert pings.count == 0


@pytest.mark.postgresql
def test_a_connection_idle_longer_is_pinged_once_at_checkout(checked: tuple[Engine, Clock, Pings]) -> None:
    database, clock, pings = checked
    first = _backend(database)
    clock.now += ROUND_TRIP_AFTER_IDLE_S + 0.5
    assert _backend(database) == first, "it answered, so it is kept"
    assert pings.count == 1
    assert _backend(database) == first
    assert pings.count == 1, "used again at once: no round trip"


@pytest.mark.postgresql
def test_a_connection_whose_backend_ended_moments_ago_is_replaced_before_use(
    checked: tuple[Engine, Clock, Pings], url: str
) -> None:
    database, _, pings = checked
    first = _backend(database)
    _terminate(url, first)
    second = _backend(database)  # the server's goodbye is on the socket: pinged, found dead, replaced
    assert second != first
    assert pings.count == 1


@pytest.mark.postgresql
def test_open_database_checks_its_postgresql_connections_at_checkout(url: str) -> None:
    database = open_database(url, pool_size=1, max_overflow=0)
    try:
        pings = Pings(database)
        first = _backend(database)
        assert [_backend(database) for _ in range(3)] == [first] * 3
        assert pings.count == 0, "no pool_pre_ping round trip for a connection used moments ago"
        _terminate(url, first)
        assert _backend(database) != first, "the dead connection was replaced before use"
        assert pings.count == 1
    finally:
        database.dispose()


@pytest.mark.postgresql
def test_pre_ping_asked_for_is_sqlalchemys(url: str) -> None:
    database = open_database(url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    try:
        pings = Pings(database)
        for _ in range(3):
            _backend(database)  # the first connects afresh: not pinged
        assert pings.count == 2, "pinged at every checkout of a pooled connection"
    finally:
        database.dispose()


@pytest.mark.postgresql
def test_no_pre_ping_asked_for_is_no_check(url: str) -> None:
    database = open_database(url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    try:
        _terminate(url, _backend(database))
        with pytest.raises(exc.OperationalError):
            _backend(database)  # handed out unchecked, as asked
    finally:
        database.dispose()


@pytest.mark.postgresql
def test_a_connection_idle_longer_that_died_without_a_word_is_pinged_and_replaced(
    checked: tuple[Engine, Clock, Pings], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NAT or firewall that forgets a connection leaves nothing on its socket to read."""
    database, clock, pings = checked
    first = _backend(database)
    _terminate(url, first)
    monkeypatch.setattr(checkout, "_quiet", lambda *_: True)  # the goodbye never arrived
    clock.now += ROUND_TRIP_AFTER_IDLE_S + 0.5
    assert _backend(database) != first
    assert pings.count == 1


def test_only_a_psycopg_engine_is_checked(tmp_path: Any) -> None:
    database = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(InvalidParameter, match="psycopg"):
        check_at_checkout(database)


@pytest.mark.asyncio
@pytest.mark.postgresql
async def test_the_async_engines_connections_are_checked_too(url: str) -> None:
    from sqlalchemy import text

    from lifecycle.store.database import open_async_database

    database = open_async_database(url, pool_size=1, max_overflow=0)
    pings = Pings(database.sync_engine)

    async def backend() -> int:
        async with database.connect() as connection:
            return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = await backend()
        assert await backend() == first
        assert pings.count == 0, "no round trip for a connection used moments ago"
        _terminate(url, first)
        assert await backend() != first, "replaced before use"
        assert pings.count == 1
    finally:
        await database.dispose()
