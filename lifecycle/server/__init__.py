"""The platform's asset API over HTTP, as the platform's official SDK speaks it (docs/server.md).

``create_app(engine, access_keys=..., uploads=...)`` builds the ASGI application over an
``AsyncLifecycle``; ``lifecycle serve`` runs it with uvicorn. Needs the ``server`` extra:
``pip install 'lifecycle[server]'``.
"""

from __future__ import annotations

from lifecycle.errors import MissingDependency

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as missing:  # pragma: no cover - exercised only without the extra
    raise MissingDependency(missing.name or "fastapi", "server") from None

from lifecycle.server.app import create_app
from lifecycle.server.keys import AccessKey, AccessKeys
from lifecycle.server.uploads import UploadStore

__all__ = ["AccessKey", "AccessKeys", "UploadStore", "create_app"]
