"""Notes are encrypted at rest and found through a blind index: no word of them is stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from entraide import french
from entraide.cases import services
from entraide.cases.models import Note, NoteTerm

SENTENCE = "Zéphyrine grommelait contre les ascenseurs défectueux du quartier Quetzal"
WORDS = [w for w in SENTENCE.split() if len(w) > 3]
PG_URL = os.environ.get("ENTRAIDE_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")

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


def _run_service(env: dict[str, str], data_dir: Path) -> dict[str, list[str]]:
    env = {**os.environ, **env, "ENTRAIDE_DATA_DIR": str(data_dir),
           "DJANGO_SETTINGS_MODULE": "entraide.settings"}
    root = Path(__file__).resolve().parents[2]
    entraide = [sys.executable, "-m", "entraide.cli"]
    subprocess.run([*entraide, "migrate", "-v", "0"], env=env, check=True, cwd=root)
    out = subprocess.run([*entraide, "shell", "-c", SCRIPT], env=env, check=True, cwd=root,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _assert_no_word_of_the_note(raw: bytes) -> None:
    haystack = raw.lower()
    for word in WORDS:
        for form in {word.lower(), french.fold(word), french.stem(french.fold(word))}:
            assert form.encode() not in haystack, f"{form!r} is stored in clear"


def _assert_found_by_each_form(found: dict[str, list[str]]) -> None:
    for query, bodies in found.items():
        assert bodies == [SENTENCE], query


def test_a_note_leaves_no_word_in_the_sqlite_file_and_is_found_by_its_words(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    os.environ.pop("DATABASE_URL", None)
    try:
        found = _run_service({}, tmp_path)
    finally:
        os.environ.update(env)
    _assert_found_by_each_form(found)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("entraide.sqlite3*"))
    assert len(raw) > 100_000
    _assert_no_word_of_the_note(raw)


def _postgres_answers() -> bool:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@pytest.mark.skipif(not _postgres_answers(), reason="PostgreSQL does not answer")
def test_a_note_leaves_no_word_in_a_postgresql_dump_and_is_found_by_its_words(tmp_path):
    name = f"entraide_scan_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        found = _run_service({"DATABASE_URL": url}, tmp_path)
        dump = subprocess.run(["pg_dump", "--data-only", url], check=True,
                              capture_output=True).stdout
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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
