"""Where the library's events go: the host application's logging, never a configuration of its own.

Each event has a name (``transition_applied``, ``sweep_finished``: past tense snake_case) and
structured fields. An ``EventLog`` decides at each call, so an application may configure logging
before or after it builds a ``Lifecycle``:

- where the application configured structlog (``structlog.configure``), the event goes through
  structlog's configuration, as ``structlog.get_logger(name).<level>(event, **fields)``;
- otherwise through the standard library's ``logging``, on the logger ``name`` (``lifecycle.…``),
  with the application's levels, handlers and filters: the message is the event and its fields as
  ``key=value`` pairs, and each field is also an attribute of the record (``extra``), for handlers
  that render records as JSON.

Nothing is ever written by the library itself: an application that configured neither gets
Python's default (warnings and errors on stderr). ``structlog.testing.capture_logs`` configures
structlog while it is active, so tests that capture events see every one.

The library never imports structlog itself: an application that configured it has imported it,
and one that did not need not pay for its import (the admin script's ``show`` does not).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol

RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
"""Attributes every ``LogRecord`` has: a field of that name is passed as ``lifecycle_<name>``."""


class EventLogger(Protocol):
    """What the engine logs through: an ``EventLog``, or any structlog-like logger."""

    def debug(self, event: str, **fields: Any) -> Any: ...

    def info(self, event: str, **fields: Any) -> Any: ...

    def warning(self, event: str, **fields: Any) -> Any: ...

    def error(self, event: str, **fields: Any) -> Any: ...


class LevelMethods:
    """An ``EventLogger``'s four levels, each one ``_emit`` (level, method name, event, fields)."""

    __slots__ = ()

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        raise NotImplementedError

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "error", event, fields)


class EventLog(LevelMethods):
    """The library's events under one logger name, routed to structlog or ``logging``."""

    __slots__ = ("_stdlib", "_structlog", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._stdlib = logging.getLogger(name)
        # structlog's lazy proxy for this name, made on the first event that goes to structlog (it
        # reads structlog's configuration when used, so it follows a change). Two threads may both
        # make one: they are alike, and either is kept.
        self._structlog: Any = None

    def enabled(self, level: int) -> bool:
        """Whether an event at ``level`` would be written somewhere (always, under structlog,
        whose filtering happens in its own chain)."""
        return _configured_structlog() is not None or self._stdlib.isEnabledFor(level)

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        structlog = _configured_structlog()
        if structlog is not None:
            if self._structlog is None:
                self._structlog = structlog.get_logger(self.name)
            getattr(self._structlog, method)(event, **fields)
        elif self._stdlib.isEnabledFor(level):
            exc_info = fields.pop("exc_info", None)  # a traceback, as logging and structlog take it
            self._stdlib.log(
                level, "%s", _rendered(event, fields), extra=_record_fields(event, fields), exc_info=exc_info
            )

    def __repr__(self) -> str:
        return f"EventLog({self.name!r})"


def _configured_structlog() -> ModuleType | None:
    """structlog, where the application has configured it; None otherwise (never importing it:
    configuring structlog imports it first)."""
    structlog = sys.modules.get("structlog")
    is_configured = getattr(structlog, "is_configured", None)  # None while it is being imported
    return structlog if is_configured is not None and is_configured() else None


def _rendered(event: str, fields: Mapping[str, Any]) -> str:
    """``event key=value …``: one line; text with spaces or quotes is quoted."""
    return " ".join([event, *(f"{key}={_value(value)}" for key, value in fields.items())])


def _value(value: Any) -> str:
    if value is None:
        return "null"
    text = str(value) if not isinstance(value, str) else value
    if isinstance(value, str) and (not text or any(c in text for c in ' "=\n')):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def _record_fields(event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    record = {f"lifecycle_{key}" if key in RESERVED else key: value for key, value in fields.items()}
    record["event"] = event
    return record
