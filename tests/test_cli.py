"""The admin script, through its real console entry point, on every backend.

Most tests load the installed ``lifecycle`` entry point and run it in-process with click's runner
(fast, separate stdout and stderr); those that need a real process (signals, the executable on
PATH) run the installed script itself.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func
from sqlalchemy import select as sql_select
from sqlalchemy.engine import make_url

from lifecycle.actors import Platform, Tenant
from lifecycle.cli import EXIT_CODE_HELP, ExitCode
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, AssetType, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.store import schema
from lifecycle.store.database import open_database
from lifecycle.store.models import assets, audit
from tests.conftest import BACKENDS, MD5, POSTGRES_URL, TABLES, new_asset, read_only

SEED_003 = Path(__file__).parent / "data" / "asset-details-api.txt"
"""The platform's "Querying Asset Details" page (the team's seed 003), kept with the tests."""
(ENTRY_POINT,) = entry_points(group="console_scripts", name="lifecycle")
ADMIN_SCRIPT = ENTRY_POINT.load()
EXECUTABLE = Path(sys.executable).parent / "lifecycle"
TENANT = "tenant-a"
OPERATOR = "ops-alice"


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The admin script configures logging (it is an application); put the suite's back. And no
    operator from the environment running the tests."""
    monkeypatch.delenv("LIFECYCLE_OPERATOR", raising=False)
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


@pytest.fixture(autouse=True)
def _default_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as the admin script prints them into a pipe where COLUMNS is not set (100 wide),
    whatever the terminal running the tests."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "lifecycle.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    postgres = request.getfixturevalue("postgres_engine")
    with postgres.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)}")
    assert POSTGRES_URL is not None
    return POSTGRES_URL


@dataclass
class Admin:
    """``lifecycle --db URL …`` through the installed entry point."""

    url: str

    def __call__(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            ADMIN_SCRIPT, ["--db", self.url, *args], input=stdin, env=env, catch_exceptions=False
        )

    def ok(self, *args: str, stdin: str | None = None) -> Result:
        result = self(*args, stdin=stdin)
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
        assert result.stderr == ""
        return result

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", stdin=stdin).stdout)

    def fails(self, code: ExitCode, *args: str, stdin: str | None = None) -> str:
        """Run a command that must fail with ``code``; return its one-line error."""
        result = self(*args, stdin=stdin)
        assert result.exit_code == code, f"exit {result.exit_code}, wanted {code!r}: {result.stderr}"
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1, f"not one line: {result.stderr!r}"
        assert result.stderr.startswith("error ")
        return result.stderr.strip()

    def create(self, *extra: str, name: str = "Male Teacher", tenant: str = TENANT) -> dict[str, Any]:
        """As the tenant; a customized asset as the platform, which alone may mark one."""
        platform = ["--operator", OPERATOR, "--project", tenant]
        actor = platform if "--customized" in extra else ["--tenant", tenant]
        details: dict[str, Any] = self.json(
            "create", *actor, "--name", name, "--type", "HUMAN_MODEL",
            "--main-file", "male001.bin", "31032142", MD5,
            "--file", "COVER", "male001.png", "110321", MD5,
            *extra,
        )  # fmt: skip
        return details

    def uploaded(self, *extra: str, tenant: str = TENANT) -> str:
        """A new asset whose MAIN file was uploaded (UNACTIVED)."""
        asset_id = str(self.create(*extra, tenant=tenant)["asset_id"])
        self.ok("confirm-upload", asset_id, "--tenant", tenant, "--result", "CREATED")
        return asset_id

    def state(self, asset_id: str) -> str:
        return str(self.json("show", asset_id, "--operator", OPERATOR)["asset_state"])


@pytest.fixture
def admin(database_url: str) -> Admin:
    return Admin(database_url)


def audit_rows(url: str) -> int:
    database = open_database(url)
    try:
        with database.connect() as connection:
            return int(connection.execute(sql_select(func.count()).select_from(audit)).scalar_one())
    finally:
        database.dispose()


def asset_rows(url: str) -> int:
    database = open_database(url)
    try:
        with database.connect() as connection:
            return int(connection.execute(sql_select(func.count()).select_from(assets)).scalar_one())
    finally:
        database.dispose()


# The script itself ------------------------------------------------------------------------------


def test_the_console_script_is_installed_and_names_every_command() -> None:
    assert ENTRY_POINT.value == "lifecycle.cli:main"
    result = CliRunner().invoke(ADMIN_SCRIPT, ["--help"])
    assert result.exit_code == 0
    commands = set(re.findall(r"^  ([a-z-]+)\s", result.stdout.split("Commands:")[1], re.MULTILINE))
    assert commands == {
        "activate", "allowed", "application", "audit", "batch", "confirm-upload", "create", "db",
        "deactivate", "delete", "diagrams", "due", "events", "freeze", "history", "list", "restore", "review",
        "scheduler", "serve", "show", "storage", "sweep", "tenant", "unfreeze",
    }  # fmt: skip
    for code in ExitCode:
        assert re.search(rf"^\s+{code.value}\s+\S", result.stdout, re.MULTILINE), f"exit {code} undocumented"


def test_the_platforms_enumerations_are_shown_upper_case_and_accepted_in_any_case(admin: Admin) -> None:
    created = CliRunner().invoke(ADMIN_SCRIPT, ["create", "--help"])
    listed = CliRunner().invoke(ADMIN_SCRIPT, ["list", "--help"])
    assert "--type [" + "|".join(kind.value for kind in AssetType) + "]" in created.stdout
    assert "--state [" + "|".join(state.value for state in AssetState) + "]" in listed.stdout
    error = admin.fails(ExitCode.INVALID_INPUT, *CREATE[:-1], "voice", *MAIN)
    assert "'VOICE_MODEL', 'VIDEO'" in error
    lower = admin.json(*CREATE[:-1], "voice_model", *MAIN)
    mixed = admin.json(*CREATE[:-1], "Voice_Model", *MAIN)
    assert lower["asset_type"] == mixed["asset_type"] == AssetType.VOICE_MODEL.value
    assert admin.json("list", "--tenant", TENANT, "--state", "creating")["count"] == 2


@pytest.mark.parametrize("document", ["README.md", "docs/cli.md"])
def test_the_exit_codes_are_documented(document: str) -> None:
    text = (Path(__file__).parents[1] / document).read_text()
    for line in EXIT_CODE_HELP.splitlines()[2:]:
        code, meaning = line.split(maxsplit=1)
        assert f"| {code} | {meaning.split(' (')[0]}" in text, f"exit code {code} missing from {document}"


@pytest.mark.skipif(not EXECUTABLE.exists(), reason="the package is not installed into this interpreter")
def test_the_installed_executable_reports_errors_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade = subprocess.run(  # noqa: S603 - our own installed script
        [EXECUTABLE, "--db", url, "db", "upgrade"], capture_output=True, text=True, check=False
    )
    assert upgrade.returncode == 0, upgrade.stderr
    missing = subprocess.run(  # noqa: S603 - our own installed script
        [EXECUTABLE, "--db", url, "show", "no-such-asset", "--tenant", TENANT],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == ExitCode.NOT_FOUND
    assert missing.stderr == "error MSS.00000002: asset no-such-asset not found\n"
    assert missing.stdout == ""


# The database -----------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_in_the_working_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIFECYCLE_DATABASE_URL", raising=False)
    runner = CliRunner()
    first = runner.invoke(ADMIN_SCRIPT, ["db", "upgrade"])
    assert first.exit_code == 0, first.stderr
    assert f"schema at revision {schema.head_revision()} (upgraded from an empty database)" in first.stdout
    assert (tmp_path / "lifecycle.db").exists()
    again = runner.invoke(ADMIN_SCRIPT, ["db", "upgrade"])
    assert "already up to date" in again.stdout
    assert runner.invoke(ADMIN_SCRIPT, ["db", "current"]).exit_code == 0


def test_the_database_url_comes_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    result = CliRunner().invoke(ADMIN_SCRIPT, ["db", "upgrade"], env={"LIFECYCLE_DATABASE_URL": url})
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "from-env.db").exists()


def test_commands_on_a_database_not_upgraded_say_how_to_fix_it(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()  # a database, without the schema
    admin = Admin(f"sqlite:///{tmp_path / 'empty.db'}")
    error = admin.fails(ExitCode.UNAVAILABLE, "list", "--tenant", TENANT)
    assert error.startswith("error LIFECYCLE.SCHEMA_OUT_OF_DATE:")
    assert "lifecycle db upgrade" in error
    assert admin("db", "current").exit_code == ExitCode.UNAVAILABLE


def test_an_unreachable_database_is_unavailable_and_named(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/nothing-listens-here"
    error = Admin(url).fails(ExitCode.UNAVAILABLE, "list", "--tenant", TENANT)
    shown = "postgresql+psycopg://postgres:***@127.0.0.1:1/nothing-listens-here"
    assert error.startswith(f"error LIFECYCLE.STORE_UNAVAILABLE: the database {shown} failed: ")


def test_a_malformed_database_url_is_invalid_input(tmp_path: Path) -> None:
    error = Admin("not a url").fails(ExitCode.INVALID_INPUT, "list", "--tenant", TENANT)
    assert error.startswith("error MSS.00000003: invalid parameter database: not a database URL")


@pytest.mark.parametrize("url", ["mysql://app@db/assets", "postgresql+psycopg2://app@db/assets"])
def test_an_unsupported_database_url_is_invalid_input_naming_the_supported_ones(url: str) -> None:
    error = Admin(url).fails(ExitCode.INVALID_INPUT, "list", "--tenant", TENANT)
    scheme = url.split("://", maxsplit=1)[0]
    assert error.startswith(f"error MSS.00000003: invalid parameter database: {scheme}:// is not supported;")
    assert "sqlite:///PATH" in error and "postgresql://" in error


@pytest.mark.postgresql
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_bare_postgresql_url_works(postgres_engine: Engine, scheme: str) -> None:
    """The form most people paste: before, exit 1 ("a bug") on ModuleNotFoundError: psycopg2."""
    with postgres_engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)}")
    assert POSTGRES_URL is not None
    bare = Admin(make_url(POSTGRES_URL).set(drivername=scheme).render_as_string(hide_password=False))
    assert bare.url.startswith(f"{scheme}://")
    asset_id = str(bare.create()["asset_id"])
    assert bare.json("show", asset_id, "--operator", OPERATOR)["asset_state"] == "CREATING"


