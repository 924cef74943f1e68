"""Changes to an asset that are not moves: files declared and deleted after its creation, and its
name, description and tags updated (``lifecycle.definition.RECORDED_CHANGES``).

Each is one transaction, like a move: the asset read and locked (a move of the asset cannot
commit between the check and the write), a retry of the same request answered with its first
outcome, the rules checked, then the change written with an audit row that keeps the asset's
state and memory, advances its version and extends its hash chain (``Repository.write_change``,
guarded as a move is). ``verify_audit`` replays these rows too: a file declared later is checked
against its declaration, as one declared at creation is against the creation's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row

from lifecycle.actors import Actor, Tenant
from lifecycle.chain import DECLARED_FILE_COLUMNS, canonical
from lifecycle.context import Context, visible
from lifecycle.definition import (
    CHANGE_STATES,
    AssetState,
    Event,
    FileCategory,
    FileState,
    Role,
)
from lifecycle.errors import (
    Conflict,
    FileNotFound,
    InvalidParameter,
    PermissionDenied,
    TransitionNotAllowed,
)
from lifecycle.inputs import (
    MAX_FILES,
    NewFile,
    check_actor,
    check_asset_name,
    check_description,
    check_file,
    check_id,
    check_request_id,
    check_tags,
)
from lifecycle.moves import AssetRow, MoveRequest
from lifecycle.reader import Reader
from lifecycle.records import TransitionRecord
from lifecycle.results import Asset, AssetFile
from lifecycle.storage import Storage

if TYPE_CHECKING:
    from lifecycle.manager import Outcome

Mover = Callable[[Connection, AssetRow, Actor, Event, MoveRequest], "Outcome"]
"""A move written in the caller's transaction (``AssetManager.apply``)."""
STATE_EVENTS = {AssetState.ACTIVED: Event.ACTIVATE, AssetState.UNACTIVED: Event.DEACTIVATE}
"""The states ``update_asset`` may move an asset to, and the move that takes it there."""

_UNSTORED_MAIN = frozenset({FileState.CREATING, FileState.CANCELLED})
"""The MAIN file states in which it may be deleted (its asset still CREATING): nothing uploaded."""


