"""Several agents on one file: a stale save is refused with what changed, nothing is lost."""

from __future__ import annotations

import pytest

from entraide.cases import services
from entraide.cases.models import Action, Note
from entraide.concurrency import StaleEdit
from entraide.people import services as people
from entraide.people.models import Person


@pytest.fixture
def action(world):
    goal = services.add_goal(world.actor("worker"), world.file_a.pk, "housing", "Logement")
    return services.add_action(world.actor("worker"), goal.pk, "Dossier FSL", None, None)


@pytest.mark.django_db
def test_stale_save_is_refused_and_nothing_is_lost(world, action):
    worker, lead = world.client("worker"), world.client("lead")
    url = f"/actions/{action.pk}/edit/"
    opened_version = action.version
    first = worker.post(url, {"title": "Dossier FSL déposé", "status": "done",
                              "version": opened_version})
    assert first.status_code == 302
    second = lead.post(url, {"title": "Dossier FSL à relancer", "status": "doing",
                             "version": opened_version})
    assert second.status_code == 409
    page = second.content.decode()
    # The page names what was saved meanwhile, and keeps what the lead typed.
    assert "Dossier FSL déposé" in page
    assert 'value="Dossier FSL à relancer"' in page
    stored = Action.objects.get(pk=action.pk)
    assert (stored.title, stored.status, stored.version) == ("Dossier FSL déposé", "done", 2)
    # Saving again from the refreshed form (now at the current version) goes through.
    third = lead.post(url, {"title": "Dossier FSL à relancer", "status": "doing", "version": 2})
    assert third.status_code == 302
    assert Action.objects.get(pk=action.pk).title == "Dossier FSL à relancer"


@pytest.mark.django_db
def test_stale_service_update_reports_each_differing_field(world, action):
    services.update_action(world.actor("worker"), action.pk, 1, {"status": "done"})
    with pytest.raises(StaleEdit) as refused:
        services.update_action(world.actor("lead"), action.pk, 1,
                               {"status": "cancelled", "title": "Dossier FSL"})
    assert [c.field for c in refused.value.changes] == ["status"]
    assert refused.value.changes[0].stored == "done"
    assert refused.value.current.version == 2


@pytest.mark.django_db
def test_stale_api_patch_answers_409_with_the_differences(world):
    from django.test import Client

    from entraide.org.models import ApiToken

    token = ApiToken.issue(world.users["worker"])
    client = Client(headers={"Authorization": f"Bearer {token}"})
    url = f"/api/v1/persons/{world.person_a.pk}"
    ok = client.patch(url, {"version": 1, "phone": "0611111111"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.patch(url, {"version": 1, "phone": "0622222222"},
                         content_type="application/json")
    assert stale.status_code == 409
    body = stale.json()
    assert body["current_version"] == 2
    assert body["changes"] == [{"field": "phone", "stored": "0611111111",
                                "submitted": "0622222222"}]
    assert Person.objects.get(pk=world.person_a.pk).phone == "0611111111"


@pytest.mark.django_db
def test_concurrent_note_corrections_keep_every_version(world):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "interview", "Texte initial")
    services.correct_note(world.actor("worker"), note.pk, 1, "Texte corrigé par Camille")
    with pytest.raises(StaleEdit):
        services.correct_note(world.actor("lead"), note.pk, 1, "Texte corrigé par la cheffe")
    versions = services.note_history(world.actor("lead"), note.pk)
    assert [v.body for v in versions] == ["Texte corrigé par Camille", "Texte initial"]
    assert Note.objects.filter(case_file=world.file_a, is_current=True).count() == 1


@pytest.mark.django_db
def test_correction_keeps_the_old_version_and_the_timeline_shows_the_new(world):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "letter", "Courrier CAF")
    services.correct_note(world.actor("worker"), note.pk, 1, "Courrier CAF du 3 mars")
    page = services.timeline(world.actor("worker"), world.file_a.pk)
    bodies = [i.obj.body for i in page.items if i.kind == "note"]
    assert bodies == ["Courrier CAF du 3 mars"]
    history = services.note_history(world.actor("worker"), note.pk)
    assert [(v.body, v.is_current) for v in history] == [("Courrier CAF du 3 mars", True),
                                                         ("Courrier CAF", False)]


@pytest.mark.django_db
def test_person_update_refreshes_duplicate_keys(world):
    people.update_person(world.actor("worker"), world.person_a.pk, 1,
                         {"last_name": "Bernard-Lefèvre"})
    found = people.find_candidates(world.actor("worker"), "Zoé BERNARD")
    assert [c.person.pk for c in found][:1] == [world.person_a.pk]


@pytest.mark.django_db
def test_stale_address_change_is_refused_and_shows_both_addresses(world):
    url = f"/households/{world.household_a.pk}/edit/"
    form = {"version": 1, "address": "5 rue des Lilas", "postcode": "47000", "commune": "Agen"}
    assert world.client("worker").post(url, form).status_code == 302
    stale = world.client("reception").post(url, {**form, "address": "7 impasse du Moulin"})
    assert stale.status_code == 409
    page = stale.content.decode()
    assert "5 rue des Lilas" in page and 'value="7 impasse du Moulin"' in page
    world.household_a.refresh_from_db()
    assert world.household_a.address == "5 rue des Lilas"
