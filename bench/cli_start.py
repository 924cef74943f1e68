"""How long the admin script takes to start: ``lifecycle --help`` and ``lifecycle show``, each run
as a whole process, as an operator runs them.

Each command is run ``--runs`` times (after one untimed run of each, which warms the page cache),
alternating, every run a new process of the installed ``lifecycle`` script (the one beside this
Python), its wall time measured from ``subprocess.run`` to its exit; each figure is the median of
its runs. ``show`` reads one asset of a small SQLite database this script creates first (through
the engine, not timed): ``--assets`` assets of one tenant, each with its MAIN file uploaded, so the
asset shown has a few audit rows and files. Its output goes to a pipe (a table, 100 wide). Each
run's CPU time (user and system, from the child's resource usage) is reported beside the wall
time: on a shared machine the wall time moves with the load, the CPU time much less.

``--script PATH`` times another install's ``lifecycle`` (an older checkout's virtualenv, say) on
the same database, alternating with this one's run for run, for a before/after under the same
load.

The targets (issue 16): ``--help`` in at most 0.3 s, ``show`` in at most 0.6 s. This is a
measurement, not a test: it exits 0 whatever the figures, printing MET or MISSED beside each. The
machine's load average is printed with the figures: on a shared machine it moves them.

Run: ``.venv/bin/python bench/cli_start.py [--runs N] [--assets N] [--script PATH] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import target

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


def run_once(script: Path, arguments: list[str]) -> tuple[float, float]:
    """One run's wall time and CPU time (user and system), in seconds."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    finished = subprocess.run(  # noqa: S603 - an installed admin script
        [str(script), *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} exited {finished.returncode}: {finished.stderr.decode()}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return elapsed, cpu


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--assets", type=int, default=20, help="assets in the database shown from")
    parser.add_argument("--script", type=Path, help="another install's lifecycle script, timed alongside")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    scripts = {"this install": ADMIN_SCRIPT, **({str(args.script): args.script} if args.script else {})}
    for script in scripts.values():
        if not script.exists():
            raise SystemExit(f"no admin script at {script}: install the package (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'cli.db'}"
        asset_id = seed(url, args.assets)
        commands = {
            "--help": ["--help"],
            "show": ["--db", url, "show", asset_id, "--tenant", TENANT.project_id],
        }
        runs: dict[tuple[str, str], list[tuple[float, float]]] = {
            (script, command): [] for script in scripts for command in commands
        }
        for script, command in runs:
            run_once(scripts[script], commands[command])  # warm-up: the page cache, the bytecode cache
        load_before = os.getloadavg()[0]
        for _ in range(args.runs):
            for (script, command), measured in runs.items():
                measured.append(run_once(scripts[script], commands[command]))
        load_after = os.getloadavg()[0]
    print(
        f"admin script start, {args.runs} runs each (whole processes, median), Python"
        f" {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
        f" load average {load_before:.2f} -> {load_after:.2f}"
    )
    results: dict[str, dict[str, dict[str, float | str]]] = {script: {} for script in scripts}
    for (script, command), measured in runs.items():
        if len(scripts) > 1 and not results[script]:
            print(f"  {script}:")
        wall = [elapsed for elapsed, _ in measured]
        median, limit = statistics.median(wall), TARGETS[command]
        cpu = statistics.median(cpu for _, cpu in measured)
        verdict = "MET" if median <= limit else "MISSED"
        label = "lifecycle --help" if command == "--help" else "lifecycle show ASSET --tenant T"
        print(
            f"  {label:<32} median {median:.3f} s (min {min(wall):.3f}, max {max(wall):.3f};"
            f" CPU {cpu:.3f} s)  target <= {limit:.1f} s  {verdict}"
        )
        results[script][command] = {
            "median_s": median,
            "min_s": min(wall),
            "max_s": max(wall),
            "cpu_median_s": cpu,
            "target_s": limit,
            "verdict": verdict,
        }
    if args.json:
        document = {
            "python": sys.version.split()[0],
            "load_average": load_after,
            "scripts": results,
            "targets": [
                target(
                    f"lifecycle {command}: median / {TARGETS[command]} s",
                    "sqlite",
                    float(figures["median_s"]) / TARGETS[command],
                    at_most=1.0,
                )
                for command, figures in results["this install"].items()
            ],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
