"""The peer: the same persisted, audited transition written with django-fsm-2 and django-fsm-log.

What a team would write instead of the engine: a Django model with a protected ``FSMField`` and
``ConcurrentTransitionMixin`` (its save is ``UPDATE … WHERE id AND state = <the state it was loaded
in>``, and raises ``ConcurrentTransition`` when that matches nothing), two ``@transition`` methods
(``activate``: UNACTIVED to ACTIVED, ``deactivate`` back), each logged by django-fsm-log
(``@fsm_log_by``: a ``StateLog`` row with the source and target states, the transition's name, the
time, the object and the user who asked). One move is one transaction (``transaction.atomic``):
load the tenant's asset by primary key, call the transition (django-fsm-log's default backend
inserts the ``StateLog`` row in the ``post_transition`` signal), ``save()``, commit.

Django is configured in-process (``settings.configure``) with the databases the benchmark measures,
one alias each (``sqlite``, ``postgresql``); a router sends every query to the alias being measured
(``use``). SQLite: the engine's settings (WAL, ``synchronous=NORMAL``, foreign keys) and
``BEGIN IMMEDIATE`` for every transaction, as the engine takes the write lock up front. PostgreSQL:
Django's psycopg 3 backend with its defaults, in a schema of its own (``PEER_SCHEMA``, dropped and
created again each run) beside the lifecycle tables. Tables: Django's migrations for contenttypes,
auth and django-fsm-log; the asset model's table created from the model (``schema_editor``).

Needs the ``bench`` extra (``pip install -e '.[bench]'``): ``missing()`` says when it is not there.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

PEER_SCHEMA = "lifecycle_bench_peer"
"""The PostgreSQL schema the peer's tables live in (dropped with everything in it, then created)."""
PACKAGES = ("django", "django_fsm", "django_fsm_log")
APP_LABEL = "bench_peer"
ALIASES = ("sqlite", "postgresql")
"""Django's name for each database the benchmarks measure."""
UNACTIVED, ACTIVED = "UNACTIVED", "ACTIVED"


class MovingPool(Protocol):
    """What the peer needs of a benchmark's pool of assets (``transition.Pool``)."""

    ids: list[str]
    project_id: str
    active: list[bool]

    def next(self) -> int: ...


def missing() -> str | None:
    """Why the peer cannot run here, or None."""
    absent = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if absent:
        return f"{', '.join(absent)} not installed (the bench extra: pip install -e '.[bench]')"
    return None


class _ActiveDatabase:
    """Django database router: every model, read or written, on the alias being measured."""

    alias = "default"

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self.alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return self.alias

    def allow_relation(self, *objects: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return True


_ROUTER = _ActiveDatabase()
_models: dict[str, Any] = {}


def _django_database(url: str, sqlite_path: Path | None) -> dict[str, Any]:
    if sqlite_path is not None:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                "transaction_mode": "IMMEDIATE",
            },
        }
    parsed = make_url(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host or "",
        "PORT": str(parsed.port or ""),
        "OPTIONS": {"options": f"-c search_path={PEER_SCHEMA}"},
    }


def configure(*, sqlite_path: Path | None, postgres_url: str | None) -> None:
    """Configure Django once for this process: an alias per database given, the model defined."""
    import django
    from django.conf import settings

    databases: dict[str, Any] = {"default": {}}
    if sqlite_path is not None:
        databases["sqlite"] = _django_database("", sqlite_path)
    if postgres_url is not None:
        databases["postgresql"] = _django_database(postgres_url, None)
    settings.configure(
        DEBUG=False,  # with DEBUG on, Django keeps every query it ran
        USE_TZ=True,
        SECRET_KEY="bench",  # noqa: S106 - nothing is signed
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_fsm_log"],
        DATABASES=databases,
        DATABASE_ROUTERS=[_ROUTER],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    _define_model()


def _define_model() -> None:
    from django.db import models
    from django.utils import timezone
    from django_fsm import ConcurrentTransitionMixin, FSMField, transition
    from django_fsm_log.decorators import fsm_log_by

    class Asset(ConcurrentTransitionMixin, models.Model):  # type: ignore[misc]
        project_id = models.CharField(max_length=64, db_index=True)
        asset_name = models.CharField(max_length=128)
        state = FSMField(default=UNACTIVED, protected=True, db_index=True)
        update_time = models.DateTimeField(auto_now=True)
        state_changed_at = models.DateTimeField(default=timezone.now)

        class Meta:
            app_label = APP_LABEL

        @fsm_log_by
        @transition(field=state, source=UNACTIVED, target=ACTIVED)
        def activate(self, by: Any = None) -> None:
            self.state_changed_at = timezone.now()

        @fsm_log_by
        @transition(field=state, source=ACTIVED, target=UNACTIVED)
        def deactivate(self, by: Any = None) -> None:
            self.state_changed_at = timezone.now()

    _models["Asset"] = Asset


def prepare_postgres(url: str) -> None:
    """The peer's own schema, empty (its tables from an earlier run dropped)."""
    database = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with database.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PEER_SCHEMA} CASCADE")
            connection.exec_driver_sql(f"CREATE SCHEMA {PEER_SCHEMA}")
    finally:
        database.dispose()