@pytest.mark.parametrize("url", ["postgresql://app@db/assets", "postgres://app@db/assets"])
def test_without_psycopg_a_postgresql_url_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails, as uninstalled
    error = Admin(url).fails(ExitCode.MISSING_DEPENDENCY, "show", "a1", "--operator", OPERATOR)
    assert error == (
        "error LIFECYCLE.MISSING_DEPENDENCY: psycopg is not installed: pip install 'lifecycle[postgres]'"
    )


def test_serve_takes_its_database_as_db_too_overriding_the_scripts(tmp_path: Path) -> None:
    """Before: "No such option '--db'" (docs spell it ``lifecycle serve --db URL``)."""
    keys = tmp_path / "keys.json"
    keys.write_text('[{"ak": "TENANTAK0000000000001", "sk": "secret", "project_id": "tenant-a"}]')
    path = tmp_path / "missing.db"
    admin = Admin(f"sqlite:///{tmp_path / 'unused.db'}")
    error = admin.fails(
        ExitCode.UNAVAILABLE, "serve", "--db", f"sqlite:///{path}", "--access-keys", str(keys)
    )
    assert error.startswith(f"error LIFECYCLE.STORE_UNAVAILABLE: no database at {path} ")
    assert not (tmp_path / "unused.db").exists()


def test_serve_without_the_server_extra_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install without ``lifecycle[server]``: FastAPI missing (None in sys.modules makes its
    import fail as an absent package's would), the service's modules not yet imported."""
    for name in [name for name in sys.modules if name.startswith("lifecycle.server")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    keys = tmp_path / "keys.json"
    keys.write_text('[{"ak": "TENANTAK0000000000001", "sk": "secret", "project_id": "tenant-a"}]')
    admin = Admin(f"sqlite:///{tmp_path / 'lifecycle.db'}")
    error = admin.fails(ExitCode.MISSING_DEPENDENCY, "serve", "--access-keys", str(keys))
    assert error == (
        "error LIFECYCLE.MISSING_DEPENDENCY: fastapi is not installed: pip install 'lifecycle[server]'"
    )


READING_COMMANDS = {
    "show": ("show", "{asset}", "--operator", OPERATOR),
    "history": ("history", "{asset}", "--operator", OPERATOR),
    "list": ("list", "--tenant", TENANT),
    "audit verify": ("audit", "verify"),
    "storage report": ("storage", "report", "--operator", OPERATOR),
    "due": ("due",),
}


def test_reading_commands_on_a_missing_file_say_so_and_create_nothing(tmp_path: Path) -> None:
    """Before, a mistyped path created an empty database and failed on its schema."""
    path = tmp_path / "lifecylce.db"
    admin = Admin(f"sqlite:///{path}")
    said = (
        f"error LIFECYCLE.STORE_UNAVAILABLE: no database at {path}"
        " (create it with: lifecycle db upgrade, or Lifecycle.upgrade())"
    )
    for command in [*READING_COMMANDS.values(), ("db", "current"), ("sweep",)]:
        args = [arg.format(asset="a1") for arg in command]
        assert admin.fails(ExitCode.UNAVAILABLE, *args) == said, args
        assert not path.exists(), f"{args} created the file"
    upgraded = admin.ok("db", "upgrade")
    assert "(upgraded from an empty database)" in upgraded.stdout
    assert path.exists()
    admin.ok("list", "--tenant", TENANT)


@pytest.mark.parametrize("where", ["read-only directory", "mode=ro URI on a rollback-journal backup"])
def test_reading_commands_work_on_a_read_only_database(tmp_path: Path, where: str) -> None:
    """Before: exit 7, "attempt to write a readonly database" (another user) or "unable to open
    database file" (root) on a read-only directory; and the URI form failed on every connection."""
    path = tmp_path / "backup" / "lifecycle.db"
    path.parent.mkdir()
    writer = Admin(f"sqlite:///{path}")
    writer.ok("db", "upgrade")
    asset_id = str(writer.create()["asset_id"])
    writer.ok("freeze", asset_id, "--operator", OPERATOR)
    answers = {
        name: writer.ok(*(arg.format(asset=asset_id) for arg in command)).stdout
        for name, command in READING_COMMANDS.items()
    }
    if where == "read-only directory":
        admin = writer
        context = read_only(path, path.parent)
    else:
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA journal_mode=DELETE")
        admin = Admin(f"sqlite:///file:{path}?mode=ro&uri=true")
        context = nullcontext()
    with context:
        for name, command in READING_COMMANDS.items():
            result = admin.ok(*(arg.format(asset=asset_id) for arg in command))
            if name not in ("storage report", "audit verify"):  # these print the time they took or read
                assert result.stdout == answers[name], name
        error = admin.fails(ExitCode.UNAVAILABLE, "unfreeze", asset_id, "--operator", OPERATOR)
        assert error.startswith(f"error LIFECYCLE.STORE_UNAVAILABLE: the database {admin.url} is read-only (")
        # A batch's failures too: the operator reads the whole message (a client gets a generic one).
        batch = admin("batch", "DELETE", asset_id, "--tenant", TENANT, "--json")
        assert batch.exit_code == ExitCode.BATCH_INCOMPLETE, batch.stderr
        (failed,) = json.loads(batch.stdout)["results"]
        assert failed["error_msg"].startswith(f"the database {admin.url} is read-only (")
    assert sorted(p.name for p in path.parent.iterdir()) == ["lifecycle.db"]


# Assets -----------------------------------------------------------------------------------------


def _documented_fields() -> set[str]:
    """The asset-details response fields named in the platform's document (seed 003)."""
    text = SEED_003.read_text()
    response = text.split("Table 4 Response body parameters")[1].split("Example Requests")[0]
    return set(re.findall(r"^([a-z_0-9]+)$", response, re.MULTILINE))


def test_show_json_is_the_platform_asset_details_shape(admin: Admin) -> None:
    created = admin.create("--description", "Male teacher model.", "--tag", "teacher")
    shown = admin.json("show", created["asset_id"], "--tenant", TENANT)
    assert shown == created
    documented = _documented_fields()
    assert set(shown) <= documented, set(shown) - documented
    assert {key for file in shown["files"] for key in file} <= documented
    assert shown["asset_state"] == "CREATING"
    assert shown["asset_type"] == "HUMAN_MODEL"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["create_time"])
    assert [f["asset_file_category"] for f in shown["files"]] == ["MAIN", "COVER"]
    assert shown["files"][0] | {"file_id": "x"} == {
        "file_id": "x",
        "file_name": "male001.bin",
        "file_md5": "OLjCwQk90P7Dg6nZrJQFFQ==",  # the declared MD5, in its canonical (base64) form
        "file_size": 31032142,
        "file_type": "bin",
        "asset_file_category": "MAIN",
        "state": "CREATING",
    }
    assert shown["tags"] == ["teacher"]
    with Lifecycle(admin.url) as lifecycle:
        assert shown == lifecycle.get_asset(Tenant(TENANT), created["asset_id"]).to_details()


def test_show_prints_a_readable_view(admin: Admin) -> None:
    asset_id = admin.create(name="Readable")["asset_id"]
    out = admin.ok("show", asset_id, "--operator", OPERATOR).stdout
    assert asset_id in out
    assert "Readable" in out
    assert "CREATING (version 1)" in out
    assert "male001.png" in out
    assert "31,032,142" in out


def test_a_whole_life_through_the_admin_script_lands_in_the_audit_trail(admin: Admin) -> None:
    asset_id = admin.create("--app-user", "user-9")["asset_id"]
    upload = admin.json(
        "confirm-upload", asset_id, "--tenant", TENANT, "--app-user", "user-9", "--result", "CREATED"
    )
    assert upload["file"]["state"] == "CREATED"
    assert upload["transition"]["to_state"] == "UNACTIVED"
    moves = [
        ("activate", "--tenant", TENANT),
        ("freeze", "--operator", OPERATOR, "--reason", "complaint", "--block-reason-code", "C-1"),
        ("delete", "--tenant", TENANT),
        ("restore", "--tenant", TENANT),
        ("unfreeze", "--operator", OPERATOR, "--reason", "withdrawn"),
        ("deactivate", "--tenant", TENANT, "--request-id", "req-1"),
    ]
    for command, *options in moves:
        admin.json(command, asset_id, *options)
    trail = admin.json("history", asset_id, "--operator", OPERATOR)
    assert trail["asset_id"] == asset_id
    entries = trail["entries"]
    assert [(e["event"], e["from_state"], e["to_state"]) for e in entries] == [
        ("create", None, "CREATING"),
        ("accept_upload", "CREATING", "UNACTIVED"),
        ("activate", "UNACTIVED", "ACTIVED"),
        ("freeze", "ACTIVED", "BLOCK"),
        ("delete", "BLOCK", "DELETING"),
        ("restore", "DELETING", "BLOCK"),
        ("unfreeze", "BLOCK", "ACTIVED"),
        ("deactivate", "ACTIVED", "UNACTIVED"),
    ]
    assert [(e["actor_kind"], e["actor_id"]) for e in entries][:4] == [
        ("tenant", "user-9"),
        ("tenant", "user-9"),
        ("tenant", TENANT),
        ("platform", OPERATOR),
    ]
    assert entries[3]["reason"] == "complaint"
    assert entries[4]["pre_freeze_state"] == "ACTIVED"
    assert entries[4]["pre_delete_state"] == "BLOCK"
    assert entries[-1]["request_id"] == "req-1"
    assert all(set(e) == set(entries[0]) for e in entries), "every entry has every key"
    assert set(entries[0]) == {
        "seq", "event", "from_state", "to_state", "actor_kind", "actor_id", "reason", "fail_type",
        "request_id", "occurred_at", "pre_freeze_state", "pre_delete_state",
    }  # fmt: skip
    assert [e["seq"] for e in entries] == list(range(1, 9))
    readable = admin.ok("history", asset_id, "--tenant", TENANT).stdout
    assert "unfreeze" in readable
    assert OPERATOR in readable


