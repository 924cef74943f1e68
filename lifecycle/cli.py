"""``lifecycle``, the admin script: every operation of the engine, for the platform's operators.

Built on click (commands, options, validation) and rich (tables, progress). Who acts is always
explicit (``--tenant`` or ``--operator``) and lands in the audit trail. Tables by default;
``--json`` prints the documented shapes (docs/cli.md). Errors are one line on stderr with the
platform's error code, and a distinct exit code per kind of failure (``ExitCode``).

This is an application, so unlike the library it configures logging: human-readable lines on
stderr, or JSON lines with ``--log-json`` (the standard ``logging`` module's records too).

Importing this module defines every command from light modules only (click, the transition table,
the inputs' bounds, the settings' defaults); the engine, the database (SQLAlchemy, Alembic), rich
and structlog are imported by the commands that use them, so ``--help`` starts in a fraction of
the time an engine takes to import (docs/performance.md; tests/test_imports.py holds it).
"""

from __future__ import annotations

import enum
import fractions
import functools
import gc
import json
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import click

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.billing import DEFAULT_FREE_BYTES, StoragePolicy, size
from lifecycle.definition import (
    ApplicationState,
    AssetState,
    AssetType,
    BatchAction,
    FailType,
    FileCategory,
    PlannedOperation,
    UploadResult,
)
from lifecycle.errors import (
    Conflict,
    DatabaseMissing,
    LifecycleError,
    MissingDependency,
    MissingProgram,
    StorageAllowanceExceeded,
    StoreUnavailable,
)
from lifecycle.inputs import MAX_PAGE, ORDER_COLUMNS, AutoOperation, NewAsset, NewFile
from lifecycle.logs import LevelMethods
from lifecycle.settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DATABASE_URL,
    DEFAULT_STORAGE_PAGE,
    DEFAULT_SWEEP_INTERVAL,
    MAX_BATCH_SIZE,
    Settings,
)

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from lifecycle.engine import Lifecycle
    from lifecycle.results import Transitioned, UnfreezeApplication
    from lifecycle.sweeps import SweepListener

F = TypeVar("F", bound=Callable[..., Any])

DATABASE_ENV = "LIFECYCLE_DATABASE_URL"
OPERATOR_ENV = "LIFECYCLE_OPERATOR"
FREE_STORAGE_ENV = "LIFECYCLE_FREE_STORAGE"
REFUSE_UPLOADS_ENV = "LIFECYCLE_REFUSE_UPLOADS_OVER_ALLOWANCE"
LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_INTERVAL = timedelta(days=1)
INVALID = "MSS.00000003"


class ExitCode(enum.IntEnum):
    """What the admin script's exit status means; scripts can tell the failures apart."""

    OK = 0
    INTERNAL_ERROR = 1
    INVALID_INPUT = 2
    NOT_FOUND = 3
    PERMISSION_DENIED = 4
    REFUSED = 5
    CONFLICT = 6
    UNAVAILABLE = 7
    BATCH_INCOMPLETE = 8
    MISSING_DEPENDENCY = 9
    AUDIT_PROBLEMS = 10
    STORAGE_ALLOWANCE_EXCEEDED = 11
    INTERRUPTED = 130


EXIT_CODE_HELP = """\b
Exit codes:
  0  done
  1  internal error (a bug: please report it)
  2  invalid input (a bad option, argument or value)
  3  not found (no such asset, file or application, or another tenant's)
  4  permission denied (this actor's role may not do this)
  5  refused transition (the asset's state does not allow it)
  6  conflict (the asset changed meanwhile; nothing was written)
  7  database unavailable, or its schema is not up to date
  8  a batch action failed for some of its assets (each result is printed)
  9  a program or package this command needs is not installed
  10  audit verify found problems (each is printed)
  11  storage allowance exceeded (an upload past the tenant's free allowance; nothing was written)
  130  interrupted (Ctrl-C) before the command finished; a move is all or nothing"""

_EXIT_CODES_BY_STATUS = {
    400: ExitCode.INVALID_INPUT,
    403: ExitCode.PERMISSION_DENIED,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.REFUSED,
}


def exit_code_for(error: LifecycleError) -> ExitCode:
    """The exit code of an engine error, from the HTTP status it carries (409 is a refusal of the
    asset's state, except a lost race, which is a conflict; 403 is the actor's role, except an
    upload refused for the tenant's storage allowance); 5xx: the database or the install."""
    if isinstance(error, Conflict):
        return ExitCode.CONFLICT
    if isinstance(error, StorageAllowanceExceeded):
        return ExitCode.STORAGE_ALLOWANCE_EXCEEDED
    if isinstance(error, MissingDependency | MissingProgram):
        return ExitCode.MISSING_DEPENDENCY
    return _EXIT_CODES_BY_STATUS.get(error.http_status, ExitCode.UNAVAILABLE)


def _fail(code: ExitCode, error_code: str, message: str) -> NoReturn:
    click.echo(f"error {error_code}: {' '.join(message.split())}", err=True)
    sys.exit(code)


class StartingUp:
    """The cyclic garbage collector, paused while the admin script starts (docs/performance.md,
    "The admin script's start").

    Starting makes some 100,000 objects that live as long as the process (modules, classes,
    SQLAlchemy's constructs, the transition table) and a few hundred garbage cycles: collecting
    while they are made, the collector scans the survivors again and again (about a quarter of
    ``show``'s time). So it is paused from the command line's parsing until the command has opened its
    engine (``over``); then what was made is frozen (``gc.freeze``: never scanned again, the few
    hundred cycles kept) and the collector resumes for what the command does next (a sweep, the
    scheduler, the server). Only where the script is the process's entry point (``main()`` reading
    the command line from ``sys.argv``), never when a program calls it with arguments.
    """

    def __init__(self) -> None:
        self._paused = False

    def pause(self) -> None:
        if gc.isenabled():
            gc.disable()
            self._paused = True

    def over(self) -> None:
        if self._paused:
            self._paused = False
            gc.freeze()
            gc.enable()


STARTING_UP = StartingUp()


