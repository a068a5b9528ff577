"""The case file's domain: notes, assessments, plans, referrals, timeline and search."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, prefetch_related_objects
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from entraide import french, korean
from entraide.choices import chosen_id
from entraide.concurrency import FieldChange, StaleEdit, save_if_current
from entraide.org.models import Role, Team
from entraide.org.services import agents_who_may_follow
from entraide.people.models import Household, Person
from entraide.secrecy import crypto, policy, sealed
from entraide.secrecy.crypto import LEVEL_COMMENT, NOTE_BODY
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from .models import (
    Action,
    ActionStatus,
    Assessment,
    CaseFile,
    CaseStatus,
    Domain,
    DomainLevel,
    EventKind,
    Goal,
    Note,
    NoteKind,
    NoteTerm,
    ReceptionEntry,
    Referral,
    TimelineEvent,
)


def _event(case_file: CaseFile, kind: str, object_id: int, at: dt.datetime,
           summary: str = "") -> None:
    TimelineEvent.objects.create(case_file=case_file, kind=kind, object_id=object_id, at=at,
                                 summary=summary[:200])


# Timeline events whose summary says it all (their object lives in another capability).
SUMMARY_ONLY = frozenset({EventKind.STATUS, EventKind.ALERT})


def record_alert(household_id: int, alert_id: int, at: dt.datetime, summary: str) -> None:
    """Show a telecare alert in the timeline of the household's open case files."""
    for case_file in CaseFile.objects.filter(household_id=household_id,
                                             status=CaseStatus.OPEN):
        _event(case_file, EventKind.ALERT, alert_id, at, summary)


# --- case files ----------------------------------------------------------------------------

def open_new_case_file(actor: Actor, household: Household, team: Team, person: Person | None,
                       reason: str) -> CaseFile:
    """Open a case file for a household just registered, and log the visit that opened it."""
    now = timezone.now()
    referent = actor.user if actor.role == Role.SOCIAL_WORKER else None
    case_file = CaseFile.objects.create(household=household, team=team, referent=referent,
                                        opened_at=now)
    _event(case_file, EventKind.STATUS, case_file.pk, now, "opened")
    policy.record(actor, AuditAction.CREATE, "case_file", case_file.pk, household.pk)
    entry = sealed.create(ReceptionEntry, {"reason": reason}, household=household,
                          person=person, case_file=case_file, received_by=actor.user, at=now)
    _event(case_file, EventKind.RECEPTION, entry.pk, now)
    return case_file


def case_file_of(actor: Actor, household_id: int) -> CaseFile | None:
    """The household's case file the agent may read (open one first), or holds an emergency
    access to, without auditing."""
    found = (policy.readable_case_files(actor.user).filter(household_id=household_id)
             .order_by("status", "-opened_at").first())
    if found is None and actor.role in policy.FILE_ROLES:
        for case_file in CaseFile.objects.filter(household_id=household_id):
            if policy.active_emergency_access(actor.user, case_file.pk):
                return case_file
    return found


def emergency_target(household_id: int) -> CaseFile:
    """The case file an emergency access to a household opens: its open one, else the latest."""
    case_file = (CaseFile.objects.filter(household_id=household_id)
                 .order_by("status", "-opened_at").first())
    if case_file is None:
        raise Http404(_("This household has no case file."))
    return case_file


def log_reception(actor: Actor, household_id: int, person_id: int | None,
                  reason: str) -> ReceptionEntry:
    """Record a visit or call at the desk for a household the agent may identify."""
    household = policy.guard_household(actor, household_id)
    case_file = household.case_files.order_by("status", "-opened_at").first()
    if person_id is not None and not household.members.filter(pk=person_id).exists():
        raise Http404(_("This person is not a member of the household."))
    entry = sealed.create(ReceptionEntry, {"reason": reason}, household=household,
                          person_id=person_id, case_file=case_file, received_by=actor.user,
                          at=timezone.now())
    if case_file is not None:
        _event(case_file, EventKind.RECEPTION, entry.pk, entry.at)
    policy.record(actor, AuditAction.CREATE, "reception", entry.pk, household.pk)
    return entry