def test_a_move_prints_what_happened_and_its_json_shape_is_stable(admin: Admin) -> None:
    asset_id = admin.uploaded()
    line = admin.ok("freeze", asset_id, "--operator", OPERATOR).stdout
    assert (
        line.strip()
        == f"asset {asset_id}: UNACTIVED -> BLOCK (freeze, version 3; remembers pre-freeze UNACTIVED)"
    )
    moved = admin.json("unfreeze", asset_id, "--operator", OPERATOR, "--request-id", "r-7")
    assert set(moved) == {
        "asset_id", "project_id", "event", "from_state", "to_state", "version", "pre_freeze_state",
        "pre_delete_state", "occurred_at", "replayed",
    }  # fmt: skip
    assert (moved["event"], moved["to_state"], moved["version"], moved["replayed"]) == (
        "unfreeze",
        "UNACTIVED",
        4,
        False,
    )
    again = admin.json("unfreeze", asset_id, "--operator", OPERATOR, "--request-id", "r-7")
    assert again == moved | {"replayed": True}


def test_delete_force_and_the_platform_may_force_only(admin: Admin) -> None:
    kept, forced = admin.uploaded(), admin.uploaded()
    before = audit_rows(admin.url)
    error = admin.fails(ExitCode.PERMISSION_DENIED, "delete", kept, "--operator", OPERATOR)
    assert "a platform may not 'delete'" in error
    assert audit_rows(admin.url) == before
    assert admin.json("delete", forced, "--operator", OPERATOR, "--force")["to_state"] == "DELETED"
    assert admin.json("delete", kept, "--tenant", TENANT)["to_state"] == "DELETING"


def test_list_filters_sorts_and_pages(admin: Admin) -> None:
    created = [admin.create(name=f"asset {n}")["asset_id"] for n in range(3)]
    admin.ok("confirm-upload", created[1], "--tenant", TENANT, "--result", "CREATED")
    admin.create(name="someone else's", tenant="tenant-b")
    everything = admin.json("list", "--tenant", TENANT)
    assert everything["count"] == 3
    assert [a["asset_id"] for a in everything["assets"]] == created[::-1], "newest first"
    oldest_first = admin.json("list", "--tenant", TENANT, "--ascending", "--limit", "2", "--offset", "1")
    assert (oldest_first["count"], oldest_first["limit"], oldest_first["offset"]) == (3, 2, 1)
    assert [a["asset_id"] for a in oldest_first["assets"]] == created[1:]
    unactived = admin.json("list", "--operator", OPERATOR, "--project", TENANT, "--state", "unactived")
    assert [a["asset_id"] for a in unactived["assets"]] == [created[1]]
    table = admin.ok("list", "--tenant", TENANT, "--limit", "2").stdout
    assert "1-2 of 3" in table
    error = admin.fails(ExitCode.INVALID_INPUT, "list", "--operator", OPERATOR)
    assert "project_id" in error
    assert "is not one of" in admin.fails(
        ExitCode.INVALID_INPUT, "list", "--tenant", TENANT, "--state", "GONE"
    )
    admin.fails(ExitCode.INVALID_INPUT, "list", "--tenant", TENANT, "--limit", "0")


def test_uploads_of_other_files_mismatches_and_review_verdicts(admin: Admin) -> None:
    created = admin.create("--review-required")
    asset_id, cover = created["asset_id"], created["files"][1]["file_id"]
    cover_upload = admin.json(
        "confirm-upload", asset_id, "--tenant", TENANT, "--result", "CREATED", "--file-id", cover
    )
    assert (cover_upload["file"]["state"], cover_upload["transition"]) == ("CREATED", None)
    admin.ok("confirm-upload", asset_id, "--tenant", TENANT, "--result", "CREATED")
    assert admin.state(asset_id) == "CREATING", "waiting for review"
    assert admin.json("review", "pass", asset_id, "--operator", OPERATOR)["to_state"] == "UNACTIVED"

    rejected = admin.create("--review-required")["asset_id"]
    admin.ok("confirm-upload", rejected, "--tenant", TENANT, "--result", "CREATED")
    admin.ok(
        "review",
        "reject",
        rejected,
        "--operator",
        OPERATOR,
        "--fail-type",
        "MANUAL_REVIEW_REJECT",
        "--reason",
        "title",
    )
    shown = admin.json("show", rejected, "--tenant", TENANT)
    assert (shown["asset_state"], shown["fail_type"], shown["reason"]) == (
        "FAILED",
        "MANUAL_REVIEW_REJECT",
        "title",
    )

    mismatched = admin.create()["asset_id"]
    failed = admin.json(
        "confirm-upload", mismatched, "--tenant", TENANT, "--result", "CREATED", "--size", "1"
    )
    assert failed["transition"]["to_state"] == "FAILED"
    assert "file_size" in admin.json("show", mismatched, "--tenant", TENANT)["reason"]


def test_create_with_a_plan_and_activation_on_upload(admin: Admin) -> None:
    created = admin.create("--activate-on-upload", "--plan", "delete", "2099-01-01T00:00:00Z")
    admin.ok("confirm-upload", created["asset_id"], "--tenant", TENANT, "--result", "CREATED")
    assert admin.state(created["asset_id"]) == "ACTIVED"
    with Lifecycle(admin.url) as lifecycle:
        asset = lifecycle.get_asset(Tenant(TENANT), created["asset_id"])
    assert asset.planned_operation is not None
    assert asset.planned_operation.value == "DELETE"
    assert asset.planned_operation_time == datetime(2099, 1, 1, tzinfo=UTC)


# Errors: a typed one-line error, a distinct exit code, nothing written ---------------------------


def test_another_tenants_asset_is_answered_exactly_as_a_missing_one(admin: Admin) -> None:
    asset_id = admin.create()["asset_id"]
    theirs = admin.fails(ExitCode.NOT_FOUND, "show", asset_id, "--tenant", "tenant-b")
    missing = admin.fails(ExitCode.NOT_FOUND, "show", "no-such-asset", "--tenant", "tenant-b")
    assert theirs == f"error MSS.00000002: asset {asset_id} not found"
    assert missing == "error MSS.00000002: asset no-such-asset not found"
    admin.fails(ExitCode.NOT_FOUND, "activate", asset_id, "--tenant", "tenant-b")
    admin.fails(ExitCode.NOT_FOUND, "history", asset_id, "--tenant", "tenant-b")


def test_a_refused_transition_says_what_is_allowed_and_writes_nothing(admin: Admin) -> None:
    asset_id = admin.create()["asset_id"]
    before = (audit_rows(admin.url), admin.json("show", asset_id, "--tenant", TENANT))
    error = admin.fails(ExitCode.REFUSED, "activate", asset_id, "--tenant", TENANT)
    assert error.startswith(f"error MSS.00000003: cannot 'activate' asset {asset_id} in state CREATING")
    assert "(allowed: " in error
    assert (audit_rows(admin.url), admin.json("show", asset_id, "--tenant", TENANT)) == before


def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(admin: Admin) -> None:
    asset_id = admin.uploaded()
    before = audit_rows(admin.url)
    error = admin.fails(
        ExitCode.CONFLICT, "activate", asset_id, "--tenant", TENANT, "--expected-version", "1"
    )
    assert "conflict" in error
    assert "nothing was written" in error
    assert audit_rows(admin.url) == before
    assert admin.json("activate", asset_id, "--tenant", TENANT, "--expected-version", "2")["version"] == 3


CREATE = ["create", "--tenant", TENANT, "--name", "x", "--type", "VIDEO"]
MAIN = ["--main-file", "a.bin", "1", MD5]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([*CREATE[:-1], "NOPE", *MAIN], "--type"),
        ([*CREATE, "--main-file", "a.bin", "big", MD5], "integer"),
        ([*CREATE[:4], "x" * 129, *CREATE[5:], *MAIN], "asset_name"),
        ([*CREATE, "--main-file", "a.bin", "1", "nohash"], "file_md5"),
        ([*CREATE[:-1], "VOICE_MODEL", *MAIN, "--file", "COVER", "c.png", "1", MD5], "COVER"),
        ([*CREATE, *MAIN, "--plan", "DELETE", "tomorrow"], "ISO 8601"),
        ([*CREATE[:1], *CREATE[3:], *MAIN], "--tenant"),
        (["show", "some-id", "--tenant", TENANT, "--operator", OPERATOR], "exactly one of --tenant"),
        (["show", "some-id"], "exactly one of --tenant"),
        (["no-such-command"], "No such command"),
    ],
)
def test_invalid_input_is_refused_in_one_line_and_creates_nothing(
    admin: Admin, args: list[str], says: str
) -> None:
    error = admin.fails(ExitCode.INVALID_INPUT, *args)
    assert error.startswith("error MSS.00000003: ")
    assert says in error
    assert asset_rows(admin.url) == 0


# A whole tenant, unfreeze applications, batches ---------------------------------------------------


