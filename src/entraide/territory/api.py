"""Welfare map API: the map's layers as GeoJSON and a household's summary, for the same
agents and with the same audit as the web map."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from entraide.api_contract import responses
from entraide.secrecy.policy import Actor

from . import layers, services
from .layers import MapFilters

router = Router(tags=["territory"])


class MapQuery(Schema):
    """The map's filters. Declared here for the API's description; read by
    `MapFilters.parse`, so that the web map and the API refuse the same input alike."""

    level: list[str] = Field([], description="Crisis levels 1–4, repeated or comma-separated.")
    territory: str = Field("", description="A territory's id.")
    team: str = Field("", description="A team's id (its case files and waiting leads).")
    alert: str = Field("", description="1: only households with an open telecare alert.")
    lead: str = Field("", description="1: only households with a waiting screening lead.")
    bbox: str = Field("", description="west,south,east,north in degrees (WGS 84).")
    zoom: str = Field("", description="Map zoom 0–20: the size of clusters' grid cells.")


class HouseholdSummaryOut(Schema):
    household_id: int
    level: int | None
    label: str
    colour: str
    reasons: list[str]
    address: str
    postcode: str
    commune: str
    members: list[str]
    open_alerts: int
    team: str
    lead_id: int | None
    case_file_id: int | None


@router.get("/map/households", response=responses({200: dict[str, Any]}, 401, 403, 422))
def map_households(request: HttpRequest, filters: Query[MapQuery]) -> dict[str, Any]:
    """Households the agent follows, by crisis level: points with their reasons, or, when
    more than 1,500 are in view, clusters of a grid sized to `zoom`. One audit record."""
    return layers.households(Actor.from_request(request, "api"), MapFilters.parse(request.GET))


@router.get("/map/cells", response=responses({200: dict[str, Any]}, 401, 403, 422))
def map_cells(request: HttpRequest, filters: Query[MapQuery]) -> dict[str, Any]:
    """Households per commune and level, for managers and team leads; communes of fewer
    than 3 households are left out, small counts within a commune are null."""
    return layers.cells(Actor.from_request(request, "api"), MapFilters.parse(request.GET))


@router.get("/map/communes", response=responses({200: dict[str, Any]}, 401, 403))
def map_communes(request: HttpRequest) -> dict[str, Any]:
    """Commune boundaries of the agent's territory (GeoJSON polygons)."""
    return services.commune_layer(Actor.from_request(request, "api"))


@router.get("/map/households/{household_id}",
            response=responses({200: HouseholdSummaryOut}, 401, 403, 404, 422))
def map_household(request: HttpRequest, household_id: int) -> services.HouseholdSummary:
    """A household on the agent's map: level, reasons, members, open alerts, and the ids
    of its case file and lead when the agent may open them. Audited; refused outside the
    agent's map."""
    return services.household_summary(Actor.from_request(request, "api"), household_id)
