"""The main job: an end-to-end run on an embedded SQLite file, printing what happened.

``python -m lifecycle.demo [PATH]`` (``make demo``) starts from an empty database each time and,
through the engine's public API only, on an injected clock:

1. seeds a platform: ``TENANTS`` tenants with ``ASSETS_PER_TENANT`` assets each, of every asset
   type, each with its MAIN file and other files of the categories its type allows (names, sizes
   and MD5s drawn from a seeded generator, so every run has the same outcome); a third of the
   tenants store large files, a third files a quarter that size, a third a sixteenth
   (``TENANT_SIZES``), so that some tenants are over their free storage allowance and some within
   it; some assets ask to be activated on upload, some need a review, some carry a planned BLOCK
   or DELETE;
2. uploads their MAIN files: most are accepted, some fail, some do not match what was declared,
   some are cancelled (and retried, or not), some never happen; reviews pass or reject;
3. makes the tenants' and the platform's moves: activate, deactivate (one by one and in batches,
   each batch with an id that is not the tenant's), the recycle bin (delete, restore, delete for
   good), complaints (freeze), unfreezes made directly or through an application (approved or
   rejected), frozen assets deleted by their tenant, assets frozen in the recycle bin;
4. freezes one tenant for good, and freezes and unfreezes another, while one asset of it walks
   through every remembered state (see ``_feature``);
5. lets the upload window and the recycle bin's retention (``Settings``) pass, and runs one
   sweep: upload timeouts, planned freezes and deletes, the bin's purge;
6. reports every tenant's storage (used, exempt, chargeable, billable beyond the free allowance;
   every third video and every other image model is customized, the image models with a timbre
   model), what the sweep freed (the same report as of the moment before it, from the audit
   trail), and why a customized video and a customized image model are billed as they are;
7. prints the counts per state, the sweep's report, the featured asset's audit trail and the
   storage report (``report_of``).

Progress goes to standard error (``rich``), the report to standard output, in the terminal's width
or, written to a file or a pipe, in ``COLUMNS`` where it is set, else 100 columns
(``lifecycle.render.console``). Its tables never cut a value: where their columns do not fit side
by side, some move below each row (``lifecycle.render.FittedTable``).
"""

from __future__ import annotations

import argparse
import base64
import logging
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from lifecycle.actors import Platform, Tenant
from lifecycle.billing import (
    IMAGE_MODEL_TYPES,
    TIMBRE_MODEL_CATEGORY,
    AssetStorage,
    StorageReport,
    size,
)
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    FILE_CATEGORIES,
    LIVE_STATES,
    AssetState,
    AssetType,
    BatchAction,
    Event,
    FailType,
    FileCategory,
    PlannedOperation,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter, LifecycleError
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from lifecycle.progress import SweepProgress
from lifecycle.render import (
    asset_storage_view,
    console,
    history_table,
    shown,
    state_counts_table,
    sweep_table,
    tenant_storage_view,
    tenants_storage_table,
)
from lifecycle.results import Asset, AssetFile, AuditEntry, BatchResult, TenantOperation, Transitioned
from lifecycle.settings import Settings
from lifecycle.sweeps import SweepReport

DEMO_SUFFIX = "demo.db"
DEFAULT_PATH = Path("lifecycle-demo.db")
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PLATFORM = Platform("ops-alice")
TENANTS = 30
ASSETS_PER_TENANT = 80
FEATURED_TENANT = 0
"""Frozen tenant-wide, then unfrozen; one of its assets is the featured one."""
FROZEN_TENANT = 1
"""Frozen tenant-wide and left frozen."""
DELETED_WHILE_TENANT_FROZEN = 3
"""Assets the frozen tenant deletes while frozen: they wait in the recycle bin, still frozen."""
TENANT_SIZES = (1, 4, 16)
"""The n-th tenant's files are ``TENANT_SIZES[n % 3]`` times smaller than the sizes drawn: large,
medium and small tenants, some over their free allowance and some within it."""
NOT_THE_TENANTS = "no-such-asset"

_TYPE_WEIGHTS = {
    AssetType.VIDEO: 18,
    AssetType.IMAGE: 18,
    AssetType.VOICE_MODEL: 8,
    AssetType.PPT: 8,
    AssetType.MUSIC: 6,
    AssetType.AUDIO: 6,
    AssetType.COMMON_FILE: 6,
    AssetType.HUMAN_MODEL_2D: 6,
    AssetType.HUMAN_MODEL: 6,
    AssetType.BUSINESS_CARD_TEMPLET: 3,
    AssetType.SCENE: 4,
    AssetType.ANIMATION: 4,
    AssetType.MATERIAL: 4,
    AssetType.NORMAL_MODEL: 3,
}
_KB, _MB = 1024, 1024 * 1024


@dataclass(frozen=True)
class _Kind:
    """What assets of one type look like: names, the MAIN file's extension and size range."""

    names: tuple[str, ...]
    extension: str
    size: tuple[int, int]


