"""Commune boundaries: imported when a file is given, drawn around addresses otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from entraide.territory import communes
from entraide.territory.models import Commune

from ..factories import HouseholdFactory

coordinates = st.tuples(st.floats(-1, 1), st.floats(43, 45))


@given(st.lists(coordinates, min_size=1, max_size=60))
# Found by hypothesis: an address near a long edge fell outside corners pushed out radially.
@example([(0.0, 45.0), (0.0, 43.75), (2.220446049250313e-16, 44.0), (-1.0, 43.0), (-0.5, 43.0)])
def test_the_drawn_outline_contains_every_address(points: list[tuple[float, float]]) -> None:
    ring = communes.outline(points)["coordinates"][0]
    assert ring[0] == ring[-1]
    hull = communes.convex_hull(points)
    if len(hull) < 3:
        return
    polygon = [(x, y) for x, y in ring[:-1]]
    for x, y in points:  # each point inside or on the polygon (counter-clockwise ring)
        assert all((bx - ax) * (y - ay) - (by - ay) * (x - ax) >= -1e-6
                   for (ax, ay), (bx, by) in zip(polygon, polygon[1:] + polygon[:1],
                                                 strict=True))


@pytest.mark.django_db
def test_communes_without_boundary_are_drawn_around_their_households(world: Any) -> None:
    for lat, lon in ((44.60, 0.50), (44.61, 0.52), (44.62, 0.49)):
        HouseholdFactory(territory=world.territory_a, commune="Puyfarel", postcode="47134",
                         latitude=lat, longitude=lon)
    assert communes.derive() >= 1
    drawn = Commune.objects.get(name="Puyfarel")
    assert drawn.derived and drawn.boundary["type"] == "Polygon"


@pytest.mark.django_db
def test_an_import_keeps_valid_features_and_says_why_others_are_refused(
        world: Any, tmp_path: Path) -> None:
    square = [[[0.1, 44.1], [0.2, 44.1], [0.2, 44.2], [0.1, 44.2], [0.1, 44.1]]]
    path = tmp_path / "communes.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "47001", "name": "Agen"},
         "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "properties": {"code": "47002"},
         "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "properties": {"code": "47003", "name": "Nulle-Part"},
         "geometry": {"type": "Polygon", "coordinates": [[[500, 44], [0, 1]]]}},
    ]}))
    report = communes.import_geojson(path, world.territory_a.pk)
    assert report.kept == 1 and len(report.refused) == 2
    assert "feature 2" in report.refused[0] and "Nulle-Part" in report.refused[1]
    assert not Commune.objects.get(code="47001").derived


@pytest.mark.django_db
def test_a_file_that_is_not_geojson_is_refused_whole(world: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.geojson"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="Not a readable GeoJSON file"):
        communes.import_geojson(path, world.territory_a.pk)
