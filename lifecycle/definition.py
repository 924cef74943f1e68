"""The asset lifecycle, defined once.

Everything else derives from ``TRANSITIONS``: the engine's decisions, the role checks, the
diagrams, the docs and the test generators. The table is loaded into one ``transitions.Machine``
(model-less, auto-transitions off), validated when built, and indexed so that deciding a move is
a dictionary lookup: no state-machine object is ever built per asset.

Returns to remembered states (restore, unfreeze) and the activate-on-upload choice are
conditional edges: one edge per possible target, guarded by a named condition over the asset's
``AssetFacts``. The conditions are pure functions registered in ``CONDITIONS``.

Files have a machine of their own, ``FILE_TRANSITIONS``, defined here too: the MAIN file follows
its asset's moves, the other files move on their own upload confirmations, and every file is
deleted with its asset. The engine's file moves are derived from it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from transitions import Machine

from lifecycle.errors import InvalidDefinition


class Named(enum.Enum):
    """An enum whose members hash by identity. Each member is a singleton, equal only to itself, so
    this agrees with equality; ``Enum``'s own hash is Python code, and the engine looks members up
    in dictionaries and sets many times per move (the table's index, a sweep's rules)."""

    __hash__ = object.__hash__


class AssetState(Named):
    """``asset_state``, spelled as the platform spells it."""

    CREATING = "CREATING"
    FAILED = "FAILED"
    UNACTIVED = "UNACTIVED"
    ACTIVED = "ACTIVED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    BLOCK = "BLOCK"


class Event(Named):
    """What moves an asset. Imperative verbs; ``create`` brings an asset into being."""

    CREATE = "create"
    ACCEPT_UPLOAD = "accept_upload"
    SUBMIT_FOR_REVIEW = "submit_for_review"
    CANCEL_UPLOAD = "cancel_upload"
    FAIL_UPLOAD = "fail_upload"
    PASS_REVIEW = "pass_review"  # noqa: S105 - an event name, not a password
    REJECT_REVIEW = "reject_review"
    TIME_OUT_UPLOAD = "time_out_upload"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    DELETE_FORCE = "delete_force"
    RESTORE = "restore"
    PURGE = "purge"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    # Changes the audit trail records that move no state (``RECORDED_CHANGES``).
    DECLARE_FILE = "declare_file"
    DELETE_FILE = "delete_file"
    UPDATE_METADATA = "update_metadata"


class Role(Named):
    """Who may ask for a move (domain.md, "Tenancy, roles, errors")."""

    TENANT = "tenant"
    PLATFORM = "platform"
    SYSTEM = "system"


class Memory(Named):
    """What a move does to the remembered states (beyond dropping what no longer applies)."""

    PRE_FREEZE = "pre_freeze := from"
    """The pre-freeze slot keeps the state the move left (freeze)."""
    PRE_DELETE = "pre_delete := from"
    """The pre-delete slot keeps the state the move left (delete)."""
    PRE_DELETE_FROM_PRE_FREEZE = "pre_delete := pre_freeze"
    """Unfreezing an asset deleted while frozen: it stays in the bin, and a restore now lands
    where the freeze found it."""


class FailType(Named):
    AUTOMATIC_REVIEW_REJECT = "AUTOMATIC_REVIEW_REJECT"
    MANUAL_REVIEW_REJECT = "MANUAL_REVIEW_REJECT"


class AssetType(Named):
    VOICE_MODEL = "VOICE_MODEL"
    VIDEO = "VIDEO"
    IMAGE = "IMAGE"
    PPT = "PPT"
    MUSIC = "MUSIC"
    AUDIO = "AUDIO"
    COMMON_FILE = "COMMON_FILE"
    HUMAN_MODEL_2D = "HUMAN_MODEL_2D"
    BUSINESS_CARD_TEMPLET = "BUSINESS_CARD_TEMPLET"
    HUMAN_MODEL = "HUMAN_MODEL"
    SCENE = "SCENE"
    ANIMATION = "ANIMATION"
    MATERIAL = "MATERIAL"
    NORMAL_MODEL = "NORMAL_MODEL"


class FileCategory(Named):
    MAIN = "MAIN"
    COVER = "COVER"
    PAGE = "PAGE"
    SAMPLE = "SAMPLE"
    OTHER = "OTHER"
    WHOLE_MODEL = "WHOLE_MODEL"
    USER_MODIFIED_MODEL = "USER_MODIFIED_MODEL"


class FileState(Named):
    CREATING = "CREATING"
    UPLOADED = "UPLOADED"
    REVIEW = "REVIEW"
    CREATED = "CREATED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    BLOCK = "BLOCK"


class UploadResult(Named):
    """What a confirm-upload call reports."""

    CREATED = "CREATED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class PlannedOperation(Named):
    """``auto_operation_config.operation``: what the system does at ``operation_time``."""

    BLOCK = "BLOCK"
    DELETE = "DELETE"


class BlockScope(Named):
    """Whether a freeze targeted the asset or its whole tenant (tenant unfreeze undoes only the latter)."""

    ASSET = "ASSET"
    TENANT = "TENANT"


class BatchAction(Named):
    """The platform's batch actions and the event each one fires."""

    DELETE = "DELETE"
    DELETE_FORCE = "DELETE_FORCE"
    RESTORE = "RESTORE"
    ACTIVE = "ACTIVE"
    UNACTIVE = "UNACTIVE"

    @property
    def event(self) -> Event:
        return _BATCH_EVENTS[self]