_KINDS = {
    AssetType.VOICE_MODEL: _Kind(
        ("Warm Narrator", "News Anchor", "Support Agent", "Storyteller"), "pth", (20 * _MB, 400 * _MB)
    ),
    AssetType.VIDEO: _Kind(
        ("Product Launch", "Onboarding Tutorial", "Quarterly Review", "Store Tour", "Live Replay"),
        "mp4",
        (5 * _MB, 2048 * _MB),
    ),
    AssetType.IMAGE: _Kind(
        ("Team Photo", "Banner", "Poster", "Product Shot", "Backdrop"), "png", (80 * _KB, 12 * _MB)
    ),
    AssetType.PPT: _Kind(
        ("Sales Deck", "Training Slides", "Pitch", "Course Outline"), "pptx", (1 * _MB, 200 * _MB)
    ),
    AssetType.MUSIC: _Kind(("Upbeat Intro", "Calm Piano", "Corporate Theme"), "mp3", (2 * _MB, 30 * _MB)),
    AssetType.AUDIO: _Kind(("Voice-over", "Podcast Cut", "Interview"), "wav", (5 * _MB, 500 * _MB)),
    AssetType.COMMON_FILE: _Kind(("Script", "Brief", "Style Guide"), "pdf", (50 * _KB, 40 * _MB)),
    AssetType.HUMAN_MODEL_2D: _Kind(
        ("Female Host", "Male Teacher", "Receptionist", "Anchor"), "zip", (50 * _MB, 900 * _MB)
    ),
    AssetType.BUSINESS_CARD_TEMPLET: _Kind(("Card Classic", "Card Modern"), "json", (4 * _KB, 400 * _KB)),
    AssetType.HUMAN_MODEL: _Kind(
        ("Avatar Lisa", "Avatar Chen", "Avatar Omar"), "fbx", (30 * _MB, 1500 * _MB)
    ),
    AssetType.SCENE: _Kind(("Studio", "Classroom", "Showroom", "Office"), "glb", (10 * _MB, 800 * _MB)),
    AssetType.ANIMATION: _Kind(("Wave", "Nod", "Presenting", "Walk Cycle"), "fbx", (1 * _MB, 120 * _MB)),
    AssetType.MATERIAL: _Kind(("Brushed Metal", "Oak", "Marble", "Fabric"), "zip", (1 * _MB, 300 * _MB)),
    AssetType.NORMAL_MODEL: _Kind(("Desk", "Chair", "Lamp", "Podium"), "obj", (1 * _MB, 400 * _MB)),
}
_OTHER_FILES = ("license.txt", "credits.md", "metadata.json", "readme.txt")
_COMPLAINTS = (
    ("complaint: copyright", "C-COPYRIGHT"),
    ("complaint: likeness used without consent", "C-PORTRAIT"),
    ("complaint: misleading content", "C-MISLEADING"),
)


@dataclass
class _Seeded:
    """An asset the demo created, and the state its last move left it in."""

    tenant: Tenant
    asset: Asset
    state: AssetState = AssetState.CREATING

    @property
    def asset_id(self) -> str:
        return self.asset.asset_id


@dataclass(frozen=True)
class Outcome:
    """What a run left: the counts per state, the sweep's report, the featured asset."""

    path: Path
    counts: dict[str, int]
    sweep: SweepReport
    featured_asset_id: str
    featured_tenant: str
    frozen_tenant: str
    seeded: int
    files: int
    storage: StorageReport
    """Every tenant's storage after the sweep."""
    storage_before_sweep: StorageReport
    """The same, as of the moment before the sweep (from the audit trail)."""
    notes: tuple[str, ...]
    """What the run did, in sentences (printed before the tables)."""
    history: tuple[AuditEntry, ...]
    """The featured asset's audit trail."""
    featured_title: str
    """The audit trail's title: the featured asset, its name, type and tenant."""
    explained: tuple[AssetStorage, ...]
    """Why a customized video and a customized image model are billed as they are."""


@dataclass
class _Run:
    """One run of the scenario: the engine, the clock, the generator and what was seeded."""

    lifecycle: Lifecycle
    clock: ManualClock
    rng: random.Random
    progress: Progress
    seeded: list[_Seeded] = field(default_factory=list)
    by_id: dict[str, _Seeded] = field(default_factory=dict)
    events: Counter[Event] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    reserved: set[str] = field(default_factory=set)
    """Assets the random moves leave alone (the featured asset)."""

    # Bookkeeping ---------------------------------------------------------------------------

    def moved(self, transition: Transitioned | None) -> None:
        if transition is None:
            return
        self.events[transition.event] += 1
        self.by_id[transition.asset_id].state = transition.to_state

    def moved_in_batch(self, results: Iterable[BatchResult]) -> Counter[str]:
        statuses: Counter[str] = Counter()
        for result in results:
            statuses[result.status] += 1
            self.moved(result.transition)
        return statuses

    def moved_tenant(self, operation: TenantOperation) -> None:
        for transition in operation.moved:
            self.moved(transition)

    def created(self, seeded: _Seeded) -> None:
        self.seeded.append(seeded)
        self.by_id[seeded.asset_id] = seeded
        self.events[Event.CREATE] += 1

    def pick(self, assets: Sequence[_Seeded], states: Iterable[AssetState], share: float) -> list[_Seeded]:
        """A random ``share`` of ``assets`` now in ``states`` (the reserved ones left out)."""
        wanted = frozenset(states)
        candidates = [s for s in assets if s.state in wanted and s.asset_id not in self.reserved]
        return self.rng.sample(candidates, round(share * len(candidates)))

    def in_order(self, asset_ids: Iterable[str]) -> list[_Seeded]:
        """These assets in the order they were created."""
        wanted = set(asset_ids)
        return [s for s in self.seeded if s.asset_id in wanted]

    def tick(self, seconds: int = 2) -> None:
        """A moment passes (the moves are recorded at distinct times)."""
        self.clock.advance(timedelta(seconds=self.rng.randint(1, seconds)))

    def task(self, description: str, total: int) -> TaskID:
        return self.progress.add_task(description, total=total)


