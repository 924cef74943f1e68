"""The tenant's asset API: the paths, fields and enums of the platform's SDK.

Each route checks who is calling (the key's project must be the path's), turns the SDK's body into
the engine's inputs, awaits one engine call, and
answers in the shape the SDK parses. No rule of the lifecycle is here: refusals are the engine's.
"""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from lifecycle.definition import (
    AssetState,
    AssetType,
    BatchAction,
    FileCategory,
    PlannedOperation,
    UploadResult,
)
from lifecycle.errors import InvalidParameter, TransitionNotAllowed
from lifecycle.inputs import ORDER_COLUMNS, AutoOperation, NewAsset, NewFile
from lifecycle.reader import ListingOptions
from lifecycle.results import Asset, BatchResult
from lifecycle.server.models import (
    REFUSALS,
    AssetList,
    AssetSummaries,
    BatchAssetAction,
    BatchResults,
    ConfirmFileUpload,
    CreatedAsset,
    CreatedFile,
    CreateDigitalAsset,
    CreateFile,
    DigitalAssetInfo,
    SummaryList,
    UnfreezeApplicationRequest,
    UpdateDigitalAsset,
    documented,
)
from lifecycle.server.services import (
    Services,
    asset_details,
    member,
    members,
    moment,
    request_id,
    services,
    tenant,
    tenant_key,
)

router = APIRouter(
    prefix="/v1/{project_id}", tags=["assets"], responses=REFUSALS, dependencies=[Depends(tenant_key)]
)
Served = Annotated[Services, Depends(services)]
NO_CONTENT = 204


def _details(asset: Asset) -> JSONResponse:
    return JSONResponse(asset_details(asset))


# Assets ---------------------------------------------------------------------------------------


@router.post("/digital-assets", summary="create_digital_asset", responses=documented(CreatedAsset))
async def create_digital_asset(
    project_id: str, body: CreateDigitalAsset, request: Request, served: Served
) -> JSONResponse:
    """Create an asset in CREATING, without files: declare them with ``POST /files``."""
    actor = tenant(request, project_id)
    operations = body.auto_operation_config or []
    if len(operations) > 1:
        raise InvalidParameter("auto_operation_config", "at most one planned operation per asset")
    auto = None
    if operations:
        when = moment(operations[0].operation_time, "auto_operation_config.operation_time")
        assert when is not None
        auto = AutoOperation(member(PlannedOperation, operations[0].operation, "operation"), when)
    review = body.review_config
    new = NewAsset(
        asset_name=body.asset_name,
        asset_type=member(AssetType, body.asset_type, "asset_type"),
        asset_description=body.asset_description or "",
        tags=tuple(body.tags or ()),
        review_required=review is not None and review.no_need_review is False,
        auto_operation=auto,
        asset_extra_meta=body.asset_extra_meta,
        system_properties=[p.model_dump(exclude_none=True) for p in body.system_properties or ()],
        asset_order=body.asset_order,
    )
    asset = await served.engine.create_asset(actor, new, request_id=request_id(request))
    return JSONResponse({"asset_id": asset.asset_id})


NO_SUCH_STATES = frozenset({"WAITING_DELETE"})
"""States the SDK may ask for that no asset here is ever in (being taken offline): they match none."""
SDK_NAMES = {
    "order_by": "sort_key",
    "created_from": "start_time",
    "created_to": "end_time",
    "asset_ids": "asset_id",
    "asset_types": "asset_type",
    "states": "asset_state",
}
"""The engine's names of ``list_assets``' parameters, and the SDK's."""
Listed = Annotated[list[str] | None, Query()]


