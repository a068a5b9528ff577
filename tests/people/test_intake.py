"""Reception: search before create, duplicates found despite accents, typos and order."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entraide import french
from entraide.cases import services as cases
from entraide.cases.models import CaseFile, ReceptionEntry
from entraide.people import services
from entraide.people.models import Consent, Person

from ..factories import PersonFactory


@pytest.fixture
def zoe(world):
    return PersonFactory(household=world.household_a, first_name="Zoé", last_name="Lefèvre",
                         birth_date=dt.date(1952, 3, 4))


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["LEFEVRE Zoe", "Zoé Lefèvre", "zoe lefebvre", "Lefèvrre Zoé",
                                   "LEFEVRE ZOE", "Zoë Lefevre"])
def test_intake_finds_zoe_lefevre_however_she_is_typed(world, zoe, typed):
    found = services.find_candidates(world.actor("reception"), typed)
    assert found, typed
    assert found[0].person.pk in {zoe.pk, world.person_a.pk}
    assert zoe.pk in [c.person.pk for c in found]
    best = next(c for c in found if c.person.pk == zoe.pk)
    assert best.score >= 80 and best.identifiable


@pytest.mark.django_db
def test_birth_date_ranks_the_right_namesake_first(world, zoe):
    found = services.find_candidates(world.actor("reception"), "LEFEVRE Zoe",
                                     dt.date(1952, 3, 4))
    assert found[0].person.pk == zoe.pk
    other = next(c for c in found if c.person.pk == world.person_a.pk)
    assert other.score < found[0].score


@pytest.mark.django_db
def test_unrelated_names_are_not_candidates(world, zoe):
    assert services.find_candidates(world.actor("reception"), "Marcel Petitjean") == []


@pytest.mark.django_db
def test_a_duplicate_in_another_territory_is_shown_but_cannot_be_opened(world):
    found = services.find_candidates(world.actor("reception"), "DUBOIS Marcel")
    assert [c.person.pk for c in found] == [world.person_b.pk]
    assert found[0].identifiable is False


@pytest.mark.django_db
def test_intake_registers_household_person_and_opens_a_case_file(world):
    client = world.client("reception")
    response = client.post("/reception/", {
        "person-first_name": "Anaïs", "person-last_name": "Traoré",
        "person-birth_date": "1990-05-06", "person-sex": "F",
        "address-address": "3 rue Pasteur", "address-postcode": "47000",
        "address-commune": "Agen", "visit-reason": "Coupure d'électricité",
    })
    assert response.status_code == 302
    person = Person.objects.get(last_name="Traoré")
    case_file = CaseFile.objects.get(household=person.household)
    assert case_file.team.territory == world.territory_a
    assert ReceptionEntry.objects.filter(case_file=case_file, person=person).exists()
    assert services.find_candidates(world.actor("reception"), "TRAORE Anais")[0].person == person


@pytest.mark.django_db
def test_merging_two_persons_keeps_all_their_history(world, zoe):
    world.person_a.phone = ""
    world.person_a.save()
    zoe.phone = "0612345678"
    zoe.save()
    Consent.objects.create(person=zoe, purpose="sms", given=True,
                           recorded_by=world.users["reception"])
    cases.log_reception(world.actor("reception"), world.household_a.pk, zoe.pk, "Venue")
    kept = services.merge_persons(world.actor("worker"), world.person_a.pk, zoe.pk)
    zoe.refresh_from_db()
    assert zoe.merged_into == kept and zoe.household is None
    assert kept.phone == "0612345678"
    assert kept.consents.filter(purpose="sms").exists()
    assert [e.reason for e in ReceptionEntry.objects.filter(person=kept)] == ["Venue"]
    assert kept.memberships.count() == 2
    assert zoe.pk not in [c.person.pk for c in
                          services.find_candidates(world.actor("worker"), "Zoé Lefèvre")]


@pytest.mark.django_db
def test_merge_outside_need_to_know_is_refused(world):
    from entraide.secrecy.policy import Denied

    with pytest.raises(Denied):
        services.merge_persons(world.actor("worker"), world.person_a.pk, world.person_b.pk)
    assert Person.objects.get(pk=world.person_b.pk).merged_into is None


@given(st.text(max_size=40))
def test_folding_is_idempotent_and_accent_free(text):
    folded = french.fold(text)
    assert french.fold(folded) == folded
    assert not any(c in folded for c in "éèêàçôûïœ")


@given(st.sampled_from(["impayé", "loyer", "électricité", "journal", "bateau", "enfant"]))
def test_singular_and_plural_share_a_search_term(word):
    plural = {"journal": "journaux", "bateau": "bateaux"}.get(word, word + "s")
    assert french.terms(word) == french.terms(plural) == french.terms(french.fold(plural).upper())


@pytest.mark.django_db
def test_consents_are_recorded_and_never_overwritten(world):
    client = world.client("reception")
    url = f"/persons/{world.person_a.pk}/consents/new/"
    assert client.post(url, {"purpose": "sms", "given": "yes"}).status_code == 302
    assert client.post(url, {"purpose": "sms", "given": "no"}).status_code == 302
    answers = list(Consent.objects.filter(person=world.person_a).order_by("pk")
                   .values_list("given", flat=True))
    assert answers == [True, False]
    page = client.get(f"/persons/{world.person_a.pk}/edit/").content.decode()
    assert page.count("<tr><td>") >= 2


@pytest.mark.django_db
def test_korean_names_are_found_at_the_desk(world):
    person = PersonFactory(household=world.household_a, first_name="민수", last_name="김")
    found = services.find_candidates(world.actor("reception"), "김 민수")
    assert [c.person.pk for c in found][:1] == [person.pk]


@pytest.fixture
def minsu(world):
    return PersonFactory(household=world.household_a, first_name="민수", last_name="김",
                         birth_date=dt.date(1948, 6, 2))


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["김민수", "김 민수", "김민수씨", "김민수 님", "김민수씨가",
                                   "민수 김", "김민소", "김민수 어르신께서"])
def test_intake_finds_a_korean_name_with_particles_honorifics_spaces_or_one_typo(
        world, minsu, typed):
    found = services.find_candidates(world.actor("reception"), typed)
    assert minsu.pk in [c.person.pk for c in found], typed
    assert next(c for c in found if c.person.pk == minsu.pk).score >= 80


@pytest.mark.django_db
def test_another_korean_name_is_not_a_candidate(world, minsu):
    PersonFactory(household=world.household_a, first_name="영희", last_name="이")
    found = services.find_candidates(world.actor("reception"), "이영희가")
    assert [c.person.first_name for c in found] == ["영희"]
