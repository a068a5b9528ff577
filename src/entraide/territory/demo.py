"""Demo data of the welfare map: offices for the teams, commune outlines, services, levels."""

from __future__ import annotations

import datetime as dt

from django.db.models import Avg

from entraide.org.models import Team
from entraide.people.models import Household

from .models import Office


def seed_offices() -> int:
    """Give each team without an office one near the centre of its territory's households."""
    created = 0
    for index, team in enumerate(Team.objects.filter(office__isnull=True)
                                 .select_related("territory").order_by("pk")):
        centre = Household.objects.filter(territory_id=team.territory_id,
                                          latitude__isnull=False).aggregate(
            lat=Avg("latitude"), lon=Avg("longitude"))
        if centre["lat"] is None:
            continue
        Office.objects.create(
            team=team, name=f"{team.territory.name} — {team.name}",
            address=f"{2 + index} place de la Mairie",
            latitude=centre["lat"] + 0.004 * (index % 3), longitude=centre["lon"],
            opens=dt.time(8, 30), closes=dt.time(17, 30))
        created += 1
    return created