_BATCH_EVENTS = {
    BatchAction.DELETE: Event.DELETE,
    BatchAction.DELETE_FORCE: Event.DELETE_FORCE,
    BatchAction.RESTORE: Event.RESTORE,
    BatchAction.ACTIVE: Event.ACTIVATE,
    BatchAction.UNACTIVE: Event.DEACTIVATE,
}


class ApplicationState(Named):
    """An application for unfreezing, made by the tenant and decided by the platform."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class UnknownValue(str):
    """A stored value the enum does not know (a row written behind the engine's back).

    Reads hand it on instead of failing inside the driver layer, so that the engine can say
    which asset holds it (``CorruptRecord``) and a sweep can pass over that one row.
    """

    __slots__ = ()

    @property
    def value(self) -> str:
        return str(self)


INITIAL_STATE = AssetState.CREATING
FINAL_STATES = frozenset({AssetState.DELETED})
LIVE_STATES = frozenset({AssetState.CREATING, AssetState.FAILED, AssetState.UNACTIVED, AssetState.ACTIVED})
"""States with nothing remembered: the asset is neither frozen nor in the recycle bin."""

ALL_BUT_DELETED = frozenset(AssetState) - FINAL_STATES

RECORDED_CHANGES = frozenset({Event.DECLARE_FILE, Event.DELETE_FILE, Event.UPDATE_METADATA})
"""Changes to an asset that are not moves: a file declared or deleted after the asset's creation,
its name, description or tags updated. Each is an audit row like a move's (chained, its own version
of the asset) whose state and memory stay as they were; the transition table knows none of them
(docs/lifecycle.md, "Changes that move no state")."""

CHANGE_STATES: Mapping[Event, frozenset[AssetState]] = {
    Event.DECLARE_FILE: frozenset({AssetState.CREATING}),
    Event.DELETE_FILE: LIVE_STATES,
    Event.UPDATE_METADATA: LIVE_STATES,
}
"""Where each recorded change may be made: files are declared only while the asset awaits its
upload; nothing changes on a frozen asset or one in (or past) the recycle bin. (Which files
``delete_file`` may remove is narrower: ``lifecycle.changes``.)"""

TABLE_EVENTS: tuple[Event, ...] = tuple(
    event for event in Event if event is not Event.CREATE and event not in RECORDED_CHANGES
)
"""The events the transition table decides: every one but the creation and the recorded changes."""

FILE_CATEGORIES: Mapping[AssetType, frozenset[FileCategory]] = {
    asset_type: frozenset(categories)
    for asset_type, categories in {
        AssetType.SCENE: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.ANIMATION: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.VIDEO: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.IMAGE: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.MATERIAL: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.PPT: (FileCategory.MAIN, FileCategory.COVER, FileCategory.PAGE, FileCategory.OTHER),
        AssetType.HUMAN_MODEL: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.VOICE_MODEL: (FileCategory.MAIN, FileCategory.SAMPLE, FileCategory.OTHER),
        AssetType.HUMAN_MODEL_2D: (
            FileCategory.MAIN,
            FileCategory.COVER,
            FileCategory.SAMPLE,
            FileCategory.OTHER,
        ),
        AssetType.BUSINESS_CARD_TEMPLET: (FileCategory.MAIN, FileCategory.COVER),
        # The platform documents no categories for these four; they take the common set.
        AssetType.MUSIC: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.AUDIO: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.COMMON_FILE: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
        AssetType.NORMAL_MODEL: (FileCategory.MAIN, FileCategory.COVER, FileCategory.OTHER),
    }.items()
}


@dataclass(frozen=True, slots=True)
class AssetFacts:
    """What a decision may look at: the asset's state, its memory and its MAIN file."""

    state: AssetState
    pre_freeze: AssetState | None = None
    pre_delete: AssetState | None = None
    activate_on_upload: bool = False
    review_required: bool = False
    main_file_state: FileState = FileState.CREATING
    frozen_by_tenant: bool = False
    """Frozen by a tenant-wide freeze (not on its own): a tenant-wide unfreeze releases it."""

    @property
    def is_frozen(self) -> bool:
        """Frozen, or deleted by its tenant while frozen (restore brings it back frozen)."""
        return self.state is AssetState.BLOCK or (
            self.state is AssetState.DELETING and self.pre_delete is AssetState.BLOCK
        )


