"""First-class support for the state-transition tests of services that embed the engine.

Installing the package registers this module as a pytest plugin (the ``pytest11`` entry point
``lifecycle``). It adds one option, ``--lifecycle-db-url`` (or the ini setting
``lifecycle_db_url``), and fixtures whose names all start with ``lifecycle_``; a suite that uses
none of them runs as before. Importing it is cheap: everything beyond pytest is imported when a
fixture or helper is first used.

Fixtures:

- ``lifecycle_engine``: a ``Lifecycle`` on a fresh in-memory SQLite database, or on the database
  the option names (its schema upgraded once per run, its lifecycle tables emptied before each
  test), with ``lifecycle_clock`` injected;
- ``lifecycle_async_engine`` (with pytest-asyncio, which the ``testing`` extra installs): an
  ``AsyncLifecycle`` on a fresh SQLite file copied from an upgraded template, or on the database
  the option names (emptied as above), with ``lifecycle_clock`` injected; for ``async def`` tests
  marked ``@pytest.mark.asyncio``;
- ``lifecycle_clock``: a ``ManualClock`` at ``START``, moved only by ``advance`` and ``set``;
- ``lifecycle_tenant``, ``lifecycle_platform``, ``lifecycle_system``: one actor of each role;
- ``lifecycle_assets``: an ``AssetFactory`` that brings a new asset into any reachable state
  through legal moves only, so that its audit trail is real;
- ``lifecycle_db_url``: the database URL chosen (None: in-memory SQLite); override it to choose
  in code.

Assertions whose failures show the asset's audit trail: ``assert_state``, ``assert_states``,
``assert_events``, ``assert_refused`` (``history_table`` formats a trail for messages of your
own).

Tests derived from the definition (``lifecycle.explore``, re-exported here): ``covering_paths``,
``refused_pairs``, ``conditional_refusals``, and ``path_to`` behind the factory.
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from lifecycle.actors import Actor, Platform, System, Tenant
    from lifecycle.aio import AsyncLifecycle
    from lifecycle.clock import ManualClock
    from lifecycle.definition import AssetFacts, AssetState, Definition, Event, FileState
    from lifecycle.engine import Lifecycle
    from lifecycle.errors import NoLegalPath, TransitionNotAllowed
    from lifecycle.explore import (
        Arrow,
        ConditionalRefusal,
        Path,
        Refusal,
        Step,
        arrows,
        conditional_refusals,
        covering_paths,
        path_to,
        refused_pairs,
    )
    from lifecycle.inputs import NewAsset
    from lifecycle.results import Asset, AuditEntry

__all__ = [
    "START",
    "Arrow",
    "AssetFactory",
    "ConditionalRefusal",
    "NoLegalPath",
    "Path",
    "Refusal",
    "Step",
    "arrows",
    "assert_events",
    "assert_refused",
    "assert_state",
    "assert_states",
    "conditional_refusals",
    "covering_paths",
    "history_table",
    "path_to",
    "refused_pairs",
]

START = datetime(2026, 1, 1, tzinfo=UTC)
"""Where ``lifecycle_clock`` starts."""

_EXPLORE_NAMES = frozenset(
    {
        "Arrow",
        "ConditionalRefusal",
        "Path",
        "Refusal",
        "Step",
        "arrows",
        "conditional_refusals",
        "covering_paths",
        "path_to",
        "refused_pairs",
    }
)


def __getattr__(name: str) -> object:
    """The generators, imported from ``lifecycle.explore`` on first use."""
    if name in _EXPLORE_NAMES:
        from lifecycle import explore

        return getattr(explore, name)
    if name == "NoLegalPath":
        from lifecycle.errors import NoLegalPath

        return NoLegalPath
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The plugin ------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lifecycle", "lifecycle engine fixtures")
    group.addoption(
        "--lifecycle-db-url",
        dest="lifecycle_db_url",
        metavar="URL",
        default=None,
        help="database for the lifecycle_engine fixture (e.g. postgresql+psycopg://...): its schema is"
        " upgraded once and its lifecycle tables emptied before each test. Default: the"
        " lifecycle_db_url ini setting, else a fresh in-memory SQLite database per test.",
    )
    parser.addini("lifecycle_db_url", "database URL for the lifecycle_engine fixture (as --lifecycle-db-url)")


@pytest.fixture(scope="session")
def lifecycle_db_url(pytestconfig: pytest.Config) -> str | None:
    """``--lifecycle-db-url``, else the ``lifecycle_db_url`` ini setting, else None (a fresh
    in-memory SQLite database per test). Override this fixture to choose in code."""
    url = pytestconfig.getoption("lifecycle_db_url") or pytestconfig.getini("lifecycle_db_url")
    return str(url) if url else None


class _Databases:
    """Where each test's engine comes from: a copy of an upgraded in-memory SQLite template, or
    the one database named, emptied."""

    def __init__(self, url: str | None) -> None:
        from lifecycle.store import schema
        from lifecycle.store.database import open_database

        self.url = url
        self.shared = open_database(url or "sqlite://")
        schema.upgrade(self.shared)

    def fresh(self) -> Engine:
        from sqlalchemy import text

        from lifecycle.store.database import copy_sqlite, open_database, transaction
        from lifecycle.store.models import metadata

        if self.url is None:
            database = open_database("sqlite://")
            copy_sqlite(self.shared, database)
            return database
        tables = [table.name for table in reversed(metadata.sorted_tables)]
        with transaction(self.shared, write=True) as connection:
            if self.shared.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)}"))
            else:
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our own table names
        return self.shared

    def release(self, database: Engine) -> None:
        if database is not self.shared:
            database.dispose()

    def close(self) -> None:
        self.shared.dispose()


@pytest.fixture(scope="session")
def _lifecycle_databases(lifecycle_db_url: str | None) -> Iterator[_Databases]:
    databases = _Databases(lifecycle_db_url)
    yield databases
    databases.close()


@pytest.fixture
def lifecycle_clock() -> ManualClock:
    """The engine's clock, at ``START`` until the test moves it (``advance``, ``set``)."""
    from lifecycle.clock import ManualClock

    return ManualClock(START)


