"""What the benchmarks share: the databases they measure, given on the command line, and emptying
the tables between rounds."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from lifecycle.store import schema
from lifecycle.store.database import WRITE, open_database
from lifecycle.store.repository import applications, assets, audit, files

POSTGRES_ENV = ("LIFECYCLE_BENCH_POSTGRES_URL", "LIFECYCLE_TEST_POSTGRES_URL")


def database_options(parser: argparse.ArgumentParser) -> None:
    """``--sqlite-path`` and ``--postgres-url`` (default: the first of ``POSTGRES_ENV`` set)."""
    parser.add_argument("--sqlite-path", type=Path, help="SQLite file to use (default: a temporary file)")
    parser.add_argument(
        "--postgres-url",
        default=next((os.environ[name] for name in POSTGRES_ENV if os.environ.get(name)), None),
        help=f"PostgreSQL to measure too, its lifecycle tables reset (default: ${' or $'.join(POSTGRES_ENV)};"
        " skipped when none is set)",
    )


def reset(database: Engine) -> None:
    """Empty the tables. On PostgreSQL the audit table is append-only (a trigger refuses DELETE), so
    they are truncated, which also leaves no dead rows behind."""
    tables = (audit, files, applications, assets)
    with database.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            if database.dialect.name == "postgresql":
                connection.exec_driver_sql(f"TRUNCATE {', '.join(table.name for table in tables)}")
                return
            for table in tables:
                connection.execute(table.delete())


def target(
    measure: str, backend: str, ratio: float, *, at_most: float | None = None, at_least: float | None = None
) -> dict[str, Any]:
    """One measured ratio and its target (``at_most`` or ``at_least``; neither: recorded only), as
    the benchmarks write it under ``targets`` in their ``--json`` and ``bench/summary.py`` reads it."""
    if at_most is not None:
        goal, met = f"<= {at_most}x", ratio <= at_most
    elif at_least is not None:
        goal, met = f">= {at_least}x", ratio >= at_least
    else:
        goal, met = None, None
    return {"measure": measure, "backend": backend, "ratio": round(ratio, 3), "target": goal, "met": met}


def verdict(entry: dict[str, Any]) -> str:
    """MET, MISSED, or "recorded" for a ratio without a target."""
    if entry["met"] is None:
        return "recorded"
    return "MET" if entry["met"] else "MISSED"


def each_backend(
    args: argparse.Namespace,
    database_file: str,
    measure: Callable[[Engine], dict[str, Any]],
    *,
    prepare_sqlite: Callable[[Engine], None] | None = None,
    targets: Callable[[str, dict[str, Any]], list[dict[str, Any]]] | None = None,
    **engine_options: Any,
) -> dict[str, Any]:
    """``measure`` on a fresh SQLite file and on PostgreSQL (its lifecycle tables rebuilt), as
    ``--only`` says; ``prepare_sqlite`` runs on the SQLite engine before its first connection, and
    ``engine_options`` go to ``open_database``. The results by backend, also written to ``--json``
    when given, with the ``targets`` of each backend's result (``target`` entries)."""
    results: dict[str, Any] = {}
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as scratch:
            path = args.sqlite_path or Path(scratch) / database_file
            print(f"SQLite {sqlite3.sqlite_version}: {path}")
            database = open_database(f"sqlite:///{path}", **engine_options)
            if prepare_sqlite is not None:
                prepare_sqlite(database)
            schema.upgrade(database)
            results["sqlite"] = measure(database)
            database.dispose()
    if args.only != "sqlite":
        if not args.postgres_url:
            print(f"PostgreSQL skipped: no --postgres-url and none of {', '.join(POSTGRES_ENV)} is set")
        else:
            database = open_database(args.postgres_url, **engine_options)
            print(f"PostgreSQL: {database.url.render_as_string(hide_password=True)} (lifecycle tables reset)")
            schema.drop(database)
            schema.upgrade(database)
            with database.connect() as connection:
                print(f"  {connection.execute(text('SELECT version()')).scalar_one()}")
            results["postgresql"] = measure(database)
            database.dispose()
    if args.json:
        document: dict[str, Any] = {"python": sys.version.split()[0], "backends": results}
        if targets is not None:
            document["targets"] = [
                entry for name, result in results.items() for entry in targets(name, result)
            ]
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"results written to {args.json}")
    return results


def execute_all(database: Engine, statements: list[str]) -> None:
    """Seeding statements, in one write transaction."""
    with database.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            for statement in statements:
                connection.execute(text(statement))


def analyze(database: Engine) -> None:
    """Statistics (and on PostgreSQL a vacuum: earlier rounds' dead rows, the visibility map), as a
    live database keeps them through autovacuum."""
    if database.dialect.name == "postgresql":
        with database.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM ANALYZE {', '.join(t.name for t in (assets, files, audit))}")
        return
    with database.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            connection.exec_driver_sql("ANALYZE")

