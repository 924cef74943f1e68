"""Verifying the audit trail: every asset's hash chain recomputed and its history replayed through
the table (``lifecycle.integrity``), page by page."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from lifecycle.actors import Platform, System
from lifecycle.context import Context
from lifecycle.definition import Role
from lifecycle.errors import InvalidParameter, PermissionDenied
from lifecycle.inputs import check_actor, check_id
from lifecycle.integrity import AuditProblem, AuditReport, HistoryChecker, ProblemKind

MAX_VERIFY_PAGE = 100_000


class Auditor:
    """``verify_audit``: reads a page of assets, their audit rows and files from one snapshot at a
    time, never the whole table."""

    def __init__(self, context: Context) -> None:
        self._ctx = context
        self._repo = context.repository

    def verify(
        self,
        actor: Platform | System,
        project_id: str | None,
        page_size: int,
        progress: Callable[[int, int], None] | None,
    ) -> AuditReport:
        check_actor(actor)
        if actor.role is Role.TENANT:
            allowed = [Role.PLATFORM.value, Role.SYSTEM.value]
            raise PermissionDenied("verify the audit trail", actor.role.value, allowed)
        tenant = None if project_id is None else check_id(project_id, "project_id")
        if (
            not isinstance(page_size, int)
            or isinstance(page_size, bool)
            or not 1 <= page_size <= MAX_VERIFY_PAGE
        ):
            raise InvalidParameter("page_size", f"must be a whole number from 1 to {MAX_VERIFY_PAGE}")
        if progress is not None and not callable(progress):
            raise InvalidParameter("progress", "must be a function of (checked, total)")
        ctx, repo = self._ctx, self._repo
        started = time.perf_counter()
        checker = HistoryChecker(ctx.definition)
        problems: list[AuditProblem] = []
        checked = rows = 0
        total = 0 if progress is None else ctx.run(partial(repo.count_assets, project_id=tenant), write=False)
        after = ""
        while True:
            page = ctx.run(
                partial(repo.histories, after=after, limit=page_size, project_id=tenant), write=False
            )
            for asset, history, asset_files in page:
                problems.extend(checker.check(asset, history, asset_files))
                rows += len(history)
            checked += len(page)
            if progress is not None:
                progress(checked, max(total, checked))
            if len(page) < page_size:
                break
            after = page[-1][0]["asset_id"]
            # Let this page go before the next is read: the peak is one page, not two.
            del page
        orphans = ctx.run(partial(repo.orphans, project_id=tenant), write=False)
        for table, asset_ids in orphans.items():
            problems.extend(
                AuditProblem(
                    asset_id, ProblemKind.ORPHAN_ROWS, f"{table} has rows of this asset, which does not exist"
                )
                for asset_id in asset_ids
            )
        report = AuditReport(checked, rows, tuple(problems), time.perf_counter() - started)
        ctx.logs.audit.info(
            "audit_verified",
            clean=report.clean,
            assets=report.assets,
            rows=report.rows,
            problems=len(report.problems),
            broken_assets=len(report.broken_assets),
            duration_ms=round(report.seconds * 1000, 3),
        )
        return report
