"""What a storage report costs, next to the hand-written GROUP BY, on SQLite and PostgreSQL.

The data: ``--assets`` assets (default 250,000) of ``--tenants`` tenants (default 1,000), four
files each (MAIN, COVER, OTHER, SAMPLE): 1,000,000 files. Every tenant holds every ``AssetType``
and every ``AssetState``, DELETED included (``STATE_MIX``: 40% ACTIVED, 15% UNACTIVED, 10% each
CREATING, FAILED, DELETING and DELETED, 5% BLOCK), and about 93 of the 98 (type, state) pairs; a
third of the assets are customized; sizes are such that a quarter of the tenants stay within the
free allowance and the rest are over it.
Files whose upload was not accepted have no ``stored_at``: a CREATING asset's MAIN, OTHER and
SAMPLE file (its COVER is stored for half of them), a FAILED asset's MAIN, OTHER and SAMPLE file,
and one SAMPLE in five. Customized image models (HUMAN_MODEL, HUMAN_MODEL_2D) have their OTHER file
marked ``timbre_model``; assets were created over the last two years (CREATING ones within the
last day), so about a third of the customized videos are within their six free months at the
report's time. Each asset has its
creation audit row and, unless it is still CREATING, one more row that moved it to its state at
its ``state_changed_at``: as-of reports have a history to read. The histories are abbreviated (an
asset now frozen, in the bin or deleted went from CREATING to ACTIVED, whose row is left out, to
its state; for storage both are states that count) and not hash-chained (``chain_hash`` and
``audit_head`` are ``''``): this benchmark reads them and never verifies them.

Measured in the same run, on the same tables, each figure the median of ``--rounds`` rounds after
a warm-up (the sides compared take turns: baseline, engine, baseline, engine, …):

* **Every tenant, now**: ``Lifecycle.storage_report(Platform(...))``, its default page (50
  tenants summed per statement), against the **baseline**: the minimal SQL a team would write for
  "used bytes per tenant", one ``GROUP BY`` over files joined to assets with the counted condition
  (``stored_at`` set, the asset not DELETED), 1,000 rows back. A second reference adds the
  exemptions to the same ``GROUP BY``. The engine's report holds more (by type and by state, files
  and assets counted, each exemption apart): the ratio says what that and the engine's own work
  cost.
* **Every tenant, as of a past moment** (``--as-of-days``, default 90, before now): states read
  from the audit trail. Baseline: the same ``GROUP BY`` joined to each asset's last audit row at
  or before the moment (``max(seq)``).
* ``page_size`` 50, 200 and 1,000 (``--page-sizes``) for both.
* **One tenant** (``project_id``), now and as of, against the baseline for that tenant; **one
  asset**'s ``asset_storage`` (a customized video), now and as of.
* **Memory**: the peak of Python allocations (``tracemalloc``) during one more call of each, and
  how far the process's peak RSS rose above its RSS before the call (Linux: the high-water mark is
  reset by writing 5 to ``/proc/self/clear_refs``). Memory the process freed earlier is reused
  without growing it: for RSS figures, run one backend per process (``--only``). The **naive**
  way is measured too, last (unless ``--no-naive``): every file row, with its asset's tenant and
  state, loaded into Python and summed there.
* **Correctness**: the engine's used bytes per tenant must equal the baseline's, now and as of,
  for every tenant and for the one; its chargeable bytes the reference with exemptions (whose free
  video rule is written here, from ``FREE_SINCE``); the naive sums the baseline's. Any difference
  stops the run.
* **The SQL alone**: the engine's bucket statements, captured as the engine sends them (a
  ``before_cursor_execute`` listener), run again bare, page after page, rows fetched: what of the
  report's time is the database's. The plan of the first page's statement, now and as of, and the
  baseline's: ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite.

Seeding is server-side: one ``INSERT … SELECT`` over generated numbers per table (and per file
position), ``generate_series`` on PostgreSQL, a recursive CTE on SQLite, outside the timings; the
tables are then ANALYZEd (VACUUM ANALYZE on PostgreSQL), as autovacuum keeps statistics on a live
database. Logging: structlog filtered at WARNING, as a production service would run it.

Run: ``.venv/bin/python bench/storage.py [--postgres-url URL] [--only sqlite|postgresql]
[--assets N] [--tenants N] [--rounds R] [--page-sizes 50,200,1000] [--as-of-days D] [--no-naive]
[--json PATH]``. PostgreSQL's lifecycle tables are dropped and recreated: point it at a disposable
database.
"""

from __future__ import annotations

import argparse
import gc
import logging
import re
import statistics
import sys
import time
import tracemalloc
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from benchdb import analyze, database_options, each_backend, execute_all, reset, target
from sqlalchemy import Engine, and_, case, event, func, select, text

