"""The layers' building blocks: suppression of small counts, grid cells on both sides of 0°."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from entraide.territory import crisis, layers
from entraide.territory.layers import MapFilters
from entraide.territory.models import CrisisLevel

from ..factories import CaseFileFactory, HouseholdFactory

counts = st.dictionaries(st.sampled_from("1234"), st.integers(0, 50), min_size=4)


@given(counts)
def test_no_small_count_is_shown_nor_can_be_found_back_from_the_total(
        levels: dict[str, int]) -> None:
    assume(sum(levels.values()) >= layers.SMALL_COUNT)  # smaller cells are not shown at all
    shown = layers.suppress(levels)
    assert all(v is None or v == 0 or v >= layers.SMALL_COUNT for v in shown.values())
    hidden = [k for k, v in shown.items() if v is None]
    assert len(hidden) != 1, "one hidden count alone is the total minus the others"
    assert all(shown[k] == levels[k] for k in levels if shown[k] is not None)


@pytest.mark.django_db
def test_clusters_across_the_greenwich_meridian_keep_every_household(world: Any) -> None:
    # Households 50 m either side of 0°: truncating instead of flooring would merge cells.
    for longitude in (-0.0005, 0.0005, -0.0006, 0.0006):
        household = HouseholdFactory(territory=world.territory_a, latitude=44.5,
                                     longitude=longitude)
        CaseFileFactory(household=household, team=world.team_a1)
    crisis.refresh()
    levels = CrisisLevel.objects.filter(longitude__range=(-0.01, 0.01))
    cells = layers._clusters(levels, zoom=18)
    assert sum(c["properties"]["count"] for c in cells) == 4
    assert len(cells) == 2


@pytest.mark.django_db
def test_a_bbox_or_level_that_makes_no_sense_is_refused_with_a_reason() -> None:
    from django.http import QueryDict

    with pytest.raises(ValueError, match="bbox"):
        MapFilters.parse(QueryDict("bbox=1,2,3"))
    with pytest.raises(ValueError, match="bbox"):
        MapFilters.parse(QueryDict("bbox=10,50,5,40"))
    with pytest.raises(ValueError, match="1 to 4"):
        MapFilters.parse(QueryDict("level=5"))
    parsed = MapFilters.parse(QueryDict("level=4&level=1,2&bbox=0,44,1,45&zoom=99&alert=1"))
    assert parsed.levels == (1, 2, 4) and parsed.zoom == 20 and parsed.open_alert
