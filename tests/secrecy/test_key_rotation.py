"""Rotating the master key re-wraps every data key, resumably; old keys are then not needed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from entraide.cases import demo
from entraide.cases.models import Note
from entraide.secrecy import crypto
from entraide.secrecy.models import HouseholdKey


class Killed(Exception):
    """Stands for the process being killed between two batches."""


@pytest.fixture
def own_keys(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    crypto.keyring.cache_clear()
    crypto.index_key.cache_clear()
    yield tmp_path / "keys"
    crypto.keyring.cache_clear()
    crypto.index_key.cache_clear()


def _decrypt_every_note() -> int:
    crypto._data_keys.clear()
    count = 0
    for note in Note.objects.select_related("case_file").iterator(chunk_size=2000):
        assert crypto.unseal(note.case_file.household_id, note.body_sealed, crypto.NOTE_BODY)
        count += 1
    return count


@pytest.mark.django_db
def test_interrupted_rotation_resumes_and_the_old_master_key_is_no_longer_needed(own_keys):
    demo.seed(households=1000, seed=5)
    notes = Note.objects.count()
    assert notes >= 10_000
    old_id = crypto.keyring().current_id
    new_id = crypto.new_master_key_file()

    def kill_halfway(done: int, total: int) -> None:
        if done >= total // 2:
            raise Killed

    with pytest.raises(Killed):
        crypto.rotate(batch_size=100, after_batch=kill_halfway)
    halfway = dict.fromkeys((old_id, new_id), 0)
    for key_id in HouseholdKey.objects.values_list("master_key_id", flat=True):
        halfway[key_id] += 1
    assert halfway[old_id] > 0 and halfway[new_id] > 0
    assert _decrypt_every_note() == notes  # the service reads throughout

    out = StringIO()
    call_command("keys", "rotate", "--retire", stdout=out, stderr=StringIO())
    assert "Resuming" in out.getvalue()
    assert set(HouseholdKey.objects.values_list("master_key_id", flat=True)) == {new_id}
    assert not (own_keys / f"master-{old_id}.key").exists()
    crypto.keyring.cache_clear()
    assert crypto.keyring().previous == ()
    assert _decrypt_every_note() == notes


@pytest.mark.django_db
def test_rotate_starts_with_a_new_master_key_when_none_is_pending(own_keys, world):
    from entraide.cases import services

    services.add_note(world.actor("worker"), world.file_a.pk, "interview", "Avant rotation")
    before = crypto.keyring().current_id
    out = StringIO()
    call_command("keys", "rotate", stdout=out, stderr=StringIO())
    after = crypto.keyring().current_id
    assert after != before and f"New master key {after}" in out.getvalue()
    notes, _ = services.notes_of(world.actor("worker"), world.file_a.pk, 10, 0)
    assert [n.body for n in notes] == ["Avant rotation"]


@pytest.mark.django_db
def test_a_missing_master_key_is_reported_plainly(own_keys, world):
    from entraide.cases import services

    services.add_note(world.actor("worker"), world.file_a.pk, "interview", "Texte")
    for path in own_keys.glob("master-*.key"):
        path.unlink()
    crypto.new_master_key_file()
    crypto._data_keys.clear()
    with pytest.raises(crypto.MissingKey, match="is not configured"):
        services.notes_of(world.actor("worker"), world.file_a.pk, 10, 0)
