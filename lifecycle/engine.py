"""The facade a service embeds: ``Lifecycle``.

Every move follows one path: check the actor's role and the inputs (nothing touched yet), open a
write transaction, read the asset, decide the move with the pure ``plan_move``, write it with the
repository's guarded write plus its audit row, commit, and only then log. A refusal writes nothing;
a lost race is a ``Conflict``; a database failure is ``StoreUnavailable``. A transaction the
database refused for contention (deadlock, serialization failure, lock held) is run again whole,
under the engine's ``RetryPolicy`` (``lifecycle.retry``); past its bound: ``StoreBusy``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection, Engine, exc

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.billing import (
    FREE_PERIOD_TYPES,
    AssetStorage,
    Exemption,
    FileStorage,
    StoragePolicy,
    StorageReport,
    TenantStorage,
    Usage,
    free_until,
)
from lifecycle.clock import EARLIEST_TIME, Clock, SystemClock, as_utc, read_clock
from lifecycle.definition import (
    DEFINITION,
    LIVE_STATES,
    ApplicationState,
    AssetState,
    AssetType,
    BatchAction,
    BlockScope,
    Declared,
    Definition,
    Event,
    FailType,
    FileCategory,
    FileState,
    Role,
    UploadResult,
)
from lifecycle.errors import (
    ApplicationNotFound,
    ApplicationNotPending,
    AssetNotFound,
    Conflict,
    CorruptRecord,
    FileNotFound,
    InvalidParameter,
    LifecycleError,
    PermissionDenied,
    SchemaOutOfDate,
    StorageAllowanceExceeded,
    TransitionNotAllowed,
    UnfreezeAlreadyPending,
)
from lifecycle.inputs import (
    NewAsset,
    canonical_md5,
    check_actor,
    check_file_name,
    check_file_size,
    check_id,
    check_line,
    check_members,
    check_new_asset,
    check_reason,
)
from lifecycle.integrity import (
    AuditProblem,
    AuditReport,
    HistoryChecker,
    ProblemKind,
    check_known,
    declared_json,
)
from lifecycle.logs import EventLog, EventLogger
from lifecycle.moves import AssetRow, Move, MoveRequest, check_request, check_role, plan_move
from lifecycle.results import (
    Asset,
    AssetFile,
    AuditEntry,
    BatchResult,
    Page,
    TenantOperation,
    Transitioned,
    UnfreezeApplication,
    UploadConfirmed,
)
from lifecycle.retry import Retries, RetryPolicy
from lifecycle.store import schema, usage
from lifecycle.store.database import open_engine, transaction
from lifecycle.store.repository import Repository
from lifecycle.sweeps import DEFAULT_BATCH_SIZE, Sweeper, SweepListener, SweepReport, check_batch_size

DEFAULT_DATABASE_URL = "sqlite:///lifecycle.db"
MAX_PAGE = 1000
MAX_BATCH = 1000
MAX_OFFSET = 2**31 - 1
DEFAULT_STORAGE_PAGE = 50
"""Tenants summed per statement in a storage report: small pages let PostgreSQL read each page's
files through the covering index (bench/storage.py: 1.5 s for 1,000 tenants, 2.5 s with 200)."""
ORDER_COLUMNS = ("create_time", "update_time")
MAX_UPLOAD_WINDOW = timedelta(days=365)
"""The longest upload window: a year (the platform's is 24 hours)."""
MAX_RECYCLE_RETENTION = timedelta(days=36_525)
"""The longest recycle-bin retention: 100 years, "keep the bin forever" in practice. Bounded, as
the upload window is, so that no delay added to or taken from a supported time (``lifecycle.clock``)
leaves the calendar."""


class MoveOptions(TypedDict, total=False):
    """What every move accepts besides its actor and asset."""

    reason: str | None
    request_id: str | None
    """The caller's id for this request: in the audit trail, and what makes a retry safe."""
    expected_version: int | None
    """Apply only if the asset is still at this version (else ``Conflict``)."""


@dataclass(frozen=True, slots=True)
class Settings:
    upload_window: timedelta = timedelta(hours=24)
    """How long an asset may stay in CREATING (time spent frozen or in the bin does not count); at
    most ``MAX_UPLOAD_WINDOW`` (365 days)."""
    recycle_retention: timedelta = timedelta(days=7)
    """How long an asset stays in the recycle bin before the system purges it; at most
    ``MAX_RECYCLE_RETENTION`` (100 years: to keep the bin for good, use it)."""
    activate_on_upload: bool = False
    """Where an accepted upload lands when the asset does not say: UNACTIVED (False) or ACTIVED."""
    storage: StoragePolicy = field(default_factory=StoragePolicy)
    """How storage is billed, and whether uploads past the free allowance are refused."""

    def __post_init__(self) -> None:
        if not isinstance(self.storage, StoragePolicy):
            raise InvalidParameter("storage", "must be a StoragePolicy")
        for name in ("upload_window", "recycle_retention"):
            if not isinstance(getattr(self, name), timedelta):
                raise InvalidParameter(name, "must be a timedelta")
        if not isinstance(self.activate_on_upload, bool):
            raise InvalidParameter("activate_on_upload", "must be true or false")
        for name, longest in (
            ("upload_window", MAX_UPLOAD_WINDOW),
            ("recycle_retention", MAX_RECYCLE_RETENTION),
        ):
            if not timedelta(0) < getattr(self, name) <= longest:
                raise InvalidParameter(name, f"must be from 1 microsecond to {longest.days} days")


class Lifecycle:
    """The asset lifecycle over one database. Create it once per service; it is thread-safe."""

    def __init__(
        self,
        database: str | Engine = DEFAULT_DATABASE_URL,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        logger: Any | None = None,
        definition: Definition = DEFINITION,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._owns_engine = isinstance(database, str)
        self.engine: Engine = open_engine(database) if isinstance(database, str) else database
        self.clock: Clock = clock or SystemClock()
        if settings is not None and not isinstance(settings, Settings):
            raise InvalidParameter("settings", "must be a Settings")
        self.settings = settings or Settings()
        self.definition = definition
        self.log: EventLogger = logger if logger is not None else EventLog("lifecycle.transitions")
        self._repo = Repository(self.engine.dialect, definition)
        try:
            # Every transaction runs under this: refused for contention, it is run again whole.
            self._attempts = Retries(
                RetryPolicy() if retry is None else retry,
                logger if logger is not None else EventLog("lifecycle.retry"),
            )
            self._sweeper = Sweeper(
                self.engine,
                self._repo,
                clock=self.clock,
                settings=self.settings,
                definition=definition,
                logger=logger if logger is not None else EventLog("lifecycle.sweeps"),
                retries=self._attempts,
            )
        except LifecycleError:
            self.close()
            raise

    # Set-up ----------------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the database schema up to date (Alembic migrations)."""
        schema.upgrade(self.engine)

    def check_schema(self) -> None:
        """Raise ``SchemaOutOfDate`` unless the database is at this engine's schema revision.

        Call it when the service starts: a deployment that forgot ``upgrade()`` fails at once
        with a clear message instead of at its first query.
        """
        current, head = schema.current_revision(self.engine), schema.head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"the database schema is at revision {current or 'none'}, the engine needs {head};"
                " run Lifecycle.upgrade() (or: lifecycle db upgrade)"
            )

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def retry(self) -> RetryPolicy:
        """The policy under which transactions refused for contention are run again."""
        return self._attempts.policy

    @property
    def transaction_retries(self) -> int:
        """How many times a transaction (the sweeper's included) was run again since this engine
        was made, over all threads: each was also logged as ``transaction_retried``."""
        return self._attempts.count

    def _transaction(self, *, write: bool) -> contextlib.AbstractContextManager[Connection]:
        return transaction(self.engine, write=write)

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
        customized, or a file as a timbre model: that makes storage free (docs/billing.md).
        """
        owner = self._creating_for(actor, project_id)
        request_id = _check_request_id(request_id)
        now = self._now()
        checked = check_new_asset(new, now)
        if isinstance(actor, Tenant) and checked.customized:
            raise PermissionDenied("create a customized asset", Role.TENANT.value, [Role.PLATFORM.value])
        app_user_id = checked.app_user_id or (actor.app_user_id if isinstance(actor, Tenant) else None)
        # Ids are always generated: a caller-chosen id that clashed would tell one tenant that
        # another tenant's asset exists.
        asset_id = str(uuid.uuid4())
        activate = (
            self.settings.activate_on_upload
            if checked.activate_on_upload is None
            else checked.activate_on_upload
        )
        asset_values = {
            "asset_id": asset_id,
            "project_id": owner,
            "app_user_id": app_user_id,
            "asset_name": checked.asset_name,
            "asset_description": checked.asset_description,
            "asset_type": checked.asset_type,
            "asset_state": AssetState.CREATING,
            "version": 1,
            "pre_freeze_state": None,
            "pre_delete_state": None,
            "fail_type": None,
            "reason": None,
            "block_reason_code": None,
            "block_scope": None,
            "activate_on_upload": activate,
            "review_required": checked.review_required,
            "tags": list(checked.tags),
            "asset_extra_meta": checked.asset_extra_meta,
            "system_properties": checked.system_properties,
            "asset_order": checked.asset_order,
            "create_time": now,
            "update_time": now,
            "state_changed_at": now,
            "upload_deadline": now + self.settings.upload_window,
            "upload_time_left_us": None,
            "planned_operation": checked.auto_operation.operation if checked.auto_operation else None,
            "planned_operation_time": checked.auto_operation.operation_time
            if checked.auto_operation
            else None,
            "customized": checked.customized,
        }
        file_values = [
            {
                "file_id": str(uuid.uuid4()),
                "asset_id": asset_id,
                "position": position,
                "file_name": f.file_name,
                "file_md5": f.file_md5,
                "file_size": f.file_size,
                "file_type": f.file_type,
                "asset_file_category": f.asset_file_category,
                "state": FileState.CREATING,
                "reason": None,
                "create_time": now,
                "update_time": now,
                "stored_at": None,
                "timbre_model": f.timbre_model,
            }
            for position, f in enumerate(checked.files)
        ]
        creation = {
            "asset_id": asset_id,
            "project_id": owner,
            "seq": 1,
            "event": Event.CREATE,
            "from_state": None,
            "to_state": AssetState.CREATING,
            "actor_kind": actor.role,
            "actor_id": actor.actor_id,
            "reason": None,
            "fail_type": None,
            "request_id": request_id,
            "occurred_at": now,
            "pre_freeze_state": None,
            "pre_delete_state": None,
            "declared": declared_json(asset_values, file_values),
        }
        for attempt in self._attempts():
            with attempt, self._transaction(write=True) as connection:
                earlier = (
                    None
                    if request_id is None
                    else self._repo.claim_creation(connection, owner, request_id, asset_id)
                )
                if earlier is None:
                    self._repo.insert_asset(connection, asset_values, file_values, creation)
                    self._check_allowance(connection, owner, asset_id, None, now)
        if earlier is not None:  # a retry: the asset this request created already
            try:
                return self.get_asset(actor, earlier)
            except AssetNotFound:  # its request row outlived it: a broken foreign key
                raise CorruptRecord(
                    earlier, f"request {request_id!r} is recorded as its creation, but it does not exist"
                ) from None
        self.log.info(
            "asset_created",
            asset_id=asset_id,
            project_id=owner,
            asset_type=checked.asset_type.value,
            actor_kind=actor.role.value,
            actor_id=actor.actor_id,
            request_id=request_id,
        )
        return self.get_asset(actor, asset_id)

    def _creating_for(self, actor: object, project_id: object) -> str:
        """The tenant an asset is created for: the tenant itself, or the one the platform names."""
        check_actor(actor)
        if isinstance(actor, Tenant):
            check_id(actor.project_id, "project_id")
            if project_id is not None and project_id != actor.project_id:
                raise PermissionDenied(
                    "create an asset for another tenant", Role.TENANT.value, [Role.PLATFORM.value]
                )
            return actor.project_id
        if isinstance(actor, Platform):
            if project_id is None:
                raise InvalidParameter("project_id", "the platform must name the tenant the asset is for")
            return check_id(project_id, "project_id")
        assert isinstance(actor, System)
        raise PermissionDenied("create", actor.role.value, [Role.TENANT.value, Role.PLATFORM.value])

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
        if not isinstance(event, Event) or event is Event.CREATE:
            raise InvalidParameter("event", "must be an Event other than create (use create_asset)")
        check_role(actor, event, self.definition)
        request = MoveRequest(
            reason=check_reason(reason),
            fail_type=_check_fail_type(fail_type),
            block_reason_code=_check_block_reason_code(block_reason_code),
        )
        check_request(event, request)
        request_id = _check_request_id(request_id)
        _check_version(expected_version)
        try:
            for attempt in self._attempts():
                with attempt, self._transaction(write=True) as connection:
                    row = self._visible_row(connection, actor, asset_id)
                    self._raise_if_replayed(connection, row, event, request_id)
                    if expected_version is not None and row.version != expected_version:
                        raise Conflict(
                            asset_id, event, None, expected_version, f"it is at version {row.version}"
                        )
                    outcome = self._apply(connection, row, actor, event, request, request_id)
        except _Replayed as replayed:
            return replayed.transition
        return self._applied(outcome, actor, request_id)

    def activate(self, actor: Tenant, asset_id: str, **options: Unpack[MoveOptions]) -> Transitioned:
        return self.fire(actor, asset_id, Event.ACTIVATE, **options)

    def deactivate(self, actor: Tenant, asset_id: str, **options: Unpack[MoveOptions]) -> Transitioned:
        return self.fire(actor, asset_id, Event.DEACTIVATE, **options)

    def delete(
        self, actor: Actor, asset_id: str, *, force: bool = False, **options: Unpack[MoveOptions]
    ) -> Transitioned:
        """To the recycle bin; with ``force``, deleted for good."""
        if not isinstance(force, bool):
            raise InvalidParameter("force", "must be true or false")
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
        self._require(actor, Role.TENANT, "confirm_upload")
        if not isinstance(result, UploadResult):
            raise InvalidParameter("result", "must be CREATED, FAILED or CANCELLED")
        actual = {
            "file_size": None if file_size is None else check_file_size(file_size),
            "file_md5": None if file_md5 is None else canonical_md5(file_md5),
            "file_name": None if file_name is None else check_file_name(file_name),
        }
        reason = check_reason(reason)
        request_id = _check_request_id(request_id)
        try:
            return self._confirm_upload(actor, asset_id, file_id, result, actual, reason, request_id)
        except _Replayed as replayed:
            return UploadConfirmed(self._file(actor, asset_id, file_id), replayed.transition)

    def _confirm_upload(
        self,
        actor: Tenant,
        asset_id: str,
        file_id: str,
        result: UploadResult,
        actual: dict[str, Any],
        reason: str | None,
        request_id: str | None,
    ) -> UploadConfirmed:
        for attempt in self._attempts():
            with attempt, self._transaction(write=True) as connection:
                # Locked: a file other than MAIN is written without a guarded move of the asset,
                # and a freeze or delete must not commit between its check and its write.
                row = self._visible_row(connection, actor, asset_id, lock=True)
                file_row = self._repo.file(connection, asset_id, check_id(file_id, "file_id"))
                if file_row is None:
                    raise FileNotFound(asset_id, str(file_id))
                mismatches = [
                    name
                    for name, value in actual.items()
                    if value is not None
                    and (
                        value.lower() != file_row.file_name.lower()
                        if name == "file_name"
                        else value != getattr(file_row, name)
                    )
                ]
                if file_row.asset_file_category is not FileCategory.MAIN:
                    return self._confirm_other_file(connection, row, file_row, result, mismatches, reason)
                if result is UploadResult.CREATED and mismatches:
                    event, reason = (
                        Event.FAIL_UPLOAD,
                        _mismatch_reason("MAIN file", mismatches),
                    )
                elif result is UploadResult.CREATED:
                    event = Event.SUBMIT_FOR_REVIEW if row.facts.review_required else Event.ACCEPT_UPLOAD
                elif result is UploadResult.FAILED:
                    event, reason = Event.FAIL_UPLOAD, reason or "MAIN file upload failed"
                else:
                    event = Event.CANCEL_UPLOAD
                self._raise_if_replayed(connection, row, event, request_id)
                outcome = self._apply(connection, row, actor, event, MoveRequest(reason=reason), request_id)
                self._check_allowance(connection, row.project_id, asset_id, file_id, outcome[1])
                confirmed = self._repo.file(connection, asset_id, file_id)
        assert confirmed is not None
        return UploadConfirmed(AssetFile.from_row(confirmed), self._applied(outcome, actor, request_id))

    def _file(self, actor: Actor, asset_id: str, file_id: str) -> AssetFile:
        return next(f for f in self.get_asset(actor, asset_id).files if f.file_id == file_id)

    def _confirm_other_file(
        self,
        connection: Connection,
        row: AssetRow,
        file_row: Any,
        result: UploadResult,
        mismatches: list[str],
        reason: str | None,
    ) -> UploadConfirmed:
        edge = self.definition.confirmation(result, Declared.DIFFERS if mismatches else Declared.MATCHES)
        if edge.asset_states is not None and row.state not in edge.asset_states:
            raise TransitionNotAllowed(
                row.asset_id,
                Event.ACCEPT_UPLOAD,
                row.state,
                self.definition.allowed_events(row.facts),
                "files of a frozen or deleted asset cannot be uploaded",
            )
        state = edge.dest
        if edge.declared is Declared.DIFFERS:
            reason = _mismatch_reason("file", mismatches)
        now = self._now()
        if not self._repo.set_file_state(
            connection, row.asset_id, file_row.file_id, edge.sources, state, reason, now
        ):
            raise InvalidParameter(
                "file_id", f"file {file_row.file_id} is {file_row.state.value}, not awaiting upload"
            )
        self._check_allowance(connection, row.project_id, row.asset_id, file_row.file_id, now)
        updated = self._repo.file(connection, row.asset_id, file_row.file_id)
        assert updated is not None
        self.log.info(
            "file_upload_confirmed", asset_id=row.asset_id, file_id=file_row.file_id, state=state.value
        )
        return UploadConfirmed(AssetFile.from_row(updated), None)

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
        check_role(actor, Event.FREEZE, self.definition)
        check_id(project_id, "project_id")
        request = MoveRequest(
            reason=check_reason(reason),
            block_reason_code=_check_block_reason_code(block_reason_code),
            block_scope=BlockScope.TENANT,
        )
        request_id = _check_request_id(request_id)
        freezable = [*LIVE_STATES, AssetState.DELETING, AssetState.BLOCK]  # BLOCK: reported as skipped
        return self._tenant_operation(actor, project_id, Event.FREEZE, freezable, request, request_id)

    def unfreeze_tenant(
        self, actor: Platform, project_id: str, *, reason: str | None = None, request_id: str | None = None
    ) -> TenantOperation:
        """Unfreeze the assets a tenant-wide freeze froze; assets frozen on their own stay frozen."""
        check_role(actor, Event.UNFREEZE, self.definition)
        check_id(project_id, "project_id")
        request = MoveRequest(reason=check_reason(reason))
        request_id = _check_request_id(request_id)
        frozen = [AssetState.BLOCK, AssetState.DELETING]  # DELETING: deleted while frozen
        return self._tenant_operation(actor, project_id, Event.UNFREEZE, frozen, request, request_id)

    def _tenant_operation(
        self,
        actor: Actor,
        project_id: str,
        event: Event,
        states: Sequence[AssetState],
        request: MoveRequest,
        request_id: str | None,
    ) -> TenantOperation:
        for attempt in self._attempts():
            with attempt, self._transaction(write=True) as connection:
                skipped: list[tuple[str, str]] = []  # afresh on every attempt
                outcomes: list[tuple[Move, datetime]] = []
                for row in self._repo.lock_tenant_rows(connection, project_id, states):
                    if event is Event.FREEZE and row.state is AssetState.BLOCK:
                        skipped.append((row.asset_id, "already frozen"))
                        continue
                    if event is Event.UNFREEZE and not row.facts.is_frozen:
                        continue  # in the recycle bin, but not frozen
                    if event is Event.UNFREEZE and row.block_scope is not BlockScope.TENANT:
                        skipped.append((row.asset_id, "frozen on its own, not by the tenant-wide freeze"))
                        continue
                    try:
                        outcomes.append(self._apply(connection, row, actor, event, request, request_id))
                    except TransitionNotAllowed as refusal:
                        skipped.append((row.asset_id, refusal.message))
        moved = tuple(self._applied(outcome, actor, request_id) for outcome in outcomes)
        self.log.info(
            "tenant_frozen" if event is Event.FREEZE else "tenant_unfrozen",
            project_id=project_id,
            moved=len(moved),
            skipped=len(skipped),
            actor_kind=actor.role.value,
            actor_id=actor.actor_id,
            request_id=request_id,
        )
        return TenantOperation(project_id, event, moved, tuple(skipped))

    # Unfreeze applications ---------------------------------------------------------------------

    def apply_for_unfreeze(
        self, actor: Tenant, asset_id: str, *, reason: str | None = None
    ) -> UnfreezeApplication:
        """The tenant asks the platform to unfreeze one of its frozen assets."""
        self._require(actor, Role.TENANT, "apply_for_unfreeze")
        reason = check_reason(reason)
        now = self._now()
        application_id = str(uuid.uuid4())
        try:
            for attempt in self._attempts():
                with attempt, self._transaction(write=True) as connection:
                    # Locked until the application is written: an unfreeze or delete that
                    # commits in between would leave it pending on an asset no longer frozen.
                    row = self._visible_row(connection, actor, asset_id, lock=True)
                    if row.state is not AssetState.BLOCK:
                        raise TransitionNotAllowed(
                            asset_id,
                            Event.UNFREEZE,
                            row.state,
                            self.definition.allowed_events(row.facts, Role.TENANT),
                            "only a frozen asset can be the subject of an unfreeze application",
                        )
                    if self._repo.pending_application(connection, asset_id) is not None:
                        raise UnfreezeAlreadyPending(asset_id)
                    self._repo.insert_application(
                        connection,
                        {
                            "application_id": application_id,
                            "asset_id": asset_id,
                            "project_id": row.project_id,
                            "state": ApplicationState.PENDING,
                            "reason": reason,
                            "applied_by": actor.actor_id,
                            "applied_at": now,
                        },
                    )
        except LifecycleError as error:
            if isinstance(error.__cause__, exc.IntegrityError):
                raise UnfreezeAlreadyPending(asset_id) from error
            raise
        self.log.info(
            "unfreeze_applied", asset_id=asset_id, application_id=application_id, actor_id=actor.actor_id
        )
        return self.get_unfreeze_application(actor, application_id)

    def approve_unfreeze(
        self,
        actor: Platform,
        application_id: str,
        *,
        reason: str | None = None,
        request_id: str | None = None,
    ) -> Transitioned:
        """Approve an application: the asset is unfrozen in the same transaction."""
        check_role(actor, Event.UNFREEZE, self.definition)
        reason = check_reason(reason)
        request_id = _check_request_id(request_id)
        try:
            for attempt in self._attempts():
                with attempt, self._transaction(write=True) as connection:
                    asset_id = self._application(connection, application_id).asset_id
                    # The asset first, then the application, as every move locks them: a
                    # rejection cannot commit between the check and the unfreeze, nor deadlock.
                    row = self._visible_row(connection, actor, asset_id, lock=True)
                    application = self._application(connection, application_id, lock=True)
                    self._raise_if_replayed(connection, row, Event.UNFREEZE, request_id)
                    if application.state is not ApplicationState.PENDING:
                        raise ApplicationNotPending(application_id, application.state.value)
                    outcome = self._apply(
                        connection, row, actor, Event.UNFREEZE, MoveRequest(reason=reason), request_id
                    )
        except _Replayed as replayed:
            return replayed.transition
        return self._applied(outcome, actor, request_id)

    def reject_unfreeze(
        self, actor: Platform, application_id: str, *, reason: str | None = None
    ) -> UnfreezeApplication:
        check_role(actor, Event.UNFREEZE, self.definition)
        reason = check_reason(reason)
        for attempt in self._attempts():
            with attempt, self._transaction(write=True) as connection:
                application = self._pending(connection, application_id)
                now = self._now()
                if not self._repo.decide_application(
                    connection, application_id, ApplicationState.REJECTED, actor.actor_id, reason, now
                ):
                    raise ApplicationNotPending(application_id, "decided")
        self.log.info("unfreeze_rejected", application_id=application_id, asset_id=application.asset_id)
        return self.get_unfreeze_application(actor, application_id)

    def _application(
        self, connection: Connection, application_id: str, *, lock: bool = False
    ) -> UnfreezeApplication:
        row = self._repo.application(connection, check_id(application_id, "application_id"), lock=lock)
        if row is None:
            raise ApplicationNotFound(str(application_id))
        if self._repo.asset(connection, row.asset_id) is None:  # a broken foreign key
            raise CorruptRecord(
                row.asset_id, f"unfreeze application {row.application_id} refers to it, but it does not exist"
            )
        return UnfreezeApplication.from_row(row)

    def _pending(self, connection: Connection, application_id: str) -> UnfreezeApplication:
        application = self._application(connection, application_id)
        if application.state is not ApplicationState.PENDING:
            raise ApplicationNotPending(application_id, application.state.value)
        return application

    def get_unfreeze_application(self, actor: Actor, application_id: str) -> UnfreezeApplication:
        check_actor(actor)
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                row = self._repo.application(connection, check_id(application_id, "application_id"))
        if row is None or (isinstance(actor, Tenant) and row.project_id != actor.project_id):
            raise ApplicationNotFound(str(application_id))
        return UnfreezeApplication.from_row(row)

    def list_unfreeze_applications(
        self,
        actor: Actor,
        *,
        project_id: str | None = None,
        states: Sequence[ApplicationState] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[UnfreezeApplication]:
        project_id = self._listing_tenant(actor, project_id, required=False)
        states = check_members(states, ApplicationState, "states")
        _check_page(limit, offset)
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                rows = self._repo.list_applications(connection, project_id, list(states), limit, offset)
        return [UnfreezeApplication.from_row(row) for row in rows]

    # Batch actions ------------------------------------------------------------------------------

    def batch(
        self, actor: Actor, action: BatchAction, asset_ids: Sequence[str], *, request_id: str | None = None
    ) -> list[BatchResult]:
        """One action over many assets, each in its own transaction: SUCCESS or FAILED per asset."""
        if not isinstance(action, BatchAction):
            raise InvalidParameter("action", "must be DELETE, DELETE_FORCE, RESTORE, ACTIVE or UNACTIVE")
        asset_ids = check_members(asset_ids, str, "asset_ids", maximum=MAX_BATCH)
        if not asset_ids:
            raise InvalidParameter("asset_ids", f"must list 1-{MAX_BATCH} asset ids")
        for index, asset_id in enumerate(asset_ids):  # all checked before any is moved
            check_id(asset_id, f"asset_ids[{index}]")
        check_role(actor, action.event, self.definition)
        request_id = _check_request_id(request_id)
        results: list[BatchResult] = []
        for asset_id in asset_ids:
            try:
                transition = self.fire(actor, asset_id, action.event, request_id=request_id)
            except LifecycleError as error:
                results.append(
                    BatchResult(
                        str(asset_id),
                        "FAILED",
                        error_code=error.code,
                        error_msg=error.client_message,
                        error=error,
                    )
                )
            else:
                results.append(BatchResult(asset_id, "SUCCESS", transition=transition))
        return results

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
        as_of = self._as_of(as_of)
        check_batch_size(batch_size)
        if listener is not None and not isinstance(listener, SweepListener):
            raise InvalidParameter("listener", "must be a SweepListener")
        if stop is not None and not isinstance(stop, threading.Event):
            raise InvalidParameter("stop", "must be a threading.Event")
        actor = System() if actor is None else actor
        self._require(actor, Role.SYSTEM, "sweep")
        return self._sweeper.sweep(
            as_of, batch_size=batch_size, actor=actor, listener=listener or SweepListener(), stop=stop
        )

    def due_counts(self, *, as_of: datetime | None = None) -> dict[str, int]:
        """How many assets each time rule would move now (or as of ``as_of``)."""
        return self._sweeper.due_counts(self._as_of(as_of))

    def _as_of(self, as_of: datetime | None, why: str = "a sweep cannot act in the future") -> datetime:
        now = self._now()
        if as_of is None:
            return now
        if not isinstance(as_of, datetime):
            raise InvalidParameter("as_of", "must be a timezone-aware datetime")
        as_of = as_utc(as_of, "as_of")
        if as_of > now:
            raise InvalidParameter(
                "as_of", f"must not be later than now ({now.isoformat()}): {why}"
            )
        if as_of < EARLIEST_TIME:
            raise InvalidParameter(
                "as_of", f"must be {EARLIEST_TIME.isoformat()} or later, the earliest time the engine knows"
            )
        return as_of

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
        tenant = self._listing_tenant(
            actor, project_id, required=False, action="see another tenant's storage"
        )
        if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= 10_000:
            raise InvalidParameter("page_size", "must be a whole number from 1 to 10000")
        if progress is not None and not callable(progress):
            raise InvalidParameter("progress", "must be a function of (done, total)")
        moment = self._moment(as_of)
        started = time.perf_counter()
        project_ids = [tenant] if tenant is not None else []
        if tenant is None:
            for attempt in self._attempts():
                with attempt, self._transaction(write=False) as connection:
                    project_ids = usage.tenants(connection, moment)
        reports: list[TenantStorage] = []
        for first in range(0, len(project_ids), page_size):
            page = project_ids[first : first + page_size]
            for attempt in self._attempts():
                with attempt, self._transaction(write=False) as connection:
                    found = usage.buckets(connection, moment, page)
            reports.extend(_tenant_storage(page, found, moment.as_of, self.settings.storage))
            if progress is not None:
                progress(len(reports), len(project_ids))
        report = StorageReport(moment.as_of, self.settings.storage.free_bytes, tuple(reports))
        self.log.info(
            "storage_reported",
            tenants=len(report.tenants),
            as_of=moment.as_of.isoformat(),
            used_bytes=report.used_bytes,
            billable_bytes=report.billable_bytes,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return report

    def asset_storage(self, actor: Actor, asset_id: str, *, as_of: datetime | None = None) -> AssetStorage:
        """One asset's storage now or as of a past moment: what counts, what is exempt, and whether
        and why it is billed, decided by the same SQL as the reports."""
        moment = self._moment(as_of)
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                record = self._visible_asset(connection, actor, asset_id)
                at, file_rows = usage.asset_files(connection, moment, asset_id)
                state = None if at is None else at.state
                since = None
                if state is not None:
                    check_known(asset_id, {"asset_state at as_of": state})
                    since = usage.state_since(connection, moment, asset_id, state)
        policy = self.settings.storage
        months = policy.customized_video_free_months
        video = record.customized and record.asset_type in FREE_PERIOD_TYPES and months > 0
        ends = free_until(record.create_time, months) if video else None
        stored = tuple(
            FileStorage(
                file_id=row.file_id,
                file_name=row.file_name,
                asset_file_category=row.asset_file_category,
                state=row.state,
                file_size=row.file_size,
                stored_at=row.stored_at,
                timbre_model=row.timbre_model,
                counted=bool(row.counted),
                exemption=Exemption(row.exemption) if row.counted and row.exemption else None,
            )
            for row in file_rows
        )
        return AssetStorage(
            asset_id=record.asset_id,
            project_id=record.project_id,
            as_of=moment.as_of,
            asset_type=record.asset_type,
            customized=record.customized,
            state=state,
            state_since=since,
            free_until=ends,
            files=stored,
        )

    def _moment(self, as_of: datetime | None) -> usage.Moment:
        """Now (states from the assets), or a past moment (states from the audit trail)."""
        policy = self.settings.storage
        moment = self._as_of(as_of, "storage is known up to now, not ahead")
        return usage.Moment.at(moment, now=as_of is None, policy=policy)

    def _check_allowance(
        self, connection: Connection, project_id: str, asset_id: str, file_id: str | None, now: datetime
    ) -> None:
        """Where the service refuses uploads past the free allowance: ``StorageAllowanceExceeded``
        if what was just written (a new asset's declared files, or a file's accepted upload) takes
        the tenant's chargeable storage over it. The caller's transaction then rolls back whole.

        Checked after the write, by the report's own SQL, with the tenant's checks serialized:
        each sees every upload committed before it, and its own.
        """
        policy = self.settings.storage
        if not policy.refuse_uploads_over_allowance:
            return
        moment = usage.Moment.at(now, now=True, policy=policy)
        if file_id is None:
            adding = usage.pending_chargeable_bytes(connection, moment, asset_id)
        else:
            _, file_rows = usage.asset_files(connection, moment, asset_id)
            adding = sum(
                row.file_size
                for row in file_rows
                if row.file_id == file_id and row.counted and row.exemption is None
            )
        if adding == 0:
            return
        usage.lock_tenant(connection, project_id)
        chargeable = usage.chargeable_bytes(connection, moment, project_id)
        if file_id is not None:
            chargeable -= adding  # the file just written is in the sum
        if chargeable + adding > policy.free_bytes:
            self.log.info(
                "upload_refused",
                project_id=project_id,
                asset_id=asset_id,
                file_id=file_id,
                chargeable_bytes=chargeable,
                adding_bytes=adding,
                free_bytes=policy.free_bytes,
            )
            raise StorageAllowanceExceeded(project_id, chargeable, adding, policy.free_bytes)

    # Queries -------------------------------------------------------------------------------------

    def get_asset(self, actor: Actor, asset_id: str) -> Asset:
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                record = self._visible_asset(connection, actor, asset_id)
                file_rows = self._repo.files_of(connection, [asset_id])
        return Asset.from_rows(record, file_rows)

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
    ) -> Page[Asset]:
        """A tenant's assets, filtered by state, sorted by create or update time, paged."""
        tenant = self._listing_tenant(actor, project_id, required=True)
        assert tenant is not None
        if not isinstance(descending, bool):
            raise InvalidParameter("descending", "must be true or false")
        if order_by not in ORDER_COLUMNS:
            raise InvalidParameter("order_by", f"must be one of {', '.join(ORDER_COLUMNS)}")
        states = check_members(states, AssetState, "states")
        _check_page(limit, offset)
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                rows, total = self._repo.list_assets(
                    connection, tenant, list(states), order_by, descending, limit, offset
                )
                file_rows = self._repo.files_of(connection, [row.asset_id for row in rows])
        by_asset: dict[str, list[Any]] = {}
        for file_row in file_rows:
            by_asset.setdefault(file_row.asset_id, []).append(file_row)
        for row in rows:
            self._repo.check_asset_record(row)
        items = tuple(Asset.from_rows(row, by_asset.get(row.asset_id, [])) for row in rows)
        return Page(items, total, limit, offset)

    def history(self, actor: Actor, asset_id: str) -> list[AuditEntry]:
        """The asset's audit trail, oldest first."""
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                self._visible_asset(connection, actor, asset_id)
                rows = self._repo.history(connection, asset_id)
        return [AuditEntry.from_row(row) for row in rows]

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
        move the table cannot make, or whose stored state, remembered states or version differ
        from what its history says; and audit rows, files or unfreeze applications whose asset
        does not exist. Reads page by page (``page_size`` assets at a time), never the whole
        table at once; ``progress`` is called after each page with the number of assets checked and
        the number there are.
        """
        check_actor(actor)
        if actor.role is Role.TENANT:
            allowed = [Role.PLATFORM.value, Role.SYSTEM.value]
            raise PermissionDenied("verify the audit trail", actor.role.value, allowed)
        tenant = None if project_id is None else check_id(project_id, "project_id")
        if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= 100_000:
            raise InvalidParameter("page_size", "must be a whole number from 1 to 100000")
        if progress is not None and not callable(progress):
            raise InvalidParameter("progress", "must be a function of (checked, total)")
        started = time.perf_counter()
        checker = HistoryChecker(self.definition)
        problems: list[AuditProblem] = []
        checked = rows = total = 0
        after = ""
        if progress is not None:
            for attempt in self._attempts():
                with attempt, self._transaction(write=False) as connection:
                    total = self._repo.count_assets(connection, tenant)
        while True:
            for attempt in self._attempts():
                with attempt, self._transaction(write=False) as connection:
                    page = self._repo.histories(connection, after, page_size, tenant)
            for asset, history, asset_files in page:
                problems.extend(checker.check(asset, history, asset_files))
                rows += len(history)
            checked += len(page)
            if progress is not None:
                progress(checked, max(total, checked))
            if len(page) < page_size:
                break
            after = page[-1][0]["asset_id"]
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                orphans = self._repo.orphans(connection, tenant)
        for table, asset_ids in orphans.items():
            problems.extend(
                AuditProblem(
                    asset_id, ProblemKind.ORPHAN_ROWS, f"{table} has rows of this asset, which does not exist"
                )
                for asset_id in asset_ids
            )
        report = AuditReport(checked, rows, tuple(problems), time.perf_counter() - started)
        self.log.info(
            "audit_verified",
            clean=report.clean,
            assets=report.assets,
            rows=report.rows,
            problems=len(report.problems),
            broken_assets=len(report.broken_assets),
            duration_ms=round(report.seconds * 1000, 3),
        )
        return report

    def allowed_events(self, actor: Actor, asset_id: str) -> list[Event]:
        """The events ``actor`` could fire at the asset now."""
        check_actor(actor)
        for attempt in self._attempts():
            with attempt, self._transaction(write=False) as connection:
                row = self._visible_row(connection, actor, asset_id)
        return self.definition.allowed_events(row.facts, actor.role)

    # The path every move takes ------------------------------------------------------------------

    def _visible_asset(self, connection: Connection, actor: Actor, asset_id: str) -> Any:
        """The asset's full row; a missing asset and another tenant's answer the same."""
        check_actor(actor)
        record = self._repo.asset(connection, check_id(asset_id, "asset_id"))
        if record is None or not _visible(actor, record.project_id):
            raise AssetNotFound(str(asset_id))
        self._repo.check_asset_record(record)
        return record

    def _visible_row(
        self, connection: Connection, actor: Actor, asset_id: str, *, lock: bool = False
    ) -> AssetRow:
        check_actor(actor)
        tenant = actor.project_id if isinstance(actor, Tenant) else None
        row = self._repo.read_row(connection, check_id(asset_id, "asset_id"), tenant, lock=lock)
        if row is None:
            raise AssetNotFound(str(asset_id))
        return row

    def _apply(
        self,
        connection: Connection,
        row: AssetRow,
        actor: Actor,
        event: Event,
        request: MoveRequest,
        request_id: str | None,
    ) -> tuple[Move, datetime]:
        now = self._now()
        try:
            move = plan_move(
                row,
                event,
                actor,
                request,
                now,
                upload_window=self.settings.upload_window,
                definition=self.definition,
            )
        except TransitionNotAllowed as refusal:
            self.log.info(
                "transition_refused",
                asset_id=row.asset_id,
                project_id=row.project_id,
                event_name=event.value,
                state=row.state.value,
                allowed=[e.value for e in refusal.allowed],
                actor_kind=actor.role.value,
                actor_id=actor.actor_id,
                request_id=request_id,
            )
            raise
        written = self._repo.write_move(
            connection, move, actor_kind=actor.role, actor_id=actor.actor_id, request_id=request_id, now=now
        )
        if not written:
            self._raise_if_won_by_same_request(connection, row, event, request_id)
            raise Conflict(row.asset_id, event, row.state, row.version)
        return move, now

    def _raise_if_replayed(
        self, connection: Connection, row: AssetRow, event: Event, request_id: str | None
    ) -> None:
        """A retry of the request that made the asset's last move gets that move's outcome.

        Checked before anything else, so a retry answers the same whether or not the first
        attempt's reply was lost; it costs one indexed read, and only when a request id is given.
        """
        if request_id is None:
            return
        last = self._repo.last_audit(connection, row.asset_id)
        if last is None or last.request_id != request_id or last.event is not event:
            return
        raise _Replayed(Transitioned.from_audit_row(last, replayed=True))

    def _raise_if_won_by_same_request(
        self, connection: Connection, row: AssetRow, event: Event, request_id: str | None
    ) -> None:
        """A retry that raced the call it retries, and lost the guarded write to it, gets the
        winner's outcome: the move that made the next version, if it carries this request id
        and event. (A statement of its own sees the winner, committed while the write waited.)"""
        if request_id is None:
            return
        won = self._repo.audit_row(connection, row.asset_id, row.version + 1)
        if won is not None and won.request_id == request_id and won.event is event:
            raise _Replayed(Transitioned.from_audit_row(won, replayed=True))

    def _applied(self, outcome: tuple[Move, datetime], actor: Actor, request_id: str | None) -> Transitioned:
        move, now = outcome
        self.log.info(
            "transition_applied",
            asset_id=move.asset_id,
            project_id=move.project_id,
            event_name=move.event.value,
            from_state=move.source.value,
            to_state=move.dest.value,
            version=move.version,
            actor_kind=actor.role.value,
            actor_id=actor.actor_id,
            request_id=request_id,
        )
        return Transitioned(
            asset_id=move.asset_id,
            project_id=move.project_id,
            event=move.event,
            from_state=move.source,
            to_state=move.dest,
            version=move.version,
            pre_freeze_state=move.pre_freeze,
            pre_delete_state=move.pre_delete,
            occurred_at=now,
        )

    def _now(self) -> datetime:
        return read_clock(self.clock)

    def _require(self, actor: Actor, role: Role, action: str) -> None:
        check_actor(actor)
        if actor.role is not role:
            raise PermissionDenied(action, actor.role.value, [role.value])

    def _listing_tenant(
        self,
        actor: Actor,
        project_id: str | None,
        *,
        required: bool,
        action: str = "list another tenant's assets",
    ) -> str | None:
        check_actor(actor)
        if isinstance(actor, Tenant):
            if project_id is not None and project_id != actor.project_id:
                raise PermissionDenied(action, Role.TENANT.value, [Role.PLATFORM.value])
            return actor.project_id
        if project_id is None:
            if required:
                raise InvalidParameter("project_id", "the platform must name the tenant to list")
            return None
        return check_id(project_id, "project_id")


class _Replayed(Exception):
    def __init__(self, transition: Transitioned) -> None:
        super().__init__(transition.asset_id)
        self.transition = transition


def _tenant_storage(
    project_ids: Sequence[str], found: Sequence[usage.Bucket], as_of: datetime, policy: StoragePolicy
) -> list[TenantStorage]:
    """Each tenant's report from its (type, state) sums; a tenant with nothing gets zeros."""
    by_tenant: dict[str, list[usage.Bucket]] = {project_id: [] for project_id in project_ids}
    for bucket in found:
        by_tenant[bucket.project_id].append(bucket)
    reports = []
    for project_id, buckets in by_tenant.items():
        by_type: dict[AssetType, list[int]] = {}
        by_state: dict[AssetState, list[int]] = {}
        timbre = video = 0
        for bucket in buckets:
            part = (bucket.assets, bucket.files, bucket.used_bytes, bucket.timbre_bytes + bucket.video_bytes)
            kind = by_type.setdefault(bucket.asset_type, [0] * 4)
            state = by_state.setdefault(bucket.state, [0] * 4)
            for index, value in enumerate(part):
                kind[index] += value
                state[index] += value
            timbre += bucket.timbre_bytes
            video += bucket.video_bytes
        types = {kind: Usage(*sums) for kind, sums in by_type.items()}
        states = {state: Usage(*sums) for state, sums in by_state.items()}
        total = sum(types.values(), Usage())
        exempt = {Exemption.TIMBRE_MODEL: timbre, Exemption.CUSTOMIZED_VIDEO: video}
        reports.append(TenantStorage(project_id, as_of, policy.free_bytes, total, exempt, types, states))
    return reports


def _visible(actor: Actor, project_id: str) -> bool:
    return not isinstance(actor, Tenant) or actor.project_id == project_id


def _mismatch_reason(what: str, mismatches: list[str]) -> str:
    """Which declared fields the upload differs in (names only: the values may be long or odd)."""
    return f"{what} does not match its declaration: {', '.join(mismatches)} differ"


def _check_request_id(request_id: object) -> str | None:
    if request_id is None:
        return None
    return check_line(request_id, "request_id", maximum=128)


def _check_fail_type(fail_type: object) -> FailType | None:
    if fail_type is not None and not isinstance(fail_type, FailType):
        raise InvalidParameter("fail_type", "must be AUTOMATIC_REVIEW_REJECT or MANUAL_REVIEW_REJECT")
    return fail_type


def _check_block_reason_code(code: object) -> str | None:
    if code is None:
        return None
    return check_line(code, "block_reason_code", maximum=64)


def _check_version(version: object) -> None:
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise InvalidParameter("expected_version", "must be a positive whole number")


def _check_page(limit: object, offset: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidParameter("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidParameter("offset", f"must be a whole number from 0 to {MAX_OFFSET}")
