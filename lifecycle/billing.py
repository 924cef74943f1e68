"""Storage usage and billing, derived from the lifecycle (docs/billing.md).

The platform's rules ("Asset Storage Billing"), as this engine applies them:

* A file takes storage from the moment its upload is accepted (its ``stored_at``) until its asset
  is deleted for good. Frozen assets and assets in the recycle bin still count; DELETED ones do
  not. A file whose upload never succeeded takes none.
* Not billed: the timbre models of a customized image model (files marked ``timbre_model`` of a
  customized HUMAN_MODEL or HUMAN_MODEL_2D), and customized videos during their first six
  calendar months from creation.
* Each tenant has a free allowance (5 GiB); what is chargeable beyond it is billable.

The rules are applied by SQL aggregates (``lifecycle.store.usage``); this module holds the policy,
the calendar arithmetic and the typed results, each with a stable JSON shape.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from lifecycle.definition import AssetState, AssetType, FileCategory, FileState
from lifecycle.errors import InvalidParameter

GIB = 1024**3
DEFAULT_FREE_BYTES = 5 * GIB
"""5 GB, in the platform's units: its largest file, 5368709120 bytes, is the same 5 GB."""
DEFAULT_FREE_MONTHS = 6
MAX_FREE_MONTHS = 1200

IMAGE_MODEL_TYPES = frozenset({AssetType.HUMAN_MODEL, AssetType.HUMAN_MODEL_2D})
"""The platform's image (avatar) models: a customized one's timbre models are not billed."""
TIMBRE_MODEL_CATEGORY = FileCategory.OTHER
"""The category a timbre model is declared in, among an image model's files."""
FREE_PERIOD_TYPES = frozenset({AssetType.VIDEO})
"""Customized assets of these types are free for their first months."""


