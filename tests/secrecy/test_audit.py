"""Every read and write of personal data leaves exactly one audit record; the DPO reads them."""

from __future__ import annotations

import pytest
from django.test import Client

from entraide.cases import services as cases
from entraide.org.models import ApiToken
from entraide.secrecy.models import AuditRecord


def _records(**filters):
    return list(AuditRecord.objects.filter(**filters).order_by("id"))


@pytest.mark.django_db
def test_every_read_of_a_case_file_writes_exactly_one_audit_record(world):
    client = world.client("worker")
    before = AuditRecord.objects.count()
    assert client.get(f"/households/{world.household_a.pk}/",
                      REMOTE_ADDR="10.1.2.3").status_code == 200
    new = list(AuditRecord.objects.order_by("id")[before:])
    assert len(new) == 1
    record = new[0]
    assert (record.username, record.action, record.object_type, record.object_id,
            record.household_id, record.ip, record.channel) == (
        "worker", "read", "case_file", world.file_a.pk, world.household_a.pk, "10.1.2.3", "web")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["", "/timeline", "/notes", "/assessments", "/plan"])
def test_every_api_read_of_a_case_file_writes_exactly_one_audit_record(world, path):
    token = ApiToken.issue(world.users["lead"])
    client = Client(headers={"Authorization": f"Bearer {token}"})
    before = AuditRecord.objects.count()
    assert client.get(f"/api/v1/case-files/{world.file_a.pk}{path}").status_code == 200
    new = list(AuditRecord.objects.order_by("id")[before:])
    assert [(r.action, r.object_id, r.channel, r.username) for r in new] == [
        ("read", world.file_a.pk, "api", "lead")]


@pytest.mark.django_db
def test_writes_are_audited_with_the_object_written(world):
    note = cases.add_note(world.actor("worker"), world.file_a.pk, "interview", "Texte")
    assert _records(action="create", object_type="note")[0].object_id == note.pk


@pytest.mark.django_db
def test_refused_access_is_audited_too(world):
    response = world.client("worker.b").get(f"/households/{world.household_a.pk}/")
    assert response.status_code == 403
    refused = _records(action="denied")
    assert [(r.username, r.household_id) for r in refused] == [("worker.b", world.household_a.pk)]


@pytest.mark.django_db
def test_reason_given_by_the_agent_is_recorded(world):
    world.client("lead").get(f"/households/{world.household_a.pk}/?reason=Signalement+école")
    assert _records(action="read")[-1].reason == "Signalement école"


@pytest.mark.django_db
def test_dpo_queries_the_audit_by_agent_and_household_and_the_query_is_audited(world):
    world.client("worker").get(f"/households/{world.household_a.pk}/")
    world.client("lead").get(f"/households/{world.household_a.pk}/")
    response = world.client("dpo").get(
        "/audit/", {"username": "worker", "household_id": world.household_a.pk})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert {r.username for r in rows} == {"worker"}
    assert response.context["total"] == 1
    assert _records(action="audit_query")[-1].username == "dpo"


@pytest.mark.django_db
def test_dpo_sees_the_audit_but_not_the_notes(world):
    cases.add_note(world.actor("worker"), world.file_a.pk, "interview", "Violences conjugales")
    dpo = world.client("dpo")
    assert dpo.get(f"/households/{world.household_a.pk}/").status_code == 403
    assert "Violences" not in dpo.get("/audit/").content.decode()


@pytest.mark.django_db
def test_a_forged_or_invalid_client_address_does_not_reach_the_audit(world, settings):
    client = world.client("worker")
    client.get(f"/households/{world.household_a.pk}/", REMOTE_ADDR="10.0.0.7",
               HTTP_X_REAL_IP="not-an-ip")
    assert _records(action="read")[-1].ip == "10.0.0.7"
    settings.ENTRAIDE_TRUST_X_REAL_IP = True
    client.get(f"/households/{world.household_a.pk}/", REMOTE_ADDR="10.0.0.7",
               HTTP_X_REAL_IP="192.0.2.44")
    assert _records(action="read")[-1].ip == "192.0.2.44"


@pytest.mark.django_db
def test_a_refused_write_is_audited_although_its_transaction_rolls_back(world):
    from entraide.secrecy.policy import Denied

    with pytest.raises(Denied):
        cases.add_note(world.actor("worker.b"), world.file_a.pk, "interview", "Intrusion")
    refused = _records(action="denied")
    assert [(r.username, r.object_id) for r in refused] == [("worker.b", world.file_a.pk)]
    response = world.client("worker.b").post(f"/case-files/{world.file_a.pk}/notes/new/",
                                             {"kind": "interview", "body": "Intrusion"})
    assert response.status_code == 403
    assert len(_records(action="denied")) == 2


@pytest.mark.django_db
def test_a_refusal_inside_a_service_called_by_another_is_still_recorded(world) -> None:
    from entraide.secrecy import policy

    @policy.atomic
    def outer(actor, case_file_id):
        return inner(actor, case_file_id)

    @policy.atomic
    def inner(actor, case_file_id):
        return policy.guard_case_file(actor, case_file_id)

    with pytest.raises(policy.Denied):
        outer(world.actor("worker"), world.file_b.pk)
    assert AuditRecord.objects.filter(action="denied", object_id=world.file_b.pk).count() == 1
