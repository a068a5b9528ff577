"""Bad input gets a clear 4xx with a message, never a 500, and nothing half-written."""

from __future__ import annotations

import pytest
from django.test import Client

from entraide.cases.models import Note
from entraide.org.models import ApiToken
from entraide.people.models import Household

SCRIPT = '<script>alert("x")</script>'


@pytest.fixture
def api(world):
    token = ApiToken.issue(world.users["worker"])
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.mark.django_db
def test_script_tags_in_notes_are_stored_as_typed_and_shown_escaped(world):
    client = world.client("worker")
    response = client.post(f"/case-files/{world.file_a.pk}/notes/new/",
                           {"kind": "interview", "body": f"Avant {SCRIPT} après"})
    assert response.status_code == 302
    page = client.get(f"/households/{world.household_a.pk}/").content.decode()
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


@pytest.mark.django_db
def test_over_long_note_is_refused_with_a_message(world):
    response = world.client("worker").post(f"/case-files/{world.file_a.pk}/notes/new/",
                                           {"kind": "interview", "body": "x" * 20001})
    assert response.status_code == 400
    assert "20000" in response.content.decode().replace("\u202f", "").replace(" ", "")
    assert not Note.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("birth_date", ["2999-01-01", "1850-01-01", "31/02/2001", "demain"])
def test_intake_with_a_wrong_birth_date_is_refused_and_nothing_created(world, birth_date):
    before = Household.objects.count()
    response = world.client("reception").post("/reception/", {
        "person-first_name": "Léa", "person-last_name": "Petit",
        "person-birth_date": birth_date, "address-address": "1 rue Haute",
        "address-postcode": "47000", "address-commune": "Agen", "visit-reason": "RSA",
    })
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert Household.objects.count() == before


@pytest.mark.django_db
def test_unknown_ids_give_404_pages_not_errors(world):
    client = world.client("worker")
    for url in ["/households/999999/", "/case-files/999999/plan/", "/notes/999999/correct/",
                "/actions/999999/edit/", "/persons/999999/edit/"]:
        assert client.get(url).status_code == 404, url
    assert client.post("/persons/merge/", {"keep": 999998, "duplicate": 999999}).status_code == 404


@pytest.mark.django_db
def test_garbage_query_parameters_are_ignored_or_refused(world):
    client = world.client("worker")
    assert client.get(f"/case-files/{world.file_a.pk}/timeline/?page=abc").status_code == 200
    assert client.get("/caseload/?offset=-5").status_code == 200
    assert client.get("/search/?q=" + "a" * 500).status_code == 400
    assert world.client("dpo").get("/audit/?household_id=x&since=hier").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [
    {"kind": "interview", "body": "x" * 20001},
    {"kind": "poem", "body": "Texte"},
    {"kind": "interview"},
    {"kind": "interview", "body": ""},
])
def test_api_rejects_invalid_notes_with_a_message(api, world, payload):
    response = api.post(f"/api/v1/case-files/{world.file_a.pk}/notes", payload,
                        content_type="application/json")
    assert response.status_code == 422
    assert response.json()["detail"]
    assert not Note.objects.exists()


@pytest.mark.django_db
def test_api_rejects_malformed_json_and_wrong_dates(api, world):
    bad_json = api.post(f"/api/v1/case-files/{world.file_a.pk}/notes", "{not json",
                        content_type="application/json")
    assert 400 <= bad_json.status_code < 500
    wrong_date = api.post(f"/api/v1/households/{world.household_a.pk}/members", {
        "person": {"first_name": "A", "last_name": "B", "birth_date": "2001-13-45"}},
        content_type="application/json")
    assert wrong_date.status_code == 422
    assert "birth_date" in wrong_date.content.decode()


@pytest.mark.django_db
def test_api_unknown_ids_answer_404_with_a_message(api):
    for url in ["/api/v1/case-files/999999", "/api/v1/persons/999999",
                "/api/v1/notes/999999/versions", "/api/v1/households/999999"]:
        response = api.get(url)
        assert response.status_code == 404 and response.json()["detail"], url


@pytest.mark.django_db
def test_api_assessment_with_unknown_domain_or_level_is_refused(api, world):
    for levels in ([{"domain": "astrology", "level": 2}], [{"domain": "housing", "level": 9}], []):
        response = api.post(f"/api/v1/case-files/{world.file_a.pk}/assessments",
                            {"levels": levels}, content_type="application/json")
        assert response.status_code == 422, levels


@pytest.mark.django_db
def test_over_long_names_are_refused_at_the_desk_and_in_the_api(world, api):
    before = Household.objects.count()
    page = world.client("reception").post("/reception/", {
        "person-first_name": "A" * 101, "person-last_name": "Petit",
        "address-address": "1 rue Haute", "address-postcode": "47000",
        "address-commune": "Agen", "visit-reason": "RSA",
    })
    assert page.status_code == 400 and 'role="alert"' in page.content.decode()
    response = api.post("/api/v1/households", {
        "person": {"first_name": "B" * 101, "last_name": "Petit"}, "reason": "RSA",
        "address": {"address": "1 rue Haute", "postcode": "47000", "commune": "Agen"}},
        content_type="application/json")
    assert response.status_code == 422 and "first_name" in response.content.decode()
    assert Household.objects.count() == before
