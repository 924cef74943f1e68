"""Tables for people: the counts per state, a sweep's report, an audit trail and storage, as ``rich``
renderables.

The builders return renderables and print nothing, so any application (the main job, the admin
script) decides where they go. ``console()`` gives a console whose output does not depend on the
terminal it happens to run in when it is piped or redirected.

Every table fits the width it is printed in without cutting a value (``FittedTable``): an id, an
event, a state or a figure is shown whole, a reason wraps at its spaces, and where the columns do
not fit side by side some of them move below each row, each named by its header.
"""

from __future__ import annotations

import enum
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TextIO, TypeVar

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from lifecycle.billing import AssetStorage, StorageReport, TenantStorage, Usage, size
from lifecycle.definition import AssetState, AssetType, Event
from lifecycle.errors import InvalidParameter
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

if TYPE_CHECKING:
    # Only the commands that print them import these (show does not need the feed or the sweeps).
    from lifecycle.feed import ConsumerState, FeedEvent
    from lifecycle.integrity import AuditReport
    from lifecycle.sweeps import SweepReport

WIDTH = 100
"""The console width when the output is not a terminal (a file, a pipe) and ``COLUMNS`` is not
set: stable wherever it runs, and as wide as a terminal commonly is, so what a file holds reads
as the terminal showed it."""


_CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def shown(text: str) -> str:
    """Text from a tenant, safe for a terminal: control characters (escape sequences, newlines)
    are shown as ``\\x1b`` and the like instead of acting on the operator's screen."""
    return text.translate(_CONTROL_CHARACTERS)


def console(file: TextIO | None = None, *, width: int | None = None) -> Console:
    """A console on ``file`` (default: standard output, looked up when written to).

    ``width`` where given; else the terminal's width in a terminal, ``COLUMNS`` where it is set,
    and ``WIDTH`` otherwise, so that what is written to a file or a pipe is the same wherever it
    runs. No markup, emoji codes or highlighting: names and reasons are the tenants' text and are
    shown as they are.
    """
    result = Console(file=file, highlight=False, markup=False, emoji=False)
    if width is not None:
        result.width = width
    elif not result.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        result.width = WIDTH
    return result


# Tables that fit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a ``FittedTable``."""

    header: str
    justify: JustifyMethod = "left"
    wraps: bool = False
    """Free text (a reason, a time, a move): may wrap at its spaces. Other values (ids, events,
    states, figures) are never broken."""
    key: bool = True
    """Stays on the row's line when the table is folded; the other columns go below the row."""


_GAP = 2
"""Spaces between the columns of a folded table."""
_INDENT = 4
"""Where the columns moved below a row start, unless the row's first column is narrower (a
sequence number, say): then under its second column."""
_PAIR_GAP = 3
"""Spaces between two ``header: value`` pairs on one line."""


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