from lifecycle.actors import Platform
from lifecycle.billing import FREE_PERIOD_TYPES, IMAGE_MODEL_TYPES, StoragePolicy
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, AssetType, FileCategory
from lifecycle.engine import Lifecycle
from lifecycle.settings import DEFAULT_STORAGE_PAGE, Settings
from lifecycle.store.repository import assets, audit, files

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=True,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = StoragePolicy()
PLATFORM = Platform("bench")
FILES_PER_ASSET = 4
PLAN_PAGE = DEFAULT_STORAGE_PAGE
"""The engine's default page: the plans are of one page of this many tenants."""
STATE_MIX = (
    (AssetState.ACTIVED, 8),
    (AssetState.UNACTIVED, 3),
    (AssetState.CREATING, 2),
    (AssetState.FAILED, 2),
    (AssetState.DELETING, 2),
    (AssetState.BLOCK, 1),
    (AssetState.DELETED, 2),
)
"""States in twentieths of each tenant's assets (about)."""
STORED_STATES = (
    AssetState.UNACTIVED,
    AssetState.ACTIVED,
    AssetState.DELETING,
    AssetState.DELETED,
    AssetState.BLOCK,
)
"""States whose MAIN upload was accepted (so their files were stored)."""
SECOND_ROW = {
    # state: (event, from_state, actor kind) of the audit row that moved the asset there
    AssetState.UNACTIVED: ("accept_upload", AssetState.CREATING, "tenant"),
    AssetState.ACTIVED: ("accept_upload", AssetState.CREATING, "tenant"),
    AssetState.FAILED: ("fail_upload", AssetState.CREATING, "tenant"),
    AssetState.DELETING: ("delete", AssetState.ACTIVED, "tenant"),
    AssetState.DELETED: ("delete_force", AssetState.ACTIVED, "platform"),
    AssetState.BLOCK: ("freeze", AssetState.ACTIVED, "platform"),
}
TWO_YEARS_S = 730 * 86400
DAY_S = 86400


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day if shorter)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    return moment.replace(year=year, month=month + 1, day=min(moment.day, monthrange(year, month + 1)[1]))


FREE_SINCE = months_before(NOW, POLICY.customized_video_free_months)
"""Customized videos created after this are within their free months at NOW (the reference's rule,
written independently of the engine's)."""
FREE_EDGE_S = int((NOW - FREE_SINCE).total_seconds())


# Seeding --------------------------------------------------------------------------------------


def _numbers(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        return f"SELECT n FROM generate_series(CAST(1 AS BIGINT), {count}) AS n"
    return (
        f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count}) SELECT n FROM g"
    )


def _ts(database: Engine, moment: datetime) -> str:
    """A timestamp literal stored the way the engine stores it (naive UTC text on SQLite)."""
    if database.dialect.name == "postgresql":
        return f"TIMESTAMPTZ '{moment.isoformat()}'"
    return f"'{moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}'"


def _before(database: Engine, seconds: str) -> str:
    """``NOW`` minus ``seconds`` (an SQL integer expression, negative for later), stored as the engine
    stores it."""
    if database.dialect.name == "postgresql":
        return f"({_ts(database, NOW)} - ({seconds}) * INTERVAL '1 second')"
    return f"(strftime('%Y-%m-%d %H:%M:%S', {_ts(database, NOW)}, (-({seconds})) || ' seconds') || '.000000')"


def _shape(database: Engine, count: int, tenants: int) -> str:
    """One row per asset number ``n``: its tenant, type, state, customized flag, size scale, and
    when it was created (``age``) and last changed state (``changed``), in seconds before NOW.
    No asset is created within three days of the customized video free period's edge at NOW
    (``FREE_SINCE``): however a rule places the edge within its day, the same videos are free.

    Within a tenant (asset ``k = n / tenants``), the type cycles with ``k`` (period 14) and the
    state's slot (of ``STATE_MIX``'s 20) with ``7k + k / 14``, both shifted by the tenant: each
    type of a tenant with 250 assets takes 18 consecutive slots of the 20."""
    types = " ".join(f"WHEN {i} THEN '{kind.value}'" for i, kind in enumerate(AssetType))
    states, bound = [], 0
    for state, weight in STATE_MIX:
        bound += weight
        states.append(f"WHEN r < {bound} THEN '{state.value}'")
    assert bound == 20
    spread = f"(3600 + (n * 7919) % {TWO_YEARS_S})"
    return f"""
        SELECT n, tenant, asset_type, state, customized, scale, age,
            CASE state
                WHEN 'CREATING' THEN age
                WHEN 'DELETING' THEN CASE WHEN age % (6 * {DAY_S}) < age / 2
                    THEN age % (6 * {DAY_S}) ELSE age / 2 END
                ELSE age / 2
            END AS changed
        FROM (
            SELECT n, tenant, asset_type, state, customized, scale,
                CASE WHEN state = 'CREATING' THEN 60 + (n * 7919) % 82800
                    WHEN {spread} BETWEEN {FREE_EDGE_S - 3 * DAY_S} AND {FREE_EDGE_S + 3 * DAY_S}
                        THEN {spread} + 7 * {DAY_S}
                    ELSE {spread} END AS age
            FROM (
                SELECT n, n % {tenants} AS tenant,
                    CASE (n / {tenants} + n % {tenants}) % {len(AssetType)} {types} END AS asset_type,
                    CASE {" ".join(states)} END AS state,
                    (n / {tenants}) % 3 = 0 AS customized,
                    CASE WHEN n % {tenants} % 4 = 0 THEN 1 ELSE 100 END AS scale
                FROM (
                    SELECT n, (7 * (n / {tenants}) + n / {tenants} / 14 + 3 * (n % {tenants})) % 20 AS r
                    FROM ({_numbers(database.dialect.name, count)}) AS numbers
                ) AS mixed
            ) AS typed
        ) AS aged"""


