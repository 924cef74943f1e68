"""How long the admin script takes to start: ``lifecycle --help`` and ``lifecycle show``, each run
as a whole process, as an operator runs them.

Each command is run ``--runs`` times (after one untimed run of each, which warms the page cache),
alternating, every run a new process of the installed ``lifecycle`` script (the one beside this
Python), its wall time measured from ``subprocess.run`` to its exit; each figure is the median of
its runs. ``show`` reads one asset of a small SQLite database this script creates first (through
the engine, not timed): ``--assets`` assets of one tenant, each with its MAIN file uploaded, so the
asset shown has a few audit rows and files. Its output goes to a pipe (a table, 100 wide).

The targets (issue 16): ``--help`` in at most 0.3 s, ``show`` in at most 0.6 s. This is a
measurement, not a test: it exits 0 whatever the figures, printing MET or MISSED beside each. The
machine's load average is printed with the figures: on a shared machine it moves them.

Run: ``.venv/bin/python bench/cli_start.py [--runs N] [--assets N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lifecycle.actors import Tenant
from lifecycle.definition import AssetType, FileCategory, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile

ADMIN_SCRIPT = Path(sys.executable).parent / "lifecycle"
TENANT = Tenant("tenant-bench")
MD5 = "e10adc3949ba59abbe56e057f20f883e"
TARGETS = {"--help": 0.3, "show": 0.6}


def seed(url: str, count: int) -> str:
    """``count`` assets of one tenant, each uploaded (UNACTIVED); the id of the last."""
    with Lifecycle(url) as engine:
        engine.upgrade()
        asset_id = ""
        for number in range(count):
            new = NewAsset(
                asset_name=f"asset {number}",
                asset_type=AssetType.HUMAN_MODEL,
                files=[
                    NewFile(f"model-{number}.bin", 31032142, MD5, FileCategory.MAIN),
                    NewFile(f"cover-{number}.png", 110321, MD5, FileCategory.COVER),
                ],
            )
            asset = engine.create_asset(TENANT, new)
            engine.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
            asset_id = asset.asset_id
    return asset_id


def run_once(arguments: list[str]) -> float:
    started = time.perf_counter()
    finished = subprocess.run(  # noqa: S603 - our own installed script
        [str(ADMIN_SCRIPT), *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} exited {finished.returncode}: {finished.stderr.decode()}")
    return elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--assets", type=int, default=20, help="assets in the database shown from")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if not ADMIN_SCRIPT.exists():
        raise SystemExit(f"no admin script at {ADMIN_SCRIPT}: install the package (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'cli.db'}"
        asset_id = seed(url, args.assets)
        commands = {
            "--help": ["--help"],
            "show": ["--db", url, "show", asset_id, "--tenant", TENANT.project_id],
        }
        for arguments in commands.values():
            run_once(arguments)  # warm-up: the page cache, the bytecode cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        load_before = os.getloadavg()[0]
        for _ in range(args.runs):
            for name, arguments in commands.items():
                times[name].append(run_once(arguments))
        load_after = os.getloadavg()[0]
    print(
        f"admin script start, {args.runs} runs each (whole processes, median), Python"
        f" {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
        f" load average {load_before:.2f} -> {load_after:.2f}"
    )
    results: dict[str, dict[str, float | str]] = {}
    for name, measured in times.items():
        median, target = statistics.median(measured), TARGETS[name]
        verdict = "MET" if median <= target else "MISSED"
        label = f"lifecycle {name}" if name == "--help" else "lifecycle show ASSET --tenant T"
        print(
            f"  {label:<34} median {median:.3f} s (min {min(measured):.3f}, max {max(measured):.3f})"
            f"  target <= {target:.1f} s  {verdict}"
        )
        results[name] = {
            "median_s": median,
            "min_s": min(measured),
            "max_s": max(measured),
            "target_s": target,
            "verdict": verdict,
        }
    if args.json:
        document = {"python": sys.version.split()[0], "load_average": load_after, "commands": results}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
