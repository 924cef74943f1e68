"""A plain reference model of the lifecycle, written from domain.md and docs/lifecycle.md.

Deliberately independent of ``lifecycle.definition``: no table, no conditions, just the rules in
prose turned into ``if`` statements. The engine is checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

LIVE = {"CREATING", "FAILED", "UNACTIVED", "ACTIVED"}

ROLES = {
    "accept_upload": {"tenant"},
    "submit_for_review": {"tenant"},
    "cancel_upload": {"tenant"},
    "fail_upload": {"tenant", "platform"},
    "pass_review": {"platform"},
    "reject_review": {"platform"},
    "time_out_upload": {"system"},
    "activate": {"tenant"},
    "deactivate": {"tenant"},
    "delete": {"tenant", "system"},
    "delete_force": {"tenant", "platform"},
    "restore": {"tenant"},
    "purge": {"system"},
    "freeze": {"platform", "system"},
    "unfreeze": {"platform"},
}


@dataclass(frozen=True)
class RefAsset:
    state: str = "CREATING"
    pre_freeze: str | None = None
    pre_delete: str | None = None
    activate_on_upload: bool = False
    review_required: bool = False
    main_file: str = "CREATING"
    frozen_by_tenant: bool = False
    """Frozen by a tenant-wide freeze rather than on its own."""


def ref_apply(asset: RefAsset, event: str) -> RefAsset | None:
    """The asset after ``event`` (a freeze here is a freeze of the one asset), or None if refused."""
    after = _apply(asset, event)
    if after is None:
        return None
    if event == "freeze" or not frozen(after):
        return replace(after, frozen_by_tenant=False)
    return after


def _apply(asset: RefAsset, event: str) -> RefAsset | None:  # noqa: PLR0911, PLR0912

    s = asset.state
    waiting_upload = asset.main_file in ("CREATING", "CANCELLED")
    uploaded_state = "ACTIVED" if asset.activate_on_upload else "UNACTIVED"
    if event == "accept_upload":
        if s == "CREATING" and waiting_upload and not asset.review_required:
            return replace(asset, state=uploaded_state, main_file="CREATED")
        return None
    if event == "submit_for_review":
        if s == "CREATING" and waiting_upload and asset.review_required:
            return replace(asset, main_file="UPLOADED")
        return None
    if event == "cancel_upload":
        return replace(asset, main_file="CANCELLED") if s == "CREATING" and waiting_upload else None
    if event == "pass_review":
        if s == "CREATING" and asset.main_file in ("UPLOADED", "REVIEW"):
            return replace(asset, state=uploaded_state, main_file="CREATED")
        return None
    if event == "time_out_upload" and asset.main_file in ("UPLOADED", "REVIEW"):
        return None  # uploaded in time, waiting for review: the window no longer applies
    if event in ("fail_upload", "reject_review", "time_out_upload"):
        return replace(asset, state="FAILED", main_file="FAILED") if s == "CREATING" else None
    if event == "activate":
        return replace(asset, state="ACTIVED") if s == "UNACTIVED" else None
    if event == "deactivate":
        return replace(asset, state="UNACTIVED") if s == "ACTIVED" else None
    if event == "delete":
        if s in LIVE:
            return replace(asset, state="DELETING", pre_delete=s)
        # A frozen asset goes to the bin remembering BLOCK, unless it was frozen in the bin.
        if s == "BLOCK" and asset.pre_freeze != "DELETING":
            return replace(asset, state="DELETING", pre_delete="BLOCK")
        return None
    if event == "restore":
        if s != "DELETING":
            return None
        if asset.pre_delete == "BLOCK":
            return replace(asset, state="BLOCK", pre_delete=None)
        return replace(asset, state=asset.pre_delete or "", pre_delete=None, pre_freeze=None)
    if event == "delete_force":
        return (
            None
            if s == "DELETED"
            else replace(asset, state="DELETED", pre_freeze=None, pre_delete=None, main_file="DELETED")
        )
    if event == "purge":
        # Time never moves a frozen asset: one deleted while frozen stays in the bin until unfrozen.
        if s != "DELETING" or asset.pre_delete == "BLOCK":
            return None
        return replace(asset, state="DELETED", pre_freeze=None, pre_delete=None, main_file="DELETED")
    if event == "freeze":
        if s == "BLOCK" and asset.frozen_by_tenant:
            return asset  # frozen on its own now: a tenant-wide unfreeze leaves it frozen
        if s in LIVE:
            return replace(asset, state="BLOCK", pre_freeze=s)
        if s == "DELETING" and asset.pre_delete != "BLOCK":
            return replace(asset, state="BLOCK", pre_freeze="DELETING")
        return None
    if event == "unfreeze":
        if s == "DELETING" and asset.pre_delete == "BLOCK":
            # Deleted while frozen: it stays in the bin, and a restore now lands where the freeze found it.
            return replace(asset, pre_delete=asset.pre_freeze, pre_freeze=None)
        if s != "BLOCK":
            return None
        # "If an asset in the recycle bin is unfrozen, its status becomes the one before it was deleted."
        target = asset.pre_delete if asset.pre_freeze == "DELETING" else asset.pre_freeze
        return replace(asset, state=target or "", pre_freeze=None, pre_delete=None)
    raise AssertionError(f"unknown event {event}")


def frozen(asset: RefAsset) -> bool:
    """Frozen, or deleted while frozen."""
    return asset.state == "BLOCK" or (asset.state == "DELETING" and asset.pre_delete == "BLOCK")