def test_tenant_wide_freeze_and_unfreeze(admin: Admin) -> None:
    active = admin.uploaded()
    admin.ok("activate", active, "--tenant", TENANT)
    binned = admin.uploaded()
    admin.ok("delete", binned, "--tenant", TENANT)
    on_its_own = admin.uploaded()
    admin.ok("freeze", on_its_own, "--operator", OPERATOR)
    untouched = admin.uploaded(tenant="tenant-b")

    frozen = admin.json("tenant", "freeze", TENANT, "--operator", OPERATOR, "--reason", "unpaid")
    assert {(m["asset_id"], m["to_state"]) for m in frozen["moved"]} == {(active, "BLOCK"), (binned, "BLOCK")}
    assert frozen["skipped"] == [{"asset_id": on_its_own, "reason": "already frozen"}]
    assert admin.state(untouched) == "UNACTIVED"

    readable = admin.ok("tenant", "unfreeze", TENANT, "--operator", OPERATOR).stdout
    assert f"tenant {TENANT}: 2 assets unfrozen (1 to ACTIVED, 1 to UNACTIVED)" in readable
    assert (admin.state(active), admin.state(binned), admin.state(on_its_own)) == (
        "ACTIVED",
        "UNACTIVED",
        "BLOCK",
    )
    trail = admin.json("history", binned, "--operator", OPERATOR)["entries"]
    assert (trail[-1]["event"], trail[-1]["actor_id"], trail[-2]["reason"]) == (
        "unfreeze",
        OPERATOR,
        "unpaid",
    )
    admin.fails(ExitCode.INVALID_INPUT, "tenant", "freeze", TENANT, "--operator", "")


def test_unfreeze_applications_apply_list_approve_reject(admin: Admin) -> None:
    first, second = admin.uploaded(), admin.uploaded()
    for asset_id in (first, second):
        admin.ok("freeze", asset_id, "--operator", OPERATOR)
    applied = admin.json("application", "apply", first, "--tenant", TENANT, "--reason", "licensed")
    assert set(applied) == {
        "application_id", "asset_id", "project_id", "state", "reason", "applied_by", "applied_at",
        "decided_by", "decided_at", "decision_reason",
    }  # fmt: skip
    assert (applied["state"], applied["decided_at"]) == ("PENDING", None)
    error = admin.fails(ExitCode.REFUSED, "application", "apply", first, "--tenant", TENANT)
    assert "already pending" in error
    other = admin.json("application", "apply", second, "--tenant", TENANT)

    pending = admin.json("application", "list", "--operator", OPERATOR, "--state", "PENDING")
    assert {a["application_id"] for a in pending["applications"]} == {
        applied["application_id"],
        other["application_id"],
    }
    assert admin.json("application", "list", "--tenant", "tenant-b") == {
        "limit": 50,
        "offset": 0,
        "applications": [],
    }
    assert admin.json("application", "show", other["application_id"], "--tenant", TENANT) == other
    admin.fails(ExitCode.NOT_FOUND, "application", "show", other["application_id"], "--tenant", "tenant-b")

    approved = admin.json("application", "approve", applied["application_id"], "--operator", OPERATOR)
    assert (approved["event"], approved["to_state"]) == ("unfreeze", "UNACTIVED")
    rejected = admin.json(
        "application", "reject", other["application_id"], "--operator", OPERATOR, "--reason", "no"
    )
    assert (rejected["state"], rejected["decided_by"], rejected["decision_reason"]) == (
        "REJECTED",
        OPERATOR,
        "no",
    )
    assert admin.state(second) == "BLOCK"
    before = audit_rows(admin.url)
    admin.fails(ExitCode.REFUSED, "application", "approve", other["application_id"], "--operator", OPERATOR)
    admin.fails(ExitCode.NOT_FOUND, "application", "approve", "no-such-application", "--operator", OPERATOR)
    admin.fails(ExitCode.REFUSED, "application", "apply", first, "--tenant", TENANT)
    assert audit_rows(admin.url) == before
    assert "REJECTED" in admin.ok("application", "list", "--tenant", TENANT).stdout


def test_batch_reports_each_asset_and_exits_8_when_any_failed(admin: Admin) -> None:
    one, two = admin.uploaded(), admin.uploaded()
    ok = admin.json("batch", "ACTIVE", one, two, "--tenant", TENANT)
    assert (ok["action"], ok["succeeded"], ok["failed"]) == ("ACTIVE", 2, 0)
    result = admin(
        "batch", "delete", one, "--tenant", TENANT, "--json", "--ids-from", "-", stdin=f"{two}\n\nmissing\n"
    )
    assert result.exit_code == ExitCode.BATCH_INCOMPLETE
    answer = json.loads(result.stdout)
    assert (answer["succeeded"], answer["failed"]) == (2, 1)
    assert [(r["asset_id"], r["status"]) for r in answer["results"]] == [
        (one, "SUCCESS"),
        (two, "SUCCESS"),
        ("missing", "FAILED"),
    ]
    assert answer["results"][2] == {
        "asset_id": "missing",
        "status": "FAILED",
        "error_code": "MSS.00000002",
        "error_msg": "asset missing not found",
        "transition": None,
    }
    assert answer["results"][0]["transition"]["to_state"] == "DELETING"
    readable = admin("batch", "RESTORE", one, "missing", "--tenant", TENANT)
    assert readable.exit_code == ExitCode.BATCH_INCOMPLETE
    assert "1 succeeded, 1 failed" in readable.stdout
    admin.fails(ExitCode.INVALID_INPUT, "batch", "RESTORE", "--tenant", TENANT)
    admin.fails(ExitCode.INVALID_INPUT, "batch", "EXPLODE", one, "--tenant", TENANT)


# Time ---------------------------------------------------------------------------------------------


def _created_two_days_ago(url: str, count: int) -> list[str]:
    """Assets created two days ago and never uploaded: their upload window ran out yesterday."""
    clock = ManualClock(datetime.now(UTC) - timedelta(days=2))
    with Lifecycle(url, clock=clock) as lifecycle:
        return [lifecycle.create_asset(Tenant(TENANT), new_asset(f"late {n}")).asset_id for n in range(count)]


def test_sweep_moves_what_is_due_and_reports_per_rule(admin: Admin) -> None:
    late = _created_two_days_ago(admin.url, 5)
    fresh = admin.create()["asset_id"]
    assert admin.json("due") == {
        "due": {"upload_timeout": 5, "planned_freeze": 0, "planned_delete": 0, "recycle_bin_purge": 0},
        "total": 5,
    }
    before_the_deadline = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    assert admin.json("sweep", "--as-of", before_the_deadline)["moved"] == 0
    report = admin.json("sweep", "--batch-size", "2")
    assert (report["moved"], report["batches"], report["stopped"]) == (5, 3, False)
    assert report["rules"][0] == report["rules"][0] | {
        "rule": "upload_timeout",
        "event": "time_out_upload",
        "moved": 5,
    }
    assert set(map(admin.state, late)) == {"FAILED"}
    assert admin.state(fresh) == "CREATING"
    trail = admin.json("history", late[0], "--tenant", TENANT)["entries"]
    assert (trail[-1]["actor_kind"], trail[-1]["event"]) == ("system", "time_out_upload")
    assert "upload_timeout" in admin.ok("sweep").stdout


def test_sweep_shows_a_progress_bar_on_large_sweeps(admin: Admin) -> None:
    _created_two_days_ago(admin.url, 5)
    result = admin("sweep", "--batch-size", "2", "--progress")
    assert result.exit_code == 0, result.stderr
    assert "5/5" in result.stderr
    assert "upload_timeout" in result.stdout


def test_sweep_refuses_a_time_in_the_future_or_not_a_time(admin: Admin) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert "must not be later than now" in admin.fails(ExitCode.INVALID_INPUT, "sweep", "--as-of", later)
    assert "ISO 8601" in admin.fails(ExitCode.INVALID_INPUT, "sweep", "--as-of", "yesterday")
    admin.fails(ExitCode.INVALID_INPUT, "sweep", "--batch-size", "0")


class _Lines:
    """A child's output, read line by line on a thread so that waiting for a line has a deadline."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, event: str, *, timeout: float = 60) -> list[dict[str, Any]]:
        """Every line up to the JSON log line of ``event`` (each line must be JSON)."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while (line := self.lines.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            seen.append(json.loads(line))
            if seen[-1]["event"] == event:
                return seen
        pytest.fail(f"no {event} logged; saw {[entry['event'] for entry in seen]}")

    def rest(self) -> list[dict[str, Any]]:
        self.thread.join(timeout=60)
        rest: list[dict[str, Any]] = []
        while (line := self.lines.get_nowait()) is not None:
            rest.append(json.loads(line))
        return rest


