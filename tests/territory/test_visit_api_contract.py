"""POST /api/v1/visits/plans answers what its schema documents: one 422 shape for input it
refuses and for visits that cannot fit, and times of day as the plan shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from entraide.people.models import Household
from entraide.territory.models import DayPlan, Office

from ..api import assert_documented, client_of, send
from ..factories import CaseFileFactory

pytestmark = pytest.mark.django_db
PLANS = "/api/v1/visits/plans"
TOMORROW = (timezone.localdate() + dt.timedelta(days=1)).isoformat()


@pytest.fixture
def homes(world: Any) -> list[Household]:
    """The worker's office, a household next to it and one 30 km away, both followed."""
    Office.objects.create(team=world.team_a1, name="Antenne", address="1 place de la Mairie",
                          latitude=44.20, longitude=0.60)
    found = []
    for address, north_km in (("1 rue Proche", 1), ("2 rue Lointaine", 30)):
        household = Household.objects.create(
            territory=world.territory_a, address=address, postcode="47000",
            commune="Villeneuve", latitude=44.20 + north_km / 111.2, longitude=0.60)
        CaseFileFactory(household=household, team=world.team_a1, referent=world.users["worker"])
        found.append(household)
    return found


def test_a_refused_plan_answers_the_documented_422_naming_the_field(world: Any) -> None:
    response = send(client_of(world.users["worker"]), "POST", PLANS,
                    {"day": TOMORROW, "visits": []})
    assert response.status_code == 422
    assert_documented("POST", PLANS, response)
    assert [e["field"] for e in response.json()["errors"]] == ["visits"]


def test_visits_that_cannot_fit_answer_the_same_documented_422_with_left_out(
        world: Any, homes: list[Household]) -> None:
    near, far = homes
    response = send(client_of(world.users["worker"]), "POST", PLANS, {"day": TOMORROW, "visits": [
        {"household_id": near.pk},
        {"household_id": far.pk, "not_before": "08:30", "not_after": "09:15",
         "duration_minutes": 30}]})
    assert response.status_code == 422
    assert_documented("POST", PLANS, response)
    assert [o["household_id"] for o in response.json()["left_out"]] == [far.pk]
    assert not DayPlan.objects.exists()


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
def test_a_time_of_day_with_an_offset_is_refused_naming_the_field(
        world: Any, homes: list[Household], field: str) -> None:
    response = send(client_of(world.users["worker"]), "POST", PLANS, {
        "day": TOMORROW, field: "10:00:00+02:00", "visits": [{"household_id": homes[0].pk}]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_planned_day_answers_its_times_as_documented(world: Any,
                                                       homes: list[Household]) -> None:
    client = client_of(world.users["worker"])
    planned = send(client, "POST", PLANS, {"day": TOMORROW, "starts_at": "09:00",
                                           "visits": [{"household_id": homes[0].pk}]})
    assert planned.status_code == 201, planned.content
    assert_documented("POST", PLANS, planned)
    read = client.get(f"{PLANS}/{planned.json()['id']}")
    assert_documented("GET", "/api/v1/visits/plans/{plan_id}", read)
    assert read.json()["starts_at"] == "09:00:00"