class AdminScript(click.Group):
    """The root command: turns every failure into one line on stderr and an ``ExitCode``."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        if args is None:  # the command line is the process's: the installed script
            STARTING_UP.pause()
        try:
            result = super().main(
                args, prog_name or "lifecycle", complete_var, standalone_mode=False, **extra
            )
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.ctx.get_help() if error.ctx else error.format_message())
            sys.exit(ExitCode.OK)
        except click.UsageError as error:
            hint = f" (see: {error.ctx.command_path} --help)" if error.ctx else ""
            _fail(ExitCode.INVALID_INPUT, INVALID, error.format_message() + hint)
        except click.Abort:
            _fail(ExitCode.INTERRUPTED, "LIFECYCLE.INTERRUPTED", "interrupted")
        except click.ClickException as error:
            _fail(ExitCode.INVALID_INPUT, INVALID, error.format_message())
        except LifecycleError as error:
            _fail(exit_code_for(error), error.code, error.message)
        except UnicodeDecodeError as error:
            _fail(ExitCode.INVALID_INPUT, INVALID, f"the input is not UTF-8 text: {error}")
        except OSError as error:  # a file or directory named on the command line
            where = f": {error.filename}" if error.filename else ""
            _fail(ExitCode.INVALID_INPUT, INVALID, f"{error.strerror or error}{where}")
        except Exception as error:  # noqa: BLE001 - the last line of defence: no traceback for operators
            # SQLAlchemy's errors are told apart here, not in their own clauses, so that only the
            # commands that open the database import it (none of its errors is one of the above).
            from sqlalchemy import exc as sqlalchemy_errors

            if isinstance(error, sqlalchemy_errors.ArgumentError):
                _fail(ExitCode.INVALID_INPUT, INVALID, f"invalid database URL: {error}")
            if isinstance(error, sqlalchemy_errors.SQLAlchemyError):
                _fail(ExitCode.UNAVAILABLE, StoreUnavailable.code, f"the database failed: {error}")
            _fail(ExitCode.INTERNAL_ERROR, "LIFECYCLE.INTERNAL_ERROR", f"{type(error).__name__}: {error}")
        finally:
            STARTING_UP.over()
        sys.exit(result if isinstance(result, int) else ExitCode.OK)


# Session and output ---------------------------------------------------------------------------


@dataclass
class Session:
    """What every command shares: the database URL, the service's storage settings, the logging
    and, once opened, the engine."""

    database_url: str
    log_json: bool = False
    storage: StoragePolicy = field(default_factory=StoragePolicy)
    logs: AdminLogging | None = field(default=None, repr=False)
    _lifecycle: Lifecycle | None = field(default=None, repr=False)

    def lifecycle(self, *, check_schema: bool = True) -> Lifecycle:
        if self._lifecycle is None:
            from lifecycle.engine import Lifecycle

            self._lifecycle = Lifecycle(
                self.database_url,
                settings=Settings(storage=self.storage),
                logger=None if self.logs is None else self.logs.engine_events(),
            )
            if check_schema:
                self._lifecycle.check_schema()
            STARTING_UP.over()
        return self._lifecycle

    def close(self) -> None:
        if self._lifecycle is not None:
            self._lifecycle.close()


def _session() -> Session:
    session = click.get_current_context().find_object(Session)
    if session is None:
        raise click.UsageError("run through the lifecycle command")
    return session


def _engine() -> Lifecycle:
    return _session().lifecycle()


def _stdout() -> Console:
    from lifecycle import render

    return render.console(sys.stdout)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _answer(as_json: bool, shape: Callable[[], Any], view: Callable[[], RenderableType]) -> None:
    """A command's answer on stdout: its JSON shape with ``--json``, else its view for people."""
    if as_json:
        _print_json(shape())
    else:
        shown = view()
        # A one-line answer stays one line whatever the width (for grep); tables fit the width.
        _stdout().print(shown, soft_wrap=isinstance(shown, str))


def _answer_move(transition: Transitioned, as_json: bool) -> None:
    from lifecycle import render

    _answer(as_json, transition.to_json, lambda: render.transition_line(transition))


def configure_logging(*, json_lines: bool, level: str, stream: TextIO) -> AdminLogging:
    """The admin script's logging, on ``stream`` (``AdminLogging``), installed: the root logger's one
    handler and its level."""
    logs = AdminLogging(json_lines=json_lines, level=level, stream=stream)
    root = logging.getLogger()
    root.handlers = [logs.handler()]
    root.setLevel(logs.threshold)
    return logs


class AdminLogging:
    """The admin script's logging: structlog's events and the standard ``logging`` module's records
    (APScheduler's, Alembic's) alike, human-readable or as JSON lines, on one stream.

    Both go through one ``logging`` handler, so lines written from different threads (the
    scheduler's and the main one) never interleave. structlog is imported when a line is about to
    be written, not before: the engine's events come through ``engine_events()``, which configures
    structlog at the first event at or above the level; the handler's formatter is built at the
    first record. A command that writes no log line (``show``, at the default level) never imports
    structlog (docs/performance.md, "The admin script's start").
    """

    def __init__(self, *, json_lines: bool, level: str, stream: TextIO) -> None:
        self.json_lines = json_lines
        self.threshold = logging.getLevelNamesMapping()[level.upper()]
        self._stream = stream
        self._configuring = threading.Lock()
        self._configured = False

    def handler(self) -> logging.Handler:
        handler = logging.StreamHandler(self._stream)
        handler.setFormatter(_FormatterOnFirstRecord(self._formatter))
        return handler

    def engine_events(self) -> EngineEvents:
        """The logger of the engines the admin script opens (``Lifecycle(logger=...)``)."""
        return EngineEvents(self)

    def configure_structlog(self) -> None:
        """structlog configured for this script, once: its events rendered by the handler's
        formatter. For code that logs through structlog on its own: the server's engine and
        requests (``lifecycle serve``), and ``EngineEvents``."""
        with self._configuring:
            if self._configured:
                return
            import structlog

            structlog.configure(
                processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                wrapper_class=structlog.make_filtering_bound_logger(self.threshold),
                logger_factory=structlog.stdlib.LoggerFactory(),
                cache_logger_on_first_use=False,
            )
            self._configured = True

    def _formatter(self) -> logging.Formatter:
        import structlog

        renderer: Any = (
            structlog.processors.JSONRenderer()
            if self.json_lines
            else structlog.dev.ConsoleRenderer(colors=self._stream.isatty())
        )
        return structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.dict_tracebacks] if self.json_lines else []),
                renderer,
            ],
        )


def _shared_processors() -> list[Any]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


class _FormatterOnFirstRecord(logging.Formatter):
    """Builds its formatter (which imports structlog) at the first record it formats. The handler
    formats under its own lock, so it is built once."""

    def __init__(self, build: Callable[[], logging.Formatter]) -> None:
        super().__init__()
        self._build = build
        self._built: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._built is None:
            self._built = self._build()
        return self._built.format(record)


class EngineEvents(LevelMethods):
    """The engine's events in the admin script, as ``lifecycle`` events: below the level, dropped
    before they are built (``enabled``); at or above it, written through structlog, configured
    first (``AdminLogging.configure_structlog``) as the script always has it.

    Written as ``EventLog`` writes them under structlog: ``structlog.get_logger(name).<level>(event,
    **fields)``, the logger named ``lifecycle`` for every concern (the lines name no logger).
    """

    def __init__(self, logs: AdminLogging) -> None:
        from lifecycle.logs import EventLog

        self._logs = logs
        self._log = EventLog("lifecycle")

    def enabled(self, level: int) -> bool:
        return level >= self._logs.threshold

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if self.enabled(level):
            self._logs.configure_structlog()
            getattr(self._log, method)(event, **fields)


