"""Rights of the person (GDPR): export everything held on a person, retention, erasure.

The data protection officer answers rights requests, so these functions read what no other
role may: every note of the household, sensitive ones included. Each export and erasure
writes its audit record; retention writes one per case file anonymised.

Anonymising keeps what statistics need (commune, sex, birth year, dates, domains, levels,
statuses) and removes who the person is: names and contact, the street address, free texts
kept in clear, and the household's data key, which makes every note and assessment comment
unreadable (crypto-shredding) without rewriting them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from entraide.cases.models import (
    Action,
    CaseFile,
    CaseStatus,
    DomainLevel,
    Goal,
    Note,
    NoteTerm,
    ReceptionEntry,
    Referral,
)
from entraide.org.models import Role, User
from entraide.people.models import Household, Membership, NameKey, Person
from entraide.people.services import CANDIDATE_THRESHOLD, name_keys, similarity

from . import crypto, policy
from .crypto import IDENTITY_NUMBER, LEVEL_COMMENT, NOTE_BODY
from .models import AuditAction, AuditRecord, HouseholdKey
from .policy import Actor

ANONYMISED_FIRST_NAME = "Personne"
ANONYMISED_LAST_NAME = "Anonymisée"
SYSTEM_USERNAME = "system-dpo"


def can_exercise_rights(user: User) -> bool:
    """Rights requests (export, erasure) are answered by the data protection officer."""
    return user.role == Role.DPO


def guard_dpo(actor: Actor, what: str) -> None:
    """Refuse, with an audit record, anyone but the DPO."""
    policy.guard_role(actor, can_exercise_rights(actor.user), what)


def system_actor() -> Actor:
    """The account the `entraide person` and `entraide retention` commands act as.

    An inactive DPO account with no usable password: nobody logs in with it, and the audit
    trail names it.
    """
    user, _created = User.objects.get_or_create(
        username=SYSTEM_USERNAME,
        defaults={"role": Role.DPO, "is_active": False, "password": make_password(None),
                  "first_name": "Entraide", "last_name": "(system)"})
    if user.role != Role.DPO or user.is_active:
        raise ValueError(f"The account {SYSTEM_USERNAME} exists but is not an inactive DPO "
                         "account; fix or rename it in the admin.")
    return Actor(user=user, channel="cli")


def _person(person_id: int) -> Person:
    person = Person.objects.select_related("household").filter(pk=person_id).first()
    if person is None:
        raise Http404(_("No person with this number."))
    return person


def find_persons(actor: Actor, query: str, limit: int = 20) -> list[Person]:
    """Persons by name (or number) across the organisation, for the DPO (audited)."""
    guard_dpo(actor, "rights_search")
    query = query.strip()
    if query.isdigit():
        persons = list(Person.objects.filter(pk=int(query)).select_related("household"))
    else:
        keys = name_keys(query, "")
        ids = (NameKey.objects.filter(key__in=keys).values("person_id")
               .annotate(hits=Count("id")).filter(hits__gte=max(1, len(keys) // 2))
               .order_by("-hits").values_list("person_id", flat=True)[:400])
        scored = sorted(((similarity(query, None, p), p) for p in
                         Person.objects.filter(pk__in=list(ids)).select_related("household")),
                        key=lambda sp: -sp[0])
        persons = [p for s, p in scored if s >= CANDIDATE_THRESHOLD][:limit]
    policy.record(actor, AuditAction.SEARCH, "person", detail=f"rights: {query[:80]}")
    return persons


def person_for_rights(actor: Actor, person_id: int) -> Person:
    """One person, whatever their territory, for the DPO (audited as a read)."""
    guard_dpo(actor, "person")
    person = _person(person_id)
    policy.record(actor, AuditAction.READ, "person", person.pk, person.household_id,
                  detail="rights request")
    return person


# --- export ---------------------------------------------------------------------------------

def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _agent(user: User | None) -> str | None:
    return (user.get_full_name() or user.username) if user is not None else None


def _choice(obj: Any, name: str) -> dict[str, Any]:
    """A coded field and its label, side by side, so the export reads without a codebook."""
    return {name: getattr(obj, name),
            f"{name}_label": str(getattr(obj, f"get_{name}_display")())}


def _unseal(household_id: int, value: str, field: str) -> str | None:
    """The clear text, or None once the household's key was shredded."""
    try:
        return crypto.unseal(household_id, value, field)
    except crypto.MissingKey:
        # Only a deleted data key means erased; a master key missing is an outage, said loudly.
        if HouseholdKey.objects.filter(pk=int(value.split("$")[1])).exists():
            raise
        return None


