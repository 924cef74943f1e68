"""What every collaborator of a ``Lifecycle`` shares, built once: ``Context``.

It holds the database (SQLAlchemy's ``Engine``) and its statements (the ``Repository``), the
clock, the settings, the definition, the loggers and the retry policy; it runs every transaction
(``run``: the only retry loop), says who may see which asset, and hears what was applied
(``applied``: logged, and handed to the listeners, after the commit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row

from lifecycle.actors import Actor, Tenant
from lifecycle.clock import EARLIEST_TIME, Clock, as_utc, read_clock
from lifecycle.definition import Definition, Role
from lifecycle.errors import AssetNotFound, InvalidParameter, PermissionDenied
from lifecycle.inputs import check_actor, check_id
from lifecycle.listeners import Listeners
from lifecycle.logs import EventLog, EventLogger
from lifecycle.moves import AssetRow
from lifecycle.records import TransitionRecord
from lifecycle.retry import Retries, RetryPolicy
from lifecycle.settings import Settings
from lifecycle.store.database import transaction
from lifecycle.store.repository import Repository

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Logs:
    """The engine's loggers, one per concern (docs/logging.md)."""

    transitions: EventLogger
    storage: EventLogger
    audit: EventLogger
    sweeps: EventLogger
    retry: EventLogger
    scheduler: EventLogger
    events: EventLogger
    feed: EventLogger

    @classmethod
    def named(cls) -> Logs:
        """``lifecycle.<concern>`` each: the application's logging (or structlog) decides."""
        return cls(*(EventLog(f"lifecycle.{concern}") for concern in cls.__slots__))

    @classmethod
    def all_to(cls, logger: EventLogger) -> Logs:
        """Every concern to one logger the caller gave."""
        return cls(*(logger for _ in cls.__slots__))


class Context:
    """One database, its statements, time, settings, the definition, the logs and the retries."""

    def __init__(
        self,
        database: Engine,
        *,
        clock: Clock,
        settings: Settings,
        definition: Definition,
        logs: Logs,
        retry: RetryPolicy,
    ) -> None:
        if not isinstance(settings, Settings):
            raise InvalidParameter("settings", "must be a Settings")
        self.database = database
        self.repository = Repository(database.dialect, definition)
        self.clock = clock
        self.settings = settings
        self.definition = definition
        self.logs = logs
        self.retries = Retries(retry, logs.retry)
        self.listeners = Listeners(logs.events)

    # Transactions ----------------------------------------------------------------------------------

    def run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """``work`` in one transaction, committed when it returns; run again whole (read, decide,
        write) when the database refused it for contention (``RetryPolicy``)."""
        return self.retries.run(lambda: self._once(work, write))

    def _once(self, work: Callable[[Connection], T], write: bool) -> T:
        with transaction(self.database, write=write) as connection:
            return work(connection)

    def now(self) -> datetime:
        return read_clock(self.clock)

    def as_of(self, as_of: datetime | None, why: str) -> datetime:
        """A moment a read or a sweep is asked for: now (None), or a checked past moment."""
        now = self.now()
        if as_of is None:
            return now
        if not isinstance(as_of, datetime):
            raise InvalidParameter("as_of", "must be a timezone-aware datetime")
        as_of = as_utc(as_of, "as_of")
        if as_of > now:
            raise InvalidParameter("as_of", f"must not be later than now ({now.isoformat()}): {why}")
        if as_of < EARLIEST_TIME:
            raise InvalidParameter(
                "as_of", f"must be {EARLIEST_TIME.isoformat()} or later, the earliest time the engine knows"
            )
        return as_of

    # After the commit ----------------------------------------------------------------------------

    def applied(self, records: Sequence[TransitionRecord], *, log: bool = True) -> None:
        """Transitions just committed: each logged as ``transition_applied`` (unless ``log`` is
        off: a sweep sums its batches up, a creation is ``asset_created``), then told to the
        listeners."""
        logger = self.logs.transitions
        enabled = getattr(logger, "enabled", None)
        if log and (enabled is None or enabled(logging.INFO)):
            for record in records:
                logger.info("transition_applied", **record.log_fields())
        if self.listeners.active and records:
            self.listeners.publish(records)

    # Who may see what ------------------------------------------------------------------------------

    def visible_row(
        self, connection: Connection, actor: Actor, asset_id: str, *, lock: bool = False
    ) -> AssetRow:
        """The asset's decision row; a missing asset and another tenant's answer the same
        (``AssetNotFound``). ``lock``: held until the transaction ends."""
        check_actor(actor)
        tenant = actor.project_id if isinstance(actor, Tenant) else None
        row = self.repository.read_row(connection, check_id(asset_id, "asset_id"), tenant, lock=lock)
        if row is None:
            raise AssetNotFound(str(asset_id))
        return row

    def visible_asset(self, connection: Connection, actor: Actor, asset_id: str) -> Row[Any]:
        """The asset's full row; a missing asset and another tenant's answer the same."""
        check_actor(actor)
        record = self.repository.asset(connection, check_id(asset_id, "asset_id"))
        if record is None or not visible(actor, record.project_id):
            raise AssetNotFound(str(asset_id))
        self.repository.check_asset_record(record)
        return record


def visible(actor: Actor, project_id: str) -> bool:
    """Whether ``actor`` may see a row of the tenant ``project_id``: its own, or any for the platform
    and the system."""
    return not isinstance(actor, Tenant) or actor.project_id == project_id


def require(actor: Actor, role: Role, action: str) -> None:
    """``PermissionDenied`` unless ``actor`` has ``role``."""
    check_actor(actor)
    if actor.role is not role:
        raise PermissionDenied(action, actor.role.value, [role.value])


def listing_tenant(
    actor: Actor,
    project_id: str | None,
    *,
    required: bool,
    action: str = "list another tenant's assets",
) -> str | None:
    """The tenant a listing is of: a tenant's own, or the one the platform names (or every one)."""
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
