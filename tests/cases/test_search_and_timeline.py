"""Search is French-aware and limited to need-to-know; the timeline merges everything."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from entraide.cases import services


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["impayés", "impaye", "IMPAYÉES électricité", "electricites"])
def test_search_ignores_accents_case_and_plurals(world, query):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "interview",
                             "Impayé d'électricité depuis mars.")
    found = services.search_notes(world.actor("worker"), query)
    assert [h.note.pk for h in found.hits] == [note.pk] and found.count == 1


@pytest.mark.django_db
def test_search_ranks_by_words_matched_then_recency(world):
    actor = world.actor("worker")
    both = services.add_note(actor, world.file_a.pk, "interview", "Loyer et électricité impayés")
    old = services.add_note(actor, world.file_a.pk, "interview", "Loyer réglé")
    new = services.add_note(actor, world.file_a.pk, "interview", "Loyer en retard")
    hits = services.search_notes(actor, "loyer électricité").hits
    assert [h.note.pk for h in hits] == [both.pk, new.pk, old.pk]
    assert [h.matches for h in hits] == [2, 1, 1]
    # When a page holds only notes with every word, the newest of those come first.
    newest_both = services.add_note(actor, world.file_a.pk, "email", "Électricité, loyers")
    page = services.search_notes(actor, "loyer électricité", limit=2)
    assert [h.note.pk for h in page.hits] == [newest_both.pk, both.pk]
    assert page.count == 4 and not page.count_is_lower_bound
    assert [h.note.pk for h in services.search_notes(actor, "loyer électricité", limit=2,
                                                     offset=2).hits] == [new.pk, old.pk]


@pytest.mark.django_db
def test_search_never_returns_notes_outside_need_to_know(world):
    services.add_note(world.actor("worker.b"), world.file_b.pk, "interview", "Surendettement")
    assert services.search_notes(world.actor("worker"), "surendettement").hits == []
    assert services.search_notes(world.actor("lead"), "surendettement").count == 0
    assert len(services.search_notes(world.actor("worker.b"), "surendettement").hits) == 1


@pytest.mark.django_db
def test_a_corrected_note_is_found_by_its_new_words_only(world):
    actor = world.actor("worker")
    note = services.add_note(actor, world.file_a.pk, "interview", "Rendez-vous pharmacie")
    services.correct_note(actor, note.pk, 1, "Rendez-vous dentiste")
    assert services.search_notes(actor, "pharmacie").count == 0
    assert len(services.search_notes(actor, "dentiste").hits) == 1


@pytest.mark.django_db
def test_search_page_finds_persons_and_notes(world):
    services.add_note(world.actor("worker"), world.file_a.pk, "home_visit", "Chauffage en panne")
    page = world.client("worker").get("/search/", {"q": "chauffage"}).content.decode()
    assert "Chauffage en panne" in page
    page = world.client("worker").get("/search/", {"q": "lefevre"}).content.decode()
    assert "LEFÈVRE" in page


@pytest.mark.django_db
@override_settings(ENTRAIDE_TIMELINE_PAGE_SIZE=3)
def test_timeline_merges_all_records_newest_first_and_pages(world):
    actor = world.actor("worker")
    services.add_note(actor, world.file_a.pk, "interview", "Premier entretien")
    services.assess(actor, world.file_a.pk, {"housing": (3, "Loyer"), "health": (1, "")})
    goal = services.add_goal(actor, world.file_a.pk, "housing", "Garder le logement")
    services.add_action(actor, goal.pk, "Dossier FSL", None, None)
    services.add_referral(actor, world.file_a.pk, "Point conseil budget", "Budget")
    first = services.timeline(actor, world.file_a.pk, 1)
    assert [i.kind for i in first.items] == ["referral", "action", "goal"] and first.has_next
    second = services.timeline(actor, world.file_a.pk, 2)
    assert [i.kind for i in second.items] == ["assessment", "note"] and not second.has_next
    times = [i.at for i in first.items + second.items]
    assert times == sorted(times, reverse=True)


@pytest.mark.django_db
def test_assessment_keeps_the_history_of_each_domain(world):
    actor = world.actor("worker")
    services.assess(actor, world.file_a.pk, {"housing": (4, "Expulsion"), "income": (3, "")})
    services.assess(actor, world.file_a.pk, {"housing": (2, "Relogée")})
    view = services.read_case_file(actor, world.file_a.pk)
    assert {d: lv.level for d, lv in view.levels.items()} == {"housing": 2, "income": 3}
    _, history = services.assessments_of(actor, world.file_a.pk)
    assert [[lv.level for lv in a.levels.all() if lv.domain == "housing"] for a in history] == \
        [[2], [4]]


@pytest.mark.django_db
def test_api_token_flow_pagination_and_schema(world):
    client = Client()
    refused = client.post("/api/v1/auth/token", {"username": "worker", "password": "wrong"},
                          content_type="application/json")
    assert refused.status_code == 401
    token = client.post("/api/v1/auth/token", {"username": "worker", "password": "entraide-demo"},
                        content_type="application/json").json()["token"]
    api = Client(headers={"Authorization": f"Bearer {token}"})
    for i in range(5):
        api.post(f"/api/v1/case-files/{world.file_a.pk}/notes",
                 {"kind": "email", "body": f"Courriel {i}"}, content_type="application/json")
    page = api.get(f"/api/v1/case-files/{world.file_a.pk}/notes?limit=2&offset=1").json()
    assert page["count"] == 5
    assert [n["body"] for n in page["items"]] == ["Courriel 3", "Courriel 2"]
    found = api.get("/api/v1/search?q=courriels&limit=3").json()
    assert found["count"] == 5 and len(found["items"]) == 3
    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/case-files/{case_file_id}/timeline" in schema["paths"]
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


@pytest.mark.django_db
def test_search_count_stops_at_the_cap_and_says_so(world, monkeypatch):
    monkeypatch.setattr(services, "SEARCH_COUNT_CAP", 3)
    for i in range(5):
        services.add_note(world.actor("worker"), world.file_a.pk, "interview", f"Facture {i}")
    found = services.search_notes(world.actor("worker"), "factures", limit=2)
    assert len(found.hits) == 2 and found.count == 3 and found.count_is_lower_bound


@pytest.mark.django_db
def test_korean_notes_and_names_are_searchable(world):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "home_visit",
                             "독거 어르신 가정방문: 난방비 체납")
    found = services.search_notes(world.actor("worker"), "난방비 체납")
    assert [h.note.pk for h in found.hits] == [note.pk] and found.hits[0].matches == 2
