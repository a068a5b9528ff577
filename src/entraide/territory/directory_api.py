"""API of the service directory: search with distances, and the map's services layer."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from ninja import Query, Router, Schema

from entraide.api_contract import OFFSET, responses
from entraide.org.services import organisation_of
from entraide.secrecy.policy import Actor

from . import directory
from .models import Service

router = Router(tags=["territory"])


class ServiceOut(Schema):
    id: int
    name: str
    category: str
    needs: list[str]
    description: str
    eligibility: str
    opening_hours: str
    address: str
    postcode: str
    commune: str
    latitude: float | None
    longitude: float | None
    phone: str
    email: str
    website: str
    url: str

    @staticmethod
    def resolve_url(service: Service) -> str:
        return reverse("territory:service", args=[service.pk])


class FoundOut(Schema):
    service: ServiceOut
    distance_km: float | None
    matched_needs: list[str]


class ServicePage(Schema):
    items: list[FoundOut]
    count: int


class PointOut(Schema):
    type: Literal["Point"]
    coordinates: list[float]


class ServicePropertiesOut(Schema):
    kind: Literal["service"]
    id: int
    name: str
    category: str
    category_label: str
    needs: list[str]
    opening_hours: str
    phone: str
    commune: str
    url: str


class ServiceFeatureOut(Schema):
    type: Literal["Feature"]
    geometry: PointOut
    properties: ServicePropertiesOut


class ServiceLayerOut(Schema):
    type: Literal["FeatureCollection"]
    features: list[ServiceFeatureOut]
    properties: dict[str, Any]


NEED = Query(None, description="Case-file domain codes (housing, income…); repeat or "
             "separate by commas. A service matches when it covers one of them.")


@router.get("/services", response=responses({200: ServicePage}, 401, 403, 404, 422))
def search_services(request: HttpRequest, need: list[str] | None = NEED,
                    category: str = "", q: str = Query("", max_length=200),
                    lat: float | None = None, lon: float | None = None,
                    radius_km: float | None = None, case_file_id: int | None = None,
                    limit: int = Query(20, ge=1, le=200), offset: int = OFFSET
                    ) -> dict[str, Any]:
    """Active services by need, category and words; nearest first around `lat`,`lon` or,
    with `case_file_id`, around the household's home (its needs at level 3 or 4 are used
    when no `need` is given; the case file read is audited)."""
    actor = Actor.from_request(request, "api")
    query = directory.ServiceQuery.build(needs=need or (), category=category, text=q,
                                         lat=lat, lon=lon, radius_km=radius_km)
    if case_file_id is not None:
        context = directory.near_case_file(actor, case_file_id)
        query = directory.ServiceQuery.build(
            needs=need or context.needs, category=category, text=q,
            radius_km=radius_km).around(context.point, radius_km)
    found = directory.search(query, organisation_of(actor.user), limit, offset)
    return {"items": found.items, "count": found.total}


@router.get("/map/services", response=responses({200: ServiceLayerOut}, 401, 403, 422))
def services_layer(request: HttpRequest, need: list[str] | None = NEED, category: str = "",
                   bbox: str = Query("", description="west,south,east,north in degrees")
                   ) -> HttpResponse:
    """The services layer of the welfare map: GeoJSON points of the active services."""
    query = directory.ServiceQuery.build(needs=need or (), category=category, bbox=bbox)
    user = Actor.from_request(request, "api").user
    # Sent as built: checking thousands of features against the schema would take longer
    # than finding them (the schema above documents the shape; tests hold it to it).
    return JsonResponse(directory.services_geojson(query, organisation_of(user)))