def _unfreeze_target(facts: AssetFacts) -> AssetState | None:
    # "If an asset in the recycle bin is unfrozen, its asset status will become the one before
    # it was deleted."
    if facts.pre_freeze is AssetState.DELETING:
        return facts.pre_delete
    return facts.pre_freeze


def _restores_to(state: AssetState) -> Callable[[AssetFacts], bool]:
    return lambda facts: facts.pre_delete is state


def _unfreezes_to(state: AssetState) -> Callable[[AssetFacts], bool]:
    return lambda facts: _unfreeze_target(facts) is state


_AWAITING_UPLOAD = frozenset({FileState.CREATING, FileState.CANCELLED})
_AWAITING_REVIEW = frozenset({FileState.UPLOADED, FileState.REVIEW})

CONDITIONS: Mapping[str, Callable[[AssetFacts], bool]] = {
    "activates_on_upload": lambda facts: facts.activate_on_upload,
    "review_required": lambda facts: facts.review_required,
    "main_file_awaiting_upload": lambda facts: facts.main_file_state in _AWAITING_UPLOAD,
    "main_file_awaiting_review": lambda facts: facts.main_file_state in _AWAITING_REVIEW,
    "frozen_in_recycle_bin": lambda facts: facts.pre_freeze is AssetState.DELETING,
    "deleted_while_frozen": lambda facts: facts.pre_delete is AssetState.BLOCK,
    "frozen_by_tenant": lambda facts: facts.frozen_by_tenant,
    **{f"restores_to_{state.value}": _restores_to(state) for state in AssetState},
    **{f"unfreezes_to_{state.value}": _unfreezes_to(state) for state in AssetState},
}
"""Named guards over ``AssetFacts``; transitions reference them by name."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One edge of the table: ``event`` moves an asset from any of ``sources`` to ``dest``."""

    event: Event
    sources: frozenset[AssetState]
    dest: AssetState
    conditions: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    remembers: Memory | None = None
    """The slot that keeps the source state (freeze: pre-freeze; delete: pre-delete)."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What the table says about an event as a whole."""

    event: Event
    roles: frozenset[Role]
    summary: str
    time_driven: bool = False


def _edge(
    event: Event,
    sources: Iterable[AssetState],
    dest: AssetState,
    *,
    conditions: Sequence[str] = (),
    unless: Sequence[str] = (),
    remembers: Memory | None = None,
) -> Transition:
    return Transition(event, frozenset(sources), dest, tuple(conditions), tuple(unless), remembers)


def _returns(
    event: Event, source: AssetState, targets: Iterable[AssetState], prefix: str
) -> list[Transition]:
    return [_edge(event, [source], target, conditions=[f"{prefix}_{target.value}"]) for target in targets]


_S = AssetState
_UPLOAD_TARGETS = [
    ("activates_on_upload", _S.ACTIVED, True),
    ("activates_on_upload", _S.UNACTIVED, False),
]