@pytest.mark.skipif(not EXECUTABLE.exists(), reason="the package is not installed into this interpreter")
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_scheduler_run_sweeps_until_a_signal_and_stops_cleanly(
    database_url: str, stop_signal: signal.Signals
) -> None:
    late = _created_two_days_ago(database_url, 3)
    command = [
        "--db",
        database_url,
        "--log-json",
        "--log-level",
        "info",
        "scheduler",
        "run",
        "--interval",
        "30",
    ]
    child = subprocess.Popen(  # noqa: S603 - our own installed script
        [EXECUTABLE, *command],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert child.stderr is not None
        stderr = _Lines(child.stderr)
        logged = stderr.until("sweep_finished")
        assert "scheduler_started" in [entry["event"] for entry in logged]
        assert logged[-1]["rules"]["upload_timeout"]["moved"] == 3
        child.send_signal(stop_signal)
        child.wait(timeout=60)
        rest = stderr.rest()  # every line JSON, the standard logging module's (APScheduler's) too
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == 0
    assert rest[-1]["event"] == "scheduler_stopped"
    assert any(entry.get("logger", "").startswith("apscheduler") for entry in logged + rest)
    with Lifecycle(database_url) as lifecycle:
        assert {lifecycle.get_asset(Tenant(TENANT), a).asset_state.value for a in late} == {"FAILED"}


def test_scheduler_run_refuses_bad_timing(admin: Admin) -> None:
    for option, value in (
        ("--interval", "nan"),
        ("--interval", "inf"),
        ("--interval", "0"),
        ("--jitter", "-1"),
    ):
        error = admin.fails(ExitCode.INVALID_INPUT, "scheduler", "run", option, value)
        assert f"Invalid value for '{option}': '{value}' must be" in error
    error = admin.fails(ExitCode.INVALID_INPUT, "scheduler", "run", "--interval", "1", "--jitter", "5")
    assert "--jitter" in error
    assert "less than --interval" in error


# Storage ------------------------------------------------------------------------------------------

MAIN_SIZE = 31032142
"""The MAIN file ``Admin.create`` declares; its COVER (110321 bytes) is never uploaded here."""
TIMBRE_SIZE = 2_000_000
GIB = 1024**3
STORAGE_REPORT_KEYS = {
    "as_of", "free_allowance_bytes", "tenant_count", "used_bytes", "chargeable_bytes", "billable_bytes",
    "tenants_over_allowance", "tenants",
}  # fmt: skip
TENANT_STORAGE_KEYS = {
    "project_id", "as_of", "used_bytes", "exempt_bytes", "chargeable_bytes", "free_allowance_bytes",
    "free_bytes_left", "billable_bytes", "over_allowance", "assets", "files", "exempt", "by_type",
    "by_state",
}  # fmt: skip
USAGE_KEYS = {"assets", "files", "used_bytes", "exempt_bytes", "chargeable_bytes"}
ASSET_STORAGE_KEYS = {
    "asset_id", "project_id", "as_of", "asset_type", "customized", "asset_state", "state_since",
    "free_until", "billed", "used_bytes", "exempt_bytes", "chargeable_bytes", "reasons", "files",
}  # fmt: skip
FILE_STORAGE_KEYS = {
    "file_id", "file_name", "asset_file_category", "state", "file_size", "stored_at", "timbre_model",
    "counted", "exemption", "chargeable_bytes",
}  # fmt: skip


def _customized_image_model(admin: Admin) -> str:
    """A customized HUMAN_MODEL whose MAIN file and timbre model were uploaded (its COVER not)."""
    created = admin.create("--customized", "--timbre-model", "voice.bin", str(TIMBRE_SIZE), MD5)
    asset_id, timbre = created["asset_id"], created["files"][2]["file_id"]
    admin.ok("confirm-upload", asset_id, "--tenant", TENANT, "--result", "CREATED")
    admin.ok("confirm-upload", asset_id, "--tenant", TENANT, "--result", "CREATED", "--file-id", timbre)
    return str(asset_id)


def _stored(admin: Admin) -> dict[str, str]:
    """tenant-a: an uploaded asset, a frozen one, a customized image model with its timbre model,
    one never uploaded; tenant-b: one uploaded asset."""
    assets = {
        "uploaded": admin.uploaded(),
        "frozen": admin.uploaded(),
        "customized": _customized_image_model(admin),
        "never uploaded": admin.create()["asset_id"],
        "tenant-b's": admin.uploaded(tenant="tenant-b"),
    }
    admin.ok("freeze", assets["frozen"], "--operator", OPERATOR)
    return assets


def _row(table: str, *cells: str) -> bool:
    """Whether a rich table has a row of exactly these cells (padded, sizes right-aligned)."""
    pattern = r"\s*│\s*".join(re.escape(cell) for cell in cells)
    return re.search(rf"^│\s*{pattern}\s*│$", table, re.MULTILINE) is not None


def _but_as_of(report: dict[str, Any]) -> dict[str, Any]:
    """A report without its moments (the admin script's "now" and the API's differ)."""
    return {key: value for key, value in report.items() if key != "as_of"} | {
        "tenants": [{k: v for k, v in t.items() if k != "as_of"} for t in report.get("tenants", [])]
    }


def test_storage_report_for_a_tenant_gives_the_apis_figures_and_shape(admin: Admin) -> None:
    _stored(admin)
    report = admin.json("storage", "report", "--tenant", TENANT)
    with Lifecycle(admin.url) as lifecycle:
        assert _but_as_of(report) == _but_as_of(lifecycle.storage_report(Tenant(TENANT)).to_json())
    assert set(report) == STORAGE_REPORT_KEYS
    [mine] = report["tenants"]
    assert set(mine) == TENANT_STORAGE_KEYS
    assert set(mine["by_type"]) == {kind.value for kind in AssetType}, "every type, zeros too"
    assert set(mine["by_state"]) == {state.value for state in AssetState}, "every state, zeros too"
    assert all(set(part) == USAGE_KEYS for part in [*mine["by_type"].values(), *mine["by_state"].values()])
    assert mine["exempt"] == {
        "TIMBRE_MODEL_OF_CUSTOMIZED_IMAGE_MODEL": TIMBRE_SIZE,
        "CUSTOMIZED_VIDEO_FREE_PERIOD": 0,
    }
    assert {key: value for key, value in mine.items() if type(value) is int} == {
        "used_bytes": 3 * MAIN_SIZE + TIMBRE_SIZE,
        "exempt_bytes": TIMBRE_SIZE,
        "chargeable_bytes": 3 * MAIN_SIZE,
        "free_allowance_bytes": 5 * GIB,
        "free_bytes_left": 5 * GIB - 3 * MAIN_SIZE,
        "billable_bytes": 0,
        "assets": 4,
        "files": 4,
    }
    assert mine["by_state"]["BLOCK"] == {
        "assets": 1, "files": 1, "used_bytes": MAIN_SIZE, "exempt_bytes": 0, "chargeable_bytes": MAIN_SIZE,
    }  # fmt: skip
    assert mine["by_state"]["CREATING"] == {
        "assets": 1, "files": 0, "used_bytes": 0, "exempt_bytes": 0, "chargeable_bytes": 0,
    }  # fmt: skip
    assert (report["tenant_count"], report["tenants_over_allowance"], mine["project_id"]) == (1, 0, TENANT)

    readable = admin.ok("storage", "report", "--tenant", TENANT).stdout
    assert "used            90.69 MiB (95,096,426 bytes)" in readable
    assert "chargeable      88.78 MiB (93,096,426 bytes)" in readable
    assert "free allowance  5.00 GiB (5,368,709,120 bytes)" in readable
    assert "billable        0 B: within its free allowance" in readable
    assert "by asset type" in readable
    assert _row(readable, "BLOCK", "1", "1", "29.59 MiB", "0 B", "29.59 MiB")
    assert _row(readable, "CREATING", "1", "0", "0 B", "0 B", "0 B")
    assert "DELETED" not in readable, "only the states it has assets in"
    assert "VIDEO" not in readable, "only the types it has"


def test_storage_report_for_every_tenant_one_row_each(admin: Admin) -> None:
    _stored(admin)
    report = admin.json("storage", "report", "--operator", OPERATOR, "--page-size", "1")
    with Lifecycle(admin.url) as lifecycle:
        assert _but_as_of(report) == _but_as_of(lifecycle.storage_report(Platform(OPERATOR)).to_json())
    assert set(report) == STORAGE_REPORT_KEYS
    assert [t["project_id"] for t in report["tenants"]] == [TENANT, "tenant-b"]
    assert (report["tenant_count"], report["used_bytes"], report["chargeable_bytes"]) == (
        2,
        4 * MAIN_SIZE + TIMBRE_SIZE,
        4 * MAIN_SIZE,
    )
    one = admin.json("storage", "report", "--operator", OPERATOR, "--project", "tenant-b")
    assert [t["used_bytes"] for t in one["tenants"]] == [MAIN_SIZE]
    assert _but_as_of(one)["tenants"] == _but_as_of(report)["tenants"][1:]

    table = admin.ok("storage", "report", "--operator", OPERATOR).stdout
    assert _row(table, "tenant-a", "4", "90.69 MiB", "1.91 MiB", "88.78 MiB", "0 B", "within")
    assert _row(table, "tenant-b", "1", "29.59 MiB", "0 B", "29.59 MiB", "0 B", "within")
    assert _row(table, "total: 2 tenants", "5", "120.29 MiB", "1.91 MiB", "118.38 MiB", "0 B", "0 over")
    assert "free allowance 5.00 GiB (5,368,709,120 bytes) per tenant" in table
    with_bar = admin("storage", "report", "--operator", OPERATOR, "--page-size", "1", "--progress")
    assert with_bar.exit_code == 0, with_bar.stderr
    assert "2/2" in with_bar.stderr
    assert "total: 2 tenants" in with_bar.stdout
    assert admin("storage", "report", "--operator", OPERATOR, "--no-progress").stderr == ""


def test_storage_report_a_tenant_may_not_ask_for_another_tenant(admin: Admin) -> None:
    admin.uploaded(tenant="tenant-b")
    refused = admin.fails(
        ExitCode.PERMISSION_DENIED, "storage", "report", "--tenant", TENANT, "--project", "tenant-b"
    )
    listing = admin.fails(ExitCode.PERMISSION_DENIED, "list", "--tenant", TENANT, "--project", "tenant-b")
    for error in (refused, listing):  # the same refusal, each naming what was asked
        assert re.fullmatch(r"error MSS\.00000003: a tenant may not '.+' \(allowed for: platform\)", error)
    mine = admin.json("storage", "report", "--tenant", TENANT, "--project", TENANT)["tenants"]
    assert [(t["project_id"], t["assets"], t["used_bytes"]) for t in mine] == [(TENANT, 0, 0)]
    theirs = admin.uploaded(tenant="tenant-b")
    assert admin.fails(ExitCode.NOT_FOUND, "storage", "asset", theirs, "--tenant", TENANT) == (
        f"error MSS.00000002: asset {theirs} not found"
    )
    report = ["storage", "report", "--tenant", TENANT]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert "invalid parameter as_of" in admin.fails(ExitCode.INVALID_INPUT, *report, "--as-of", later)
    admin.fails(ExitCode.INVALID_INPUT, *report, "--page-size", "0")


def test_storage_as_of_a_past_moment_reads_the_audit_trail(admin: Admin) -> None:
    start = datetime.now(UTC) - timedelta(days=10)
    clock = ManualClock(start)
    with Lifecycle(admin.url, clock=clock) as lifecycle:
        gone = lifecycle.create_asset(Tenant(TENANT), new_asset("deleted later"))
        lifecycle.confirm_upload(Tenant(TENANT), gone.asset_id, gone.main_file.file_id, UploadResult.CREATED)
        clock.advance(timedelta(days=2))
        lifecycle.delete(Platform(OPERATOR), gone.asset_id, force=True)
    stored_then = (start + timedelta(days=1)).isoformat()
    before_it = (start - timedelta(days=1)).isoformat()

    report = ["storage", "report", "--tenant", TENANT]
    then = admin.json(*report, "--as-of", stored_then)
    with Lifecycle(admin.url) as lifecycle:
        api = lifecycle.storage_report(Tenant(TENANT), as_of=start + timedelta(days=1)).to_json()
    assert then == api, "the same moment: the same report, as_of included"
    assert then["as_of"] == (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert (then["used_bytes"], then["tenants"][0]["by_state"]["UNACTIVED"]["used_bytes"]) == (MAIN_SIZE,) * 2
    now = admin.json(*report)["tenants"][0]
    assert (now["used_bytes"], now["assets"], now["by_state"]["DELETED"]["assets"]) == (0, 1, 1)
    assert admin.json(*report, "--as-of", before_it)["tenants"][0]["assets"] == 0
    assert admin.json("storage", "report", "--operator", OPERATOR, "--as-of", before_it)["tenants"] == []

    asked = ["storage", "asset", gone.asset_id, "--tenant", TENANT]
    verdicts = {
        moment: admin.json(*asked, *moment)
        for moment in ((), ("--as-of", stored_then), ("--as-of", before_it))
    }
    assert [(v["asset_state"], v["billed"], v["reasons"][0]["code"]) for v in verdicts.values()] == [
        ("DELETED", False, "DELETED"),
        ("UNACTIVED", True, "COUNTS"),
        (None, False, "NOT_CREATED_YET"),
    ]
    assert "did not exist yet" in admin.ok(*asked, "--as-of", before_it).stdout


def test_a_customized_video_is_free_for_its_first_months_then_billed(admin: Admin) -> None:
    created = datetime.now(UTC) - timedelta(days=215)
    with Lifecycle(admin.url, clock=ManualClock(created)) as lifecycle:
        video = lifecycle.create_asset(
            Platform(OPERATOR),
            NewAsset(
                asset_name="ordered",
                asset_type=AssetType.VIDEO,
                files=[NewFile("v.mp4", 300, MD5)],
                customized=True,
            ),
            project_id=TENANT,
        )
        lifecycle.confirm_upload(
            Tenant(TENANT), video.asset_id, video.main_file.file_id, UploadResult.CREATED
        )
    asked = ["storage", "asset", video.asset_id, "--operator", OPERATOR]
    free = admin.json(*asked, "--as-of", (created + timedelta(days=60)).isoformat())
    billed = admin.json(*asked)
    assert free["free_until"] == billed["free_until"] is not None
    assert [r["code"] for r in free["reasons"]] == ["COUNTS", "CUSTOMIZED_VIDEO_FREE"]
    assert (free["billed"], free["exempt_bytes"], free["files"][0]["exemption"]) == (
        False, 300, "CUSTOMIZED_VIDEO_FREE_PERIOD",
    )  # fmt: skip
    assert [r["code"] for r in billed["reasons"]] == ["COUNTS", "CUSTOMIZED_VIDEO_FREE_PERIOD_OVER"]
    assert (billed["billed"], billed["chargeable_bytes"]) == (True, 300)
    assert billed["files"][0]["exemption"] is None


def test_storage_asset_says_whether_and_why_it_is_billed(admin: Admin) -> None:
    assets = _stored(admin)
    binned = admin.uploaded()
    admin.ok("delete", binned, "--tenant", TENANT)
    video = admin.create("--customized", "--type", "VIDEO")  # a later --type wins: the free period
    admin.ok("confirm-upload", video["asset_id"], "--tenant", TENANT, "--result", "CREATED")
    expected = {
        assets["uploaded"]: (True, ["COUNTS"]),
        assets["frozen"]: (True, ["FROZEN_STILL_COUNTS"]),
        binned: (True, ["IN_RECYCLE_BIN_STILL_COUNTS"]),
        assets["customized"]: (True, ["COUNTS", "TIMBRE_MODELS_FREE"]),
        assets["never uploaded"]: (False, ["NOTHING_STORED"]),
        video["asset_id"]: (False, ["COUNTS", "CUSTOMIZED_VIDEO_FREE"]),
    }
    with Lifecycle(admin.url) as lifecycle:
        for asset_id, (billed, codes) in expected.items():
            found = admin.json("storage", "asset", asset_id, "--tenant", TENANT)
            assert (found["billed"], [r["code"] for r in found["reasons"]]) == (billed, codes), asset_id
            assert set(found) == ASSET_STORAGE_KEYS
            assert all(set(r) == {"code", "text"} and r["text"] for r in found["reasons"])
            assert all(set(f) == FILE_STORAGE_KEYS for f in found["files"])
            api = lifecycle.asset_storage(Tenant(TENANT), asset_id).to_json()
            assert found | {"as_of": None} == api | {"as_of": None}
    customized = admin.json("storage", "asset", assets["customized"], "--operator", OPERATOR)
    assert (customized["customized"], customized["used_bytes"], customized["exempt_bytes"]) == (
        True, MAIN_SIZE + TIMBRE_SIZE, TIMBRE_SIZE,
    )  # fmt: skip
    files = customized["files"]
    assert [(f["asset_file_category"], f["counted"], f["timbre_model"], f["exemption"]) for f in files] == [
        ("MAIN", True, False, None),
        ("COVER", False, False, None),
        ("OTHER", True, True, "TIMBRE_MODEL_OF_CUSTOMIZED_IMAGE_MODEL"),
    ]
    readable = admin.ok("storage", "asset", assets["customized"], "--tenant", TENANT).stdout
    assert "BILLED: 29.59 MiB (31,032,142 bytes) chargeable" in readable
    assert "TIMBRE_MODELS_FREE" in readable
    assert "HUMAN_MODEL, customized" in readable
    assert "voice.bin" in readable
    free = admin.ok("storage", "asset", video["asset_id"], "--tenant", TENANT).stdout
    assert "NOT BILLED: nothing chargeable" in free
    assert "CUSTOMIZED_VIDEO_FREE" in free


def test_create_customized_with_timbre_models(admin: Admin) -> None:
    timbre = ["--timbre-model", "voice.bin", "1000", MD5]
    by_the_platform = ["create", "--operator", OPERATOR, "--project", TENANT, *CREATE[3:]]
    video = admin.fails(ExitCode.INVALID_INPUT, *by_the_platform, *MAIN, *timbre, "--customized")
    by_the_tenant = admin.fails(ExitCode.PERMISSION_DENIED, *CREATE, *MAIN, "--customized")
    assert by_the_tenant == (
        "error MSS.00000003: a tenant may not 'create a customized asset' (allowed for: platform)"
    )
    nameless = admin.fails(ExitCode.INVALID_INPUT, *by_the_platform[:3], *CREATE[3:], *MAIN)
    assert "invalid parameter project_id: the platform must name the tenant" in nameless
    not_customized = admin.fails(ExitCode.INVALID_INPUT, *CREATE[:-1], "HUMAN_MODEL", *MAIN, *timbre)
    for error in (video, not_customized):
        assert error.startswith(
            "error MSS.00000003: invalid parameter timbre_model: only a customized image model"
        )
    admin.fails(ExitCode.INVALID_INPUT, *CREATE, *MAIN, "--timbre-model", "voice.bin", "big", MD5)
    assert asset_rows(admin.url) == 0
    created = admin.create("--customized", *timbre, "--timbre-model", "voice2.bin", "2000", MD5)
    assert [(f["asset_file_category"], f["file_name"]) for f in created["files"]] == [
        ("MAIN", "male001.bin"), ("COVER", "male001.png"), ("OTHER", "voice.bin"), ("OTHER", "voice2.bin"),
    ]  # fmt: skip
    with Lifecycle(admin.url) as lifecycle:
        asset = lifecycle.get_asset(Tenant(TENANT), created["asset_id"])
        plain = lifecycle.get_asset(Tenant(TENANT), admin.create()["asset_id"])
    assert (asset.customized, [f.timbre_model for f in asset.files]) == (True, [False, False, True, True])
    assert (plain.customized, [f.timbre_model for f in plain.files]) == (False, [False, False])


NOT_A_SIZE = "is not a size such as 5GiB, 500MB or 1073741824 (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("5XB", NOT_A_SIZE),
        ("-1", NOT_A_SIZE),
        ("5G", NOT_A_SIZE),
        ("1e9", NOT_A_SIZE),
        ("8EiB", NOT_A_SIZE),
        ("", NOT_A_SIZE),
        ("0.5B", "is not a whole number of bytes"),
        ("9223372036854775808", "is more than 9223372036854775807 bytes"),
    ],
)
def test_a_bad_free_storage_size_is_invalid_input(admin: Admin, value: str, problem: str) -> None:
    report = ["storage", "report", "--tenant", TENANT]
    error = admin.fails(ExitCode.INVALID_INPUT, "--free-storage", value, *report)
    message, hint = error.split(" (see: ")
    assert message == f"error MSS.00000003: Invalid value for '--free-storage': '{value}' {problem}"
    assert hint.endswith(" --help)")
    if not value:
        return  # an empty variable is no variable
    from_env = admin(*report, env={"LIFECYCLE_FREE_STORAGE": value})
    assert (from_env.exit_code, from_env.stdout) == (ExitCode.INVALID_INPUT, "")
    assert from_env.stderr.count("\n") == 1