@router.get("/digital-assets", summary="list_assets", responses=documented(AssetList))
async def list_assets(
    project_id: str,
    request: Request,
    served: Served,
    limit: Annotated[int, Query(ge=0)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    asset_state: Listed = None,
    asset_type: Listed = None,
    asset_id: Listed = None,
    name: str | None = None,
    tag: str | None = None,
    sort_key: str | None = None,
    sort_dir: str | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
    app_user_id: str | None = None,
) -> JSONResponse:
    """A tenant's assets, filtered and paged: ``count`` (all that match) and ``assets``.
    ``asset_state``, ``asset_type`` and ``asset_id`` take several values, comma-separated or
    repeated."""
    actor = tenant(request, project_id)
    if sort_dir not in (None, "asc", "desc"):
        raise InvalidParameter("sort_dir", "must be asc or desc")
    if sort_key not in (None, *ORDER_COLUMNS):
        raise InvalidParameter("sort_key", f"must be one of {', '.join(ORDER_COLUMNS)}")
    state_names = _values(asset_state)
    asked_states = [state for state in state_names if state not in NO_SUCH_STATES]
    if state_names and not asked_states:
        return JSONResponse({"count": 0, "assets": []})
    filters: ListingOptions = {
        "asset_types": members(AssetType, ",".join(_values(asset_type)), "asset_type"),
        "asset_ids": _values(asset_id),
    }
    if name is not None:
        filters["name"] = name
    if tag is not None:
        filters["tag"] = tag
    if app_user_id is not None:
        filters["app_user_id"] = app_user_id
    created_from, created_to = moment(start_time, "start_time"), moment(end_time, "end_time")
    if created_from is not None:
        filters["created_from"] = created_from
    if created_to is not None:
        filters["created_to"] = created_to
    try:
        page = await served.engine.list_assets(
            actor,
            states=members(AssetState, ",".join(asked_states), "asset_state"),
            order_by=sort_key or "create_time",
            descending=sort_dir == "desc",
            limit=limit,
            offset=offset,
            **filters,
        )
    except InvalidParameter as refused:
        raise _in_sdk_names(refused) from None
    return JSONResponse({"count": page.total, "assets": [asset_details(asset) for asset in page.items]})


def _values(given: list[str] | None) -> list[str]:
    """Each value of a repeated query parameter, each split on commas."""
    return [part.strip() for value in given or () for part in value.split(",") if part.strip()]


def _in_sdk_names(refused: InvalidParameter) -> InvalidParameter:
    field, problem = refused.field, refused.problem
    for engine_name, sdk_name in SDK_NAMES.items():
        field = field.replace(engine_name, sdk_name)
        problem = problem.replace(engine_name, sdk_name)
    return InvalidParameter(field, problem)


@router.post(
    "/digital-assets/batch-action", summary="batch_execute_asset_action", responses=documented(BatchResults)
)
async def batch_execute_asset_action(
    project_id: str, body: BatchAssetAction, request: Request, served: Served
) -> JSONResponse:
    """DELETE, DELETE_FORCE, RESTORE, ACTIVE or UNACTIVE over many assets: one result for those
    that succeeded, one per asset that failed, with the platform's error."""
    actor = tenant(request, project_id)
    action = member(BatchAction, body.action, "action")
    results = await served.engine.batch(actor, action, body.asset_ids, request_id=request_id(request))
    return JSONResponse({"results": _batch_results(results)})


def _batch_results(results: list[BatchResult]) -> list[dict[str, Any]]:
    succeeded = [result.asset_id for result in results if result.succeeded]
    answer: list[dict[str, Any]] = []
    if succeeded:
        answer.append({"ret_status": "SUCCESS", "asset_ids": succeeded})
    answer.extend(
        {
            "ret_status": "FAILED",
            "asset_ids": [result.asset_id],
            "error_info": {"error_code": result.error_code, "error_msg": result.error_msg},
        }
        for result in results
        if not result.succeeded
    )
    return answer


@router.post("/digital-assets/summarys", summary="list_asset_summary", responses=documented(SummaryList))
async def list_asset_summary(
    project_id: str, body: AssetSummaries, request: Request, served: Served
) -> JSONResponse:
    """Name, type, state and block reason of each asset asked for that the tenant has."""
    actor = tenant(request, project_id)
    summaries = await served.engine.asset_summaries(actor, body.asset_ids)
    return JSONResponse({"asset_list": [summary.to_details() for summary in summaries]})


@router.get("/digital-assets/{asset_id}", summary="show_asset", responses=documented(DigitalAssetInfo))
async def show_asset(project_id: str, asset_id: str, request: Request, served: Served) -> JSONResponse:
    """The asset's details (another tenant's asset is not found, as a missing one)."""
    return _details(await served.engine.get_asset(tenant(request, project_id), asset_id))


@router.put(
    "/digital-assets/{asset_id}", summary="update_digital_asset", responses=documented(DigitalAssetInfo)
)
async def update_digital_asset(
    project_id: str, asset_id: str, body: UpdateDigitalAsset, request: Request, served: Served
) -> JSONResponse:
    """Name, description and tags, and ``asset_state``: ACTIVED activates, UNACTIVED deactivates
    (none if the asset is in that state already); all in one transaction (the engine's
    ``update_asset(..., state=)``): a refused request changes nothing. Answers the asset."""
    actor = tenant(request, project_id)
    rid = request_id(request)
    metadata = body.asset_name is not None or body.asset_description is not None or body.tags is not None
    wanted = None if body.asset_state is None else AssetState(body.asset_state)
    engine = served.engine
    if metadata:
        asset = await engine.update_asset(
            actor,
            asset_id,
            name=body.asset_name,
            description=body.asset_description,
            tags=body.tags,
            state=wanted,
            request_id=rid,
        )
        return _details(asset)
    if wanted is None:
        raise InvalidParameter("body", "names nothing to update")
    move = engine.activate if wanted is AssetState.ACTIVED else engine.deactivate
    try:
        await move(actor, asset_id, request_id=rid)
    except TransitionNotAllowed as refused:
        if refused.state is not wanted:  # already there: nothing to do, as the platform answers
            raise
    return _details(await engine.get_asset(actor, asset_id))


@router.delete("/digital-assets/{asset_id}", summary="delete_asset", status_code=NO_CONTENT)
async def delete_asset(
    project_id: str, asset_id: str, request: Request, served: Served, mode: str | None = None
) -> Response:
    """To the recycle bin; ``mode=force`` (any case): deleted for good (its files are removed)."""
    force = mode is not None and mode.lower() == "force"
    if mode is not None and not force:
        raise InvalidParameter("mode", "must be force, or absent")
    await served.engine.delete(
        tenant(request, project_id), asset_id, force=force, request_id=request_id(request)
    )
    return Response(status_code=NO_CONTENT)


@router.post("/digital-assets/{asset_id}/restore", summary="restore_asset", status_code=NO_CONTENT)
async def restore_asset(project_id: str, asset_id: str, request: Request, served: Served) -> Response:
    """Out of the recycle bin, to where the asset was."""
    await served.engine.restore(tenant(request, project_id), asset_id, request_id=request_id(request))
    return Response(status_code=NO_CONTENT)


@router.post("/digital-assets/{asset_id}/unfreeze-applications", summary="apply_for_unfreeze")
async def apply_for_unfreeze(
    project_id: str, asset_id: str, body: UnfreezeApplicationRequest, request: Request, served: Served
) -> JSONResponse:
    """Ask the platform to unfreeze a frozen asset; the platform decides (``/admin``)."""
    application = await served.engine.apply_for_unfreeze(
        tenant(request, project_id), asset_id, reason=body.reason
    )
    return JSONResponse(application.to_json())


@router.get("/unfreeze-applications/{application_id}", summary="show_unfreeze_application")
async def show_unfreeze_application(
    project_id: str, application_id: str, request: Request, served: Served
) -> JSONResponse:
    application = await served.engine.get_unfreeze_application(tenant(request, project_id), application_id)
    return JSONResponse(application.to_json())


# Files ----------------------------------------------------------------------------------------


@router.post("/files", summary="create_file", responses=documented(CreatedFile))
async def create_file(project_id: str, body: CreateFile, request: Request, served: Served) -> JSONResponse:
    """Declare a file of an asset in CREATING; ``upload_url`` takes its bytes (a PUT)."""
    actor = tenant(request, project_id)
    declared = await served.engine.declare_file(
        actor,
        body.asset_id,
        NewFile(
            body.file_name,
            body.file_size,
            body.file_md5,
            member(FileCategory, body.asset_file_category, "asset_file_category"),
            body.file_type,
        ),
        request_id=request_id(request),
    )
    uploads = served.uploads
    ticket = uploads.ticket(
        project_id, body.asset_id, declared.file_id, declared.file_size, declared.file_md5
    )
    return JSONResponse(
        {
            "file_id": declared.file_id,
            "upload_url": uploads.link(served.public_url or _service_url(request), ticket),
        }
    )


def _service_url(request: Request) -> str:
    """Where the client reached this application: its scheme, host and the prefix it is mounted
    at, if any (``root_path``; ``base_url`` has only the outermost application's)."""
    return str(request.url.replace(path=request.scope.get("root_path", ""), query=""))


@router.post("/files/{file_id}/complete", summary="confirm_file_upload", status_code=NO_CONTENT)
async def confirm_file_upload(
    project_id: str, file_id: str, body: ConfirmFileUpload, request: Request, served: Served
) -> Response:
    """Report the upload: CREATED is checked against the bytes this service *received* (none, or
    others than declared, fail the asset), FAILED fails it, CANCELLED lets it try again."""
    actor = tenant(request, project_id)
    engine = served.engine
    asset = await engine.file_owner(actor, file_id)
    result = UploadResult(body.state)
    rid = request_id(request)
    if result is not UploadResult.CREATED:
        await engine.confirm_upload(actor, asset.asset_id, file_id, result, request_id=rid)
        return Response(status_code=NO_CONTENT)
    received = await to_thread.run_sync(served.uploads.received, project_id, asset.asset_id, file_id)
    if received is None or received.file_size == 0:
        await engine.confirm_upload(
            actor,
            asset.asset_id,
            file_id,
            UploadResult.FAILED,
            reason="reported CREATED, but nothing was uploaded to its upload_url",
            request_id=rid,
        )
    else:
        await engine.confirm_upload(
            actor,
            asset.asset_id,
            file_id,
            UploadResult.CREATED,
            file_size=received.file_size,
            file_md5=received.file_md5,
            request_id=rid,
        )
    return Response(status_code=NO_CONTENT)


@router.delete("/files/{file_id}", summary="delete_file", status_code=NO_CONTENT)
async def delete_file(project_id: str, file_id: str, request: Request, served: Served) -> Response:
    """Delete a file (its bytes are removed by the service's change-feed consumer)."""
    await served.engine.delete_file(tenant(request, project_id), file_id, request_id=request_id(request))
    return Response(status_code=NO_CONTENT)
