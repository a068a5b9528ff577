"""The demo département: `entraide seed` builds a coherent, reproducible organisation."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import F

from entraide import french
from entraide.cases import demo
from entraide.cases.models import CaseFile, EventKind, Note, NoteTerm, TimelineEvent
from entraide.org.models import Role, Team, Territory, User
from entraide.people.models import Person
from entraide.secrecy import crypto

EXPECTED_ROLES = {
    "reception": Role.RECEPTION,
    "worker": Role.SOCIAL_WORKER,
    "worker.b": Role.SOCIAL_WORKER,
    "lead": Role.TEAM_LEAD,
    "manager": Role.MANAGER,
    "operator": Role.OPERATOR,
    "dpo": Role.DPO,
    "admin": Role.ADMINISTRATOR,
}


def seed(households: int = 60, seed: int = 7) -> str:
    out = StringIO()
    call_command("seed", households=households, seed=seed, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_seed_creates_the_demo_logins_with_their_roles_and_password() -> None:
    output = seed()

    users = {u.username: u for u in User.objects.filter(username__in=EXPECTED_ROLES)}
    assert {name: u.role for name, u in users.items()} == EXPECTED_ROLES
    assert users["admin"].is_staff and users["admin"].is_superuser
    codes: dict[int | None, str] = dict(Territory.objects.values_list("pk", "code"))
    teams: dict[int | None, str] = dict(Team.objects.values_list("pk", "territory__code"))
    assert codes[users["reception"].territory_id] == "A"
    assert teams[users["worker"].team_id] == "A"
    assert teams[users["worker.b"].team_id] == "B"
    assert teams[users["lead"].team_id] == "A" and codes[users["lead"].territory_id] == "A"
    assert users["manager"].territory_id is None
    assert all(u.check_password(demo.DEMO_PASSWORD) for u in users.values())
    assert all(u.first_name and u.last_name for u in users.values())
    assert demo.DEMO_PASSWORD in output and "worker.b" in output


@pytest.mark.django_db
def test_seed_puts_every_case_file_in_a_team_of_its_household_territory() -> None:
    seed()

    assert sorted(Territory.objects.values_list("code", flat=True)) == ["A", "B", "C"]
    assert CaseFile.objects.count() == 60
    assert not CaseFile.objects.exclude(team__territory_id=F("household__territory_id")).exists()
    assert not CaseFile.objects.exclude(referent__team_id=F("team_id")).exists()
    assert not CaseFile.objects.exclude(referent__role=Role.SOCIAL_WORKER).exists()
    opened = TimelineEvent.objects.filter(kind=EventKind.STATUS, summary="opened")
    assert opened.count() == 60


@pytest.mark.django_db
def test_seed_indexes_every_current_note_for_search() -> None:
    seed()

    notes = list(Note.objects.filter(is_current=True))
    assert notes
    for note in notes[:50]:
        indexed = set(NoteTerm.objects.filter(note=note).values_list("term", flat=True))
        text = crypto.unseal(note.case_file.household_id, note.body_sealed, crypto.NOTE_BODY)
        assert indexed == {crypto.blind(t) for t in french.terms(text)}
    assert not NoteTerm.objects.filter(note__is_current=False).exists()
    events = set(TimelineEvent.objects.filter(kind=EventKind.NOTE).values_list("object_id",
                                                                                flat=True))
    assert events == set(Note.objects.filter(first__isnull=True).values_list("pk", flat=True))


@pytest.mark.django_db
def test_seed_numbers_notes_in_time_order() -> None:
    seed()

    times = list(Note.objects.order_by("pk").values_list("created_at", flat=True))
    assert times == sorted(times)


@pytest.mark.django_db
def test_seed_twice_says_already_seeded_and_adds_nothing() -> None:
    seed()
    persons = Person.objects.count()

    output = seed()

    assert "already seeded" in output
    assert Person.objects.count() == persons


def _names_after_seeding() -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    rollback = transaction.savepoint()
    seed()
    persons = list(Person.objects.order_by("pk").values_list("first_name", "last_name"))
    agents = list(User.objects.order_by("pk").values_list("username", "first_name", "last_name"))
    transaction.savepoint_rollback(rollback)
    return persons, agents


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_people() -> None:
    first = _names_after_seeding()
    assert not User.objects.exists()

    second = _names_after_seeding()

    assert first == second
    assert len(first[0]) >= 60


LANDINGS = {
    "reception": ("/reception/", "people/reception.html"),
    "worker": ("/caseload/", "cases/caseload.html"),
    "worker.b": ("/caseload/", "cases/caseload.html"),
    "lead": ("/caseload/", "cases/caseload.html"),
    "manager": ("/overview/", "cases/overview.html"),
    "operator": ("/telecare/", "telecare/console.html"),
    "dpo": ("/audit/", "secrecy/audit.html"),
    "admin": ("/admin/", "admin/index.html"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("username", sorted(LANDINGS))
def test_each_demo_login_works_and_lands_on_a_page_for_its_role(client, username) -> None:
    seed(households=30)
    response = client.post("/login/", {"username": username, "password": demo.DEMO_PASSWORD},
                           follow=True)
    landing, template = LANDINGS[username]
    assert response.redirect_chain[-1][0] == landing
    assert response.status_code == 200
    assert template in [t.name for t in response.templates]
