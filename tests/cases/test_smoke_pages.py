"""Every page a worker uses renders for the file they follow."""

from __future__ import annotations

import pytest

from entraide.cases import services


@pytest.mark.django_db
def test_worker_pages_render(world):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "interview", "Loyer impayé")
    goal = services.add_goal(world.actor("worker"), world.file_a.pk, "housing", "Maintien")
    action = services.add_action(world.actor("worker"), goal.pk, "Dossier FSL", None, None)
    client = world.client("worker")
    for url in [
        "/caseload/", f"/households/{world.household_a.pk}/",
        f"/case-files/{world.file_a.pk}/timeline/?page=1",
        f"/case-files/{world.file_a.pk}/notes/new/", f"/notes/{note.pk}/correct/",
        f"/case-files/{world.file_a.pk}/assessment/", f"/case-files/{world.file_a.pk}/plan/",
        f"/case-files/{world.file_a.pk}/edit/", f"/actions/{action.pk}/edit/",
        "/search/?q=loyers", "/reception/?q=LEFEVRE+Zoe",
        f"/persons/{world.person_a.pk}/edit/", f"/households/{world.household_a.pk}/members/new/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
