"""The platform's own operations, which have no public path: operators' keys only, under ``/admin``.

Freezing and unfreezing (one asset, or a whole tenant), review verdicts, deciding unfreeze
applications, the storage report and the audit check. Answers are the engine's JSON shapes (the
same as ``lifecycle … --json``, docs/cli.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from lifecycle.definition import ApplicationState, FailType
from lifecycle.server.models import REFUSALS, Decision, Freeze, ReviewVerdict
from lifecycle.server.services import (
    Services,
    asset_details,
    member,
    members,
    operator_key,
    platform,
    request_id,
    services,
)

router = APIRouter(
    prefix="/admin/v1", tags=["platform"], responses=REFUSALS, dependencies=[Depends(operator_key)]
)
Served = Annotated[Services, Depends(services)]


@router.get("/digital-assets/{asset_id}", summary="show any tenant's asset")
async def show_asset(asset_id: str, request: Request, served: Served) -> JSONResponse:
    asset = await served.engine.get_asset(platform(request), asset_id)
    return JSONResponse(asset_details(asset))


@router.get("/digital-assets/{asset_id}/history", summary="an asset's audit trail")
async def history(asset_id: str, request: Request, served: Served) -> JSONResponse:
    entries = await served.engine.history(platform(request), asset_id)
    return JSONResponse({"history": [entry.to_json() for entry in entries]})


@router.post("/digital-assets/{asset_id}/freeze", summary="freeze an asset")
async def freeze(asset_id: str, body: Freeze, request: Request, served: Served) -> JSONResponse:
    moved = await served.engine.freeze(
        platform(request),
        asset_id,
        block_reason_code=body.block_reason_code,
        reason=body.reason,
        request_id=request_id(request),
    )
    return JSONResponse(moved.to_json())


@router.post("/digital-assets/{asset_id}/unfreeze", summary="unfreeze an asset")
async def unfreeze(asset_id: str, body: Decision, request: Request, served: Served) -> JSONResponse:
    moved = await served.engine.unfreeze(
        platform(request), asset_id, reason=body.reason, request_id=request_id(request)
    )
    return JSONResponse(moved.to_json())


@router.post("/digital-assets/{asset_id}/review", summary="a review verdict: PASS or REJECT")
async def review(asset_id: str, body: ReviewVerdict, request: Request, served: Served) -> JSONResponse:
    actor, rid = platform(request), request_id(request)
    if body.verdict == "PASS":
        moved = await served.engine.pass_review(actor, asset_id, reason=body.reason, request_id=rid)
    else:
        fail_type = member(FailType, body.fail_type or FailType.MANUAL_REVIEW_REJECT.value, "fail_type")
        moved = await served.engine.reject_review(
            actor, asset_id, fail_type, reason=body.reason, request_id=rid
        )
    return JSONResponse(moved.to_json())


@router.post("/tenants/{project_id}/freeze", summary="freeze every asset of a tenant")
async def freeze_tenant(project_id: str, body: Freeze, request: Request, served: Served) -> JSONResponse:
    operation = await served.engine.freeze_tenant(
        platform(request),
        project_id,
        reason=body.reason,
        block_reason_code=body.block_reason_code,
        request_id=request_id(request),
    )
    return JSONResponse(operation.to_json())


@router.post("/tenants/{project_id}/unfreeze", summary="unfreeze what a tenant-wide freeze froze")
async def unfreeze_tenant(project_id: str, body: Decision, request: Request, served: Served) -> JSONResponse:
    operation = await served.engine.unfreeze_tenant(
        platform(request), project_id, reason=body.reason, request_id=request_id(request)
    )
    return JSONResponse(operation.to_json())


@router.get("/unfreeze-applications", summary="unfreeze applications")
async def list_applications(
    request: Request,
    served: Served,
    project_id: str | None = None,
    state: str | None = None,
    limit: Annotated[int, Query(ge=0)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    found = await served.engine.list_unfreeze_applications(
        platform(request),
        project_id=project_id,
        states=members(ApplicationState, state, "state"),
        limit=limit,
        offset=offset,
    )
    return JSONResponse({"applications": [application.to_json() for application in found]})


@router.post("/unfreeze-applications/{application_id}/approve", summary="approve: the asset is unfrozen")
async def approve(application_id: str, body: Decision, request: Request, served: Served) -> JSONResponse:
    moved = await served.engine.approve_unfreeze(
        platform(request), application_id, reason=body.reason, request_id=request_id(request)
    )
    return JSONResponse(moved.to_json())


@router.post("/unfreeze-applications/{application_id}/reject", summary="reject: the asset stays frozen")
async def reject(application_id: str, body: Decision, request: Request, served: Served) -> JSONResponse:
    application = await served.engine.reject_unfreeze(platform(request), application_id, reason=body.reason)
    return JSONResponse(application.to_json())


@router.get("/storage-report", summary="storage used and billable, per tenant")
async def storage_report(request: Request, served: Served, project_id: str | None = None) -> JSONResponse:
    report = await served.engine.storage_report(platform(request), project_id=project_id)
    return JSONResponse(report.to_json())


@router.get("/audit/verify", summary="recompute the audit chains and replay every history")
async def verify_audit(request: Request, served: Served, project_id: str | None = None) -> JSONResponse:
    report = await served.engine.verify_audit(platform(request), project_id=project_id)
    return JSONResponse(report.to_json())
