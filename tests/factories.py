"""factory_boy factories for the organisation, people and case files."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from entraide.cases.models import CaseFile
from entraide.org.models import Organisation, Role, Team, Territory, User
from entraide.people.models import Household, Membership, Person, Relationship
from entraide.people.services import index_person

PASSWORD = "entraide-demo"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = "Département test"


class TerritoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Territory

    organisation = factory.SubFactory(OrganisationFactory)
    code = factory.Sequence(lambda n: f"T{n}")
    name = factory.LazyAttribute(lambda t: f"Territoire {t.code}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    territory = factory.SubFactory(TerritoryFactory)
    name = factory.Sequence(lambda n: f"Équipe {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"agent{n}")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Agent{n}")
    role = Role.SOCIAL_WORKER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    territory = factory.SubFactory(TerritoryFactory)
    address = factory.Sequence(lambda n: f"{n} rue Victor Hugo")
    postcode = "47000"
    commune = "Villeneuve"
    latitude = 44.2
    longitude = 0.6


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person
        skip_postgeneration_save = True

    first_name = "Zoé"
    last_name = factory.Sequence(lambda n: f"Martin{n}")
    birth_date = dt.date(1980, 1, 1)
    household = factory.SubFactory(HouseholdFactory)

    @factory.post_generation
    def _index(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            Membership.objects.create(household=obj.household, person=obj,
                                      relationship=Relationship.HEAD)
            index_person(obj)


class CaseFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseFile

    household = factory.SubFactory(HouseholdFactory)
    team = factory.SubFactory(TeamFactory)
    opened_at = factory.LazyFunction(timezone.now)
