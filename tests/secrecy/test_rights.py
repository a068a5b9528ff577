"""Rights of the person: the DPO exports everything held; retention and erasure anonymise."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from entraide.cases import services as cases
from entraide.cases.models import (
    CaseFile,
    CaseStatus,
    DomainLevel,
    Goal,
    Note,
    NoteTerm,
    ReceptionEntry,
    Referral,
)
from entraide.org.models import ApiToken, User
from entraide.people.models import Household, Membership, NameKey, Person
from entraide.secrecy import crypto, rights
from entraide.secrecy.crypto import NOTE_BODY
from entraide.secrecy.models import AuditRecord, HouseholdKey
from entraide.secrecy.policy import Denied

from ..factories import CaseFileFactory, HouseholdFactory, PersonFactory

NOTE = "Madame Lefèvre craint l'expulsion, loyer impayé depuis mars"
SENSITIVE = "Violences conjugales évoquées, orientation vers le CIDFF"
OTHER_ROLES = ("reception", "worker", "lead", "manager", "operator", "admin")


def _api(world: Any, role: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {ApiToken.issue(world.users[role])}"})


@pytest.fixture
def history(world):
    """File A with a corrected and a sensitive note, an assessment, a plan, a referral, a visit."""
    worker = world.actor("worker")
    note = cases.add_note(worker, world.file_a.pk, "interview", "Premier entretien, loyer")
    cases.correct_note(worker, note.pk, 1, NOTE)
    cases.add_note(worker, world.file_a.pk, "home_visit", SENSITIVE, sensitive=True)
    cases.assess(worker, world.file_a.pk, {"housing": (4, "Procédure d'expulsion engagée")})
    goal = cases.add_goal(worker, world.file_a.pk, "housing", "Garder le logement")
    cases.add_action(worker, goal.pk, "Dossier FSL", None, dt.date(2030, 1, 15))
    cases.add_referral(worker, world.file_a.pk, "ADIL", "Conseil juridique sur le bail")
    cases.log_reception(world.actor("reception"), world.household_a.pk, world.person_a.pk,
                        "Vient déposer l'avis d'échéance")
    return note


# --- export ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_export_holds_every_note_version_in_clear_assessments_plan_and_who_read_the_file(
        world, history):
    read = world.client("lead").get(f"/households/{world.household_a.pk}/",
                                    REMOTE_ADDR="10.9.8.7")
    assert read.status_code == 200

    data = rights.export_person(world.actor("dpo"), world.person_a.pk)

    assert data["person"]["last_name"] == "Lefèvre"
    [household] = data["households"]
    assert household["id"] == world.household_a.pk and household["memberships"][0]["is_the_person"]
    [case_file] = data["case_files"]
    assert case_file["id"] == world.file_a.pk
    bodies = [n["body"] for n in case_file["notes"]]
    assert {"Premier entretien, loyer", NOTE, SENSITIVE} == set(bodies)
    assert [n["is_current"] for n in case_file["notes"] if n["thread_id"] == history.pk] == [
        False, True]
    [level] = case_file["assessments"][0]["levels"]
    assert (level["domain"], level["level"], level["comment"]) == (
        "housing", 4, "Procédure d'expulsion engagée")
    [goal] = case_file["goals"]
    assert goal["title"] == "Garder le logement"
    assert goal["actions"][0]["title"] == "Dossier FSL"
    assert goal["actions"][0]["due_date"] == "2030-01-15"
    assert case_file["referrals"][0]["reason"] == "Conseil juridique sur le bail"
    assert [r["reason"] for r in data["receptions"]] == ["Vient déposer l'avis d'échéance"]
    assert ("lead", "team_lead", "read", "case_file", world.file_a.pk, "10.9.8.7") in {
        (r["agent"], r["role"], r["action"], r["object_type"], r["object_id"], r["ip"])
        for r in data["access_log"]}
    dt.datetime.fromisoformat(data["access_log"][0]["at"])
    assert "Dubois" not in json.dumps(data, ensure_ascii=False)  # nothing of household B

    export = AuditRecord.objects.order_by("-id").first()
    assert (export.username, export.action, export.object_type, export.object_id,
            export.household_id) == ("dpo", "export", "person", world.person_a.pk,
                                     world.household_a.pk)


@pytest.mark.django_db
def test_dpo_finds_the_person_by_name_and_reads_the_export_in_french_or_downloads_json(
        world, history):
    client = world.client("dpo")
    assert client.get("/dpo/persons/").status_code == 200
    found = client.get("/dpo/persons/", {"q": "lefevre zoe"}).content.decode()
    assert f"/dpo/persons/{world.person_a.pk}/export/" in found and "Dubois" not in found

    page = client.get(f"/dpo/persons/{world.person_a.pk}/export/").content.decode()
    assert NOTE.replace("'", "&#x27;") in page
    assert "Qui a accédé au dossier, et quand" in page
    assert f"/dpo/persons/{world.person_a.pk}/export.json" in page

    download = client.get(f"/dpo/persons/{world.person_a.pk}/export.json")
    assert download["Content-Disposition"].startswith("attachment")
    assert NOTE in {n["body"] for n in download.json()["case_files"][0]["notes"]}
    api = _api(world, "dpo").get(f"/api/v1/persons/{world.person_a.pk}/export")
    assert api.status_code == 200 and api.json()["person"]["id"] == world.person_a.pk


@pytest.mark.django_db
@pytest.mark.parametrize("role", OTHER_ROLES)
def test_only_the_dpo_can_export_and_each_refusal_is_audited(world, history, role):
    url = f"/dpo/persons/{world.person_a.pk}/export"
    assert world.client(role).get(url + "/").status_code == 403
    assert world.client(role).get(url + ".json").status_code == 403
    assert _api(world, role).get(f"/api/v1/persons/{world.person_a.pk}/export").status_code \
        == 403
    with pytest.raises(Denied):
        rights.export_person(world.actor(role), world.person_a.pk)
    assert AuditRecord.objects.filter(username=role, action="denied",
                                      object_type="person_export").count() == 4
    assert not AuditRecord.objects.filter(action="export").exists()


@pytest.mark.django_db
def test_export_command_writes_json_or_html_and_the_audit_names_the_system_account(
        world, history, tmp_path):
    call_command("person", "export", str(world.person_a.pk), "--output",
                 str(tmp_path / "p.json"), stderr=io.StringIO())
    data = json.loads((tmp_path / "p.json").read_text())
    assert NOTE in {n["body"] for n in data["case_files"][0]["notes"]}
    assert (tmp_path / "p.json").stat().st_mode & 0o077 == 0

    out = io.StringIO()
    call_command("person", "export", str(world.person_a.pk), "--format", "html", stdout=out)
    assert out.getvalue().startswith("<!doctype html>") and "Garder le logement" in out.getvalue()

    system = User.objects.get(username=rights.SYSTEM_USERNAME)
    assert system.role == "dpo" and not system.is_active and not system.has_usable_password()
    assert list(AuditRecord.objects.filter(action="export").values_list("username", "channel")) \
        == [("system-dpo", "cli")] * 2


# --- retention -------------------------------------------------------------------------------

def _closed_file(world: Any, years_ago: float, household: Household | None = None) -> CaseFile:
    household = household or HouseholdFactory(territory=world.territory_a, address="3 rue Haute",
                                              commune="Agen")
    if not household.members.exists():
        PersonFactory(household=household, first_name="Odette", last_name="Garnier",
                      birth_date=dt.date(1950, 6, 14), phone="0553000000")
    closed = timezone.now() - dt.timedelta(days=365.25 * years_ago)
    case_file = CaseFileFactory(household=household, team=world.team_a1,
                                referent=world.users["worker"], opened_at=closed,
                                status=CaseStatus.CLOSED, closed_at=closed)
    cases.add_note(world.actor("worker"), case_file.pk, "interview", f"Suivi clos {case_file.pk}")
    cases.assess(world.actor("worker"), case_file.pk, {"income": (2, "Petite retraite")})
    return case_file


@pytest.fixture
def archive(world, settings):
    """Files closed 7 and 6 years ago (due), 2 years ago (recent), and 8 years ago in a
    household whose other file is still open (kept), beside the world's open files."""
    settings.ENTRAIDE_RETENTION = {"closed_case_file_years": 5}
    cases.add_note(world.actor("worker"), world.file_a.pk, "interview", NOTE)
    due = [_closed_file(world, 7), _closed_file(world, 6)]
    recent = _closed_file(world, 2)
    kept = _closed_file(world, 8, household=world.household_a)
    return {"due": due, "recent": recent, "kept": kept}


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    models = (Person, Household, Membership, NameKey, CaseFile, Note, NoteTerm, DomainLevel,
              Goal, Referral, ReceptionEntry, HouseholdKey, AuditRecord, User)
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def _readable(case_file: CaseFile) -> bool:
    crypto._data_keys.clear()
    note = Note.objects.filter(case_file=case_file).first()
    try:
        crypto.unseal(case_file.household_id, note.body_sealed, NOTE_BODY)
    except crypto.MissingKey:
        return False
    return True


