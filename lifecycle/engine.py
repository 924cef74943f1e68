"""The facade a service embeds: ``Lifecycle``, the engine.

It builds its collaborators once, over one shared ``Context``, and hands each call to one of
them: ``AssetManager`` (creations, moves, uploads, tenant-wide freezes, batches),
``Changes`` (what moves no state: files declared and deleted later, metadata updated),
``UnfreezeApplications``, ``Reader``, ``Storage``, ``Auditor``, ``Sweeper`` and ``Feed``. How a
move flows from here to its audit row and its log event: docs/architecture.md.

Each collaborator but the ``Reader`` is built, and its module imported, when a call first needs
it (``_OnFirstUse``): a process that only reads, such as the admin script's ``show``, imports
none of the modules that write, sweep, verify or follow the feed (docs/performance.md, "The admin
script's start").
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack, overload

from sqlalchemy import Engine

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.billing import AssetStorage, StorageReport
from lifecycle.clock import Clock, SystemClock
from lifecycle.context import Context, Logs
from lifecycle.definition import (
    DEFINITION,
    ApplicationState,
    AssetState,
    BatchAction,
    Definition,
    Event,
    FailType,
    UploadResult,
)
from lifecycle.errors import LifecycleError, SchemaOutOfDate
from lifecycle.inputs import NewAsset, NewFile, check_flag
from lifecycle.listeners import Listener, Subscription
from lifecycle.logs import EventLogger
from lifecycle.moves import MoveOptions, MoveRequest
from lifecycle.reader import ListingFilters, ListingOptions, Reader
from lifecycle.results import (
    Asset,
    AssetFile,
    AssetSummary,
    AuditEntry,
    BatchResult,
    Page,
    TenantOperation,
    Transitioned,
    UnfreezeApplication,
    UploadConfirmed,
)
from lifecycle.retry import RetryPolicy
from lifecycle.settings import DEFAULT_BATCH_SIZE, DEFAULT_DATABASE_URL, DEFAULT_STORAGE_PAGE, Settings
from lifecycle.store import schema
from lifecycle.store.database import open_database

if TYPE_CHECKING:
    # The collaborators built on first use, and what only their calls name: imported by them.
    from lifecycle.applications import UnfreezeApplications
    from lifecycle.auditor import Auditor
    from lifecycle.changes import Changes
    from lifecycle.feed import Consumer, Feed, Handler
    from lifecycle.integrity import AuditReport
    from lifecycle.manager import AssetManager
    from lifecycle.storage import Storage
    from lifecycle.sweeps import Sweeper, SweepListener, SweepReport

T = TypeVar("T")


class _OnFirstUse(Generic[T]):
    """A collaborator of the engine, built by the decorated method when a call first needs it,
    then kept as an attribute of the engine (found there before this descriptor, as
    ``functools.cached_property`` does).

    The first build holds the engine's lock, so that two threads never build two of one
    collaborator: each would then serve some of the calls, and the ``feed`` the engine hands out
    is one object. Reentrant: building the manager builds the storage it is given. Once built, a
    collaborator is read without the lock.
    """

    def __init__(self, build: Callable[[Lifecycle], T]) -> None:
        self._build = build
        self._name = build.__name__

    def __set_name__(self, owner: type[Lifecycle], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, engine: None, owner: type[Lifecycle]) -> _OnFirstUse[T]: ...

    @overload
    def __get__(self, engine: Lifecycle, owner: type[Lifecycle]) -> T: ...

    def __get__(self, engine: Lifecycle | None, owner: type[Lifecycle]) -> T | _OnFirstUse[T]:
        if engine is None:
            return self
        with engine._building:
            built: T | None = engine.__dict__.get(self._name)
            if built is None:
                built = self._build(engine)
                engine.__dict__[self._name] = built
            return built


class Lifecycle:
    """The asset lifecycle over one database. Create it once per service; it is thread-safe."""

    def __init__(
        self,
        database: str | Engine = DEFAULT_DATABASE_URL,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        logger: EventLogger | None = None,
        definition: Definition = DEFINITION,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``database``: a URL (``sqlite:///…``, ``postgresql://…``) or an SQLAlchemy ``Engine``
        (yours to dispose of). ``logger``: one logger for every event, instead of the
        ``lifecycle.*`` loggers (docs/logging.md). ``definition``: the transition table, honoured
        by every collaborator. ``retry``: how transactions refused for contention are run again."""
        self._building = threading.RLock()
        self._owns_database = isinstance(database, str)
        self.database: Engine = open_database(database) if isinstance(database, str) else database
        try:
            self.context = Context(
                self.database,
                clock=clock or SystemClock(),
                settings=Settings() if settings is None else settings,
                definition=definition,
                logs=Logs.named() if logger is None else Logs.all_to(logger),
                retry=RetryPolicy() if retry is None else retry,
            )
        except LifecycleError:
            self.close()
            raise
        self._reader = Reader(self.context)

    # The other collaborators, each built when a call first needs it (none of them checks
    # anything when built: the settings and the definition were checked before).

    @_OnFirstUse
    def _storage(self) -> Storage:
        from lifecycle.storage import Storage

        return Storage(self.context)

    @_OnFirstUse
    def _manager(self) -> AssetManager:
        from lifecycle.manager import AssetManager

        return AssetManager(self.context, self._storage, self._reader)

    @_OnFirstUse
    def _changes(self) -> Changes:
        from lifecycle.changes import Changes

        return Changes(self.context, self._storage, self._reader, self._manager.apply)

    @_OnFirstUse
    def _applications(self) -> UnfreezeApplications:
        from lifecycle.applications import UnfreezeApplications

        return UnfreezeApplications(self.context, self._manager)

    @_OnFirstUse
    def _auditor(self) -> Auditor:
        from lifecycle.auditor import Auditor

        return Auditor(self.context)

    @_OnFirstUse
    def _sweeper(self) -> Sweeper:
        from lifecycle.sweeps import Sweeper

        return Sweeper(self.context)

    @_OnFirstUse
    def _feed(self) -> Feed:
        from lifecycle.feed import Feed

        return Feed(self.context)

    @property
    def clock(self) -> Clock:
        return self.context.clock

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def definition(self) -> Definition:
        return self.context.definition

    @property
    def engine(self) -> Engine:
        """Deprecated: the SQLAlchemy engine is ``database`` (the engine is this ``Lifecycle``)."""
        warnings.warn(
            "Lifecycle.engine is deprecated: use Lifecycle.database", DeprecationWarning, stacklevel=2
        )
        return self.database

    # Set-up ----------------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the database schema up to date (Alembic migrations); the one call that creates a
        missing SQLite file. Safe from many processes at once (docs/reliability.md)."""
        schema.upgrade(self.database)

    def check_schema(self) -> None:
        """Raise ``SchemaOutOfDate`` unless the database is at this engine's schema revision.

        Call it when the service starts: a deployment that forgot ``upgrade()`` fails at once
        with a clear message instead of at its first query.
        """
        current, head = schema.current_revision(self.database), schema.head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"the database schema is at revision {current or 'none'}, the engine needs {head};"
                " run Lifecycle.upgrade() (or: lifecycle db upgrade)"
            )

    def close(self) -> None:
        """Release the database's connections, if this engine opened it (from a URL)."""
        if self._owns_database:
            self.database.dispose()

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def retry(self) -> RetryPolicy:
        """The policy under which transactions refused for contention are run again."""
        return self.context.retries.policy

    @property
    def transaction_retries(self) -> int:
        """How many times a transaction (the sweeper's included) was run again since this engine
        was made, over all threads: each was also logged as ``transaction_retried``."""
        return self.context.retries.count

    # Creation ----------------------------------------------------------------------------------

    def create_asset(
        self,
        actor: Tenant | Platform,
        new: NewAsset,
        *,
        project_id: str | None = None,
        request_id: str | None = None,
    ) -> Asset:
        """Create an asset in CREATING, its files declared, its upload window started.

        A tenant creates its own; the platform creates one for the tenant ``project_id`` names (what
        its production services made to the tenant's order). Only the platform may mark an asset
        customized, or a file as a timbre model: that makes storage free (docs/billing.md). A retry
        with the same ``request_id`` answers with the asset the request created, never a second.
        """
        return self._manager.create_asset(actor, new, project_id, request_id)

    # Changes that move no state -----------------------------------------------------------------

    def declare_file(
        self, actor: Tenant, asset_id: str, file: NewFile, *, request_id: str | None = None
    ) -> AssetFile:
        """Declare a file on an asset in CREATING, after its creation (as the platform's create-file
        does): its category allowed for the asset type, at most one MAIN, names distinct. Its upload
        is then confirmed with ``confirm_upload``; the MAIN file's moves the asset out of CREATING.
        The upload window is the asset's, from its creation. A retry with the same ``request_id``
        answers with the file that request declared, never a second."""
        return self._changes.declare_file(actor, asset_id, file, request_id)

    def delete_file(self, actor: Tenant, file_id: str, *, request_id: str | None = None) -> AssetFile:
        """Delete a file of a live asset (not frozen, not in the recycle bin); the MAIN file only
        before its upload, while the asset is CREATING. A file never stored is removed; a stored
        one is kept as DELETED, its bytes no longer counted. Answers with the file as deleted."""
        return self._changes.delete_file(actor, file_id, request_id)

    def file_owner(self, actor: Actor, file_id: str) -> Asset:
        """The asset that holds ``file_id`` (``FileNotFound`` for a missing file and for another
        tenant's alike): for callers that know a file by its id alone."""
        return self._changes.file_owner(actor, file_id)

    def update_asset(
        self,
        actor: Tenant,
        asset_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        state: AssetState | None = None,
        request_id: str | None = None,
    ) -> Asset:
        """Change a live asset's name, description or tags (at least one), in one transaction
        with its audit row; refused while it is frozen or in (or past) the recycle bin.
        ``state`` (ACTIVED or UNACTIVED, as the platform's update takes it): the asset is moved
        there first (activated or deactivated; no move if it is there already), in the same
        transaction, so a refused move changes nothing."""
        return self._changes.update_asset(actor, asset_id, name, description, tags, request_id, state)

    # Moves ---------------------------------------------------------------------------------------

    def fire(
        self,
        actor: Actor,
        asset_id: str,
        event: Event,
        *,
        reason: str | None = None,
        fail_type: FailType | None = None,
        block_reason_code: str | None = None,
        request_id: str | None = None,
        expected_version: int | None = None,
    ) -> Transitioned:
        """Apply ``event`` to an asset: the one entry every move goes through."""
        request = MoveRequest(reason, fail_type, block_reason_code, request_id=request_id)
        return self._manager.fire(actor, asset_id, event, request, expected_version)

    def activate(self, actor: Tenant, asset_id: str, **options: Unpack[MoveOptions]) -> Transitioned:
        return self.fire(actor, asset_id, Event.ACTIVATE, **options)

    def deactivate(self, actor: Tenant, asset_id: str, **options: Unpack[MoveOptions]) -> Transitioned:
        return self.fire(actor, asset_id, Event.DEACTIVATE, **options)

    def delete(
        self, actor: Actor, asset_id: str, *, force: bool = False, **options: Unpack[MoveOptions]
    ) -> Transitioned:
        """To the recycle bin; with ``force``, deleted for good."""
        force = check_flag(force, "force")
        return self.fire(actor, asset_id, Event.DELETE_FORCE if force else Event.DELETE, **options)

    def restore(self, actor: Tenant, asset_id: str, **options: Unpack[MoveOptions]) -> Transitioned:
        return self.fire(actor, asset_id, Event.RESTORE, **options)

    def freeze(
        self,
        actor: Platform,
        asset_id: str,
        *,
        block_reason_code: str | None = None,
        **options: Unpack[MoveOptions],
    ) -> Transitioned:
        return self.fire(actor, asset_id, Event.FREEZE, block_reason_code=block_reason_code, **options)

    def unfreeze(self, actor: Platform, asset_id: str, **options: Unpack[MoveOptions]) -> Transitioned:
        return self.fire(actor, asset_id, Event.UNFREEZE, **options)

    def pass_review(self, actor: Platform, asset_id: str, **options: Unpack[MoveOptions]) -> Transitioned:
        return self.fire(actor, asset_id, Event.PASS_REVIEW, **options)

    def reject_review(
        self, actor: Platform, asset_id: str, fail_type: FailType, **options: Unpack[MoveOptions]
    ) -> Transitioned:
        return self.fire(actor, asset_id, Event.REJECT_REVIEW, fail_type=fail_type, **options)

    def confirm_upload(
        self,
        actor: Tenant,
        asset_id: str,
        file_id: str,
        result: UploadResult,
        *,
        file_size: int | None = None,
        file_md5: str | None = None,
        file_name: str | None = None,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> UploadConfirmed:
        """Report a file's upload. The MAIN file's report moves the asset out of CREATING.

        An upload reported CREATED whose size, MD5 or name (compared case-insensitively) differs
        from what was declared fails the asset. CANCELLED leaves it in CREATING to try again.
        """
        actual = {"file_size": file_size, "file_md5": file_md5, "file_name": file_name}
        return self._manager.confirm_upload(actor, asset_id, file_id, result, actual, reason, request_id)

    # Tenant-wide freezing ---------------------------------------------------------------------

    def freeze_tenant(
        self,
        actor: Platform | System,
        project_id: str,
        *,
        reason: str | None = None,
        block_reason_code: str | None = None,
        request_id: str | None = None,
    ) -> TenantOperation:
        """Freeze every asset of a tenant in one transaction; each remembers its own state."""
        return self._manager.freeze_tenant(actor, project_id, reason, block_reason_code, request_id)

    def unfreeze_tenant(
        self, actor: Platform, project_id: str, *, reason: str | None = None, request_id: str | None = None
    ) -> TenantOperation:
        """Unfreeze the assets a tenant-wide freeze froze; assets frozen on their own stay frozen."""
        return self._manager.unfreeze_tenant(actor, project_id, reason, request_id)

    # Unfreeze applications ---------------------------------------------------------------------

    def apply_for_unfreeze(
        self, actor: Tenant, asset_id: str, *, reason: str | None = None
    ) -> UnfreezeApplication:
        """The tenant asks the platform to unfreeze one of its frozen assets."""
        return self._applications.apply(actor, asset_id, reason)

    def approve_unfreeze(
        self,
        actor: Platform,
        application_id: str,
        *,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> Transitioned:
        """Approve an application: the asset is unfrozen in the same transaction."""
        return self._applications.approve(actor, application_id, reason, request_id)

    def reject_unfreeze(
        self, actor: Platform, application_id: str, *, reason: str | None = None
    ) -> UnfreezeApplication:
        return self._applications.reject(actor, application_id, reason)

    def get_unfreeze_application(self, actor: Actor, application_id: str) -> UnfreezeApplication:
        return self._applications.get(actor, application_id)

    def list_unfreeze_applications(
        self,
        actor: Actor,
        *,
        project_id: str | None = None,
        states: Sequence[ApplicationState] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[UnfreezeApplication]:
        return self._applications.list(actor, project_id, states, limit, offset)

    # Batch actions ------------------------------------------------------------------------------

    def batch(
        self, actor: Actor, action: BatchAction, asset_ids: Sequence[str], *, request_id: str | None = None
    ) -> list[BatchResult]:
        """One action over many assets: SUCCESS or FAILED per asset, one failing none of the others."""
        return self._manager.batch(actor, action, asset_ids, request_id)

    # The moves time makes ----------------------------------------------------------------------

    def sweep(
        self,
        *,
        as_of: datetime | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        actor: System | None = None,
        listener: SweepListener | None = None,
        stop: threading.Event | None = None,
    ) -> SweepReport:
        """Make every move time has made due by ``as_of`` (default: now), rule by rule, in batches.

        Safe to run from any number of processes at once: each due asset moves exactly once.
        ``as_of`` may not be later than the clock's now (the moves are recorded at now).
        ``stop``, once set, ends the sweep after the batch in flight.
        """
        return self._sweeper.sweep(as_of, batch_size=batch_size, actor=actor, listener=listener, stop=stop)

    def due_counts(self, *, as_of: datetime | None = None) -> dict[str, int]:
        """How many assets each time rule would move now (or as of ``as_of``)."""
        return self._sweeper.due_counts(as_of)

    # Transition events ----------------------------------------------------------------------------

    def listen(
        self,
        listener: Listener,
        *,
        events: Iterable[Event] | None = None,
        to_states: Iterable[AssetState] | None = None,
        project_id: str | None = None,
    ) -> Subscription:
        """Call ``listener`` with each ``TransitionRecord`` this engine applies, after its commit
        (filtered by event, destination state, tenant); ``close()`` the subscription to stop."""
        return self.context.listeners.add(listener, events=events, to_states=to_states, project_id=project_id)

    def consumer(self, name: str, handler: Handler, **options: Any) -> Consumer:
        """A named consumer of the durable change feed (``lifecycle.feed``): every move of every
        process, handed to ``handler(events, connection)`` in feed order; options: ``batch_size``,
        ``start`` ('beginning' or 'end'), ``poll_interval``."""
        from lifecycle.feed import Consumer

        return Consumer(self.context, name, handler, **options)

    @property
    def feed(self) -> Feed:
        """The change feed itself, for operators: ``read``, ``end``, ``consumers``, ``seek``."""
        return self._feed

    # Storage -------------------------------------------------------------------------------------

    def storage_report(
        self,
        actor: Actor,
        *,
        project_id: str | None = None,
        as_of: datetime | None = None,
        page_size: int = DEFAULT_STORAGE_PAGE,
        progress: Callable[[int, int], None] | None = None,
    ) -> StorageReport:
        """Storage used, exempt, chargeable and billable, by asset type and by state, now or as of
        a past moment: for one tenant (a tenant's own, or any the platform names) or, for the
        platform, every tenant. Summed by the database, ``page_size`` tenants per statement;
        ``progress`` is called after each page with the tenants done and the tenants there are.
        """
        return self._storage.report(actor, project_id, as_of, page_size, progress)

    def asset_storage(self, actor: Actor, asset_id: str, *, as_of: datetime | None = None) -> AssetStorage:
        """One asset's storage now or as of a past moment: what counts, what is exempt, and whether
        and why it is billed, decided by the same SQL as the reports."""
        return self._storage.asset(actor, asset_id, as_of)

    # Queries -------------------------------------------------------------------------------------

    def get_asset(self, actor: Actor, asset_id: str) -> Asset:
        return self._reader.get_asset(actor, asset_id)

    def list_assets(
        self,
        actor: Actor,
        *,
        project_id: str | None = None,
        states: Sequence[AssetState] = (),
        order_by: str = "create_time",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
        **filters: Unpack[ListingOptions],
    ) -> Page[Asset]:
        """A tenant's assets, sorted by create or update time, paged, filtered by state and by
        ``filters`` (``lifecycle.reader.ListingOptions``): type (any of), part of the name, part of
        one tag (both case-insensitive), a creation window (inclusive), third-party user, ids (any
        of). ``Page.total`` counts every match."""
        return self._reader.list_assets(
            actor, project_id, states, order_by, descending, limit, offset, ListingFilters.of(filters)
        )

    def asset_summaries(self, actor: Actor, asset_ids: Sequence[str]) -> list[AssetSummary]:
        """Summaries of up to 100 assets, in the order asked, each once; ids missing or another
        tenant's are left out."""
        return self._reader.summaries(actor, asset_ids)

    def history(self, actor: Actor, asset_id: str) -> list[AuditEntry]:
        """The asset's audit trail, oldest first."""
        return self._reader.history(actor, asset_id)

    def allowed_events(self, actor: Actor, asset_id: str) -> list[Event]:
        """The events ``actor`` could fire at the asset now."""
        return self._reader.allowed_events(actor, asset_id)

    def verify_audit(
        self,
        actor: Platform | System,
        *,
        project_id: str | None = None,
        page_size: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> AuditReport:
        """Recompute every asset's audit chain and replay its history through the table.

        Reports each asset whose chain is broken (a row edited or deleted), whose rows record a
        move the table cannot make, or whose stored columns differ from what its history says
        (docs/reliability.md, "What verify checks"); and audit rows, files, unfreeze applications
        or creation requests whose asset does not exist. Reads page by page (``page_size`` assets
        at a time), never the whole table at once; ``progress`` is called after each page with
        the number of assets checked and the number there are.
        """
        return self._auditor.verify(actor, project_id, page_size, progress)