# Options ----------------------------------------------------------------------------------------


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (shapes in docs/cli.md).")(
        function
    )


def request_id_option(function: F) -> F:
    return click.option(
        "--request-id",
        help="Your id for this request: recorded, and a retry with it is answered, not redone.",
    )(function)


def reason_option(function: F) -> F:
    return click.option("--reason", help="Why: recorded in the audit trail.")(function)


def page_options(function: F) -> F:
    function = click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)(function)
    return click.option("--limit", type=click.IntRange(1, MAX_PAGE), default=50, show_default=True)(function)


def move_options(function: F) -> F:
    """What every move accepts besides its actor and asset."""
    function = click.option(
        "--expected-version",
        type=click.IntRange(min=1),
        help="Apply only if the asset is still at this version.",
    )(function)
    return reason_option(request_id_option(function))


def _tenant_options(function: F, *, required: bool) -> F:
    function = click.option(
        "--app-user", metavar="USER_ID", help="The tenant's third-party user acting (X-App-UserId)."
    )(function)
    return click.option(
        "--tenant", metavar="PROJECT_ID", required=required, help="Act as this tenant (project_id)."
    )(function)


def _operator_option(function: F, *, required: bool) -> F:
    return click.option(
        "--operator",
        metavar="NAME",
        envvar=OPERATOR_ENV,
        required=required,
        help=f"Act as the platform, through this operator (or ${OPERATOR_ENV}).",
    )(function)


def as_tenant(function: Callable[..., Any]) -> Callable[..., Any]:
    """The command acts as a tenant: ``--tenant`` (and ``--app-user``) become ``actor``."""

    @functools.wraps(function)
    def wrapper(*args: Any, tenant: str, app_user: str | None, **kwargs: Any) -> Any:
        return function(*args, actor=Tenant(tenant, app_user), **kwargs)

    return _tenant_options(wrapper, required=True)


def as_platform(function: Callable[..., Any]) -> Callable[..., Any]:
    """The command acts as the platform: ``--operator`` becomes ``actor``."""

    @functools.wraps(function)
    def wrapper(*args: Any, operator: str, **kwargs: Any) -> Any:
        return function(*args, actor=Platform(operator), **kwargs)

    return _operator_option(wrapper, required=True)


def as_tenant_or_platform(function: Callable[..., Any]) -> Callable[..., Any]:
    """Either a tenant (its own assets) or the platform (any tenant's): exactly one of the two.

    An operator named only by ``$LIFECYCLE_OPERATOR`` gives way to an explicit ``--tenant``.
    """

    @functools.wraps(function)
    def wrapper(
        *args: Any, tenant: str | None, app_user: str | None, operator: str | None, **kwargs: Any
    ) -> Any:
        source = click.get_current_context().get_parameter_source("operator")
        if tenant is not None and source is click.core.ParameterSource.ENVIRONMENT:
            operator = None
        if (tenant is None) == (operator is None):
            raise click.UsageError("say who acts: exactly one of --tenant PROJECT_ID or --operator NAME")
        if operator is not None and app_user is not None:
            raise click.UsageError("--app-user goes with --tenant, not --operator")
        actor: Actor = Tenant(tenant, app_user) if tenant is not None else Platform(operator or "")
        return function(*args, actor=actor, **kwargs)

    return _operator_option(_tenant_options(wrapper, required=False), required=False)


class PlatformChoice(click.Choice[str]):
    """One of an enum's values, shown as the platform spells them (``VOICE_MODEL``, in the help, the
    errors and the completions) and accepted in any case (``voice_model`` too)."""

    def normalize_choice(self, choice: object, ctx: click.Context | None) -> str:
        return str(choice).upper()


def _choice(members: type[enum.Enum]) -> click.Choice[str]:
    return PlatformChoice([member.value for member in members], case_sensitive=False)


class Moment(click.ParamType[datetime, Any]):
    """An ISO 8601 time; without an offset it is read as UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-03-09T09:00:00Z", param, ctx)
        except OverflowError:
            self.fail(f"{value!r} is out of range once converted to UTC", param, ctx)


class Seconds(click.ParamType[timedelta, Any]):
    """A duration in seconds: finite, from ``minimum`` (excluded when ``positive``) to a day."""

    name = "SECONDS"

    def __init__(self, *, positive: bool) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            seconds = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        low_ok = seconds > 0 if self.positive else seconds >= 0
        if not math.isfinite(seconds) or not low_ok or seconds > MAX_INTERVAL.total_seconds():
            bound = "more than 0" if self.positive else "0 or more"
            self.fail(f"{value!r} must be {bound} and at most {MAX_INTERVAL.total_seconds():g}", param, ctx)
        return timedelta(seconds=seconds)


class InputFile(click.File):
    """``click.File``; a name no file can have (NUL in it) is invalid input too, not a crash."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except ValueError as error:
            self.fail(f"{value!r}: {error}", param, ctx)


class JsonObject(click.ParamType[dict[str, Any], Any]):
    """A JSON object given on the command line."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except ValueError as error:
            self.fail(f"not JSON: {error}", param, ctx)
        except RecursionError:
            self.fail("not JSON this library can read: nested too deeply", param, ctx)
        if not isinstance(parsed, dict):
            self.fail("must be a JSON object ({…})", param, ctx)
        return parsed


MAX_SIZE = 2**63 - 1
SIZE_UNITS = {
    "b": 1,
    **{unit: 1000**power for power, unit in enumerate(("kb", "mb", "gb", "tb"), start=1)},
    **{unit: 1024**power for power, unit in enumerate(("kib", "mib", "gib", "tib"), start=1)},
}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*", re.ASCII | re.IGNORECASE)


class Size(click.ParamType[int, Any]):
    """A number of bytes: ``1073741824``, or a number and a unit, binary (KiB, MiB, GiB, TiB: powers
    of 1024) or decimal (KB, MB, GB, TB: powers of 1000), or B; the unit in any case, a space
    before it allowed, a decimal part allowed where the size comes to whole bytes (``1.5GiB``)."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        found = _SIZE.fullmatch(str(value))
        unit = SIZE_UNITS.get(found.group(2).lower() or "b") if found else None
        if found is None or unit is None:
            self.fail(
                f"{value!r} is not a size such as 5GiB, 500MB or 1073741824"
                " (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
                param,
                ctx,
            )
        size = fractions.Fraction(found.group(1)) * unit  # exact, however many digits
        if size.denominator != 1:
            self.fail(f"{value!r} is not a whole number of bytes", param, ctx)
        if size > MAX_SIZE:
            self.fail(f"{value!r} is more than {MAX_SIZE} bytes", param, ctx)
        return int(size)


