"""Tables for people: the counts per state, a sweep's report, an audit trail and storage, as ``rich``
tables.

The builders return tables and print nothing, so any application (the main job, the admin script)
decides where they go. ``console()`` gives a console whose output does not depend on the terminal
it happens to run in when it is piped or redirected.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TextIO, TypeVar

from rich.console import Console, Group, RenderableType
from rich.progress import Progress, TaskID
from rich.table import Table
from rich.text import Text

from lifecycle.billing import AssetStorage, StorageReport, TenantStorage, Usage
from lifecycle.definition import AssetState, AssetType, Event, TimeRule
from lifecycle.integrity import AuditReport
from lifecycle.results import (
    Asset,
    AuditEntry,
    BatchResult,
    Page,
    TenantOperation,
    Transitioned,
    UnfreezeApplication,
    UploadConfirmed,
)
from lifecycle.sweeps import SweepListener, SweepReport

WIDTH = 160
"""The console width when the output is not a terminal (a file, a pipe): stable, and wide enough
for an audit trail's rows to fit on one line each (a reason may wrap)."""


_CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def shown(text: str) -> str:
    """Text from a tenant, safe for a terminal: control characters (escape sequences, newlines)
    are shown as ``\\x1b`` and the like instead of acting on the operator's screen."""
    return text.translate(_CONTROL_CHARACTERS)


def console(file: TextIO | None = None, *, width: int | None = None) -> Console:
    """A console on ``file`` (default: standard output, looked up when written to).

    In a terminal it takes the terminal's width; otherwise ``width`` (default ``WIDTH``) so that
    what is written to a file or a pipe is the same wherever it runs. No markup, emoji codes or
    highlighting: names and reasons are the tenants' text and are shown as they are.
    """
    result = Console(file=file, highlight=False, markup=False, emoji=False)
    if width is not None or not result.is_terminal:
        result.width = width or WIDTH
    return result


def state_counts_table(counts: Mapping[AssetState, int], *, title: str | None = "assets per state") -> Table:
    """One row per state, in the lifecycle's order (a state missing from ``counts`` counts 0),
    with each state's share and the total."""
    total = sum(counts.values())
    table = Table(title=title, title_justify="left")
    table.add_column("state")
    table.add_column("assets", justify="right")
    table.add_column("share", justify="right")
    for state in AssetState:
        count = counts.get(state, 0)
        table.add_row(state.value, f"{count:,}", _share(count, total))
    table.add_section()
    table.add_row("total", f"{total:,}", _share(total, total))
    return table


def sweep_table(report: SweepReport, *, title: str | None = "sweep") -> Table:
    """One row per time rule (what it moved, and what it found due but left alone, and why), then
    the sweep's total; the caption gives the sweep's moment and batches."""
    caption = (
        f"as of {report.as_of:%Y-%m-%d %H:%M:%S} UTC, {report.batches} batch"
        f"{'' if report.batches == 1 else 'es'}" + (", stopped on request" if report.stopped else "")
    )
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("rule")
    table.add_column("fires")
    for name in ("moved", "changed", "busy", "refused", "corrupt"):
        table.add_column(name, justify="right")
    table.add_column("seconds", justify="right")
    for rule in report.rules:
        table.add_row(
            rule.rule,
            rule.event.value,
            f"{rule.moved:,}",
            f"{rule.changed:,}",
            f"{rule.busy:,}",
            f"{rule.refused:,}",
            f"{rule.corrupt:,}",
            f"{rule.seconds:.3f}",
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{report.moved:,}",
        f"{sum(rule.changed for rule in report.rules):,}",
        f"{sum(rule.busy for rule in report.rules):,}",
        f"{sum(rule.refused for rule in report.rules):,}",
        f"{sum(rule.corrupt for rule in report.rules):,}",
        f"{report.seconds:.3f}",
    )
    return table


def skipped_table(report: SweepReport) -> Table:
    """The corrupt rows a sweep passed over, one per asset, with what is wrong with each."""
    table = Table(title="skipped: corrupt rows (repair them; the next sweep retries)", title_justify="left")
    for name in ("asset", "rule", "problem"):
        table.add_column(name)
    for row in report.skipped:
        table.add_row(shown(row.asset_id), row.rule, shown(row.problem))
    return table


