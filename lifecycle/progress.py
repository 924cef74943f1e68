"""A sweep's progress bar (``rich.progress``), for the admin script's ``sweep`` and the demo.

Apart from ``lifecycle.render``, so that printing an asset imports neither the sweeps nor rich's
progress bars."""

from __future__ import annotations

from collections.abc import Sequence

from rich.progress import Progress, TaskID

from lifecycle.definition import TimeRule
from lifecycle.sweeps import SweepListener, SweepReport


class SweepProgress(SweepListener):
    """Drives a progress bar's task from a sweep's batches.

    The task's total is an estimate made before the sweep (``due_counts``: an asset due under two
    rules counts twice); when the sweep finishes the bar shows what it actually moved.
    """

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def found(self, rule: TimeRule, asset_ids: Sequence[str]) -> None:
        self._progress.update(self._task, description=f"sweep: {rule.name} ({len(asset_ids)} due)")

    def written(self, rule: TimeRule, moved: int) -> None:
        self._progress.advance(self._task, moved)

    def finished(self, report: SweepReport) -> None:
        self._progress.update(self._task, description="sweep", total=report.moved, completed=report.moved)