def receptions_of(actor: Actor, household_id: int, limit: int = 20) -> list[ReceptionEntry]:
    """The latest visits at the desk, for agents who may identify the household."""
    household = policy.guard_household(actor, household_id)
    return list(
        ReceptionEntry.objects.filter(household=household)
        .select_related("person", "received_by")
        .order_by("-at")[:limit]
    )


def update_case_file(actor: Actor, case_file_id: int, version: int,
                     changes: dict[str, Any]) -> CaseFile:
    """Change the referent or status of a case file, refused if someone saved in between."""
    case_file = policy.guard_case_file(actor, case_file_id)
    changes = {k: v for k, v in changes.items() if k in CaseFile.EDITABLE}
    if changes.get("referent_id", case_file.referent_id) != case_file.referent_id:
        chosen_id(agents_who_may_follow(case_file.team), changes["referent_id"], "referent_id")
    if changes.get("status") == CaseStatus.CLOSED and case_file.status != CaseStatus.CLOSED:
        changes["closed_at"] = timezone.now()
    elif changes.get("status") == CaseStatus.OPEN:
        changes["closed_at"] = None
    updated = save_if_current(CaseFile, case_file_id, version, changes)
    if updated.status != case_file.status:
        _event(updated, EventKind.STATUS, updated.pk, timezone.now(), updated.status)
    policy.record(actor, AuditAction.UPDATE, "case_file", case_file_id, case_file.household_id,
                  detail=",".join(sorted(changes)))
    return updated


@dataclass
class CaseFileView:
    """Everything the household page shows, read once under one audit record."""

    case_file: CaseFile
    household: Household
    members: list[Person]
    levels: dict[str, DomainLevel]
    goals: list[Goal]
    referrals: list[Referral]
    timeline: TimelinePage


def read_case_file(actor: Actor, case_file_id: int) -> CaseFileView:
    """Open a case file with its members, current assessment, plan and first timeline page."""
    from entraide.people.services import members_of

    case_file = policy.open_case_file(actor, case_file_id)
    return CaseFileView(
        case_file=case_file,
        household=case_file.household,
        members=members_of(case_file.household),
        levels=_current_levels(case_file),
        goals=list(case_file.goals.prefetch_related("actions__owner").order_by("status", "pk")),
        referrals=list(case_file.referrals.order_by("-created_at")),
        timeline=_timeline(actor, case_file, 1),
    )


# --- timeline ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineItem:
    at: dt.datetime
    kind: str
    obj: Any
    summary: str = ""


@dataclass
class TimelinePage:
    items: list[TimelineItem]
    page: int
    has_next: bool
    case_file_id: int = 0
    count: int | None = field(default=None)


_LOADERS = {
    EventKind.ASSESSMENT: lambda ids: Assessment.objects.filter(pk__in=ids)
    .select_related("author").prefetch_related("levels"),
    EventKind.GOAL: lambda ids: Goal.objects.filter(pk__in=ids).select_related("case_file"),
    EventKind.ACTION: lambda ids: Action.objects.filter(pk__in=ids)
    .select_related("goal__case_file", "owner"),
    EventKind.REFERRAL: lambda ids: Referral.objects.filter(pk__in=ids).select_related("case_file"),
    EventKind.RECEPTION: lambda ids: ReceptionEntry.objects.filter(pk__in=ids)
    .select_related("person", "received_by"),
}


