"""A sensitive note is read by its author and the referent only; others see that it exists."""

from __future__ import annotations

import pytest

from entraide.cases import services
from entraide.secrecy.policy import Denied

TEXT = "Violences conjugales évoquées, enfants témoins"


@pytest.fixture
def sensitive(world):
    # Written by the lead, in a file whose referent is `worker`.
    return services.add_note(world.actor("lead"), world.file_a.pk, "interview", TEXT,
                             sensitive=True)


@pytest.mark.django_db
@pytest.mark.parametrize("reader", ["lead", "worker"])
def test_author_and_referent_read_a_sensitive_note(world, sensitive, reader):
    notes, _ = services.notes_of(world.actor(reader), world.file_a.pk, 10, 0)
    assert [n.body for n in notes] == [TEXT]
    assert [h.note.pk for h in services.search_notes(world.actor(reader), "violences").hits] \
        == [sensitive.pk]


@pytest.mark.django_db
def test_a_team_colleague_sees_that_a_sensitive_note_exists_but_not_its_text(world, sensitive):
    colleague = world.users["worker.a2"]
    colleague.team = world.team_a1
    colleague.save()
    notes, _ = services.notes_of(world.actor("worker.a2"), world.file_a.pk, 10, 0)
    assert [(n.pk, n.hidden) for n in notes] == [(sensitive.pk, True)]
    assert services.search_notes(world.actor("worker.a2"), "violences").hits == []
    page = world.client("worker.a2").get(f"/households/{world.household_a.pk}/").content.decode()
    assert "Violences" not in page and "sensitive-hidden" in page
    with pytest.raises(Denied):
        services.correct_note(world.actor("worker.a2"), sensitive.pk, 1, "Autre texte")
