"""The engine's errors: one base, each naming a fact, each carrying what a service answers with.

The platform documents two error codes: ``MSS.00000002`` (Not Found, HTTP 404) and
``MSS.00000003`` (Invalid parameter, HTTP 400). Every error caused by the request carries one of
them, with an HTTP status that tells the caller what kind of refusal it is (400, 403, 404, 409).
Failures of the database itself are not the caller's fault and answer 503.

``to_dict()`` is the body a service may send its client. For the client's own errors (4xx) it is
the message, which names only what the client sent or may see. For the service's failures (5xx) it
is a fixed text per class (``client_message``): host names, file paths, SQL and driver messages stay
on the exception (``str(error)``, its attributes, its ``__cause__``), for the service's logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from datetime import datetime

    from lifecycle.definition import AssetState, Event

NOT_FOUND = "MSS.00000002"
INVALID_PARAMETER = "MSS.00000003"


class LifecycleError(Exception):
    """The lifecycle engine failed."""

    code: ClassVar[str] = INVALID_PARAMETER
    http_status: ClassVar[int] = 400
    server_message: ClassVar[str] = "the service failed"
    """What a client is told of a failure of the service (a 5xx): no detail of its internals."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        """The whole story, for logs and operators."""
        return str(self)

    @property
    def client_message(self) -> str:
        """What a service may tell its client: the message for a refusal of the client's request
        (4xx), the class's ``server_message`` for a failure of the service (5xx)."""
        return self.message if self.http_status < 500 else self.server_message

    def to_dict(self) -> dict[str, str]:
        """The platform's error body: ``{"error_code": …, "error_msg": …}``, safe to send."""
        return {"error_code": self.code, "error_msg": self.client_message}


class InvalidDefinition(LifecycleError):
    """The transition table is not a valid lifecycle."""


class NoLegalPath(LifecycleError):
    """No sequence of legal moves brings an asset there (raised by the test helpers)."""

    def __init__(self, state: AssetState, wanted: str, reachable: Sequence[str]) -> None:
        self.state = state
        self.wanted = wanted
        self.reachable = tuple(reachable)
        super().__init__(
            f"no legal path leads to {state.value} with {wanted};"
            f" reachable in {state.value}: {' | '.join(self.reachable) or 'nothing'}"
        )


class InvalidParameter(LifecycleError):
    """Invalid parameter."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid parameter {field}: {problem}")


class AssetNotFound(LifecycleError):
    """Not Found."""

    code = NOT_FOUND
    http_status = 404

    def __init__(self, asset_id: str) -> None:
        self.asset_id = asset_id
        super().__init__(f"asset {asset_id} not found")


class ApplicationNotFound(LifecycleError):
    """Not Found."""

    code = NOT_FOUND
    http_status = 404

    def __init__(self, application_id: str) -> None:
        self.application_id = application_id
        super().__init__(f"unfreeze application {application_id} not found")


class PermissionDenied(LifecycleError):
    """The actor's role may not do this."""

    http_status = 403

    def __init__(self, action: str, role: str, allowed_roles: Sequence[str]) -> None:
        self.action = action
        self.role = role
        self.allowed_roles = tuple(allowed_roles)
        super().__init__(f"a {role} may not '{action}' (allowed for: {', '.join(self.allowed_roles)})")


class TransitionNotAllowed(LifecycleError):
    """The asset's state does not allow this event."""

    http_status = 409

    def __init__(
        self,
        asset_id: str,
        event: Event,
        state: AssetState,
        allowed: Sequence[Event],
        detail: str | None = None,
    ) -> None:
        self.asset_id = asset_id
        self.event = event
        self.state = state
        self.allowed = tuple(allowed)
        allowed_text = ", ".join(e.value for e in self.allowed) or "nothing"
        why = f": {detail}" if detail else ""
        super().__init__(
            f"cannot '{event.value}' asset {asset_id} in state {state.value}{why} (allowed: {allowed_text})"
        )


class Conflict(LifecycleError):
    """The asset changed while this move was being made; nothing was written."""

    http_status = 409

    def __init__(
        self,
        asset_id: str,
        event: Event | None,
        expected_state: AssetState | None,
        expected_version: int,
        detail: str = "it changed concurrently",
    ) -> None:
        self.asset_id = asset_id
        self.event = event
        self.expected_state = expected_state
        self.expected_version = expected_version
        action = f"'{event.value}' " if event else ""
        state = f"{expected_state.value} " if expected_state else ""
        super().__init__(
            f"conflict: {action}asset {asset_id} expected at {state}version {expected_version},"
            f" {detail}; nothing was written"
        )


class ApplicationNotPending(LifecycleError):
    """The unfreeze application was decided already."""

    http_status = 409

    def __init__(self, application_id: str, state: str) -> None:
        self.application_id = application_id
        self.state = state
        super().__init__(f"unfreeze application {application_id} is {state}, not PENDING")


class StoreUnavailable(LifecycleError):
    """The database failed; nothing was written. The original error is the ``__cause__``.

    ``database`` is the database's URL without its password (None when not known), ``detail``
    the driver's own words: both are in the message, neither in ``to_dict()``.
    """

    code = "LIFECYCLE.STORE_UNAVAILABLE"
    http_status = 503
    server_message = "the service's database is unavailable; try again later"

    def __init__(
        self, message: str | None = None, *, database: str | None = None, detail: str | None = None
    ) -> None:
        self.database = database
        self.detail = detail
        super().__init__(message)