EVENTS: tuple[EventSpec, ...] = (
    EventSpec(Event.ACCEPT_UPLOAD, frozenset({Role.TENANT}), "MAIN file uploaded and accepted"),
    EventSpec(Event.SUBMIT_FOR_REVIEW, frozenset({Role.TENANT}), "MAIN file uploaded, awaiting review"),
    EventSpec(Event.CANCEL_UPLOAD, frozenset({Role.TENANT}), "MAIN file upload cancelled; may be retried"),
    EventSpec(
        Event.FAIL_UPLOAD,
        frozenset({Role.TENANT, Role.PLATFORM}),
        "MAIN file upload failed or does not match its declaration",
    ),
    EventSpec(Event.PASS_REVIEW, frozenset({Role.PLATFORM}), "review of the uploaded MAIN file passed"),
    EventSpec(
        Event.REJECT_REVIEW, frozenset({Role.PLATFORM}), "review of title, description or MAIN file failed"
    ),
    EventSpec(
        Event.TIME_OUT_UPLOAD,
        frozenset({Role.SYSTEM}),
        "MAIN file not uploaded within the upload window (24 h)",
        time_driven=True,
    ),
    EventSpec(Event.ACTIVATE, frozenset({Role.TENANT}), "tenant activates"),
    EventSpec(Event.DEACTIVATE, frozenset({Role.TENANT}), "tenant deactivates"),
    EventSpec(
        Event.DELETE,
        frozenset({Role.TENANT, Role.SYSTEM}),
        "to the recycle bin (system: a planned DELETE)",
    ),
    EventSpec(Event.DELETE_FORCE, frozenset({Role.TENANT, Role.PLATFORM}), "deleted for good"),
    EventSpec(Event.RESTORE, frozenset({Role.TENANT}), "out of the recycle bin, to the pre-delete state"),
    EventSpec(
        Event.PURGE,
        frozenset({Role.SYSTEM}),
        "recycle-bin retention expired (7 days)",
        time_driven=True,
    ),
    EventSpec(
        Event.FREEZE,
        frozenset({Role.PLATFORM, Role.SYSTEM}),
        "frozen by the platform (system: a planned BLOCK)",
    ),
    EventSpec(Event.UNFREEZE, frozenset({Role.PLATFORM}), "unfrozen, to the pre-freeze state"),
)

TRANSITIONS: tuple[Transition, ...] = (
    # Upload of the MAIN file.
    *(
        _edge(
            Event.ACCEPT_UPLOAD,
            [_S.CREATING],
            dest,
            conditions=["main_file_awaiting_upload", *([cond] if wanted else [])],
            unless=["review_required", *([] if wanted else [cond])],
        )
        for cond, dest, wanted in _UPLOAD_TARGETS
    ),
    _edge(
        Event.SUBMIT_FOR_REVIEW,
        [_S.CREATING],
        _S.CREATING,
        conditions=["review_required", "main_file_awaiting_upload"],
    ),
    _edge(Event.CANCEL_UPLOAD, [_S.CREATING], _S.CREATING, conditions=["main_file_awaiting_upload"]),
    _edge(Event.FAIL_UPLOAD, [_S.CREATING], _S.FAILED),
    # Review verdicts.
    *(
        _edge(
            Event.PASS_REVIEW,
            [_S.CREATING],
            dest,
            conditions=["main_file_awaiting_review", *([cond] if wanted else [])],
            unless=[] if wanted else [cond],
        )
        for cond, dest, wanted in _UPLOAD_TARGETS
    ),
    _edge(Event.REJECT_REVIEW, [_S.CREATING], _S.FAILED),
    # An upload made in time and waiting for review has not run out of time.
    _edge(Event.TIME_OUT_UPLOAD, [_S.CREATING], _S.FAILED, unless=["main_file_awaiting_review"]),
    # The tenant's switch.
    _edge(Event.ACTIVATE, [_S.UNACTIVED], _S.ACTIVED),
    _edge(Event.DEACTIVATE, [_S.ACTIVED], _S.UNACTIVED),
    # The recycle bin. A frozen asset may be deleted (it comes back frozen on restore), unless
    # it was frozen while already in the bin.
    _edge(Event.DELETE, LIVE_STATES, _S.DELETING, remembers=Memory.PRE_DELETE),
    _edge(
        Event.DELETE,
        [_S.BLOCK],
        _S.DELETING,
        unless=["frozen_in_recycle_bin"],
        remembers=Memory.PRE_DELETE,
    ),
    *_returns(
        Event.RESTORE, _S.DELETING, [*sorted(LIVE_STATES, key=list(_S).index), _S.BLOCK], "restores_to"
    ),
    # Time never moves a frozen asset: one deleted while frozen waits in the bin until unfrozen.
    _edge(Event.PURGE, [_S.DELETING], _S.DELETED, unless=["deleted_while_frozen"]),
    _edge(Event.DELETE_FORCE, ALL_BUT_DELETED, _S.DELETED),
    # Freezing. An asset deleted while frozen is still frozen: freezing it again is refused.
    _edge(
        Event.FREEZE,
        LIVE_STATES,
        _S.BLOCK,
        remembers=Memory.PRE_FREEZE,
    ),
    _edge(
        Event.FREEZE,
        [_S.DELETING],
        _S.BLOCK,
        unless=["deleted_while_frozen"],
        remembers=Memory.PRE_FREEZE,
    ),
    # A freeze of its own (a complaint) on an asset frozen with its whole tenant: it stays
    # frozen, now on its own, so a tenant-wide unfreeze leaves it frozen.
    _edge(Event.FREEZE, [_S.BLOCK], _S.BLOCK, conditions=["frozen_by_tenant"]),
    *_returns(Event.UNFREEZE, _S.BLOCK, sorted(LIVE_STATES, key=list(_S).index), "unfreezes_to"),
    _edge(
        Event.UNFREEZE,
        [_S.DELETING],
        _S.DELETING,
        conditions=["deleted_while_frozen"],
        remembers=Memory.PRE_DELETE_FROM_PRE_FREEZE,
    ),
)