def test_free_storage_sets_the_allowance_and_so_the_billable_bytes(admin: Admin) -> None:
    admin.uploaded()

    def billable(*settings: str, env: dict[str, str] | None = None) -> tuple[int, int]:
        result = admin(*settings, "storage", "report", "--tenant", TENANT, "--json", env=env)
        assert result.exit_code == 0, result.stderr
        [mine] = json.loads(result.stdout)["tenants"]
        return mine["free_allowance_bytes"], mine["billable_bytes"]

    assert billable() == (5 * GIB, 0), "the engine's default: 5 GiB"
    for size, allowance in (
        ("10MiB", 10 * 1024**2),
        ("10 mib", 10 * 1024**2),
        ("20MB", 20_000_000),
        ("20mb", 20_000_000),
        ("0.5KiB", 512),
        ("1000000", 1_000_000),
        ("1TB", 10**12),
        ("1tib", 1024**4),
        ("0", 0),
    ):
        assert billable("--free-storage", size) == (allowance, max(0, MAIN_SIZE - allowance)), size
    assert billable(env={"LIFECYCLE_FREE_STORAGE": "1KiB"}) == (1024, MAIN_SIZE - 1024)
    assert billable("--free-storage", "2KiB", env={"LIFECYCLE_FREE_STORAGE": "1KiB"})[0] == 2048
    over = admin.ok("--free-storage", "10MiB", "storage", "report", "--operator", OPERATOR).stdout
    assert _row(over, "tenant-a", "1", "29.59 MiB", "0 B", "29.59 MiB", "19.59 MiB", "over")
    assert "free allowance 10.00 MiB" in over
    assert "1 over" in over
    mine = admin.ok("--free-storage", "10MiB", "storage", "report", "--tenant", TENANT).stdout
    assert "billable        19.59 MiB (20,546,382 bytes): over its free allowance" in mine