def _with_merged(person_ids: Iterable[int]) -> set[int]:
    """The persons and every duplicate merged into them, however many merges ago."""
    ids = set(person_ids)
    while more := set(Person.objects.filter(merged_into__in=ids).exclude(pk__in=ids)
                      .values_list("pk", flat=True)):
        ids |= more
    return ids


def _identity(person: Person) -> dict[str, Any]:
    number = (_unseal(person.household_id, person.identity_number_sealed, IDENTITY_NUMBER)
              if person.household_id and person.identity_number_sealed else None)
    return {
        "id": person.pk, "first_name": person.first_name, "last_name": person.last_name,
        "birth_date": _iso(person.birth_date), **_choice(person, "sex"),
        "phone": person.phone, "email": person.email, "identity_number": number,
        "household_id": person.household_id, "merged_into_id": person.merged_into_id,
        "created_at": _iso(person.created_at), "erased_at": _iso(person.erased_at),
    }


def _household(household: Household, person: Person) -> dict[str, Any]:
    memberships = (Membership.objects.filter(household=household).select_related("person")
                   .order_by("since", "pk"))
    return {
        "id": household.pk, "current": household.pk == person.household_id,
        "address": household.address, "postcode": household.postcode,
        "commune": household.commune, "territory": household.territory.name,
        "created_at": _iso(household.created_at), "anonymised_at": _iso(household.anonymised_at),
        "memberships": [
            {"person_id": m.person_id, "name": str(m.person), "is_the_person":
             m.person_id == person.pk, **_choice(m, "relationship"),
             "since": _iso(m.since), "until": _iso(m.until)}
            for m in memberships],
    }


def _notes(case_file: CaseFile) -> list[dict[str, Any]]:
    notes = Note.objects.filter(case_file=case_file).select_related("author")
    rows = []
    for note in sorted(notes, key=lambda n: (n.created_at, n.thread_id, n.version_no)):
        body = _unseal(case_file.household_id, note.body_sealed, NOTE_BODY)
        rows.append({
            "id": note.pk, "thread_id": note.thread_id, "version_no": note.version_no,
            "is_current": note.is_current, **_choice(note, "kind"),
            "sensitive": note.sensitive, "author": _agent(note.author),
            "created_at": _iso(note.created_at), "body": body, "erased": body is None,
        })
    return rows


def _assessments(case_file: CaseFile) -> list[dict[str, Any]]:
    assessments = (case_file.assessments.select_related("author").prefetch_related("levels")
                   .order_by("created_at", "pk"))
    rows = []
    for assessment in assessments:
        levels: list[DomainLevel] = sorted(assessment.levels.all(), key=lambda lv: lv.domain)
        rows.append({
            "id": assessment.pk, "created_at": _iso(assessment.created_at),
            "author": _agent(assessment.author),
            "levels": [
                {**_choice(lv, "domain"), **_choice(lv, "level"),
                 "comment": _unseal(case_file.household_id, lv.comment_sealed, LEVEL_COMMENT)}
                for lv in levels],
        })
    return rows


