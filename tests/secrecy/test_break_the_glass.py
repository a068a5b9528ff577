"""Break-the-glass: refused without a reason; with one, time-limited, audited and notified."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from entraide.secrecy.emergency import break_glass
from entraide.secrecy.models import AuditRecord, EmergencyAccess, Notice
from entraide.secrecy.policy import Denied

REASON = "Signalement des pompiers : personne âgée injoignable depuis deux jours"


@pytest.fixture
def emails(world):
    world.users["dpo"].email = "dpo@example.org"
    world.users["dpo"].save()
    world.users["worker"].email = "referent@example.org"
    world.users["worker"].save()


@pytest.mark.django_db
def test_an_agent_outside_need_to_know_is_offered_the_glass_not_the_file(world):
    page = world.client("worker.b").get(f"/households/{world.household_a.pk}/")
    assert page.status_code == 403
    assert f"/households/{world.household_a.pk}/emergency/" in page.content.decode()
    assert "Lefèvre" not in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", "urgent"])
def test_without_a_reason_emergency_access_is_refused(world, reason):
    client = world.client("worker.b")
    response = client.post(f"/households/{world.household_a.pk}/emergency/", {"reason": reason})
    assert response.status_code == 400 and 'role="alert"' in response.content.decode()
    assert not EmergencyAccess.objects.exists()
    assert client.get(f"/households/{world.household_a.pk}/").status_code == 403
    with pytest.raises(ValueError):
        break_glass(world.actor("worker.b"), world.file_a.pk, reason)


@pytest.mark.django_db
def test_with_a_reason_access_is_granted_for_the_configured_time_audited_and_notified(
        world, emails, settings):
    settings.ENTRAIDE_BREAK_GLASS_MINUTES = 30
    client = world.client("worker.b")
    before = timezone.now()
    response = client.post(f"/households/{world.household_a.pk}/emergency/", {"reason": REASON})
    assert response.status_code == 302
    access = EmergencyAccess.objects.get()
    assert (access.user, access.case_file) == (world.users["worker.b"], world.file_a)
    assert dt.timedelta(minutes=29) < access.expires_at - before <= dt.timedelta(minutes=31)

    page = client.get(f"/households/{world.household_a.pk}/")
    assert page.status_code == 200 and "Lefèvre".upper() in page.content.decode()

    grant = AuditRecord.objects.get(action="break_glass")
    assert (grant.username, grant.object_id, grant.reason_text) == (
        "worker.b", world.file_a.pk, REASON)
    read = AuditRecord.objects.filter(action="read", username="worker.b").get()
    assert "break-the-glass" in read.detail and read.reason_text == REASON
    # The reason tells of the household's situation: sealed in the access and the audit.
    assert "pompiers" not in grant.reason + read.reason + access.reason_sealed

    told = {n.recipient.username for n in Notice.objects.all()}
    assert told == {"dpo", "worker"}
    assert all("pompiers" not in n.body for n in Notice.objects.all())
    assert sorted(mail.outbox[0].to) == ["dpo@example.org", "referent@example.org"]
    assert REASON not in mail.outbox[0].body and "Entraide" in mail.outbox[0].body
    assert REASON in world.client("dpo").get("/notices/").content.decode()


@pytest.mark.django_db
def test_emergency_access_ends_when_its_time_is_up(world):
    access = break_glass(world.actor("worker.b"), world.file_a.pk, REASON)
    client = world.client("worker.b")
    assert client.get(f"/households/{world.household_a.pk}/").status_code == 200
    EmergencyAccess.objects.filter(pk=access.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(f"/households/{world.household_a.pk}/").status_code == 403


@pytest.mark.django_db
def test_roles_without_files_cannot_break_the_glass(world):
    for role in ("reception", "manager", "dpo", "operator"):
        with pytest.raises(Denied):
            break_glass(world.actor(role), world.file_a.pk, REASON)
