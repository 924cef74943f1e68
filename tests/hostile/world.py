"""A world to act on: ``World`` (the owner's assets in each state that matters, and an intruder's),
``seed`` that builds it, ``Arena`` that seeds it again only after an example changed it and checks
that a refusal wrote nothing, and ``Outcome``, which checks a call's answer against the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import Engine, func, select

from lifecycle.actors import Tenant
from lifecycle.definition import UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    ApplicationNotFound,
    AssetNotFound,
    FileNotFound,
    InvalidParameter,
    LifecycleError,
    StoreUnavailable,
)
from lifecycle.results import Asset
from lifecycle.store.models import applications, assets, audit, files
from tests.conftest import new_asset
from tests.hostile.drawing import INTRUDER, MISSING, OWNER, PLATFORM, hostile_text, junk
from tests.hostile.rules import bad_id


@dataclass(repr=False)
class World:
    """The owner's assets in each state that matters, and an intruder's (frozen, with its
    pending unfreeze application)."""

    creating: Asset
    unactived: Asset
    actived: Asset
    frozen: Asset
    binned: Asset
    theirs: Asset
    application: str
    their_application: str

    def __repr__(self) -> str:
        return f"World({', '.join(f'{a.asset_name}={a.asset_id}' for a in self.assets)})"

    @property
    def owners(self) -> list[str]:
        """The owner's assets."""
        return [asset.asset_id for asset in self.assets if asset.project_id == OWNER.project_id]

    @property
    def assets(self) -> list[Asset]:
        return [self.creating, self.unactived, self.actived, self.frozen, self.binned, self.theirs]

    @property
    def asset_ids(self) -> list[str]:
        return [asset.asset_id for asset in self.assets]

    @property
    def file_ids(self) -> list[str]:
        return [f.file_id for asset in self.assets for f in asset.files]

    def ids(self) -> st.SearchStrategy[Any]:
        """Ids of every kind: the world's, missing, look-alikes of the world's, hostile, not text."""
        real = self.asset_ids
        look_alikes = [
            variant
            for asset_id in real[:2]
            for variant in (
                asset_id.upper(),
                asset_id.replace("-", "_"),
                asset_id[:-1] + "_",
                asset_id[:-1] + "%",
                f" {asset_id}",
                f"{asset_id} ",
                f"{asset_id}\x00",
                f"{asset_id}'--",
                asset_id * 2,
                asset_id[:8],
            )
        ]
        fixed = [MISSING, "%", "_", "*", "' OR '1'='1", "a" * 64, "a" * 65, "", " ", ".", "-a", "a/b"]
        return st.one_of(
            st.sampled_from(real),
            st.sampled_from(real),
            st.sampled_from(look_alikes + fixed),
            hostile_text,
            junk,
        )

    def application_ids(self) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.sampled_from([self.application, self.their_application]),
            st.sampled_from([MISSING, self.application.upper(), self.application.replace("-", "_")]),
            st.sampled_from(self.asset_ids),
            hostile_text,
            junk,
        )


def seed(lifecycle: Lifecycle) -> World:
    def uploaded(tenant: Tenant, name: str) -> Asset:
        asset = lifecycle.create_asset(tenant, new_asset(name))
        lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        return asset

    creating = lifecycle.create_asset(OWNER, new_asset("creating"))
    unactived = uploaded(OWNER, "unactived")
    actived = uploaded(OWNER, "actived")
    lifecycle.activate(OWNER, actived.asset_id)
    frozen = uploaded(OWNER, "frozen")
    lifecycle.freeze(PLATFORM, frozen.asset_id)
    application = lifecycle.apply_for_unfreeze(OWNER, frozen.asset_id, reason="ours").application_id
    binned = uploaded(OWNER, "binned")
    lifecycle.delete(OWNER, binned.asset_id)
    theirs = uploaded(INTRUDER, "theirs")
    lifecycle.freeze(PLATFORM, theirs.asset_id)
    their_application = lifecycle.apply_for_unfreeze(INTRUDER, theirs.asset_id).application_id
    return World(creating, unactived, actived, frozen, binned, theirs, application, their_application)


Snapshot = tuple[tuple[int, ...], tuple[Any, ...]]


def snapshot(database: Engine, asset_ids: Sequence[str]) -> Snapshot:
    """The row count of each of the four tables, and every row of the given assets in each."""
    tables = (assets, files, audit, applications)
    with database.connect() as connection:
        counts = tuple(
            int(connection.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables
        )
        rows = tuple(
            tuple(
                connection.execute(
                    select(t).where(t.c.asset_id.in_(list(asset_ids))).order_by(*t.primary_key.columns)
                ).all()
            )
            for t in tables
        )
    return counts, rows


class Arena:
    """A seeded world, seeded again only after an example changed it. (Not a dataclass: Hypothesis
    would print every asset of the world with each failing example.)"""

    def __init__(self, lifecycle: Lifecycle, database: Engine) -> None:
        self.lifecycle = lifecycle
        self.database = database
        self._world: World | None = None

    def __repr__(self) -> str:
        return f"Arena({self.database.url.get_backend_name()}, {self._world!r})"

    def world(self) -> World:
        if self._world is None:
            self._world = seed(self.lifecycle)
        return self._world

    def before(self) -> Snapshot:
        return snapshot(self.database, self.world().asset_ids)

    def after(self, before: Snapshot, *, refused: str | None) -> None:
        """A refusal wrote nothing; a move of the world's assets has the next example seed afresh."""
        now = snapshot(self.database, self.world().asset_ids)
        if refused is not None:
            assert now == before, f"refused ({refused}) but something was written"
        elif now[1] != before[1]:
            self._world = None

    def attempt(self, call: Callable[[], Any]) -> Outcome:
        """Run ``call``: a result, or a ``LifecycleError`` that is not ``StoreUnavailable`` and
        wrote nothing. Any other exception fails the test (Hypothesis shows the input)."""
        before = self.before()
        outcome = Outcome(None, None)
        try:
            outcome.result = call()
        except LifecycleError as error:
            outcome.error = error
        if isinstance(outcome.error, StoreUnavailable):
            raise AssertionError("bad input reached the database") from outcome.error
        self.after(before, refused=None if outcome.error is None else repr(outcome.error))
        return outcome


@dataclass
class Outcome:
    result: Any
    error: LifecycleError | None

    def expect(self, problems: set[str], *, state_dependent: frozenset[str] = frozenset()) -> None:
        """Invalid input is refused (with ``InvalidParameter`` naming one of the invalid fields, or
        earlier by a role check); valid input is never refused as invalid, except for the
        ``state_dependent`` fields, which the stored state can make invalid."""
        error = self.error
        if currently_in_test_context():  # for --hypothesis-show-statistics
            event("accepted" if error is None else f"refused: {type(error).__name__}")
        if problems:
            assert error is not None, f"accepted although {sorted(problems)} are invalid: {self.result!r}"
        if isinstance(error, InvalidParameter):
            field_name = error.field.split("[")[0]
            assert field_name in problems | state_dependent, f"{error} (invalid: {sorted(problems)})"
            assert str(error).startswith(f"invalid parameter {error.field}: ")
        looked_up = getattr(error, "file_id", None) or getattr(error, "application_id", None)
        looked_up = looked_up or getattr(error, "asset_id", None)
        if isinstance(error, AssetNotFound | ApplicationNotFound | FileNotFound):
            assert not bad_id(looked_up), f"a malformed id was looked up, not refused as invalid: {error}"
