"""What starting costs: the modules the admin script and the engine import, pinned (not timed).

``lifecycle --help`` starts fast because importing ``lifecycle.cli`` leaves the engine, the
database, rich and structlog to the commands that use them; ``lifecycle show`` and a service's
``check_schema`` leave Alembic to the migrations and APScheduler to the scheduler
(docs/performance.md, "The admin script's start"). Each probe runs in a new interpreter: this one
has imported everything already.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.actors import Tenant
from lifecycle.engine import Lifecycle
from tests.conftest import new_asset

TENANT = Tenant("tenant-a")
ENGINE_AND_OUTPUT = (
    "sqlalchemy", "alembic", "rich", "structlog", "apscheduler", "tenacity", "lifecycle.engine",
)  # fmt: skip
MIGRATIONS_AND_SCHEDULER = ("alembic", "mako", "apscheduler")
PROBE = """
import json
import sys

{code}

with open(sys.argv[1], "w", encoding="utf-8") as modules:
    json.dump(sorted(sys.modules), modules)
"""
RUN_ADMIN_SCRIPT = """
from lifecycle.cli import main

try:
    main({arguments!r})
except SystemExit as stopped:
    assert stopped.code == 0, stopped.code
"""


def imported_by(code: str, tmp_path: Path) -> tuple[set[str], str]:
    """The modules a new interpreter holds after running ``code``, and what it printed."""
    listing = tmp_path / "modules.json"
    finished = subprocess.run(  # noqa: S603 - this Python, running the probe above
        [sys.executable, "-c", PROBE.format(code=code), str(listing)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stderr
    return set(json.loads(listing.read_text(encoding="utf-8"))), finished.stdout


def among(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """Which of ``packages`` (or a module of theirs) ``modules`` holds."""
    return [name for name in packages if any(m == name or m.startswith(f"{name}.") for m in modules)]


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "lifecycle.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_importing_the_admin_script_leaves_the_engine_and_its_output_out(tmp_path: Path) -> None:
    modules, _ = imported_by("import lifecycle.cli", tmp_path)
    assert among(modules, ENGINE_AND_OUTPUT) == []
    assert "click" in modules


def test_help_leaves_the_engine_and_its_output_out(tmp_path: Path) -> None:
    modules, printed = imported_by(RUN_ADMIN_SCRIPT.format(arguments=["--help"]), tmp_path)
    assert "Operate the asset lifecycle" in printed
    assert among(modules, ENGINE_AND_OUTPUT) == []


def test_show_leaves_the_migrations_and_the_scheduler_out(tmp_path: Path, database_url: str) -> None:
    with Lifecycle(database_url) as engine:
        asset = engine.create_asset(TENANT, new_asset())
    arguments = ["--db", database_url, "show", asset.asset_id, "--tenant", TENANT.project_id]
    modules, printed = imported_by(RUN_ADMIN_SCRIPT.format(arguments=arguments), tmp_path)
    assert asset.asset_id in printed
    assert among(modules, MIGRATIONS_AND_SCHEDULER) == []
    assert among(modules, ("sqlalchemy", "rich")) == ["sqlalchemy", "rich"], "the probe saw the command run"


def test_a_service_checks_its_schema_without_alembic(tmp_path: Path, database_url: str) -> None:
    code = f"from lifecycle.engine import Lifecycle\n\nLifecycle({database_url!r}).check_schema()"
    modules, _ = imported_by(code, tmp_path)
    assert among(modules, MIGRATIONS_AND_SCHEDULER) == []
    assert "lifecycle.store.schema" in modules
