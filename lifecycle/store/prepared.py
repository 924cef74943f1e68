"""Statements on the hot path, compiled once and run on the driver's cursor: ``Prepared``.

A move runs three statements (its read, its guarded write, its audit row; on PostgreSQL the last
two are one). Through SQLAlchemy's full execution path each costs some 25 µs of Python before the
driver sees it: the statement's cache key, an execution context, a result object built from the
cursor's description. ``Prepared`` compiles the statement once for the dialect, converts the
parameters with the columns' own bind processors (the values stored are exactly what Core would
store), and runs it through ``Connection._cursor_execute``: the path SQLAlchemy itself takes for
its special-case statements, which keeps what matters: the cursor events (tests pause
transactions there), the engine's logging, and the translation of driver errors, with a lost
connection invalidated (``store.database.translated_errors`` then answers ``StoreUnavailable``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement, compiled for one dialect; ``run`` executes it with ``values`` (bind name:
    value) and returns the driver's cursor."""

    __slots__ = ("_constants", "_names", "_positional", "_processors", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler), "a SQL statement compiles with the SQL compiler"
        self.sql = compiled.string
        self._positional = bool(compiled.positional)
        names: Sequence[str] = (
            compiled.positiontup if compiled.positiontup is not None else list(compiled.binds)
        )
        self._names = tuple(names)
        binds = compiled.binds
        # Parameters with a value of their own (literals such as the MAIN category of a join).
        self._constants: dict[str, Any] = {
            name: bind.value for name, bind in binds.items() if not bind.required and bind.value is not None
        }
        self._processors: tuple[Processor, ...] = tuple(
            binds[name].type._cached_bind_processor(dialect) for name in self._names
        )

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        converted = []
        constants = self._constants
        for name, process in zip(self._names, self._processors, strict=True):
            value = values[name] if name in values else constants[name]
            converted.append(value if process is None or value is None else process(value))
        if self._positional:
            return tuple(converted)
        return dict(zip(self._names, converted, strict=True))

    def run(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """Execute in ``connection``'s transaction; the DBAPI cursor, its rows not yet fetched."""
        cursor = connection.connection.cursor()
        connection._cursor_execute(cursor, self.sql, self.parameters(values))
        return cursor


def result_processors(types: Sequence[Any], dialect: Dialect) -> tuple[Processor, ...]:
    """The conversion of each column read, as Core would convert it."""
    return tuple(column_type._cached_result_processor(dialect, None) for column_type in types)


def converted_row(row: Sequence[Any], processors: Sequence[Processor]) -> list[Any]:
    return [
        value if process is None or value is None else process(value)
        for value, process in zip(row, processors, strict=True)
    ]