def test_an_upload_past_the_allowance_exits_11_and_writes_nothing_when_refusing(admin: Admin) -> None:
    first, second = admin.uploaded(), admin.create()["asset_id"]
    strict = ["--free-storage", "40MB", "--refuse-uploads-over-allowance"]
    upload = ["confirm-upload", second, "--tenant", TENANT, "--result", "CREATED"]
    before = (audit_rows(admin.url), admin.json("show", second, "--tenant", TENANT))
    error = admin.fails(ExitCode.STORAGE_ALLOWANCE_EXCEEDED, *strict, *upload)
    assert error == (
        "error MSS.00000003: tenant tenant-a would use 62064284 bytes of chargeable storage, over its free"
        " allowance of 40000000 bytes (it uses 31032142 now, this adds 31032142); delete assets for good"
        " to make room; nothing was written"
    )
    assert (audit_rows(admin.url), admin.json("show", second, "--tenant", TENANT)) == before
    assert before[1]["asset_state"] == "CREATING"
    assert {f["state"] for f in before[1]["files"]} == {"CREATING"}
    environment = {"LIFECYCLE_FREE_STORAGE": "40MB", "LIFECYCLE_REFUSE_UPLOADS_OVER_ALLOWANCE": "1"}
    from_env = admin(*upload, env=environment)
    assert (from_env.exit_code, from_env.stderr.strip()) == (ExitCode.STORAGE_ALLOWANCE_EXCEEDED, error)
    rows = asset_rows(admin.url)
    big = ["--main-file", "big.mp4", "9000000", MD5]
    admin.fails(ExitCode.STORAGE_ALLOWANCE_EXCEEDED, *strict, *CREATE, *big)
    assert asset_rows(admin.url) == rows, "a creation whose declared files would pass it is refused too"
    assert (audit_rows(admin.url), admin.json("show", second, "--tenant", TENANT)) == before

    admin.ok("--free-storage", "40MB", *upload)  # not refusing: accepted, and billed
    report = admin.json("--free-storage", "40MB", "storage", "report", "--tenant", TENANT)
    assert (report["billable_bytes"], report["tenants_over_allowance"]) == (2 * MAIN_SIZE - 40_000_000, 1)
    assert admin.json("storage", "asset", first, "--tenant", TENANT)["billed"] is True
    for deleted in (first, second):
        admin.ok("delete", deleted, "--operator", OPERATOR, "--force")
    third = admin.create()["asset_id"]
    admin.ok(*strict, "confirm-upload", third, "--tenant", TENANT, "--result", "CREATED")  # room again


# Logs ---------------------------------------------------------------------------------------------


def test_log_json_writes_json_lines_and_the_default_is_readable(admin: Admin) -> None:
    asset_id = admin.uploaded()
    as_json = admin("--log-json", "--log-level", "info", "activate", asset_id, "--tenant", TENANT)
    assert as_json.exit_code == 0
    lines = [json.loads(line) for line in as_json.stderr.splitlines()]
    applied = next(line for line in lines if line["event"] == "transition_applied")
    assert (applied["asset_id"], applied["to_state"], applied["level"]) == (asset_id, "ACTIVED", "info")
    assert applied["timestamp"].endswith("Z")
    readable = admin("--log-level", "info", "deactivate", asset_id, "--tenant", TENANT)
    assert "transition_applied" in readable.stderr
    assert not readable.stderr.lstrip().startswith("{")
    quiet = admin("activate", asset_id, "--tenant", TENANT)
    assert quiet.stderr == "", "warnings only by default"


# The change feed ----------------------------------------------------------------------------------


def settled(admin: Admin) -> None:
    """Every move committed so far readable (on PostgreSQL another test's open transaction may hold
    the newest back for a moment: docs/events.md)."""
    with Lifecycle(admin.url) as lifecycle:
        lifecycle.feed.settle(Platform(OPERATOR))


def test_events_tail_prints_every_move_in_feed_order_and_from_the_end_nothing_old(admin: Admin) -> None:
    first = admin.uploaded()
    second = admin.create(name="Second")["asset_id"]
    settled(admin)
    lines = admin.ok("events", "tail", "--from-start", "--json").stdout.splitlines()
    moves = [json.loads(line) for line in lines]
    assert [(m["asset_id"], m["event"], m["to_state"]) for m in moves] == [
        (first, "create", "CREATING"),
        (first, "accept_upload", "UNACTIVED"),
        (second, "create", "CREATING"),
    ]
    assert [m["event_id"] for m in moves] == [f"{first}:1", f"{first}:2", f"{second}:1"]
    readable = admin.ok("events", "tail", "--from-start").stdout.splitlines()
    assert len(readable) == 3
    assert f"{first}  v2  accept_upload  CREATING -> UNACTIVED  tenant:{TENANT}" in readable[1]
    assert admin.ok("events", "tail").stdout == "", "from the end: only what commits from now on"


