"""Who may call the service: the access keys file (``--access-keys FILE``).

The file is a JSON list. A tenant's key names its project; the platform's names an operator, whose
id lands in the audit trail of every move made with it::

    [
      {"ak": "TENANTAK0000000000001", "sk": "…", "project_id": "6a6a1f8354f64dd9b9a614def7b59d83"},
      {"ak": "OPERATORAK00000000001", "sk": "…", "operator": "operator-7"}
    ]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.actors import Platform, Tenant
from lifecycle.errors import InvalidParameter
from lifecycle.inputs import check_app_user_id, check_id, check_line
from lifecycle.server.errors import NotAuthorized

MAX_KEY = 256


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One key: a tenant's (``project_id``) or the platform's (``operator``), never both."""

    ak: str
    sk: str = field(repr=False)
    project_id: str | None = None
    operator: str | None = None

    def __post_init__(self) -> None:
        if (self.project_id is None) == (self.operator is None):
            raise InvalidParameter(f"access key {self.ak}", "needs exactly one of project_id or operator")

    @property
    def is_operator(self) -> bool:
        return self.operator is not None

    def tenant(self, project_id: str, app_user_id: str | None) -> Tenant:
        """The tenant this key acts as under ``/v1/{project_id}``, for the end user
        ``X-App-UserId`` names; another project's path is refused."""
        if self.project_id is None:
            raise NotAuthorized("an operator's key acts under /admin, not under a project's path")
        if project_id != self.project_id:
            raise NotAuthorized(f"this key belongs to another project than {project_id}")
        return Tenant(self.project_id, app_user_id=check_app_user_id(app_user_id))

    def platform(self) -> Platform:
        if self.operator is None:
            raise NotAuthorized("a tenant's key may not use the platform's paths (/admin)")
        return Platform(self.operator)


class AccessKeys:
    """The keys the service accepts, by access key id."""

    def __init__(self, keys: Iterable[AccessKey]) -> None:
        self._by_ak: dict[str, AccessKey] = {}
        for key in keys:
            if key.ak in self._by_ak:
                raise InvalidParameter("access keys", f"access key {key.ak} is listed twice")
            self._by_ak[key.ak] = key

    def get(self, ak: str) -> AccessKey | None:
        return self._by_ak.get(ak)

    def __len__(self) -> int:
        return len(self._by_ak)

    @classmethod
    def load(cls, path: str | Path) -> AccessKeys:
        """Read the keys file; ``InvalidParameter`` names what is wrong in it (never a secret)."""
        try:
            entries = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            problem = f"is not JSON ({error.msg}, line {error.lineno})"
            raise InvalidParameter("access keys file", problem) from None
        return cls.parse(entries)

    @classmethod
    def parse(cls, entries: Any) -> AccessKeys:
        """The keys a decoded keys file lists."""
        if not isinstance(entries, list):
            raise InvalidParameter("access keys file", 'must be a JSON list of {"ak", "sk", ...} objects')
        keys = [_key(entry, index) for index, entry in enumerate(entries)]
        first: dict[str, int] = {}
        for index, key in enumerate(keys):
            if key.ak in first:
                problem = f"access key {key.ak} is listed already, in entry {first[key.ak]}"
                raise InvalidParameter(f"access keys file, entry {index}", problem)
            first[key.ak] = index
        return cls(keys)


def _key(entry: Any, index: int) -> AccessKey:
    where = f"access keys file, entry {index}"
    if not isinstance(entry, Mapping):
        raise InvalidParameter(where, "must be an object")
    unknown = set(entry) - {"ak", "sk", "project_id", "operator"}
    if unknown:
        raise InvalidParameter(where, f"unknown fields: {', '.join(sorted(unknown))}")
    ak, sk = entry.get("ak"), entry.get("sk")
    if not isinstance(ak, str) or not isinstance(sk, str) or not ak or not sk:
        raise InvalidParameter(where, "ak and sk must be non-empty strings")
    if len(ak) > MAX_KEY or len(sk) > MAX_KEY or not ak.isascii() or not ak.isprintable() or " " in ak:
        problem = f"ak must be printable ASCII without spaces; ak and sk at most {MAX_KEY} characters"
        raise InvalidParameter(where, problem)
    project_id, operator = entry.get("project_id"), entry.get("operator")
    if (project_id is None) == (operator is None):
        raise InvalidParameter(where, f"key {ak} needs exactly one of project_id (a tenant) or operator")
    try:
        if project_id is not None:
            return AccessKey(ak, sk, project_id=check_id(project_id, "project_id"))
        return AccessKey(ak, sk, operator=check_line(operator, "operator", maximum=128))
    except InvalidParameter as refused:
        raise InvalidParameter(where, f"{refused.field} {refused.problem}") from None
