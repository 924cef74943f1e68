"""PostgreSQL connections checked at checkout (lifecycle/store/checkout.py): a round trip only for
a connection idle a while or with something to read, a dead one replaced before it is used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from lifecycle.store.checkout import ROUND_TRIP_AFTER_IDLE_S, check_at_checkout
from lifecycle.store.database import open_database

pytestmark = pytest.mark.postgresql


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


def test_a_connection_back_moments_ago_is_handed_out_without_a_round_trip(
    checked: tuple[Engine, Clock, Pings],
) -> None:
    database, clock, pings = checked
    first = _backend(database)
    for _ in range(5):
        clock.now += 1.0
        assert _backend(database) == first
    assert pings.count == 0


def test_a_connection_idle_longer_is_pinged_once_at_checkout(checked: tuple[Engine, Clock, Pings]) -> None:
    database, clock, pings = checked
    first = _backend(database)
    clock.now += ROUND_TRIP_AFTER_IDLE_S + 0.5
    assert _backend(database) == first, "it answered, so it is kept"
    assert pings.count == 1
    assert _backend(database) == first
    assert pings.count == 1, "used again at once: no round trip"


def test_a_connection_whose_backend_ended_moments_ago_is_replaced_before_use(
    checked: tuple[Engine, Clock, Pings], url: str
) -> None:
    import psycopg

    database, _, pings = checked
    first = _backend(database)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as killer:
        assert killer.execute("SELECT pg_terminate_backend(%s, 5000)", (first,)).fetchone() == (True,)
    second = _backend(database)  # the server's goodbye is on the socket: pinged, found dead, replaced
    assert second != first
    assert pings.count == 1


def test_pre_ping_asked_for_is_sqlalchemys_and_none_is_none(url: str) -> None:
    for pre_ping, pings_expected in ((True, 2), (False, 0)):
        database = open_database(url, pool_size=1, max_overflow=0, pool_pre_ping=pre_ping)
        try:
            pings = Pings(database)
            for _ in range(3):
                _backend(database)  # the first connects afresh: not pinged
            assert pings.count == pings_expected
        finally:
            database.dispose()


def test_open_database_checks_its_postgresql_connections_at_checkout(url: str) -> None:
    database = open_database(url, pool_size=1, max_overflow=0)
    try:
        pings = Pings(database)
        first = _backend(database)
        assert [_backend(database) for _ in range(3)] == [first] * 3
        assert pings.count == 0, "no pool_pre_ping round trip for a connection used moments ago"
    finally:
        database.dispose()


@pytest.mark.asyncio
async def test_the_async_engines_connections_are_checked_too(url: str) -> None:
    import psycopg
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
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as killer:
            assert killer.execute("SELECT pg_terminate_backend(%s, 5000)", (first,)).fetchone() == (True,)
        assert await backend() != first, "replaced before use"
        assert pings.count == 1
    finally:
        await database.dispose()
