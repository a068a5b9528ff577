"""Notes are encrypted at rest and found through a blind index: no word of them is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entraide import french
from entraide.cases import services
from entraide.cases.models import Note, NoteTerm

from .rawscan import entraide, pg_dump, postgres_answers, postgres_database, sqlite_bytes

SENTENCE = "Zéphyrine grommelait contre les ascenseurs défectueux du quartier Quetzal"
WORDS = [w for w in SENTENCE.split() if len(w) > 3]
# Runs in a separate process against a real database file or server, as the service would.
SCRIPT = f"""
import json
from entraide.cases.services import add_note, search_notes
from entraide.secrecy.policy import Actor
from tests.factories import CaseFileFactory, PersonFactory, TeamFactory, UserFactory

team = TeamFactory()
worker = UserFactory(role="social_worker", team=team)
case_file = CaseFileFactory(team=team, referent=worker)
PersonFactory(household=case_file.household)
actor = Actor(user=worker)
add_note(actor, case_file.pk, "interview", {SENTENCE!r})
found = {{q: [h.note.body for h in search_notes(actor, q).hits]
          for q in ("zephyrine", "ASCENSEUR", "défectueuse", "Défectueux quartiers")}}
print(json.dumps(found))
"""


def _run_service(data_dir: Path, database_url: str | None = None) -> dict[str, list[str]]:
    entraide(data_dir, database_url, "migrate", "-v", "0")
    return json.loads(entraide(data_dir, database_url, "shell", "-c", SCRIPT)
                      .strip().splitlines()[-1])


def _assert_no_word_of_the_note(raw: bytes) -> None:
    haystack = raw.lower()
    for word in WORDS:
        for form in {word.lower(), french.fold(word), french.stem(french.fold(word))}:
            assert form.encode() not in haystack, f"{form!r} is stored in clear"


def _assert_found_by_each_form(found: dict[str, list[str]]) -> None:
    for query, bodies in found.items():
        assert bodies == [SENTENCE], query


def test_a_note_leaves_no_word_in_the_sqlite_file_and_is_found_by_its_words(tmp_path):
    _assert_found_by_each_form(_run_service(tmp_path))
    raw = sqlite_bytes(tmp_path)
    assert len(raw) > 100_000
    _assert_no_word_of_the_note(raw)


@pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer")
def test_a_note_leaves_no_word_in_a_postgresql_dump_and_is_found_by_its_words(tmp_path):
    with postgres_database() as url:
        found = _run_service(tmp_path, url)
        dump = pg_dump(url)
    _assert_found_by_each_form(found)
    assert b"COPY public.cases_note" in dump
    _assert_no_word_of_the_note(dump)


@pytest.mark.django_db
def test_the_database_holds_ciphertext_and_blind_terms_only(world):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "interview", SENTENCE)
    stored = Note.objects.get(pk=note.pk)
    assert stored.body_sealed.startswith("v1$") and "Zéphyrine" not in stored.body_sealed
    terms = set(NoteTerm.objects.filter(note=note).values_list("term", flat=True))
    assert len(terms) == len(french.terms(SENTENCE))
    assert all(len(t) == 32 and t not in SENTENCE.lower() for t in terms)


@pytest.mark.django_db
def test_a_ciphertext_moved_to_another_household_does_not_decrypt(world):
    from cryptography.exceptions import InvalidTag

    note = services.add_note(world.actor("worker"), world.file_a.pk, "interview", "Secret")
    other = services.add_note(world.actor("worker.b"), world.file_b.pk, "interview", "Autre")
    Note.objects.filter(pk=other.pk).update(body_sealed=Note.objects.get(pk=note.pk).body_sealed)
    with pytest.raises(InvalidTag):
        services.notes_of(world.actor("worker.b"), world.file_b.pk, 10, 0)


@pytest.mark.django_db
def test_identity_numbers_are_stored_sealed_and_shown_to_agents_in_need_to_know(world):
    from entraide.people.models import Person

    client = world.client("reception")
    response = client.post("/reception/", {
        "person-first_name": "Inès", "person-last_name": "Mabille",
        "person-identity_number": "2 85 07 47 001 123 45", "person-sex": "F",
        "address-address": "4 rue Neuve", "address-postcode": "47000",
        "address-commune": "Agen", "visit-reason": "Ouverture de droits",
    })
    assert response.status_code == 302
    person = Person.objects.get(last_name="Mabille")
    assert person.identity_number_sealed.startswith("v1$")
    assert "001 123" not in person.identity_number_sealed
    page = client.get(f"/persons/{person.pk}/edit/").content.decode()
    assert 'value="2 85 07 47 001 123 45"' in page
    stale = client.post(f"/persons/{person.pk}/edit/", {
        "version": 0, "first_name": "Inès", "last_name": "Mabille", "sex": "F",
        "identity_number": "2 85 07 47 001 999 99"})
    assert stale.status_code == 409 and "v1$" not in stale.content.decode()