def sweep_view(report: SweepReport) -> RenderableType:
    """The sweep's table, and the rows it skipped when there were any."""
    return Group(sweep_table(report), skipped_table(report)) if report.skipped else sweep_table(report)


def audit_view(report: AuditReport) -> RenderableType:
    """``audit verify``: a summary line, then one row per problem found."""
    summary = Text(
        f"{report.assets:,} assets, {report.rows:,} audit rows checked in {report.seconds:.3f} s: "
        + ("clean" if report.clean else f"{len(report.broken_assets):,} assets with problems")
    )
    if report.clean:
        return summary
    table = Table(title="audit problems", title_justify="left")
    for name in ("asset", "problem", "seq", "detail"):
        table.add_column(name)
    for problem in report.problems:
        seq = "" if problem.seq is None else str(problem.seq)
        table.add_row(shown(problem.asset_id), problem.kind.value, seq, shown(problem.detail))
    return Group(summary, table)


def history_table(entries: Sequence[AuditEntry], *, title: str | None = None) -> Table:
    """An audit trail, one row per applied move, in the order given (``history`` gives oldest
    first).

    The default title names the asset when every entry is about the same one (a title given is
    rich markup). "pre-freeze" and "pre-delete" are what the asset remembered after the move; a
    fail type is shown before the reason. Text from callers (actor ids, reasons) is shown as is.
    """
    assets = {entry.asset_id for entry in entries}
    if title is None:
        title = f"audit trail of asset {next(iter(assets))}" if len(assets) == 1 else "audit trail"
    table = Table(title=title, title_justify="left")
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("from → to", no_wrap=True)
    table.add_column("actor", no_wrap=True)
    table.add_column("pre-freeze", no_wrap=True)
    table.add_column("pre-delete", no_wrap=True)
    table.add_column("reason")
    for entry in entries:
        source = entry.from_state.value if entry.from_state is not None else "-"
        reason = ": ".join(
            part for part in (entry.fail_type.value if entry.fail_type else None, entry.reason) if part
        )
        table.add_row(
            str(entry.seq),
            f"{entry.occurred_at:%Y-%m-%d %H:%M:%S}",
            entry.event.value,
            f"{source} → {entry.to_state.value}",
            shown(f"{entry.actor_kind.value}:{entry.actor_id}"),
            entry.pre_freeze_state.value if entry.pre_freeze_state is not None else "",
            entry.pre_delete_state.value if entry.pre_delete_state is not None else "",
            shown(reason),
        )
    return table


def _share(count: int, total: int) -> str:
    return f"{count / total:.1%}" if total else "-"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _memory(pre_freeze: AssetState | None, pre_delete: AssetState | None) -> str:
    remembered = [("pre-freeze", pre_freeze), ("pre-delete", pre_delete)]
    return ", ".join(f"{name} {state.value}" for name, state in remembered if state is not None)