def _in(values: Any) -> str:
    return "(" + ", ".join(f"'{getattr(v, 'value', v)}'" for v in values) + ")"


def seed(database: Engine, count: int, tenants: int) -> None:
    """``count`` assets ``a-N`` with four files each and their audit rows (see the module doc)."""
    dialect = database.dialect.name
    shape = _shape(database, count, tenants)
    json_list = "'[]'::json" if dialect == "postgresql" else "'[]'"
    at = lambda seconds: _before(database, seconds)  # noqa: E731
    stored = f"state IN {_in(STORED_STATES)}"
    image_models = _in(sorted(IMAGE_MODEL_TYPES, key=lambda kind: kind.value))
    # (category, name, type, size, stored, stored when (seconds before NOW), timbre model)
    positions = (
        (
            FileCategory.MAIN,
            "main.mp4",
            "mp4",
            "(1 + n % 97) * 10240 * scale",
            stored,
            "age - age / 4",
            "false",
        ),
        (
            FileCategory.COVER,
            "cover.jpg",
            "jpg",
            "20000 + n % 5000",
            "(state <> 'CREATING' OR n % 2 = 0)",
            "age - age / 8",
            "false",
        ),
        (
            FileCategory.OTHER,
            "timbre.bin",
            "bin",
            "(1 + n % 13) * 10000 * scale",
            stored,
            "age - age / 5",
            f"(customized AND asset_type IN {image_models})",
        ),
        (
            FileCategory.SAMPLE,
            "sample.mp3",
            "mp3",
            "100000 + (n % 7) * 1000",
            f"({stored} AND n % 5 <> 0)",
            "age - age / 3",
            "false",
        ),
    )
    statements = [
        f"""INSERT INTO lifecycle_assets (asset_id, project_id, asset_name, asset_description, asset_type,
            asset_state, version, pre_freeze_state, pre_delete_state, block_scope, activate_on_upload,
            review_required, tags, system_properties, create_time, update_time, state_changed_at,
            upload_deadline, retention_started_at, audit_head, customized)
        SELECT 'a-' || n, 'tenant-' || tenant, 'bench asset', '', asset_type, state,
            CASE state WHEN 'CREATING' THEN 1 ELSE 2 END,
            CASE state WHEN 'BLOCK' THEN 'ACTIVED' END,
            CASE state WHEN 'DELETING' THEN 'ACTIVED' END,
            CASE state WHEN 'BLOCK' THEN 'ASSET' END,
            state = 'ACTIVED', false, {json_list}, {json_list}, {at("age")}, {at("changed")}, {at("changed")},
            CASE state WHEN 'CREATING' THEN {at(f"age - {DAY_S}")} END,
            CASE state WHEN 'DELETING' THEN {at("changed")} END,
            '', customized
        FROM ({shape}) AS shape"""
    ]
    for position, (category, name, kind, size, is_stored, stored_before, timbre) in enumerate(positions):
        statements.append(
            f"""INSERT INTO lifecycle_asset_files (file_id, asset_id, position, file_name, file_md5,
                file_size, file_type, asset_file_category, state, create_time, update_time, stored_at,
                timbre_model)
            SELECT 'a-' || n || '-{position}', 'a-' || n, {position}, '{name}', 'OLjCwQk90P7Dg6nZrJQFFQ==',
                {size}, '{kind}', '{category.value}',
                CASE WHEN state IN ('DELETING', 'DELETED') THEN 'DELETING' WHEN {is_stored} THEN 'CREATED'
                    WHEN state = 'FAILED' THEN 'FAILED' ELSE 'CREATING' END,
                {at("age")}, {at("changed")}, CASE WHEN {is_stored} THEN {at(stored_before)} END, {timbre}
            FROM ({shape}) AS shape"""
        )
    statements.append(
        f"""INSERT INTO lifecycle_audit (asset_id, project_id, seq, event, from_state, to_state,
            actor_kind, actor_id, occurred_at, chain_hash)
        SELECT 'a-' || n, 'tenant-' || tenant, 1, 'create', NULL, 'CREATING', 'tenant', 'tenant-' || tenant,
            {at("age")}, ''
        FROM ({shape}) AS shape"""
    )
    events = " ".join(f"WHEN '{s.value}' THEN '{row[0]}'" for s, row in SECOND_ROW.items())
    sources = " ".join(f"WHEN '{s.value}' THEN '{row[1].value}'" for s, row in SECOND_ROW.items())
    actors = " ".join(f"WHEN '{s.value}' THEN '{row[2]}'" for s, row in SECOND_ROW.items())
    statements.append(
        f"""INSERT INTO lifecycle_audit (asset_id, project_id, seq, event, from_state, to_state,
            actor_kind, actor_id, occurred_at, pre_freeze_state, pre_delete_state, chain_hash)
        SELECT 'a-' || n, 'tenant-' || tenant, 2, CASE state {events} END, CASE state {sources} END, state,
            CASE state {actors} END, CASE state {actors} END || '-' || tenant, {at("changed")},
            CASE state WHEN 'BLOCK' THEN 'ACTIVED' END, CASE state WHEN 'DELETING' THEN 'ACTIVED' END, ''
        FROM ({shape}) AS shape
        WHERE state <> 'CREATING'"""
    )
    execute_all(database, statements)




