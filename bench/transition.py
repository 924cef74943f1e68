"""What one engine transition costs, next to the bare SQL it has to run and to the peer a user would
pick instead, on SQLite and PostgreSQL.

Measured in the same run, on the same tables, on the same kind of assets (created through the
engine, their MAIN file confirmed, so they sit in UNACTIVED; the peer's in its own tables):

* engine: ``Lifecycle.activate`` / ``Lifecycle.deactivate``, alternating, each call one write
  transaction: the role and input checks, a SELECT of the asset (its MAIN file joined in), the
  pure ``plan_move``, the guarded UPDATE plus its audit INSERT (on PostgreSQL both are one CTE
  statement), commit, one (dropped) log event, and the ``Transitioned`` result.
* raw: the guarded UPDATE (``WHERE asset_id, project_id, asset_state, version``, the same column
  list the engine sets, ``audit_head`` included) plus the audit INSERT (``chain_hash`` included),
  written directly with SQLAlchemy Core from statements built once with ``bindparam``, one
  transaction per pair, ``rowcount == 1`` checked, no SELECT: the caller is assumed to know each
  asset's state, version and audit chain head. Like the engine, it takes a connection per
  transaction from the same SQLAlchemy engine (same pool, same PostgreSQL pre-ping) and sets the
  same write option first, so that on SQLite it too begins with ``BEGIN IMMEDIATE``.
* peer: django-fsm-2 + django-fsm-log (``bench/peer.py``) doing the same persisted, audited move:
  load the tenant's asset, a protected ``FSMField`` transition with ``ConcurrentTransitionMixin``
  (its save guarded by the state it was loaded in), a ``StateLog`` row naming the user, commit; one
  transaction per move, on the same database (SQLite: its own file beside the engine's, WAL and
  ``BEGIN IMMEDIATE`` as the engine's; PostgreSQL: its own schema). Left out, with a note, when the
  ``bench`` extra is not installed.

The audit trail is hash-chained (migration 0003): each audit row's ``chain_hash`` is the SHA-256
of the canonical JSON of the previous hash of the same asset and the row's columns, and the asset's
``audit_head`` holds the latest. A hand-written tamper-evident trail has to do the same work, so the
raw side computes the hash in Python before its UPDATE, as the engine does, writing it to both
tables. It is hand-written (``hashlib`` over ``json.dumps`` of the values it already holds, in
``HASHED_COLUMNS`` order), not the engine's generic ``lifecycle.chain.chain_hash``; after the
timing, both sides' trails are checked with ``Lifecycle.verify_audit`` (every chain recomputed,
every history replayed), so a baseline that skipped or got the hash wrong would fail the run. The
peer's rows are checked too: each asset's state, and its ``StateLog`` rows, one per move,
alternating, naming the user.

The targets (issue 16), on each backend: an engine transition costs at most 1.15x the raw
statement pair's time, and the engine moves at least 1.8x as many assets per second as the peer.
The tables are ANALYZEd once filled (a live database has statistics; a fresh one with autovacuum
off has none, and PostgreSQL then plans the guarded UPDATE through the wrong index). Rounds
alternate (raw, engine, peer, raw, engine, peer, ...) after a warm-up of each side, so that machine
noise falls on all three; each side's figure is its median round. This is a measurement, not a
test: it exits 0 whatever the figures, printing MET or MISSED per target and backend.

Memory: with ``tracemalloc``, after ``gc.collect()``, the memory still held after 1000 transitions
and after 5000 more on other assets: what one transition leaves behind (it should be about 0, the
engine keeps nothing per asset), and what one ``Asset`` loaded with ``get_asset`` weighs (the
delta of holding 1000 of them, divided by 1000).

Logging: the library logs one event per transition through structlog. This script is the
application, so it decides: events below WARNING are dropped by a filtering bound logger, cached on
first use, as a production service that logs at WARNING would run it.

Run: ``.venv/bin/python bench/transition.py [--sqlite-path PATH] [--postgres-url URL]
[--transitions N] [--rounds R] [--json PATH]``. PostgreSQL is measured when a URL is given (or
``LIFECYCLE_BENCH_POSTGRES_URL`` / ``LIFECYCLE_TEST_POSTGRES_URL`` is set); its lifecycle tables
are dropped and recreated first, and the peer's schema too, so point it at a disposable database.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import peer
import structlog
from benchdb import POSTGRES_ENV, database_options, target, verdict
from sqlalchemy import Engine, Insert, Update, bindparam, insert, select, update

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import AssetState, AssetType, Event, FileCategory, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.inputs import NewAsset, NewFile
from lifecycle.results import Asset
from lifecycle.store import schema
from lifecycle.store.database import WRITE, open_database
from lifecycle.store.repository import assets, audit, files

# The application's logging decision (see the module docstring): the library's INFO events are
# dropped by a no-op method, and the bound logger is built once, on first use.
structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=True,
)
LOGGING_NOTE = "structlog: filtering bound logger at WARNING (INFO dropped), cached on first use"

TARGET_RATIO = 1.15
"""Engine time per transition over the raw pair's, at most."""
PEER_TARGET = 1.8
"""Engine throughput over the peer's, at least."""
WARMUP_OPS = 200
POOL_SIZE = 1000
"""Assets each side of the timing moves in turn (activate on one pass, deactivate on the next)."""
MEMORY_FIRST = 1000
MEMORY_MORE = 5000
HELD_ASSETS = 1000
MD5 = "38b8c2c1093dd0fec383a9d9ac940515"