def asset_view(asset: Asset) -> Group:
    """One asset: its fields, what it remembers, its clocks, then its files."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    block = f"{asset.block_scope.value} {asset.block_reason_code or ''}" if asset.block_scope else None
    plan = (
        f"{asset.planned_operation.value} at {_when(asset.planned_operation_time)}"
        if asset.planned_operation is not None
        else None
    )
    rows: list[tuple[str, str | None]] = [
        ("asset_id", asset.asset_id),
        ("project_id", asset.project_id),
        ("app_user_id", asset.app_user_id),
        ("name", asset.asset_name),
        ("description", asset.asset_description or None),
        ("type", asset.asset_type.value),
        ("state", f"{asset.asset_state.value} (version {asset.version})"),
        ("remembers", _memory(asset.pre_freeze_state, asset.pre_delete_state) or None),
        ("fail_type", asset.fail_type.value if asset.fail_type else None),
        ("reason", asset.reason),
        ("block", block.strip() if block else None),
        ("tags", ", ".join(asset.tags) or None),
        ("created", _when(asset.create_time)),
        ("updated", _when(asset.update_time)),
        ("upload deadline", _when(asset.upload_deadline) if asset.upload_deadline else None),
        ("in the bin since", _when(asset.retention_started_at) if asset.retention_started_at else None),
        ("planned", plan),
    ]
    for name, value in rows:
        if value is not None:
            fields.add_row(name, shown(value))
    files = Table(title="files", title_justify="left")
    for column in ("file_id", "category", "name", "size", "md5", "state", "reason"):
        files.add_column(column, justify="right" if column == "size" else "left")
    for f in asset.files:
        files.add_row(
            f.file_id,
            f.asset_file_category.value,
            shown(f.file_name),
            f"{f.file_size:,}",
            f.file_md5,
            f.state.value,
            shown(f.reason or ""),
        )
    return Group(fields, files)


def assets_table(page: Page[Asset]) -> Table:
    """A page of assets, with where the page sits in the whole."""
    if page.items:
        caption = f"{page.offset + 1}-{page.offset + len(page.items)} of {page.total}"
    else:
        caption = f"none of {page.total}" + (f" past offset {page.offset}" if page.offset else "")
    table = Table(caption=caption, caption_justify="left")
    for column in ("asset_id", "name", "type", "state", "version", "updated"):
        table.add_column(column)
    for asset in page.items:
        table.add_row(
            asset.asset_id,
            shown(asset.asset_name),
            asset.asset_type.value,
            asset.asset_state.value,
            str(asset.version),
            _when(asset.update_time),
        )
    return table


def transition_line(transition: Transitioned) -> str:
    """``asset …: ACTIVED -> BLOCK (freeze, version 3; remembers pre-freeze ACTIVED)``."""
    memory = _memory(transition.pre_freeze_state, transition.pre_delete_state)
    replayed = "; a retry: already done by this request" if transition.replayed else ""
    return shown(
        f"asset {transition.asset_id}: {transition.from_state.value} -> {transition.to_state.value}"
        f" ({transition.event.value}, version {transition.version}"
        + (f"; remembers {memory}" if memory else "")
        + f"{replayed})"
    )


def upload_view(confirmed: UploadConfirmed) -> Group:
    """The file as the upload left it, and the asset's move where its MAIN file made one."""
    uploaded = confirmed.file
    line = f"file {uploaded.file_id} ({uploaded.asset_file_category.value}) is {uploaded.state.value}"
    if confirmed.transition is None:
        return Group(line)
    return Group(line, transition_line(confirmed.transition))


def tenant_operation_view(operation: TenantOperation) -> Group:
    """What a tenant-wide freeze or unfreeze moved, and what it left alone and why."""
    verb = "frozen" if operation.event is Event.FREEZE else "unfrozen"
    by_target = Counter(t.to_state.value for t in operation.moved)
    targets = ", ".join(f"{count} to {state}" for state, count in sorted(by_target.items()))
    summary = f"tenant {operation.project_id}: {len(operation.moved)} assets {verb}" + (
        f" ({targets})" if targets else ""
    )
    skipped = Table(title=f"left alone: {len(operation.skipped)}", title_justify="left")
    skipped.add_column("asset_id")
    skipped.add_column("why")
    for asset_id, why in operation.skipped:
        skipped.add_row(asset_id, shown(why))
    return Group(shown(summary), skipped) if operation.skipped else Group(shown(summary))


def applications_table(applications: Sequence[UnfreezeApplication]) -> Table:
    table = Table()
    for column in ("application_id", "asset_id", "project_id", "state", "applied", "decided", "reason"):
        table.add_column(column)
    for found in applications:
        decided = f"{found.decided_by} {_when(found.decided_at)}" if found.decided_by else "-"
        reason = found.decision_reason or found.reason or ""
        table.add_row(
            found.application_id,
            found.asset_id,
            found.project_id,
            found.state.value,
            f"{shown(found.applied_by)} {_when(found.applied_at)}",
            shown(decided),
            shown(reason),
        )
    return table


def operator_message(result: BatchResult) -> str | None:
    """A failed asset's error as the operator reads it: the whole message, not the client's."""
    return result.error.message if result.error is not None else result.error_msg