def describe(database: Engine) -> dict[str, Any]:
    """What was seeded, counted by SQL (untimed)."""
    with database.connect() as connection:
        counts = {
            "tenants": connection.execute(select(func.count(assets.c.project_id.distinct()))).scalar_one(),
            "assets": connection.execute(select(func.count()).select_from(assets)).scalar_one(),
            "files": connection.execute(select(func.count()).select_from(files)).scalar_one(),
            "stored_files": connection.execute(
                select(func.count()).select_from(files).where(files.c.stored_at.is_not(None))
            ).scalar_one(),
            "audit_rows": connection.execute(select(func.count()).select_from(audit)).scalar_one(),
        }
        by_state = connection.execute(
            select(assets.c.asset_state, func.count()).group_by(assets.c.asset_state)
        ).all()
        types = connection.execute(select(func.count(assets.c.asset_type.distinct()))).scalar_one()
        pairs = select(assets.c.asset_type, assets.c.asset_state).distinct().subquery()
        per_tenant = (
            select(assets.c.project_id)
            .group_by(assets.c.project_id)
            .having(func.count(assets.c.asset_state.distinct()) == len(AssetState))
            .subquery()
        )
        counts["type_state_pairs"] = connection.execute(select(func.count()).select_from(pairs)).scalar_one()
        counts["tenants_with_every_state"] = connection.execute(
            select(func.count()).select_from(per_tenant)
        ).scalar_one()
    counts["states"] = {getattr(state, "value", state): n for state, n in sorted(by_state, key=str)}
    counts["asset_types"] = types
    if database.dialect.name == "postgresql":
        with database.connect() as connection:
            size = "SELECT pg_total_relation_size('{}')"
            counts["table_mb"] = {
                table.name: round(connection.execute(text(size.format(table.name))).scalar_one() / 1e6)
                for table in (assets, files, audit)
            }
    return counts


# Measuring -------------------------------------------------------------------------------------


def _rss_kb(field_name: str) -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Memory:
    peak_bytes: int
    rss_growth_bytes: int | None


def traced(call: Callable[[], Any]) -> tuple[Memory, Any]:
    """One call under tracemalloc: its peak of Python allocations, and how far the process's peak
    RSS rose above its RSS before the call (None where Linux's counters are not available)."""
    gc.collect()
    reset = _reset_peak_rss()
    before = _rss_kb("VmRSS")
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    high = _rss_kb("VmHWM")
    growth = (high - before) * 1024 if reset and high is not None and before is not None else None
    return Memory(peak, growth), result


@dataclass
class Side:
    name: str
    call: Callable[[], Any]
    timings: list[float] = field(default_factory=list)
    result: Any = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.timings)


def alternate(sides: list[Side], rounds: int) -> None:
    """A warm-up call of each side (its result kept for the checks), then ``rounds`` rounds, the
    sides in turn."""
    for side in sides:
        side.result = side.call()
    for _ in range(rounds):
        for side in sides:
            gc.collect()
            started = time.perf_counter()
            side.call()
            side.timings.append(time.perf_counter() - started)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _mb(count: int | None) -> float | None:
    return None if count is None else round(count / 1e6, 2)


