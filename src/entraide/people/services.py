"""Intake at reception: search before create, duplicate candidates, households, merges."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.db.models import Count
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from entraide import french, korean
from entraide.concurrency import FieldChange, StaleEdit, save_if_current
from entraide.org.models import Team
from entraide.secrecy import crypto, policy
from entraide.secrecy.crypto import IDENTITY_NUMBER
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from .models import Consent, Household, Membership, NameKey, Person, Relationship

CANDIDATE_THRESHOLD = 70.0


def name_keys(first_name: str, last_name: str) -> set[str]:
    """Blocking keys of a name: prefix and sound of each word, whichever field it was typed in;
    for a Korean name, the whole name in either order and its pairs of syllables."""
    keys: set[str] = set()
    for word in french.words(f"{first_name} {last_name}"):
        if len(word) < 2 or korean.has_hangul(word):
            continue
        keys.add("p:" + word[:3])
        if sound := french.phonetic(word):
            keys.add("s:" + sound[:6])
    for name in _korean_names(first_name, last_name):
        keys.add("k:" + name[:8])
        keys |= {"b:" + pair for pair in korean.syllable_pairs(name)}
    return keys


def index_person(person: Person) -> None:
    """Refresh the blocking keys of a person after their name changed."""
    NameKey.objects.filter(person=person).delete()
    NameKey.objects.bulk_create(
        NameKey(person=person, key=k) for k in name_keys(person.first_name, person.last_name)
    )


def _korean_names(first_name: str, last_name: str) -> set[str]:
    """A Korean name written whole, family name first or last ("김민수", "민수김"); for a
    name typed at the desk in one field, as typed and without its particles or honorifics."""
    if not korean.has_hangul(f"{first_name}{last_name}"):
        return set()
    if not last_name.strip():
        return set(korean.name_forms(first_name))
    first, last = "".join(first_name.split()), "".join(last_name.split())
    return {last + first, first + last}


def _jamo(text: str) -> str:
    """Hangul syllables cut into their letters: one wrong letter is then a small difference."""
    return unicodedata.normalize("NFD", text)


def _korean_similarity(query: str, person: Person) -> float:
    typed = _korean_names(query, "")
    known = _korean_names(person.first_name, person.last_name)
    return max((fuzz.ratio(_jamo(t), _jamo(k)) for t in typed for k in known), default=0.0)


def similarity(query: str, birth_date: dt.date | None, person: Person) -> float:
    """How likely the person is the one typed, 0-100, tolerant of order, accents and typos.

    Each typed word is matched to the closest word of the person's names (95 at least when
    they sound the same); the score mixes the worst and the average match, so that sharing a
    first name alone is not enough. A Korean name is compared whole, letter by letter.
    """
    if korean.has_hangul(query):
        score = _korean_similarity(query, person)
    else:
        typed = [(w, french.phonetic(w)) for w in french.words(query)]
        names = f"{person.first_name} {person.last_name}"
        known = [(w, french.phonetic(w)) for w in french.words(names)]
        if not typed or not known:
            return 0.0
        best = [
            max(max(95.0, fuzz.ratio(t, k)) if t_sound == k_sound else fuzz.ratio(t, k)
                for k, k_sound in known)
            for t, t_sound in typed
        ]
        score = (min(best) + sum(best) / len(best)) / 2
    if birth_date and person.birth_date:
        score = min(100.0, score + 8) if birth_date == person.birth_date else score - 25
    return max(0.0, round(score, 1))


@dataclass(frozen=True)
class Candidate:
    """A known person who may be the one at the desk, and whether the agent may open them."""

    person: Person
    score: float
    identifiable: bool


def find_candidates(actor: Actor, query: str, birth_date: dt.date | None = None,
                    limit: int = 10) -> list[Candidate]:
    """Persons matching a typed name (and birth date if known), best first, with their score.

    Searched across the whole organisation so that a duplicate in another territory is
    found; the agent may open only those within need-to-know.
    """
    policy.guard_role(actor, policy.can_do_intake(actor.user), "person_search")
    keys = name_keys(query, "")
    if not keys:
        return []
    # A Korean name gives few syllables: one typo already breaks half its pairs.
    wanted = 1 if korean.has_hangul(query) else max(1, len(keys) // 2)
    ids = (
        NameKey.objects.filter(key__in=keys)
        .values("person_id")
        .annotate(hits=Count("id"))
        .filter(hits__gte=wanted)
        .order_by("-hits")
        .values_list("person_id", flat=True)[:400]
    )
    persons = Person.objects.filter(pk__in=list(ids), merged_into__isnull=True).select_related(
        "household"
    )
    scored = sorted(
        ((similarity(query, birth_date, p), p) for p in persons), key=lambda sp: -sp[0]
    )
    visible = set(
        policy.identifiable_households(actor.user)
        .filter(pk__in=[p.household_id for _, p in scored if p.household_id])
        .values_list("pk", flat=True)
    )
    found = [
        Candidate(p, s, p.household_id in visible)
        for s, p in scored
        if s >= CANDIDATE_THRESHOLD
    ][:limit]
    policy.record(actor, AuditAction.SEARCH, "person", detail=f"intake: {query[:80]}")
    return found


def default_team(actor: Actor, territory_id: int) -> Team:
    """The team a new case file goes to: the agent's own, else the territory's first."""
    if actor.user.team_id and actor.user.territory_id == territory_id:
        return actor.user.team  # type: ignore[return-value]
    return Team.objects.filter(territory_id=territory_id).order_by("pk").first()  # type: ignore[return-value]


def _create_person(household: Household, data: dict[str, Any]) -> Person:
    """A new member, their identity number (if given) sealed with the household's key."""
    data = dict(data)
    number = (data.pop("identity_number", "") or "").strip()
    return Person.objects.create(
        household=household, **data,
        identity_number_sealed=crypto.seal(household.pk, number, IDENTITY_NUMBER))