# The scenario --------------------------------------------------------------------------------


def run(path: Path = DEFAULT_PATH, *, seed: int = 7) -> dict[str, int]:
    """Run the scenario on a fresh database at ``path``; return the counts per state."""
    return play(path, seed=seed).counts


def play(
    path: Path = DEFAULT_PATH,
    *,
    seed: int = 7,
    out: Console | None = None,
    progress_console: Console | None = None,
) -> Outcome:
    """Run the scenario on a fresh database at ``path``, report on ``out`` (default: standard
    output) with progress on ``progress_console`` (default: standard error); return the outcome."""
    if path.exists() and not path.name.endswith(DEMO_SUFFIX):
        # The main job starts from an empty database: it deletes its own file, never another one
        # (such as the admin script's lifecycle.db) named by mistake.
        raise InvalidParameter("path", f"{path} exists and is not a demo database (*{DEMO_SUFFIX})")
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    out = out or console()
    progress = Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=progress_console or Console(stderr=True),
        redirect_stdout=False,
        redirect_stderr=False,
    )
    settings = Settings()
    clock = ManualClock(START)
    out.print(f"lifecycle demo on sqlite:///{path} (clock starts {START:%Y-%m-%d %H:%M} UTC)")
    with Lifecycle(f"sqlite:///{path}", clock=clock, settings=settings) as lifecycle:
        lifecycle.upgrade()
        # A reproducible scenario, not a secret.
        world = _Run(lifecycle, clock, random.Random(seed), progress)  # noqa: S311
        tenants = [f"{world.rng.getrandbits(128):032x}" for _ in range(TENANTS)]
        with progress:
            _seed(world, tenants, settings)
            _upload(world)
            featured = _moves(world, tenants)
            _tenant_wide(world, tenants, featured)
            horizon = settings.upload_window + settings.recycle_retention
            clock.advance(horizon)
            world.notes.append(
                f"time passes: {_days(horizon)} (upload window {_days(settings.upload_window)}"
                f" + recycle-bin retention {_days(settings.recycle_retention)}),"
                f" now {clock.now():%Y-%m-%d %H:%M} UTC"
            )
            before_sweep = clock.now() - timedelta(microseconds=1)
            report = _sweep(world)
            storage = _storage(world, before_sweep, report)
        counts = _counts(lifecycle, tenants)
        history = lifecycle.history(PLATFORM, featured.asset_id)
    applied = ", ".join(
        f"{event.value} {count:,}"
        for event, count in sorted(world.events.items(), key=lambda item: list(Event).index(item[0]))
    )
    outcome = Outcome(
        path=path,
        counts={state.value: count for state, count in counts.items()},
        sweep=report,
        featured_asset_id=featured.asset_id,
        featured_tenant=tenants[FEATURED_TENANT],
        frozen_tenant=tenants[FROZEN_TENANT],
        seeded=len(world.seeded),
        files=sum(len(s.asset.files) for s in world.seeded),
        storage=storage.report,
        storage_before_sweep=storage.before_sweep,
        notes=(*world.notes, f"events applied ({len(world.events)} kinds): {applied}"),
        history=tuple(history),
        featured_title=shown(
            f"audit trail of asset {featured.asset_id} ({featured.asset.asset_name!r},"
            f" {featured.asset.asset_type.value}, tenant {featured.tenant.project_id})"
        ),
        explained=tuple(storage.explained),
    )
    for part in report_of(outcome):
        out.print(part)
    return outcome


def report_of(outcome: Outcome) -> list[RenderableType]:
    """What a run prints: its notes, then the counts per state, the sweep, the featured asset's
    audit trail and the storage report (blank lines between them)."""
    featured = next(t for t in outcome.storage.tenants if t.project_id == outcome.featured_tenant)
    parts: list[RenderableType] = [
        *outcome.notes,
        "",
        state_counts_table({AssetState(state): n for state, n in outcome.counts.items()}),
        "",
        sweep_table(outcome.sweep, title="the sweep, rule by rule"),
        "",
        history_table(outcome.history, title=outcome.featured_title),
        "",
        tenants_storage_table(outcome.storage),
        "",
        f"storage of tenant {featured.project_id}, whose asset is featured above",
        tenant_storage_view(featured),
    ]
    for explained in outcome.explained:
        parts += ["", asset_storage_view(explained)]
    return parts


# 1. Seeding ----------------------------------------------------------------------------------