def figures(side: Side, baseline: Side | None = None, memory: Memory | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "median_ms": _ms(side.median_s),
        "rounds_ms": [_ms(t) for t in side.timings],
    }
    if baseline is not None:
        found["over_baseline"] = round(side.median_s / baseline.median_s, 2)
    if memory is not None:
        found["peak_mb"] = _mb(memory.peak_bytes)
        found["rss_growth_mb"] = _mb(memory.rss_growth_bytes)
    return found


def show(label: str, found: dict[str, Any]) -> None:
    line = f"    {label:44} {found['median_ms']:>10,.1f} ms"
    if "over_baseline" in found:
        line += f"  {found['over_baseline']:>6.2f}x baseline"
    if found.get("peak_mb") is not None:
        line += f"  peak {found['peak_mb']:,.2f} MB"
    if found.get("rss_growth_mb") is not None:
        line += f", RSS +{found['rss_growth_mb']:,.1f} MB"
    print(line)


# The baselines --------------------------------------------------------------------------------


def baseline_now(database: Engine, project_id: str | None = None) -> dict[str, int]:
    """Used bytes per tenant, as a team would write it: one GROUP BY over files joined to assets.
    Now, every stored file counts (whatever its ``stored_at``) unless its asset is DELETED."""
    statement = (
        select(assets.c.project_id, func.sum(files.c.file_size))
        .select_from(files.join(assets, assets.c.asset_id == files.c.asset_id))
        .where(files.c.stored_at.is_not(None), assets.c.asset_state != AssetState.DELETED)
        .group_by(assets.c.project_id)
    )
    if project_id is not None:
        statement = statement.where(assets.c.project_id == project_id)
    with database.connect() as connection:
        return {tenant: int(used) for tenant, used in connection.execute(statement)}


def baseline_with_exemptions(database: Engine, now: datetime) -> dict[str, tuple[int, int]]:
    """Used and chargeable bytes per tenant, the exemptions written out in the same GROUP BY."""
    timbre = and_(files.c.timbre_model, assets.c.customized, assets.c.asset_type.in_(list(IMAGE_MODEL_TYPES)))
    free_video = and_(
        assets.c.customized,
        assets.c.asset_type.in_(list(FREE_PERIOD_TYPES)),
        assets.c.create_time > months_before(now, POLICY.customized_video_free_months),
    )
    statement = (
        select(
            assets.c.project_id,
            func.sum(files.c.file_size),
            func.sum(case((timbre, 0), (free_video, 0), else_=files.c.file_size)),
        )
        .select_from(files.join(assets, assets.c.asset_id == files.c.asset_id))
        .where(files.c.stored_at.is_not(None), assets.c.asset_state != AssetState.DELETED)
        .group_by(assets.c.project_id)
    )
    with database.connect() as connection:
        return {tenant: (int(used), int(charged)) for tenant, used, charged in connection.execute(statement)}


def baseline_as_of(database: Engine, as_of: datetime, project_id: str | None = None) -> dict[str, int]:
    """Used bytes per tenant at a past moment: the same GROUP BY, each asset's state taken from its
    last audit row at or before the moment (``max(seq)``)."""
    last = (
        select(audit.c.asset_id, func.max(audit.c.seq).label("seq"))
        .where(audit.c.occurred_at <= as_of)
        .group_by(audit.c.asset_id)
    )
    if project_id is not None:
        last = last.where(audit.c.project_id == project_id)
    last_seq = last.subquery("last_seq")
    row = audit.alias("last_row")
    statement = (
        select(assets.c.project_id, func.sum(files.c.file_size))
        .select_from(
            files.join(assets, assets.c.asset_id == files.c.asset_id)
            .join(last_seq, last_seq.c.asset_id == assets.c.asset_id)
            .join(row, and_(row.c.asset_id == last_seq.c.asset_id, row.c.seq == last_seq.c.seq))
        )
        .where(files.c.stored_at <= as_of, row.c.to_state != AssetState.DELETED)
        .group_by(assets.c.project_id)
    )
    with database.connect() as connection:
        return {tenant: int(used) for tenant, used in connection.execute(statement)}


def naive(database: Engine) -> dict[str, int]:
    """The way the issue rules out: every file row, with its asset's tenant and state, brought into
    Python and added up there."""
    statement = select(
        assets.c.project_id, assets.c.asset_state, files.c.file_size, files.c.stored_at
    ).select_from(files.join(assets, assets.c.asset_id == files.c.asset_id))
    with database.connect() as connection:
        rows = connection.execute(statement).all()
    used: dict[str, int] = {}
    for tenant, state, size, stored_at in rows:
        if stored_at is not None and state is not AssetState.DELETED:
            used[tenant] = used.get(tenant, 0) + size
    return used


