"""Access-matrix rows for the welfare map and its layers."""

from __future__ import annotations

from typing import Any

from entraide.territory import crisis

from ..access import FILE, Row, _api, _const, _obj, roles

# Workers and team leads see their households; managers (and leads) counts per commune.
MAP = roles("worker", "lead", "manager")
POINTS = roles("worker", "lead")
CELLS = roles("lead", "manager")


def add_targets(t: Any) -> None:
    """The households of the world's case files are the targets; they need their levels."""
    crisis.refresh()


def web_rows() -> dict[str, Any]:
    return {
        "territory:map": Row("GET", _const("/map/?level=3,4"), MAP),
        # A household's summary: only when it is on the agent's own map.
        "territory:map_household": Row("GET", _obj("map/households", "household"), FILE),
        "territory:map_households": Row(
            "GET", _const("/map/layers/households.geojson?level=1&bbox=-5,40,10,50&zoom=8"),
            POINTS),
        "territory:map_cells": Row("GET", _const("/map/layers/cells.geojson?zoom=8"), CELLS),
        "territory:map_communes": Row("GET", _const("/map/layers/communes.geojson"), MAP),
    }


def api_rows() -> dict[str, Any]:
    return {
        "GET /api/v1/map/households": Row(
            "GET", _const("/api/v1/map/households?level=1,2&alert=0"), POINTS),
        "GET /api/v1/map/cells": Row("GET", _const("/api/v1/map/cells"), CELLS),
        "GET /api/v1/map/communes": Row("GET", _const("/api/v1/map/communes"), MAP),
        "GET /api/v1/map/households/{household_id}": Row(
            "GET", _api(lambda t, o: f"/map/households/{t('household', o).pk}"), FILE),
    }
