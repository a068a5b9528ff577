"""Screening's domain: what the command and the pages call."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection

import pyarrow as pa
from django.db.models import F

from entraide.cases.models import CaseFile, CaseStatus
from entraide.people.models import Household, Membership, Person, Relationship
from entraide.secrecy import crypto, policy
from entraide.secrecy.crypto import IDENTITY_NUMBER
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from . import feeds, pseudonym
from .models import KeyKind, LinkKey, ScreeningRun, Source


def purge(today: dt.date | None = None) -> dict[str, list[str]]:
    """Delete every source's feed months past its retention, and the leads' features kept
    beside runs older than the longest retention (they were read from those months);
    returns what went, by source ("runs" for the runs' features)."""
    from .runs import lead_features_path

    today = today or dt.date.today()
    sources = list(Source.objects.all())
    gone = {source.code: feeds.purge(source.code, source.retention_days, today)
            for source in sources}
    longest = max((source.retention_days for source in sources), default=0)
    cutoff = dt.datetime.combine(today - dt.timedelta(days=longest), dt.time(),
                                 tzinfo=dt.UTC)
    gone["runs"] = []
    for run_id in ScreeningRun.objects.filter(started_at__lt=cutoff).values_list("pk",
                                                                                flat=True):
        path = lead_features_path(run_id)
        if path.exists():
            path.unlink()
            gone["runs"].append(str(run_id))
    return gone


AGE_BANDS = ("under_30", "30_44", "45_59", "60_74", "75_plus", "unknown")
HOUSEHOLD_TYPES = ("alone", "couple", "family", "single_parent", "other")


def _age_band(oldest: dt.date | None, today: dt.date) -> str:
    if oldest is None:
        return "unknown"
    age = today.year - oldest.year - ((today.month, today.day) < (oldest.month, oldest.day))
    for limit, band in ((30, "under_30"), (45, "30_44"), (60, "45_59"), (75, "60_74")):
        if age < limit:
            return band
    return "75_plus"


def _household_type(members: int, relationships: set[str]) -> str:
    has_partner = Relationship.SPOUSE in relationships
    has_child = Relationship.CHILD in relationships
    if members <= 1:
        return "alone"
    if has_partner:
        return "family" if has_child else "couple"
    return "single_parent" if has_child else "other"


def population(today: dt.date | None = None) -> pa.Table:
    """The households a screening scores, with what the bias report groups them by.

    Columns: household_id, territory_id, age_band (of the oldest member), household_type,
    open_case (a case file is open: the household is followed already) and team_id (the
    team of its last case file, if any). No name, no address: the pipeline needs none.
    """
    today = today or dt.date.today()
    households = Household.objects.filter(anonymised_at__isnull=True).order_by("pk")
    ids, territories = [], []
    for pk, territory_id in households.values_list("pk", "territory_id").iterator(2000):
        ids.append(pk)
        territories.append(territory_id)
    persons = Person.objects.filter(household__isnull=False, merged_into__isnull=True,
                                    erased_at__isnull=True)
    members: dict[int, int] = defaultdict(int)
    oldest: dict[int, dt.date] = {}
    for household_id, birth_date in persons.values_list("household_id", "birth_date"
                                                       ).iterator(2000):
        members[household_id] += 1
        if birth_date and (household_id not in oldest or birth_date < oldest[household_id]):
            oldest[household_id] = birth_date
    relationships: dict[int, set[str]] = defaultdict(set)
    current = Membership.objects.filter(until__isnull=True, person__merged_into__isnull=True,
                                        person__household_id=F("household_id"))
    for household_id, relationship in current.values_list("household_id", "relationship"
                                                          ).iterator(2000):
        relationships[household_id].add(relationship)
    open_case: set[int] = set()
    last_team: dict[int, int] = {}
    files = CaseFile.objects.order_by("household_id", "opened_at", "pk")
    for household_id, status, team_id in files.values_list("household_id", "status", "team_id"
                                                           ).iterator(2000):
        last_team[household_id] = team_id
        if status == CaseStatus.OPEN:
            open_case.add(household_id)
    return pa.table({
        "household_id": pa.array(ids, pa.int64()),
        "territory_id": pa.array(territories, pa.int64()),
        "age_band": pa.array([_age_band(oldest.get(h), today) for h in ids], pa.string()),
        "household_type": pa.array([_household_type(members[h], relationships[h]) for h in ids],
                                   pa.string()),
        "open_case": pa.array([h in open_case for h in ids], pa.bool_()),
        "team_id": pa.array([last_team.get(h) for h in ids], pa.int64()),
    })


def refresh_link_keys(actor: Actor) -> dict[str, int]:
    """Compute the households' own link digests from what the service knows, so that feed
    records meet them: the address of every household not anonymised (kept in step when it
    moves), and the identity number of each current member, unsealed here, in the secrecy
    layer, for this purpose only and audited once per refresh. Identifier keys are only
    added: a number seen once stays its household's until the household is anonymised.
    Returns how many keys were added and removed."""
    wanted = {}
    for pk, address, postcode, commune in Household.objects.filter(
            anonymised_at__isnull=True).exclude(address="").values_list(
            "pk", "address", "postcode", "commune").iterator(5000):
        digest = pseudonym.digest(KeyKind.ADDRESS,
                                  pseudonym.address_of(address, postcode, commune))
        if digest:
            wanted[pk] = digest
    existing = dict(LinkKey.objects.filter(kind=KeyKind.ADDRESS).values_list("household_id",
                                                                            "digest"))
    moved = [pk for pk, digest in existing.items() if wanted.get(pk) != digest]
    removed, _ = LinkKey.objects.filter(kind=KeyKind.ADDRESS, household_id__in=moved).delete()
    keys = [LinkKey(household_id=pk, kind=KeyKind.ADDRESS, digest=digest)
            for pk, digest in wanted.items() if existing.get(pk) != digest]
    numbers = 0
    for household_id, sealed in Person.objects.filter(
            household__anonymised_at__isnull=True, merged_into__isnull=True,
            household__isnull=False).exclude(identity_number_sealed="").values_list(
            "household_id", "identity_number_sealed").iterator(2000):
        digest = pseudonym.digest(KeyKind.IDENTIFIER,
                                  crypto.unseal(household_id, sealed, IDENTITY_NUMBER))
        if digest:
            keys.append(LinkKey(household_id=household_id, kind=KeyKind.IDENTIFIER,
                                digest=digest))
            numbers += 1
    before = LinkKey.objects.count()
    LinkKey.objects.bulk_create(keys, ignore_conflicts=True, batch_size=2000)
    added = LinkKey.objects.count() - before
    policy.record(actor, AuditAction.READ, "screening_link_keys",
                  detail=f"link keys refreshed: {len(wanted)} addresses, {numbers} identity "
                         f"numbers read; {added} added, {removed} removed")
    return {"added": added, "removed": removed}


def link_keys() -> pa.Table:
    """Every household's link digests (household_id, kind, digest), for the pipeline."""
    rows = LinkKey.objects.filter(household__anonymised_at__isnull=True).order_by("pk")
    ids, kinds, digests = [], [], []
    for household_id, kind, digest in rows.values_list("household_id", "kind", "digest"
                                                       ).iterator(5000):
        ids.append(household_id)
        kinds.append(kind)
        digests.append(digest)
    return pa.table({"household_id": pa.array(ids, pa.int64()),
                     "kind": pa.array(kinds, pa.string()),
                     "digest": pa.array(digests, pa.string())})


def waiting_leads(household_ids: Collection[int] | None = None
                  ) -> dict[int, tuple[float, int | None]]:
    """Each household's latest lead still waiting for a visit, as (scorecard points, team);
    all households when `household_ids` is None."""
    from .models import Lead

    leads = Lead.objects.filter(outcome="")
    if household_ids is not None:
        leads = leads.filter(household_id__in=household_ids)
    found: dict[int, tuple[float, int | None]] = {}
    for household_id, points, team_id in (leads.order_by("household_id", "-run_id")
                                          .values_list("household_id", "scorecard", "team_id")):
        found.setdefault(household_id, (points, team_id))
    return found