def _timeline(actor: Actor, case_file: CaseFile, page: int) -> TimelinePage:
    size = settings.ENTRAIDE_TIMELINE_PAGE_SIZE
    page = max(1, page)
    events = list(
        TimelineEvent.objects.filter(case_file=case_file)
        .order_by("-at", "-id")[(page - 1) * size: page * size + 1]
    )
    has_next = len(events) > size
    events = events[:size]
    by_kind: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event.object_id)
    objects: dict[tuple[str, int], Any] = {}
    if ids := by_kind.get(EventKind.NOTE):
        # A note event points to the note's first version; show its current one.
        notes = list(Note.objects.filter(Q(pk__in=ids) | Q(first_id__in=ids), is_current=True)
                     .select_related("author"))
        _reveal(actor, notes, case_file)
        for note in notes:
            objects[(EventKind.NOTE, note.thread_id)] = note
    for kind, loader in _LOADERS.items():
        if ids := by_kind.get(kind):
            for obj in loader(ids):
                objects[(kind, obj.pk)] = obj
    items = [
        TimelineItem(e.at, e.kind, objects.get((e.kind, e.object_id)), e.summary)
        for e in events
        if e.kind in SUMMARY_ONLY or (e.kind, e.object_id) in objects
    ]
    return TimelinePage(items, page, has_next, case_file.pk)


def timeline(actor: Actor, case_file_id: int, page: int = 1) -> TimelinePage:
    """One page of a case file's timeline, newest first (audited as a read)."""
    case_file = policy.open_case_file(actor, case_file_id)
    return _timeline(actor, case_file, page)


# --- notes -----------------------------------------------------------------------------------

def _reveal(actor: Actor, notes: list[Note], case_file: CaseFile | None = None) -> None:
    """Decrypt notes for a reader already in need-to-know; sensitive ones only for their
    author and the referent (others get None, and see that the note exists)."""
    for note in notes:
        file = case_file or note.case_file
        if note.sensitive and not policy.can_read_sensitive(actor.user, note.author_id, file):
            note._body = None  # type: ignore[attr-defined]
        else:
            note._body = crypto.unseal_or_erased(file.household_id, note.body_sealed, NOTE_BODY)  # type: ignore[attr-defined]


def _index_note(note: Note, text: str) -> None:
    NoteTerm.objects.bulk_create(
        NoteTerm(term=crypto.blind(t), note=note, case_file_id=note.case_file_id,
                 restricted=note.sensitive)
        for t in french.terms(text)
    )


@dataclass
class Reindexed:
    """What a re-indexing run did: notes read, those with Korean words, the last one done."""

    notes: int = 0
    korean: int = 0
    last_note_id: int = 0


def reindex_notes(actor: Actor, after_note_id: int = 0, batch_size: int = 500,
                  after_batch: Callable[[Reindexed], None] | None = None) -> Reindexed:
    """Recompute the blind index of every current note after `after_note_id`, in batches
    that each commit (a run stopped at any point resumes from the last note done).

    A system batch: it decrypts notes only to compute their terms, shows them to nobody,
    and writes one audit record with its counts."""
    policy.guard_role(actor, actor.role == Role.DPO and not actor.user.is_active,
                      "note_index")
    done = Reindexed(last_note_id=after_note_id)
    while True:
        with transaction.atomic():
            batch = list(Note.objects.filter(is_current=True, pk__gt=done.last_note_id)
                         .select_related("case_file").order_by("pk")[:batch_size])
            if not batch:
                break
            NoteTerm.objects.filter(note__in=batch).delete()
            for note in batch:
                text = crypto.unseal_or_erased(note.case_file.household_id, note.body_sealed,
                                               NOTE_BODY)
                if note.body_sealed:
                    _index_note(note, text)
                done.korean += korean.has_hangul(text)
            done.notes += len(batch)
            done.last_note_id = batch[-1].pk
        if after_batch is not None:
            after_batch(done)
    policy.record(actor, AuditAction.UPDATE, "note_index",
                  detail=f"re-indexed {done.notes} notes after note {after_note_id} "
                         f"({done.korean} with Korean words)")
    return done