def _seed(world: _Run, tenants: Sequence[str], settings: Settings) -> None:
    rng = world.rng
    task = world.task("creating assets", TENANTS * ASSETS_PER_TENANT)
    types = list(_TYPE_WEIGHTS)
    for index, project_id in enumerate(tenants):
        smaller = TENANT_SIZES[index % len(TENANT_SIZES)]
        users = [f"user-{rng.randint(1000, 9999)}" for _ in range(rng.randint(1, 3))]
        for _ in range(ASSETS_PER_TENANT):
            number = len(world.seeded)
            # Every type at least once, then as common as each is on the platform.
            asset_type = (
                types[number] if number < len(types) else rng.choices(types, list(_TYPE_WEIGHTS.values()))[0]
            )
            tenant = Tenant(project_id, app_user_id=rng.choice([*users, None]))
            new = _new_asset(rng, asset_type, number, settings, smaller)
            if new.customized:  # made by the platform for the tenant: the platform registers it
                asset = world.lifecycle.create_asset(PLATFORM, new, project_id=project_id)
            else:
                asset = world.lifecycle.create_asset(tenant, new)
            world.created(_Seeded(tenant, asset))
            world.tick()
            world.progress.advance(task)
    kinds = Counter(s.asset.asset_type for s in world.seeded).most_common()
    files = sum(len(s.asset.files) for s in world.seeded)
    planned = sum(s.asset.planned_operation is not None for s in world.seeded)
    world.notes.append(
        f"seeded {len(world.seeded):,} assets with {files:,} files for {len(tenants)} tenants:"
        f" {len(kinds)} asset types (from {kinds[0][1]} {kinds[0][0].value} to {kinds[-1][1]}"
        f" {kinds[-1][0].value}), {planned} with a planned operation"
    )


def _new_asset(
    rng: random.Random, asset_type: AssetType, number: int, settings: Settings, smaller: int
) -> NewAsset:
    """An asset of ``asset_type``, its files ``smaller`` times smaller than the sizes drawn."""
    kind = _KINDS[asset_type]
    name = f"{rng.choice(kind.names)} {number:04d}"
    slug = name.lower().replace(" ", "-")
    files = [NewFile(f"{slug}.{kind.extension}", _smaller(rng.randint(*kind.size), smaller), _md5(rng))]
    extras = sorted(FILE_CATEGORIES[asset_type] - {FileCategory.MAIN}, key=list(FileCategory).index)
    chosen = [category for category in extras if rng.random() < 0.6] or [rng.choice(extras)]
    for category in chosen:
        files.extend(
            replace(extra, file_size=_smaller(extra.file_size, smaller))
            for extra in _extra_files(rng, asset_type, category)
        )
    plan = rng.random()
    auto = None
    if plan < 0.05:
        # Due between a day and the upload window + the recycle bin's retention from now:
        # after everything the demo does by hand, before its one sweep.
        horizon = settings.upload_window + settings.recycle_retention
        due = START + timedelta(days=1) + (horizon - timedelta(days=1)) * rng.random()
        operation = PlannedOperation.BLOCK if plan < 0.025 else PlannedOperation.DELETE
        auto = AutoOperation(operation, due.replace(second=0, microsecond=0))
    # Made by the platform to the tenant's order (docs/billing.md): every third video, every other
    # image model, which then carries a timbre model. Decided by the number, not the generator, so
    # that the rest of the scenario draws what it always drew.
    customized = (asset_type is AssetType.VIDEO and number % 3 == 0) or (
        asset_type in IMAGE_MODEL_TYPES and number % 2 == 0
    )
    if customized and asset_type in IMAGE_MODEL_TYPES:
        timbre_size = files[0].file_size // 4 + _MB
        files.append(
            NewFile("timbre.pth", timbre_size, files[0].file_md5, TIMBRE_MODEL_CATEGORY, timbre_model=True)
        )
    return NewAsset(
        asset_name=name,
        asset_type=asset_type,
        files=files,
        customized=customized,
        asset_description=f"{asset_type.value.lower().replace('_', ' ')} for the spring campaign",
        tags=rng.sample(["campaign", "2026", "internal", "customer", "draft", "approved"], rng.randint(0, 3)),
        activate_on_upload=True if rng.random() < 0.3 else None,
        review_required=rng.random() < 0.1,
        auto_operation=auto,
    )


def _extra_files(rng: random.Random, asset_type: AssetType, category: FileCategory) -> list[NewFile]:
    if category is FileCategory.COVER:
        return [NewFile("cover.jpg", rng.randint(40 * _KB, 2 * _MB), _md5(rng), category)]
    if category is FileCategory.SAMPLE:
        sample = "sample.wav" if asset_type is AssetType.VOICE_MODEL else "sample.mp4"
        return [NewFile(sample, rng.randint(200 * _KB, 20 * _MB), _md5(rng), category)]
    if category is FileCategory.PAGE:
        return [
            NewFile(f"page-{page:02d}.png", rng.randint(100 * _KB, 3 * _MB), _md5(rng), category)
            for page in range(1, rng.randint(2, 4) + 1)
        ]
    return [NewFile(rng.choice(_OTHER_FILES), rng.randint(1 * _KB, 200 * _KB), _md5(rng), category)]


