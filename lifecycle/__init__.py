"""lifecycle: a persisted, audited state machine for the media assets of a digital-human platform.

Start with ``Lifecycle``::

    from lifecycle import Lifecycle, Tenant, NewAsset, NewFile, AssetType

    engine = Lifecycle("sqlite:///assets.db")
    engine.upgrade()
    asset = engine.create_asset(Tenant("my-project"), NewAsset("Teacher", AssetType.VIDEO, [...]))

Names are imported on first use (PEP 562), so ``import lifecycle`` is cheap: the pytest plugin
(``lifecycle.testing``) is loaded in every test run of an environment that has the package, and a
suite that does not use it should not pay for SQLAlchemy, Alembic and structlog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.actors import Actor, Platform, System, Tenant
    from lifecycle.aio import AsyncLifecycle
    from lifecycle.billing import (
        AssetStorage,
        Exemption,
        FileStorage,
        Reason,
        StoragePolicy,
        StorageReport,
        TenantStorage,
        Usage,
    )
    from lifecycle.clock import Clock, ManualClock, SystemClock
    from lifecycle.definition import (
        DEFINITION,
        ApplicationState,
        AssetState,
        AssetType,
        BatchAction,
        BlockScope,
        Event,
        FailType,
        FileCategory,
        FileState,
        PlannedOperation,
        Role,
        UploadResult,
    )
    from lifecycle.engine import Lifecycle
    from lifecycle.errors import (
        ApplicationNotFound,
        ApplicationNotPending,
        AssetNotFound,
        ClockOutOfRange,
        Conflict,
        DatabaseMissing,
        DatabaseReadOnly,
        FileNotFound,
        InvalidDefinition,
        InvalidParameter,
        LifecycleError,
        MissingDependency,
        MissingProgram,
        PermissionDenied,
        SchemaOutOfDate,
        StorageAllowanceExceeded,
        StoreBusy,
        StoreUnavailable,
        TransitionNotAllowed,
        UnfreezeAlreadyPending,
    )
    from lifecycle.inputs import AutoOperation, NewAsset, NewFile
    from lifecycle.reader import ListingOptions
    from lifecycle.records import TransitionRecord
    from lifecycle.results import (
        Asset,
        AssetFile,
        AssetSummary,
        AuditEntry,
        BatchResult,
        Page,
        TenantOperation,
        Transitioned,
        UnfreezeApplication,
        UploadConfirmed,
    )
    from lifecycle.retry import RetryPolicy
    from lifecycle.settings import Settings
    from lifecycle.sweeps import RuleReport, SweepListener, SweepReport

_MODULES: dict[str, str] = {
    **dict.fromkeys(("Actor", "Platform", "System", "Tenant"), "lifecycle.actors"),
    **dict.fromkeys(
        (
            "AssetStorage",
            "Exemption",
            "FileStorage",
            "Reason",
            "StoragePolicy",
            "StorageReport",
            "TenantStorage",
            "Usage",
        ),
        "lifecycle.billing",
    ),
    **dict.fromkeys(("Clock", "ManualClock", "SystemClock"), "lifecycle.clock"),
    **dict.fromkeys(
        (
            "ApplicationState",
            "AssetState",
            "AssetType",
            "BatchAction",
            "BlockScope",
            "DEFINITION",
            "Event",
            "FailType",
            "FileCategory",
            "FileState",
            "PlannedOperation",
            "Role",
            "UploadResult",
        ),
        "lifecycle.definition",
    ),
    **dict.fromkeys(("Lifecycle",), "lifecycle.engine"),
    **dict.fromkeys(("AsyncLifecycle",), "lifecycle.aio"),
    **dict.fromkeys(("Settings",), "lifecycle.settings"),
    **dict.fromkeys(("TransitionRecord",), "lifecycle.records"),
    **dict.fromkeys(
        (
            "ApplicationNotFound",
            "ApplicationNotPending",
            "AssetNotFound",
            "ClockOutOfRange",
            "Conflict",
            "DatabaseMissing",
            "DatabaseReadOnly",
            "FileNotFound",
            "InvalidDefinition",
            "InvalidParameter",
            "LifecycleError",
            "MissingDependency",
            "MissingProgram",
            "PermissionDenied",
            "SchemaOutOfDate",
            "StorageAllowanceExceeded",
            "StoreBusy",
            "StoreUnavailable",
            "TransitionNotAllowed",
            "UnfreezeAlreadyPending",
        ),
        "lifecycle.errors",
    ),
    **dict.fromkeys(("AutoOperation", "NewAsset", "NewFile"), "lifecycle.inputs"),
    **dict.fromkeys(("ListingOptions",), "lifecycle.reader"),
    **dict.fromkeys(
        (
            "Asset",
            "AssetFile",
            "AssetSummary",
            "AuditEntry",
            "BatchResult",
            "Page",
            "TenantOperation",
            "Transitioned",
            "UnfreezeApplication",
            "UploadConfirmed",
        ),
        "lifecycle.results",
    ),
    **dict.fromkeys(("RetryPolicy",), "lifecycle.retry"),
    **dict.fromkeys(("RuleReport", "SweepListener", "SweepReport"), "lifecycle.sweeps"),
}
"""Where each public name lives."""


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DEFINITION",
    "Actor",
    "ApplicationNotFound",
    "ApplicationNotPending",
    "ApplicationState",
    "Asset",
    "AssetFile",
    "AssetNotFound",
    "AssetState",
    "AssetStorage",
    "AssetSummary",
    "AssetType",
    "AsyncLifecycle",
    "AuditEntry",
    "AutoOperation",
    "BatchAction",
    "BatchResult",
    "BlockScope",
    "Clock",
    "ClockOutOfRange",
    "Conflict",
    "DatabaseMissing",
    "DatabaseReadOnly",
    "Event",
    "Exemption",
    "FailType",
    "FileCategory",
    "FileNotFound",
    "FileState",
    "FileStorage",
    "InvalidDefinition",
    "InvalidParameter",
    "Lifecycle",
    "LifecycleError",
    "ListingOptions",
    "ManualClock",
    "MissingDependency",
    "MissingProgram",
    "NewAsset",
    "NewFile",
    "Page",
    "PermissionDenied",
    "PlannedOperation",
    "Platform",
    "Reason",
    "RetryPolicy",
    "Role",
    "RuleReport",
    "SchemaOutOfDate",
    "Settings",
    "StorageAllowanceExceeded",
    "StoragePolicy",
    "StorageReport",
    "StoreBusy",
    "StoreUnavailable",
    "SweepListener",
    "SweepReport",
    "System",
    "SystemClock",
    "Tenant",
    "TenantOperation",
    "TenantStorage",
    "TransitionNotAllowed",
    "TransitionRecord",
    "Transitioned",
    "UnfreezeAlreadyPending",
    "UnfreezeApplication",
    "UploadConfirmed",
    "UploadResult",
    "Usage",
]
