"""Tenant isolation and role checks over every operation.

Another tenant's asset must answer exactly like a missing one: same error type, same code, same
message shape; and nothing is written.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from lifecycle.actors import Platform, System, Tenant
from lifecycle.definition import (
    TABLE_EVENTS,
    ApplicationState,
    AssetState,
    BatchAction,
    Event,
    FailType,
    FileCategory,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import AssetNotFound, LifecycleError, PermissionDenied
from lifecycle.inputs import NewFile
from lifecycle.results import Asset, BatchResult
from lifecycle.store.repository import applications, assets, audit, files
from tests.conftest import MD5, new_asset
from tests.hostile.script import leaf_commands
from tests.test_cli import ADMIN_SCRIPT, _restore_logging, database_url  # noqa: F401 - fixtures by name

pytestmark = pytest.mark.facades

OWNER = Tenant("owner")
INTRUDER = Tenant("intruder")

Operation = Callable[[Lifecycle, Tenant, str, str], object]

TENANT_OPERATIONS: dict[str, Operation] = {
    "get_asset": lambda lc, actor, asset_id, _f: lc.get_asset(actor, asset_id),
    "history": lambda lc, actor, asset_id, _f: lc.history(actor, asset_id),
    "allowed_events": lambda lc, actor, asset_id, _f: lc.allowed_events(actor, asset_id),
    "confirm_upload": lambda lc, actor, asset_id, file_id: lc.confirm_upload(
        actor, asset_id, file_id, UploadResult.CREATED
    ),
    "apply_for_unfreeze": lambda lc, actor, asset_id, _f: lc.apply_for_unfreeze(actor, asset_id),
    **{
        event.value: (lambda lc, actor, asset_id, _f, event=event: lc.fire(actor, asset_id, event))
        for event in (
            Event.ACCEPT_UPLOAD,
            Event.CANCEL_UPLOAD,
            Event.FAIL_UPLOAD,
            Event.ACTIVATE,
            Event.DEACTIVATE,
            Event.DELETE,
            Event.DELETE_FORCE,
            Event.RESTORE,
        )
    },
}


def _snapshot(lifecycle: Lifecycle) -> tuple[Any, ...]:
    with lifecycle.database.connect() as connection:
        return tuple(
            tuple(connection.execute(select(table).order_by(*table.primary_key.columns)).all())
            for table in (assets, files, audit, applications)
        )


def _normalised(error: LifecycleError, asset_id: str) -> tuple[str, str, int, str]:
    return type(error).__name__, error.code, error.http_status, str(error).replace(asset_id, "<id>")


@pytest.mark.parametrize("operation", list(TENANT_OPERATIONS), ids=str)
def test_another_tenants_asset_answers_exactly_like_a_missing_one(
    lifecycle: Lifecycle, platform: Platform, operation: str
) -> None:
    owned = lifecycle.create_asset(OWNER, new_asset())
    lifecycle.freeze(platform, owned.asset_id)  # so that an unfreeze application would be possible
    file_id = owned.main_file.file_id
    call = TENANT_OPERATIONS[operation]
    before = _snapshot(lifecycle)
    with pytest.raises(AssetNotFound) as foreign:
        call(lifecycle, INTRUDER, owned.asset_id, file_id)
    with pytest.raises(AssetNotFound) as missing:
        call(lifecycle, INTRUDER, "00000000-0000-0000-0000-000000000000", file_id)
    assert _normalised(foreign.value, owned.asset_id) == _normalised(
        missing.value, "00000000-0000-0000-0000-000000000000"
    )
    assert _snapshot(lifecycle) == before


def test_a_batch_over_another_tenants_assets_fails_each_like_a_missing_one(lifecycle: Lifecycle) -> None:
    owned = lifecycle.create_asset(OWNER, new_asset())
    before = _snapshot(lifecycle)
    results = lifecycle.batch(INTRUDER, BatchAction.DELETE, [owned.asset_id, "missing"])
    assert [(r.status, r.error_code) for r in results] == [("FAILED", "MSS.00000002")] * 2
    assert results[0].error_msg == f"asset {owned.asset_id} not found"
    assert _snapshot(lifecycle) == before


def test_unfreeze_applications_are_private_to_their_tenant(lifecycle: Lifecycle, platform: Platform) -> None:
    owned = lifecycle.create_asset(OWNER, new_asset())
    lifecycle.freeze(platform, owned.asset_id)
    application = lifecycle.apply_for_unfreeze(OWNER, owned.asset_id)
    assert lifecycle.list_unfreeze_applications(INTRUDER) == []
    from lifecycle.errors import ApplicationNotFound

    with pytest.raises(ApplicationNotFound):
        lifecycle.get_unfreeze_application(INTRUDER, application.application_id)
    assert lifecycle.list_assets(INTRUDER).total == 0


def test_tenant_wide_operations_touch_only_that_tenant(lifecycle: Lifecycle, platform: Platform) -> None:
    mine = lifecycle.create_asset(OWNER, new_asset()).asset_id
    theirs = lifecycle.create_asset(INTRUDER, new_asset()).asset_id
    frozen = lifecycle.freeze_tenant(platform, OWNER.project_id)
    assert [t.asset_id for t in frozen.moved] == [mine]
    assert lifecycle.get_asset(INTRUDER, theirs).asset_state.value == "CREATING"


ROLE_REFUSALS: list[tuple[str, Callable[[Lifecycle, Any, str], object], Any]] = [
    ("tenant freezes", lambda lc, a, i: lc.fire(a, i, Event.FREEZE), OWNER),
    ("tenant unfreezes", lambda lc, a, i: lc.fire(a, i, Event.UNFREEZE), OWNER),
    ("tenant passes review", lambda lc, a, i: lc.fire(a, i, Event.PASS_REVIEW), OWNER),
    (
        "tenant rejects review",
        lambda lc, a, i: lc.fire(a, i, Event.REJECT_REVIEW, fail_type=FailType.AUTOMATIC_REVIEW_REJECT),
        OWNER,
    ),
    ("tenant times out an upload", lambda lc, a, i: lc.fire(a, i, Event.TIME_OUT_UPLOAD), OWNER),
    ("tenant purges", lambda lc, a, i: lc.fire(a, i, Event.PURGE), OWNER),
    ("tenant freezes a tenant", lambda lc, a, _i: lc.freeze_tenant(a, "owner"), OWNER),
    ("tenant approves its own application", lambda lc, a, _i: lc.approve_unfreeze(a, "x"), OWNER),
    ("platform activates", lambda lc, a, i: lc.fire(a, i, Event.ACTIVATE), Platform("op")),
    ("platform restores", lambda lc, a, i: lc.fire(a, i, Event.RESTORE), Platform("op")),
    ("system creates", lambda lc, a, _i: lc.create_asset(a, new_asset()), System()),
    (
        "tenant creates a customized asset",
        lambda lc, a, _i: lc.create_asset(a, new_asset(customized=True)),
        OWNER,
    ),
    (
        "tenant creates for another tenant",
        lambda lc, a, _i: lc.create_asset(a, new_asset(), project_id="intruder"),
        OWNER,
    ),
    (
        "platform confirms an upload",
        lambda lc, a, i: lc.confirm_upload(a, i, "f", UploadResult.CREATED),
        Platform("op"),
    ),
    ("platform applies for unfreezing", lambda lc, a, i: lc.apply_for_unfreeze(a, i), Platform("op")),
    ("system unfreezes", lambda lc, a, i: lc.fire(a, i, Event.UNFREEZE), System()),
    ("system force-deletes", lambda lc, a, i: lc.fire(a, i, Event.DELETE_FORCE), System()),
    ("system batch", lambda lc, a, i: lc.batch(a, BatchAction.ACTIVE, [i]), System()),
]


@pytest.mark.parametrize(("name", "call", "actor"), ROLE_REFUSALS, ids=[r[0] for r in ROLE_REFUSALS])
def test_a_move_the_role_may_not_make_is_refused_and_writes_nothing(
    lifecycle: Lifecycle, name: str, call: Callable[[Lifecycle, Any, str], object], actor: Any
) -> None:
    asset_id = lifecycle.create_asset(OWNER, new_asset()).asset_id
    before = _snapshot(lifecycle)
    with pytest.raises(PermissionDenied) as refusal:
        call(lifecycle, actor, asset_id)
    assert refusal.value.http_status == 403
    assert f"a {actor.role.value} may not" in str(refusal.value)
    assert _snapshot(lifecycle) == before


def test_the_platform_and_the_system_see_every_tenants_assets(
    lifecycle: Lifecycle, platform: Platform, system: System
) -> None:
    asset_id = lifecycle.create_asset(OWNER, new_asset()).asset_id
    assert lifecycle.get_asset(platform, asset_id).project_id == "owner"
    assert lifecycle.get_asset(system, asset_id).project_id == "owner"
    with lifecycle.database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(audit)).scalar_one() == 1


# Every operation, from one list ----------------------------------------------------------------------
#
# PROBES says, for every public method of Lifecycle a tenant can call, how it could reach another
# tenant's data: through an asset id, a file id, an unfreeze application id, a project id or a request
# id. NOT_TENANT_FACING says why each other method cannot. A new public method is in neither until
# someone decides, and test_every_public_operation_is_probed_or_declared_not_tenant_facing fails.


@dataclass(frozen=True)
class Probe:
    operation: str
    label: str
    target: str
    """What the id names: "asset", "file", "application", "project" or "request"."""
    call: Callable[[Lifecycle, Tenant, str, Owned], object]
    writes_own: bool = False
    """It may write the intruder's own data (a creation; a batch that includes its own asset)."""


