"""What starting costs: the modules the admin script and the engine import, pinned (not timed).

``lifecycle --help`` starts fast because importing ``lifecycle.cli`` leaves the engine, the
database, rich and structlog to the commands that use them; ``lifecycle show`` and a service's
``check_schema`` leave Alembic to the migrations and APScheduler to the scheduler. An engine
imports the module of each collaborator but the reader when a call first needs it, so ``show``
imports none of the modules that write, sweep, verify or follow the feed; nor SQLAlchemy's ORM,
tenacity (a refused transaction's retries), rich's progress bars, or structlog, which the admin
script imports when it writes a log line. The installed script pauses the garbage collector while
it starts (docs/performance.md, "The admin script's start"). Each probe runs in a new interpreter:
this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from lifecycle.actors import Tenant
from lifecycle.definition import UploadResult
from lifecycle.engine import Lifecycle
from tests.conftest import new_asset

TENANT = Tenant("tenant-a")
ENGINE_AND_OUTPUT = (
    "sqlalchemy", "alembic", "rich", "structlog", "apscheduler", "tenacity", "lifecycle.engine",
)  # fmt: skip
MIGRATIONS_AND_SCHEDULER = ("alembic", "mako", "apscheduler")
COLLABORATORS = (
    "lifecycle.manager", "lifecycle.changes", "lifecycle.applications", "lifecycle.storage",
    "lifecycle.store.usage", "lifecycle.auditor", "lifecycle.sweeps", "lifecycle.feed",
    "lifecycle.store.feed",
)  # fmt: skip
"""The modules of the collaborators an engine builds on first use (all but the reader's)."""
NOT_FOR_READING = ("structlog", "tenacity", "sqlalchemy.orm", "rich.progress", "rich.traceback", "pygments")
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
    modules, printed, _ = imported_and_logged_by(code, tmp_path)
    return modules, printed


def imported_and_logged_by(code: str, tmp_path: Path) -> tuple[set[str], str, str]:
    """The modules a new interpreter holds after running ``code``, and what it printed on its
    standard output and its standard error."""
    listing = tmp_path / "modules.json"
    finished = subprocess.run(  # noqa: S603 - this Python, running the probe above
        [sys.executable, "-c", PROBE.format(code=code), str(listing)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stderr
    return set(json.loads(listing.read_text(encoding="utf-8"))), finished.stdout, finished.stderr


def among(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """Which of ``packages`` (or a module of theirs) ``modules`` holds."""
    return [name for name in packages if any(m == name or m.startswith(f"{name}.") for m in modules)]


@pytest.fixture
def database_url(database: Engine) -> str:
    """A migrated database, SQLite's or PostgreSQL's, emptied: for the probes to open by URL."""
    return database.url.render_as_string(hide_password=False)


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


def test_show_imports_no_other_collaborator_nor_what_only_writing_or_logging_needs(
    tmp_path: Path, database_url: str
) -> None:
    with Lifecycle(database_url) as engine:
        asset = engine.create_asset(TENANT, new_asset())
    arguments = ["--db", database_url, "show", asset.asset_id, "--tenant", TENANT.project_id]
    modules, printed, logged = imported_and_logged_by(RUN_ADMIN_SCRIPT.format(arguments=arguments), tmp_path)
    assert asset.asset_id in printed
    assert logged == ""
    assert among(modules, COLLABORATORS) == []
    assert among(modules, NOT_FOR_READING) == []
    assert "lifecycle.reader" in modules, "the probe saw the command read"


def test_an_engine_imports_a_collaborator_when_a_call_first_needs_it(
    tmp_path: Path, database_url: str
) -> None:
    with Lifecycle(database_url) as engine:
        asset = engine.create_asset(TENANT, new_asset())
    reading = f"""
from lifecycle.actors import Tenant
from lifecycle.engine import Lifecycle

engine = Lifecycle({database_url!r})
engine.get_asset(Tenant({TENANT.project_id!r}), {asset.asset_id!r})
"""
    modules, _ = imported_by(reading, tmp_path)
    assert among(modules, COLLABORATORS) == []
    assert among(modules, ("structlog", "tenacity", "sqlalchemy.orm")) == []
    modules, _ = imported_by(f"{reading}engine.due_counts()\n", tmp_path)
    assert among(modules, COLLABORATORS) == ["lifecycle.sweeps"]
    modules, _ = imported_by(f"{reading}engine.feed\n", tmp_path)
    assert among(modules, COLLABORATORS) == ["lifecycle.feed", "lifecycle.store.feed"]


def test_a_command_that_logs_imports_structlog_and_writes_its_line(tmp_path: Path, database_url: str) -> None:
    with Lifecycle(database_url) as engine:
        asset = engine.create_asset(TENANT, new_asset())
        engine.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    arguments = ["--db", database_url, "--log-json", "--log-level", "info"]
    arguments += ["activate", asset.asset_id, "--tenant", TENANT.project_id]
    modules, _, logged = imported_and_logged_by(RUN_ADMIN_SCRIPT.format(arguments=arguments), tmp_path)
    line = json.loads(logged)
    assert (line["event"], line["asset_id"], line["level"]) == ("transition_applied", asset.asset_id, "info")
    assert "structlog" in modules


def test_a_service_checks_its_schema_without_alembic(tmp_path: Path, database_url: str) -> None:
    code = f"from lifecycle.engine import Lifecycle\n\nLifecycle({database_url!r}).check_schema()"
    modules, _ = imported_by(code, tmp_path)
    assert among(modules, MIGRATIONS_AND_SCHEDULER) == []
    assert "lifecycle.store.schema" in modules


COLLECTOR_SEEN = """
import gc
import sys

from lifecycle.cli import main
from lifecycle.engine import Lifecycle
from lifecycle.reader import Reader

seen = {{}}
check_schema, get_asset = Lifecycle.check_schema, Reader.get_asset


def checking(self, *args):
    seen["opening the engine"] = gc.isenabled()
    return check_schema(self, *args)


def reading(self, *args):
    seen["reading"] = gc.isenabled()
    return get_asset(self, *args)


Lifecycle.check_schema, Reader.get_asset = checking, reading
probe, sys.argv = sys.argv, ["lifecycle", *{arguments!r}]
try:
    main({call})
except SystemExit as stopped:
    assert stopped.code == 0, stopped.code
sys.argv = probe
seen["after"] = gc.isenabled()
seen["frozen"] = gc.get_freeze_count() > 0
print(seen, file=sys.stderr)
"""


def test_the_installed_script_pauses_the_collector_until_its_engine_is_open(
    tmp_path: Path, database_url: str
) -> None:
    with Lifecycle(database_url) as engine:
        asset = engine.create_asset(TENANT, new_asset())
    arguments = ["--db", database_url, "show", asset.asset_id, "--tenant", TENANT.project_id]
    _, printed, seen = imported_and_logged_by(COLLECTOR_SEEN.format(arguments=arguments, call=""), tmp_path)
    assert asset.asset_id in printed
    assert seen.strip() == str({"opening the engine": False, "reading": True, "after": True, "frozen": True})
    # A program that calls the script with arguments keeps its collector as it is.
    _, printed, seen = imported_and_logged_by(
        COLLECTOR_SEEN.format(arguments=arguments, call=repr(arguments)), tmp_path
    )
    assert asset.asset_id in printed
    assert seen.strip() == str({"opening the engine": True, "reading": True, "after": True, "frozen": False})