class StoreBusy(StoreUnavailable):
    """The database refused for contention (a lock, a deadlock, a serialization failure) on every
    attempt; nothing was written, and trying again later is safe. The last driver error is the
    ``__cause__``; ``db_code`` is the database's own code (a SQLSTATE, or SQLite's result code)."""

    code = "LIFECYCLE.STORE_BUSY"
    http_status = 503
    server_message = "the service's database is busy; nothing was written, and trying again is safe"

    def __init__(self, db_code: str, detail: str, attempts: int = 1, *, database: str | None = None) -> None:
        self.db_code = db_code
        self.attempts = attempts
        tries = "1 attempt" if attempts == 1 else f"all {attempts} attempts"
        super().__init__(
            f"the database {_named(database)}was busy ({db_code}: {detail}) on {tries}; nothing was written",
            database=database,
            detail=detail,
        )


class DatabaseMissing(StoreUnavailable):
    """There is no database at this path; only ``upgrade()`` creates one."""

    def __init__(self, path: str, *, database: str) -> None:
        self.path = path
        super().__init__(
            f"no database at {path} (create it with: lifecycle db upgrade, or Lifecycle.upgrade())",
            database=database,
        )


class DatabaseReadOnly(StoreUnavailable):
    """The database may be read but not written (a read-only file, directory, mount or server);
    nothing was written."""

    def __init__(self, *, database: str | None, detail: str) -> None:
        super().__init__(
            f"the database {_named(database)}is read-only ({detail}): it can be read, not written;"
            " nothing was written",
            database=database,
            detail=detail,
        )


def _named(database: str | None) -> str:
    return f"{database} " if database else ""


class ClockOutOfRange(LifecycleError):
    """The engine's clock reads a time the engine does not support; nothing was computed from it."""

    code = "LIFECYCLE.CLOCK_OUT_OF_RANGE"
    http_status = 500
    server_message = "the service's clock is wrong; nothing was written"

    def __init__(self, reading: datetime, earliest: datetime, latest: datetime) -> None:
        self.reading = reading
        self.earliest = earliest
        self.latest = latest
        super().__init__(
            f"clock.now() reads {reading.isoformat()}, outside the times the engine supports"
            f" (from {earliest.isoformat()} up to {latest.isoformat()}); set the clock right;"
            " nothing was written"
        )


class SchemaOutOfDate(LifecycleError):
    """The database schema is not at the engine's revision; run ``Lifecycle.upgrade()``."""

    code = "LIFECYCLE.SCHEMA_OUT_OF_DATE"
    http_status = 503
    server_message = "the service's database is not ready"


class MissingDependency(LifecycleError):
    """A package this feature needs is not installed."""

    code = "LIFECYCLE.MISSING_DEPENDENCY"
    http_status = 500
    server_message = "the service is missing a package it needs"

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed: pip install 'lifecycle[{extra}]'")


class MissingProgram(LifecycleError):
    """An external program this feature needs is not on the PATH."""

    code = "LIFECYCLE.MISSING_DEPENDENCY"
    http_status = 500
    server_message = "the service is missing a program it needs"

    def __init__(self, program: str, needed_for: str, install: str) -> None:
        self.program = program
        self.needed_for = needed_for
        self.install = install
        super().__init__(f"{program} is not on the PATH; {needed_for} needs it: {install}")


class FileNotFound(LifecycleError):
    """Not Found."""

    code = NOT_FOUND
    http_status = 404

    def __init__(self, asset_id: str | None, file_id: str) -> None:
        self.asset_id = asset_id
        """None where the file was asked for by its id alone."""
        self.file_id = file_id
        of_asset = "" if asset_id is None else f" of asset {asset_id}"
        super().__init__(f"file {file_id}{of_asset} not found")


class UnfreezeAlreadyPending(LifecycleError):
    """An application to unfreeze this asset is already waiting for the platform."""

    http_status = 409

    def __init__(self, asset_id: str) -> None:
        self.asset_id = asset_id
        super().__init__(f"an application to unfreeze asset {asset_id} is already pending")


class CorruptRecord(LifecycleError):
    """A stored row holds something no legal history can produce; the engine will not act on it."""

    code = "LIFECYCLE.CORRUPT_RECORD"
    http_status = 500
    server_message = "the asset's stored record is damaged; the platform's operators must repair it"

    def __init__(self, asset_id: str, problem: str) -> None:
        self.asset_id = asset_id
        self.problem = problem
        super().__init__(f"asset {asset_id} is corrupt: {problem}; repair the row before acting on it")


class FeedHeldBack(LifecycleError):
    """Events committed before a wait were not delivered in time: a transaction older than them is
    still open on the database server (docs/events.md, "what delays delivery"), or another instance
    of the consumer holds its cursor."""

    code = "LIFECYCLE.FEED_HELD_BACK"
    http_status = 503
    server_message = "the service's change feed is held back; try again later"

    def __init__(self, waiting: str, seconds: float, held_by: str) -> None:
        self.waiting = waiting
        self.held_by = held_by
        super().__init__(
            f"{waiting} waited {seconds:g} s for the events committed before the wait; {held_by} holds"
            " them back"
        )


class StorageAllowanceExceeded(LifecycleError):
    """The tenant's chargeable storage would go over its free allowance, and the service refuses
    uploads past it (``StoragePolicy.refuse_uploads_over_allowance``); nothing was written."""

    http_status = 403

    def __init__(self, project_id: str, chargeable_bytes: int, adding_bytes: int, free_bytes: int) -> None:
        self.project_id = project_id
        self.chargeable_bytes = chargeable_bytes
        self.adding_bytes = adding_bytes
        self.free_bytes = free_bytes
        super().__init__(
            f"tenant {project_id} would use {chargeable_bytes + adding_bytes} bytes of chargeable storage,"
            f" over its free allowance of {free_bytes} bytes (it uses {chargeable_bytes} now, this adds"
            f" {adding_bytes}); delete assets for good to make room; nothing was written"
        )