UPLOAD_TIMEOUT_REASON = "MAIN file not uploaded within the upload window"


class TimeBasis(Named):
    """The stored moment a time rule counts from: a column of the asset row.

    A NULL basis means the clock is stopped (frozen, or the rule does not apply), so the rule
    cannot fire; this is how time leaves frozen assets alone.
    """

    UPLOAD_DEADLINE = "upload_deadline"
    """Creation + the upload window, moved on by the time spent frozen or in the recycle bin."""
    RETENTION_STARTED_AT = "retention_started_at"
    """When the recycle bin's retention began counting: the delete (or the unfreeze of an asset
    deleted while frozen)."""
    PLANNED_OPERATION_TIME = "planned_operation_time"
    """``auto_operation_config.operation_time``."""


class Delay(Named):
    """A duration of the engine's ``Settings`` that a time rule waits after its basis."""

    UPLOAD_WINDOW = "upload_window"
    RECYCLE_RETENTION = "recycle_retention"


@dataclass(frozen=True, slots=True)
class TimeRule:
    """A move that time makes: once ``basis`` + ``delay`` has come, the system fires ``event``.

    The sweep's query, its index, the docs and the tests are all derived from these fields.
    """

    name: str
    event: Event
    basis: TimeBasis
    reason: str
    """The audit trail's reason for the move."""
    delay: Delay | None = None
    """The ``Settings`` duration added to the basis; None: the basis is the deadline itself."""
    plan: PlannedOperation | None = None
    """Only assets whose planned operation is this one."""


TIME_RULES: tuple[TimeRule, ...] = (
    TimeRule(
        "upload_timeout",
        Event.TIME_OUT_UPLOAD,
        TimeBasis.UPLOAD_DEADLINE,
        UPLOAD_TIMEOUT_REASON,
    ),
    TimeRule(
        "planned_freeze",
        Event.FREEZE,
        TimeBasis.PLANNED_OPERATION_TIME,
        "planned BLOCK operation",
        plan=PlannedOperation.BLOCK,
    ),
    TimeRule(
        "planned_delete",
        Event.DELETE,
        TimeBasis.PLANNED_OPERATION_TIME,
        "planned DELETE operation",
        plan=PlannedOperation.DELETE,
    ),
    TimeRule(
        "recycle_bin_purge",
        Event.PURGE,
        TimeBasis.RETENTION_STARTED_AT,
        "in the recycle bin for longer than the retention",
        delay=Delay.RECYCLE_RETENTION,
    ),
)
"""The moves time makes, in the order a sweep runs them (so one sweep catches up with chains
such as an upload timeout followed by a planned delete)."""


class FileScope(Named):
    """Which of an asset's files a file transition moves."""

    MAIN = "MAIN"
    """The MAIN file: it follows its asset's moves."""
    OTHER = "other"
    """Every file but MAIN: each moves only on its own upload's confirmation."""
    ALL = "all"
    """Every file of the asset."""


class Declared(Named):
    """How a file reported uploaded compares with its declaration (size, MD5, name)."""

    MATCHES = "matches its declaration"
    DIFFERS = "differs from its declaration"


@dataclass(frozen=True, slots=True)
class FileTransition:
    """One edge of the file machine: ``cause`` moves ``files`` from any of ``sources`` to ``dest``.

    The cause is an asset ``Event`` (the MAIN file follows its asset's move), an ``UploadResult``
    (a confirm-upload call reporting on a file other than MAIN), or an ``AssetState`` (the asset
    entering that state, whatever event took it there).
    """

    cause: Event | UploadResult | AssetState
    sources: frozenset[FileState]
    dest: FileState
    files: FileScope
    declared: Declared | None = None
    """For an upload reported CREATED: only when the upload matches (or differs from) what was
    declared at creation; None where the declaration is not compared."""
    asset_states: frozenset[AssetState] | None = None
    """For a confirmation: the asset states that accept it. None where the cause is the asset's
    own move (the asset table decides)."""


