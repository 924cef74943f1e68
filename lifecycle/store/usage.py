"""The storage rules as SQL: which bytes count at a moment, which are exempt, summed per tenant.

Every figure the engine gives about storage comes from the expressions built here, by the database:
the tenant reports (``GROUP BY`` tenant, type and state), one asset's explanation (the same
expressions, per file) and the allowance check (the same report for one tenant). No file row is
brought into Python to be added up.

At a moment in the past, an asset's state is the one its last audit row at or before that moment
records; now, it is the asset's own state column (the two agree: ``tests/test_billing.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CTE,
    Connection,
    Select,
    String,
    Subquery,
    Table,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import NamedFromClause

from lifecycle.billing import (
    FREE_PERIOD_TYPES,
    IMAGE_MODEL_TYPES,
    Exemption,
    StoragePolicy,
    billed_if_created_before,
)
from lifecycle.definition import AssetState, AssetType, Definition
from lifecycle.errors import CorruptRecord
from lifecycle.store import models
from lifecycle.store.repository import check_asset_record

assets = cast(Table, models.assets)
files = cast(Table, models.files)
audit = cast(Table, models.audit)


@dataclass(frozen=True, slots=True)
class Moment:
    """When a report looks: ``as_of``, and whether that is now (states read from the assets) or
    the past (states read from the audit trail)."""

    as_of: datetime
    now: bool
    free_videos_since: datetime
    """A customized video created at or after this is still in its free period at ``as_of``."""

    @classmethod
    def at(cls, as_of: datetime, *, now: bool, policy: StoragePolicy) -> Moment:
        return cls(as_of, now, billed_if_created_before(as_of, policy.customized_video_free_months))


def _assets_at(
    moment: Moment, project_ids: Sequence[str] | None, asset_id: str | None = None, *, shared: bool = False
) -> Subquery | CTE:
    """The assets that existed at the moment, with the state each was in (``shared``: as a common
    table expression, computed once for a statement that reads it twice)."""
    where: list[ColumnElement[bool]] = []
    if project_ids is not None:
        where.append(assets.c.project_id.in_(list(project_ids)))
    if asset_id is not None:
        where.append(assets.c.asset_id == asset_id)
    columns = (
        assets.c.asset_id,
        assets.c.project_id,
        assets.c.asset_type,
        assets.c.customized,
        assets.c.create_time,
    )
    if moment.now:
        return _named(select(*columns, assets.c.asset_state.label("state")).where(*where), shared)
    seen = audit.alias("seen")
    last_seen = (
        select(seen.c.asset_id, func.max(seen.c.seq).label("seq"))
        .where(seen.c.occurred_at <= moment.as_of)
        .group_by(seen.c.asset_id)
    )
    if project_ids is not None:
        last_seen = last_seen.where(seen.c.project_id.in_(list(project_ids)))
    if asset_id is not None:
        last_seen = last_seen.where(seen.c.asset_id == asset_id)
    last = last_seen.subquery("last_seen")
    row = audit.alias("last_row")
    return _named(
        select(*columns, row.c.to_state.label("state"))
        .select_from(
            assets.join(last, last.c.asset_id == assets.c.asset_id).join(
                row, and_(row.c.asset_id == last.c.asset_id, row.c.seq == last.c.seq)
            )
        )
        .where(*where),
        shared,
    )


def _named(statement: Select[Any], shared: bool) -> Subquery | CTE:
    return statement.cte("asset_at") if shared else statement.subquery("asset_at")


@dataclass(frozen=True, slots=True)
class _Terms:
    """The rules, over an asset at the moment: what of its stored files counts and what is exempt.

    Written once, used per file (one asset's verdict) and per asset (the sums of the reports).
    """

    counts: ColumnElement[bool]
    """Its stored files count: it is not deleted for good (frozen, in the bin or failed, it is)."""
    timbre_models_free: ColumnElement[bool]
    """Its files marked ``timbre_model`` are free: a customized image model."""
    free_video: ColumnElement[bool]
    """All its files are free: a customized video in its free period."""

    def file_exemption(self) -> ColumnElement[Any]:
        """One stored file's exemption (joined with ``files``), or NULL."""
        return case(
            (and_(self.timbre_models_free, files.c.timbre_model), literal(Exemption.TIMBRE_MODEL.value)),
            (self.free_video, literal(Exemption.CUSTOMIZED_VIDEO.value)),
            else_=null(),
        )


def _stored_files(asset_at: NamedFromClause, moment: Moment) -> ColumnElement[bool]:
    """The join condition: the asset's files whose bytes had arrived by the moment, and were not
    deleted (on their own, ``delete_file``) by then.

    Now is every stored file, whatever its ``stored_at``: that time comes from the clock of the
    instance that stored it, which may run ahead of this one's (and an allowance check reads its
    clock before it waits for the tenant's lock, so an upload stored meanwhile is later than it).
    """
    stored = and_(files.c.asset_id == asset_at.c.asset_id, files.c.stored_at.is_not(None))
    if moment.now:
        return and_(stored, files.c.deleted_at.is_(None))
    # A file deleted on its own (``delete_file``) counted until then.
    kept = or_(files.c.deleted_at.is_(None), files.c.deleted_at > moment.as_of)
    return and_(stored, files.c.stored_at <= moment.as_of, kept)


def _terms(asset_at: NamedFromClause, moment: Moment) -> _Terms:
    customized = asset_at.c.customized
    return _Terms(
        counts=asset_at.c.state != AssetState.DELETED,
        timbre_models_free=and_(customized, asset_at.c.asset_type.in_(list(IMAGE_MODEL_TYPES))),
        free_video=and_(
            customized,
            asset_at.c.asset_type.in_(list(FREE_PERIOD_TYPES)),
            asset_at.c.create_time >= moment.free_videos_since,
        ),
    )


@dataclass(frozen=True, slots=True)
class Bucket:
    """One (tenant, type, state) group of the report."""

    project_id: str
    asset_type: AssetType
    state: AssetState
    assets: int
    files: int
    used_bytes: int
    timbre_bytes: int
    video_bytes: int


def tenants(connection: Connection, moment: Moment) -> list[str]:
    """Every tenant with an asset created by the moment, in order."""
    statement = select(assets.c.project_id).distinct().order_by(assets.c.project_id)
    if not moment.now:
        statement = statement.where(assets.c.create_time <= moment.as_of)
    return list(connection.execute(statement).scalars())


def buckets(
    connection: Connection, moment: Moment, project_ids: Sequence[str], definition: Definition
) -> list[Bucket]:
    """The report's sums for these tenants, grouped by tenant, asset type and state, in one
    statement: the assets counted, and their stored files summed, each by a plain GROUP BY the
    database can hash (counting distinct assets over the join would sort it), over the assets at
    the moment computed once."""
    asset_at = _assets_at(moment, project_ids, shared=True)
    terms = _terms(asset_at, moment)
    key = (asset_at.c.project_id, asset_at.c.asset_type, asset_at.c.state)
    counted = select(*key, func.count().label("assets")).group_by(*key).subquery("counted")

    def total(condition: ColumnElement[bool] | None = None) -> Any:
        size = files.c.file_size if condition is None else case((condition, files.c.file_size), else_=0)
        return func.sum(size)

    summed = (
        select(
            *key,
            func.count().label("files"),
            total().label("used"),
            total(and_(terms.timbre_models_free, files.c.timbre_model)).label("timbre"),
            total(terms.free_video).label("video"),
        )
        .select_from(asset_at.join(files, _stored_files(asset_at, moment)))
        .where(terms.counts)
        .group_by(*key)
        .subquery("summed")
    )
    same_key = and_(*(counted.c[column.name] == summed.c[column.name] for column in key))
    statement = select(
        counted.c.project_id,
        # As text, mapped to the enums once per row below (the columns' own conversion costs more).
        type_coerce(counted.c.asset_type, String),
        type_coerce(counted.c.state, String),
        counted.c.assets,
        *(func.coalesce(summed.c[name], 0) for name in ("files", "used", "timbre", "video")),
    ).select_from(counted.outerjoin(summed, same_key))
    found = []
    for project_id, type_value, state_value, *sums in connection.execute(statement):
        asset_type, state = _ASSET_TYPES.get(type_value), _STATES.get(state_value)
        if asset_type is None or state is None:
            raise _corrupt(connection, project_id, asset_type or type_value, state or state_value, definition)
        found.append(Bucket(project_id, asset_type, state, *(int(n) for n in sums)))
    return sorted(found, key=lambda bucket: bucket.project_id)


_ASSET_TYPES = {member.value: member for member in AssetType}
_STATES = {member.value: member for member in AssetState}


def _corrupt(
    connection: Connection, project_id: str, asset_type: object, state: object, definition: Definition
) -> CorruptRecord:
    """Name an asset holding a value no report can place (written past the CHECK constraints),
    with the problem every other read of it reports (raised here, from its record, where the
    asset row holds it; else returned, for the audit row that does)."""
    for column, value in ((assets.c.asset_type, asset_type), (assets.c.asset_state, state)):
        if isinstance(value, AssetType | AssetState):
            continue
        where = column.is_(None) if value is None else type_coerce(column, String) == str(value)
        found = select(assets).where(assets.c.project_id == project_id, where).limit(1)
        record = connection.execute(found).first()
        if record is not None:
            check_asset_record(record, definition)
    # The asset row is sound: the state came from its audit trail, as of a past moment.
    to_state = audit.c.to_state
    where = to_state.is_(None) if state is None else type_coerce(to_state, String) == str(state)
    row = connection.execute(
        select(audit.c.asset_id, audit.c.seq).where(audit.c.project_id == project_id, where).limit(1)
    ).first()
    shown = "NULL" if state is None else repr(str(state))
    return CorruptRecord(
        row.asset_id if row is not None else f"of tenant {project_id}",
        f"audit row {row.seq if row is not None else '?'}: to_state {shown} is not a value the engine knows",
    )


def asset_files(connection: Connection, moment: Moment, asset_id: str) -> tuple[Any | None, list[Any]]:
    """One asset at the moment (None if it did not exist yet) and each of its files with the rules'
    verdict: ``counted`` and ``exemption``, by the same expressions as the report."""
    asset_at = _assets_at(moment, None, asset_id)
    asset = connection.execute(select(asset_at)).first()
    if asset is None:
        return None, []
    terms = _terms(asset_at, moment)
    rows = connection.execute(
        select(
            files.c.file_id,
            files.c.file_name,
            files.c.asset_file_category,
            files.c.state,
            files.c.file_size,
            files.c.stored_at,
            files.c.timbre_model,
            and_(terms.counts, _stored_files(asset_at, moment)).label("counted"),
            terms.file_exemption().label("exemption"),
        )
        .select_from(asset_at.join(files, files.c.asset_id == asset_at.c.asset_id))
        .order_by(files.c.position)
    ).all()
    return asset, list(rows)


def state_since(connection: Connection, moment: Moment, asset_id: str, state: AssetState) -> datetime | None:
    """When the asset entered ``state``, the one it is in at the moment: the first audit row of the
    last run of rows ending in it (moves that stay in a state, such as an unfreeze within the
    recycle bin, do not restart it)."""
    seen = [audit.c.asset_id == asset_id]
    if not moment.now:
        seen.append(audit.c.occurred_at <= moment.as_of)
    left = select(func.max(audit.c.seq)).where(*seen, audit.c.to_state != state).scalar_subquery()
    since = select(func.min(audit.c.occurred_at)).where(*seen, audit.c.seq > func.coalesce(left, 0))
    found: datetime | None = connection.execute(since).scalar()
    return found


def chargeable_bytes(connection: Connection, moment: Moment, project_id: str) -> int:
    """One tenant's chargeable bytes: the report's total, by one sum (the allowance check's)."""
    asset_at = _assets_at(moment, [project_id])
    terms = _terms(asset_at, moment)
    total = connection.execute(
        select(func.coalesce(func.sum(files.c.file_size), 0))
        .select_from(asset_at.join(files, _stored_files(asset_at, moment)))
        .where(terms.counts, ~terms.free_video, ~and_(terms.timbre_models_free, files.c.timbre_model))
    ).scalar_one()
    return int(total)


def pending_chargeable_bytes(connection: Connection, moment: Moment, asset_id: str) -> int:
    """The bytes of the asset's files not stored yet that would be chargeable once stored now."""
    asset_at = _assets_at(moment, None, asset_id)
    terms = _terms(asset_at, moment)
    total = connection.execute(
        select(func.coalesce(func.sum(files.c.file_size), 0))
        .select_from(asset_at.join(files, files.c.asset_id == asset_at.c.asset_id))
        .where(
            files.c.stored_at.is_(None),
            ~terms.free_video,
            ~and_(terms.timbre_models_free, files.c.timbre_model),
        )
    ).scalar_one()
    return int(total)


def lock_tenant(connection: Connection, project_id: str) -> None:
    """Serialize allowance checks of one tenant until the transaction ends (PostgreSQL: an advisory
    transaction lock; SQLite's write transactions already hold the database's lock)."""
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"lifecycle storage {project_id}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    connection.execute(select(func.pg_advisory_xact_lock(key)))