class Exemption(enum.Enum):
    """Why stored bytes are not chargeable."""

    TIMBRE_MODEL = "TIMBRE_MODEL_OF_CUSTOMIZED_IMAGE_MODEL"
    CUSTOMIZED_VIDEO = "CUSTOMIZED_VIDEO_FREE_PERIOD"


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """How storage is billed; ``Settings(storage=StoragePolicy(...))``."""

    free_bytes: int = DEFAULT_FREE_BYTES
    """Each tenant's free allowance, in bytes."""
    customized_video_free_months: int = DEFAULT_FREE_MONTHS
    """How many calendar months from its creation a customized video is free."""
    refuse_uploads_over_allowance: bool = False
    """Refuse a creation or an accepted upload that would take a tenant's chargeable storage over
    its free allowance (``StorageAllowanceExceeded``); off by default."""

    def __post_init__(self) -> None:
        if not _whole(self.free_bytes) or self.free_bytes < 0 or self.free_bytes >= 2**63:
            raise InvalidParameter("free_bytes", "must be a whole number of bytes from 0 to 2**63-1")
        months = self.customized_video_free_months
        if not _whole(months) or not 0 <= months <= MAX_FREE_MONTHS:
            raise InvalidParameter(
                "customized_video_free_months", f"must be a whole number from 0 to {MAX_FREE_MONTHS}"
            )
        if not isinstance(self.refuse_uploads_over_allowance, bool):
            raise InvalidParameter("refuse_uploads_over_allowance", "must be true or false")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Calendar months -------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` calendar months later, or that month's last day where
    it is shorter (31 August + 6 months = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def free_until(create_time: datetime, months: int) -> datetime:
    """When a customized video created at ``create_time`` starts to be billed: it is free through
    the same day ``months`` calendar months later (UTC), so from the start of the day after.

    Counted in whole days, so that a later creation never ends its free period earlier (with
    times of day, 30 August 13:00 would end after 31 August 12:00, both on the last of February).
    A period that would end past the calendar (year 9999) ends at its last instant: only a
    creation time the engine cannot have written, edited into the row, gets there.
    """
    if months == 0:
        return create_time
    try:
        ends = add_months(create_time.astimezone(UTC).date(), months) + timedelta(days=1)
    except (ValueError, OverflowError):
        return datetime.max.replace(tzinfo=UTC)
    return datetime.combine(ends, time(), tzinfo=UTC)


def billed_if_created_before(as_of: datetime, months: int) -> datetime:
    """The instant that splits customized videos at ``as_of``: created before it, the free period
    is over; created at or after it, still free. (``free_until`` never decreases with the creation
    day, so one bound says it exactly; the SQL compares creation times with it.)"""
    as_of = as_of.astimezone(UTC)
    if months == 0:
        return as_of + timedelta(microseconds=1)  # no free period: every video created by now is billed
    try:
        billed = as_of.date() - timedelta(days=31 * months + 2)  # months are at most 31 days long
    except OverflowError:
        raise InvalidParameter("as_of", "is too early for the customized video free period") from None
    free = as_of.date()  # free until a day after it at least
    while (free - billed).days > 1:
        middle = billed + (free - billed) // 2
        if free_until(datetime.combine(middle, time(), tzinfo=UTC), months) <= as_of:
            billed = middle
        else:
            free = middle
    return datetime.combine(free, time(), tzinfo=UTC)


# Results ---------------------------------------------------------------------------------------


def iso_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Usage:
    """Storage taken by some assets: what counts, and how much of it is not chargeable."""

    assets: int = 0
    """Assets that existed at the time (DELETED ones included, with no bytes)."""
    files: int = 0
    """Files whose bytes count."""
    used_bytes: int = 0
    exempt_bytes: int = 0

    @property
    def chargeable_bytes(self) -> int:
        return self.used_bytes - self.exempt_bytes

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.assets + other.assets,
            self.files + other.files,
            self.used_bytes + other.used_bytes,
            self.exempt_bytes + other.exempt_bytes,
        )

    def to_json(self) -> dict[str, int]:
        return {
            "assets": self.assets,
            "files": self.files,
            "used_bytes": self.used_bytes,
            "exempt_bytes": self.exempt_bytes,
            "chargeable_bytes": self.chargeable_bytes,
        }


@dataclass(frozen=True, slots=True)
class TenantStorage:
    """One tenant's storage at a moment: used, exempt, chargeable, the free allowance, billable."""

    project_id: str
    as_of: datetime
    free_bytes: int
    total: Usage
    exempt: Mapping[Exemption, int]
    """Exempt bytes by rule (every rule present)."""
    by_type: Mapping[AssetType, Usage]
    """Only the types the tenant has."""
    by_state: Mapping[AssetState, Usage]
    """Only the states its assets were in."""

    @property
    def used_bytes(self) -> int:
        return self.total.used_bytes

    @property
    def chargeable_bytes(self) -> int:
        return self.total.chargeable_bytes

    @property
    def billable_bytes(self) -> int:
        """Chargeable storage beyond the free allowance."""
        return max(0, self.total.chargeable_bytes - self.free_bytes)

    @property
    def free_bytes_left(self) -> int:
        return max(0, self.free_bytes - self.total.chargeable_bytes)

    @property
    def over_allowance(self) -> bool:
        return self.billable_bytes > 0

    def to_json(self) -> dict[str, Any]:
        """A stable shape: every key always present; every type and state listed (zeros too)."""
        return {
            "project_id": self.project_id,
            "as_of": iso_time(self.as_of),
            "used_bytes": self.used_bytes,
            "exempt_bytes": self.total.exempt_bytes,
            "chargeable_bytes": self.chargeable_bytes,
            "free_allowance_bytes": self.free_bytes,
            "free_bytes_left": self.free_bytes_left,
            "billable_bytes": self.billable_bytes,
            "over_allowance": self.over_allowance,
            "assets": self.total.assets,
            "files": self.total.files,
            "exempt": {rule.value: self.exempt.get(rule, 0) for rule in Exemption},
            "by_type": {kind.value: self.by_type.get(kind, Usage()).to_json() for kind in AssetType},
            "by_state": {state.value: self.by_state.get(state, Usage()).to_json() for state in AssetState},
        }


@dataclass(frozen=True, slots=True)
class StorageReport:
    """Storage of one tenant or of every tenant, at one moment."""

    as_of: datetime
    free_bytes: int
    tenants: tuple[TenantStorage, ...]
    """In project id order; for one tenant, exactly that one (zeros where it has nothing)."""

    @property
    def used_bytes(self) -> int:
        return sum(tenant.used_bytes for tenant in self.tenants)

    @property
    def chargeable_bytes(self) -> int:
        return sum(tenant.chargeable_bytes for tenant in self.tenants)

    @property
    def billable_bytes(self) -> int:
        return sum(tenant.billable_bytes for tenant in self.tenants)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": iso_time(self.as_of),
            "free_allowance_bytes": self.free_bytes,
            "tenant_count": len(self.tenants),
            "used_bytes": self.used_bytes,
            "chargeable_bytes": self.chargeable_bytes,
            "billable_bytes": self.billable_bytes,
            "tenants_over_allowance": sum(tenant.over_allowance for tenant in self.tenants),
            "tenants": [tenant.to_json() for tenant in self.tenants],
        }


class Reason(enum.Enum):
    """Why an asset's storage is, or is not, billed."""

    NOT_CREATED_YET = "NOT_CREATED_YET"
    NOTHING_STORED = "NOTHING_STORED"
    DELETED = "DELETED"
    COUNTS = "COUNTS"
    FROZEN_STILL_COUNTS = "FROZEN_STILL_COUNTS"
    IN_RECYCLE_BIN_STILL_COUNTS = "IN_RECYCLE_BIN_STILL_COUNTS"
    TIMBRE_MODELS_FREE = "TIMBRE_MODELS_FREE"
    CUSTOMIZED_VIDEO_FREE = "CUSTOMIZED_VIDEO_FREE"
    CUSTOMIZED_VIDEO_FREE_PERIOD_OVER = "CUSTOMIZED_VIDEO_FREE_PERIOD_OVER"


@dataclass(frozen=True, slots=True)
class FileStorage:
    """One file's part: whether its bytes count, and why they are not chargeable if they are not."""

    file_id: str
    file_name: str
    asset_file_category: FileCategory
    state: FileState
    """Its state now (files keep no history; ``stored_at`` says when its bytes arrived)."""
    file_size: int
    stored_at: datetime | None
    timbre_model: bool
    counted: bool
    exemption: Exemption | None

    @property
    def chargeable_bytes(self) -> int:
        return self.file_size if self.counted and self.exemption is None else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_name": self.file_name,
            "asset_file_category": self.asset_file_category.value,
            "state": self.state.value,
            "file_size": self.file_size,
            "stored_at": None if self.stored_at is None else iso_time(self.stored_at),
            "timbre_model": self.timbre_model,
            "counted": self.counted,
            "exemption": None if self.exemption is None else self.exemption.value,
            "chargeable_bytes": self.chargeable_bytes,
        }


@dataclass(frozen=True, slots=True)
class AssetStorage:
    """One asset's storage at a moment, and whether and why it is billed."""

    asset_id: str
    project_id: str
    as_of: datetime
    asset_type: AssetType
    customized: bool
    state: AssetState | None
    """Its state at ``as_of``; None before its creation."""
    state_since: datetime | None
    free_until: datetime | None
    """A customized video's end of free period; None for any other asset."""
    files: tuple[FileStorage, ...]

    @property
    def reasons(self) -> tuple[tuple[Reason, str], ...]:
        """(code, explanation), the deciding one first."""
        return explain(self)

    @property
    def used_bytes(self) -> int:
        return sum(f.file_size for f in self.files if f.counted)

    @property
    def exempt_bytes(self) -> int:
        return sum(f.file_size for f in self.files if f.counted and f.exemption is not None)

    @property
    def chargeable_bytes(self) -> int:
        return self.used_bytes - self.exempt_bytes

    @property
    def billed(self) -> bool:
        """Whether it adds to its tenant's chargeable storage (billed beyond the free allowance)."""
        return self.chargeable_bytes > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "project_id": self.project_id,
            "as_of": iso_time(self.as_of),
            "asset_type": self.asset_type.value,
            "customized": self.customized,
            "asset_state": None if self.state is None else self.state.value,
            "state_since": None if self.state_since is None else iso_time(self.state_since),
            "free_until": None if self.free_until is None else iso_time(self.free_until),
            "billed": self.billed,
            "used_bytes": self.used_bytes,
            "exempt_bytes": self.exempt_bytes,
            "chargeable_bytes": self.chargeable_bytes,
            "reasons": [{"code": code.value, "text": text} for code, text in self.reasons],
            "files": [f.to_json() for f in self.files],
        }


def explain(asset: AssetStorage) -> tuple[tuple[Reason, str], ...]:
    """The reasons behind an asset's verdict, from what the SQL decided for each of its files."""
    state, state_since, as_of = asset.state, asset.state_since, asset.as_of
    if state is None:
        return ((Reason.NOT_CREATED_YET, f"it did not exist yet at {iso_time(as_of)}"),)
    if state is AssetState.DELETED:
        since = "" if state_since is None else f" since {iso_time(state_since)}"
        return ((Reason.DELETED, f"deleted for good{since}: a DELETED asset's storage does not count"),)
    counted = [f for f in asset.files if f.counted]
    if not counted:
        return ((Reason.NOTHING_STORED, "no upload of its files has been accepted: it takes no storage"),)
    size = sum(f.file_size for f in counted)
    where = {
        AssetState.BLOCK: (Reason.FROZEN_STILL_COUNTS, "it is frozen, and frozen assets still count"),
        AssetState.DELETING: (
            Reason.IN_RECYCLE_BIN_STILL_COUNTS,
            "it is in the recycle bin, which still counts until it is deleted for good",
        ),
    }.get(state, (Reason.COUNTS, f"it is {state.value}: not deleted for good, so its storage counts"))
    reasons = [(where[0], f"{_files(len(counted))} stored, {size:,} bytes: {where[1]}")]
    timbre = [f for f in counted if f.exemption is Exemption.TIMBRE_MODEL]
    if timbre:
        timbre_size = sum(f.file_size for f in timbre)
        reasons.append(
            (
                Reason.TIMBRE_MODELS_FREE,
                f"{_files(len(timbre), 'timbre model file')} of this customized image model,"
                f" {timbre_size:,} bytes, not billed",
            )
        )
    free_until_time = asset.free_until
    if asset.customized and asset.asset_type in FREE_PERIOD_TYPES and free_until_time is not None:
        if any(f.exemption is Exemption.CUSTOMIZED_VIDEO for f in counted):
            reasons.append(
                (
                    Reason.CUSTOMIZED_VIDEO_FREE,
                    f"a customized video is free for its first months: until {iso_time(free_until_time)}",
                )
            )
        else:
            reasons.append(
                (
                    Reason.CUSTOMIZED_VIDEO_FREE_PERIOD_OVER,
                    f"a customized video's free period ended at {iso_time(free_until_time)}: it is billed",
                )
            )
    return tuple(reasons)


def _files(count: int, what: str = "file") -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size(count: int) -> str:
    """Bytes for people, in binary units: ``300 B``, ``1.50 KiB``, ``5.00 GiB`` (exact bytes are
    in the JSON). Here, not in ``lifecycle.render``, so that the admin script's help can name the
    default allowance without importing rich."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in _BINARY_UNITS:
        value /= 1024
        if round(value, 2) < 1024 or unit == _BINARY_UNITS[-1]:
            break
    return f"{value:.2f} {unit}"