def batch_table(results: Sequence[BatchResult]) -> Table:
    """Each asset's outcome: SUCCESS with its move, or FAILED with the error."""
    failed = sum(not result.succeeded for result in results)
    table = Table(caption=f"{len(results) - failed} succeeded, {failed} failed", caption_justify="left")
    for column in ("asset_id", "status", "outcome"):
        table.add_column(column)
    for result in results:
        if result.transition is not None:
            outcome = f"{result.transition.from_state.value} -> {result.transition.to_state.value}"
        else:
            outcome = f"{result.error_code}: {operator_message(result)}"
        table.add_row(shown(result.asset_id), result.status, shown(outcome))
    return table


def due_table(counts: Mapping[str, int]) -> Table:
    """What a sweep would move, per time rule."""
    table = Table(caption=f"{sum(counts.values())} due in all", caption_justify="left")
    table.add_column("rule")
    table.add_column("due", justify="right")
    for rule, count in counts.items():
        table.add_row(rule, f"{count:,}")
    return table


# Storage ----------------------------------------------------------------------------------------

_Member = TypeVar("_Member", bound=enum.Enum)
_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size(count: int) -> str:
    """Bytes for people, in binary units: ``300 B``, ``1.50 KiB``, ``5.00 GiB`` (exact bytes are
    in the JSON)."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in _BINARY_UNITS:
        value /= 1024
        if round(value, 2) < 1024 or unit == _BINARY_UNITS[-1]:
            break
    return f"{value:.2f} {unit}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def tenants_storage_table(report: StorageReport) -> Table:
    """Every tenant's storage, one row each in project order, then the totals."""
    caption = (
        f"as of {report.as_of:%Y-%m-%d %H:%M:%S} UTC; free allowance {size(report.free_bytes)}"
        f" ({report.free_bytes:,} bytes) per tenant"
    )
    table = Table(title="storage per tenant", title_justify="left", caption=caption, caption_justify="left")
    table.add_column("project")
    for column in ("assets", "used", "exempt", "chargeable", "free allowance", "billable"):
        table.add_column(column, justify="right")
    table.add_column("over?")
    for tenant in report.tenants:
        table.add_row(
            shown(tenant.project_id),
            f"{tenant.total.assets:,}",
            size(tenant.used_bytes),
            size(tenant.total.exempt_bytes),
            size(tenant.chargeable_bytes),
            size(tenant.free_bytes),
            size(tenant.billable_bytes),
            _yes(tenant.over_allowance),
        )
    table.add_section()
    over = sum(tenant.over_allowance for tenant in report.tenants)
    count = len(report.tenants)
    table.add_row(
        f"total: {count:,} tenant{'' if count == 1 else 's'}",
        f"{sum(tenant.total.assets for tenant in report.tenants):,}",
        size(report.used_bytes),
        size(sum(tenant.total.exempt_bytes for tenant in report.tenants)),
        size(report.chargeable_bytes),
        "",
        size(report.billable_bytes),
        f"{over:,} over",
    )
    return table


def _usage_table(title: str, rows: Sequence[tuple[str, Usage]], total: Usage) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.rsplit(maxsplit=1)[-1])
    for column in ("assets", "files", "used", "exempt", "chargeable"):
        table.add_column(column, justify="right")
    for name, part in [*rows, ("total", total)]:
        if name == "total":
            table.add_section()
        table.add_row(
            name,
            f"{part.assets:,}",
            f"{part.files:,}",
            size(part.used_bytes),
            size(part.exempt_bytes),
            size(part.chargeable_bytes),
        )
    return table


def _present(members: type[_Member], usage: Mapping[_Member, Usage]) -> list[tuple[_Member, Usage]]:
    """The non-empty parts of a breakdown, in the enum's order."""
    return [(member, usage[member]) for member in members if member in usage and usage[member].assets]


