"""Two operations on one asset, interleaved at every statement, end as if run one after the other.

For each pair, operation A is paused after its k-th statement (k = 0, 1, … up to all of them)
while operation B runs on another connection, either to its end or until it waits for a lock A
holds; then A goes on. Whatever k, the outcomes and the stored result must be those of running A
then B, or B then A; or, where one of them lost the race (``Conflict``, nothing written), those of
the other run alone. This is the check that caught a pending unfreeze application left on an asset
an unfreeze had just released, when applying did not lock the asset.

PostgreSQL only: SQLite's write transactions take the database's lock up front (``BEGIN
IMMEDIATE``), so two of them never interleave.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text

from lifecycle.actors import Platform, Tenant
from lifecycle.billing import StoragePolicy
from lifecycle.clock import ManualClock
from lifecycle.definition import FileCategory, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import Conflict, LifecycleError, TransitionNotAllowed
from lifecycle.settings import Settings
from lifecycle.store.database import open_database
from lifecycle.store.models import applications, assets, audit, files
from tests.conftest import POSTGRES_URL, START, TABLES, new_asset

pytestmark = pytest.mark.postgresql

TENANT = Tenant("interleaved")
PLATFORM = Platform("interleaving-operator")
WAIT_SECONDS = 30
B_AHEAD = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Subject:
    asset_id: str
    cover_file_id: str
    application_id: str | None
    second_asset_id: str | None = None
    """Another asset of the same tenant, for two uploads competing for its storage allowance."""


Setup = Callable[[Lifecycle], Subject]
Operation = Callable[[Lifecycle, Subject], object]


def _created(lifecycle: Lifecycle) -> Subject:
    asset = lifecycle.create_asset(TENANT, new_asset())
    cover = next(f for f in asset.files if f.asset_file_category is FileCategory.COVER)
    return Subject(asset.asset_id, cover.file_id, None)


def _frozen(lifecycle: Lifecycle) -> Subject:
    subject = _created(lifecycle)
    lifecycle.freeze(PLATFORM, subject.asset_id)
    return subject


def _applied(lifecycle: Lifecycle) -> Subject:
    subject = _frozen(lifecycle)
    application = lifecycle.apply_for_unfreeze(TENANT, subject.asset_id)
    return Subject(subject.asset_id, subject.cover_file_id, application.application_id)


def _application_id(subject: Subject) -> str:
    assert subject.application_id is not None
    return subject.application_id


OPERATIONS: dict[str, Operation] = {
    "apply": lambda lc, s: lc.apply_for_unfreeze(TENANT, s.asset_id),
    "unfreeze": lambda lc, s: lc.unfreeze(PLATFORM, s.asset_id),
    "freeze": lambda lc, s: lc.freeze(PLATFORM, s.asset_id),
    "delete": lambda lc, s: lc.delete(TENANT, s.asset_id),
    "delete_force": lambda lc, s: lc.delete(PLATFORM, s.asset_id, force=True),
    "approve": lambda lc, s: lc.approve_unfreeze(PLATFORM, _application_id(s)),
    "reject": lambda lc, s: lc.reject_unfreeze(PLATFORM, _application_id(s)),
    "confirm_cover": lambda lc, s: lc.confirm_upload(
        TENANT, s.asset_id, s.cover_file_id, UploadResult.CREATED
    ),
    "upload_first": lambda lc, s: _upload_main(lc, s.asset_id),
    "upload_second": lambda lc, s: _upload_main(lc, s.second_asset_id),
    "create_third": lambda lc, _s: lc.create_asset(TENANT, new_asset("third")),
}


def _upload_main(lifecycle: Lifecycle, asset_id: str | None) -> object:
    assert asset_id is not None
    main = lifecycle.get_asset(TENANT, asset_id).main_file.file_id
    return lifecycle.confirm_upload(TENANT, asset_id, main, UploadResult.CREATED)


def _two_declared(lifecycle: Lifecycle) -> Subject:
    first = _created(lifecycle)
    second = lifecycle.create_asset(TENANT, new_asset("second"))
    return Subject(first.asset_id, first.cover_file_id, None, second.asset_id)


PAIRS: list[tuple[Setup, str, str]] = [
    (_frozen, "apply", "unfreeze"),
    (_frozen, "unfreeze", "apply"),
    (_frozen, "apply", "delete_force"),
    (_frozen, "delete_force", "apply"),
    (_frozen, "apply", "delete"),
    (_applied, "approve", "reject"),
    (_applied, "reject", "approve"),
    (_applied, "approve", "unfreeze"),
    (_applied, "unfreeze", "approve"),
    (_applied, "approve", "delete_force"),
    (_applied, "delete", "approve"),
    (_created, "confirm_cover", "freeze"),
    (_created, "freeze", "confirm_cover"),
    (_created, "confirm_cover", "delete_force"),
]


def _outcome(run: Callable[[], object]) -> str:
    """What an operation answered: ``ok``, ``refused`` (by the table), ``lost the race`` or the
    typed error's name. Anything not typed is the test's failure."""
    try:
        run()
    except TransitionNotAllowed:
        return "refused"
    except Conflict:
        return "lost the race"
    except LifecycleError as error:
        return type(error).__name__
    return "ok"


def _stored(connection: Connection, subject: Subject) -> tuple[object, ...]:
    """The assets as stored, without their ids or times: what two runs can be compared by."""
    stored = _stored_asset(connection, subject.asset_id)
    if subject.second_asset_id is None:
        return stored
    return (stored, _stored_asset(connection, subject.second_asset_id))


def _stored_asset(connection: Connection, asset_id: str) -> tuple[object, ...]:
    asset = connection.execute(
        select(
            assets.c.asset_state, assets.c.pre_freeze_state, assets.c.pre_delete_state, assets.c.version
        ).where(assets.c.asset_id == asset_id)
    ).one()
    file_states = connection.execute(
        select(files.c.asset_file_category, files.c.state)
        .where(files.c.asset_id == asset_id)
        .order_by(files.c.position)
    ).all()
    application_states = connection.execute(
        select(applications.c.state)
        .where(applications.c.asset_id == asset_id)
        .order_by(applications.c.applied_at, applications.c.state)
    ).all()
    moves = connection.execute(
        select(audit.c.event, audit.c.from_state, audit.c.to_state)
        .where(audit.c.asset_id == asset_id)
        .order_by(audit.c.seq)
    ).all()
    return (tuple(asset), tuple(map(tuple, file_states)), tuple(map(tuple, application_states)), tuple(moves))


@dataclass
class Run:
    outcomes: tuple[str, str]
    stored: tuple[object, ...]
    statements: int
    retries: int


class Interleaver:
    """Runs A on one engine and B on another, pausing A after its k-th statement to run B."""

    def __init__(self, url: str, checker: Engine, settings: Settings | None = None) -> None:
        self.checker = checker
        self.settings = settings or Settings()
        self.engine_a = open_database(url, connect_args={"application_name": "interleave-a"})
        self.engine_b = open_database(url, connect_args={"application_name": "interleave-b"})

    def close(self) -> None:
        self.engine_a.dispose()
        self.engine_b.dispose()

    def reset(self) -> None:
        with self.checker.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))

    def serial(self, setup: Setup, first: Operation, second: Operation | None) -> Run:
        """``first``, then ``second`` (None: not at all)."""
        self.reset()
        service = Lifecycle(self.engine_a, clock=ManualClock(START), settings=self.settings)
        subject = setup(service)
        outcomes = (
            _outcome(lambda: first(service, subject)),
            "lost the race" if second is None else _outcome(lambda: second(service, subject)),
        )
        with self.checker.connect() as connection:
            return Run(outcomes, _stored(connection, subject), 0, service.transaction_retries)

    def interleaved(self, setup: Setup, a: Operation, b: Operation, pause_after: int) -> Run:
        """A paused after statement ``pause_after`` (0: before its first) while B runs."""
        self.reset()
        service_a = Lifecycle(self.engine_a, clock=ManualClock(START), settings=self.settings)
        # B is another instance, whose clock runs a little ahead: what it writes is later than
        # A's now, and must not be missed for that.
        service_b = Lifecycle(self.engine_b, clock=ManualClock(START + B_AHEAD), settings=self.settings)
        subject = setup(service_a)
        b_outcome: list[str] = []
        b_thread = threading.Thread(target=lambda: b_outcome.append(_outcome(lambda: b(service_b, subject))))
        statements = 0

        def run_b_then_go_on() -> None:
            b_thread.start()
            deadline = time.monotonic() + WAIT_SECONDS
            with self.checker.connect() as watcher:
                while b_thread.is_alive() and not _b_waits_for_a_lock(watcher):
                    assert time.monotonic() < deadline, "B neither finished nor waited for a lock"

        def after_statement(*_args: Any) -> None:
            nonlocal statements
            statements += 1
            if statements == pause_after:
                run_b_then_go_on()

        if pause_after == 0:
            run_b_then_go_on()
        event.listen(self.engine_a, "after_cursor_execute", after_statement)
        try:
            a_outcome = _outcome(lambda: a(service_a, subject))
        finally:
            event.remove(self.engine_a, "after_cursor_execute", after_statement)
        if not b_thread.is_alive() and not b_outcome:  # A had fewer statements: B runs after it
            b_thread.start()
        b_thread.join(WAIT_SECONDS)
        assert not b_thread.is_alive(), "B never finished"
        with self.checker.connect() as connection:
            stored = _stored(connection, subject)
        retries = service_a.transaction_retries + service_b.transaction_retries
        return Run((a_outcome, b_outcome[0]), stored, statements, retries)


def _b_waits_for_a_lock(watcher: Connection) -> bool:
    """Whether B's backend waits for a lock: pg_locks is the live lock table, so polling it waits
    for that state itself, not for some time to pass."""
    return bool(
        watcher.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.application_name = 'interleave-b'"
                " AND a.datname = current_database())"
            )
        ).scalar_one()
    )


@pytest.fixture
def interleaver(postgres_engine: Engine) -> Iterator[Interleaver]:
    assert POSTGRES_URL is not None
    runner = Interleaver(POSTGRES_URL, postgres_engine)
    yield runner
    runner.close()


@pytest.mark.parametrize(
    ("setup", "a", "b"), PAIRS, ids=[f"{a}-then-{b}-on-{setup.__name__.strip('_')}" for setup, a, b in PAIRS]
)
def test_every_interleaving_ends_as_one_serial_order(
    interleaver: Interleaver, setup: Setup, a: str, b: str
) -> None:
    a_then_b = interleaver.serial(setup, OPERATIONS[a], OPERATIONS[b])
    b_then_a = interleaver.serial(setup, OPERATIONS[b], OPERATIONS[a])
    a_alone = interleaver.serial(setup, OPERATIONS[a], None)
    b_alone = interleaver.serial(setup, OPERATIONS[b], None)
    serial = {
        "A then B": (a_then_b.outcomes, a_then_b.stored),
        "B then A": (b_then_a.outcomes[::-1], b_then_a.stored),
        "A alone, B lost the race": (a_alone.outcomes, a_alone.stored),
        "B alone, A lost the race": (b_alone.outcomes[::-1], b_alone.stored),
    }
    alone = interleaver.interleaved(setup, OPERATIONS[a], OPERATIONS[b], pause_after=10**6)
    assert alone.statements > 0
    for pause_after in range(alone.statements + 1):
        run = interleaver.interleaved(setup, OPERATIONS[a], OPERATIONS[b], pause_after)
        matches = [name for name, result in serial.items() if result == (run.outcomes, run.stored)]
        assert matches, (
            f"A paused after statement {pause_after} of {alone.statements}: A, B answered {run.outcomes}"
            f" and stored {run.stored}; serially: {serial}"
        )
        assert run.retries == 0, "locks are taken in one order: no deadlock to retry"


ALLOWANCE_PAIRS = [("upload_first", "upload_second"), ("upload_first", "create_third")]
ONE_MAIN_FILE_FITS = StoragePolicy(
    free_bytes=new_asset().files[0].file_size * 3 // 2, refuse_uploads_over_allowance=True
)


@pytest.mark.parametrize(("a", "b"), ALLOWANCE_PAIRS, ids=[f"{a}-then-{b}" for a, b in ALLOWANCE_PAIRS])
def test_two_uploads_never_both_fit_an_allowance_with_room_for_one(
    postgres_engine: Engine, a: str, b: str
) -> None:
    """The allowance is checked after the write, serialized per tenant: whichever commits second
    sees the first, so the tenant never ends past its allowance, at any interleaving."""
    assert POSTGRES_URL is not None
    runner = Interleaver(POSTGRES_URL, postgres_engine, Settings(storage=ONE_MAIN_FILE_FITS))
    try:
        a_then_b = runner.serial(_two_declared, OPERATIONS[a], OPERATIONS[b])
        b_then_a = runner.serial(_two_declared, OPERATIONS[b], OPERATIONS[a])
        assert a_then_b.outcomes == ("ok", "StorageAllowanceExceeded")
        assert b_then_a.outcomes[0] == "ok"
        serial = {(a_then_b.outcomes, a_then_b.stored), (b_then_a.outcomes[::-1], b_then_a.stored)}
        alone = runner.interleaved(_two_declared, OPERATIONS[a], OPERATIONS[b], pause_after=10**6)
        for pause_after in range(alone.statements + 1):
            run = runner.interleaved(_two_declared, OPERATIONS[a], OPERATIONS[b], pause_after)
            assert (run.outcomes, run.stored) in serial, f"paused after {pause_after}: {run.outcomes}"
            assert run.retries == 0
    finally:
        runner.close()