def _file_edge(
    cause: Event | UploadResult | AssetState,
    sources: Iterable[FileState],
    dest: FileState,
    files: FileScope,
    *,
    declared: Declared | None = None,
    asset_states: Iterable[AssetState] | None = None,
) -> FileTransition:
    return FileTransition(
        cause,
        frozenset(sources),
        dest,
        files,
        declared,
        None if asset_states is None else frozenset(asset_states),
    )


_F = FileState
FILE_INITIAL_STATE = FileState.CREATING
FILE_FINAL_STATES = frozenset({FileState.DELETED})

FILE_TRANSITIONS: tuple[FileTransition, ...] = (
    # The MAIN file follows its asset out of CREATING. (REVIEW also counts as awaiting review in
    # ``main_file_awaiting_review``, but no move makes a file REVIEW.)
    _file_edge(Event.ACCEPT_UPLOAD, _AWAITING_UPLOAD, _F.CREATED, FileScope.MAIN),
    _file_edge(Event.SUBMIT_FOR_REVIEW, _AWAITING_UPLOAD, _F.UPLOADED, FileScope.MAIN),
    _file_edge(Event.CANCEL_UPLOAD, _AWAITING_UPLOAD, _F.CANCELLED, FileScope.MAIN),
    _file_edge(Event.FAIL_UPLOAD, [*_AWAITING_UPLOAD, _F.UPLOADED], _F.FAILED, FileScope.MAIN),
    _file_edge(Event.PASS_REVIEW, [_F.UPLOADED], _F.CREATED, FileScope.MAIN),
    _file_edge(Event.REJECT_REVIEW, [*_AWAITING_UPLOAD, _F.UPLOADED], _F.FAILED, FileScope.MAIN),
    _file_edge(Event.TIME_OUT_UPLOAD, _AWAITING_UPLOAD, _F.FAILED, FileScope.MAIN),
    # The other files move on their own confirmations, never the asset, while it is live (neither
    # frozen nor in the recycle bin). An upload that differs from its declaration fails the file.
    *(
        _file_edge(
            result, _AWAITING_UPLOAD, dest, FileScope.OTHER, declared=declared, asset_states=LIVE_STATES
        )
        for result, dest, declared in (
            (UploadResult.CREATED, _F.CREATED, Declared.MATCHES),
            (UploadResult.CREATED, _F.FAILED, Declared.DIFFERS),
            (UploadResult.FAILED, _F.FAILED, None),
            (UploadResult.CANCELLED, _F.CANCELLED, None),
        )
    ),
    # Deleted for good: every file goes with its asset, whatever its state.
    _file_edge(
        AssetState.DELETED,
        [_F.CREATING, _F.UPLOADED, _F.CREATED, _F.FAILED, _F.CANCELLED],
        _F.DELETED,
        FileScope.ALL,
    ),
)
"""The file machine. File states no edge mentions (REVIEW, DELETING, BLOCK: the platform's
enum has them) are not used by the engine."""

STORED_FILE_STATES = frozenset({FileState.UPLOADED, FileState.REVIEW, FileState.CREATED})
"""A file entering one of these has had its upload accepted: its bytes take storage from then on
(``stored_at``) until its asset is deleted for good, whatever later becomes of it (docs/billing.md)."""