@policy.atomic
def add_note(actor: Actor, case_file_id: int, kind: str, body: str,
             at: dt.datetime | None = None, sensitive: bool = False) -> Note:
    """Write a new note in a case file, encrypted, with its blind index."""
    case_file = policy.guard_case_file(actor, case_file_id)
    note = Note.objects.create(
        case_file=case_file, kind=kind, author=actor.user, created_at=at or timezone.now(),
        body_sealed=crypto.seal(case_file.household_id, body, NOTE_BODY), sensitive=sensitive)
    note._body = body  # type: ignore[attr-defined]
    _index_note(note, body)
    _event(case_file, EventKind.NOTE, note.pk, note.created_at)
    policy.record(actor, AuditAction.CREATE, "note", note.pk, case_file.household_id)
    return note


@policy.atomic
def correct_note(actor: Actor, note_id: int, version_no: int, body: str,
                 kind: str | None = None) -> Note:
    """Correct a note by writing its next version; the corrected one stays in history."""
    current = Note.objects.filter(pk=note_id).first()
    if current is None:
        raise Http404(_("No note with this number."))
    case_file = policy.guard_case_file(actor, current.case_file_id)
    thread = current.thread_id
    latest = Note.objects.select_for_update().get(
        Q(pk=thread) | Q(first_id=thread), is_current=True
    )
    _reveal(actor, [latest], case_file)
    if latest.hidden:
        raise policy.Denied(_("Only the author and the referent can correct a sensitive note."))
    if latest.version_no != version_no:
        raise StaleEdit(latest, latest.version_no, version_no,
                        [FieldChange("body", _("text"), latest.body, body)])
    Note.objects.filter(pk=latest.pk).update(is_current=False)
    NoteTerm.objects.filter(note=latest).delete()
    note = Note.objects.create(
        case_file=case_file, kind=kind or latest.kind, author=actor.user,
        body_sealed=crypto.seal(case_file.household_id, body, NOTE_BODY),
        sensitive=latest.sensitive, created_at=timezone.now(), first_id=thread,
        version_no=latest.version_no + 1,
    )
    note._body = body  # type: ignore[attr-defined]
    _index_note(note, body)
    policy.record(actor, AuditAction.UPDATE, "note", note.pk, case_file.household_id,
                  detail=f"correction of note {thread}, version {note.version_no}")
    return note


def note_history(actor: Actor, note_id: int) -> list[Note]:
    """Every version of a note, newest first (audited as a read of the note)."""
    note = Note.objects.filter(pk=note_id).first()
    if note is None:
        raise Http404(_("No note with this number."))
    case_file = policy.guard_case_file(actor, note.case_file_id)
    thread = note.thread_id
    versions = list(Note.objects.filter(Q(pk=thread) | Q(first_id=thread))
                    .select_related("author").order_by("-version_no"))
    _reveal(actor, versions, case_file)
    policy.record(actor, AuditAction.READ, "note", thread, case_file.household_id)
    return versions


def notes_of(actor: Actor, case_file_id: int, limit: int, offset: int) -> tuple[list[Note], int]:
    """Current notes of a case file, newest first (audited as a read)."""
    case_file = policy.open_case_file(actor, case_file_id)
    queryset = Note.objects.filter(case_file=case_file, is_current=True)
    notes = list(queryset.select_related("author").order_by("-created_at", "-pk")
                 [offset:offset + limit])
    _reveal(actor, notes, case_file)
    return notes, queryset.count()


# --- assessment ------------------------------------------------------------------------------

def _reveal_comments(case_file: CaseFile, levels: list[DomainLevel]) -> list[DomainLevel]:
    for level in levels:
        level._comment = crypto.unseal_or_erased(  # type: ignore[attr-defined]
            case_file.household_id, level.comment_sealed, LEVEL_COMMENT)
    return levels


def _current_levels(case_file: CaseFile) -> dict[str, DomainLevel]:
    levels: dict[str, DomainLevel] = {}
    for level in _reveal_comments(case_file, list(
            DomainLevel.objects.filter(assessment__case_file=case_file)
            .select_related("assessment").order_by("assessment__created_at", "assessment_id"))):
        levels[level.domain] = level
    return levels