def reveal_identity_number(person: Person) -> Person:
    """Decrypt the identity number of a person already opened through the policy."""
    person._identity_number = (crypto.unseal(person.household_id, person.identity_number_sealed,
                                             IDENTITY_NUMBER)
                               if person.household_id else "")
    return person


@policy.atomic
def register_household(actor: Actor, person_data: dict[str, Any],
                       address_data: dict[str, Any], reason: str) -> Household:
    """Create a household around a new person at the desk, open its case file, log the visit."""
    from entraide.cases import services as cases

    policy.guard_role(actor, policy.can_do_intake(actor.user), "household")
    territory_id: int | None = address_data.pop("territory_id", None) or actor.user.territory_id
    if territory_id is None:
        raise ValueError(_("An agent without a territory cannot register a household."))
    household = Household.objects.create(territory_id=territory_id, **address_data)
    person = _create_person(household, person_data)
    Membership.objects.create(
        household=household, person=person, relationship=Relationship.HEAD,
        since=timezone.localdate(),
    )
    index_person(person)
    policy.record(actor, AuditAction.CREATE, "household", household.pk, household.pk)
    policy.record(actor, AuditAction.CREATE, "person", person.pk, household.pk)
    cases.open_new_case_file(actor, household, default_team(actor, territory_id), person, reason)
    return household


@policy.atomic
def add_member(actor: Actor, household_id: int, person_data: dict[str, Any],
               relationship: str) -> Person:
    """Add a new person to a household the agent may identify."""
    household = policy.guard_household(actor, household_id)
    person = _create_person(household, person_data)
    Membership.objects.create(household=household, person=person, relationship=relationship,
                              since=timezone.localdate())
    index_person(person)
    policy.record(actor, AuditAction.CREATE, "person", person.pk, household.pk)
    return person


def household_members(actor: Actor, household_id: int) -> tuple[Household, list[Person]]:
    """A household and its current members, for an agent who may identify it (audited)."""
    household = policy.guard_household(actor, household_id)
    members = list(
        Person.objects.filter(household=household, merged_into__isnull=True).order_by("birth_date")
    )
    policy.record(actor, AuditAction.READ, "household", household.pk, household.pk)
    return household, members


def members_of(household: Household) -> list[Person]:
    """Current members of a household already opened through the policy."""
    return list(
        Person.objects.filter(household=household, merged_into__isnull=True)
        .prefetch_related("memberships")
        .order_by("birth_date")
    )


def get_person_for_update(actor: Actor, person_id: int) -> Person:
    """A current person whose household the agent may identify (the caller audits)."""
    person = Person.objects.filter(pk=person_id, merged_into__isnull=True).first()
    if person is None or person.household_id is None:
        raise Http404(_("No person with this number."))
    policy.guard_household(actor, person.household_id)
    return person