@dataclass
class Owned:
    """The owner's assets in every state that matters (with their files and unfreeze applications,
    one pending, one rejected) and the request id that created one; each intruder's own asset."""

    assets: dict[str, Asset]
    applications: dict[str, str]
    request_id: str
    own: dict[str, Asset]

    def targets(self, kind: str) -> list[str]:
        return {
            "asset": [asset.asset_id for asset in self.assets.values()],
            "file": [f.file_id for asset in self.assets.values() for f in asset.files],
            "application": list(self.applications.values()),
            "project": [OWNER.project_id],
            "request": [self.request_id],
        }[kind]

    @staticmethod
    def missing(kind: str) -> str:
        """An id of the same shape that names nothing."""
        return {"project": "nobody", "request": f"req-{uuid.uuid4()}"}.get(kind, str(uuid.uuid4()))


INTRUDERS = [
    INTRUDER,
    Tenant("intruder", app_user_id="owner-user"),  # the owner's app user's id, in another tenant
    Tenant("owne_"),  # what LIKE 'owne_' would match
    Tenant("OWNER"),
    Tenant("owner."),
]


def own(lifecycle: Lifecycle, platform: Platform, *, intruders: bool = True) -> Owned:
    def uploaded(name: str) -> Asset:
        asset = lifecycle.create_asset(OWNER_USER, new_asset(name))
        lifecycle.confirm_upload(OWNER_USER, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        return asset

    assets = {"CREATING": lifecycle.create_asset(OWNER_USER, new_asset("creating"), request_id="owner-req-1")}
    for state in ("UNACTIVED", "ACTIVED", "BLOCK", "DELETING", "DELETED", "REJECTED APPLICATION"):
        assets[state] = uploaded(state.lower())
    lifecycle.activate(OWNER, assets["ACTIVED"].asset_id)
    lifecycle.freeze(platform, assets["BLOCK"].asset_id)
    lifecycle.delete(OWNER, assets["DELETING"].asset_id)
    lifecycle.delete(OWNER, assets["DELETED"].asset_id, force=True)
    lifecycle.freeze(platform, assets["REJECTED APPLICATION"].asset_id)
    pending = lifecycle.apply_for_unfreeze(OWNER, assets["BLOCK"].asset_id, reason="ours").application_id
    rejected = lifecycle.apply_for_unfreeze(OWNER, assets["REJECTED APPLICATION"].asset_id).application_id
    lifecycle.reject_unfreeze(platform, rejected)
    mine = {t.project_id: lifecycle.create_asset(t, new_asset("mine")) for t in INTRUDERS if intruders}
    return Owned(assets, {"pending": pending, "rejected": rejected}, "owner-req-1", mine)


OWNER_USER = Tenant("owner", app_user_id="owner-user")
PLATFORM_ONLY = {"freeze", "unfreeze", "pass_review", "reject_review"}


def _moves() -> list[Probe]:
    probes = [
        Probe(name, name, "asset", lambda lc, t, i, _o, name=name: getattr(lc, name)(t, i))
        for name in ("get_asset", "history", "allowed_events", "apply_for_unfreeze", "activate", "deactivate")
    ]
    probes += [
        Probe("restore", "restore", "asset", lambda lc, t, i, _o: lc.restore(t, i, reason="mine")),
        Probe("delete", "delete", "asset", lambda lc, t, i, _o: lc.delete(t, i)),
        Probe("delete", "delete force", "asset", lambda lc, t, i, _o: lc.delete(t, i, force=True)),
        Probe("freeze", "freeze", "asset", lambda lc, t, i, _o: lc.freeze(t, i)),  # type: ignore[arg-type]
        Probe("unfreeze", "unfreeze", "asset", lambda lc, t, i, _o: lc.unfreeze(t, i)),  # type: ignore[arg-type]
        Probe("pass_review", "pass_review", "asset", lambda lc, t, i, _o: lc.pass_review(t, i)),  # type: ignore[arg-type]
        Probe(
            "reject_review",
            "reject_review",
            "asset",
            lambda lc, t, i, _o: lc.reject_review(t, i, FailType.MANUAL_REVIEW_REJECT),  # type: ignore[arg-type]
        ),
        Probe(
            "activate",
            "activate expecting version 2",
            "asset",
            lambda lc, t, i, _o: lc.activate(t, i, expected_version=2),
        ),
    ]
    for event in TABLE_EVENTS:
        fail_type = FailType.AUTOMATIC_REVIEW_REJECT if event is Event.REJECT_REVIEW else None
        code = "C-1" if event is Event.FREEZE else None
        probes.append(
            Probe(
                "fire",
                f"fire {event.value}",
                "asset",
                lambda lc, t, i, _o, e=event, f=fail_type, c=code: lc.fire(
                    t, i, e, fail_type=f, block_reason_code=c
                ),
            )
        )
    for result in UploadResult:
        probes.append(
            Probe(
                "confirm_upload",
                f"confirm_upload {result.value} of an asset",
                "asset",
                lambda lc, t, i, o, r=result: lc.confirm_upload(
                    t, i, o.assets["CREATING"].main_file.file_id, r
                ),
            )
        )
        probes.append(
            Probe(
                "confirm_upload",
                f"confirm_upload {result.value} of a file",
                "file",
                lambda lc, t, i, o, r=result: lc.confirm_upload(
                    t, o.own[t.project_id].asset_id, i, r, file_size=1
                ),
            )
        )
    for action in BatchAction:
        probes.append(
            Probe(
                "batch", f"batch {action.value}", "asset", lambda lc, t, i, _o, a=action: lc.batch(t, a, [i])
            )
        )
        probes.append(
            Probe(
                "batch",
                f"batch {action.value} with one of its own",
                "asset",
                lambda lc, t, i, o, a=action: lc.batch(
                    t, a, [o.own[t.project_id].asset_id, i], request_id="r"
                ),
                writes_own=True,
            )
        )
    return probes


PROBES: list[Probe] = [
    *_moves(),
    Probe(
        "get_unfreeze_application",
        "get_unfreeze_application",
        "application",
        lambda lc, t, i, _o: lc.get_unfreeze_application(t, i),
    ),
    Probe(
        "approve_unfreeze", "approve_unfreeze", "application", lambda lc, t, i, _o: lc.approve_unfreeze(t, i)
    ),  # type: ignore[arg-type]
    Probe("reject_unfreeze", "reject_unfreeze", "application", lambda lc, t, i, _o: lc.reject_unfreeze(t, i)),  # type: ignore[arg-type]
    Probe(
        "list_assets",
        "list_assets of a project",
        "project",
        lambda lc, t, i, _o: lc.list_assets(t, project_id=i),
    ),
    Probe(
        "list_unfreeze_applications",
        "list_unfreeze_applications of a project",
        "project",
        lambda lc, t, i, _o: lc.list_unfreeze_applications(t, project_id=i),
    ),
    Probe("freeze_tenant", "freeze_tenant", "project", lambda lc, t, i, _o: lc.freeze_tenant(t, i)),  # type: ignore[arg-type]
    Probe("unfreeze_tenant", "unfreeze_tenant", "project", lambda lc, t, i, _o: lc.unfreeze_tenant(t, i)),  # type: ignore[arg-type]
    Probe("asset_storage", "asset_storage", "asset", lambda lc, t, i, _o: lc.asset_storage(t, i)),
    Probe(
        "asset_storage",
        "asset_storage as of now",
        "asset",
        lambda lc, t, i, _o: lc.asset_storage(t, i, as_of=lc.clock.now()),
    ),
    Probe(
        "storage_report",
        "storage_report of a project",
        "project",
        lambda lc, t, i, _o: lc.storage_report(t, project_id=i),
    ),
    Probe(
        "storage_report",
        "storage_report of a project as of now",
        "project",
        lambda lc, t, i, _o: lc.storage_report(t, project_id=i, as_of=lc.clock.now()),
    ),
    Probe(
        "declare_file",
        "declare_file",
        "asset",
        lambda lc, t, i, _o: lc.declare_file(t, i, NewFile("cover.png", 10, MD5, FileCategory.COVER)),
    ),
    Probe(
        "declare_file",
        "declare_file of the MAIN file with a request id",
        "asset",
        lambda lc, t, i, _o: lc.declare_file(t, i, NewFile("main.bin", 10, MD5), request_id="r"),
    ),
    Probe("delete_file", "delete_file", "file", lambda lc, t, i, _o: lc.delete_file(t, i)),
    Probe(
        "delete_file",
        "delete_file with a request id",
        "file",
        lambda lc, t, i, _o: lc.delete_file(t, i, request_id="owner-req-1"),
    ),
    Probe("file_owner", "file_owner", "file", lambda lc, t, i, _o: lc.file_owner(t, i)),
    Probe(
        "update_asset",
        "update_asset",
        "asset",
        lambda lc, t, i, _o: lc.update_asset(t, i, name="mine now", tags=["x"], request_id="r"),
    ),
    Probe("asset_summaries", "asset_summaries", "asset", lambda lc, t, i, _o: lc.asset_summaries(t, [i])),
    Probe(
        "list_assets",
        "list_assets of a project, filtered",
        "project",
        lambda lc, t, i, _o: lc.list_assets(t, project_id=i, name="e", tag="t", app_user_id="owner-user"),
    ),
    Probe(
        "create_asset",
        "create_asset with a request id",
        "request",
        lambda lc, t, i, _o: lc.create_asset(t, new_asset(), request_id=i),
        writes_own=True,
    ),
]
NOT_TENANT_FACING = {
    "upgrade": "set-up: migrates the schema; no tenant's data in or out",
    "check_schema": "set-up: compares schema revisions",
    "close": "releases the engine's connections",
    "sweep": "the System's alone (a tenant is refused, below); its report counts every tenant",
    "due_counts": "takes no actor and counts every tenant: the operator's figure (`due` has no --tenant)",
    "verify_audit": "the platform's or the System's (a tenant is refused, below); reports to the operator",
    "listen": "the service's own in-process hook: it takes no actor, and a tenant never registers one",
    "consumer": "the service's own reader of the change feed, taking no actor; the feed's operator view"
    " (Lifecycle.feed) refuses a tenant (tests/test_feed.py)",
}


def _public_operations() -> set[str]:
    return {name for name, _ in inspect.getmembers(Lifecycle, inspect.isfunction) if not name.startswith("_")}


def test_every_public_operation_is_probed_or_declared_not_tenant_facing() -> None:
    probed = {probe.operation for probe in PROBES}
    assert not probed & set(NOT_TENANT_FACING)
    undecided = _public_operations() - probed - set(NOT_TENANT_FACING)
    assert not undecided, f"say how a tenant could reach another's data through {sorted(undecided)}"
    assert probed | set(NOT_TENANT_FACING) == _public_operations(), "a probe names no public operation"


def _answer(call: Callable[[], object]) -> tuple[Any, ...]:
    """What the caller learns: the error (class, code, status, message) or the answer's shape."""
    try:
        result = call()
    except LifecycleError as error:
        return ("refused", type(error).__name__, error.code, error.http_status, error.message)
    if isinstance(result, list) and all(isinstance(r, BatchResult) for r in result):
        return ("batch", tuple((r.asset_id, r.status, r.error_code, r.error_msg) for r in result))
    if isinstance(result, Asset):  # a creation: a new asset of the caller's, whatever the request id
        return ("asset", result.project_id, result.asset_name, result.asset_state, result.version)
    return ("answered", repr(result))


@pytest.mark.parametrize("probe", PROBES, ids=[probe.label for probe in PROBES])
def test_another_tenants_data_answers_exactly_like_missing_data_through_every_operation(
    lifecycle: Lifecycle, platform: Platform, probe: Probe
) -> None:
    """Same error class, code, HTTP status and message (once the id is substituted), same answer
    shape, and nothing written, for every intruder and every kind of the owner's data."""
    owned = own(lifecycle, platform)
    for intruder in INTRUDERS:
        for theirs in owned.targets(probe.target):
            missing = owned.missing(probe.target)
            before = _snapshot(lifecycle)
            foreign = _answer(partial(probe.call, lifecycle, intruder, theirs, owned))
            after = _snapshot(lifecycle)
            assert _owners_rows(after) == _owners_rows(before), f"{probe.label} by {intruder}: {foreign}"
            assert probe.writes_own or after == before, f"{probe.label} by {intruder} wrote: {foreign}"
            absent = _answer(partial(probe.call, lifecycle, intruder, missing, owned))
            assert repr(foreign).replace(theirs, "<id>") == repr(absent).replace(missing, "<id>"), intruder
            assert probe.writes_own or foreign[0] == "refused" or "SUCCESS" not in repr(foreign)


def test_no_answer_to_a_tenant_counts_another_tenants_assets(
    lifecycle: Lifecycle, platform: Platform
) -> None:
    """Listings, their totals, state filters, application listings and batch results of each
    intruder are the same before and after the owner fills the database, and name only its own."""

    def answers(tenant: Tenant) -> list[Any]:
        page = lifecycle.list_assets(tenant, limit=1000)
        own_ids = [a.asset_id for a in page.items]
        return [
            [(a.asset_id, a.asset_state, a.version) for a in page.items],
            page.total,
            *(lifecycle.list_assets(tenant, states=[state]).total for state in AssetState),
            [a.application_id for a in lifecycle.list_unfreeze_applications(tenant, limit=1000)],
            *(len(lifecycle.list_unfreeze_applications(tenant, states=[s])) for s in ApplicationState),
            [lifecycle.allowed_events(tenant, asset_id) for asset_id in own_ids],
            [len(lifecycle.history(tenant, asset_id)) for asset_id in own_ids],
            lifecycle.storage_report(tenant).to_json(),
            lifecycle.storage_report(tenant, as_of=lifecycle.clock.now()).to_json(),
            [lifecycle.asset_storage(tenant, asset_id).to_json() for asset_id in own_ids],
        ]

    for tenant in INTRUDERS:  # each with an asset frozen, and an application to unfreeze it
        mine = lifecycle.create_asset(tenant, new_asset("mine"))
        lifecycle.freeze(platform, mine.asset_id)
        lifecycle.apply_for_unfreeze(tenant, mine.asset_id)
    before = {t.project_id: answers(t) for t in INTRUDERS}
    own(lifecycle, platform, intruders=False)
    lifecycle.freeze_tenant(platform, OWNER.project_id)
    lifecycle.unfreeze_tenant(platform, OWNER.project_id)
    lifecycle.batch(OWNER, BatchAction.DELETE, list(lifecycle_ids(lifecycle, OWNER)))
    after = {t.project_id: answers(t) for t in INTRUDERS}
    assert after == before
    for tenant in INTRUDERS:
        assert {a.project_id for a in lifecycle.list_assets(tenant, limit=1000).items} == {tenant.project_id}
        same_tenant = sum(t.project_id == tenant.project_id for t in INTRUDERS)
        assert lifecycle.list_assets(tenant).total == same_tenant
        assert {a.project_id for a in lifecycle.list_unfreeze_applications(tenant)} == {tenant.project_id}


@pytest.mark.parametrize("look_alike", ["owne_", "OWNER", "owner.", "Owner", "owner-", "0wner"])
def test_tenant_wide_moves_and_listings_of_a_look_alike_tenant_touch_none_of_the_owners(
    lifecycle: Lifecycle, platform: Platform, look_alike: str
) -> None:
    owned = own(lifecycle, platform)
    before = _snapshot(lifecycle)
    frozen = lifecycle.freeze_tenant(platform, look_alike)
    unfrozen = lifecycle.unfreeze_tenant(platform, look_alike)
    mine = owned.own.get(look_alike)
    expected = [] if mine is None else [mine.asset_id]
    assert [t.asset_id for t in frozen.moved] == expected and frozen.skipped == ()
    assert [t.asset_id for t in unfrozen.moved] == expected and unfrozen.skipped == ()
    assert lifecycle.list_assets(platform, project_id=look_alike).total == len(expected)
    assert lifecycle.list_unfreeze_applications(platform, project_id=look_alike) == []
    assert lifecycle.verify_audit(platform, project_id=look_alike).assets == len(expected)
    assert _owners_rows(_snapshot(lifecycle)) == _owners_rows(before)


def _owners_rows(snapshot: tuple[Any, ...]) -> list[Any]:
    """The owner's rows of the tables that carry a project id (assets, audit, applications)."""
    tables = (snapshot[0], snapshot[2], snapshot[3])
    return [[row for row in table if row.project_id == OWNER.project_id] for table in tables]


def lifecycle_ids(lifecycle: Lifecycle, tenant: Tenant) -> list[str]:
    return [asset.asset_id for asset in lifecycle.list_assets(tenant, limit=1000).items]


def test_the_operator_only_operations_refuse_every_tenant(lifecycle: Lifecycle) -> None:
    for intruder in INTRUDERS:
        with pytest.raises(PermissionDenied):
            lifecycle.sweep(actor=intruder)  # type: ignore[arg-type]
        with pytest.raises(PermissionDenied):
            lifecycle.verify_audit(intruder)  # type: ignore[arg-type]


# The admin script ---------------------------------------------------------------------------------------
#
# Every command that takes --tenant, from the command tree itself: run as another tenant against
# the owner's data and against missing data, it must answer the same (exit code, stdout, stderr once
# the id is substituted). Commands without --tenant are the platform's or the system's.

CREATE_ARGS = ("--name=x", "--type=VIDEO", "--main-file", "x.mp4", "1", "38b8c2c1093dd0fec383a9d9ac940515")
CLI_PROBES: dict[tuple[str, ...], list[tuple[str, tuple[str, ...]]]] = {
    ("show",): [("asset", ("--json", "--", "{id}")), ("asset", ("--", "{id}"))],
    ("allowed",): [("asset", ("--json", "--", "{id}"))],
    ("history",): [("asset", ("--json", "--", "{id}"))],
    ("activate",): [("asset", ("--json", "--", "{id}")), ("asset", ("--expected-version=2", "--", "{id}"))],
    ("deactivate",): [("asset", ("--reason=mine", "--", "{id}"))],
    ("restore",): [("asset", ("--request-id=r1", "--", "{id}"))],
    ("delete",): [("asset", ("--", "{id}")), ("asset", ("--force", "--json", "--", "{id}"))],
    ("confirm-upload",): [
        ("asset", ("--result=CREATED", "--", "{id}")),
        ("asset", ("--result=FAILED", "--file-id={file}", "--json", "--", "{id}")),
        ("file", ("--result=CREATED", "--file-id={id}", "--", "{own}")),
        ("file", ("--result=CANCELLED", "--file-id={id}", "--json", "--", "{own}")),
    ],
    ("application", "apply"): [("asset", ("--reason=mine", "--json", "--", "{id}"))],
    ("application", "show"): [("application", ("--json", "--", "{id}")), ("application", ("--", "{id}"))],
    ("application", "list"): [("project", ("--project={id}", "--json"))],
    ("list",): [("project", ("--project={id}",)), ("project", ("--project={id}", "--json"))],
    ("batch",): [
        ("asset", ("--json", "--", "DELETE", "{id}")),
        ("asset", ("--request-id=b1", "--", "ACTIVE", "{own}", "{id}")),
    ],
    ("create",): [("request", (*CREATE_ARGS, "--request-id={id}", "--json"))],
    ("storage", "asset"): [("asset", ("--json", "--", "{id}")), ("asset", ("--", "{id}"))],
    ("storage", "report"): [("project", ("--project={id}", "--json")), ("project", ("--project={id}",))],
}
CLI_INTRUDERS = ("intruder", "owne_")


def _tenant_commands() -> set[tuple[str, ...]]:
    commands = leaf_commands().items()
    return {path for path, command in commands if any(param.name == "tenant" for param in command.params)}


def test_every_command_a_tenant_can_run_is_probed() -> None:
    assert set(CLI_PROBES) == _tenant_commands()


def _shown(result: Result, replace: str) -> tuple[int, Any, str]:
    """What the caller sees, the id replaced; a new asset's own ids and times left out."""
    stdout: Any = result.stdout.replace(replace, "<id>")
    if stdout.startswith("{") and '"create_time"' in stdout:
        volatile = ("asset_id", "create_time", "update_time", "files")
        stdout = {k: v for k, v in json.loads(stdout).items() if k not in volatile}
    return result.exit_code, stdout, result.stderr.replace(replace, "<id>")


@pytest.mark.parametrize("path", sorted(CLI_PROBES), ids=" ".join)
def test_the_admin_script_answers_for_another_tenants_data_exactly_as_for_missing_data(
    database_url: str,  # noqa: F811 - the fixture imported above
    path: tuple[str, ...],
) -> None:
    lifecycle = Lifecycle(database_url)
    try:
        owned = own(lifecycle, Platform("ops"))
        for intruder in CLI_INTRUDERS:
            for target, template in CLI_PROBES[path]:
                for theirs in owned.targets(target)[:4]:
                    missing = owned.missing(target)
                    answers = []
                    mine, their_file = owned.own[intruder].asset_id, owned.targets("file")[0]
                    for given in (theirs, missing):
                        args = [arg.format(id=given, own=mine, file=their_file) for arg in template]
                        before = _snapshot(lifecycle)
                        result = CliRunner().invoke(
                            ADMIN_SCRIPT,
                            ["--db", database_url, *path, f"--tenant={intruder}", *args],
                            catch_exceptions=False,
                        )
                        assert "Traceback" not in result.stderr
                        assert _owners_rows(_snapshot(lifecycle)) == _owners_rows(before), result.stdout
                        answers.append(_shown(result, given))
                    assert answers[0] == answers[1], (intruder, template)
                    assert answers[0][0] != 0 or target == "request", answers[0]
    finally:
        lifecycle.close()