# Assets ------------------------------------------------------------------------------------------


@dataclass
class Pool:
    """The assets one side moves, and what that side knows of them (raw keeps the version and the
    audit chain head)."""

    ids: list[str]
    project_id: str
    heads: list[str]
    active: list[bool] = field(init=False)
    versions: list[int] = field(init=False)
    cursor: int = 0

    def __post_init__(self) -> None:
        self.active = [False] * len(self.ids)
        self.versions = [2] * len(self.ids)  # created (1), upload accepted (2)

    def next(self) -> int:
        index = self.cursor % len(self.ids)
        self.cursor += 1
        return index


def create_unactived(lifecycle: Lifecycle, tenant: Tenant, count: int, label: str) -> list[str]:
    """``count`` assets created through the engine, MAIN file accepted: UNACTIVED, version 2."""
    ids: list[str] = []
    for n in range(count):
        asset = lifecycle.create_asset(
            tenant,
            NewAsset(
                asset_name=f"bench {label} {n}",
                asset_type=AssetType.HUMAN_MODEL,
                files=[
                    NewFile("model.bin", 31_032_142, MD5, FileCategory.MAIN),
                    NewFile("cover.png", 110_321, MD5, FileCategory.COVER),
                ],
                activate_on_upload=False,
            ),
        )
        main = next(f for f in asset.files if f.asset_file_category is FileCategory.MAIN)
        outcome = lifecycle.confirm_upload(tenant, asset.asset_id, main.file_id, UploadResult.CREATED)
        moved = outcome.transition
        if moved is None or moved.to_state is not AssetState.UNACTIVED or moved.version != 2:
            raise RuntimeError(f"asset {asset.asset_id} is not UNACTIVED at version 2: {outcome!r}")
        ids.append(asset.asset_id)
    return ids


def new_pool(lifecycle: Lifecycle, tenant: Tenant, count: int, label: str) -> Pool:
    """``count`` UNACTIVED assets, with their audit chain heads as stored (read once, untimed)."""
    ids = create_unactived(lifecycle, tenant, count, label)
    with lifecycle.database.connect() as connection:
        stored = dict(
            connection.execute(
                select(assets.c.asset_id, assets.c.audit_head).where(assets.c.project_id == tenant.project_id)
            ).all()
        )
    return Pool(ids, tenant.project_id, [stored[asset_id] for asset_id in ids])


# The two sides -----------------------------------------------------------------------------------

# The columns the engine's guarded write sets, and the audit row's columns, spelled out again here
# so that the baseline is written independently of the repository.
_MOVED = (
    "asset_state",
    "version",
    "pre_freeze_state",
    "pre_delete_state",
    "fail_type",
    "reason",
    "block_reason_code",
    "block_scope",
    "upload_deadline",
    "upload_time_left_us",
    "planned_operation",
    "planned_operation_time",
    "update_time",
    "state_changed_at",
    "audit_head",
)
_AUDITED = (
    "asset_id",
    "project_id",
    "seq",
    "event",
    "from_state",
    "to_state",
    "actor_kind",
    "actor_id",
    "reason",
    "fail_type",
    "request_id",
    "occurred_at",
    "pre_freeze_state",
    "pre_delete_state",
    "chain_hash",
)

_ACTIVATION = (Event.ACTIVATE, AssetState.UNACTIVED, AssetState.ACTIVED)
_DEACTIVATION = (Event.DEACTIVATE, AssetState.ACTIVED, AssetState.UNACTIVED)


