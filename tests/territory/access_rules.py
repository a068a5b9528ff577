"""Access-matrix rows for the crisis rules and visits-per-level page."""

from __future__ import annotations

from typing import Any

from ..access import Row, _const, roles


def add_targets(t: Any) -> None:
    """The page has no per-territory object."""


def web_rows() -> dict[str, Any]:
    # Readable by whoever sees the map; only managers change it (POST by others: 403).
    return {"territory:crisis_rules": Row("POST", _const("/map/rules/"), roles("manager"),
                                          lambda t, own: {"f2": "1"})}


def api_rows() -> dict[str, Any]:
    return {}