@pytest.fixture
def lifecycle_engine(_lifecycle_databases: _Databases, lifecycle_clock: ManualClock) -> Iterator[Lifecycle]:
    """A ``Lifecycle`` on an empty, up-to-date database, on ``lifecycle_clock``'s time."""
    from lifecycle.engine import Lifecycle

    database = _lifecycle_databases.fresh()
    yield Lifecycle(database, clock=lifecycle_clock)
    _lifecycle_databases.release(database)


@pytest.fixture(scope="session")
def _lifecycle_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An upgraded SQLite file, copied for each async engine (a file: the async driver runs in a
    thread of its own, and a copy is much quicker than the migrations)."""
    from lifecycle.store import schema
    from lifecycle.store.database import open_database

    path = tmp_path_factory.mktemp("lifecycle-template") / "lifecycle.db"
    database = open_database(f"sqlite:///{path}")
    schema.upgrade(database)
    database.dispose()
    return str(path)


try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # the fixture needs the async test runner: pip install 'lifecycle[testing]'
    pass
else:

    @_async_fixture(loop_scope="function")
    async def lifecycle_async_engine(
        request: pytest.FixtureRequest,
        lifecycle_db_url: str | None,
        lifecycle_clock: ManualClock,
        tmp_path: pathlib.Path,
    ) -> AsyncIterator[AsyncLifecycle]:
        """An ``AsyncLifecycle`` on an empty, up-to-date database, on ``lifecycle_clock``'s time."""
        from lifecycle.aio import AsyncLifecycle

        if lifecycle_db_url is None:
            copy = tmp_path / "lifecycle.db"
            shutil.copyfile(request.getfixturevalue("_lifecycle_sqlite_template"), copy)
            url = f"sqlite:///{copy}"
        else:
            databases: _Databases = request.getfixturevalue("_lifecycle_databases")
            databases.fresh()
            url = lifecycle_db_url
        async with AsyncLifecycle(url, clock=lifecycle_clock) as engine:
            yield engine


@pytest.fixture
def lifecycle_tenant() -> Tenant:
    """A tenant (``test-tenant``, through its user ``test-user``)."""
    from lifecycle.actors import Tenant

    return Tenant("test-tenant", app_user_id="test-user")