def tenant_storage_view(tenant: TenantStorage) -> Group:
    """One tenant's storage: a summary (used, exempt, chargeable, the free allowance, billable),
    then its usage by asset type and by state (the types and states it has assets in)."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    exempt_parts = ", ".join(f"{rule.value} {size(n)}" for rule, n in tenant.exempt.items() if n)
    if tenant.over_allowance:
        verdict = f"{size(tenant.billable_bytes)} ({tenant.billable_bytes:,} bytes): over its free allowance"
    else:
        verdict = "0 B: within its free allowance"
    rows = [
        ("project_id", shown(tenant.project_id)),
        ("as of", f"{tenant.as_of:%Y-%m-%d %H:%M:%S} UTC"),
        ("assets", f"{tenant.total.assets:,} ({tenant.total.files:,} files stored)"),
        ("used", f"{size(tenant.used_bytes)} ({tenant.used_bytes:,} bytes)"),
        (
            "exempt",
            f"{size(tenant.total.exempt_bytes)} ({tenant.total.exempt_bytes:,} bytes)"
            + (f": {exempt_parts}" if exempt_parts else ""),
        ),
        ("chargeable", f"{size(tenant.chargeable_bytes)} ({tenant.chargeable_bytes:,} bytes)"),
        (
            "free allowance",
            f"{size(tenant.free_bytes)} ({tenant.free_bytes:,} bytes), {size(tenant.free_bytes_left)} left",
        ),
        ("billable", verdict),
    ]
    for name, value in rows:
        fields.add_row(name, value)
    by_type = [(kind.value, part) for kind, part in _present(AssetType, tenant.by_type)]
    by_state = [(state.value, part) for state, part in _present(AssetState, tenant.by_state)]
    parts: list[RenderableType] = [fields]
    if by_type:
        parts.append(_usage_table("by asset type", by_type, tenant.total))
    if by_state:
        parts.append(_usage_table("by state", by_state, tenant.total))
    return Group(*parts)


def asset_storage_view(found: AssetStorage) -> Group:
    """Whether and why an asset's storage is billed: the verdict, the reasons (the deciding one
    first), then each file's part."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    if found.state is None:
        state = "did not exist yet"
    else:
        since = "" if found.state_since is None else f" since {_when(found.state_since)} UTC"
        state = found.state.value + since
    if found.billed:
        verdict = (
            f"BILLED: {size(found.chargeable_bytes)} ({found.chargeable_bytes:,} bytes) chargeable,"
            " counted toward the tenant's storage and billed beyond its free allowance"
        )
    else:
        verdict = "NOT BILLED: nothing chargeable"
    rows: list[tuple[str, str | None]] = [
        ("asset_id", shown(found.asset_id)),
        ("project_id", shown(found.project_id)),
        ("type", found.asset_type.value + (", customized" if found.customized else "")),
        ("as of", f"{found.as_of:%Y-%m-%d %H:%M:%S} UTC"),
        ("state then", state),
        ("free until", None if found.free_until is None else f"{_when(found.free_until)} UTC"),
        ("used", f"{size(found.used_bytes)} ({found.used_bytes:,} bytes)"),
        ("exempt", f"{size(found.exempt_bytes)} ({found.exempt_bytes:,} bytes)"),
        ("verdict", verdict),
    ]
    for name, value in rows:
        if value is not None:
            fields.add_row(name, value)
    reasons = Table(title="why", title_justify="left")
    reasons.add_column("code", no_wrap=True)
    reasons.add_column("reason")
    for code, text in found.reasons:
        reasons.add_row(code.value, shown(text))
    files = Table(title="files", title_justify="left")
    files.add_column("file_id", no_wrap=True, min_width=36)
    for column in ("category", "name", "state", "size", "stored (UTC)", "timbre", "counted"):
        files.add_column(column, justify="right" if column == "size" else "left")
    files.add_column("exemption", overflow="fold")
    files.add_column("chargeable", justify="right")
    for f in found.files:
        files.add_row(
            f.file_id,
            f.asset_file_category.value,
            shown(f.file_name),
            f.state.value,
            size(f.file_size),
            _when(f.stored_at),
            _yes(f.timbre_model),
            _yes(f.counted),
            "-" if f.exemption is None else f.exemption.value,
            size(f.chargeable_bytes),
        )
    return Group(fields, reasons, files)


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