def _goals(case_file: CaseFile) -> list[dict[str, Any]]:
    goals = case_file.goals.prefetch_related("actions__owner").order_by("created_at", "pk")
    return [
        {"id": g.pk, **_choice(g, "domain"), "title": g.title, **_choice(g, "status"),
         "created_at": _iso(g.created_at),
         "actions": [
             {"id": a.pk, "title": a.title, "owner": _agent(a.owner),
              "due_date": _iso(a.due_date), **_choice(a, "status"),
              "created_at": _iso(a.created_at)}
             for a in sorted(g.actions.all(), key=lambda a: (a.created_at, a.pk))]}
        for g in goals
    ]


def _case_file(case_file: CaseFile) -> dict[str, Any]:
    referrals = case_file.referrals.select_related("created_by").order_by("created_at", "pk")
    return {
        "id": case_file.pk, "household_id": case_file.household_id, **_choice(case_file, "status"),
        "opened_at": _iso(case_file.opened_at), "closed_at": _iso(case_file.closed_at),
        "team": case_file.team.name, "referent": _agent(case_file.referent),
        "notes": _notes(case_file),
        "assessments": _assessments(case_file),
        "goals": _goals(case_file),
        "referrals": [
            {"id": r.pk, "service": r.service, "reason": r.reason, **_choice(r, "status"),
             "created_by": _agent(r.created_by), "created_at": _iso(r.created_at)}
            for r in referrals],
    }


def _access_log(household_ids: list[int], person_ids: set[int]) -> list[dict[str, Any]]:
    records = (AuditRecord.objects
               .filter(Q(household_id__in=household_ids)
                       | Q(object_type="person", object_id__in=person_ids))
               .select_related("user").order_by("at", "id"))
    return [
        {"at": _iso(r.at), "agent": r.username, "name": _agent(r.user), "role": r.role,
         **_choice(r, "action"), "object_type": r.object_type, "object_id": r.object_id,
         "household_id": r.household_id, "channel": r.channel, "ip": r.ip,
         "reason": r.reason_text, "detail": r.detail}
        for r in records
    ]


def export_person(actor: Actor, person_id: int) -> dict[str, Any]:
    """Everything held on a person, for the DPO answering a request of access (audited).

    The households they live or lived in, with the case files of those households (every
    version of every note, sensitive ones included, in clear), their visits, consents, and
    who accessed their file, when and from where.
    """
    guard_dpo(actor, "person_export")
    person = _person(person_id)
    merged = _with_merged([person.pk]) - {person.pk}
    households = list(
        Household.objects.filter(Q(pk=person.household_id) | Q(memberships__person=person))
        .select_related("territory").distinct().order_by("pk"))
    household_ids = [h.pk for h in households]
    case_files = (CaseFile.objects.filter(household_id__in=household_ids)
                  .select_related("team", "referent").order_by("opened_at", "pk"))
    receptions = (ReceptionEntry.objects
                  .filter(Q(household_id__in=household_ids) | Q(person=person))
                  .select_related("person", "received_by").order_by("at", "pk"))
    data = {
        "generated_at": _iso(timezone.now()),
        "generated_by": actor.user.username,
        "person": _identity(person),
        "merged_records": [_identity(p) for p in Person.objects.filter(pk__in=merged)
                           .order_by("pk")],
        "households": [_household(h, person) for h in households],
        "consents": [
            {**_choice(c, "purpose"), "given": c.given, "recorded_at": _iso(c.recorded_at),
             "recorded_by": _agent(c.recorded_by)}
            for c in person.consents.select_related("recorded_by").order_by("recorded_at", "pk")],
        "case_files": [_case_file(f) for f in case_files],
        "receptions": [
            {"id": r.pk, "household_id": r.household_id, "case_file_id": r.case_file_id,
             "person": str(r.person) if r.person else None, "at": _iso(r.at),
             "reason": r.reason, "received_by": _agent(r.received_by)}
            for r in receptions],
        "access_log": _access_log(household_ids, {person.pk, *merged}),
    }
    policy.record(actor, AuditAction.EXPORT, "person", person.pk, person.household_id,
                  detail=f"households {','.join(map(str, household_ids)) or '-'}")
    return data