def get_person(actor: Actor, person_id: int) -> Person:
    """One person, if the agent may identify their household (audited)."""
    person = get_person_for_update(actor, person_id)
    policy.record(actor, AuditAction.READ, "person", person.pk, person.household_id)
    return reveal_identity_number(person)


def update_person(actor: Actor, person_id: int, version: int, changes: dict[str, Any]) -> Person:
    """Change a person's identity or contact, refused if someone saved in between."""
    person = get_person_for_update(actor, person_id)
    number = changes.pop("identity_number", None)
    changes = {k: v for k, v in changes.items() if k in Person.EDITABLE}
    if number is not None and number.strip() != reveal_identity_number(person).identity_number:
        changes["identity_number_sealed"] = crypto.seal(
            person.household_id, number.strip(), IDENTITY_NUMBER)  # type: ignore[arg-type]
    try:
        updated = save_if_current(Person, person_id, version, changes)
    except StaleEdit as stale:
        # Ciphertexts differ on every write: say the number changed, never show it sealed.
        stale.changes = [c if c.field != "identity_number_sealed" else
                         FieldChange(c.field, _("identity number"), "…", number) for c in
                         stale.changes]
        raise
    index_person(updated)
    policy.record(actor, AuditAction.UPDATE, "person", person_id, person.household_id,
                  detail=",".join(sorted(changes)))
    return updated


@policy.atomic
def merge_persons(actor: Actor, keep_id: int, duplicate_id: int) -> Person:
    """Merge a duplicate into the person kept: memberships, consents and visits all follow."""
    from entraide.cases.models import ReceptionEntry

    if keep_id == duplicate_id:
        raise ValueError(_("Choose two different persons to merge."))
    keep = Person.objects.select_for_update().get(pk=keep_id)
    duplicate = Person.objects.select_for_update().get(pk=duplicate_id)
    for person in (keep, duplicate):
        if person.household_id is None or person.merged_into_id:
            raise ValueError(_("Only persons who still live in a household can be merged."))
        policy.guard_household(actor, person.household_id)
    duplicate.memberships.update(person=keep)
    duplicate.consents.update(person=keep)
    ReceptionEntry.objects.filter(person=duplicate).update(person=keep)
    for field in ("birth_date", "phone", "email"):
        if not getattr(keep, field) and getattr(duplicate, field):
            setattr(keep, field, getattr(duplicate, field))
    keep.version += 1
    keep.save()
    duplicate.merged_into = keep
    duplicate.household = None
    duplicate.save(update_fields=["merged_into", "household"])
    NameKey.objects.filter(person=duplicate).delete()
    policy.record(actor, AuditAction.MERGE, "person", keep.pk, keep.household_id,
                  detail=f"merged person {duplicate.pk} into {keep.pk}")
    return keep


def list_households(actor: Actor, limit: int, offset: int) -> tuple[list[Household], int]:
    """Households the agent may identify, newest first (one audit record for the page)."""
    policy.guard_role(actor, policy.can_do_intake(actor.user), "household_list")
    queryset = policy.identifiable_households(actor.user)
    total = queryset.count()
    households = list(queryset.prefetch_related("members").order_by("-pk")[offset:offset + limit])
    policy.record(actor, AuditAction.READ, "household_list",
                  detail=",".join(str(h.pk) for h in households)[:500])
    return households, total


def update_household(actor: Actor, household_id: int, version: int,
                     changes: dict[str, Any]) -> Household:
    """Change a household's address, refused if someone saved in between."""
    household = policy.guard_household(actor, household_id)
    changes = {k: v for k, v in changes.items() if k in Household.EDITABLE}
    updated = save_if_current(Household, household_id, version, changes)
    policy.record(actor, AuditAction.UPDATE, "household", household.pk, household.pk,
                  detail=",".join(sorted(changes)))
    return updated


def record_consent(actor: Actor, person_id: int, purpose: str, given: bool) -> Consent:
    """Record that a person gave or withdrew a consent; earlier records stay."""
    person = get_person_for_update(actor, person_id)
    consent = Consent.objects.create(person=person, purpose=purpose, given=given,
                                     recorded_by=actor.user)
    policy.record(actor, AuditAction.CREATE, "consent", consent.pk, person.household_id,
                  detail=f"{purpose}={'yes' if given else 'no'}")
    return consent


def consents_of(person: Person) -> list[Consent]:
    """A person's consent records, newest first, for a person already opened."""
    return list(person.consents.select_related("recorded_by").order_by("-recorded_at", "-pk"))