@policy.atomic
def assess(actor: Actor, case_file_id: int, levels: dict[str, tuple[int, str]]) -> Assessment:
    """Record a needs-and-strengths assessment for some or all domains."""
    case_file = policy.guard_case_file(actor, case_file_id)
    unknown = set(levels) - set(Domain.values)
    if unknown:
        raise ValueError(_("Unknown domain: %s") % ", ".join(sorted(unknown)))
    if not levels:
        raise ValueError(_("Give a level for at least one domain."))
    assessment = Assessment.objects.create(case_file=case_file, author=actor.user,
                                           created_at=timezone.now())
    DomainLevel.objects.bulk_create(
        DomainLevel(assessment=assessment, domain=d, level=lv,
                    comment_sealed=crypto.seal(case_file.household_id, c, LEVEL_COMMENT))
        for d, (lv, c) in levels.items()
    )
    # The author reads back what they wrote, as any reader does: comments revealed.
    prefetch_related_objects([assessment], "levels")
    _reveal_comments(case_file, list(assessment.levels.all()))
    _event(case_file, EventKind.ASSESSMENT, assessment.pk, assessment.created_at)
    policy.record(actor, AuditAction.CREATE, "assessment", assessment.pk, case_file.household_id)
    return assessment


def assessments_of(actor: Actor, case_file_id: int) -> tuple[CaseFile, list[Assessment]]:
    """All assessments of a case file, newest first: the history of each domain."""
    case_file = policy.open_case_file(actor, case_file_id)
    assessments = list(case_file.assessments.select_related("author")
                       .prefetch_related("levels").order_by("-created_at", "-pk"))
    for assessment in assessments:
        _reveal_comments(case_file, list(assessment.levels.all()))
    return case_file, assessments


# --- support plan and referrals ----------------------------------------------------------------

@policy.atomic
def add_goal(actor: Actor, case_file_id: int, domain: str, title: str) -> Goal:
    """Add a goal to the support plan."""
    case_file = policy.guard_case_file(actor, case_file_id)
    goal = sealed.create(Goal, {"title": title}, case_file=case_file, domain=domain,
                         created_at=timezone.now())
    _event(case_file, EventKind.GOAL, goal.pk, goal.created_at)
    policy.record(actor, AuditAction.CREATE, "goal", goal.pk, case_file.household_id)
    return goal


def update_goal(actor: Actor, goal_id: int, version: int, changes: dict[str, Any]) -> Goal:
    """Change a goal, refused if someone saved it in between."""
    goal = Goal.objects.filter(pk=goal_id).first()
    if goal is None:
        raise Http404(_("No goal with this number."))
    case_file = policy.guard_case_file(actor, goal.case_file_id)
    changes = {k: v for k, v in changes.items() if k in Goal.EDITABLE}
    updated = save_if_current(Goal, goal_id, version, changes)
    policy.record(actor, AuditAction.UPDATE, "goal", goal_id, case_file.household_id)
    return updated


@policy.atomic
def add_action(actor: Actor, goal_id: int, title: str, owner_id: int | None,
               due_date: dt.date | None) -> Action:
    """Add an action to a goal of the plan."""
    goal = Goal.objects.filter(pk=goal_id).first()
    if goal is None:
        raise Http404(_("No goal with this number."))
    case_file = policy.guard_case_file(actor, goal.case_file_id)
    owner_id = chosen_id(agents_who_may_follow(case_file.team), owner_id, "owner_id")
    action = sealed.create(Action, {"title": title}, goal=goal, owner_id=owner_id,
                           due_date=due_date, created_at=timezone.now())
    _event(case_file, EventKind.ACTION, action.pk, action.created_at)
    policy.record(actor, AuditAction.CREATE, "action", action.pk, case_file.household_id)
    return action