_DATES = frozenset({"birth_date", "since", "until", "due_date"})


def for_display(value: Any, key: str = "") -> Any:
    """The export with its ISO strings turned back into dates, for the templates."""
    if isinstance(value, dict):
        return {k: for_display(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [for_display(v, key) for v in value]
    if isinstance(value, str) and (key == "at" or key.endswith("_at")):
        return dt.datetime.fromisoformat(value)
    if isinstance(value, str) and key in _DATES:
        return dt.date.fromisoformat(value)
    return value


def render_export_html(data: dict[str, Any]) -> str:
    """The export as one printable HTML document, labelled in the active language."""
    return render_to_string("secrecy/export.html", {"data": for_display(data)})


# --- anonymisation -----------------------------------------------------------------------------

def _anonymise_persons(person_ids: set[int], now: dt.datetime) -> None:
    """Replace who the persons are by a placeholder; keep sex and birth year for statistics."""
    for person in Person.objects.filter(pk__in=person_ids).select_for_update():
        person.first_name, person.last_name = ANONYMISED_FIRST_NAME, ANONYMISED_LAST_NAME
        if person.birth_date is not None:
            person.birth_date = dt.date(person.birth_date.year, 1, 1)
        person.phone = person.email = person.identity_number_sealed = ""
        person.erased_at = now
        person.version += 1
        person.save(update_fields=["first_name", "last_name", "birth_date", "phone", "email",
                                   "identity_number_sealed", "erased_at", "version"])
    NameKey.objects.filter(person_id__in=person_ids).delete()


def _anonymise_household(household: Household, now: dt.datetime) -> None:
    """Shred the household's key, drop its blind index and clear texts, keep its commune."""
    crypto.forget(household.pk)
    files = CaseFile.objects.filter(household=household)
    NoteTerm.objects.filter(case_file__in=files).delete()
    # The key is gone, so these ciphertexts are noise already; they are dropped all the same.
    bump = {"version": F("version") + 1}
    Referral.objects.filter(case_file__in=files).update(service_sealed="", reason_sealed="",
                                                        **bump)
    Goal.objects.filter(case_file__in=files).update(title_sealed="", **bump)
    Action.objects.filter(goal__case_file__in=files).update(title_sealed="", **bump)
    ReceptionEntry.objects.filter(household=household).update(reason_sealed="")
    household.address = household.postcode = ""
    household.latitude = household.longitude = None
    household.anonymised_at = now
    household.version += 1
    household.save(update_fields=["address", "postcode", "latitude", "longitude",
                                  "anonymised_at", "version"])


# --- retention ---------------------------------------------------------------------------------

def _years_before(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def retention_years() -> int:
    return int(settings.ENTRAIDE_RETENTION["closed_case_file_years"])


@dataclass(frozen=True)
class RetentionItem:
    """A closed case file past its retention period, and what retention will do with it."""

    case_file_id: int
    household_id: int
    closed_at: dt.datetime
    due_before: dt.datetime
    years: int
    kept_because: str = ""

    @property
    def to_anonymise(self) -> bool:
        return not self.kept_because

    def describe(self) -> str:
        what = (f"kept: {self.kept_because}" if self.kept_because else
                "anonymise the household: members' identity, street address, clear texts; "
                "shred its key (notes and comments become unreadable)")
        return (f"case file {self.case_file_id} · household {self.household_id} · "
                f"closed {self.closed_at.date().isoformat()} · {what}")


def retention_plan(now: dt.datetime | None = None, years: int | None = None
                   ) -> list[RetentionItem]:
    """The closed case files whose closing is older than the retention period, oldest first.

    A household with another case file still open, or closed within the period, is kept
    whole: its old files are listed with the reason they stay.
    """
    years = retention_years() if years is None else years
    cutoff = _years_before(now or timezone.now(), years)
    active = CaseFile.objects.filter(household_id=OuterRef("household_id")).filter(
        Q(status=CaseStatus.OPEN) | Q(closed_at__isnull=True) | Q(closed_at__gte=cutoff))
    due = (CaseFile.objects
           .filter(status=CaseStatus.CLOSED, closed_at__lt=cutoff,
                   household__anonymised_at__isnull=True)
           .annotate(active_file=Subquery(active.order_by("pk").values("pk")[:1]))
           .order_by("closed_at", "pk"))
    return [
        RetentionItem(
            f.pk, f.household_id, f.closed_at, cutoff, years,  # type: ignore[arg-type]
            f"household has case file {f.active_file} open or closed less than {years} years ago"
            if f.active_file else "")
        for f in due
    ]


def apply_retention(actor: Actor, plan: list[RetentionItem]) -> list[RetentionItem]:
    """Anonymise the households of the plan's due case files; returns the items applied.

    Each household is done in its own transaction, so an interrupted run leaves none half
    done and the next plan lists only what remains. An item no longer due (file reopened,
    or its household anonymised meanwhile) is skipped.
    """
    by_household: dict[int, list[RetentionItem]] = defaultdict(list)
    for item in plan:
        if item.to_anonymise:
            by_household[item.household_id].append(item)
    applied: list[RetentionItem] = []
    for household_id, items in by_household.items():
        with transaction.atomic():
            household = Household.objects.select_for_update().get(pk=household_id)
            cutoff = min(i.due_before for i in items)
            files = CaseFile.objects.select_for_update().filter(household=household)
            still_due = files.filter(pk__in=[i.case_file_id for i in items],
                                     status=CaseStatus.CLOSED, closed_at__lt=cutoff).count()
            active = files.filter(Q(status=CaseStatus.OPEN) | Q(closed_at__isnull=True)
                                  | Q(closed_at__gte=cutoff)).exists()
            if household.anonymised_at or active or still_due != len(items):
                continue
            now = timezone.now()
            _anonymise_household(household, now)
            _anonymise_persons(_with_merged(
                Person.objects.filter(household=household).values_list("pk", flat=True)), now)
            for item in items:
                policy.record(actor, AuditAction.RETENTION, "case_file", item.case_file_id,
                              household_id, detail=f"closed {item.closed_at.date().isoformat()}"
                              f", anonymised after the {item.years}-year retention period")
        applied.extend(items)
    return applied


# --- erasure -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Erasure:
    person_id: int
    erased_at: dt.datetime
    household_key_shredded: bool


def erase_person(actor: Actor, person_id: int, reason: str) -> Erasure:
    """Erase a person's identity on request, with the reason in the audit record.

    When they are the only member of their household, the household is anonymised too and
    its key shredded; otherwise the household's notes stay, as they are the others' file too.
    """
    guard_dpo(actor, "person_erasure")
    reason = reason.strip()
    if not reason:
        raise ValueError(_("Give the reason for the erasure."))
    with transaction.atomic():
        person = _person(person_id)
        if person.erased_at is not None:
            raise ValueError(_("This person's identity was already erased."))
        household_id = person.household_id
        now = timezone.now()
        household = person.household
        alone = household is not None and not Person.objects.filter(
            household=household, merged_into__isnull=True).exclude(pk=person.pk).exists()
        if household is not None and alone:
            _anonymise_household(Household.objects.select_for_update().get(pk=household.pk), now)
        else:
            ReceptionEntry.objects.filter(person=person).update(reason_sealed="")
        _anonymise_persons(_with_merged([person.pk]), now)
        policy.record(dataclasses.replace(actor, reason=reason[:500]), AuditAction.ERASE,
                      "person", person.pk, household_id,
                      detail="identity erased, household anonymised and its key shredded"
                      if alone else "identity erased")
    return Erasure(person.pk, now, alone)
