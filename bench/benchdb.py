"""What the benchmarks share: the databases they measure, given on the command line, and emptying
the tables between rounds."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sqlalchemy import Engine

from lifecycle.store.database import WRITE
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


def reset(engine: Engine) -> None:
    """Empty the tables. On PostgreSQL the audit table is append-only (a trigger refuses DELETE), so
    they are truncated, which also leaves no dead rows behind."""
    tables = (audit, files, applications, assets)
    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"TRUNCATE {', '.join(table.name for table in tables)}")
                return
            for table in tables:
                connection.execute(table.delete())
