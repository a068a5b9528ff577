"""Web pages of the welfare map: the map, a household's summary, and the map's layers as
GeoJSON for the page's own script (the API serves the same layers to token holders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from . import layers, services
from .layers import MapFilters
from .models import LEVEL_COLOURS, CrisisColour


def _script_text() -> dict[str, str]:
    """The words map.js writes on the page; `%(n)s` stands for a number."""
    return {
        "failed": _("The map could not be loaded. Move the map or change a filter to try "
                    "again."),
        "points": _("Households shown: %(n)s."),
        "clustered": _("Households in view: %(n)s, grouped: zoom in to see each one."),
        "grouped": _("Households close together are grouped: choose a group to zoom in."),
        "none": _("No household matches these filters here."),
        "cluster": _("%(n)s households: click to zoom in"),
        "households": _("Households: %(n)s"),
        "cells": _("Communes shown: %(n)s."),
        "hidden": _("Communes with fewer than %(n)s households are not shown."),
        "suppressed": _("fewer than %(n)s"),
        "summary_refused": _("You may not open this household."),
        "summary_failed": _("The household could not be loaded."),
        "services_failed": _("The service directory could not be loaded."),
        "services_none": _("No service with an address on the map yet."),
        "phone": _("Phone"),
        "hours": _("Opening hours"),
        "service_page": _("See it in the service directory"),
    }


@login_required
@require_GET
def map_page(request: HttpRequest) -> HttpResponse:
    """The welfare map: households by crisis level (managers: counts per commune)."""
    page = services.map_page(Actor.from_request(request))
    try:
        filters = MapFilters.parse(request.GET)
    except ValueError as wrong:
        messages.error(request, str(wrong))
        filters = MapFilters()
    config = {
        "points": page.shows_households,
        "extent": page.extent,
        "tiles": {"url": settings.MAP_TILES_URL, "attribution": settings.MAP_TILES_ATTRIBUTION},
        "urls": {
            "layer": reverse("territory:map_households" if page.shows_households
                             else "territory:map_cells"),
            "communes": reverse("territory:map_communes"),
            "household": reverse("territory:map_household", args=[0]),
            "services": reverse("territory:services_layer"),
        },
        "levels": {level: {"label": str(label), "colour": LEVEL_COLOURS[level]}
                   for level, label in CrisisColour.choices},
        "small_count": layers.SMALL_COUNT,
        "text": _script_text(),
    }
    return render(request, "territory/map/map.html", {
        "page": page, "filters": filters, "config": config,
        "levels": [(level, label, LEVEL_COLOURS[level]) for level, label in CrisisColour.choices],
    })


@login_required
@require_GET
@never_cache
def household_summary(request: HttpRequest, household_id: int) -> HttpResponse:
    """A household's level, reasons and people, for the map's side panel (htmx) or alone."""
    summary = services.household_summary(Actor.from_request(request), household_id)
    template = ("territory/map/_household.html" if request.headers.get("HX-Request")
                else "territory/map/household.html")
    return render(request, template, {"summary": summary})


def _geojson(read: Callable[[], dict[str, Any]]) -> HttpResponse:
    """A layer for the page's script, or why it was refused, as JSON either way."""
    try:
        collection = read()
    except ValueError as wrong:
        return JsonResponse({"detail": str(wrong)}, status=400)
    except policy.Denied as refused:
        return JsonResponse({"detail": str(refused)}, status=403)
    return JsonResponse(collection, content_type="application/geo+json")


@login_required
@require_GET
@never_cache
def households_layer(request: HttpRequest) -> HttpResponse:
    return _geojson(lambda: layers.households(Actor.from_request(request),
                                              MapFilters.parse(request.GET)))


@login_required
@require_GET
@never_cache
def cells_layer(request: HttpRequest) -> HttpResponse:
    return _geojson(lambda: layers.cells(Actor.from_request(request),
                                         MapFilters.parse(request.GET)))


@login_required
@require_GET
def communes_layer(request: HttpRequest) -> HttpResponse:
    return _geojson(lambda: services.commune_layer(Actor.from_request(request)))


urlpatterns: list[URLPattern] = [
    path("map/", map_page, name="map"),
    path("map/households/<int:household_id>/", household_summary, name="map_household"),
    path("map/layers/households.geojson", households_layer, name="map_households"),
    path("map/layers/cells.geojson", cells_layer, name="map_cells"),
    path("map/layers/communes.geojson", communes_layer, name="map_communes"),
]