@dataclass(frozen=True)
class Definition:
    """A validated lifecycle: the machine built from a table, and the index decisions use."""

    transitions: tuple[Transition, ...]
    events: Mapping[Event, EventSpec]
    machine: Machine
    _index: Mapping[tuple[Event, AssetState], tuple[Transition, ...]] = field(repr=False)
    time_rules: tuple[TimeRule, ...] = ()
    file_transitions: tuple[FileTransition, ...] = ()

    def __repr__(self) -> str:
        # Short: it is the default of Lifecycle(definition=...), so help() and signatures show it.
        states = {state for edge in self.transitions for state in (*edge.sources, edge.dest)}
        return (
            f"<Definition: {len(self.events)} events, {len(states)} states,"
            f" {len(self.transitions)} transitions, {len(self.time_rules)} time rules,"
            f" {len(self.file_transitions)} file transitions>"
        )

    def resolve(self, event: Event, facts: AssetFacts) -> Transition | None:
        """The edge ``event`` takes from ``facts``, or None where the table refuses it."""
        for edge in self._index.get((event, facts.state), ()):
            if all(CONDITIONS[name](facts) for name in edge.conditions) and not any(
                CONDITIONS[name](facts) for name in edge.unless
            ):
                return edge
        return None

    def allowed_events(self, facts: AssetFacts, role: Role | None = None) -> list[Event]:
        """The events the table accepts now, in table order (for one role, where given)."""
        return [
            spec.event
            for spec in self.events.values()
            if (role is None or role in spec.roles) and self.resolve(spec.event, facts) is not None
        ]

    def roles(self, event: Event) -> frozenset[Role]:
        return self.events[event].roles

    def sources(self, event: Event) -> frozenset[AssetState]:
        """Every state some edge of ``event`` leaves from."""
        return frozenset(state for edge in self.transitions if edge.event is event for state in edge.sources)

    def main_file_moves(self) -> dict[Event, FileState]:
        """The MAIN file's state after each asset event that moves it (the others leave it alone)."""
        return dict(self.main_file_after)

    @functools.cached_property
    def main_file_after(self) -> Mapping[Event, FileState]:
        """``main_file_moves``, computed once per definition: decisions look it up on every move."""
        return {
            edge.cause: edge.dest
            for edge in self.file_transitions
            if edge.files is FileScope.MAIN and isinstance(edge.cause, Event)
        }

    def confirmation(self, result: UploadResult, declared: Declared) -> FileTransition:
        """The file transition a confirm-upload of a file other than MAIN makes."""
        return next(
            edge
            for edge in self.file_transitions
            if edge.files is FileScope.OTHER and edge.cause is result and edge.declared in (None, declared)
        )

    def unused_file_states(self) -> list[FileState]:
        """File states of the platform's enum that no file transition reaches or leaves."""
        used = {FILE_INITIAL_STATE}
        for edge in self.file_transitions:
            used |= {*edge.sources, edge.dest}
        return [state for state in FileState if state not in used]

    def rule_states(self, rule: TimeRule) -> frozenset[AssetState]:
        """The states a time rule looks at: where its event may fire, BLOCK aside (time never
        moves a frozen asset)."""
        return self.sources(rule.event) - {AssetState.BLOCK}


def build_definition(
    transitions: Sequence[Transition] = TRANSITIONS,
    events: Sequence[EventSpec] = EVENTS,
    *,
    initial: AssetState = INITIAL_STATE,
    final: frozenset[AssetState] = FINAL_STATES,
    time_rules: Sequence[TimeRule] = TIME_RULES,
    file_transitions: Sequence[FileTransition] = FILE_TRANSITIONS,
) -> Definition:
    """Load a table into a ``transitions.Machine`` and check it; raise ``InvalidDefinition``."""
    machine = Machine(
        model=None,
        states=list(AssetState),
        initial=initial,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )
    for edge in transitions:
        for source in sorted(edge.sources, key=list(AssetState).index):
            machine.add_transition(
                edge.event.value,
                source,
                edge.dest,
                conditions=list(edge.conditions),
                unless=list(edge.unless),
            )
    specs = {spec.event: spec for spec in events}
    _check(transitions, specs, initial, final)
    _check_time_rules(time_rules, transitions, specs)
    _check_file_transitions(file_transitions, specs)

    # The index is read back from the machine, so what decides is what was loaded.
    by_key: dict[tuple[Event, AssetState], list[Transition]] = {}
    loaded = {
        (edge.event, source, edge.dest, edge.conditions, edge.unless): edge
        for edge in transitions
        for source in edge.sources
    }
    for name, machine_event in machine.events.items():
        event = Event(name)
        for source_name, machine_transitions in machine_event.transitions.items():
            source = AssetState[source_name]
            for loaded_transition in machine_transitions:
                conditions = tuple(str(c.func) for c in loaded_transition.conditions if c.target)
                unless = tuple(str(c.func) for c in loaded_transition.conditions if not c.target)
                dest = AssetState[str(loaded_transition.dest)]
                edge = loaded[(event, source, dest, conditions, unless)]
                by_key.setdefault((event, source), []).append(edge)
    index = {key: tuple(edges) for key, edges in by_key.items()}
    return Definition(tuple(transitions), specs, machine, index, tuple(time_rules), tuple(file_transitions))


