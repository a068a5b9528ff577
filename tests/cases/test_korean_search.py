"""Korean notes are found whatever particles and endings their words carry."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entraide import french, korean
from entraide.cases import services
from entraide.secrecy.rights import system_actor

NOTE = "월세 체납이 석 달째 이어지고, 관리비도 연체된 상태이다. 주민센터에서 상담함."


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["체납", "체납이", "연체", "연체된 관리비", "관리비를",
                                   "주민센터"])
def test_a_korean_note_is_found_by_its_words_without_their_particles(world, query):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "interview", NOTE)
    found = services.search_notes(world.actor("worker"), query)
    assert [hit.note.pk for hit in found.hits] == [note.pk], query


@pytest.mark.django_db
def test_french_and_korean_in_one_note_are_both_searchable(world):
    note = services.add_note(world.actor("worker"), world.file_a.pk, "interview",
                             "Impayés d'électricité ; 전기 요금 체납으로 단전 예정")
    for query in ("impaye", "électricité", "단전", "요금이"):
        assert [h.note.pk for h in services.search_notes(world.actor("worker"), query).hits] \
            == [note.pk], query


@given(st.text(alphabet=st.characters(codec="latin-1", categories=("L", "N", "P", "Zs")),
               max_size=80))
def test_text_without_hangul_gets_exactly_the_french_terms(text):
    assert not korean.has_hangul(text)
    expected = {french.stem(w) for w in french.words(text)
                if w not in french.STOPWORDS and len(w) > 1}
    assert french.terms(text) == expected


def test_the_analyser_loads_from_its_package_without_the_network():
    # A fresh process with every hub told to stay offline and no proxy to reach one.
    script = "from entraide import korean; print(sorted(korean.terms('체납이 있습니다')))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": ""}
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "['있', '체납']"


def _index_as_before(note) -> None:
    """The terms the index held before Korean words were analysed: whole folded words."""
    from entraide.cases.models import NoteTerm
    from entraide.secrecy import crypto

    NoteTerm.objects.filter(note=note).delete()
    NoteTerm.objects.bulk_create(
        NoteTerm(term=crypto.blind(w), note=note, case_file_id=note.case_file_id)
        for w in set(french.words(NOTE)))


@pytest.mark.django_db
def test_reindex_makes_old_korean_notes_findable_resumes_and_is_audited(world, tmp_path,
                                                                          settings):
    from django.core.management import call_command

    from entraide.cases.models import NoteTerm
    from entraide.secrecy.models import AuditRecord

    settings.DATA_DIR = tmp_path
    actor = world.actor("worker")
    notes = [services.add_note(actor, world.file_a.pk, "interview", NOTE) for _ in range(5)]
    for note in notes:
        _index_as_before(note)
    assert not services.search_notes(actor, "체납").hits

    def stop_after_first_batch(done: services.Reindexed) -> None:
        (tmp_path / "search-reindex.progress").write_text(str(done.last_note_id))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        services.reindex_notes(system_actor(), 0, 2, stop_after_first_batch)
    found = {h.note.pk for h in services.search_notes(actor, "체납").hits}
    assert found == {notes[0].pk, notes[1].pk}  # the first batch was committed

    call_command("search", "reindex", "--batch", "2")
    assert {h.note.pk for h in services.search_notes(actor, "체납").hits} == \
        {n.pk for n in notes}
    terms_once = sorted(NoteTerm.objects.values_list("note_id", "term"))
    call_command("search", "reindex", "--restart")
    assert sorted(NoteTerm.objects.values_list("note_id", "term")) == terms_once
    runs = AuditRecord.objects.filter(object_type="note_index").order_by("pk")
    assert [r.detail for r in runs] == [
        f"re-indexed 3 notes after note {notes[1].pk} (3 with Korean words)",
        "re-indexed 5 notes after note 0 (5 with Korean words)"]


@pytest.mark.django_db
def test_only_the_system_account_reindexes(world):
    from entraide.secrecy.policy import Denied

    with pytest.raises(Denied):
        services.reindex_notes(world.actor("dpo"))
