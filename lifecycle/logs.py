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
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
"""Attributes every ``LogRecord`` has: a field of that name is passed as ``lifecycle_<name>``."""


class EventLogger(Protocol):
    """What the engine logs through: an ``EventLog``, or any structlog-like logger."""

    def debug(self, event: str, **fields: Any) -> Any: ...

    def info(self, event: str, **fields: Any) -> Any: ...

    def warning(self, event: str, **fields: Any) -> Any: ...

    def error(self, event: str, **fields: Any) -> Any: ...


class EventLog:
    """The library's events under one logger name, routed to structlog or ``logging``."""

    __slots__ = ("_stdlib", "_structlog", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._stdlib = logging.getLogger(name)
        # A lazy proxy: it reads structlog's configuration when used, so it follows a change.
        self._structlog = structlog.get_logger(name)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "error", event, fields)

    def enabled(self, level: int) -> bool:
        """Whether an event at ``level`` would be written somewhere (always, under structlog,
        whose filtering happens in its own chain)."""
        return structlog.is_configured() or self._stdlib.isEnabledFor(level)

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(self._structlog, method)(event, **fields)
        elif self._stdlib.isEnabledFor(level):
            exc_info = fields.pop("exc_info", None)  # a traceback, as logging and structlog take it
            self._stdlib.log(
                level, "%s", _rendered(event, fields), extra=_record_fields(event, fields), exc_info=exc_info
            )

    def __repr__(self) -> str:
        return f"EventLog({self.name!r})"


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