@dataclass
class Peer:
    """The peer on one database alias: its tables, its assets, its moves, and their check."""

    alias: str
    tenant: str
    user: Any = None
    moves: dict[str, int] = field(default_factory=dict)
    """Moves made per asset, for ``verify``."""

    def use(self) -> None:
        """Send Django's queries to this alias from now on."""
        _ROUTER.alias = self.alias

    def migrate(self) -> None:
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connections

        self.use()
        call_command("migrate", database=self.alias, verbosity=0, interactive=False)
        with connections[self.alias].schema_editor() as editor:
            editor.create_model(_models["Asset"])
        self.user = User.objects.create(username=self.tenant)

    def create_unactived(self, count: int) -> list[str]:
        """``count`` assets of the tenant, UNACTIVED (untimed; no log row: nothing moved them)."""
        self.use()
        asset = _models["Asset"]
        created = asset.objects.bulk_create(
            [asset(project_id=self.tenant, asset_name=f"bench peer {n}") for n in range(count)]
        )
        ids = [str(row.pk) for row in created]
        self.moves.update(dict.fromkeys(ids, 0))
        return ids

    def run(self) -> Callable[[MovingPool, int], None]:
        """The peer's side: ``activate`` or ``deactivate`` each asset of the pool in turn."""
        from django.db import transaction

        asset, alias, user, moves = _models["Asset"], self.alias, self.user, self.moves
        self.use()

        def run(pool: MovingPool, count: int) -> None:
            for _ in range(count):
                index = pool.next()
                with transaction.atomic(using=alias):
                    loaded = asset.objects.get(pk=pool.ids[index], project_id=pool.project_id)
                    if pool.active[index]:
                        loaded.deactivate(by=user)
                    else:
                        loaded.activate(by=user)
                    loaded.save()
                pool.active[index] = not pool.active[index]
                moves[pool.ids[index]] += 1

        return run

    def verify(self, pool: MovingPool) -> dict[str, Any]:
        """Each asset's state, and its ``StateLog`` rows: as many as it was moved, alternating from
        UNACTIVED, the last one its state. Stops the run on any difference."""
        from django.contrib.contenttypes.models import ContentType
        from django_fsm_log.models import StateLog

        self.use()
        asset = _models["Asset"]
        kind = ContentType.objects.get_for_model(asset)
        logs: dict[str, list[tuple[str, str, str]]] = {asset_id: [] for asset_id in pool.ids}
        rows = StateLog.objects.filter(content_type=kind).order_by("id")
        for object_id, source, target, name, by in rows.values_list(
            "object_id", "source_state", "state", "transition", "by_id"
        ):
            if by != self.user.pk:
                raise SystemExit(f"peer: a StateLog row of asset {object_id} does not name its user")
            logs[str(object_id)].append((source, target, name))
        states = dict(asset.objects.filter(project_id=self.tenant).values_list("pk", "state"))
        for index, asset_id in enumerate(pool.ids):
            trail = logs[asset_id]
            expected = [
                (UNACTIVED, ACTIVED, "activate") if n % 2 == 0 else (ACTIVED, UNACTIVED, "deactivate")
                for n in range(self.moves[asset_id])
            ]
            state = states[int(asset_id)]
            if trail != expected or state != (ACTIVED if pool.active[index] else UNACTIVED):
                raise SystemExit(f"peer: asset {asset_id} is {state} with log {trail[-3:]}, not as moved")
        return {"assets": len(pool.ids), "rows": sum(len(trail) for trail in logs.values())}