def check_used(what: str, report: Any, expected: dict[str, int], tenants: int | None = None) -> None:
    """Stop the run unless the engine's per-tenant used bytes are the baseline's."""
    got = {tenant.project_id: tenant.used_bytes for tenant in report.tenants}
    if tenants is not None and len(got) != tenants:
        raise SystemExit(f"{what}: the engine reported {len(got)} tenants, not {tenants}")
    wrong = [t for t in sorted(set(got) | set(expected)) if got.get(t, 0) != expected.get(t, 0)]
    if wrong:
        shown = "; ".join(f"{t}: engine {got.get(t, 0)}, baseline {expected.get(t, 0)}" for t in wrong[:5])
        raise SystemExit(f"{what}: used bytes differ for {len(wrong)} tenants: {shown}")


def check_chargeable(report: Any, expected: dict[str, tuple[int, int]]) -> None:
    wrong = [
        t.project_id
        for t in report.tenants
        if (t.used_bytes, t.chargeable_bytes) != expected.get(t.project_id, (0, 0))
    ]
    if wrong:
        raise SystemExit(f"chargeable bytes differ from the reference for {len(wrong)} tenants: {wrong[:5]}")


# The engine's statements ----------------------------------------------------------------------


class Captured:
    """The statements sent while it is open (``before_cursor_execute``) that contain all of
    ``marks``, with their parameters: by default, the engine's bucket statements."""

    def __init__(self, database: Engine, marks: tuple[str, ...] = ("asset_at", "GROUP BY")) -> None:
        self.database = database
        self.marks = marks
        self.statements: list[tuple[str, Any]] = []

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if all(mark in statement for mark in self.marks):
            self.statements.append((statement, parameters))

    def __enter__(self) -> Captured:
        event.listen(self.database, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.database, "before_cursor_execute", self._seen)


def bare_statements(database: Engine, statements: list[tuple[str, Any]], rounds: int) -> list[float]:
    """The engine's captured statements run as they were sent, page after page, rows fetched."""
    timings = []
    for _ in range(rounds + 1):  # the first is a warm-up
        gc.collect()
        started = time.perf_counter()
        with database.connect() as connection:
            for statement, parameters in statements:
                connection.exec_driver_sql(statement, parameters).fetchall()
        timings.append(time.perf_counter() - started)
    return timings[1:]


def query_plan(database: Engine, statement: str, parameters: Any) -> list[str]:
    postgres = database.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS)" if postgres else "EXPLAIN QUERY PLAN"
    with database.connect() as connection:
        rows = connection.exec_driver_sql(f"{prefix} {statement}", parameters).all()
    return [_shortened(str(row[0]) if postgres else str(row[-1])) for row in rows]


def _shortened(line: str) -> str:
    """A plan line with its array of tenant ids cut to the first and last (and how many)."""

    def cut(found: re.Match[str]) -> str:
        ids = found.group(1).split(",")
        return f"'{{{ids[0]},…,{ids[-1]}}}' ({len(ids)} ids)" if len(ids) > 2 else found.group(0)

    return re.sub(r"'\{([^}]*)\}'::text\[\]", cut, line)


# The run ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """One backend's run: its engine, the engine's ``Lifecycle``, the options, and the results."""

    database: Engine
    args: argparse.Namespace
    lifecycle: Lifecycle
    as_of: datetime
    results: dict[str, Any] = field(default_factory=dict)
    sides: dict[str, Side] = field(default_factory=dict)
    """The measured sides of every tenant's report, now and as of, kept for later comparisons."""

    def report(self, **options: Any) -> Callable[[], Any]:
        return lambda: self.lifecycle.storage_report(PLATFORM, **options)