@pytest.fixture
def lifecycle_platform() -> Platform:
    """The platform, through the operator ``test-operator``."""
    from lifecycle.actors import Platform

    return Platform("test-operator")


@pytest.fixture
def lifecycle_system() -> System:
    """The system (the scheduler): the moves time makes, planned operations."""
    from lifecycle.actors import System

    return System()


@pytest.fixture
def lifecycle_assets(
    lifecycle_engine: Lifecycle,
    lifecycle_tenant: Tenant,
    lifecycle_platform: Platform,
    lifecycle_system: System,
) -> AssetFactory:
    """New assets of ``lifecycle_tenant``, brought into any reachable state by legal moves."""
    return AssetFactory(
        lifecycle_engine, lifecycle_tenant, platform=lifecycle_platform, system=lifecycle_system
    )


# The factory -----------------------------------------------------------------------------------

_own_tenants = itertools.count(1)


class AssetFactory:
    """Creates assets and moves them along legal paths with the engine's public calls.

    Each move is made by an actor its event allows (``lifecycle.explore.role_for``: the asset's
    tenant first, then the platform, then the system); a freeze of the whole tenant is made with
    ``freeze_tenant``, on a tenant of the asset's own (``<tenant>.own-<n>``) unless ``tenant`` is
    given, so that it freezes nothing else. After each move the asset is checked against the
    path: the engine and the definition cannot disagree unnoticed.
    """

    def __init__(
        self,
        engine: Lifecycle,
        tenant: Tenant,
        *,
        platform: Platform | None = None,
        system: System | None = None,
        template: NewAsset | None = None,
    ) -> None:
        from lifecycle.actors import Platform, System

        self.engine = engine
        self.tenant = tenant
        self.platform = platform or Platform("test-operator")
        self.system = system or System()
        self.template = template or _default_asset()
        """What each asset is created as (its review and activate-on-upload choices aside)."""

    def new(
        self,
        state: AssetState | None = None,
        *,
        pre_freeze: AssetState | None = None,
        pre_delete: AssetState | None = None,
        frozen_by_tenant: bool | None = False,
        review_required: bool | None = None,
        activate_on_upload: bool | None = None,
        main_file_state: FileState | None = None,
        tenant: Tenant | None = None,
        asset: NewAsset | None = None,
    ) -> Asset:
        """A new asset in ``state`` (default CREATING) with the remembered states given, brought
        there along a shortest legal path (``path_to``: None leaves a field to that path).

        Raises ``NoLegalPath``, listing what is reachable in that state, where no path leads.
        """
        __tracebackhide__ = True
        from lifecycle.definition import AssetState
        from lifecycle.explore import path_to

        path = path_to(
            state or AssetState.CREATING,
            pre_freeze=pre_freeze,
            pre_delete=pre_delete,
            frozen_by_tenant=frozen_by_tenant,
            review_required=review_required,
            activate_on_upload=activate_on_upload,
            main_file_state=main_file_state,
            definition=self.engine.definition,
        )
        return self.follow(path, tenant=tenant, asset=asset)

    def follow(self, path: Path, *, tenant: Tenant | None = None, asset: NewAsset | None = None) -> Asset:
        """A new asset moved along ``path``: the asset at its end."""
        *_, last = self.walk(path, tenant=tenant, asset=asset)
        return last

    def walk(
        self, path: Path, *, tenant: Tenant | None = None, asset: NewAsset | None = None
    ) -> Iterator[Asset]:
        """A new asset moved along ``path`` one step at a time: the asset as created, then after
        each step (``len(path.steps) + 1`` in all, in step with ``path.facts``)."""
        from lifecycle.actors import Tenant
        from lifecycle.definition import Event, FailType
        from lifecycle.explore import describe

        owner = tenant or self.tenant
        if tenant is None and any(step.tenant_wide for step in path.steps):
            owner = Tenant(f"{self.tenant.project_id}.own-{next(_own_tenants)}")
        new = dataclasses.replace(
            asset or self.template,
            review_required=path.start.review_required,
            activate_on_upload=path.start.activate_on_upload,
        )
        current = self.engine.create_asset(owner, new)
        yield current
        for number, (step, expected) in enumerate(zip(path.steps, path.facts[1:], strict=True), 1):
            if step.tenant_wide:
                self.engine.freeze_tenant(self.platform, owner.project_id)
            else:
                fail_type = FailType.MANUAL_REVIEW_REJECT if step.event is Event.REJECT_REVIEW else None
                actor = self.actor_for(current, step.event, tenant=owner)
                self.engine.fire(actor, current.asset_id, step.event, fail_type=fail_type)
            current = self.engine.get_asset(owner, current.asset_id)
            if _facts_of(current) != expected:
                raise AssertionError(
                    f"step {number} ({step}) of path {path} should have left the asset at"
                    f" {describe(expected)}, not {describe(_facts_of(current))}\n"
                    + _trail(self.engine, current.asset_id)
                )
            yield current

    def tenant_of(self, asset: Asset) -> Tenant:
        """The asset's tenant: ``tenant`` for its own assets, else one of the asset's own."""
        from lifecycle.actors import Tenant

        return self.tenant if asset.project_id == self.tenant.project_id else Tenant(asset.project_id)

    def actor_for(self, asset: Asset, event: Event, *, tenant: Tenant | None = None) -> Actor:
        """An actor ``event`` allows: the asset's tenant, else the platform, else the system."""
        return _actor_for(
            self.engine.definition,
            event,
            asset,
            tenant=tenant or self.tenant,
            platform=self.platform,
            system=self.system,
        )