class FittedTable:
    """A table that fits the width it is printed in, never cutting a value.

    Boxed, as ``rich`` draws tables, where its columns fit side by side (free-text columns wrapped
    at their spaces where needed); otherwise *folded*: the key columns aligned under their headers,
    a line per row, and each other column below the row as ``header: value`` (empty values left
    out). The title is printed above and the caption below, both wrapped to the width.
    """

    def __init__(self, *columns: Column, title: str | None = None, caption: str | None = None) -> None:
        self.columns = columns
        self.title = title
        self.caption = caption
        self.rows: list[tuple[str, ...]] = []
        self._sections: set[int] = set()
        """Indexes of the rows a section starts at (a rule is drawn above them)."""

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise InvalidParameter("cells", f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(cells)

    def add_section(self) -> None:
        """The next row starts a section (the totals, say)."""
        self._sections.add(len(self.rows))

    # Widths ---------------------------------------------------------------------------------

    def _natural(self, index: int) -> int:
        column = self.columns[index]
        return max([cell_len(column.header), *(cell_len(row[index]) for row in self.rows)])

    def _minimum(self, index: int) -> int:
        column = self.columns[index]
        values = [row[index] for row in self.rows]
        needed = [_longest_word(value) if column.wraps else cell_len(value) for value in values]
        return max([_longest_word(column.header), *needed])

    def _boxed_widths(self, width: int) -> list[int] | None:
        """Each column's width in the box, or None where even wrapped they do not fit."""
        room = width - (3 * len(self.columns) + 1)  # the box's lines, and a space each side of a cell
        widths = [self._natural(i) for i in range(len(self.columns))]
        minimum = [self._minimum(i) for i in range(len(self.columns))]
        if sum(minimum) > room:
            return None
        excess = sum(widths) - room
        while excess > 0:  # narrow the widest column that can still wrap, one cell at a time
            widest = max((i for i in range(len(widths)) if widths[i] > minimum[i]), key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
        return widths

    def _keys(self, width: int) -> list[int]:
        """The columns a folded row shows on its line: all of them where they fit side by side,
        else the key ones (as many as fit, at least the first)."""
        every = list(range(len(self.columns)))

        def fits(chosen: list[int]) -> bool:
            return sum(self._natural(i) for i in chosen) + _GAP * (len(chosen) - 1) <= width

        if fits(every):
            return every
        keys = [i for i in every if self.columns[i].key] or every[:1]
        while len(keys) > 1 and not fits(keys):
            keys.pop()
        return keys

    # Rendering ------------------------------------------------------------------------------

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        boxed = sum(self._natural(i) for i in range(len(self.columns))) + 3 * len(self.columns) + 1
        return Measurement(min(boxed, options.max_width), boxed)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if self.title:
            yield Text(self.title, style="table.title")
        widths = self._boxed_widths(width)
        if widths is not None:
            yield self._boxed(widths)
        else:
            yield from self._folded(console, width)
        if self.caption:
            yield Text(self.caption, style="table.caption")

    def _boxed(self, widths: list[int]) -> Table:
        table = Table()
        for column, column_width in zip(self.columns, widths, strict=True):
            table.add_column(column.header, justify=column.justify, width=column_width, overflow="fold")
        for index, row in enumerate(self.rows):
            if index in self._sections and index:
                table.add_section()
            table.add_row(*row)
        return table

    def _folded(self, console: Console, width: int) -> Iterable[Text]:
        keys = self._keys(width)
        key_widths = {i: self._natural(i) for i in keys}
        line_width = sum(key_widths.values()) + _GAP * (len(keys) - 1)

        def line(cells: Sequence[str], style: str = "") -> Text:
            padded = []
            for i, cell in zip(keys, cells, strict=True):
                column, room = self.columns[i], key_widths[i]
                gap = " " * (room - cell_len(cell))
                padded.append(gap + cell if column.justify == "right" else cell + gap)
            return Text((" " * _GAP).join(padded).rstrip(), style=style)

        first = key_widths[keys[0]] + _GAP
        indent = first if len(keys) > 1 and first <= 2 * _INDENT else _INDENT
        yield line([self.columns[i].header for i in keys], style="table.header")
        yield Text("─" * line_width)
        for index, row in enumerate(self.rows):
            if index in self._sections and index:
                yield Text("─" * line_width)
            yield line([row[i] for i in keys])
            pairs = [
                f"{column.header}: {row[i]}"
                for i, column in enumerate(self.columns)
                if i not in keys and row[i]
            ]
            yield from _packed(console, pairs, width, indent)

    def __repr__(self) -> str:
        headers = ", ".join(column.header for column in self.columns)
        return f"<FittedTable {self.title or ''}({headers}): {len(self.rows)} rows>"


def _packed(console: Console, pairs: Sequence[str], width: int, indent: int) -> Iterable[Text]:
    """``pairs`` on lines indented by ``indent``, as many to a line as fit; a pair too long for a
    line of its own wraps at its spaces, its continuation indented further."""
    room = max(width - indent, 1)
    current = ""
    for pair in pairs:
        if current and cell_len(current) + _PAIR_GAP + cell_len(pair) <= room:
            current += " " * _PAIR_GAP + pair
            continue
        if current:
            yield Text(" " * indent + current)
            current = ""
        if cell_len(pair) <= room:
            current = pair
            continue
        first, *rest = Text(pair).wrap(console, room)
        yield Text(" " * indent + first.plain.rstrip())
        for more in Text(" ".join(part.plain.strip() for part in rest)).wrap(console, max(room - 2, 1)):
            yield Text(" " * (indent + 2) + more.plain.rstrip())
    if current:
        yield Text(" " * indent + current)


def state_counts_table(
    counts: Mapping[AssetState, int], *, title: str | None = "assets per state"
) -> FittedTable:
    """One row per state, in the lifecycle's order (a state missing from ``counts`` counts 0),
    with each state's share and the total."""
    total = sum(counts.values())
    table = FittedTable(Column("state"), Column("assets", "right"), Column("share", "right"), title=title)
    for state in AssetState:
        count = counts.get(state, 0)
        table.add_row(state.value, f"{count:,}", _share(count, total))
    table.add_section()
    table.add_row("total", f"{total:,}", _share(total, total))
    return table


def sweep_table(report: SweepReport, *, title: str | None = "sweep") -> FittedTable:
    """One row per time rule (the event it fires, what it moved, what it found due but left
    alone, and why), then the sweep's total; the caption gives the sweep's moment and batches."""
    caption = (
        f"as of {report.as_of:%Y-%m-%d %H:%M:%S} UTC, {report.batches} batch"
        f"{'' if report.batches == 1 else 'es'}" + (", stopped on request" if report.stopped else "")
    )
    table = FittedTable(
        Column("rule → event", wraps=True),
        *(Column(name, "right") for name in ("moved", "changed", "busy", "refused", "corrupt", "seconds")),
        title=title,
        caption=caption,
    )
    for rule in report.rules:
        table.add_row(
            f"{rule.rule} → {rule.event.value}",
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
        f"{report.moved:,}",
        f"{sum(rule.changed for rule in report.rules):,}",
        f"{sum(rule.busy for rule in report.rules):,}",
        f"{sum(rule.refused for rule in report.rules):,}",
        f"{sum(rule.corrupt for rule in report.rules):,}",
        f"{report.seconds:.3f}",
    )
    return table


def skipped_table(report: SweepReport) -> FittedTable:
    """The corrupt rows a sweep passed over, one per asset, with what is wrong with each."""
    table = FittedTable(
        Column("asset"),
        Column("rule"),
        Column("problem", wraps=True, key=False),
        title="skipped: corrupt rows (repair them; the next sweep retries)",
    )
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
    table = FittedTable(
        Column("asset"),
        Column("problem"),
        Column("seq", "right"),
        Column("detail", wraps=True, key=False),
        title="audit problems",
    )
    for problem in report.problems:
        seq = "" if problem.seq is None else str(problem.seq)
        table.add_row(shown(problem.asset_id), problem.kind.value, seq, shown(problem.detail))
    return Group(summary, table)


_SAME_STATE = {
    Event.SUBMIT_FOR_REVIEW: "the MAIN file is uploaded and waits for the platform's review: the asset"
    " stays in CREATING until the verdict",
    Event.CANCEL_UPLOAD: "the MAIN file's upload was cancelled: the asset stays in CREATING and may be"
    " uploaded again while its upload window lasts",
    Event.FREEZE: "frozen with its whole tenant already, the asset is now frozen on its own as well:"
    " the tenant-wide unfreeze leaves it frozen",
    Event.UNFREEZE: "deleted while frozen, the asset is unfrozen and stays in the recycle bin; its"
    " pre-delete state becomes the state the freeze found it in, where a restore returns it",
    Event.DECLARE_FILE: "a file was declared after the asset's creation; no state moves",
    Event.DELETE_FILE: "one of the asset's files was deleted; no state moves",
    Event.UPDATE_METADATA: "the asset's name, description or tags were updated; no state moves",
}
"""What a move that leaves an asset in its state does, for the notes under an audit trail."""


def _same_state_notes(entries: Sequence[AuditEntry]) -> list[str]:
    """One note per kind of move in ``entries`` that left its asset in the same state."""
    seqs: dict[tuple[Event, AssetState], list[int]] = {}
    for entry in entries:
        if entry.from_state is entry.to_state and entry.event in _SAME_STATE:
            seqs.setdefault((entry.event, entry.to_state), []).append(entry.seq)
    return [
        f"seq {', '.join(map(str, numbers))}: {event.value} {state.value} → {state.value}:"
        f" {_SAME_STATE[event]}"
        for (event, state), numbers in seqs.items()
    ]


def history_table(entries: Sequence[AuditEntry], *, title: str | None = None) -> FittedTable:
    """An audit trail, one row per applied move, in the order given (``history`` gives oldest
    first).

    The default title names the asset when every entry is about the same one. "pre-freeze" and
    "pre-delete" are what the asset remembered after the move; a fail type is shown before the
    reason. Text from callers (actor ids, reasons) is shown as is. A move that left the asset in
    its state (``unfreeze DELETING → DELETING``) is explained under the table.
    """
    assets = {entry.asset_id for entry in entries}
    if title is None:
        title = f"audit trail of asset {next(iter(assets))}" if len(assets) == 1 else "audit trail"
    notes = _same_state_notes(entries)
    table = FittedTable(
        Column("seq", "right"),
        Column("time (UTC)", wraps=True),
        Column("event"),
        Column("from → to", wraps=True),
        Column("actor"),
        Column("pre-freeze", key=False),
        Column("pre-delete", key=False),
        Column("reason", wraps=True, key=False),
        title=title,
        caption="\n".join(notes) or None,
    )
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
    files = FittedTable(
        Column("file_id"),
        Column("category"),
        Column("name"),
        Column("size", "right"),
        Column("md5", key=False),
        Column("state"),
        Column("reason", wraps=True, key=False),
        title="files",
    )
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


def assets_table(page: Page[Asset]) -> FittedTable:
    """A page of assets, with where the page sits in the whole."""
    if page.items:
        caption = f"{page.offset + 1}-{page.offset + len(page.items)} of {page.total}"
    else:
        caption = f"none of {page.total}" + (f" past offset {page.offset}" if page.offset else "")
    table = FittedTable(
        Column("asset_id"),
        Column("name", wraps=True),
        Column("type"),
        Column("state"),
        Column("version", "right", key=False),
        Column("updated", wraps=True, key=False),
        caption=caption,
    )
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
    skipped = FittedTable(
        Column("asset_id"), Column("why", wraps=True), title=f"left alone: {len(operation.skipped)}"
    )
    for asset_id, why in operation.skipped:
        skipped.add_row(asset_id, shown(why))
    return Group(shown(summary), skipped) if operation.skipped else Group(shown(summary))


def applications_table(applications: Sequence[UnfreezeApplication]) -> FittedTable:
    table = FittedTable(
        Column("application_id"),
        Column("asset_id"),
        Column("project_id", key=False),
        Column("state"),
        Column("applied", wraps=True, key=False),
        Column("decided", wraps=True, key=False),
        Column("reason", wraps=True, key=False),
    )
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


def batch_table(results: Sequence[BatchResult]) -> FittedTable:
    """Each asset's outcome: SUCCESS with its move, or FAILED with the error."""
    failed = sum(not result.succeeded for result in results)
    table = FittedTable(
        Column("asset_id"),
        Column("status"),
        Column("outcome", wraps=True),
        caption=f"{len(results) - failed} succeeded, {failed} failed",
    )
    for result in results:
        if result.transition is not None:
            outcome = f"{result.transition.from_state.value} -> {result.transition.to_state.value}"
        else:
            outcome = f"{result.error_code}: {operator_message(result)}"
        table.add_row(shown(result.asset_id), result.status, shown(outcome))
    return table


def due_table(counts: Mapping[str, int]) -> FittedTable:
    """What a sweep would move, per time rule."""
    table = FittedTable(Column("rule"), Column("due", "right"), caption=f"{sum(counts.values())} due in all")
    for rule, count in counts.items():
        table.add_row(rule, f"{count:,}")
    return table


# Storage ----------------------------------------------------------------------------------------

_Member = TypeVar("_Member", bound=enum.Enum)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def tenants_storage_table(report: StorageReport) -> FittedTable:
    """Every tenant's storage, one row each in project order, then the totals. "allowance" says
    whether the tenant's chargeable storage is over the free allowance (the same for every tenant:
    in the caption) or within it."""
    caption = (
        f"as of {report.as_of:%Y-%m-%d %H:%M:%S} UTC; free allowance {size(report.free_bytes)}"
        f" ({report.free_bytes:,} bytes) per tenant: billable is what is chargeable beyond it"
    )
    table = FittedTable(
        Column("project"),
        Column("assets", "right", key=False),
        Column("used", "right"),
        Column("exempt", "right", key=False),
        Column("chargeable", "right"),
        Column("billable", "right"),
        Column("allowance"),
        title="storage per tenant",
        caption=caption,
    )
    for tenant in report.tenants:
        table.add_row(
            shown(tenant.project_id),
            f"{tenant.total.assets:,}",
            size(tenant.used_bytes),
            size(tenant.total.exempt_bytes),
            size(tenant.chargeable_bytes),
            size(tenant.billable_bytes),
            "over" if tenant.over_allowance else "within",
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
        size(report.billable_bytes),
        f"{over:,} over",
    )
    return table


def _usage_table(title: str, rows: Sequence[tuple[str, Usage]], total: Usage) -> FittedTable:
    table = FittedTable(
        Column(title.rsplit(maxsplit=1)[-1]),
        Column("assets", "right"),
        Column("files", "right", key=False),
        Column("used", "right"),
        Column("exempt", "right", key=False),
        Column("chargeable", "right"),
        title=title,
    )
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
    reasons = FittedTable(Column("code"), Column("reason", wraps=True), title="why")
    for code, text in found.reasons:
        reasons.add_row(code.value, shown(text))
    files = FittedTable(
        Column("file_id"),
        Column("category"),
        Column("name"),
        Column("state"),
        Column("size", "right"),
        Column("stored (UTC)", wraps=True, key=False),
        Column("timbre", key=False),
        Column("counted", key=False),
        Column("exemption", key=False),
        Column("chargeable", "right"),
        title="files",
    )
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


def feed_line(event: FeedEvent) -> str:
    """One move of the change feed, on one line."""
    record = event.record
    source = "-" if record.from_state is None else record.from_state.value
    reason = f"  reason: {record.reason}" if record.reason else ""
    return shown(
        f"{_when(record.occurred_at)}  {record.asset_id}  v{record.version}  {record.event.value}"
        f"  {source} -> {record.to_state.value}  {record.actor_kind.value}:{record.actor_id}"
        f"  tenant {record.project_id}{reason}"
    )


def consumers_table(states: Sequence[ConsumerState]) -> FittedTable:
    """The change feed's consumers: where each has read to, and what it has yet to handle."""
    table = FittedTable(
        Column("consumer"),
        Column("position"),
        Column("lag", "right"),
        Column("updated (UTC)"),
        caption=f"{len(states)} consumers",
    )
    for state in states:
        table.add_row(shown(state.name), state.position.to_json(), f"{state.lag:,}", _when(state.updated_at))
    return table
