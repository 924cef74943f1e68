"""``PUT /uploads/{file_id}``: the bytes of a declared file, to the link ``create_file`` gave.

The link is the credential (no SDK signature: it is used by plain HTTP clients, as an object
store's pre-signed URL is). The file must still be waiting for its bytes: once its upload is
confirmed (CREATED, or FAILED), the link takes nothing more.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from lifecycle.actors import Tenant
from lifecycle.definition import FileState
from lifecycle.errors import LifecycleError
from lifecycle.server.models import REFUSALS
from lifecycle.server.services import Services, services

router = APIRouter(tags=["uploads"], responses=REFUSALS)
OPEN = frozenset({FileState.CREATING, FileState.CANCELLED})
"""A file takes bytes until its upload is confirmed; a cancelled upload may be tried again."""


class UploadClosed(LifecycleError):
    """The file takes no more bytes: its upload was confirmed already."""

    http_status = 409

    def __init__(self, file_id: str, state: FileState) -> None:
        self.file_id = file_id
        self.state = state
        super().__init__(
            f"file {file_id} is {state.value}: it takes no upload (only CREATING or CANCELLED does)"
        )


@router.put("/uploads/{file_id}", summary="upload a declared file's bytes")
async def upload(file_id: str, request: Request, served: Annotated[Services, Depends(services)]) -> Response:
    """The body is the file. ``Content-MD5`` (base64), when given, must match it; more bytes than
    declared are refused. Nothing is kept of a refused upload."""
    ticket = served.uploads.check(file_id, dict(request.query_params))
    asset = await served.engine.file_owner(Tenant(ticket.project_id), file_id)
    state = next(f.state for f in asset.files if f.file_id == file_id)
    if state not in OPEN:
        raise UploadClosed(file_id, state)
    received = await served.uploads.receive(ticket, request.stream(), request.headers.get("content-md5"))
    return Response(status_code=200, headers={"ETag": f'"{received.file_md5}"'})
