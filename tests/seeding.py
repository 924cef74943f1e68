"""Many assets at once, for the sweep's volume tests: the rows ``create_asset`` would write.

Creating thousands of assets one call at a time would spend the test's time on creation; these
rows are the same ones (asset, MAIN file, creation audit row), written with one bulk insert each.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert

from lifecycle.chain import GENESIS, chain_hash
from lifecycle.definition import AssetState, AssetType, Event, FileCategory, FileState, Role
from lifecycle.inputs import canonical_md5
from lifecycle.store.models import assets, audit, files
from tests.conftest import MD5

CHUNK = 2_000


def seed_creating(
    database: Engine, count: int, *, created_at: datetime, upload_window: timedelta, project_id: str
) -> list[str]:
    """``count`` assets in CREATING, created at ``created_at``; their ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    deadline = created_at + upload_window
    creations = {
        asset_id: {
            "asset_id": asset_id,
            "project_id": project_id,
            "seq": 1,
            "event": Event.CREATE,
            "from_state": None,
            "to_state": AssetState.CREATING,
            "actor_kind": Role.TENANT,
            "actor_id": project_id,
            "reason": None,
            "fail_type": None,
            "request_id": None,
            "occurred_at": created_at,
            "pre_freeze_state": None,
            "pre_delete_state": None,
        }
        for asset_id in ids
    }
    for creation in creations.values():
        creation["chain_hash"] = chain_hash(GENESIS, creation)
    for start in range(0, count, CHUNK):
        chunk = ids[start : start + CHUNK]
        with database.begin() as connection:
            connection.execute(
                insert(assets),
                [
                    {
                        "asset_id": asset_id,
                        "project_id": project_id,
                        "app_user_id": None,
                        "asset_name": f"seeded {asset_id[:8]}",
                        "asset_description": "",
                        "asset_type": AssetType.VIDEO,
                        "asset_state": AssetState.CREATING,
                        "version": 1,
                        "activate_on_upload": False,
                        "review_required": False,
                        "tags": [],
                        "asset_extra_meta": None,
                        "system_properties": [],
                        "create_time": created_at,
                        "update_time": created_at,
                        "state_changed_at": created_at,
                        "upload_deadline": deadline,
                        "audit_head": creations[asset_id]["chain_hash"],
                    }
                    for asset_id in chunk
                ],
            )
            connection.execute(
                insert(files),
                [
                    {
                        "file_id": str(uuid.uuid4()),
                        "asset_id": asset_id,
                        "position": 0,
                        "file_name": "main.mp4",
                        "file_md5": canonical_md5(MD5),
                        "file_size": 1024,
                        "file_type": "mp4",
                        "asset_file_category": FileCategory.MAIN,
                        "state": FileState.CREATING,
                        "create_time": created_at,
                        "update_time": created_at,
                    }
                    for asset_id in chunk
                ],
            )
            connection.execute(insert(audit), [creations[asset_id] for asset_id in chunk])
    return ids
