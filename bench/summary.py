"""The benchmarks' ratios and their targets, in one table: read from the ``--json`` files they wrote.

Each benchmark writes its ratios under ``targets`` (``benchdb.target``): what was measured, on which
backend, the ratio, its target (none: recorded only) and whether it was met. A file without them
is listed as such, and so is a file missing. Exits 0 whatever the figures: the benchmarks measure,
they do not test.

Run: ``.venv/bin/python bench/summary.py RESULT.json ...`` (``make bench`` runs it last).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchdb import verdict


def rows(path: Path) -> list[tuple[str, str, str, str, str, str]]:
    if not path.exists():
        return [(path.stem, "-", "(no results: the benchmark did not write this file)", "", "", "")]
    document: dict[str, Any] = json.loads(path.read_text())
    entries = document.get("targets")
    if entries is None:
        return [(path.stem, "-", "(this file records no ratios)", "", "", "")]
    if not entries:
        return [(path.stem, "-", "(no backend measured)", "", "", "")]
    return [
        (
            path.stem,
            entry["backend"],
            entry["measure"],
            f"{entry['ratio']:.2f}x",
            entry["target"] or "none",
            verdict(entry),
        )
        for entry in entries
    ]


def main(argv: list[str]) -> int:
    table = [("benchmark", "backend", "ratio", "measured", "target", "verdict")]
    for name in argv:
        table.extend(rows(Path(name)))
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    for number, row in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
