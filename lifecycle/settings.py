"""What a service may set: ``Settings`` (the durations time rules wait, where uploads land, storage
billing) and their bounds; the database, the storage report's page size, a sweep's batch size and
the scheduler's interval by default.

A light module (no database, no logging), so that the admin script can name these defaults in its
options without importing the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from lifecycle.billing import StoragePolicy
from lifecycle.definition import Delay
from lifecycle.errors import InvalidParameter

DEFAULT_DATABASE_URL = "sqlite:///lifecycle.db"
DEFAULT_STORAGE_PAGE = 50
"""Tenants summed per statement in a storage report: small pages let PostgreSQL read each page's
files through the covering index (bench/storage.py: 1.5 s for 1,000 tenants, 2.5 s with 200)."""
DEFAULT_BATCH_SIZE = 500
"""Assets a sweep moves per transaction, by default (``lifecycle.sweeps``)."""
MAX_BATCH_SIZE = 10_000
DEFAULT_SWEEP_INTERVAL = timedelta(minutes=1)
"""How often the scheduler sweeps, by default (``lifecycle.scheduler``)."""
MAX_UPLOAD_WINDOW = timedelta(days=365)
"""The longest upload window: a year (the platform's is 24 hours)."""
MAX_RECYCLE_RETENTION = timedelta(days=36_525)
"""The longest recycle-bin retention: 100 years, "keep the bin forever" in practice. Bounded, as
the upload window is, so that no delay added to or taken from a supported time (``lifecycle.clock``)
leaves the calendar."""


@dataclass(frozen=True, slots=True)
class Settings:
    upload_window: timedelta = timedelta(hours=24)
    """How long an asset may stay in CREATING (time spent frozen or in the bin does not count); at
    most ``MAX_UPLOAD_WINDOW`` (365 days)."""
    recycle_retention: timedelta = timedelta(days=7)
    """How long an asset stays in the recycle bin before the system purges it; at most
    ``MAX_RECYCLE_RETENTION`` (100 years: to keep the bin for good, use it)."""
    activate_on_upload: bool = False
    """Where an accepted upload lands when the asset does not say: UNACTIVED (False) or ACTIVED."""
    storage: StoragePolicy = field(default_factory=StoragePolicy)
    """How storage is billed, and whether uploads past the free allowance are refused."""

    def __post_init__(self) -> None:
        if not isinstance(self.storage, StoragePolicy):
            raise InvalidParameter("storage", "must be a StoragePolicy")
        for name, value, longest in (
            ("upload_window", self.upload_window, MAX_UPLOAD_WINDOW),
            ("recycle_retention", self.recycle_retention, MAX_RECYCLE_RETENTION),
        ):
            if not isinstance(value, timedelta):
                raise InvalidParameter(name, "must be a timedelta")
            if not timedelta(0) < value <= longest:
                raise InvalidParameter(name, f"must be from 1 microsecond to {longest.days} days")
        if not isinstance(self.activate_on_upload, bool):
            raise InvalidParameter("activate_on_upload", "must be true or false")

    def duration(self, delay: Delay) -> timedelta:
        """The duration a time rule's ``delay`` names."""
        match delay:
            case Delay.UPLOAD_WINDOW:
                return self.upload_window
            case Delay.RECYCLE_RETENTION:
                return self.recycle_retention