def _check(
    transitions: Sequence[Transition],
    specs: Mapping[Event, EventSpec],
    initial: AssetState,
    final: frozenset[AssetState],
) -> None:
    problems: list[str] = []
    unknown = sorted(
        {name for edge in transitions for name in (*edge.conditions, *edge.unless)} - set(CONDITIONS)
    )
    if unknown:
        problems.append(f"unknown conditions: {', '.join(unknown)}")
    unspecified = sorted({edge.event.value for edge in transitions if edge.event not in specs})
    if unspecified:
        problems.append(f"events without roles: {', '.join(unspecified)}")
    leaving_final = sorted({s.value for edge in transitions for s in edge.sources if s in final})
    if leaving_final:
        problems.append(f"final states with a way out: {', '.join(leaving_final)}")
    reachable = {initial}
    frontier = [initial]
    while frontier:
        state = frontier.pop()
        for edge in transitions:
            if state in edge.sources and edge.dest not in reachable:
                reachable.add(edge.dest)
                frontier.append(edge.dest)
    unreachable = [s.value for s in AssetState if s not in reachable]
    if unreachable:
        problems.append(f"unreachable states: {', '.join(unreachable)}")
    leaving = {s for edge in transitions for s in edge.sources if edge.dest is not s}
    traps = [s.value for s in AssetState if s not in final and s in reachable and s not in leaving]
    if traps:
        problems.append(f"trap states (not final, no way out): {', '.join(traps)}")
    if problems:
        raise InvalidDefinition("; ".join(problems))


def _check_time_rules(
    rules: Sequence[TimeRule], transitions: Sequence[Transition], specs: Mapping[Event, EventSpec]
) -> None:
    problems: list[str] = []
    names = [rule.name for rule in rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        problems.append(f"time rules named twice: {', '.join(duplicated)}")
    for rule in rules:
        spec = specs.get(rule.event)
        if spec is None or Role.SYSTEM not in spec.roles:
            problems.append(f"time rule {rule.name}: the system may not fire '{rule.event.value}'")
        if not any(edge.event is rule.event for edge in transitions):
            problems.append(f"time rule {rule.name}: no transition for '{rule.event.value}'")
        if rule.delay is not None and not isinstance(rule.delay, Delay):
            problems.append(f"time rule {rule.name}: its delay must be a Delay, not {rule.delay!r}")
        if (rule.plan is None) != (rule.basis is not TimeBasis.PLANNED_OPERATION_TIME):
            problems.append(f"time rule {rule.name}: a plan goes with planned_operation_time, and only then")
    ruled = {rule.event for rule in rules}
    unruled = sorted(
        spec.event.value for spec in specs.values() if spec.time_driven and spec.event not in ruled
    )
    if unruled:
        problems.append(f"time-driven events without a time rule: {', '.join(unruled)}")
    if problems:
        raise InvalidDefinition("; ".join(problems))


def _check_file_transitions(edges: Sequence[FileTransition], specs: Mapping[Event, EventSpec]) -> None:
    problems: list[str] = []
    causes = {
        FileScope.MAIN: (Event, "an asset event"),
        FileScope.OTHER: (UploadResult, "an upload result"),
        FileScope.ALL: (AssetState, "an asset state"),
    }
    for edge in edges:
        kind, described = causes[edge.files]
        if not isinstance(edge.cause, kind):
            problems.append(
                f"file transition to {edge.dest.value}: {edge.files.value} files move on {described}"
            )
        if isinstance(edge.cause, Event) and edge.cause not in specs:
            problems.append(f"file transition on '{edge.cause.value}': no such event in the table")
        if edge.declared is not None and edge.cause is not UploadResult.CREATED:
            problems.append(
                f"file transition to {edge.dest.value}: only an upload reported CREATED is compared"
            )
        if (edge.asset_states is None) != (edge.files is not FileScope.OTHER):
            problems.append(
                f"file transition to {edge.dest.value}: asset states go with confirmations, and only then"
            )
    main_events = [edge.cause.value for edge in edges if edge.files is FileScope.MAIN]
    twice = sorted({event for event in main_events if main_events.count(event) > 1})
    if twice:
        problems.append(f"events moving the MAIN file twice: {', '.join(twice)}")
    for result in UploadResult:
        declared = sorted(
            (edge.declared.value if edge.declared else "always")
            for edge in edges
            if edge.files is FileScope.OTHER and edge.cause is result
        )
        if declared not in (["always"], sorted(d.value for d in Declared)):
            problems.append(
                f"confirmations of {result.value}: one, or one per declaration check (found {declared})"
            )
    if problems:
        raise InvalidDefinition("; ".join(problems))


DEFINITION = build_definition()
"""The one lifecycle every engine shares."""
