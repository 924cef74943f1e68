"""After-commit listeners: what this process's engine applied, told to the service as it happens.

``Lifecycle.listen(listener, events=…, to_states=…, project_id=…)`` registers a callable that is
given each ``TransitionRecord`` the engine applies in this process (single moves, uploads,
tenant-wide moves, batches, unfreeze approvals, sweeps, creations) once its transaction has
committed, never before and never for a rolled-back one. A replayed request applied nothing, so it
tells nothing. A listener that raises is logged (``listener_failed`` on ``lifecycle.events``) and
neither undoes the committed move nor keeps the other listeners from hearing it.

Listeners run in the thread that called the engine (for a sweep, the sweeping thread, once the
batch's write has committed, whichever thread wrote it), in the order they were registered; keep
them quick (hand slow work to a queue). Moves made by other processes (another instance, the admin
script, a sweeper elsewhere) are not heard here: read them from the durable change feed
(``lifecycle.feed``), which has them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lifecycle.definition import AssetState, Event
from lifecycle.errors import InvalidParameter
from lifecycle.inputs import check_id
from lifecycle.logs import EventLogger
from lifecycle.records import TransitionRecord

Listener = Callable[[TransitionRecord], Any]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A registered listener and what it hears. ``close()`` (or leaving ``with``) stops it."""

    listener: Listener
    events: frozenset[Event] | None
    to_states: frozenset[AssetState] | None
    project_id: str | None
    _registry: Listeners

    def wants(self, record: TransitionRecord) -> bool:
        return (
            (self.events is None or record.event in self.events)
            and (self.to_states is None or record.to_state in self.to_states)
            and (self.project_id is None or record.project_id == self.project_id)
        )

    def close(self) -> None:
        self._registry.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Listeners:
    """The listeners of one engine; registering and publishing are safe from any thread."""

    def __init__(self, log: EventLogger) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._subscriptions: tuple[Subscription, ...] = ()  # replaced whole: publishing takes no lock

    def add(
        self,
        listener: Listener,
        *,
        events: Iterable[Event] | None = None,
        to_states: Iterable[AssetState] | None = None,
        project_id: str | None = None,
    ) -> Subscription:
        if not callable(listener):
            raise InvalidParameter("listener", "must be callable with a TransitionRecord")
        subscription = Subscription(
            listener,
            _members(events, Event, "events"),
            _members(to_states, AssetState, "to_states"),
            None if project_id is None else check_id(project_id, "project_id"),
            self,
        )
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    @property
    def active(self) -> bool:
        return bool(self._subscriptions)

    def publish(self, records: Sequence[TransitionRecord]) -> None:
        """Each record to each listener that wants it; a listener's failure is logged, not raised."""
        for subscription in self._subscriptions:
            for record in records:
                if not subscription.wants(record):
                    continue
                try:
                    subscription.listener(record)
                except Exception as error:  # noqa: BLE001 - a listener must not undo a committed move
                    self._log.error(
                        "listener_failed",
                        listener=getattr(subscription.listener, "__qualname__", repr(subscription.listener)),
                        asset_id=record.asset_id,
                        event_name=record.event.value,
                        version=record.version,
                        error=f"{type(error).__name__}: {error}",
                        exc_info=error,
                    )


def _members(values: Iterable[Any] | None, kind: type, name: str) -> frozenset[Any] | None:
    if values is None:
        return None
    if isinstance(values, str | bytes) or not isinstance(values, Collection | Iterable):
        raise InvalidParameter(name, f"must be a collection of {kind.__name__}")
    members = frozenset(values)
    if not members or not all(isinstance(member, kind) for member in members):
        raise InvalidParameter(name, f"must be a non-empty collection of {kind.__name__}")
    return members