def update_action(actor: Actor, action_id: int, version: int, changes: dict[str, Any]) -> Action:
    """Change an action (status, owner, due date), refused if someone saved it in between."""
    action = Action.objects.select_related("goal").filter(pk=action_id).first()
    if action is None:
        raise Http404(_("No action with this number."))
    case_file = policy.guard_case_file(actor, action.goal.case_file_id)
    changes = {k: v for k, v in changes.items() if k in Action.EDITABLE}
    if changes.get("owner_id", action.owner_id) != action.owner_id:
        chosen_id(agents_who_may_follow(case_file.team), changes["owner_id"], "owner_id")
    updated = save_if_current(Action, action_id, version, changes)
    policy.record(actor, AuditAction.UPDATE, "action", action_id, case_file.household_id)
    return updated


def plan_of(actor: Actor, case_file_id: int) -> tuple[CaseFile, list[Goal]]:
    """The support plan: goals with their actions (audited as a read)."""
    case_file = policy.open_case_file(actor, case_file_id)
    return case_file, list(case_file.goals.prefetch_related("actions__owner").order_by("pk"))


@policy.atomic
def add_referral(actor: Actor, case_file_id: int, service: str, reason: str) -> Referral:
    """Refer the household to another service."""
    case_file = policy.guard_case_file(actor, case_file_id)
    referral = sealed.create(Referral, {"service": service, "reason": reason},
                             case_file=case_file, created_by=actor.user,
                             created_at=timezone.now())
    _event(case_file, EventKind.REFERRAL, referral.pk, referral.created_at)
    policy.record(actor, AuditAction.CREATE, "referral", referral.pk, case_file.household_id)
    return referral


def update_referral(actor: Actor, referral_id: int, version: int, status: str) -> Referral:
    """Follow a referral's answer, refused if someone saved it in between."""
    referral = Referral.objects.filter(pk=referral_id).first()
    if referral is None:
        raise Http404(_("No referral with this number."))
    case_file = policy.guard_case_file(actor, referral.case_file_id)
    updated = save_if_current(Referral, referral_id, version, {"status": status})
    policy.record(actor, AuditAction.UPDATE, "referral", referral_id, case_file.household_id)
    return updated


# --- caseload and search -----------------------------------------------------------------------

@dataclass(frozen=True)
class CaseloadRow:
    case_file: CaseFile
    members: list[Person]
    overdue_actions: int


def caseload(actor: Actor, limit: int = 50, offset: int = 0) -> tuple[list[CaseloadRow], int]:
    """The agent's open case files, most recently active first (one audit record)."""
    policy.guard_role(actor, actor.role in policy.FILE_ROLES, "caseload")
    mine = Q(referent=actor.user) if actor.role == Role.SOCIAL_WORKER else Q()
    queryset = (policy.readable_case_files(actor.user).filter(mine, status=CaseStatus.OPEN)
                .select_related("household"))
    total = queryset.count()
    files = list(queryset.order_by("-updated_at", "-pk")[offset:offset + limit])
    today = timezone.localdate()
    overdue = dict(
        Action.objects.filter(goal__case_file__in=files, due_date__lt=today,
                              status__in=["todo", "doing"])
        .values_list("goal__case_file").annotate(n=Count("id")).values_list("goal__case_file", "n")
    )
    members: dict[int, list[Person]] = defaultdict(list)
    for person in Person.objects.filter(household__in=[f.household_id for f in files],
                                        merged_into__isnull=True).order_by("birth_date"):
        members[person.household_id].append(person)  # type: ignore[index]
    policy.record(actor, AuditAction.READ, "caseload", detail=f"{len(files)} files")
    return [CaseloadRow(f, members[f.household_id], overdue.get(f.pk, 0)) for f in files], total


@dataclass(frozen=True)
class NoteHit:
    note: Note
    matches: int


@dataclass(frozen=True)
class SearchResult:
    """One page of notes found, with how many notes match (counted up to SEARCH_COUNT_CAP)."""

    hits: list[NoteHit]
    count: int

    @property
    def count_is_lower_bound(self) -> bool:
        return self.count >= SEARCH_COUNT_CAP


SEARCH_COUNT_CAP = 1000


