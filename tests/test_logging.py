"""The library logs through structlog and never configures logging: the application does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_using_the_library_leaves_logging_unconfigured(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import logging, structlog
        from lifecycle import Lifecycle, Tenant, NewAsset, NewFile, AssetType, UploadResult
        with Lifecycle("sqlite:///{tmp_path / "plain.db"}") as engine:
            engine.upgrade()
            tenant = Tenant("t")
            new = NewAsset("a", AssetType.IMAGE, [NewFile("a.jpg", 1, "0" * 32)])
            asset = engine.create_asset(tenant, new)
            engine.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        print(structlog.is_configured(), logging.getLogger().handlers, logging.getLogger().level)
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "False [] 30"
