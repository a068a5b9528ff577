"""The case-file API under input a fuzzer sends: null refused where a record needs the field
and accepted where it clears one, every id in a body checked (a 422 naming the field, the
same whether the id names nothing or something out of reach), never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from entraide.cases import services
from entraide.cases.models import Action, CaseFile, Goal
from entraide.org.models import Role

from ..api import assert_documented, client_of, send
from ..factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def goal(world: Any) -> Goal:
    return services.add_goal(world.actor("worker"), world.file_a.pk, "housing",
                             "Garder le logement")


@pytest.fixture
def action(world: Any, goal: Goal) -> Action:
    return services.add_action(world.actor("worker"), goal.pk, "Dossier FSL",
                               world.users["worker"].pk, None)


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_a_goal_patch_with_a_null_domain_is_refused_naming_the_field(world: Any,
                                                                    goal: Goal) -> None:
    response = send(client_of(world.users["worker"]), "PATCH", f"/api/v1/goals/{goal.pk}",
                    {"version": goal.version, "domain": None, "title": "Autre titre"})
    assert response.status_code == 422 and _fields(response) == ["domain"]
    assert_documented("PATCH", "/api/v1/goals/{goal_id}", response)
    stored = Goal.objects.get(pk=goal.pk)
    assert (stored.domain, stored.title, stored.version) == ("housing", goal.title, 1)


def test_an_action_patch_with_a_null_status_is_refused_naming_the_field(
        world: Any, action: Action) -> None:
    response = send(client_of(world.users["worker"]), "PATCH", f"/api/v1/actions/{action.pk}",
                    {"version": action.version, "status": None})
    assert response.status_code == 422 and _fields(response) == ["status"]
    assert_documented("PATCH", "/api/v1/actions/{action_id}", response)
    assert Action.objects.get(pk=action.pk).status == action.status


def test_a_null_owner_or_due_date_clears_it_and_the_title_stays(world: Any,
                                                               action: Action) -> None:
    response = send(client_of(world.users["worker"]), "PATCH", f"/api/v1/actions/{action.pk}",
                    {"version": action.version, "owner_id": None, "due_date": None})
    assert response.status_code == 200, response.content
    assert_documented("PATCH", "/api/v1/actions/{action_id}", response)
    stored = Action.objects.get(pk=action.pk)
    assert (stored.owner_id, stored.due_date, stored.title) == (None, None, "Dossier FSL")


def test_a_null_referent_clears_it_and_a_null_status_is_refused(world: Any) -> None:
    client, url = client_of(world.users["worker"]), f"/api/v1/case-files/{world.file_a.pk}"
    refused = send(client, "PATCH", url, {"version": 1, "status": None})
    assert refused.status_code == 422 and _fields(refused) == ["status"]
    cleared = send(client, "PATCH", url, {"version": 1, "referent_id": None})
    assert cleared.status_code == 200, cleared.content
    assert CaseFile.objects.get(pk=world.file_a.pk).referent_id is None


def _owners_out_of_reach(world: Any) -> dict[str, int]:
    """Ids that name no agent who may follow a file of territory A, each another way."""
    inactive = UserFactory(role=Role.SOCIAL_WORKER, team=world.team_a2, is_active=False)
    return {"nobody": 999_999, "beyond the database": 2**70,
            "another territory's worker": world.users["worker.b"].pk,
            "an operator": world.users["operator"].pk, "an inactive agent": inactive.pk}


def test_an_action_owner_who_may_not_follow_the_file_is_refused_alike_whoever_it_is(
        world: Any, goal: Goal) -> None:
    client = client_of(world.users["worker"])
    answers = {}
    for what, owner_id in _owners_out_of_reach(world).items():
        response = send(client, "POST", f"/api/v1/goals/{goal.pk}/actions",
                        {"title": "Rendez-vous CPAM", "owner_id": owner_id})
        assert response.status_code == 422, (what, response.content)
        assert_documented("POST", "/api/v1/goals/{goal_id}/actions", response)
        answers[what] = response.json()["detail"].replace(str(owner_id), "N")
    assert len(set(answers.values())) == 1, answers  # nothing tells what exists
    assert _fields(response) == ["owner_id"]
    assert not Action.objects.exists()


def test_an_action_owner_of_the_territory_is_accepted(world: Any, goal: Goal) -> None:
    response = send(client_of(world.users["worker"]), "POST", f"/api/v1/goals/{goal.pk}/actions",
                    {"title": "Rendez-vous CPAM", "owner_id": world.users["worker.a2"].pk})
    assert response.status_code == 201, response.content
    assert Action.objects.get().owner_id == world.users["worker.a2"].pk


def test_changing_an_action_owner_to_one_out_of_reach_is_refused(world: Any,
                                                                action: Action) -> None:
    response = send(client_of(world.users["worker"]), "PATCH", f"/api/v1/actions/{action.pk}",
                    {"version": action.version, "owner_id": world.users["worker.b"].pk})
    assert response.status_code == 422 and _fields(response) == ["owner_id"]
    assert Action.objects.get(pk=action.pk).owner_id == world.users["worker"].pk


def test_a_referent_out_of_reach_is_refused_naming_the_field(world: Any) -> None:
    client, url = client_of(world.users["worker"]), f"/api/v1/case-files/{world.file_a.pk}"
    for owner_id in _owners_out_of_reach(world).values():
        response = send(client, "PATCH", url, {"version": 1, "referent_id": owner_id})
        assert response.status_code == 422 and _fields(response) == ["referent_id"]
    assert CaseFile.objects.get(pk=world.file_a.pk).referent_id == world.users["worker"].pk


def test_an_assessment_posted_through_the_api_answers_201_with_its_comments(world: Any) -> None:
    response = send(client_of(world.users["worker"]), "POST",
                    f"/api/v1/case-files/{world.file_a.pk}/assessments",
                    {"levels": [{"domain": "income", "level": 3, "comment": "RSA suspendu"}]})
    assert response.status_code == 201, response.content
    assert_documented("POST", "/api/v1/case-files/{case_file_id}/assessments", response)
    assert response.json()["levels"] == [
        {"domain": "income", "level": 3, "comment": "RSA suspendu"}]


def test_a_search_offset_beyond_any_page_is_refused(world: Any) -> None:
    response = client_of(world.users["worker"]).get("/api/v1/search",
                                                    {"q": "loyer", "offset": 2**64})
    assert response.status_code == 422 and _fields(response) == ["offset"]
