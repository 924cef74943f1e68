"""What the routes share: the engine, the upload store, and who is calling."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request

from lifecycle.actors import Platform, Tenant
from lifecycle.errors import InvalidParameter
from lifecycle.results import Asset, api_time
from lifecycle.server.gate import header_text
from lifecycle.server.keys import AccessKey
from lifecycle.server.uploads import UploadStore

if TYPE_CHECKING:
    from lifecycle.aio import AsyncLifecycle

E = TypeVar("E", bound=enum.Enum)

APP_USER_HEADER = "x-app-userid"


@dataclass(frozen=True, slots=True)
class Services:
    engine: AsyncLifecycle
    uploads: UploadStore
    public_url: str | None = None
    """Where clients reach the service (upload URLs point there); None: the address they called."""


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def access_key(request: Request) -> AccessKey:
    key: AccessKey = request.state.access_key
    return key


def request_id(request: Request) -> str:
    rid: str = request.state.request_id
    return rid


def tenant(request: Request, project_id: str) -> Tenant:
    """The tenant the request's key acts as under ``/v1/{project_id}``; ``X-App-UserId`` names
    the end user (recorded on the assets it creates)."""
    user = request.headers.get(APP_USER_HEADER)  # Starlette's Latin-1: the bytes, read as signed
    return access_key(request).tenant(
        project_id, None if user is None else header_text(user.encode("latin-1"))
    )


def platform(request: Request) -> Platform:
    return access_key(request).platform()


def tenant_key(request: Request, project_id: str) -> None:
    """The router's dependency under ``/v1/{project_id}``: the key must be this project's, checked
    before the request's parameters and body (a wrong key is told 403 whatever it sent)."""
    access_key(request).tenant(project_id, None)


def operator_key(request: Request) -> None:
    """The router's dependency under ``/admin``: an operator's key, checked before the rest."""
    access_key(request).platform()


def asset_details(asset: Asset) -> dict[str, Any]:
    """The SDK's ``ShowAssetResponse`` / ``DigitalAssetInfo``: ``Asset.to_details()`` and the two
    fields the SDK has beyond it, the freeze's ``block_reason_code`` and the planned operation as
    ``auto_operation_config``."""
    details = asset.to_details()
    if asset.block_reason_code is not None:
        details["block_reason_code"] = asset.block_reason_code
    if asset.planned_operation is not None and asset.planned_operation_time is not None:
        details["auto_operation_config"] = [
            {
                "operation": asset.planned_operation.value,
                "operation_time": api_time(asset.planned_operation_time),
            }
        ]
    return details


def member(kind: type[E], value: str, name: str) -> E:
    """``value`` as a member of ``kind``; ``InvalidParameter`` naming the allowed spellings."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise InvalidParameter(name, f"must be one of {allowed}") from None


def members(kind: type[E], text: str | None, name: str) -> list[E]:
    """A comma-separated list, as the SDK sends ``asset_state`` and ``asset_type``."""
    if not text:
        return []
    return [member(kind, part.strip(), name) for part in text.split(",") if part.strip()]


def moment(text: str | None, name: str) -> datetime | None:
    """An RFC 3339 time with its offset (``2021-01-10T08:43:17Z``)."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(name, "must be an RFC 3339 time such as 2021-01-10T08:43:17Z") from None
    if parsed.tzinfo is None:
        raise InvalidParameter(name, "must give its offset from UTC (Z or +08:00)")
    return parsed