MOMENT = Moment()
ASSET_ID = click.argument("asset_id", metavar="ASSET_ID")
APPLICATION_ID = click.argument("application_id", metavar="APPLICATION_ID")


# The commands ---------------------------------------------------------------------------------


@click.group(
    cls=AdminScript,
    epilog=EXIT_CODE_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    "database_url",
    envvar=DATABASE_ENV,
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    metavar="URL",
    help=f"The database (SQLAlchemy URL), or ${DATABASE_ENV}.",
)
@click.option("--log-json", is_flag=True, help="Logs as JSON lines on stderr (else human-readable).")
@click.option(
    "--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="warning", show_default=True
)
@click.option(
    "--free-storage",
    type=Size(),
    envvar=FREE_STORAGE_ENV,
    help=(
        "Each tenant's free storage allowance: bytes, or a number with a unit, binary KiB, MiB, GiB,"
        f" TiB or decimal KB, MB, GB, TB, any case (5GiB, 500MB), or ${FREE_STORAGE_ENV}."
        f" Default: the engine's, {size(DEFAULT_FREE_BYTES)}."
    ),
)
@click.option(
    "--refuse-uploads-over-allowance/--allow-uploads-over-allowance",
    default=False,
    envvar=REFUSE_UPLOADS_ENV,
    help=(
        "Refuse a creation or an upload that would take the tenant's chargeable storage past its"
        f" free allowance (exit 11), or ${REFUSE_UPLOADS_ENV}=1. Default: allowed, billed."
    ),
)
@click.version_option(package_name="lifecycle", prog_name="lifecycle")
@click.pass_context
def main(
    ctx: click.Context,
    database_url: str,
    log_json: bool,
    log_level: str,
    free_storage: int | None,
    refuse_uploads_over_allowance: bool,
) -> None:
    """Operate the asset lifecycle: assets, freezes, the recycle bin, sweeps and the audit trail."""
    logs = configure_logging(json_lines=log_json, level=log_level, stream=sys.stderr)
    policy: dict[str, Any] = {"refuse_uploads_over_allowance": refuse_uploads_over_allowance}
    if free_storage is not None:
        policy["free_bytes"] = free_storage
    session = Session(database_url, log_json=log_json, storage=StoragePolicy(**policy), logs=logs)
    ctx.obj = session
    ctx.call_on_close(session.close)


# The database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema up to date (safe to run again)."""
    from lifecycle.store import schema

    lifecycle = _session().lifecycle(check_schema=False)
    try:
        before = schema.current_revision(lifecycle.database)
    except DatabaseMissing:
        before = None  # upgrade creates it
    lifecycle.upgrade()
    after = schema.current_revision(lifecycle.database)
    change = "already up to date" if before == after else f"upgraded from {before or 'an empty database'}"
    click.echo(f"schema at revision {after} ({change})")


@db.command("current")
def db_current() -> None:
    """Print the schema's revision; exit 7 when it is not up to date."""
    from lifecycle.store import schema

    lifecycle = _session().lifecycle(check_schema=False)
    current, head = schema.current_revision(lifecycle.database), schema.head_revision()
    click.echo(f"schema at revision {current or 'none'}; this version of lifecycle needs {head}")
    if current != head:
        sys.exit(ExitCode.UNAVAILABLE)


# Assets -----------------------------------------------------------------------------------------