def _rarest(terms: list[str], cap: int = 200_000) -> str:
    """The term with the fewest postings, counting each no further than the best so far."""
    best, best_count = terms[0], cap
    for term in terms:
        count = NoteTerm.objects.filter(term=term)[:best_count].count()
        if count < best_count:
            best, best_count = term, count
    return best


def search_notes(actor: Actor, query: str, limit: int = 20, offset: int = 0) -> SearchResult:
    """Current notes containing the query's words (accents and plurals ignored) that the
    agent may read, ranked by words matched then recency."""
    policy.guard_role(actor, actor.role in policy.FILE_ROLES, "note_search")
    wanted = sorted({crypto.blind(t) for t in french.terms(query)})[:12]
    # The words searched are secret too: the audit keeps their blind-index entries only.
    policy.record(actor, AuditAction.SEARCH, "note",
                  detail="terms " + " ".join(t[:8] for t in wanted))
    if not wanted:
        return SearchResult([], 0)
    # Postings of sensitive notes count only for their author and referent.
    readable = policy.case_file_readable(actor.user, "case_file_id") & (
        Q(restricted=False) | Exists(Note.objects.filter(
            Q(author=actor.user) | Q(case_file__referent=actor.user), pk=OuterRef("note_id"))))
    postings = NoteTerm.objects.filter(readable)
    need = offset + limit
    # Notes holding every word rank first: walk the rarest word's postings newest first and
    # keep those that hold the others too; this stops after one page instead of ranking all.
    rarest = _rarest(wanted)
    every_word = NoteTerm.objects.filter(term=rarest)
    for term in wanted:
        if term != rarest:  # the cheap probe first: most postings fail it
            every_word = every_word.filter(
                Exists(NoteTerm.objects.filter(note_id=OuterRef("note_id"), term=term)))
    every_word = every_word.filter(readable)
    ranked = [(note_id, len(wanted)) for note_id in
              every_word.order_by("-note_id").values_list("note_id", flat=True)[:need]]
    if len(ranked) < need and len(wanted) == 2:
        # Fewer notes than a page hold both words: the rest of the page is the newest notes
        # holding one of them, found among each word's newest postings without ranking all.
        both = {note_id for note_id, _ in ranked}
        newest: set[int] = set()
        for term in wanted:
            newest.update(postings.filter(term=term).order_by("-note_id")
                          .values_list("note_id", flat=True)[:need + len(both)])
        ranked += [(note_id, 1) for note_id in sorted(newest - both, reverse=True)]
    elif len(ranked) < need and len(wanted) > 2:
        ranked = list(postings.filter(term__in=wanted).values("note_id")
                      .annotate(hits=Count("id")).order_by("-hits", "-note_id")
                      .values_list("note_id", "hits")[:need])
    page = ranked[offset:need]
    total = (postings.filter(term__in=wanted).values("note_id").distinct()
             [:SEARCH_COUNT_CAP].count())
    notes = Note.objects.select_related("case_file").in_bulk([note_id for note_id, _ in page])
    _reveal(actor, list(notes.values()))
    return SearchResult([NoteHit(notes[n], hits) for n, hits in page if n in notes], total)


def search_persons(actor: Actor, query: str, limit: int = 20) -> list[Any]:
    """Persons by name, among households the agent may identify."""
    from entraide.people.services import find_candidates

    return [c for c in find_candidates(actor, query, limit=limit * 3) if c.identifiable][:limit]


def household_view_for_reception(actor: Actor, household_id: int) -> dict[str, Any]:
    """What the desk may see of a household: members and visits, not the file's content."""
    from entraide.people.services import household_members

    household, members = household_members(actor, household_id)
    return {"household": household, "members": members,
            "receptions": list(household.receptions.select_related("person", "received_by")
                               .order_by("-at")[:20])}


