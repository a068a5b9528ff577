"""The persons and households API under input a fuzzer sends: a partial update tells a field
left out from a field sent as null, and bad input is a 422 naming the field, never a 500."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from entraide.people.models import Household, Person

from ..api import assert_documented, client_of, send

pytestmark = pytest.mark.django_db
PERSON = "/api/v1/persons/{person_id}"


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_a_null_first_name_is_refused_naming_the_field_and_nothing_changes(world: Any) -> None:
    person = world.person_a
    response = send(client_of(world.users["worker"]), "PATCH", f"/api/v1/persons/{person.pk}",
                    {"version": person.version, "first_name": None, "phone": "0600000000"})
    assert response.status_code == 422
    assert _fields(response) == ["first_name"]
    assert_documented("PATCH", PERSON, response)
    stored = Person.objects.get(pk=person.pk)
    assert (stored.first_name, stored.phone, stored.version) == ("Zoé", person.phone, 1)


@pytest.mark.parametrize("field", ["last_name", "phone", "email"])
def test_no_field_a_person_cannot_be_without_takes_null(world: Any, field: str) -> None:
    response = send(client_of(world.users["worker"]), "PATCH",
                    f"/api/v1/persons/{world.person_a.pk}", {"version": 1, field: None})
    assert response.status_code == 422 and _fields(response) == [field]


def test_a_null_birth_date_clears_it_and_fields_left_out_stay_as_they_are(world: Any) -> None:
    person = world.person_a
    response = send(client_of(world.users["worker"]), "PATCH", f"/api/v1/persons/{person.pk}",
                    {"version": 1, "birth_date": None})
    assert response.status_code == 200, response.content
    assert_documented("PATCH", PERSON, response)
    stored = Person.objects.get(pk=person.pk)
    assert stored.birth_date is None
    assert (stored.first_name, stored.last_name, stored.version) == ("Zoé", "Lefèvre", 2)


def test_a_stale_person_patch_answers_the_documented_409(world: Any) -> None:
    response = send(client_of(world.users["worker"]), "PATCH",
                    f"/api/v1/persons/{world.person_a.pk}", {"version": 7, "phone": "0611"})
    assert response.status_code == 409
    assert_documented("PATCH", PERSON, response)


def test_a_null_address_is_refused_and_a_null_position_clears_it(world: Any) -> None:
    household = world.household_a
    client, url = client_of(world.users["worker"]), f"/api/v1/households/{household.pk}"
    refused = send(client, "PATCH", url, {"version": 1, "commune": None})
    assert refused.status_code == 422 and _fields(refused) == ["commune"]
    cleared = send(client, "PATCH", url, {"version": 1, "latitude": None, "longitude": None})
    assert cleared.status_code == 200, cleared.content
    stored = Household.objects.get(pk=household.pk)
    assert (stored.latitude, stored.longitude, stored.commune) == (None, None, "Villeneuve")


@pytest.mark.parametrize(("body", "field"), [
    ({"version": 1, "first_name": "Zo\x00é"}, "first_name"),
    ({"version": 1, "email": "zoe\ud800@example.org"}, "email"),
])
def test_text_that_no_database_can_store_is_refused_naming_the_field(
        world: Any, body: dict[str, Any], field: str) -> None:
    response = send(client_of(world.users["worker"]), "PATCH",
                    f"/api/v1/persons/{world.person_a.pk}", body)
    assert response.status_code == 422 and _fields(response) == [field]
    assert Person.objects.get(pk=world.person_a.pk).version == 1


def test_a_nul_character_in_a_new_household_is_refused_naming_where_it_is(world: Any) -> None:
    before = Household.objects.count()
    response = send(client_of(world.users["reception"]), "POST", "/api/v1/households", {
        "person": {"first_name": "Léa", "last_name": "Pe\x00tit"}, "reason": "RSA",
        "address": {"address": "1 rue Haute", "postcode": "47000", "commune": "Agen"}})
    assert response.status_code == 422 and _fields(response) == ["person.last_name"]
    assert Household.objects.count() == before


def test_a_search_with_a_nul_character_is_refused_naming_the_parameter(world: Any) -> None:
    response = client_of(world.users["worker"]).get("/api/v1/persons", {"q": "Zo\x00é"})
    assert response.status_code == 422 and _fields(response) == ["q"]


def test_an_offset_beyond_any_page_is_refused_not_a_server_error(world: Any) -> None:
    client = client_of(world.users["worker"])
    response = client.get("/api/v1/households", {"offset": 2**63})
    assert response.status_code == 422 and _fields(response) == ["offset"]
    assert_documented("GET", "/api/v1/households", response)
    assert client.get("/api/v1/households", {"offset": 5000}).json()["items"] == []


def test_an_id_too_large_for_the_database_is_a_404(world: Any) -> None:
    response = client_of(world.users["worker"]).get(f"/api/v1/persons/{2**70}")
    assert response.status_code == 404
    assert_documented("GET", PERSON, response)


def test_a_body_that_is_not_json_is_a_400_in_words(world: Any) -> None:
    response = client_of(world.users["worker"]).generic(
        "PATCH", f"/api/v1/persons/{world.person_a.pk}", data="{version: 1",
        content_type="application/json")
    assert response.status_code == 400
    assert_documented("PATCH", PERSON, response)


def test_a_birth_date_out_of_range_is_refused(world: Any) -> None:
    response = send(client_of(world.users["worker"]), "PATCH",
                    f"/api/v1/persons/{world.person_a.pk}",
                    {"version": 1, "birth_date": "10000-01-01"})
    assert response.status_code == 422 and _fields(response) == ["birth_date"]
    assert Person.objects.get(pk=world.person_a.pk).birth_date == dt.date(1980, 1, 1)