@main.command()
@as_tenant_or_platform
@click.option(
    "--project",
    "project_id",
    metavar="PROJECT_ID",
    help="The tenant the asset is for (with --operator: the platform creates what it made for it).",
)
@click.option("--name", "asset_name", required=True, help="asset_name (1-128 characters).")
@click.option("--type", "asset_type", type=_choice(AssetType), required=True, help="asset_type.")
@click.option(
    "--main-file",
    nargs=3,
    type=(str, int, str),
    required=True,
    metavar="NAME SIZE MD5",
    help="The MAIN file as declared: name, size in bytes, MD5 (32 hex digits or 24 base64).",
)
@click.option(
    "--file",
    "other_files",
    nargs=4,
    type=(_choice(FileCategory), str, int, str),
    multiple=True,
    metavar="CATEGORY NAME SIZE MD5",
    help="Another file (COVER, SAMPLE, PAGE, OTHER…, as the asset type allows). Repeatable.",
)
@click.option(
    "--timbre-model",
    "timbre_models",
    nargs=3,
    type=(str, int, str),
    multiple=True,
    metavar="NAME SIZE MD5",
    help="A timbre model of a customized image model (an OTHER file, not billed). Repeatable.",
)
@click.option(
    "--customized",
    is_flag=True,
    help=(
        "Made by the platform to the tenant's order (its timbre models, or a video's first months,"
        " free); the platform's (--operator, --project) only."
    ),
)
@click.option("--description", default="", help="asset_description.")
@click.option("--tag", "tags", multiple=True, help="A tag. Repeatable.")
@click.option("--review-required", is_flag=True, help="The uploaded MAIN file waits for a review verdict.")
@click.option(
    "--activate-on-upload/--no-activate-on-upload",
    default=None,
    help="Land in ACTIVED (or UNACTIVED) once the upload is accepted; default: the engine's setting.",
)
@click.option(
    "--plan",
    nargs=2,
    type=(_choice(PlannedOperation), MOMENT),
    default=None,
    metavar="BLOCK|DELETE TIME",
    help="auto_operation_config: the system freezes or deletes the asset at TIME.",
)
@click.option("--extra-meta", type=JsonObject(), help="asset_extra_meta, a JSON object.")
@click.option(
    "--system-property",
    "system_properties",
    type=JsonObject(),
    multiple=True,
    help="One of system_properties, a JSON object. Repeatable.",
)
@click.option("--order", "asset_order", type=int, help="asset_order.")
@request_id_option
@json_option
def create(
    actor: Actor,
    project_id: str | None,
    asset_name: str,
    asset_type: str,
    main_file: tuple[str, int, str],
    other_files: tuple[tuple[str, str, int, str], ...],
    timbre_models: tuple[tuple[str, int, str], ...],
    customized: bool,
    description: str,
    tags: tuple[str, ...],
    review_required: bool,
    activate_on_upload: bool | None,
    plan: tuple[str, datetime] | None,
    extra_meta: dict[str, Any] | None,
    system_properties: tuple[dict[str, Any], ...],
    asset_order: int | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Create an asset in CREATING; its files are declared, its upload window starts.

    A tenant creates its own; the platform (--operator) creates one for the tenant --project names,
    and alone may mark it --customized.
    """
    from lifecycle import render

    name, size, md5 = main_file
    files = [
        NewFile(name, size, md5),
        *(NewFile(n, s, m, FileCategory(c.upper())) for c, n, s, m in other_files),
        *(NewFile(n, s, m, FileCategory.OTHER, timbre_model=True) for n, s, m in timbre_models),
    ]
    new = NewAsset(
        asset_name=asset_name,
        asset_type=AssetType(asset_type.upper()),
        files=files,
        asset_description=description,
        tags=tags,
        activate_on_upload=activate_on_upload,
        review_required=review_required,
        auto_operation=None if plan is None else AutoOperation(PlannedOperation(plan[0].upper()), plan[1]),
        asset_extra_meta=extra_meta,
        system_properties=system_properties,
        asset_order=asset_order,
        customized=customized,
    )
    assert not isinstance(actor, System), "as_tenant_or_platform gives a tenant or the platform"
    asset = _engine().create_asset(actor, new, project_id=project_id, request_id=request_id)
    _answer(as_json, asset.to_details, lambda: render.asset_view(asset))


@main.command()
@ASSET_ID
@as_tenant_or_platform
@json_option
def show(asset_id: str, actor: Actor, as_json: bool) -> None:
    """Show an asset (--json: the platform's asset-details shape)."""
    from lifecycle import render

    asset = _engine().get_asset(actor, asset_id)
    _answer(as_json, asset.to_details, lambda: render.asset_view(asset))


@main.command()
@ASSET_ID
@as_tenant_or_platform
@json_option
def allowed(asset_id: str, actor: Actor, as_json: bool) -> None:
    """The moves this actor could make on the asset now."""
    from lifecycle import render

    events = [event.value for event in _engine().allowed_events(actor, asset_id)]
    _answer(
        as_json,
        lambda: {"asset_id": asset_id, "allowed": events},
        lambda: render.shown(f"asset {asset_id}: {', '.join(events) or 'nothing'}"),
    )


@main.command("list")
@as_tenant_or_platform
@click.option("--project", "project_id", metavar="PROJECT_ID", help="The tenant to list (with --operator).")
@click.option(
    "--state", "states", type=_choice(AssetState), multiple=True, help="Only this state. Repeatable."
)
@click.option("--order-by", type=click.Choice(ORDER_COLUMNS), default="create_time", show_default=True)
@click.option("--ascending", is_flag=True, help="Oldest first (default: newest first).")
@page_options
@json_option
def list_assets(
    actor: Actor,
    project_id: str | None,
    states: tuple[str, ...],
    order_by: str,
    ascending: bool,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List a tenant's assets: filtered by state, sorted by time, a page at a time."""
    from lifecycle import render

    page = _engine().list_assets(
        actor,
        project_id=project_id,
        states=[AssetState(state.upper()) for state in states],
        order_by=order_by,
        descending=not ascending,
        limit=limit,
        offset=offset,
    )
    _answer(
        as_json,
        lambda: {
            "count": page.total,
            "limit": page.limit,
            "offset": page.offset,
            "assets": [asset.to_details() for asset in page.items],
        },
        lambda: render.assets_table(page),
    )


@main.command()
@ASSET_ID
@as_tenant_or_platform
@json_option
def history(asset_id: str, actor: Actor, as_json: bool) -> None:
    """The asset's audit trail, oldest first."""
    from lifecycle import render

    entries = _engine().history(actor, asset_id)
    _answer(
        as_json,
        lambda: {"asset_id": asset_id, "entries": [entry.to_json() for entry in entries]},
        lambda: render.history_table(entries),
    )


@main.command("confirm-upload")
@ASSET_ID
@as_tenant
@click.option("--result", type=_choice(UploadResult), required=True, help="What the upload came to.")
@click.option("--file-id", metavar="FILE_ID", help="The file uploaded (default: the MAIN file).")
@click.option("--size", "file_size", type=int, help="The uploaded size, checked against the declaration.")
@click.option("--md5", "file_md5", help="The uploaded MD5, checked against the declaration.")
@click.option("--file-name", help="The uploaded name, checked against the declaration.")
@click.option("--reason", help="Why (for a failed upload).")
@request_id_option
@json_option
def confirm_upload(
    asset_id: str,
    actor: Tenant,
    result: str,
    file_id: str | None,
    file_size: int | None,
    file_md5: str | None,
    file_name: str | None,
    reason: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Report a file's upload; the MAIN file's report moves the asset out of CREATING."""
    from lifecycle import render

    engine = _engine()
    if file_id is None:
        file_id = engine.get_asset(actor, asset_id).main_file.file_id
    confirmed = engine.confirm_upload(
        actor,
        asset_id,
        file_id,
        UploadResult(result.upper()),
        file_size=file_size,
        file_md5=file_md5,
        file_name=file_name,
        reason=reason,
        request_id=request_id,
    )
    _answer(as_json, confirmed.to_json, lambda: render.upload_view(confirmed))


# Moves of one asset ---------------------------------------------------------------------------


@main.command()
@ASSET_ID
@as_tenant
@move_options
@json_option
def activate(asset_id: str, actor: Tenant, as_json: bool, **options: Any) -> None:
    """ACTIVED: usable as material for content generation."""
    _answer_move(_engine().activate(actor, asset_id, **options), as_json)


@main.command()
@ASSET_ID
@as_tenant
@move_options
@json_option
def deactivate(asset_id: str, actor: Tenant, as_json: bool, **options: Any) -> None:
    """UNACTIVED: no longer usable."""
    _answer_move(_engine().deactivate(actor, asset_id, **options), as_json)


@main.command()
@ASSET_ID
@as_tenant_or_platform
@click.option("--force", is_flag=True, help="Delete for good (DELETED) instead of to the recycle bin.")
@move_options
@json_option
def delete(asset_id: str, actor: Actor, force: bool, as_json: bool, **options: Any) -> None:
    """To the recycle bin (DELETING); with --force, deleted for good (the platform may force only)."""
    _answer_move(_engine().delete(actor, asset_id, force=force, **options), as_json)


@main.command()
@ASSET_ID
@as_tenant
@move_options
@json_option
def restore(asset_id: str, actor: Tenant, as_json: bool, **options: Any) -> None:
    """Out of the recycle bin, to the state it was deleted from."""
    _answer_move(_engine().restore(actor, asset_id, **options), as_json)


@main.command()
@ASSET_ID
@as_platform
@click.option("--block-reason-code", help="The platform's code for why.")
@move_options
@json_option
def freeze(
    asset_id: str, actor: Platform, block_reason_code: str | None, as_json: bool, **options: Any
) -> None:
    """Freeze (BLOCK): unavailable until unfrozen; remembers where it was."""
    _answer_move(_engine().freeze(actor, asset_id, block_reason_code=block_reason_code, **options), as_json)


@main.command()
@ASSET_ID
@as_platform
@move_options
@json_option
def unfreeze(asset_id: str, actor: Platform, as_json: bool, **options: Any) -> None:
    """Unfreeze: back to the state it was frozen from (from the recycle bin: its pre-delete state)."""
    _answer_move(_engine().unfreeze(actor, asset_id, **options), as_json)


@main.group()
def review() -> None:
    """The platform's verdict on an upload waiting for review."""


@review.command("pass")
@ASSET_ID
@as_platform
@move_options
@json_option
def review_pass(asset_id: str, actor: Platform, as_json: bool, **options: Any) -> None:
    """The review passed: the asset becomes UNACTIVED (or ACTIVED if it activates on upload)."""
    _answer_move(_engine().pass_review(actor, asset_id, **options), as_json)


@review.command("reject")
@ASSET_ID
@as_platform
@click.option("--fail-type", type=_choice(FailType), required=True)
@move_options
@json_option
def review_reject(asset_id: str, actor: Platform, fail_type: str, as_json: bool, **options: Any) -> None:
    """The review failed: the asset becomes FAILED, with the fail type and the reason."""
    _answer_move(_engine().reject_review(actor, asset_id, FailType(fail_type.upper()), **options), as_json)


# A whole tenant -----------------------------------------------------------------------------------


@main.group()
def tenant() -> None:
    """Freeze or unfreeze every asset of a tenant at once."""


@tenant.command("freeze")
@click.argument("project_id", metavar="PROJECT_ID")
@as_platform
@click.option("--block-reason-code", help="The platform's code for why.")
@reason_option
@request_id_option
@json_option
def tenant_freeze(
    project_id: str,
    actor: Platform,
    block_reason_code: str | None,
    reason: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Freeze all of a tenant's assets in one transaction; each remembers its own state."""
    from lifecycle import render

    operation = _engine().freeze_tenant(
        actor, project_id, reason=reason, block_reason_code=block_reason_code, request_id=request_id
    )
    _answer(as_json, operation.to_json, lambda: render.tenant_operation_view(operation))


@tenant.command("unfreeze")
@click.argument("project_id", metavar="PROJECT_ID")
@as_platform
@reason_option
@request_id_option
@json_option
def tenant_unfreeze(
    project_id: str,
    actor: Platform,
    reason: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Unfreeze what the tenant-wide freeze froze; assets frozen on their own stay frozen."""
    from lifecycle import render

    operation = _engine().unfreeze_tenant(actor, project_id, reason=reason, request_id=request_id)
    _answer(as_json, operation.to_json, lambda: render.tenant_operation_view(operation))


# Unfreeze applications ---------------------------------------------------------------------------


@main.group()
def application() -> None:
    """A tenant's application to unfreeze an asset, and the platform's decision."""


def _answer_application(found: UnfreezeApplication, as_json: bool) -> None:
    from lifecycle import render

    _answer(as_json, found.to_json, lambda: render.applications_table([found]))


@application.command("apply")
@ASSET_ID
@as_tenant
@click.option("--reason", help="Why the asset should be unfrozen.")
@json_option
def application_apply(asset_id: str, actor: Tenant, reason: str | None, as_json: bool) -> None:
    """Apply to unfreeze a frozen asset (one pending application per asset)."""
    _answer_application(_engine().apply_for_unfreeze(actor, asset_id, reason=reason), as_json)


@application.command("show")
@APPLICATION_ID
@as_tenant_or_platform
@json_option
def application_show(application_id: str, actor: Actor, as_json: bool) -> None:
    """Show one application."""
    _answer_application(_engine().get_unfreeze_application(actor, application_id), as_json)


@application.command("list")
@as_tenant_or_platform
@click.option("--project", "project_id", metavar="PROJECT_ID", help="Only this tenant's (with --operator).")
@click.option(
    "--state", "states", type=_choice(ApplicationState), multiple=True, help="Only this state. Repeatable."
)
@page_options
@json_option
def application_list(
    actor: Actor,
    project_id: str | None,
    states: tuple[str, ...],
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List applications, oldest first, a page at a time."""
    from lifecycle import render

    found = _engine().list_unfreeze_applications(
        actor,
        project_id=project_id,
        states=[ApplicationState(state.upper()) for state in states],
        limit=limit,
        offset=offset,
    )
    _answer(
        as_json,
        lambda: {"limit": limit, "offset": offset, "applications": [item.to_json() for item in found]},
        lambda: render.applications_table(found),
    )


@application.command("approve")
@APPLICATION_ID
@as_platform
@reason_option
@request_id_option
@json_option
def application_approve(
    application_id: str,
    actor: Platform,
    reason: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Approve: the asset is unfrozen in the same transaction (prints the move)."""
    _answer_move(
        _engine().approve_unfreeze(actor, application_id, reason=reason, request_id=request_id), as_json
    )


@application.command("reject")
@APPLICATION_ID
@as_platform
@click.option("--reason", help="Why: recorded with the decision.")
@json_option
def application_reject(application_id: str, actor: Platform, reason: str | None, as_json: bool) -> None:
    """Reject: the asset stays frozen."""
    _answer_application(_engine().reject_unfreeze(actor, application_id, reason=reason), as_json)


# Batch actions ----------------------------------------------------------------------------------


@main.command()
@click.argument("action", type=_choice(BatchAction), metavar="ACTION")
@click.argument("asset_ids", nargs=-1, metavar="ASSET_ID...")
@as_tenant_or_platform
@click.option(
    "--ids-from",
    type=InputFile("r", encoding="utf-8"),
    help="Also read asset ids from this file, one per line ('-' for stdin).",
)
@request_id_option
@json_option
def batch(
    action: str,
    asset_ids: tuple[str, ...],
    actor: Actor,
    ids_from: TextIO | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """One ACTION (DELETE, DELETE_FORCE, RESTORE, ACTIVE, UNACTIVE) over many assets.

    Each asset succeeds or fails on its own; exit 8 when any failed.
    """
    from lifecycle import render

    ids = [*asset_ids, *(line.strip() for line in (ids_from or ()) if line.strip())]
    results = _engine().batch(actor, BatchAction(action.upper()), ids, request_id=request_id)
    failed = sum(not result.succeeded for result in results)
    _answer(
        as_json,
        lambda: {
            "action": action.upper(),
            "succeeded": len(results) - failed,
            "failed": failed,
            # The operator's own tool: each error's whole message, not the client's.
            "results": [
                {**result.to_json(), "error_msg": render.operator_message(result)} for result in results
            ],
        },
        lambda: render.batch_table(results),
    )
    if failed:
        sys.exit(ExitCode.BATCH_INCOMPLETE)


# Time ---------------------------------------------------------------------------------------------


@contextmanager
def _sweep_progress(
    engine: Lifecycle, as_of: datetime | None, wanted: bool | None, batch_size: int
) -> Iterator[SweepListener]:
    """A progress bar on stderr, for a sweep of more than a batch on a terminal (or when asked)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lifecycle.progress import SweepProgress
    from lifecycle.sweeps import SweepListener

    stderr = Console(stderr=True, force_terminal=True if wanted else None)
    if wanted is False or (wanted is None and not stderr.is_terminal):
        yield SweepListener()
        return
    total = sum(engine.due_counts(as_of=as_of).values())
    if wanted is None and total <= batch_size:
        yield SweepListener()
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr) as progress:
        yield SweepProgress(progress, progress.add_task("sweep", total=total))


@main.command()
@click.option("--as-of", type=MOMENT, help="Move what was due at this time (not later than now).")
@click.option(
    "--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=DEFAULT_BATCH_SIZE, show_default=True
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr (default: on a terminal, when more than a batch is due).",
)
@json_option
def sweep(as_of: datetime | None, batch_size: int, progress: bool | None, as_json: bool) -> None:
    """Make every move that time has made due, once: upload timeouts, planned operations, the bin."""
    from lifecycle import render

    engine = _engine()
    with _sweep_progress(engine, as_of, progress, batch_size) as listener:
        report = engine.sweep(as_of=as_of, batch_size=batch_size, listener=listener)
    _answer(as_json, report.to_json, lambda: render.sweep_view(report))


@main.command()
@click.option("--as-of", type=MOMENT, help="As of this time (not later than now).")
@json_option
def due(as_of: datetime | None, as_json: bool) -> None:
    """How many assets each time rule would move now: what a sweep would do."""
    from lifecycle import render

    counts = _engine().due_counts(as_of=as_of)
    _answer(
        as_json,
        lambda: {"due": counts, "total": sum(counts.values())},
        lambda: render.due_table(counts),
    )


@main.group()
def audit() -> None:
    """The audit trail's integrity."""


@audit.command("verify")
@click.option("--project", "project_id", metavar="PROJECT_ID", help="Only this tenant's assets.")
@click.option(
    "--page-size",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Assets read at a time.",
)
@click.option(
    "--progress/--no-progress", default=None, help="A progress bar on stderr (default: on a terminal)."
)
@json_option
def verify(project_id: str | None, page_size: int, progress: bool | None, as_json: bool) -> None:
    """Recompute every asset's audit hash chain and replay its history through the transition table.

    Reports each asset whose chain is broken (an audit row edited or deleted), whose history
    records a move the table cannot make, or whose stored state, remembered states or version
    differ from what its history says. Exits 10 when it finds any problem.
    """
    from lifecycle import render

    engine = _engine()
    with _pages_progress(progress, "audit verify") as advance:
        report = engine.verify_audit(System(), project_id=project_id, page_size=page_size, progress=advance)
    _answer(as_json, report.to_json, lambda: render.audit_view(report))
    if not report.clean:
        sys.exit(ExitCode.AUDIT_PROBLEMS)


@contextmanager
def _pages_progress(wanted: bool | None, description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for work done a page at a time, on a terminal (or when asked):
    the engine calls what this yields with (done, total) after each page."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stderr = Console(stderr=True, force_terminal=True if wanted else None)
    if wanted is False or (wanted is None and not stderr.is_terminal):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


_TAIL_BATCH = 500


@main.group()
def events() -> None:
    """The change feed: every move of every process, in feed order (docs/events.md)."""


@events.command("tail")
@click.option("--follow", "-f", is_flag=True, help="Keep printing moves as they commit, until Ctrl-C.")
@click.option("--from-start", is_flag=True, help="Begin at the first move there is, not at the end.")
@click.option(
    "--poll",
    type=Seconds(positive=True),
    default="1",
    show_default=True,
    help="How often to look again with --follow.",
)
@json_option
def tail(follow: bool, from_start: bool, poll: timedelta, as_json: bool) -> None:
    """Print the moves as they commit (one line each, or JSON lines with --json)."""
    from lifecycle import render
    from lifecycle.feed import BEGINNING

    engine = _engine()
    operator = System("admin-script")
    position = BEGINNING if from_start else engine.feed.end(operator)
    out = _stdout()
    try:
        while True:
            batch = engine.feed.read(operator, after=position, limit=_TAIL_BATCH)
            for event in batch:
                if as_json:
                    click.echo(json.dumps(event.to_json(), ensure_ascii=False))
                else:
                    out.print(render.feed_line(event), soft_wrap=True)
                position = event.position
            if len(batch) == _TAIL_BATCH:
                continue
            if not follow:
                return
            time.sleep(poll.total_seconds())
    except KeyboardInterrupt:
        return


@events.command("consumers")
@json_option
def consumers(as_json: bool) -> None:
    """Each consumer of the change feed: its cursor, and how many moves it has yet to handle."""
    from lifecycle import render

    states = _engine().feed.consumers(System("admin-script"))
    _answer(as_json, lambda: [state.to_json() for state in states], lambda: render.consumers_table(states))


@events.command("seek")
@click.argument("name")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="TIME|POSITION|start|end",
    help="A time (the consumer handles every move since again), a position as consumers shows it,"
    " start (everything again) or end (skip what it has yet to handle).",
)
@as_platform
@json_option
def seek(name: str, target: str, actor: Platform, as_json: bool) -> None:
    """Move a consumer's cursor back (or on). Logged as consumer_moved, with the operator."""
    from lifecycle import render
    from lifecycle.feed import BEGINNING, FeedPosition

    engine = _engine()
    to: datetime | FeedPosition
    if target == "start":
        to = BEGINNING
    elif target == "end":
        to = engine.feed.end(actor)
    elif ":" in target and "-" not in target:
        to = FeedPosition.parse(target)
    else:
        to = MOMENT.convert(target, None, None)
    state = engine.feed.seek(actor, name, to=to)
    _answer(as_json, state.to_json, lambda: render.consumers_table([state]))


@main.group()
def scheduler() -> None:
    """Sweeps on a schedule."""


@scheduler.command("run")
@click.option(
    "--interval",
    type=Seconds(positive=True),
    default=DEFAULT_SWEEP_INTERVAL.total_seconds(),
    show_default=True,
    help="Seconds between sweeps (at most a day).",
)
@click.option(
    "--jitter",
    type=Seconds(positive=False),
    default=None,
    help="Up to this many random seconds added to each wait, less than the interval (default: a tenth).",
)
@click.option(
    "--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=DEFAULT_BATCH_SIZE, show_default=True
)
def scheduler_run(interval: timedelta, jitter: timedelta | None, batch_size: int) -> None:
    """Sweep on schedule in the foreground until Ctrl-C or SIGTERM; the batch in flight finishes."""
    from lifecycle.scheduler import run_blocking

    if jitter is not None and jitter >= interval:
        raise click.BadParameter("must be less than --interval", param_hint="--jitter")
    engine = _engine()
    readable = not _session().log_json
    if readable:
        click.echo(
            f"sweeping every {interval.total_seconds():g} s;"
            " Ctrl-C or SIGTERM stops it after the batch in flight",
            err=True,
        )
    run_blocking(engine, interval=interval, jitter=jitter, batch_size=batch_size)
    if readable:
        click.echo("scheduler stopped", err=True)


# The HTTP service ---------------------------------------------------------------------------------

ACCESS_KEYS_ENV = "LIFECYCLE_ACCESS_KEYS"
UPLOADS_ENV = "LIFECYCLE_UPLOADS"
UPLOAD_SECRET_ENV = "LIFECYCLE_UPLOAD_SECRET"  # noqa: S105 - the variable's name, not a secret


@main.command()
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help=f"The database (SQLAlchemy URL), as the script's own --db (or ${DATABASE_ENV}), which it overrides.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port."
)
@click.option(
    "--access-keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=ACCESS_KEYS_ENV,
    required=True,
    help=f'Who may call: a JSON list of {{"ak", "sk", "project_id" | "operator"}}, or ${ACCESS_KEYS_ENV}.',
)
@click.option(
    "--uploads",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=UPLOADS_ENV,
    default="lifecycle-uploads",
    show_default=True,
    help=f"The directory uploaded files are kept in, or ${UPLOADS_ENV}.",
)
@click.option(
    "--sweep-interval",
    type=Seconds(positive=True),
    default=DEFAULT_SWEEP_INTERVAL.total_seconds(),
    show_default=True,
    help="Seconds between the sweeps the service runs (at most a day).",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="Where clients reach the service, if not at the address they call (behind a proxy): upload URLs"
    " point there.",
)
def serve(
    database_url: str | None,
    host: str,
    port: int,
    access_keys: Path,
    uploads: Path,
    sweep_interval: timedelta,
    public_url: str | None,
) -> None:
    """Serve the platform's asset API over HTTP (docs/server.md) until Ctrl-C or SIGTERM.

    The tenant's paths as the platform's SDK calls them, signed SDK-HMAC-SHA256 with the keys of
    --access-keys; uploads kept under --uploads; the sweeps run on schedule. Needs the server
    extra: pip install 'lifecycle[server]'. Set $LIFECYCLE_UPLOAD_SECRET (the same on every
    instance behind one address) so that an upload URL one issues is taken by another.
    """
    import asyncio
    import os

    try:
        from lifecycle.server.serving import serve_forever
    except ImportError as missing:
        raise MissingDependency(missing.name or "fastapi", "server") from None

    session = _session()
    if database_url is not None:
        session.database_url = database_url
    if session.logs is not None:  # the server's engine and requests log through structlog themselves
        session.logs.configure_structlog()
    secret = os.environ.get(UPLOAD_SECRET_ENV)
    asyncio.run(
        serve_forever(
            session.lifecycle(),
            host=host,
            port=port,
            access_keys=access_keys,
            uploads=uploads,
            sweep_interval=sweep_interval,
            upload_secret=secret.encode("utf-8") if secret else None,
            public_url=public_url,
            announce=lambda url: click.echo(f"serving on {url}; Ctrl-C or SIGTERM stops it", err=True),
        )
    )
    click.echo("server stopped", err=True)


# Storage ----------------------------------------------------------------------------------------


@main.group()
def storage() -> None:
    """Storage used and billable, per tenant and per asset.

    The free allowance is the root option --free-storage (default: the engine's, 5 GiB).
    """


@storage.command("report")
@as_tenant_or_platform
@click.option(
    "--project",
    "project_id",
    metavar="PROJECT_ID",
    help="Only this tenant (with --operator; without it, every tenant).",
)
@click.option("--as-of", type=MOMENT, help="As of this time (not later than now), from the audit trail.")
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_STORAGE_PAGE,
    show_default=True,
    help="Tenants summed at a time.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr (default: on a terminal, for every tenant's report).",
)
@json_option
def storage_report(
    actor: Actor,
    project_id: str | None,
    as_of: datetime | None,
    page_size: int,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Used, exempt, chargeable and billable bytes, by asset type and by state: a tenant's own,
    one tenant's (--operator --project) or every tenant's (--operator)."""
    from lifecycle import render

    every_tenant = isinstance(actor, Platform) and project_id is None
    with _pages_progress(progress if every_tenant else bool(progress), "storage report") as advance:
        report = _engine().storage_report(
            actor, project_id=project_id, as_of=as_of, page_size=page_size, progress=advance
        )
    _answer(
        as_json,
        report.to_json,
        lambda: (
            render.tenants_storage_table(report)
            if every_tenant
            else render.tenant_storage_view(report.tenants[0])
        ),
    )


@storage.command("asset")
@ASSET_ID
@as_tenant_or_platform
@click.option("--as-of", type=MOMENT, help="As of this time (not later than now), from the audit trail.")
@json_option
def storage_asset(asset_id: str, actor: Actor, as_of: datetime | None, as_json: bool) -> None:
    """Whether and why an asset's storage is billed: the verdict, the reasons, each file's part."""
    from lifecycle import render

    found = _engine().asset_storage(actor, asset_id, as_of=as_of)
    _answer(as_json, found.to_json, lambda: render.asset_storage_view(found))


# Diagrams ---------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/state-diagrams"),
    show_default=True,
    help="The directory to write into.",
)
@click.option(
    "--svg/--no-svg",
    default=None,
    help="Also render SVG with Graphviz: --svg requires it (exit 9 without it), --no-svg never renders"
    " (default: where Graphviz is installed).",
)
def diagrams(out: Path, svg: bool | None) -> None:
    """Write the state diagrams generated from the transition table: Markdown (Mermaid) and DOT,
    and SVG where Graphviz is installed.

    Without Graphviz it writes the Markdown and DOT and says which SVGs it did not write; it fails
    (exit 9) only where the directory holds SVGs that the DOT just written leaves out of date.
    """
    from lifecycle import diagrams as generated

    written = generated.write_diagrams(out, svg=svg)
    for path in written:
        click.echo(str(path))
    if any(path.suffix == ".svg" for path in written):
        return
    out_of_date = generated.out_of_date_svgs(out)
    stale_names = ", ".join(path.name for path in out_of_date)
    if svg is False:
        if out_of_date:
            click.echo(f"warning: left out of date (--no-svg): {stale_names}", err=True)
        return
    never_written = [path for path in generated.stale_svgs(out) if path not in out_of_date]
    if never_written:
        names = ", ".join(path.name for path in never_written)
        click.echo(
            f"note: {names} not written: Graphviz's dot is not installed (the Markdown and DOT pages"
            " were written; --svg requires Graphviz, --no-svg skips SVG)",
            err=True,
        )
    if out_of_date:
        raise MissingProgram(
            "Graphviz's dot",
            f"rendering again {stale_names} (left out of date by the DOT just written)",
            "install Graphviz (https://graphviz.org/download/),"
            " or pass --no-svg to leave the SVGs as they are",
        )


if __name__ == "__main__":
    main()
