"""lifecycle: a persisted, audited state machine for the media assets of a digital-human platform.

Start with ``Lifecycle``::

    from lifecycle import Lifecycle, Tenant, NewAsset, NewFile, AssetType

    engine = Lifecycle("sqlite:///assets.db")
    engine.upgrade()
    asset = engine.create_asset(Tenant("my-project"), NewAsset("Teacher", AssetType.VIDEO, [...]))
"""

from lifecycle.actors import Actor, Platform, System, Tenant
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
from lifecycle.engine import Lifecycle, Settings
from lifecycle.errors import (
    ApplicationNotFound,
    ApplicationNotPending,
    AssetNotFound,
    Conflict,
    FileNotFound,
    InvalidDefinition,
    InvalidParameter,
    LifecycleError,
    MissingDependency,
    MissingProgram,
    PermissionDenied,
    SchemaOutOfDate,
    StoreUnavailable,
    TransitionNotAllowed,
    UnfreezeAlreadyPending,
)
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from lifecycle.results import (
    Asset,
    AssetFile,
    AuditEntry,
    BatchResult,
    Page,
    TenantOperation,
    Transitioned,
    UnfreezeApplication,
    UploadConfirmed,
)
from lifecycle.sweeps import RuleReport, SweepListener, SweepReport

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
    "AssetType",
    "AuditEntry",
    "AutoOperation",
    "BatchAction",
    "BatchResult",
    "BlockScope",
    "Clock",
    "Conflict",
    "Event",
    "FailType",
    "FileCategory",
    "FileNotFound",
    "FileState",
    "InvalidDefinition",
    "InvalidParameter",
    "Lifecycle",
    "LifecycleError",
    "ManualClock",
    "MissingDependency",
    "MissingProgram",
    "NewAsset",
    "NewFile",
    "Page",
    "PermissionDenied",
    "PlannedOperation",
    "Platform",
    "Role",
    "RuleReport",
    "SchemaOutOfDate",
    "Settings",
    "StoreUnavailable",
    "SweepListener",
    "SweepReport",
    "System",
    "SystemClock",
    "Tenant",
    "TenantOperation",
    "TransitionNotAllowed",
    "Transitioned",
    "UnfreezeAlreadyPending",
    "UnfreezeApplication",
    "UploadConfirmed",
    "UploadResult",
]