def _retention(*args: str) -> str:
    out = io.StringIO()
    call_command("retention", "apply", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_dry_run_lists_exactly_the_files_closed_more_than_n_years_ago_and_changes_nothing(
        world, archive):
    before = _snapshot()
    report = _retention("--dry-run")
    assert _snapshot() == before

    lines = [line for line in report.splitlines() if line.startswith("case file ")]
    listed = {int(line.split()[2]): line for line in lines}
    assert set(listed) == {f.pk for f in archive["due"]} | {archive["kept"].pk}
    assert "kept: household has case file" in listed[archive["kept"].pk]
    assert all("anonymise" in listed[f.pk] for f in archive["due"])
    assert "Total: 2 case files to anonymise (2 households), 1 kept" in report


@pytest.mark.django_db
def test_retention_anonymises_exactly_the_listed_households_and_audits_each_file(
        world, archive):
    due, others = archive["due"], [archive["recent"], archive["kept"], world.file_a]
    planned = _retention("--dry-run").splitlines()
    report = _retention()
    assert report.splitlines()[:len(planned) - 1] == planned[:-1]  # the same plan, then applied

    for case_file in due:
        assert not _readable(case_file)
        assert not NoteTerm.objects.filter(case_file=case_file).exists()
        household = Household.objects.get(pk=case_file.household_id)
        assert (household.address, household.postcode, household.commune) == ("", "", "Agen")
        assert household.anonymised_at is not None
        [member] = Person.objects.filter(household=household)
        assert (member.first_name, member.last_name, member.birth_date, member.phone) == (
            "Personne", "Anonymisée", dt.date(1950, 1, 1), "")
        assert not NameKey.objects.filter(person=member).exists()
        assert AuditRecord.objects.filter(action="retention", object_id=case_file.pk,
                                          username="system-dpo").count() == 1
    for case_file in others:
        assert _readable(case_file)
        assert NoteTerm.objects.filter(case_file=case_file).exists()
        assert Household.objects.get(pk=case_file.household_id).anonymised_at is None
    assert Person.objects.get(pk=world.person_a.pk).last_name == "Lefèvre"
    assert [item.case_file_id for item in rights.retention_plan(years=5)] == [
        archive["kept"].pk]


@pytest.mark.django_db
def test_an_anonymised_file_still_opens_and_shows_its_notes_as_erased(world, archive):
    _retention()
    case_file = archive["due"][0]
    page = world.client("worker").get(f"/households/{case_file.household_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Anonymisée".upper() in text and f"Suivi clos {case_file.pk}" not in text
    _, assessments = cases.assessments_of(world.actor("worker"), case_file.pk)
    assert "Petite retraite" not in {lv.comment for lv in assessments[0].levels.all()}


@pytest.mark.django_db
def test_a_stale_plan_does_not_anonymise_a_file_reopened_since(world, archive):
    plan = rights.retention_plan(years=5)
    reopened = archive["due"][0]
    CaseFile.objects.filter(pk=reopened.pk).update(status=CaseStatus.OPEN, closed_at=None)
    applied = rights.apply_retention(rights.system_actor(), plan)
    assert [item.case_file_id for item in applied] == [archive["due"][1].pk]
    assert _readable(reopened)


# --- erasure ---------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   "])
def test_erasure_without_a_reason_is_refused_and_changes_nothing(world, history, reason):
    before = _snapshot()
    with pytest.raises(ValueError):
        rights.erase_person(world.actor("dpo"), world.person_a.pk, reason)
    assert _api(world, "dpo").post(f"/api/v1/persons/{world.person_a.pk}/erasure",
                                   {"reason": reason},
                                   content_type="application/json").status_code == 422
    page = world.client("dpo").post(f"/dpo/persons/{world.person_a.pk}/erase/",
                                    {"reason": reason, "confirm": "on"})
    assert page.status_code == 400
    assert Person.objects.get(pk=world.person_a.pk).last_name == "Lefèvre"
    after = _snapshot()
    assert {k: v for k, v in after.items() if k not in ("AuditRecord", "User")} == {
        k: v for k, v in before.items() if k not in ("AuditRecord", "User")}


@pytest.mark.django_db
def test_erasure_of_one_member_replaces_their_identity_keeps_the_household_and_is_audited(
        world, history):
    partner = PersonFactory(household=world.household_a, first_name="Hugo", last_name="Lefèvre")
    form = world.client("dpo").get(f"/dpo/persons/{world.person_a.pk}/erase/")
    assert form.status_code == 200 and "Zoé LEFÈVRE" in form.content.decode()
    response = world.client("dpo").post(
        f"/dpo/persons/{world.person_a.pk}/erase/",
        {"reason": "Demande écrite du 3 mars", "confirm": "on"}, REMOTE_ADDR="10.0.0.5")
    assert response.status_code == 302

    person = Person.objects.get(pk=world.person_a.pk)
    assert (person.first_name, person.last_name, person.phone, person.email) == (
        "Personne", "Anonymisée", "", "")
    assert person.birth_date == dt.date(1980, 1, 1) and person.erased_at is not None
    assert not NameKey.objects.filter(person=person).exists()
    assert person.pk not in {p.pk for p in rights.find_persons(world.actor("dpo"), "Zoé Lefèvre")}
    assert Person.objects.get(pk=partner.pk).first_name == "Hugo"
    assert _readable(world.file_a)  # the household's file is the partner's too
    assert ReceptionEntry.objects.get(person=person).reason == ""
    record = AuditRecord.objects.get(action="erase")
    assert (record.username, record.object_id, record.household_id, record.reason_text, record.ip) \
        == ("dpo", person.pk, world.household_a.pk, "Demande écrite du 3 mars", "10.0.0.5")


@pytest.mark.django_db
def test_erasing_the_only_member_anonymises_the_household_and_shreds_its_key(world, history):
    cases.add_note(world.actor("worker.b"), world.file_b.pk, "interview", "Autre ménage")
    response = _api(world, "dpo").post(f"/api/v1/persons/{world.person_a.pk}/erasure",
                                       {"reason": "Demande de la personne"},
                                       content_type="application/json")
    assert response.status_code == 200 and response.json()["household_key_shredded"] is True
    assert not _readable(world.file_a)
    assert not NoteTerm.objects.filter(case_file=world.file_a).exists()
    assert Household.objects.get(pk=world.household_a.pk).address == ""
    assert Referral.objects.get(case_file=world.file_a).reason == ""
    assert _readable(world.file_b)
    assert AuditRecord.objects.get(action="erase").channel == "api"
    again = _api(world, "dpo").post(f"/api/v1/persons/{world.person_a.pk}/erasure",
                                    {"reason": "Doublon de la demande"},
                                    content_type="application/json")
    assert again.status_code == 422


@pytest.mark.django_db
@pytest.mark.parametrize("role", OTHER_ROLES)
def test_only_the_dpo_can_erase(world, role):
    page = world.client(role).post(f"/dpo/persons/{world.person_a.pk}/erase/",
                                   {"reason": "Demande", "confirm": "on"})
    assert page.status_code == 403
    with pytest.raises(Denied):
        rights.erase_person(world.actor(role), world.person_a.pk, "Demande")
    assert Person.objects.get(pk=world.person_a.pk).erased_at is None


@pytest.fixture
def own_keys(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    crypto.keyring.cache_clear()
    yield tmp_path / "keys"
    crypto.keyring.cache_clear()


@pytest.mark.django_db
def test_a_missing_master_key_is_an_outage_not_an_erasure(own_keys, world, history):
    for path in own_keys.glob("master-*.key"):
        path.unlink()
    crypto.new_master_key_file()
    crypto._data_keys.clear()
    with pytest.raises(crypto.MissingKey, match="is not configured"):
        rights.export_person(world.actor("dpo"), world.person_a.pk)
    with pytest.raises(crypto.MissingKey, match="is not configured"):
        cases.notes_of(world.actor("worker"), world.file_a.pk, 10, 0)