def test_events_tail_follow_prints_what_commits_while_it_runs(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.create(name="Before")
    settled(admin)
    made: list[str] = []
    printed_by_now = False

    def between_polls(_seconds: float) -> None:
        """The first wait makes a move; once the feed hands it out (on PostgreSQL, not before
        every transaction older than it ended: docs/events.md), one more poll prints it, and
        the next wait is the operator's Ctrl-C."""
        nonlocal printed_by_now
        if printed_by_now:
            raise KeyboardInterrupt
        if not made:
            made.append(admin.create(name="During")["asset_id"])
            return
        with Lifecycle(admin.url) as lifecycle:
            printed_by_now = any(
                event.record.asset_id == made[0]
                for event in lifecycle.feed.read(Platform(OPERATOR), limit=10)
            )

    monkeypatch.setattr("lifecycle.cli.time.sleep", between_polls)
    out = admin.ok("events", "tail", "--follow", "--json").stdout
    assert [json.loads(line)["asset_id"] for line in out.splitlines()] == made


def test_events_consumers_and_seek_show_and_move_a_cursor(admin: Admin) -> None:
    admin.uploaded()
    with Lifecycle(admin.url) as lifecycle:
        lifecycle.consumer("billing", lambda _events, _connection: None).catch_up()
    admin.create(name="Unhandled")
    settled(admin)
    (billing,) = admin.json("events", "consumers")
    assert (billing["name"], billing["lag"]) == ("billing", 1)
    assert "billing" in admin.ok("events", "consumers").stdout
    moves = [
        json.loads(line) for line in admin.ok("events", "tail", "--from-start", "--json").stdout.splitlines()
    ]
    since = moves[1]["occurred_at"]
    at_or_after = sum(move["occurred_at"] >= since for move in moves)
    assert (
        admin.json("events", "seek", "billing", "--to", since, "--operator", OPERATOR)["lag"] == at_or_after
    )
    assert admin.json("events", "seek", "billing", "--to", "start", "--operator", OPERATOR)["lag"] == 3
    assert admin.json("events", "seek", "billing", "--to", "end", "--operator", OPERATOR)["lag"] == 0
    position = moves[0]["position"]
    moved = admin.json("events", "seek", "billing", "--to", position, "--operator", OPERATOR)
    assert (moved["position"], moved["lag"]) == (position, 2)


def test_events_seek_refuses_a_stranger_an_unknown_consumer_and_a_bad_position(admin: Admin) -> None:
    error = admin.fails(
        ExitCode.INVALID_INPUT, "events", "seek", "nobody", "--to", "start", "--operator", OPERATOR
    )
    assert "no consumer named 'nobody'" in error
    error = admin.fails(
        ExitCode.INVALID_INPUT, "events", "seek", "x", "--to", "12:ab", "--operator", OPERATOR
    )
    assert "not a feed position" in error
    assert "--operator" in admin.fails(ExitCode.INVALID_INPUT, "events", "seek", "x", "--to", "start")


# Diagrams -----------------------------------------------------------------------------------------


def test_diagrams_writes_the_generated_diagrams(tmp_path: Path) -> None:
    result = CliRunner().invoke(ADMIN_SCRIPT, ["diagrams", "--out", str(tmp_path / "out"), "--no-svg"])
    assert result.exit_code == 0, result.stderr
    written = sorted(Path(line).name for line in result.stdout.splitlines())
    assert "asset-lifecycle.md" in written
    assert "file-lifecycle.md" in written
    committed = Path(__file__).parents[1] / "docs" / "state-diagrams" / "asset-lifecycle.md"
    assert (tmp_path / "out" / "asset-lifecycle.md").read_text() == committed.read_text()


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "error LIFECYCLE.INTERRUPTED: interrupted"),
        (
            RuntimeError("boom\nsecond line"),
            ExitCode.INTERNAL_ERROR,
            "error LIFECYCLE.INTERNAL_ERROR: RuntimeError: boom second line",
        ),
    ],
)  # fmt: skip
def test_an_interrupt_or_a_bug_is_still_one_line_without_a_traceback(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, raised: BaseException, code: ExitCode, line: str
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(Lifecycle, "list_assets", broken)
    result = admin("list", "--tenant", TENANT)
    assert result.exit_code == code
    # After Ctrl-C click ends the terminal's "^C" line first: an empty line, then the error.
    assert result.stderr.lstrip("\n") == line + "\n"


# What the review found --------------------------------------------------------------------------


def test_an_operator_from_the_environment_gives_way_to_an_explicit_tenant(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_id = admin.create()["asset_id"]
    monkeypatch.setenv("LIFECYCLE_OPERATOR", OPERATOR)
    assert admin.json("show", asset_id, "--tenant", TENANT)["asset_id"] == asset_id
    assert admin.json("show", asset_id)["asset_id"] == asset_id, "the environment's operator acts"
    frozen = admin.json("freeze", asset_id)
    trail = admin.json("history", asset_id, "--tenant", TENANT)["entries"]
    assert (frozen["to_state"], trail[-1]["actor_id"]) == ("BLOCK", OPERATOR)


def test_tenants_text_is_printed_literally(admin: Admin) -> None:
    name = "[bold]x[/] :smile: end\\"
    asset_id = admin.create("--description", "line one\nline two \x1b[31mred", name=name)["asset_id"]
    shown = admin.ok("show", asset_id, "--tenant", TENANT).stdout
    assert name in shown
    assert "line one\\x0aline two \\x1b[31mred" in shown, "control characters are made visible"
    assert "\x1b" not in shown
    assert name in admin.ok("list", "--tenant", TENANT).stdout


@pytest.mark.parametrize("reason", ["two\nlines", "\x1b]0;owned\x07", "tab\there"])
def test_a_reason_with_control_characters_is_refused_and_nothing_is_written(
    admin: Admin, reason: str
) -> None:
    asset_id = admin.uploaded()
    before = audit_rows(admin.url)
    error = admin.fails(
        ExitCode.INVALID_INPUT, "freeze", asset_id, "--operator", OPERATOR, "--reason", reason
    )
    assert (
        error == "error MSS.00000003: invalid parameter reason: must be one line without control characters"
    )
    assert audit_rows(admin.url) == before


def test_allowed_lists_what_the_actor_may_do_now(admin: Admin) -> None:
    asset_id = admin.uploaded()
    assert admin.json("allowed", asset_id, "--tenant", TENANT) == {
        "asset_id": asset_id,
        "allowed": ["activate", "delete", "delete_force"],
    }
    assert admin.json("allowed", asset_id, "--operator", OPERATOR)["allowed"] == ["delete_force", "freeze"]
    assert admin.ok("allowed", asset_id, "--tenant", TENANT).stdout.strip() == (
        f"asset {asset_id}: activate, delete, delete_force"
    )


def test_create_takes_every_field_the_engine_takes(admin: Admin) -> None:
    created = admin.create(
        "--extra-meta", '{"voice": {"speed": 1.2}}',
        "--system-property", '{"key": "BACKGROUND_IMG", "value": "Yes"}',
        "--order", "7",
    )  # fmt: skip
    assert created["asset_extra_meta"] == {"voice": {"speed": 1.2}}
    assert created["system_properties"] == [{"key": "BACKGROUND_IMG", "value": "Yes"}]
    assert created["asset_order"] == 7
    assert "not JSON" in admin.fails(ExitCode.INVALID_INPUT, *CREATE, *MAIN, "--extra-meta", "{oops")
    assert "JSON object" in admin.fails(ExitCode.INVALID_INPUT, *CREATE, *MAIN, "--extra-meta", "[1]")


def test_list_orders_by_update_time(admin: Admin) -> None:
    first, second = admin.create(name="first")["asset_id"], admin.create(name="second")["asset_id"]
    admin.ok("confirm-upload", first, "--tenant", TENANT, "--result", "CREATED")
    by_update = admin.json("list", "--tenant", TENANT, "--order-by", "update_time")["assets"]
    assert [a["asset_id"] for a in by_update] == [first, second]
    by_creation = admin.json("list", "--tenant", TENANT)["assets"]
    assert [a["asset_id"] for a in by_creation] == [second, first]
    past_the_end = admin.ok("list", "--tenant", TENANT, "--offset", "10").stdout
    assert "none of 2 past offset 10" in past_the_end


def test_more_refusals_each_with_its_exit_code_and_nothing_written(admin: Admin) -> None:
    asset_id = admin.create()["asset_id"]
    before = audit_rows(admin.url)
    no_file = admin.fails(
        ExitCode.NOT_FOUND,
        "confirm-upload",
        asset_id,
        "--tenant",
        TENANT,
        "--result",
        "CREATED",
        "--file-id",
        "nope",
    )
    assert no_file == f"error MSS.00000002: file nope of asset {asset_id} not found"
    assert "cannot 'pass_review'" in admin.fails(
        ExitCode.REFUSED, "review", "pass", asset_id, "--operator", OPERATOR
    )
    assert "cannot 'restore'" in admin.fails(ExitCode.REFUSED, "restore", asset_id, "--tenant", TENANT)
    assert "cannot 'deactivate'" in admin.fails(ExitCode.REFUSED, "deactivate", asset_id, "--tenant", TENANT)
    assert "cannot 'unfreeze'" in admin.fails(ExitCode.REFUSED, "unfreeze", asset_id, "--operator", OPERATOR)
    admin.fails(ExitCode.PERMISSION_DENIED, "delete", asset_id, "--operator", OPERATOR)
    admin.fails(ExitCode.NOT_FOUND, "application", "reject", "nope", "--operator", OPERATOR)
    admin.fails(
        ExitCode.INVALID_INPUT, "due", "--as-of", (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    admin.fails(ExitCode.INVALID_INPUT, "sweep", "--as-of", "0001-01-01T00:00:00+14:00")
    assert audit_rows(admin.url) == before


def test_a_decided_application_cannot_be_rejected(admin: Admin) -> None:
    asset_id = admin.uploaded()
    admin.ok("freeze", asset_id, "--operator", OPERATOR)
    applied = admin.json("application", "apply", asset_id, "--tenant", TENANT)["application_id"]
    admin.ok("application", "reject", applied, "--operator", OPERATOR)
    error = admin.fails(ExitCode.REFUSED, "application", "reject", applied, "--operator", OPERATOR)
    assert error == f"error MSS.00000003: unfreeze application {applied} is REJECTED, not PENDING"


def test_due_prints_a_table(admin: Admin) -> None:
    _created_two_days_ago(admin.url, 2)
    table = admin.ok("due").stdout
    assert re.search(r"upload_timeout\s*│\s*2", table)
    assert "2 due in all" in table


def test_files_given_on_the_command_line_fail_as_invalid_input(admin: Admin, tmp_path: Path) -> None:
    not_text = tmp_path / "ids.bin"
    not_text.write_bytes(b"\xff\xfe\x00")
    error = admin.fails(
        ExitCode.INVALID_INPUT, "batch", "DELETE", "--tenant", TENANT, "--ids-from", str(not_text)
    )
    assert "not UTF-8" in error
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    admin.fails(ExitCode.INVALID_INPUT, "diagrams", "--out", str(a_file / "inside"), "--no-svg")


def test_diagrams_without_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--svg needs Graphviz; the default does not, unless SVGs it finds would be left out of date."""
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    asked = CliRunner().invoke(ADMIN_SCRIPT, ["diagrams", "--out", str(tmp_path / "asked"), "--svg"])
    assert asked.exit_code == ExitCode.MISSING_DEPENDENCY
    assert asked.stderr.startswith("error LIFECYCLE.MISSING_DEPENDENCY: ")
    assert not (tmp_path / "asked").exists()

    fresh = tmp_path / "fresh"
    default = CliRunner().invoke(ADMIN_SCRIPT, ["diagrams", "--out", str(fresh)])
    assert default.exit_code == 0
    assert default.stderr == (
        "note: asset-lifecycle.svg, file-lifecycle.svg not written: Graphviz's dot is not installed"
        " (the Markdown and DOT pages were written; --svg requires Graphviz, --no-svg skips SVG)\n"
    )
    assert sorted(path.name for path in fresh.iterdir()) == [
        "README.md", "asset-lifecycle.dot", "asset-lifecycle.md", "file-lifecycle.dot", "file-lifecycle.md",
    ]  # fmt: skip

    # The committed SVGs are current: kept, and nothing said. One made stale is out of date.
    committed = Path(__file__).parents[1] / "docs" / "state-diagrams"
    for name in ("asset-lifecycle.svg", "file-lifecycle.svg"):
        shutil.copy(committed / name, fresh / name)
    assert CliRunner().invoke(ADMIN_SCRIPT, ["diagrams", "--out", str(fresh)]).stderr == ""
    stale = fresh / "file-lifecycle.svg"
    stale.write_text(stale.read_text(encoding="utf-8").replace("sha256=", "sha256=0", 1), encoding="utf-8")
    out_of_date = CliRunner().invoke(ADMIN_SCRIPT, ["diagrams", "--out", str(fresh)])
    assert out_of_date.exit_code == ExitCode.MISSING_DEPENDENCY
    assert out_of_date.stderr.startswith("error LIFECYCLE.MISSING_DEPENDENCY: Graphviz's dot is not on the")
    assert "rendering again file-lifecycle.svg (left out of date" in out_of_date.stderr
    assert "asset-lifecycle.svg" not in out_of_date.stderr
    assert "asset-lifecycle.dot" in out_of_date.stdout, "the Markdown and DOT are written first"
    left = CliRunner().invoke(ADMIN_SCRIPT, ["diagrams", "--out", str(fresh), "--no-svg"])
    assert left.exit_code == 0
    assert left.stderr == "warning: left out of date (--no-svg): file-lifecycle.svg\n"


def test_no_command_prints_the_help_and_version_prints_the_version() -> None:
    bare = CliRunner().invoke(ADMIN_SCRIPT, [])
    assert bare.exit_code == 0
    assert "Commands:" in bare.stdout
    assert "Exit codes:" in bare.stdout
    group = CliRunner().invoke(ADMIN_SCRIPT, ["review"])
    assert (group.exit_code, "pass" in group.stdout) == (0, True)
    version = CliRunner().invoke(ADMIN_SCRIPT, ["--version"])
    assert version.exit_code == 0
    assert version.stdout.startswith("lifecycle, version ")