def _smaller(size: int, times: int) -> int:
    return max(1, size // times)


def _md5(rng: random.Random) -> str:
    """An MD5 digest in either form the platform accepts: 32 hex digits or 24 of base64."""
    digest = rng.randbytes(16)
    return digest.hex() if rng.random() < 0.5 else base64.b64encode(digest).decode("ascii")


# 2. Uploads and reviews ----------------------------------------------------------------------


def _upload(world: _Run) -> None:
    world.clock.advance(timedelta(minutes=30))
    task = world.task("uploading MAIN files, reviews", len(world.seeded))
    outcomes: Counter[str] = Counter()
    for seeded in world.seeded:
        world.tick()
        outcomes[_upload_one(world, seeded)] += 1
        world.progress.advance(task)
    said = [f"{outcomes[what]:,} {what}" for what in _UPLOAD_OUTCOMES if outcomes[what]]
    world.notes.append(f"MAIN file uploads: {'; '.join(said)}")


_UPLOADED = "uploaded as declared"
_RETRIED = "uploaded as declared on a second try (the first was cancelled)"
_CANCELLED = "cancelled and not tried again (left to time out)"
_NEVER = "never uploaded (left to time out)"
_FAILED = "failed (the client reported the upload failed)"
_MISMATCH = "not as declared (size, MD5 or name differs: the asset fails)"
_REJECTED_EARLY = "not tried (the title failed review first)"
_UPLOAD_OUTCOMES = (_UPLOADED, _RETRIED, _CANCELLED, _NEVER, _FAILED, _MISMATCH, _REJECTED_EARLY)
"""What became of an asset's MAIN file upload, in the order the summary gives them."""


def _upload_one(world: _Run, seeded: _Seeded) -> str:
    """One asset's upload as its tenant's client reports it; what happened, in a few words."""
    rng, main = world.rng, seeded.asset.main_file
    roll = rng.random()
    if roll < 0.01:  # the title fails review before anything is uploaded
        world.moved(
            world.lifecycle.reject_review(
                PLATFORM, seeded.asset_id, FailType.AUTOMATIC_REVIEW_REJECT, reason="title not allowed"
            )
        )
        return _REJECTED_EARLY
    if roll < 0.08:  # the upload window will run out
        return _NEVER
    retried = roll < 0.11
    if retried:
        world.moved(_confirm(world, seeded, UploadResult.CANCELLED))
        if rng.random() < 0.5:
            return _CANCELLED
    elif roll < 0.15:
        world.moved(_confirm(world, seeded, UploadResult.FAILED, reason="connection reset by peer"))
        return _FAILED
    elif roll < 0.18:  # what was uploaded differs from what was declared in one respect
        mismatch = rng.choice(("file_size", "file_md5", "file_name"))
        world.moved(
            _confirm(
                world,
                seeded,
                UploadResult.CREATED,
                file_size=main.file_size + 4096 if mismatch == "file_size" else main.file_size,
                file_md5=_md5(rng) if mismatch == "file_md5" else main.file_md5,
                file_name=f"final-v2.{main.file_type}" if mismatch == "file_name" else main.file_name,
            )
        )
        return _MISMATCH
    _accept(world, seeded)
    return _RETRIED if retried else _UPLOADED


def _accept(world: _Run, seeded: _Seeded) -> None:
    """An upload as declared: accepted, or reviewed first; then, sometimes, the other files."""
    rng, lifecycle, asset = world.rng, world.lifecycle, seeded.asset
    main = asset.main_file
    uploaded = _confirm(world, seeded, UploadResult.CREATED, file_size=main.file_size, file_md5=main.file_md5)
    world.moved(uploaded)
    if uploaded is not None and uploaded.event is Event.SUBMIT_FOR_REVIEW:
        world.tick(30)
        if rng.random() < 0.8:
            world.moved(lifecycle.pass_review(PLATFORM, asset.asset_id, reason="content reviewed"))
        else:
            fail_type = rng.choice(list(FailType))
            world.moved(
                lifecycle.reject_review(PLATFORM, asset.asset_id, fail_type, reason="content not allowed")
            )
    others_too = rng.random() < 0.1 or asset.customized  # the platform uploads all it made
    if others_too and seeded.state in LIVE_STATES:  # the other files, after the MAIN one
        for other in asset.files:
            if other.asset_file_category is not FileCategory.MAIN:
                result = UploadResult.FAILED if rng.random() < 0.05 else UploadResult.CREATED
                lifecycle.confirm_upload(seeded.tenant, asset.asset_id, other.file_id, result)


def _confirm(
    world: _Run,
    seeded: _Seeded,
    result: UploadResult,
    *,
    file_size: int | None = None,
    file_md5: str | None = None,
    file_name: str | None = None,
    reason: str | None = None,
) -> Transitioned | None:
    """Report the MAIN file's upload, with what was uploaded where the client knows it."""
    main: AssetFile = seeded.asset.main_file
    confirmed = world.lifecycle.confirm_upload(
        seeded.tenant,
        seeded.asset_id,
        main.file_id,
        result,
        file_size=file_size,
        file_md5=file_md5,
        file_name=file_name,
        reason=reason,
    )
    return confirmed.transition


# 3. The tenants' and the platform's moves ---------------------------------------------------


def _moves(world: _Run, tenants: Sequence[str]) -> _Seeded:
    by_tenant = {
        project_id: [s for s in world.seeded if s.tenant.project_id == project_id] for project_id in tenants
    }
    featured = next(
        s
        for s in by_tenant[tenants[FEATURED_TENANT]]
        if s.state is AssetState.UNACTIVED
        and s.asset.planned_operation is None
        and s.tenant.app_user_id is not None
    )
    world.reserved.add(featured.asset_id)
    task = world.task("tenants' and platform's moves", len(tenants))
    batches: Counter[tuple[BatchAction, str]] = Counter()
    applications: Counter[str] = Counter()
    for index, project_id in enumerate(tenants):
        mine = by_tenant[project_id]
        # An id from the next tenant: to this tenant it does not exist, exactly like a made-up one.
        elsewhere = by_tenant[tenants[(index + 1) % len(tenants)]][0].asset_id
        batches += _switches_and_bin(world, Tenant(project_id), mine, elsewhere)
        applications += _complaints(world, mine)
        world.progress.advance(task)
    _feature(world, featured)
    per_action = [
        f"{action.value} {batches[(action, 'SUCCESS')]:,} succeeded, {batches[(action, 'FAILED')]:,} failed"
        for action in BatchAction
        if batches[(action, "SUCCESS")] or batches[(action, "FAILED")]
    ]
    world.notes.append(
        f"batch actions, per asset: {'; '.join(per_action)} (every ACTIVE, UNACTIVE and RESTORE batch also"
        " names an asset that is not the tenant's, and every ACTIVE batch one asset twice: those fail,"
        " the others succeed)"
    )
    world.notes.append(
        f"unfreeze applications: {applications['approved']} approved (the asset unfrozen),"
        f" {applications['rejected']} rejected (the asset left frozen)"
    )
    return featured


def _switches_and_bin(
    world: _Run, tenant: Tenant, mine: list[_Seeded], elsewhere: str
) -> Counter[tuple[BatchAction, str]]:
    """The tenant's own moves: its switch, its recycle bin; a few in batches."""
    lifecycle = world.lifecycle
    statuses: Counter[tuple[BatchAction, str]] = Counter()

    def batch(action: BatchAction, chosen: list[_Seeded], *extra: str) -> None:
        if not chosen:
            return
        results = lifecycle.batch(tenant, action, [s.asset_id for s in chosen] + list(extra))
        for status, count in world.moved_in_batch(results).items():
            statuses[(action, status)] += count
        world.tick()

    def each(chosen: list[_Seeded], move: Callable[[_Seeded], Transitioned]) -> None:
        for seeded in chosen:
            world.moved(move(seeded))
            world.tick()

    to_activate = world.pick(mine, [AssetState.UNACTIVED], 0.6)
    # The first of the batch is activated twice: the second time it is refused, as is the
    # other tenant's asset, and the rest succeed.
    batch(BatchAction.ACTIVE, to_activate[:6], *[s.asset_id for s in to_activate[:1]], elsewhere)
    each(to_activate[6:], lambda s: lifecycle.activate(s.tenant, s.asset_id))
    to_deactivate = world.pick(mine, [AssetState.ACTIVED], 0.1)
    batch(BatchAction.UNACTIVE, to_deactivate[:2], NOT_THE_TENANTS)
    each(to_deactivate[2:], lambda s: lifecycle.deactivate(s.tenant, s.asset_id))
    to_bin = world.pick(mine, LIVE_STATES, 0.12)
    batch(BatchAction.DELETE, to_bin[:4])
    each(to_bin[4:], lambda s: lifecycle.delete(s.tenant, s.asset_id, reason="not needed any more"))
    to_restore = world.pick(mine, [AssetState.DELETING], 0.3)
    batch(BatchAction.RESTORE, to_restore[:2], elsewhere)
    each(to_restore[2:], lambda s: lifecycle.restore(s.tenant, s.asset_id))
    batch(BatchAction.DELETE_FORCE, world.pick(mine, [AssetState.DELETING], 0.15))
    each(world.pick(mine, LIVE_STATES, 0.02), lambda s: lifecycle.delete(s.tenant, s.asset_id, force=True))
    return statuses


def _complaints(world: _Run, mine: list[_Seeded]) -> Counter[str]:
    """The platform's moves on complaints, and what follows them: unfreezes (direct, or on an
    application approved or rejected), frozen assets deleted by their tenant (and restored:
    still frozen), assets frozen in the recycle bin, the platform deleting for good."""
    lifecycle, rng = world.lifecycle, world.rng
    applications: Counter[str] = Counter()
    live = world.pick(mine, LIVE_STATES, 0.04)
    in_bin = world.pick(mine, [AssetState.DELETING], 0.25)
    frozen_in_bin = {s.asset_id for s in in_bin}
    for seeded in live + in_bin:
        reason, code = rng.choice(_COMPLAINTS)
        world.moved(lifecycle.freeze(PLATFORM, seeded.asset_id, reason=reason, block_reason_code=code))
        world.tick()
    for seeded in live + in_bin:
        roll = rng.random()
        world.tick(10)
        if roll < 0.3:
            world.moved(lifecycle.unfreeze(PLATFORM, seeded.asset_id, reason="complaint withdrawn"))
        elif roll < 0.6:
            application = lifecycle.apply_for_unfreeze(
                seeded.tenant, seeded.asset_id, reason="we hold the rights to this content"
            )
            world.tick(30)
            if roll < 0.5:
                applications["approved"] += 1
                world.moved(
                    lifecycle.approve_unfreeze(PLATFORM, application.application_id, reason="rights checked")
                )
            else:
                applications["rejected"] += 1
                lifecycle.reject_unfreeze(PLATFORM, application.application_id, reason="rights not shown")
        elif roll < 0.8 and seeded.asset_id not in frozen_in_bin:
            # Deleted while frozen: to the bin, still frozen; half are restored, still frozen.
            # (One frozen in the bin cannot be deleted again.)
            world.moved(lifecycle.delete(seeded.tenant, seeded.asset_id))
            if rng.random() < 0.5:
                world.tick(30)
                world.moved(lifecycle.restore(seeded.tenant, seeded.asset_id))
        elif roll < 0.85:
            world.moved(lifecycle.delete(PLATFORM, seeded.asset_id, force=True, reason="illegal content"))
    return applications


def _feature(world: _Run, featured: _Seeded) -> None:
    """The featured asset, before its tenant is frozen: activated, frozen on a complaint, deleted
    while frozen, restored (still frozen), unfrozen, deleted, frozen in the recycle bin, and
    unfrozen on an approved application: back to where it was before the delete."""
    lifecycle, clock = world.lifecycle, world.clock
    tenant, asset_id = featured.tenant, featured.asset_id
    steps: list[Callable[[], Transitioned]] = [
        lambda: lifecycle.activate(tenant, asset_id, request_id="activate-campaign"),
        lambda: lifecycle.freeze(
            PLATFORM,
            asset_id,
            reason="complaint: likeness used without consent",
            block_reason_code="C-PORTRAIT",
        ),
        lambda: lifecycle.delete(tenant, asset_id, reason="clearing up"),
        lambda: lifecycle.restore(tenant, asset_id, reason="deleted by mistake"),
        lambda: lifecycle.unfreeze(PLATFORM, asset_id, reason="consent on file"),
        lambda: lifecycle.delete(tenant, asset_id, reason="campaign over"),
        lambda: lifecycle.freeze(
            PLATFORM, asset_id, reason="complaint: copyright", block_reason_code="C-COPYRIGHT"
        ),
    ]
    for step in steps:
        clock.advance(timedelta(minutes=7))
        world.moved(step())
    clock.advance(timedelta(minutes=7))
    application = lifecycle.apply_for_unfreeze(tenant, asset_id, reason="the music is licensed")
    clock.advance(timedelta(minutes=7))
    world.moved(
        lifecycle.approve_unfreeze(
            PLATFORM, application.application_id, reason="application approved: licence checked"
        )
    )


# 4. Tenant-wide freezes ----------------------------------------------------------------------


def _tenant_wide(world: _Run, tenants: Sequence[str], featured: _Seeded) -> None:
    lifecycle, clock = world.lifecycle, world.clock
    task = world.task("tenant-wide freeze and unfreeze", 2)
    clock.advance(timedelta(minutes=7))
    # One tenant is frozen for good; while frozen it deletes a few assets (they wait in the
    # bin, still frozen), applies for an unfreeze (rejected) and deletes one for good.
    frozen_tenant = tenants[FROZEN_TENANT]
    frozen = lifecycle.freeze_tenant(
        PLATFORM, frozen_tenant, reason="tenant-wide freeze: unpaid invoices", block_reason_code="BILLING"
    )
    world.moved_tenant(frozen)
    # (In creation order: the engine's order, by asset id, differs from one run to the next.)
    now_frozen = world.in_order(t.asset_id for t in frozen.moved if t.from_state in LIVE_STATES)
    for seeded in now_frozen[:DELETED_WHILE_TENANT_FROZEN]:
        world.tick(10)
        world.moved(lifecycle.delete(seeded.tenant, seeded.asset_id, reason="cleaning up"))
    refused = now_frozen[DELETED_WHILE_TENANT_FROZEN]
    application = lifecycle.apply_for_unfreeze(refused.tenant, refused.asset_id, reason="invoice paid")
    lifecycle.reject_unfreeze(PLATFORM, application.application_id, reason="payment not received")
    gone = now_frozen[-1]
    world.moved(lifecycle.delete(gone.tenant, gone.asset_id, force=True))
    world.progress.advance(task)
    # The featured asset's tenant is frozen and unfrozen. In between, a complaint about one of
    # its assets (it stays frozen, now on its own) and the featured asset deleted while frozen
    # (the unfreeze leaves it in the bin, remembering where the freeze found it).
    clock.advance(timedelta(minutes=7))
    investigated = tenants[FEATURED_TENANT]
    paused = lifecycle.freeze_tenant(
        PLATFORM, investigated, reason="tenant-wide freeze: security investigation"
    )
    world.moved_tenant(paused)
    complained = world.in_order(
        t.asset_id
        for t in paused.moved
        if t.from_state is AssetState.ACTIVED and t.asset_id != featured.asset_id
    )[0]
    clock.advance(timedelta(minutes=7))
    world.moved(lifecycle.freeze(PLATFORM, complained.asset_id, reason="complaint: misleading content"))
    clock.advance(timedelta(minutes=7))
    world.moved(lifecycle.delete(featured.tenant, featured.asset_id, reason="replaced by a new version"))
    clock.advance(timedelta(minutes=7))
    released = lifecycle.unfreeze_tenant(
        PLATFORM, investigated, reason="tenant-wide unfreeze: investigation closed"
    )
    world.moved_tenant(released)
    clock.advance(timedelta(minutes=7))
    world.moved(lifecycle.restore(featured.tenant, featured.asset_id, reason="the new version was rejected"))
    world.progress.advance(task)
    world.notes.append(
        f"tenant-wide freeze of {frozen_tenant}: {len(frozen.moved)} frozen, {len(frozen.skipped)} frozen"
        f" already; then {DELETED_WHILE_TENANT_FROZEN} deleted while frozen, 1 unfreeze application"
        " rejected, 1 deleted for good"
    )
    world.notes.append(
        f"tenant-wide freeze of {investigated}: {len(paused.moved)} frozen,"
        f" {len(paused.skipped)} frozen already; unfreeze: {len(released.moved)} released,"
        f" {len(released.skipped)} frozen on their own left frozen"
    )


# 5. Time passes: one sweep -----------------------------------------------------------------


def _sweep(world: _Run) -> SweepReport:
    # An estimate: a row due under two rules (a timeout, then a planned delete) counts twice here.
    due = world.lifecycle.due_counts()
    task = world.task("sweep", sum(due.values()))
    report = world.lifecycle.sweep(listener=SweepProgress(world.progress, task))
    for rule in report.rules:
        world.events[rule.event] += rule.moved
    return report


# 6. Storage and billing ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Storage:
    report: StorageReport
    before_sweep: StorageReport
    explained: list[AssetStorage]
    """Why a customized video and a customized image model are billed as they are."""


def _storage(world: _Run, before_sweep: datetime, sweep: SweepReport) -> _Storage:
    """Every tenant's storage after the sweep, what the sweep freed (the same report as of the
    moment before it, read from the audit trail), and two assets' verdicts."""
    lifecycle = world.lifecycle
    task = world.task("storage report", TENANTS)
    report = lifecycle.storage_report(
        PLATFORM, page_size=10, progress=lambda done, total: world.progress.update(task, completed=done)
    )
    before = lifecycle.storage_report(PLATFORM, as_of=before_sweep)
    over = sum(t.over_allowance for t in report.tenants)
    world.notes.append(
        f"storage after the sweep: {size(report.used_bytes)} used by {len(report.tenants)} tenants,"
        f" {size(report.used_bytes - report.chargeable_bytes)} of it exempt;"
        f" {size(report.billable_bytes)} billable beyond the free allowance of {size(report.free_bytes)}"
        f" a tenant: {over} tenants over it, {len(report.tenants) - over} within it (the storage"
        " table's last column says which)"
    )
    purged = sum(rule.moved for rule in sweep.rules if rule.event is Event.PURGE)
    world.notes.append(
        f"the sweep's purge of the recycle bin ({purged} assets deleted for good) freed"
        f" {size(before.used_bytes - report.used_bytes)}: the storage report as of the moment before"
        f" the sweep, read back from the audit trail, gives {size(before.used_bytes)} used;"
        f" after it, {size(report.used_bytes)}"
    )
    explained = []
    for wanted in (AssetType.VIDEO, AssetType.HUMAN_MODEL_2D):
        candidates = [
            s
            for s in world.seeded
            if s.asset.customized and s.asset.asset_type is wanted and s.state in LIVE_STATES
        ]
        for seeded in candidates:
            verdict = lifecycle.asset_storage(PLATFORM, seeded.asset_id)
            if verdict.used_bytes:
                explained.append(verdict)
                break
    return _Storage(report, before, explained)


# 7. The report -------------------------------------------------------------------------------


def _counts(lifecycle: Lifecycle, tenants: Sequence[str]) -> dict[AssetState, int]:
    return {
        state: sum(
            lifecycle.list_assets(PLATFORM, project_id=project_id, states=[state], limit=1).total
            for project_id in tenants
        )
        for state in AssetState
    }


def _days(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} d" if hours % 24 == 0 and hours > 24 else f"{hours:g} h"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lifecycle.demo",
        description="The main job: an end-to-end run of the engine on an embedded SQLite file.",
    )
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=DEFAULT_PATH,
        help=f"the SQLite file to (re)create; an existing file must be a demo's (*{DEMO_SUFFIX})",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # The demo is an application, so it may configure logging: warnings only, on stderr.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        run(args.path)
    except LifecycleError as error:
        print(f"error {error.code}: {error.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
