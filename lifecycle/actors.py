"""Who asks for a move. Every call names its actor; the actor lands in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.definition import Role


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant (``project_id``), optionally through one of its third-party users."""

    project_id: str
    app_user_id: str | None = None

    role = Role.TENANT

    @property
    def actor_id(self) -> str:
        return self.app_user_id or self.project_id


@dataclass(frozen=True, slots=True)
class Platform:
    """The platform, acting through a named operator."""

    operator: str

    role = Role.PLATFORM

    @property
    def actor_id(self) -> str:
        return self.operator


@dataclass(frozen=True, slots=True)
class System:
    """The engine itself: timeouts, retention, planned operations."""

    name: str = "scheduler"

    role = Role.SYSTEM

    @property
    def actor_id(self) -> str:
        return self.name


Actor = Tenant | Platform | System