def _facts_of(asset: Asset) -> AssetFacts:
    """What the definition knows of an asset, read back from the engine."""
    from lifecycle.definition import AssetFacts, BlockScope

    return AssetFacts(
        asset.asset_state,
        pre_freeze=asset.pre_freeze_state,
        pre_delete=asset.pre_delete_state,
        activate_on_upload=asset.activate_on_upload,
        review_required=asset.review_required,
        main_file_state=asset.main_file.state,
        frozen_by_tenant=asset.block_scope is BlockScope.TENANT,
    )


def _default_asset() -> NewAsset:
    from lifecycle.definition import AssetType
    from lifecycle.inputs import NewAsset, NewFile

    return NewAsset(
        asset_name="Test asset",
        asset_type=AssetType.VIDEO,
        files=[NewFile("main.mp4", 1024, "d41d8cd98f00b204e9800998ecf8427e")],
    )


def _actor_for(
    definition: Definition,
    event: Event,
    asset: Asset,
    *,
    tenant: Tenant | None = None,
    platform: Platform | None = None,
    system: System | None = None,
) -> Actor:
    from lifecycle.actors import Platform, System, Tenant
    from lifecycle.definition import Role
    from lifecycle.explore import role_for

    role = role_for(event, definition)
    if role is Role.TENANT:
        return (
            tenant
            if tenant is not None and tenant.project_id == asset.project_id
            else Tenant(asset.project_id)
        )
    if role is Role.PLATFORM:
        return platform or Platform("test-operator")
    return system or System()


# Assertions ------------------------------------------------------------------------------------


