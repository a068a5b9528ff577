"""Shared fixtures: a small département with two territories and one agent per role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from entraide.cases.models import CaseFile
from entraide.org.models import Role, Team, Territory, User
from entraide.people.models import Household, Person
from entraide.secrecy.policy import Actor

from .factories import (
    CaseFileFactory,
    HouseholdFactory,
    OrganisationFactory,
    PersonFactory,
    TeamFactory,
    TerritoryFactory,
    UserFactory,
)


@dataclass
class World:
    """Territory A (teams A1, A2) and B (team B1), one agent per role, one file in A and B."""

    territory_a: Territory
    territory_b: Territory
    team_a1: Team
    team_a2: Team
    team_b1: Team
    users: dict[str, User]
    household_a: Household
    household_b: Household
    person_a: Person
    person_b: Person
    file_a: CaseFile
    file_b: CaseFile

    def actor(self, name: str) -> Actor:
        return Actor(user=self.users[name], ip="127.0.0.1")

    def client(self, name: str) -> Client:
        client = Client()
        client.force_login(self.users[name])
        return client


@pytest.fixture
def world(db: None) -> World:
    org = OrganisationFactory()
    ta = TerritoryFactory(organisation=org, code="A", name="Territoire Nord")
    tb = TerritoryFactory(organisation=org, code="B", name="Territoire Sud")
    a1, a2, b1 = TeamFactory(territory=ta), TeamFactory(territory=ta), TeamFactory(territory=tb)
    users = {
        "reception": UserFactory(username="reception", role=Role.RECEPTION, territory=ta),
        "worker": UserFactory(username="worker", role=Role.SOCIAL_WORKER, team=a1),
        "worker.a2": UserFactory(username="worker.a2", role=Role.SOCIAL_WORKER, team=a2),
        "worker.b": UserFactory(username="worker.b", role=Role.SOCIAL_WORKER, team=b1),
        "lead": UserFactory(username="lead", role=Role.TEAM_LEAD, team=a1),
        "manager": UserFactory(username="manager", role=Role.MANAGER),
        "operator": UserFactory(username="operator", role=Role.OPERATOR),
        "dpo": UserFactory(username="dpo", role=Role.DPO),
        "admin": UserFactory(username="admin", role=Role.ADMINISTRATOR, is_staff=True,
                             is_superuser=True),
    }
    ha, hb = HouseholdFactory(territory=ta), HouseholdFactory(territory=tb)
    pa = PersonFactory(household=ha, first_name="Zoé", last_name="Lefèvre")
    pb = PersonFactory(household=hb, first_name="Marcel", last_name="Dubois")
    fa = CaseFileFactory(household=ha, team=a1, referent=users["worker"])
    fb = CaseFileFactory(household=hb, team=b1, referent=users["worker.b"])
    return World(ta, tb, a1, a2, b1, users, ha, hb, pa, pb, fa, fb)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Hashing nine agents' passwords per test with PBKDF2 would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def forget_cached_data_keys():
    """Each test rolls its database back: data keys cached by an earlier test are stale."""
    from entraide.secrecy import crypto

    crypto._data_keys.clear()
    yield
    crypto._data_keys.clear()