def prepare(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    reset(database)
    started = time.perf_counter()
    seed(database, args.assets, args.tenants)
    seeded_s = time.perf_counter() - started
    started = time.perf_counter()
    analyze(database)
    analyzed_s = time.perf_counter() - started
    data = describe(database)
    print(
        f"  seeded {data['assets']:,} assets, {data['files']:,} files ({data['stored_files']:,} stored),"
        f" {data['audit_rows']:,} audit rows, {data['tenants']:,} tenants in {seeded_s:.1f}s"
        f" (+{analyzed_s:.1f}s ANALYZE)"
    )
    print(
        f"  states: {data['states']}; {data['asset_types']} asset types, {data['type_state_pairs']}"
        f" (type, state) pairs; {data['tenants_with_every_state']:,} tenants with assets in every state"
    )
    data.update(seed_s=round(seeded_s, 1), analyze_s=round(analyzed_s, 1))
    return data


def measure_now(run: Run) -> None:
    database, rounds = run.database, run.args.rounds
    print(f"  every tenant, now ({rounds} rounds after a warm-up, median):")
    base = Side("baseline", lambda: baseline_now(database))
    full = Side("with exemptions", lambda: baseline_with_exemptions(database, NOW))
    eng = Side("engine", run.report())
    alternate([base, full, eng], rounds)
    check_used("report now", eng.result, base.result, run.args.tenants)
    check_chargeable(eng.result, full.result)
    memory = {side.name: traced(side.call)[0] for side in (base, full, eng)}
    found = {
        "baseline": figures(base, memory=memory["baseline"]),
        "baseline_with_exemptions": figures(full, base, memory["with exemptions"]),
        "engine": figures(eng, base, memory["engine"]),
    }
    show("baseline GROUP BY (used bytes per tenant)", found["baseline"])
    show("reference with exemptions", found["baseline_with_exemptions"])
    show(f"Lifecycle.storage_report, page {PLAN_PAGE}", found["engine"])
    report = eng.result
    over = sum(tenant.over_allowance for tenant in report.tenants)
    print(
        f"    checked: {len(report.tenants):,} tenants, used {report.used_bytes / 1e12:.3f} TB,"
        f" chargeable {report.chargeable_bytes / 1e12:.3f} TB, {over} tenants over the allowance:"
        " the engine's used and chargeable bytes equal the hand-written sums"
    )
    found["check"] = {
        "tenants": len(report.tenants),
        "used_bytes": report.used_bytes,
        "chargeable_bytes": report.chargeable_bytes,
        "tenants_over_allowance": over,
    }
    run.results["now"] = found
    run.sides.update(now_baseline=base, now_engine=eng)


def measure_as_of(run: Run) -> None:
    database, as_of = run.database, run.as_of
    print(f"  every tenant, as of {as_of:%Y-%m-%d} ({run.args.as_of_days} days before):")
    base = Side("baseline", lambda: baseline_as_of(database, as_of))
    eng = Side("engine", run.report(as_of=as_of))
    alternate([base, eng], run.args.rounds)
    check_used("report as of", eng.result, base.result)
    memory = {side.name: traced(side.call)[0] for side in (base, eng)}
    found = {
        "baseline": figures(base, memory=memory["baseline"]),
        "engine": figures(eng, base, memory["engine"]),
        "tenants": len(eng.result.tenants),
        "used_bytes": eng.result.used_bytes,
    }
    show("baseline GROUP BY, last audit row by max(seq)", found["baseline"])
    show(f"Lifecycle.storage_report(as_of=…), page {PLAN_PAGE}", found["engine"])
    print(f"    checked: {len(eng.result.tenants):,} tenants, equal to the baseline")
    run.results["as_of"] = found
    run.sides.update(as_of_baseline=base, as_of_engine=eng)


def measure_pages(run: Run) -> None:
    print("  page sizes (engine only; ratio to the same baseline):")
    pages: dict[str, Any] = {}
    for label, options in (("now", {}), ("as_of", {"as_of": run.as_of})):
        sides = [Side(str(size), run.report(page_size=size, **options)) for size in run.args.page_sizes]
        alternate(sides, run.args.rounds)
        pages[label] = {}
        for side in sides:
            found = figures(side, run.sides[f"{label}_baseline"])
            pages[label][side.name] = found
            show(f"{label}, page_size {side.name}", found)
    run.results["page_sizes"] = pages


def measure_single(run: Run) -> None:
    database, lifecycle, as_of = run.database, run.lifecycle, run.as_of
    with database.connect() as connection:
        # tenant-7's newest live customized video (at small --assets, the first tenant that has one)
        asset_id, tenant = connection.execute(
            select(assets.c.asset_id, assets.c.project_id)
            .where(
                assets.c.customized,
                assets.c.asset_type == AssetType.VIDEO,
                assets.c.asset_state == AssetState.ACTIVED,
            )
            .order_by((assets.c.project_id != "tenant-7"), assets.c.project_id, assets.c.create_time.desc())
            .limit(1)
        ).one()
    rounds = max(run.args.rounds, 20)
    print(f"  one tenant ({tenant}) and one asset ({asset_id}: customized video), {rounds} rounds:")
    sides = {
        "tenant_baseline": Side("tenant: baseline", lambda: baseline_now(database, tenant)),
        "tenant": Side("tenant: storage_report(project_id=…)", run.report(project_id=tenant)),
        "tenant_as_of_baseline": Side(
            "tenant as of: baseline", lambda: baseline_as_of(database, as_of, tenant)
        ),
        "tenant_as_of": Side("tenant as of: storage_report", run.report(project_id=tenant, as_of=as_of)),
        "asset": Side("asset: asset_storage", lambda: lifecycle.asset_storage(PLATFORM, asset_id)),
        "asset_as_of": Side(
            "asset as of: asset_storage", lambda: lifecycle.asset_storage(PLATFORM, asset_id, as_of=as_of)
        ),
    }
    alternate(list(sides.values()), rounds)
    check_used("one tenant now", sides["tenant"].result, sides["tenant_baseline"].result)
    check_used("one tenant as of", sides["tenant_as_of"].result, sides["tenant_as_of_baseline"].result)
    if len(sides["asset"].result.files) != FILES_PER_ASSET:
        raise SystemExit(f"asset_storage gave {len(sides['asset'].result.files)} files")
    single: dict[str, Any] = {"project_id": tenant, "asset_id": asset_id}
    for key, side in sides.items():
        baseline = {"tenant": "tenant_baseline", "tenant_as_of": "tenant_as_of_baseline"}.get(key)
        found = figures(side, sides[baseline] if baseline else None, traced(side.call)[0])
        single[key] = found
        show(side.name, found)
    run.results["single"] = single


def measure_statements(run: Run) -> None:
    """The engine's bucket statements for one report, run bare, and the plan of the first page."""
    database, rounds = run.database, run.args.rounds
    print(f"  the engine's bucket statements run bare ({rounds} rounds), plans of one page of {PLAN_PAGE}:")
    statements: dict[str, Any] = {}
    for label, options in (("now", {}), ("as_of", {"as_of": run.as_of})):
        with Captured(database) as captured:
            run.lifecycle.storage_report(PLATFORM, page_size=PLAN_PAGE, **options)
        timings = bare_statements(database, captured.statements, rounds)
        median = statistics.median(timings)
        share = median / run.sides[f"{label}_engine"].median_s
        statement, parameters = captured.statements[0]
        plan = query_plan(database, statement, parameters)
        statements[label] = {
            "pages": len(captured.statements),
            "bare_median_ms": _ms(median),
            "bare_rounds_ms": [_ms(t) for t in timings],
            "share_of_engine": round(share, 2),
            "statement": statement,
            "plan": plan,
        }
        print(
            f"    {label}: {len(captured.statements)} statements, {median * 1000:,.1f} ms bare"
            f" ({share:.0%} of the engine's report)"
        )
        for line in plan:
            print(f"      {line}")
    with Captured(database, ("GROUP BY",)) as captured:
        baseline_now(database)
    [(statement, parameters)] = captured.statements
    statements["baseline_plan"] = query_plan(database, statement, parameters)
    print("    the baseline's plan (now):")
    for line in statements["baseline_plan"]:
        print(f"      {line}")
    run.results["statements"] = statements


def measure_naive(run: Run) -> None:
    """Last: the memory it takes stays with the process."""
    print("  naive: every file row loaded into Python and summed there (1 round after a warm-up, traced):")
    side = Side("naive", lambda: naive(run.database))
    alternate([side], 1)
    baseline = run.sides["now_baseline"]
    if side.result != {tenant: used for tenant, used in baseline.result.items() if used}:
        raise SystemExit("the naive sums differ from the baseline's")
    found = figures(side, baseline, traced(side.call)[0])
    show("naive: rows into Python", found)
    run.results["naive"] = found


def bench(database: Engine, args: argparse.Namespace) -> dict[str, Any]:
    as_of = NOW - timedelta(days=args.as_of_days)
    data = prepare(database, args)
    data.update(now=NOW.isoformat(), as_of=as_of.isoformat())
    lifecycle = Lifecycle(database, clock=ManualClock(NOW), settings=Settings(storage=POLICY))
    run = Run(database, args, lifecycle, as_of, {"data": data})
    measure_now(run)
    measure_as_of(run)
    measure_pages(run)
    measure_single(run)
    measure_statements(run)
    if args.naive:
        measure_naive(run)
    return run.results


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's time over the hand-written baseline's: recorded, the issue sets no target."""
    return [
        target(f"storage report {label}: time / baseline", backend, result[key]["engine"]["over_baseline"])
        for key, label in (("now", "now"), ("as_of", "as of"))
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--assets", type=int, default=250_000, help=f"assets, {FILES_PER_ASSET} files each")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side, after a warm-up")
    parser.add_argument(
        "--page-sizes",
        type=lambda value: [int(size) for size in value.split(",")],
        default=[50, 200, 1000],
        help="page sizes to compare, comma-separated",
    )
    parser.add_argument("--as-of-days", type=int, default=90, help="the past moment, in days before now")
    parser.add_argument(
        "--no-naive", dest="naive", action="store_false", help="leave out the naive reference"
    )
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one backend only")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.assets < args.tenants:
        parser.error("--assets must be at least --tenants")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(
        f"{args.assets:,} assets x {FILES_PER_ASSET} files = {args.assets * FILES_PER_ASSET:,} files,"
        f" {args.tenants:,} tenants; reports at {NOW:%Y-%m-%d %H:%M} UTC"
    )
    each_backend(args, "storage.db", lambda database: bench(database, args), targets=targets)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