def describe(item: TimelineItem) -> str:
    """A plain-text line for a timeline item, as the API returns it."""
    obj = item.obj
    if item.kind == EventKind.NOTE:
        return f"{obj.get_kind_display()}: {obj.body if not obj.hidden else _('(sensitive)')}"
    if item.kind == EventKind.ASSESSMENT:
        return ", ".join(f"{lv.get_domain_display()} {lv.level}" for lv in obj.levels.all())
    if item.kind == EventKind.GOAL:
        return f"{obj.get_domain_display()}: {obj.title}"
    if item.kind == EventKind.ACTION:
        return f"{obj.title} ({obj.get_status_display()})"
    if item.kind == EventKind.REFERRAL:
        return f"{obj.service}: {obj.reason}"
    if item.kind == EventKind.RECEPTION:
        return obj.reason
    return item.summary


def goal_case_file(actor: Actor, goal_id: int) -> CaseFile:
    """The case file a goal belongs to, if the agent may write in it."""
    goal = Goal.objects.filter(pk=goal_id).first()
    if goal is None:
        raise Http404(_("No goal with this number."))
    return policy.guard_case_file(actor, goal.case_file_id)


def get_action(actor: Actor, action_id: int) -> tuple[Action, CaseFile]:
    """One action of a plan with its case file (audited as a read)."""
    action = Action.objects.select_related("goal", "owner").filter(pk=action_id).first()
    if action is None:
        raise Http404(_("No action with this number."))
    case_file = policy.guard_case_file(actor, action.goal.case_file_id)
    policy.record(actor, AuditAction.READ, "action", action.pk, case_file.household_id)
    return action, case_file


# --- for the welfare map ---------------------------------------------------------------------

@dataclass
class FileSignals:
    """What an open case file says about a household's crisis level."""

    case_file_id: int
    team_id: int
    highest_level: int | None = None
    overdue_actions: int = 0


def file_signals(household_ids: Collection[int] | None = None,
                 today: dt.date | None = None) -> dict[int, FileSignals]:
    """For each household with an open case file: its team, the highest domain level of
    its latest assessment and how many plan actions are past their due date."""
    today = today or timezone.localdate()
    files = CaseFile.objects.filter(status=CaseStatus.OPEN)
    if household_ids is not None:
        files = files.filter(household_id__in=household_ids)
    signals: dict[int, FileSignals] = {}
    by_file: dict[int, FileSignals] = {}
    for file_id, household_id, team_id in files.order_by("opened_at").values_list(
            "pk", "household_id", "team_id"):
        signals[household_id] = by_file[file_id] = FileSignals(file_id, team_id)
    latest: dict[int, int] = {}
    for file_id, assessment_id in (Assessment.objects.filter(case_file__in=files)
                                   .order_by("case_file_id", "created_at", "pk")
                                   .values_list("case_file_id", "pk")):
        latest[file_id] = assessment_id
    file_of = {assessment_id: file_id for file_id, assessment_id in latest.items()}
    for assessment_id, top in (DomainLevel.objects.filter(assessment_id__in=file_of)
                               .values("assessment_id").annotate(top=Max("level"))
                               .values_list("assessment_id", "top")):
        by_file[file_of[assessment_id]].highest_level = top
    for file_id, overdue in (Action.objects.filter(
            goal__case_file__in=files, status__in=(ActionStatus.TODO, ActionStatus.DOING),
            due_date__lt=today).values("goal__case_file_id").annotate(n=Count("pk"))
            .values_list("goal__case_file_id", "n")):
        if file_id in by_file:
            by_file[file_id].overdue_actions = overdue
    return signals


def last_home_visits(case_file_ids: Collection[int],
                     excluding: Collection[int] = ()) -> dict[int, dt.datetime]:
    """When each case file last recorded a home visit note, not counting the notes
    `excluding` (reports of visits where nobody was home)."""
    return dict(Note.objects.filter(case_file_id__in=case_file_ids, kind=NoteKind.HOME_VISIT)
                .exclude(pk__in=excluding)
                .values("case_file_id").annotate(last=Max("created_at"))
                .values_list("case_file_id", "last"))