def raw_chain_hash(previous: str, row: tuple[Any, ...]) -> str:
    """An audit row's chain hash, written by hand: SHA-256 of the canonical JSON (compact, ASCII) of
    the previous hash of the same asset and ``row``, the row's values as JSON in the order the trail
    hashes them (``HASHED_COLUMNS``: asset, tenant, seq, event, from, to, actor kind and id, reason,
    fail type, request id, time in UTC with microseconds, remembered states)."""
    encoded = json.dumps([previous, *row], ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return hashlib.sha256(encoded).hexdigest()


class RawMoves:
    """The guarded UPDATE plus audit INSERT, hand-written in Core, built once; the chain hash
    computed in Python."""

    def __init__(self, database: Engine, tenant: Tenant) -> None:
        self.database = database
        self.tenant = tenant
        self.update: Update = (
            update(assets)
            .where(
                assets.c.asset_id == bindparam("b_asset_id"),
                assets.c.project_id == bindparam("b_project_id"),
                assets.c.asset_state == bindparam("b_source", type_=assets.c.asset_state.type),
                assets.c.version == bindparam("b_version"),
            )
            .values({name: bindparam(f"n_{name}", type_=assets.c[name].type) for name in _MOVED})
        )
        self.insert: Insert = insert(audit).values(
            {name: bindparam(f"a_{name}", type_=audit.c[name].type) for name in _AUDITED}
        )

    def run(self, pool: Pool, count: int) -> None:
        for _ in range(count):
            index = pool.next()
            activating = not pool.active[index]
            version = pool.versions[index]
            pool.heads[index] = self.move(
                pool.ids[index],
                pool.project_id,
                activating=activating,
                version=version,
                head=pool.heads[index],
            )
            pool.active[index] = activating
            pool.versions[index] = version + 1

    def move(self, asset_id: str, project_id: str, *, activating: bool, version: int, head: str) -> str:
        """UNACTIVED -> ACTIVED (or back) at ``version``, with its audit row chained to ``head``, in
        one transaction; the asset's new chain head."""
        event, source, dest = _ACTIVATION if activating else _DEACTIVATION
        now = datetime.now(UTC)
        tenant = self.tenant
        hashed = (asset_id, project_id, version + 1, event.value, source.value, dest.value)
        hashed += (tenant.role.value, tenant.actor_id, None, None, None)  # reason, fail type, request
        hashed += (now.isoformat(timespec="microseconds"), None, None)  # remembered states: none
        chained = raw_chain_hash(head, hashed)
        params: dict[str, Any] = {
            "b_asset_id": asset_id,
            "b_project_id": project_id,
            "b_source": source,
            "b_version": version,
            "n_asset_state": dest,
            "n_version": version + 1,
            "n_pre_freeze_state": None,
            "n_pre_delete_state": None,
            "n_fail_type": None,
            "n_reason": None,
            "n_block_reason_code": None,
            "n_block_scope": None,
            "n_upload_deadline": None,
            "n_upload_time_left_us": None,
            "n_planned_operation": None,
            "n_planned_operation_time": None,
            "n_update_time": now,
            "n_state_changed_at": now,
            "n_audit_head": chained,
            "a_asset_id": asset_id,
            "a_project_id": project_id,
            "a_seq": version + 1,
            "a_event": event,
            "a_from_state": source,
            "a_to_state": dest,
            "a_actor_kind": tenant.role,
            "a_actor_id": tenant.actor_id,
            "a_reason": None,
            "a_fail_type": None,
            "a_request_id": None,
            "a_occurred_at": now,
            "a_pre_freeze_state": None,
            "a_pre_delete_state": None,
            "a_chain_hash": chained,
        }
        with self.database.connect() as connection:
            connection.execution_options(**{WRITE: True})
            with connection.begin():
                if connection.execute(self.update, params).rowcount != 1:
                    raise RuntimeError(f"raw guarded update missed {asset_id} at version {version}")
                connection.execute(self.insert, params)
        return chained


def engine_run(lifecycle: Lifecycle, tenant: Tenant) -> Callable[[Pool, int], None]:
    """The engine side: ``activate`` or ``deactivate`` each asset of the pool in turn."""

    def run(pool: Pool, count: int) -> None:
        activate, deactivate = lifecycle.activate, lifecycle.deactivate
        for _ in range(count):
            index = pool.next()
            if pool.active[index]:
                deactivate(tenant, pool.ids[index])
            else:
                activate(tenant, pool.ids[index])
            pool.active[index] = not pool.active[index]

    return run


# Measuring -------------------------------------------------------------------------------------


@dataclass
class Side:
    """One side of the comparison: how it moves ``count`` assets of its pool, and its rounds."""

    run: Callable[[Pool, int], None]
    pool: Pool
    per_op_s: list[float] = field(default_factory=list)

    def timed_round(self, count: int) -> None:
        gc.collect()
        start = time.perf_counter()
        self.run(self.pool, count)
        self.per_op_s.append((time.perf_counter() - start) / count)

    @property
    def median(self) -> float:
        return statistics.median(self.per_op_s)

    def as_json(self) -> dict[str, Any]:
        return {
            "ops_per_s": round(1 / self.median, 1),
            "median_us_per_op": round(self.median * 1e6, 2),
            "rounds_us_per_op": [round(t * 1e6, 2) for t in self.per_op_s],
        }


def measure_throughput(sides: list[Side], transitions: int, rounds: int) -> None:
    """Warm each side up, then time them in alternating rounds: raw, engine, peer, raw, ..."""
    for side in sides:
        side.run(side.pool, WARMUP_OPS)
    for _ in range(rounds):
        for side in sides:
            side.timed_round(transitions)


@contextmanager
def tracing() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def held() -> int:
    """Bytes Python still holds once the garbage is collected (traced since ``tracing``)."""
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def measure_memory(lifecycle: Lifecycle, tenant: Tenant, first: list[str], more: list[str]) -> dict[str, Any]:
    """Memory kept by transitions (per transition) and by loaded ``Asset`` objects (per asset)."""
    sample = first[:HELD_ASSETS]
    with tracing():
        start = held()
        for asset_id in first:
            lifecycle.activate(tenant, asset_id)
        after_first = held()
        for asset_id in more:
            lifecycle.activate(tenant, asset_id)
        after_more = held()

        before_loading = held()
        loaded: list[Asset] = [lifecycle.get_asset(tenant, asset_id) for asset_id in sample]
        with_loaded = held()
        del loaded
    return {
        "first_transitions": len(first),
        "more_transitions": len(more),
        "held_after_first_bytes": after_first - start,
        "held_after_more_bytes": after_more - start,
        "retained_bytes_per_transition": round((after_more - after_first) / len(more), 2),
        "assets_held": len(sample),
        "bytes_per_loaded_asset": round((with_loaded - before_loading) / len(sample), 1),
    }


def verify(lifecycle: Lifecycle, tenant: Tenant) -> dict[str, Any]:
    """Both sides' audit trails, checked by the engine's verifier (untimed): every chain hash
    recomputed, every history replayed. Stops the run if either side wrote a broken trail."""
    report = lifecycle.verify_audit(Platform("bench"), project_id=tenant.project_id)
    if not report.clean:
        shown = "; ".join(f"{p.asset_id} {p.kind.value}: {p.detail}" for p in report.problems[:5])
        raise SystemExit(f"audit trail broken ({len(report.problems)} problems): {shown}")
    return {"assets": report.assets, "rows": report.rows, "seconds": round(report.seconds, 3)}


# One backend -----------------------------------------------------------------------------------


def analyze(database: Engine) -> None:
    """Give the planner statistics for the freshly filled tables.

    Without them (a new schema, autovacuum off or not yet run), PostgreSQL plans the guarded
    UPDATE through the (project_id, asset_state) index instead of the primary key, and so scans
    every asset of the tenant in that state: both sides would then measure a bad plan, not a move.
    """
    with database.connect() as connection:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            if database.dialect.name == "postgresql":
                connection.exec_driver_sql(f"ANALYZE {', '.join(t.name for t in (assets, files, audit))}")
            else:
                connection.exec_driver_sql("ANALYZE")


def new_peer_pool(side: peer.Peer, tenant: Tenant, count: int) -> Pool:
    """``count`` of the peer's assets, UNACTIVED, in its tables (untimed)."""
    side.migrate()
    return Pool(side.create_unactived(count), tenant.project_id, [""] * count)


def bench_backend(
    name: str, lifecycle: Lifecycle, transitions: int, rounds: int, the_peer: peer.Peer | None
) -> dict[str, Any]:
    tenant = Tenant(f"bench-{name}")
    started = time.perf_counter()
    pool_size = min(POOL_SIZE, transitions)
    raw = Side(RawMoves(lifecycle.database, tenant).run, new_pool(lifecycle, tenant, pool_size, "raw"))
    database = Side(engine_run(lifecycle, tenant), new_pool(lifecycle, tenant, pool_size, "engine"))
    first = create_unactived(lifecycle, tenant, MEMORY_FIRST, "memory-first")
    more = create_unactived(lifecycle, tenant, MEMORY_MORE, "memory-more")
    created = 2 * pool_size + MEMORY_FIRST + MEMORY_MORE
    print(f"  {created} UNACTIVED assets created in {time.perf_counter() - started:.1f}s")
    sides = [raw, database]
    peer_side: Side | None = None
    if the_peer is not None:
        peer_pool = new_peer_pool(the_peer, tenant, pool_size)  # migrates: first
        peer_side = Side(the_peer.run(), peer_pool)
        sides.append(peer_side)
        print(f"  peer: Django's tables migrated, {pool_size} UNACTIVED assets of its own")
    analyze(lifecycle.database)
    print("  planner statistics refreshed (ANALYZE), as autovacuum keeps them on a live database")
    print(f"  timing {rounds} rounds x {transitions} transitions per side, after {WARMUP_OPS} warm-up")
    measure_throughput(sides, transitions, rounds)
    memory = measure_memory(lifecycle, tenant, first, more)
    verified = verify(lifecycle, tenant)
    ratio = database.median / raw.median
    round_ratios = [e / r for e, r in zip(database.per_op_s, raw.per_op_s, strict=True)]
    result: dict[str, Any] = {
        "raw": raw.as_json(),
        "engine": database.as_json(),
        "ratio_engine_over_raw": round(ratio, 3),
        "round_ratios": [round(r, 3) for r in round_ratios],
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
        "memory": memory,
        "audit_verified": verified,
    }
    if the_peer is not None and peer_side is not None:
        over_peer = peer_side.median / database.median
        result.update(
            peer=peer_side.as_json(),
            throughput_engine_over_peer=round(over_peer, 3),
            peer_round_ratios=[
                round(p / e, 3) for p, e in zip(peer_side.per_op_s, database.per_op_s, strict=True)
            ],
            peer_target=PEER_TARGET,
            peer_target_met=over_peer >= PEER_TARGET,
            peer_verified=the_peer.verify(peer_side.pool),
        )
    return result


def bench_sqlite(
    target_file: Path, transitions: int, rounds: int, the_peer: peer.Peer | None
) -> dict[str, Any]:
    print(f"SQLite: {target_file}")
    with Lifecycle(f"sqlite:///{target_file}") as lifecycle:
        lifecycle.upgrade()
        return bench_backend("sqlite", lifecycle, transitions, rounds, the_peer)


def bench_postgres(url: str, transitions: int, rounds: int, the_peer: peer.Peer | None) -> dict[str, Any]:
    database = open_database(url)
    print(f"PostgreSQL: {database.url.render_as_string(hide_password=True)}")
    print("  resetting its lifecycle tables: dropped, then migrated to head")
    try:
        schema.drop(database)
        schema.upgrade(database)
        if the_peer is not None:
            peer.prepare_postgres(url)
            print(f"  the peer's schema {peer.PEER_SCHEMA}: dropped, then created empty")
        return bench_backend("postgresql", Lifecycle(database), transitions, rounds, the_peer)
    finally:
        database.dispose()


# Reporting -------------------------------------------------------------------------------------


def report_backend(backend: str, result: dict[str, Any]) -> None:
    """One backend's figures, printed as soon as they are measured."""
    print()
    print(f"  {'side':<7} {'ops/s':>8} {'µs/op':>8}   rounds (µs/op)")
    for side in ("raw", "engine", "peer"):
        if side not in result:
            continue
        figures = result[side]
        rounds = " ".join(f"{t:.0f}" for t in figures["rounds_us_per_op"])
        print(f"  {side:<7} {figures['ops_per_s']:>8,.0f} {figures['median_us_per_op']:>8.1f}   {rounds}")
    per_round = ", ".join(f"{r:.2f}" for r in result["round_ratios"])
    print(
        f"  engine/raw = {result['ratio_engine_over_raw']:.2f}x the time per transition"
        f" (target <= {TARGET_RATIO}x; per round: {per_round})"
    )
    if "peer" in result:
        per_round = ", ".join(f"{r:.2f}" for r in result["peer_round_ratios"])
        print(
            f"  engine/peer = {result['throughput_engine_over_peer']:.2f}x the throughput"
            f" (target >= {PEER_TARGET}x; per round: {per_round})"
        )
    memory = result["memory"]
    print(
        f"  memory held after {memory['first_transitions']} transitions "
        f"{memory['held_after_first_bytes']:,} B, after {memory['more_transitions']} more on other "
        f"assets {memory['held_after_more_bytes']:,} B: "
        f"{memory['retained_bytes_per_transition']:.2f} B retained per transition"
    )
    print(
        f"  one loaded Asset (get_asset, 2 files) ~ {memory['bytes_per_loaded_asset']:,.0f} B "
        f"(tracemalloc, holding {memory['assets_held']})"
    )
    verified = result["audit_verified"]
    print(
        f"  audit trail verified: {verified['assets']:,} assets, {verified['rows']:,} rows, every chain hash "
        f"recomputed and history replayed ({verified['seconds']:.1f}s), no problem"
    )
    if "peer_verified" in result:
        checked = result["peer_verified"]
        print(
            f"  peer checked: {checked['assets']:,} assets, {checked['rows']:,} StateLog rows, one per move,"
            " alternating, naming the user; every asset in the state it was moved to"
        )
    print()


def targets(backend: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The backend's ratios with their targets (``benchdb.target``)."""
    found = [
        target("one move: engine time / raw", backend, result["ratio_engine_over_raw"], at_most=TARGET_RATIO)
    ]
    if "peer" in result:
        found.append(
            target(
                "one move: engine / peer throughput",
                backend,
                result["throughput_engine_over_peer"],
                at_least=PEER_TARGET,
            )
        )
    return found


def summarize(results: dict[str, dict[str, Any]]) -> None:
    print(f"{'backend':<11} {'raw ops/s':>10} {'engine ops/s':>13} {'peer ops/s':>11}")
    for backend, result in results.items():
        peer_rate = f"{result['peer']['ops_per_s']:>11,.0f}" if "peer" in result else f"{'-':>11}"
        print(
            f"{backend:<11} {result['raw']['ops_per_s']:>10,.0f} {result['engine']['ops_per_s']:>13,.0f}"
            f" {peer_rate}"
        )
    for backend, result in results.items():
        for entry in targets(backend, result):
            print(
                f"{backend:<11} {entry['measure']:<36} {entry['ratio']:>6.2f}x"
                f"   target {entry['target']:<8} {verdict(entry)}"
            )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    database_options(parser)
    parser.add_argument("--transitions", type=int, default=3000, help="timed transitions per side per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side, interleaved")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.transitions < 1 or args.rounds < 1:
        parser.error("--transitions and --rounds must be positive")
    return args


def peer_versions() -> dict[str, str]:
    """The peer's packages as installed (none when the extra is not)."""
    found = {}
    for name in ("Django", "django-fsm-2", "django-fsm-log"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def peer_file(engine_file: Path) -> Path:
    """The peer's SQLite file, beside the engine's, emptied: Django's tables, migrated afresh."""
    path = engine_file.with_name(f"{engine_file.stem}-peer{engine_file.suffix}")
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    return path


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(LOGGING_NOTE)
    results: dict[str, dict[str, Any]] = {}
    absent = peer.missing()
    if absent:
        print(f"peer (django-fsm-2 + django-fsm-log) skipped: {absent}")
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as scratch:
        engine_file = args.sqlite_path or Path(scratch) / "bench.db"
        if not absent:
            peer.configure(sqlite_path=peer_file(engine_file), postgres_url=args.postgres_url)
        on = {alias: None if absent else peer.Peer(alias, f"bench-{alias}") for alias in peer.ALIASES}
        results["sqlite"] = bench_sqlite(engine_file, args.transitions, args.rounds, on["sqlite"])
        report_backend("sqlite", results["sqlite"])
        if args.postgres_url:
            results["postgresql"] = bench_postgres(
                args.postgres_url, args.transitions, args.rounds, on["postgresql"]
            )
            report_backend("postgresql", results["postgresql"])
        else:
            print(f"PostgreSQL skipped: no --postgres-url and none of {', '.join(POSTGRES_ENV)} is set")
            print()
    summarize(results)
    if args.json:
        document = {
            "python": sys.version.split()[0],
            "logging": LOGGING_NOTE,
            "transitions_per_round": args.transitions,
            "rounds": args.rounds,
            "warmup_ops": WARMUP_OPS,
            "peer_versions": peer_versions(),
            "backends": results,
            "targets": [entry for backend, result in results.items() for entry in targets(backend, result)],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
