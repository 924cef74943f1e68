"""The main job (the first Quickstart command) runs end to end, and runs again."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle import demo


def test_the_main_job_runs_twice_with_the_same_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    first = demo.run(path)
    second = demo.run(path)
    assert first == second
    assert sum(first.values()) == demo.TENANTS * demo.ASSETS_PER_TENANT
    assert first["CREATING"] == 0, "every upload left unfinished timed out"
    assert first["DELETING"] == 0, "the recycle bin was emptied"
    assert first["BLOCK"] == demo.ASSETS_PER_TENANT, "one tenant stays frozen"
    printed = capsys.readouterr().out
    assert "unfreeze              BLOCK -> ACTIVED" in printed
    assert "[pre_freeze=DELETING, pre_delete=ACTIVED]" in printed
