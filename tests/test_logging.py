"""The library's events follow the application's logging: the standard library's ``logging`` by
default, structlog where the application configured it; the library never configures logging and
never writes anything itself."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from lifecycle.actors import Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetType, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import TransitionNotAllowed
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.logs import EventLog
from tests.conftest import MD5, new_asset

USE_THE_ENGINE = """
from lifecycle import Lifecycle, Tenant, NewAsset, NewFile, AssetType, UploadResult
with Lifecycle("sqlite:///{path}") as engine:
    engine.upgrade()
    tenant = Tenant("t")
    new = NewAsset("a", AssetType.IMAGE, [NewFile("a.jpg", 1, "0" * 32)])
    asset = engine.create_asset(tenant, new)
    engine.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    engine.activate(tenant, asset.asset_id)
    try:
        engine.activate(tenant, asset.asset_id)
    except Exception:
        pass
    engine.sweep()
"""


def _run(tmp_path: Path, before: str, after: str = "") -> subprocess.CompletedProcess[str]:
    script = (
        textwrap.dedent(before) + USE_THE_ENGINE.format(path=tmp_path / "app.db") + textwrap.dedent(after)
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )


def test_using_the_library_leaves_logging_unconfigured_and_writes_nothing(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        "import logging, structlog\n",
        "print(structlog.is_configured(), logging.getLogger().handlers, logging.getLogger().level)\n",
    )
    assert result.stdout == "False [] 30\n"
    assert result.stderr == ""


def test_an_application_with_stdlib_logging_gets_the_events_at_their_levels(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        """
        import logging, sys
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
        )
        """,
    )
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(line.startswith("INFO lifecycle.transitions transition_applied ") for line in lines), lines
    assert any(line.startswith("INFO lifecycle.transitions transition_refused ") for line in lines), lines
    assert not any("sweep_finished" in line for line in lines), "an idle sweep logs at DEBUG"
    ours = [line for line in lines if line.split()[1].startswith("lifecycle.")]
    assert {line.split()[0] for line in ours} == {"INFO"}, ours


def test_an_application_with_structlog_json_gets_json_lines(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        """
        import structlog, sys
        structlog.configure(
            processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )
        """,
    )
    assert result.stdout == ""
    events = [json.loads(line) for line in result.stderr.splitlines()]
    applied = [e for e in events if e["event"] == "transition_applied"]
    assert [e["event_name"] for e in applied] == ["accept_upload", "activate"]
    assert applied[-1]["to_state"] == "ACTIVED" and applied[-1]["level"] == "info"
    assert {e["event"] for e in events} >= {"asset_created", "transition_refused", "sweep_finished"}


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """structlog as an application that never configured it finds it (the suite configures it)."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("unconfigured_structlog")
def test_the_events_reach_logging_with_levels_names_and_fields(
    lifecycle: Lifecycle, tenant: Tenant, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="lifecycle")
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    with pytest.raises(TransitionNotAllowed):
        lifecycle.restore(tenant, asset.asset_id)
    clock.advance(timedelta(days=1))
    lifecycle.sweep()
    by_event = {getattr(record, "event", None): record for record in caplog.records}
    applied = by_event["transition_applied"]
    assert applied.name == "lifecycle.transitions" and applied.levelno == logging.INFO
    assert applied.to_state == "UNACTIVED" and applied.asset_id == asset.asset_id  # type: ignore[attr-defined]
    assert applied.getMessage().startswith("transition_applied asset_id=")
    assert by_event["transition_refused"].levelno == logging.INFO
    assert by_event["sweep_finished"].levelno == logging.DEBUG, "nothing moved: an idle sweep"
    assert by_event["sweep_finished"].name == "lifecycle.sweeps"
    assert all(record.name.startswith("lifecycle.") for record in caplog.records)


@pytest.mark.usefixtures("unconfigured_structlog")
def test_a_level_set_on_the_lifecycle_logger_is_obeyed(
    lifecycle: Lifecycle, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lifecycle")
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    assert [r for r in caplog.records if r.name.startswith("lifecycle")] == []


@pytest.mark.usefixtures("unconfigured_structlog")
def test_a_field_named_like_a_record_attribute_does_not_break_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="lifecycle")
    EventLog("lifecycle.test").info("odd_fields", name="n", args="a", message="m", reason="two words")
    [record] = caplog.records
    assert record.lifecycle_name == "n" and record.lifecycle_args == "a"  # type: ignore[attr-defined]
    assert record.getMessage() == 'odd_fields name=n args=a message=m reason="two words"'


def test_under_structlog_the_events_follow_its_configuration(lifecycle: Lifecycle, tenant: Tenant) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        lifecycle.create_asset(tenant, new_asset())
    assert [entry["event"] for entry in logs] == ["asset_created"]
    assert logs[0]["log_level"] == "info"


@pytest.mark.usefixtures("unconfigured_structlog")
def test_the_changes_that_move_no_state_are_logged_each_by_name(
    lifecycle: Lifecycle, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lifecycle")
    asset = lifecycle.create_asset(tenant, NewAsset("bare", AssetType.VIDEO))
    declared = lifecycle.declare_file(tenant, asset.asset_id, NewFile("v.mp4", 10, MD5), request_id="d-1")
    lifecycle.declare_file(tenant, asset.asset_id, NewFile("v.mp4", 10, MD5), request_id="d-1")  # a retry
    lifecycle.update_asset(tenant, asset.asset_id, tags=["NEWS"])
    lifecycle.delete_file(tenant, declared.file_id)
    logged = [(r.event, r.name, getattr(r, "version", None)) for r in caplog.records if hasattr(r, "event")]  # type: ignore[attr-defined]
    assert logged[1:] == [
        ("file_declared", "lifecycle.transitions", 2),
        ("asset_updated", "lifecycle.transitions", 3),
        ("file_deleted", "lifecycle.transitions", 4),
    ]
