"""Commune boundaries: imported from an official GeoJSON file (IGN's ADMIN EXPRESS, Korea's
administrative dongs…) or, failing one, drawn around each commune's households so the map
still reads without tiles."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from entraide.people.models import Household

from .models import Commune

Point = tuple[float, float]  # (longitude, latitude)


def convex_hull(points: list[Point]) -> list[Point]:
    """The convex hull, counter-clockwise (Andrew's monotone chain)."""
    unique = sorted(set(points))
    if len(unique) <= 2:
        return unique

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    upper: list[Point] = []
    for p in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(unique):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def outline(points: list[Point], margin_km: float = 0.3) -> dict[str, Any]:
    """A polygon around the points, about `margin_km` wider: the hull of a small octagon
    around each address (pushing the hull's corners out from its centre can leave an
    address near a long edge outside)."""
    cy = sum(p[1] for p in points) / len(points)
    dy = margin_km / 111.0
    dx = dy / max(math.cos(math.radians(cy)), 0.01)
    corners = [(math.cos(a * math.pi / 4), math.sin(a * math.pi / 4)) for a in range(8)]
    hull = convex_hull([(x + cx * dx, y + cy_ * dy) for x, y in set(points)
                        for cx, cy_ in corners])
    ring = [[round(x, 6), round(y, 6)] for x, y in hull]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def derive(territory_ids: list[int] | None = None) -> int:
    """Draw every commune that has no imported boundary around its households' addresses;
    returns how many were drawn."""
    households = Household.objects.filter(latitude__isnull=False, longitude__isnull=False,
                                          anonymised_at__isnull=True)
    if territory_ids is not None:
        households = households.filter(territory_id__in=territory_ids)
    grouped: dict[tuple[int, str], tuple[str, list[Point]]] = {}
    for territory_id, name, postcode, lat, lon in households.values_list(
            "territory_id", "commune", "postcode", "latitude", "longitude").iterator():
        if lat is not None and lon is not None:
            grouped.setdefault((territory_id, name), (postcode, []))[1].append((lon, lat))
    imported = set(Commune.objects.filter(derived=False).values_list("territory_id", "name"))
    drawn = 0
    with transaction.atomic():
        for (territory_id, name), (postcode, points) in grouped.items():
            if (territory_id, name) in imported or not name:
                continue
            Commune.objects.update_or_create(
                territory_id=territory_id, code=postcode or name[:20],
                defaults={"name": name, "boundary": outline(points), "derived": True})
            drawn += 1
    return drawn


@dataclass
class BoundaryImport:
    """What an import of boundaries kept and refused, feature by feature."""

    kept: int = 0
    refused: list[str] = field(default_factory=list)


def _valid_ring(ring: Any) -> bool:
    return (isinstance(ring, list) and len(ring) >= 4 and all(
        isinstance(p, list) and len(p) >= 2 and all(isinstance(c, int | float) for c in p[:2])
        and -180 <= p[0] <= 180 and -90 <= p[1] <= 90 for p in ring))


def _valid_geometry(geometry: Any) -> bool:
    if not isinstance(geometry, dict):
        return False
    coordinates = geometry.get("coordinates")
    if geometry.get("type") == "Polygon":
        return isinstance(coordinates, list) and bool(coordinates) and all(
            map(_valid_ring, coordinates))
    if geometry.get("type") == "MultiPolygon":
        return isinstance(coordinates, list) and bool(coordinates) and all(
            isinstance(polygon, list) and polygon and all(map(_valid_ring, polygon))
            for polygon in coordinates)
    return False


def import_geojson(path: Path, territory_id: int, code_field: str = "code",
                   name_field: str = "name") -> BoundaryImport:
    """Load commune boundaries from a GeoJSON FeatureCollection; a feature without a code, a
    name or a valid (Multi)Polygon is refused with its number and why, the others kept."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(_("Not a readable GeoJSON file: %(error)s") % {"error": error}) from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise ValueError(_("The file is not a GeoJSON FeatureCollection."))
    report = BoundaryImport()
    with transaction.atomic():
        for number, feature in enumerate(features, start=1):
            properties = (feature.get("properties") or {}) if isinstance(feature, dict) else {}
            code = str(properties.get(code_field) or "").strip()[:20]
            name = str(properties.get(name_field) or "").strip()[:100]
            if not code or not name:
                report.refused.append(_("feature %(n)d: no %(code)s or %(name)s property") % {
                    "n": number, "code": code_field, "name": name_field})
                continue
            if not _valid_geometry(feature.get("geometry")):
                report.refused.append(_("feature %(n)d (%(name)s): the geometry is not a valid "
                                        "Polygon or MultiPolygon in degrees") % {
                    "n": number, "name": name})
                continue
            Commune.objects.update_or_create(
                territory_id=territory_id, code=code,
                defaults={"name": name, "boundary": feature["geometry"], "derived": False})
            report.kept += 1
    return report