def history_table(entries: Sequence[AuditEntry]) -> str:
    """An audit trail, one row per move: seq, event, from -> to, actor, remembered states, reason."""
    header = ("seq", "event", "from -> to", "actor", "pre_freeze", "pre_delete", "reason")
    rows = [header] + [
        (
            str(entry.seq),
            entry.event.value,
            f"{entry.from_state.value if entry.from_state else '-'} -> {entry.to_state.value}",
            f"{entry.actor_kind.value}:{entry.actor_id}",
            entry.pre_freeze_state.value if entry.pre_freeze_state else "-",
            entry.pre_delete_state.value if entry.pre_delete_state else "-",
            entry.reason or "-",
        )
        for entry in entries
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def assert_state(engine: Lifecycle, asset: Asset | str, expected: AssetState) -> None:
    """The asset is in ``expected`` now."""
    __tracebackhide__ = True
    current = engine.get_asset(_reader(), _id(asset))
    if current.asset_state is not expected:
        raise AssertionError(
            f"asset {current.asset_id} is in {current.asset_state.value}, expected {expected.value}\n"
            + _trail(engine, current.asset_id)
        )


def assert_states(engine: Lifecycle, asset: Asset | str, expected: Sequence[AssetState]) -> None:
    """The asset went through exactly ``expected``, from creation on (``CREATING`` first; as
    ``Path.states``)."""
    __tracebackhide__ = True
    trail = engine.history(_reader(), _id(asset))
    actual = [entry.to_state for entry in trail]
    if actual != list(expected):
        raise AssertionError(
            f"asset {_id(asset)} went through {_sequence(actual)},"
            f" expected {_sequence(expected)}\n" + _table(engine, _id(asset), trail)
        )


def assert_events(engine: Lifecycle, asset: Asset | str, expected: Sequence[Event]) -> None:
    """The moves made since the asset's creation were exactly ``expected`` (``create`` itself is
    not listed; as ``Path.events``)."""
    __tracebackhide__ = True
    trail = engine.history(_reader(), _id(asset))
    actual = [entry.event for entry in trail[1:]]
    if actual != list(expected):
        raise AssertionError(
            f"asset {_id(asset)} had the moves {_sequence(actual)},"
            f" expected {_sequence(expected)}\n" + _table(engine, _id(asset), trail)
        )


def assert_refused(
    engine: Lifecycle,
    asset: Asset | str,
    event: Event,
    *,
    actor: Actor | None = None,
    **options: Any,
) -> TransitionNotAllowed:
    """``event`` is refused with ``TransitionNotAllowed`` and nothing is written.

    ``actor`` defaults to one the event allows (the asset's tenant, else the platform, else the
    system), so that the refusal is the state's, not the role's; a review rejection gets a fail
    type. ``options`` go to ``engine.fire``. Returns the refusal.
    """
    __tracebackhide__ = True
    from lifecycle.definition import Event, FailType
    from lifecycle.errors import TransitionNotAllowed

    before = engine.get_asset(_reader(), _id(asset))
    trail = engine.history(_reader(), before.asset_id)
    if event is Event.REJECT_REVIEW:
        options.setdefault("fail_type", FailType.MANUAL_REVIEW_REJECT)
    try:
        engine.fire(actor or _actor_for(engine.definition, event, before), before.asset_id, event, **options)
    except TransitionNotAllowed as refusal:
        after = engine.get_asset(_reader(), before.asset_id)
        if after != before or len(engine.history(_reader(), before.asset_id)) != len(trail):
            raise AssertionError(
                f"'{event.value}' was refused but asset {before.asset_id} changed\n"
                + _trail(engine, before.asset_id)
            ) from refusal
        return refusal
    raise AssertionError(
        f"'{event.value}' should have been refused for asset {before.asset_id} in"
        f" {_memory(before.asset_state, before.pre_freeze_state, before.pre_delete_state)}, but was"
        f" applied\n" + _trail(engine, before.asset_id)
    )


def _reader() -> Actor:
    """Reads for the assertions: the platform sees every tenant's assets."""
    from lifecycle.actors import Platform

    return Platform("lifecycle.testing")


def _id(asset: Asset | str) -> str:
    return asset if isinstance(asset, str) else asset.asset_id


def _sequence(items: Sequence[AssetState] | Sequence[Event]) -> str:
    return " -> ".join(item.value for item in items) or "(none)"


def _memory(state: AssetState, pre_freeze: AssetState | None, pre_delete: AssetState | None) -> str:
    remembered = [
        f"{name}={value.value}"
        for name, value in (("pre_freeze", pre_freeze), ("pre_delete", pre_delete))
        if value
    ]
    return state.value + (f" ({', '.join(remembered)})" if remembered else "")


def _trail(engine: Lifecycle, asset_id: str) -> str:
    return _table(engine, asset_id, engine.history(_reader(), asset_id))


def _table(engine: Lifecycle, asset_id: str, trail: Sequence[AuditEntry]) -> str:
    current = engine.get_asset(_reader(), asset_id)
    now = _memory(current.asset_state, current.pre_freeze_state, current.pre_delete_state)
    return f"history of asset {asset_id} (tenant {current.project_id}), now {now}:\n{history_table(trail)}"
