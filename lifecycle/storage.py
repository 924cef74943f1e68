"""Storage: what each tenant's assets take, summed by the database (``store.usage``), now or as of a
past moment, and the check that refuses an upload past the free allowance (docs/billing.md)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from lifecycle.actors import Actor
from lifecycle.billing import (
    FREE_PERIOD_TYPES,
    AssetStorage,
    Exemption,
    FileStorage,
    StoragePolicy,
    StorageReport,
    TenantStorage,
    Usage,
    free_until,
)
from lifecycle.context import Context, listing_tenant
from lifecycle.definition import AssetState, AssetType
from lifecycle.errors import InvalidParameter, StorageAllowanceExceeded
from lifecycle.integrity import check_known
from lifecycle.store import usage

MAX_STORAGE_PAGE = 10_000


class Storage:
    """Storage reports, one asset's storage, and the allowance check of uploads."""

    def __init__(self, context: Context) -> None:
        self._ctx = context

    def report(
        self,
        actor: Actor,
        project_id: str | None,
        as_of: datetime | None,
        page_size: int,
        progress: Callable[[int, int], None] | None,
    ) -> StorageReport:
        ctx = self._ctx
        tenant = listing_tenant(actor, project_id, required=False, action="see another tenant's storage")
        if (
            not isinstance(page_size, int)
            or isinstance(page_size, bool)
            or not 1 <= page_size <= MAX_STORAGE_PAGE
        ):
            raise InvalidParameter("page_size", f"must be a whole number from 1 to {MAX_STORAGE_PAGE}")
        if progress is not None and not callable(progress):
            raise InvalidParameter("progress", "must be a function of (done, total)")
        moment = self._moment(as_of)
        started = time.perf_counter()
        project_ids = (
            [tenant] if tenant is not None else ctx.run(partial(usage.tenants, moment=moment), write=False)
        )
        policy = ctx.settings.storage
        reports: list[TenantStorage] = []
        for first in range(0, len(project_ids), page_size):
            page = project_ids[first : first + page_size]
            found = ctx.run(
                partial(usage.buckets, moment=moment, project_ids=page, definition=ctx.definition),
                write=False,
            )
            reports.extend(_tenant_storage(page, found, moment.as_of, policy))
            if progress is not None:
                progress(len(reports), len(project_ids))
        report = StorageReport(moment.as_of, policy.free_bytes, tuple(reports))
        ctx.logs.storage.info(
            "storage_reported",
            tenants=len(report.tenants),
            as_of=moment.as_of.isoformat(),
            used_bytes=report.used_bytes,
            billable_bytes=report.billable_bytes,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return report

    def asset(self, actor: Actor, asset_id: str, as_of: datetime | None) -> AssetStorage:
        """One asset's storage now or as of a past moment: what counts, what is exempt, and whether
        and why it is billed, decided by the same SQL as the reports."""
        ctx = self._ctx
        moment = self._moment(as_of)

        def read(connection: Connection) -> tuple[Any, Any, AssetState | None, datetime | None]:
            record = ctx.visible_asset(connection, actor, asset_id)
            at, file_rows = usage.asset_files(connection, moment, asset_id)
            state = None if at is None else at.state
            since = None
            if state is not None:
                check_known(asset_id, {"asset_state at as_of": state})
                since = usage.state_since(connection, moment, asset_id, state)
            return record, file_rows, state, since

        record, file_rows, state, since = ctx.run(read, write=False)
        policy = ctx.settings.storage
        months = policy.customized_video_free_months
        video = record.customized and record.asset_type in FREE_PERIOD_TYPES and months > 0
        ends = free_until(record.create_time, months) if video else None
        stored = tuple(
            FileStorage(
                file_id=row.file_id,
                file_name=row.file_name,
                asset_file_category=row.asset_file_category,
                state=row.state,
                file_size=row.file_size,
                stored_at=row.stored_at,
                timbre_model=row.timbre_model,
                counted=bool(row.counted),
                exemption=Exemption(row.exemption) if row.counted and row.exemption else None,
            )
            for row in file_rows
        )
        return AssetStorage(
            asset_id=record.asset_id,
            project_id=record.project_id,
            as_of=moment.as_of,
            asset_type=record.asset_type,
            customized=record.customized,
            state=state,
            state_since=since,
            free_until=ends,
            files=stored,
        )

    def _moment(self, as_of: datetime | None) -> usage.Moment:
        """Now (states from the assets), or a past moment (states from the audit trail)."""
        moment = self._ctx.as_of(as_of, "storage is known up to now, not ahead")
        return usage.Moment.at(moment, now=as_of is None, policy=self._ctx.settings.storage)

    def check_allowance(
        self, connection: Connection, project_id: str, asset_id: str, file_id: str | None, now: datetime
    ) -> None:
        """Where the service refuses uploads past the free allowance: ``StorageAllowanceExceeded``
        if what was just written (a new asset's declared files, or a file's accepted upload) takes
        the tenant's chargeable storage over it. The caller's transaction then rolls back whole.

        Checked after the write, by the report's own SQL, with the tenant's checks serialized:
        each sees every upload committed before it, and its own.
        """
        policy = self._ctx.settings.storage
        if not policy.refuse_uploads_over_allowance:
            return
        moment = usage.Moment.at(now, now=True, policy=policy)
        if file_id is None:
            adding = usage.pending_chargeable_bytes(connection, moment, asset_id)
        else:
            _, file_rows = usage.asset_files(connection, moment, asset_id)
            adding = sum(
                row.file_size
                for row in file_rows
                if row.file_id == file_id and row.counted and row.exemption is None
            )
        if adding == 0:
            return
        usage.lock_tenant(connection, project_id)
        chargeable = usage.chargeable_bytes(connection, moment, project_id)
        if file_id is not None:
            chargeable -= adding  # the file just written is in the sum
        if chargeable + adding > policy.free_bytes:
            self._ctx.logs.storage.info(
                "upload_refused",
                project_id=project_id,
                asset_id=asset_id,
                file_id=file_id,
                chargeable_bytes=chargeable,
                adding_bytes=adding,
                free_bytes=policy.free_bytes,
            )
            raise StorageAllowanceExceeded(project_id, chargeable, adding, policy.free_bytes)


def _tenant_storage(
    project_ids: Sequence[str], found: Sequence[usage.Bucket], as_of: datetime, policy: StoragePolicy
) -> list[TenantStorage]:
    """Each tenant's report from its (type, state) sums; a tenant with nothing gets zeros."""
    by_tenant: dict[str, list[usage.Bucket]] = {project_id: [] for project_id in project_ids}
    for bucket in found:
        by_tenant[bucket.project_id].append(bucket)
    reports = []
    for project_id, buckets in by_tenant.items():
        by_type: dict[AssetType, list[int]] = {}
        by_state: dict[AssetState, list[int]] = {}
        timbre = video = 0
        for bucket in buckets:
            part = (bucket.assets, bucket.files, bucket.used_bytes, bucket.timbre_bytes + bucket.video_bytes)
            kind = by_type.setdefault(bucket.asset_type, [0] * 4)
            state = by_state.setdefault(bucket.state, [0] * 4)
            for index, value in enumerate(part):
                kind[index] += value
                state[index] += value
            timbre += bucket.timbre_bytes
            video += bucket.video_bytes
        types = {kind: Usage(*sums) for kind, sums in by_type.items()}
        states = {state: Usage(*sums) for state, sums in by_state.items()}
        total = sum(types.values(), Usage())
        exempt = {Exemption.TIMBRE_MODEL: timbre, Exemption.CUSTOMIZED_VIDEO: video}
        reports.append(TenantStorage(project_id, as_of, policy.free_bytes, total, exempt, types, states))
    return reports
