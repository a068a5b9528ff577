"""What an access-matrix row is, shared by tests/secrecy/test_access_matrix.py and the
row modules of apps with many routes (tests/territory/access_*.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("reception", "worker", "lead", "manager", "operator", "dpo", "admin")

# Expected access as {role: (own territory, other territory)}; roles not listed are refused.
PUBLIC = {r: (True, True) for r in ROLES}
FILE = {"worker": (True, False), "lead": (True, False)}
# A telecare home: operators watch every home, the household's own workers follow theirs.
HOME = {**FILE, "operator": (True, True)}
IDENTITY = {"reception": (True, False), "worker": (True, False), "lead": (True, False)}


def roles(*names: str) -> dict[str, tuple[bool, bool]]:
    return {n: (True, True) for n in names}


@dataclass
class Targets:
    """One object of each kind in territory A (own for the A agents) and in territory B."""

    world: Any
    objects: dict[tuple[str, bool], Any] = field(default_factory=dict)

    def __call__(self, kind: str, own: bool) -> Any:
        return self.objects[(kind, own)]


Url = Callable[[Targets, bool], str]
Data = Callable[[Targets, bool], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    method: str
    url: Url
    expected: dict[str, tuple[bool, bool]]
    data: Data | None = None


def _file(suffix: str = "") -> Url:
    return lambda t, own: f"/case-files/{t('file', own).pk}/{suffix}"


def _obj(prefix: str, kind: str, suffix: str = "") -> Url:
    return lambda t, own: f"/{prefix}/{t(kind, own).pk}/{suffix}"


def _const(url: str) -> Url:
    return lambda t, own: url


def _api(suffix: Callable[[Targets, bool], str]) -> Url:
    return lambda t, own: "/api/v1" + suffix(t, own)