class Changes:
    """``declare_file``, ``delete_file``, ``update_asset`` and the lookup of a file's asset."""

    def __init__(self, context: Context, storage: Storage, reader: Reader, mover: Mover) -> None:
        self._ctx = context
        self._repo = context.repository
        self._storage = storage
        self._reader = reader
        self._mover = mover

    # Files ---------------------------------------------------------------------------------------

    def declare_file(self, actor: Tenant, asset_id: str, new: NewFile, request_id: str | None) -> AssetFile:
        """Declare a file on an asset in CREATING; a retry of the request answers with its file."""
        _require_tenant(actor, "declare_file")
        request_id = check_request_id(request_id)
        if not isinstance(new, NewFile):
            raise InvalidParameter("file", "must be a NewFile")
        if new.timbre_model is not False:
            # Only a customized asset has timbre models, and only the platform makes those.
            raise PermissionDenied("declare a timbre model", Role.TENANT.value, [Role.PLATFORM.value])
        file_id = str(uuid.uuid4())

        def declare(connection: Connection) -> tuple[Row[Any], TransitionRecord | None]:
            row = self._ctx.visible_row(connection, actor, asset_id, lock=True)
            if request_id is not None:
                earlier = self._earlier_file(connection, row, request_id, Event.DECLARE_FILE)
                if earlier is not None:
                    return earlier, None
            now = self._ctx.now()
            self._check_state(row, Event.DECLARE_FILE)
            if row.upload_deadline is not None and now >= row.upload_deadline:
                self._refuse(row, Event.DECLARE_FILE, "its upload window has closed")
            record_row = self._repo.asset(connection, row.asset_id)
            assert record_row is not None  # the row was just read, locked
            checked = check_file(new, record_row.asset_type)
            existing = self._repo.files_of(connection, [row.asset_id])
            live = [f for f in existing if f.state is not FileState.DELETED]
            if len(live) >= MAX_FILES:
                raise InvalidParameter("file", f"an asset holds at most {MAX_FILES} files")
            if checked.asset_file_category is FileCategory.MAIN and any(
                f.asset_file_category is FileCategory.MAIN for f in existing
            ):
                raise InvalidParameter("asset_file_category", "the asset has its MAIN file already")
            if any(f.file_name.lower() == checked.file_name.lower() for f in live):
                raise InvalidParameter(
                    "file_name", "file names of one asset must differ (case-insensitively)"
                )
            values = {
                "file_id": file_id,
                "asset_id": row.asset_id,
                "position": max((f.position for f in existing), default=-1) + 1,
                "file_name": checked.file_name,
                "file_md5": checked.file_md5,
                "file_size": checked.file_size,
                "file_type": checked.file_type,
                "asset_file_category": checked.asset_file_category,
                "state": FileState.CREATING,
                "reason": None,
                "create_time": now,
                "update_time": now,
                "stored_at": None,
                "timbre_model": False,
                "deleted_at": None,
            }
            declared = {name: canonical(values[name]) for name in DECLARED_FILE_COLUMNS}
            record = self._record(row, actor, Event.DECLARE_FILE, now, request_id, declared)
            self._repo.insert_file(connection, values)
            self._write(connection, row, record, {})
            self._storage.check_allowance(connection, row.project_id, row.asset_id, None, now)
            file_row = self._repo.file(connection, row.asset_id, file_id)
            assert file_row is not None
            return file_row, record

        file_row, record = self._ctx.run(declare, write=True)
        if record is not None:
            self._applied(record, "file_declared", file_id=file_row.file_id)
        return AssetFile.from_row(file_row)

    def delete_file(self, actor: Tenant, file_id: str, request_id: str | None) -> AssetFile:
        """Delete a file (``docs/lifecycle.md``, "Deleting a file"): removed if its bytes were
        never stored, else kept as DELETED and no longer counted."""
        _require_tenant(actor, "delete_file")
        request_id = check_request_id(request_id)
        check_id(file_id, "file_id")

        def replayed(connection: Connection) -> AssetFile | None:
            if request_id is None:
                return None
            earlier = self._repo.change_of_request(
                connection, actor.project_id, request_id, Event.DELETE_FILE
            )
            if earlier is None:
                return None
            change = json.loads(earlier.declared)
            return _file_from_json(change["file"]) if change["file_id"] == file_id else None

        def remove(connection: Connection) -> tuple[AssetFile, TransitionRecord | None]:
            # A retry of a deletion that committed is answered with its file (which may be gone);
            # asked again whenever the file is found gone or the asset's lock was awaited, since
            # the call it retries may have committed meanwhile (each statement sees what has).
            earlier = replayed(connection)
            if earlier is not None:
                return earlier, None
            try:
                found = self._owned_file(connection, actor, file_id)
            except FileNotFound:
                earlier = replayed(connection)
                if earlier is not None:
                    return earlier, None
                raise
            row = self._ctx.visible_row(connection, actor, found.asset_id, lock=True)
            earlier = replayed(connection)
            if earlier is not None:
                return earlier, None
            file_row = self._repo.file(connection, row.asset_id, file_id)
            if file_row is None:  # removed (by another request) while the asset's lock was awaited
                raise FileNotFound(None, file_id)
            self._check_state(row, Event.DELETE_FILE)
            if file_row.state is FileState.DELETED:
                self._refuse(row, Event.DELETE_FILE, f"file {file_id} is deleted already")
            if file_row.asset_file_category is FileCategory.MAIN and (
                row.facts.state is not AssetState.CREATING or file_row.state not in _UNSTORED_MAIN
            ):
                self._refuse(
                    row,
                    Event.DELETE_FILE,
                    "the MAIN file may be deleted only before its upload, while the asset is CREATING"
                    " (delete the asset instead)",
                )
            now = self._ctx.now()
            stored = file_row.stored_at is not None
            deleted = AssetFile(**{**_file_fields(AssetFile.from_row(file_row)), "state": FileState.DELETED})
            written = (
                self._repo.delete_stored_file(connection, row.asset_id, file_id, now)
                if stored
                else self._repo.remove_file(connection, row.asset_id, file_id)
            )
            if not written:
                raise Conflict(row.asset_id, Event.DELETE_FILE, row.facts.state, row.version)
            declared = {"file_id": file_id, "kept": stored, "file": _file_json(deleted)}
            record = self._record(row, actor, Event.DELETE_FILE, now, request_id, declared)
            self._write(connection, row, record, {})
            return deleted, record

        deleted, record = self._ctx.run(remove, write=True)
        if record is not None:
            self._applied(record, "file_deleted", file_id=file_id)
        return deleted

    def file_owner(self, actor: Actor, file_id: str) -> Asset:
        """The asset holding ``file_id``; another tenant's file answers as a missing one."""
        check_actor(actor)
        check_id(file_id, "file_id")

        def read(connection: Connection) -> str:
            return str(self._owned_file(connection, actor, file_id).asset_id)

        asset_id = self._ctx.run(read, write=False)
        return self._reader.get_asset(actor, asset_id)

    def _owned_file(self, connection: Connection, actor: Actor, file_id: str) -> Row[Any]:
        found = self._repo.file_with_owner(connection, file_id)
        if found is None or not visible(actor, found.owner):
            raise FileNotFound(None, file_id)
        return found

    def _earlier_file(
        self, connection: Connection, row: AssetRow, request_id: str, event: Event
    ) -> Row[Any] | None:
        earlier = self._repo.change_of_request(connection, row.project_id, request_id, event)
        if earlier is None or earlier.asset_id != row.asset_id:
            return None
        file_row = self._repo.file(connection, row.asset_id, json.loads(earlier.declared)["file_id"])
        if file_row is None:  # declared by this request, deleted since
            raise FileNotFound(row.asset_id, json.loads(earlier.declared)["file_id"])
        return file_row

    # Metadata ------------------------------------------------------------------------------------

    def update_asset(
        self,
        actor: Tenant,
        asset_id: str,
        name: str | None,
        description: str | None,
        tags: Sequence[str] | None,
        request_id: str | None,
        state: AssetState | None = None,
    ) -> Asset:
        """Update the asset's name, description or tags; a retry answers with the asset.
        ``state`` (ACTIVED or UNACTIVED): moved there first (none if it is there already), in the
        same transaction: a refused move writes nothing."""
        _require_tenant(actor, "update_asset")
        request_id = check_request_id(request_id)
        values: dict[str, Any] = {}
        if name is not None:
            values["asset_name"] = check_asset_name(name)
        if description is not None:
            values["asset_description"] = check_description(description)
        if tags is not None:
            values["tags"] = list(check_tags(tags))
        if not values:
            raise InvalidParameter("asset", "give at least one of name, description and tags to update")
        if state is not None and state not in STATE_EVENTS:
            raise InvalidParameter("state", f"must be one of {', '.join(s.value for s in STATE_EVENTS)}")

        def update(connection: Connection) -> list[TransitionRecord]:
            row = self._ctx.visible_row(connection, actor, asset_id, lock=True)
            if request_id is not None:
                earlier = self._repo.change_of_request(
                    connection, row.project_id, request_id, Event.UPDATE_METADATA
                )
                if earlier is not None and earlier.asset_id == row.asset_id:
                    return []
            records = []
            if state is not None and row.facts.state is not state:
                moved = self._mover(
                    connection, row, actor, STATE_EVENTS[state], MoveRequest(request_id=request_id)
                )
                records.append(moved.record)
                row = self._ctx.visible_row(connection, actor, asset_id, lock=True)
            self._check_state(row, Event.UPDATE_METADATA)
            record = self._record(row, actor, Event.UPDATE_METADATA, self._ctx.now(), request_id, values)
            self._write(connection, row, record, values)
            return [*records, record]

        records = self._ctx.run(update, write=True)
        if records:
            *moves, record = records
            if moves:
                self._ctx.applied(moves)
            self._applied(record, "asset_updated", fields=sorted(values))
        return self._reader.get_asset(actor, asset_id)

    # Shared --------------------------------------------------------------------------------------

    def _check_state(self, row: AssetRow, event: Event) -> None:
        if row.facts.state not in CHANGE_STATES[event]:
            allowed = ", ".join(sorted(s.value for s in CHANGE_STATES[event]))
            self._refuse(row, event, f"only in {allowed}")

    def _refuse(self, row: AssetRow, event: Event, detail: str) -> None:
        raise TransitionNotAllowed(
            row.asset_id,
            event,
            row.facts.state,
            self._ctx.definition.allowed_events(row.facts, Role.TENANT),
            detail,
        )

    @staticmethod
    def _record(
        row: AssetRow,
        actor: Actor,
        event: Event,
        now: datetime,
        request_id: str | None,
        declared: dict[str, Any],
    ) -> TransitionRecord:
        """The change's audit record: the state and memory kept, the version one more; what was
        declared, deleted or set, as canonical JSON in ``declared``."""
        return TransitionRecord(
            asset_id=row.asset_id,
            project_id=row.project_id,
            event=event,
            from_state=row.facts.state,
            to_state=row.facts.state,
            version=row.version + 1,
            actor_kind=actor.role,
            actor_id=actor.actor_id,
            occurred_at=now,
            request_id=request_id,
            pre_freeze_state=row.facts.pre_freeze,
            pre_delete_state=row.facts.pre_delete,
            declared=json.dumps(declared, ensure_ascii=True, sort_keys=True, separators=(",", ":")),
        )

    def _write(
        self, connection: Connection, row: AssetRow, record: TransitionRecord, values: dict[str, Any]
    ) -> None:
        if not self._repo.write_change(connection, record, row.audit_head, row.version, values):
            # The row is locked where rows can be (and SQLite's write lock is held): not expected.
            raise Conflict(row.asset_id, record.event, row.facts.state, row.version)

    def _applied(self, record: TransitionRecord, log_event: str, **fields: Any) -> None:
        self._ctx.logs.transitions.info(
            log_event,
            asset_id=record.asset_id,
            project_id=record.project_id,
            version=record.version,
            actor_kind=record.actor_kind.value,
            actor_id=record.actor_id,
            request_id=record.request_id,
            **fields,
        )
        self._ctx.applied([record], log=False)


def _require_tenant(actor: Actor, action: str) -> None:
    check_actor(actor)
    if actor.role is not Role.TENANT:
        raise PermissionDenied(action, actor.role.value, [Role.TENANT.value])


def _file_fields(file: AssetFile) -> dict[str, Any]:
    return {name: getattr(file, name) for name in AssetFile.__dataclass_fields__}


def _file_json(file: AssetFile) -> dict[str, Any]:
    """The deleted file as a retry of the deletion answers it (JSON-ready)."""
    return {name: canonical(value) for name, value in _file_fields(file).items()}


def _file_from_json(values: dict[str, Any]) -> AssetFile:
    stored_at = values["stored_at"]
    return AssetFile(
        **{
            **values,
            "asset_file_category": FileCategory(values["asset_file_category"]),
            "state": FileState(values["state"]),
            "stored_at": None if stored_at is None else datetime.fromisoformat(stored_at),
        }
    )
