"""Home visits: who is due a visit by the policy table, a worker's day planned as a route
from the office and back, its calendar, and the report that becomes a note in the case file.

Every household named goes through the secrecy policy and leaves an audit record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Max, Min, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from entraide.cases import services as cases
from entraide.cases.models import CaseFile, CaseStatus, NoteKind
from entraide.people.models import Household
from entraide.secrecy import policy
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from . import routing
from .models import CrisisLevel, DayPlan, Office, Visit, VisitFrequency, VisitStatus

DAYS_PER_MONTH = 30
DUE_SOON_DAYS = 7  # the queue also shows visits due within the coming week, to plan ahead
DEFAULT_DURATION = 45
MAX_VISITS_PER_DAY = 60  # keeps the solver within its time limit


# --- the queue of visits due -----------------------------------------------------------------

@dataclass(frozen=True)
class DueVisit:
    """A household of the worker's that the policy table says is due a home visit."""

    household: Household
    case_file_id: int
    level: int
    visits_per_month: Decimal
    last_visit: dt.date | None
    due: dt.date
    overdue_days: int  # negative: due in that many days
    planned_for: dt.date | None  # already in a day plan, from today on


@dataclass(frozen=True)
class DuePage:
    rows: list[DueVisit]
    total: int
    office: Office | None


def _queue_case_files(actor: Actor) -> dict[int, int]:
    """The open case files the worker follows (as referent, or through their team), one per
    household: the household's id → its case file's id, the worker's own file first."""
    user = actor.user
    files = (policy.readable_case_files(user)
             .filter(Q(referent_id=user.pk) | Q(team_id=user.team_id), status=CaseStatus.OPEN,
                     household__anonymised_at__isnull=True)
             .order_by("household_id", "-opened_at"))
    chosen: dict[int, int] = {}
    for file_id, household_id, referent_id in files.values_list("pk", "household_id",
                                                                "referent_id"):
        if household_id not in chosen or referent_id == user.pk:
            chosen[household_id] = file_id
    return chosen


def _last_visits(household_of: dict[int, int]) -> dict[int, dt.datetime]:
    """When each household was last visited: a visit reported done, or a home-visit note
    (reports of visits where nobody was home do not count)."""
    households = list(household_of.values())
    missed_notes = [note_id for note_id in Visit.objects.filter(
        household_id__in=households, status=VisitStatus.MISSED)
        .values_list("report_note_id", flat=True) if note_id is not None]
    last = {household_of[file_id]: at for file_id, at in
            cases.last_home_visits(list(household_of), excluding=missed_notes).items()}
    for household_id, at in (Visit.objects.filter(household_id__in=households,
                                                   status=VisitStatus.DONE)
                             .values("household_id").annotate(at=Max("done_at"))
                             .values_list("household_id", "at")):
        if at is not None and (household_id not in last or at > last[household_id]):
            last[household_id] = at
    return last


def visits_due(actor: Actor, today: dt.date | None = None, limit: int = 50, offset: int = 0
               ) -> DuePage:
    """The worker's households due a home visit by now or within the week, the most overdue
    first, then the highest level; each household shown is audited.

    A household's level is its CrisisLevel (none yet: level 1); the policy table gives the
    visits a month at that level; the next visit is due 30 / that many days after the last
    one, or now if it was never visited; at 0 visits a month it is not in the queue.
    """
    policy.guard_role(actor, policy.can_plan_visits(actor.user), "visit")
    today = today or timezone.localdate()
    file_of = _queue_case_files(actor)
    levels = dict(CrisisLevel.objects.filter(household_id__in=list(file_of))
                  .values_list("household_id", "level"))
    frequency = dict(VisitFrequency.objects.values_list("level", "visits_per_month"))
    last = _last_visits({file_id: household_id for household_id, file_id in file_of.items()})
    planned = dict(Visit.objects.filter(household_id__in=list(file_of),
                                        status=VisitStatus.PLANNED, plan__day__gte=today)
                   .values("household_id").annotate(day=Min("plan__day"))
                   .values_list("household_id", "day"))
    due: list[tuple[dt.date, int, int, dt.date | None]] = []
    for household_id in file_of:
        level = levels.get(household_id, 1)
        per_month = frequency.get(level, Decimal(0))
        if per_month <= 0:
            continue
        visited = last.get(household_id)
        if visited is None:
            next_due, last_day = today, None
        else:
            interval = dt.timedelta(days=DAYS_PER_MONTH / float(per_month))
            next_due, last_day = timezone.localdate(visited + interval), timezone.localdate(visited)
        if (next_due - today).days <= DUE_SOON_DAYS:
            due.append((next_due, -level, household_id, last_day))
    due.sort(key=lambda row: row[:3])
    shown = due[offset:offset + limit]
    households = Household.objects.in_bulk([row[2] for row in shown])
    rows = []
    for next_due, minus_level, household_id, last_day in shown:
        policy.record(actor, AuditAction.READ, "household", household_id, household_id,
                      detail="visits due")
        rows.append(DueVisit(households[household_id], file_of[household_id], -minus_level,
                             frequency[-minus_level], last_day, next_due,
                             (today - next_due).days, planned.get(household_id)))
    return DuePage(rows, len(due), office_of(actor))


def office_of(actor: Actor) -> Office | None:
    """The office of the worker's team, where their days of visits start and end."""
    if actor.user.team_id is None:
        return None
    return Office.objects.filter(team_id=actor.user.team_id).first()


def day_plans(actor: Actor, since: dt.date | None = None) -> list[DayPlan]:
    """The worker's day plans from `since` (a week ago by default) on; no household named."""
    policy.guard_role(actor, policy.can_plan_visits(actor.user), "day_plan")
    since = since or timezone.localdate() - dt.timedelta(days=7)
    return list(DayPlan.objects.filter(worker=actor.user, day__gte=since)
                .order_by("day", "starts_at").prefetch_related("visits"))


# --- planning a day ----------------------------------------------------------------------------

@dataclass(frozen=True)
class VisitRequest:
    """A household to visit on the day, with when it can be seen and for how long (the whole
    day and DEFAULT_DURATION minutes when not said)."""

    household_id: int
    not_before: dt.time | None = None
    not_after: dt.time | None = None
    duration: int | None = None


class CannotFit(ValueError):
    """Some visits cannot fit in the day; the message names them (by address) and why."""

    def __init__(self, message: str, left_out: dict[int, str]):
        super().__init__(message)
        self.left_out = left_out  # household id → why, in words


REASONS = {
    routing.Reason.WINDOW_TOO_SHORT: gettext_lazy("the visit lasts longer than its time window"),
    routing.Reason.UNREACHABLE: gettext_lazy("its time window closes before one can get there "
                                             "from the office"),
    routing.Reason.DAY_TOO_SHORT: gettext_lazy("one could not be back at the office before "
                                               "the day ends"),
    routing.Reason.NO_ROOM: gettext_lazy("no time left for it between the other visits"),
}


def _minutes(time: dt.time) -> int:
    return time.hour * 60 + time.minute


def _time(minutes: int) -> dt.time:
    return dt.time(minutes // 60, minutes % 60)


def _plannable_case_file(actor: Actor, household_id: int) -> CaseFile:
    """The open case file through which the actor may plan a visit to this household;
    refused and recorded when it is not theirs to know."""
    found = (policy.readable_case_files(actor.user)
             .filter(household_id=household_id, status=CaseStatus.OPEN)
             .select_related("household").order_by("-opened_at").first())
    if found is not None:
        return found
    other = (CaseFile.objects.filter(household_id=household_id, status=CaseStatus.OPEN)
             .order_by("-opened_at").first())
    if other is None:
        raise Http404(_("Household %(id)s has no open case file.") % {"id": household_id})
    # Refuses and records, unless the actor holds an emergency access to that file.
    return policy.guard_case_file(actor, other.pk)


def _validate(day: dt.date, requests: Sequence[VisitRequest], starts: dt.time,
              ends: dt.time) -> None:
    if day < timezone.localdate():
        raise ValueError(_("Choose today or a later day."))
    if not requests:
        raise ValueError(_("Choose at least one visit."))
    if len(requests) > MAX_VISITS_PER_DAY:
        raise ValueError(_("At most %(n)d visits a day.") % {"n": MAX_VISITS_PER_DAY})
    if len({r.household_id for r in requests}) < len(requests):
        raise ValueError(_("The same household is chosen twice."))
    if starts >= ends:
        raise ValueError(_("The day must end after it starts."))
    for request in requests:
        if request.duration is not None and not 5 <= request.duration <= 480:
            raise ValueError(_("A visit lasts between 5 minutes and 8 hours."))
        if (request.not_before and request.not_after
                and request.not_before >= request.not_after):
            raise ValueError(_("A time window must end after it starts."))


@policy.atomic
def plan_day(actor: Actor, day: dt.date, requests: Sequence[VisitRequest],
             starts: dt.time | None = None, ends: dt.time | None = None,
             time_limit: float = 1.0) -> DayPlan:
    """Plan a worker's day: the chosen visits in the shortest order that respects every
    time window, from the team's office and back, saved and audited.

    All or nothing: when some visits cannot fit, CannotFit names them and why, and nothing
    is saved; the worker chooses what to drop or move (the page offers the rest again).
    """
    policy.guard_role(actor, policy.can_plan_visits(actor.user), "day_plan")
    office = office_of(actor)
    if office is None:
        raise ValueError(_("Your team has no office yet: a day of visits starts and ends "
                           "there. Ask the administrator to add it."))
    starts, ends = starts or office.opens, ends or office.closes
    _validate(day, requests, starts, ends)
    case_files = {r.household_id: _plannable_case_file(actor, r.household_id)
                  for r in requests}
    stops = []
    for request in requests:
        household = case_files[request.household_id].household
        if household.latitude is None or household.longitude is None:
            raise ValueError(_("%(address)s has no position on the map: correct its address "
                               "first.") % {"address": household})
        stops.append(routing.Stop(
            household.pk, household.latitude, household.longitude,
            _minutes(request.not_before or starts), _minutes(request.not_after or ends),
            request.duration or DEFAULT_DURATION, str(household)))
    route = routing.solve((office.latitude, office.longitude), stops, _minutes(starts),
                          _minutes(ends), time_limit=time_limit)
    if route.left_out:
        left_out = {int(o.stop.key): str(REASONS[o.reason]) for o in route.left_out}
        listed = "; ".join(f"{o.stop.label} ({left_out[int(o.stop.key)]})"
                           for o in route.left_out)
        raise CannotFit(_("These visits cannot fit in the day: %(visits)s. Plan without "
                          "them, or give them other times or another day.")
                        % {"visits": listed}, left_out)
    plan = DayPlan.objects.create(
        worker=actor.user, day=day, office=office, starts_at=starts, ends_at=ends,
        travel_minutes=route.travel_minutes, distance_m=route.distance_m,
        back_at=_time(route.back))
    by_household = {r.household_id: r for r in requests}
    visits = Visit.objects.bulk_create(
        Visit(plan=plan, household_id=int(p.stop.key),
              case_file=case_files[int(p.stop.key)], position=position,
              window_start=by_household[int(p.stop.key)].not_before or starts,
              window_end=by_household[int(p.stop.key)].not_after or ends,
              duration_minutes=p.stop.duration, arrival=_time(p.arrival))
        for position, p in enumerate(route.stops, start=1))
    policy.record(actor, AuditAction.CREATE, "day_plan", plan.pk,
                  detail=f"{day.isoformat()}, {len(visits)} visits")
    _record_visits(actor, AuditAction.CREATE, plan, visits)
    return plan


def _record_visits(actor: Actor, action: str, plan: DayPlan, visits: list[Visit]) -> None:
    """One audit record per household the plan names, so each household's trail shows it."""
    for visit in visits:
        policy.record(actor, action, "visit", visit.pk, visit.household_id,
                      detail=f"day plan {plan.pk}")


# --- reading a day plan ------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedVisit:
    visit: Visit
    ends: dt.time
    may_report: bool


@dataclass(frozen=True)
class PlanView:
    plan: DayPlan
    visits: list[PlannedVisit]


def _read_plan(actor: Actor, plan_id: int, action: str) -> tuple[DayPlan, list[Visit]]:
    plan = policy.guard_day_plan(actor, plan_id)
    visits = list(plan.visits.select_related("household").order_by("position"))
    policy.record(actor, action, "day_plan", plan.pk)
    _record_visits(actor, action, plan, visits)
    return plan, visits


def plan_view(actor: Actor, plan_id: int) -> PlanView:
    """A day plan with its visits in order, for its worker or their team lead (audited)."""
    plan, visits = _read_plan(actor, plan_id, AuditAction.READ)
    reportable = plan.day <= timezone.localdate()
    return PlanView(plan, [
        PlannedVisit(v, _time(_minutes(v.arrival) + v.duration_minutes),
                     reportable and v.status == VisitStatus.PLANNED)
        for v in visits])


def _ics_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _ics_fold(line: str) -> str:
    """Fold a content line at 75 octets, never inside a UTF-8 character (RFC 5545 3.1)."""
    parts, current, size = [], "", 0
    for char in line:
        octets = len(char.encode())
        if size + octets > 75:
            parts.append(current)
            current, size = " ", 1
        current += char
        size += octets
    parts.append(current)
    return "\r\n".join(parts)


def _ics_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def ics(actor: Actor, plan_id: int) -> str:
    """The day plan as an iCalendar file for the worker's phone (audited as an export).

    Times are in UTC; the summary says only "Home visit" and the commune — no names, no
    health — while the location gives the address the phone needs.
    """
    plan, visits = _read_plan(actor, plan_id, AuditAction.EXPORT)
    zone = ZoneInfo(settings.TIME_ZONE)
    stamp = _ics_utc(plan.created_at)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Entraide//Home visits//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    for visit in visits:
        household = visit.household
        starts = dt.datetime.combine(plan.day, visit.arrival, tzinfo=zone)
        status = "CANCELLED" if visit.status == VisitStatus.CANCELLED else "CONFIRMED"
        lines += [
            "BEGIN:VEVENT",
            f"UID:visit-{visit.pk}@entraide",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_ics_utc(starts)}",
            f"DTEND:{_ics_utc(starts + dt.timedelta(minutes=visit.duration_minutes))}",
            "SUMMARY:" + _ics_text(f"{_('Home visit')} – {household.commune}"),
            "LOCATION:" + _ics_text(str(household)),
            f"STATUS:{status}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_ics_fold(line) + "\r\n" for line in lines)


# --- the report ---------------------------------------------------------------------------------

REPORTED = (VisitStatus.DONE, VisitStatus.MISSED)


def visit_for_report(actor: Actor, visit_id: int) -> Visit:
    """A visit of a day plan the actor may see, with its household, to report on (audited)."""
    visit = Visit.objects.select_related("household", "plan").filter(pk=visit_id).first()
    if visit is None:
        raise Http404(_("No visit with this number."))
    policy.guard_day_plan(actor, visit.plan_id)
    policy.record(actor, AuditAction.READ, "visit", visit.pk, visit.household_id,
                  detail=f"day plan {visit.plan_id}")
    return visit


@policy.atomic
def record_report(actor: Actor, visit_id: int, status: str, body: str,
                  sensitive: bool = False) -> Visit:
    """Report a visit done, or nobody home: the report becomes a home-visit note in the
    case file (`sensitive`: read only by its author and the referent). A visit where nobody
    was home does not count as the household's last visit."""
    if status not in REPORTED:
        raise ValueError(_("Say whether the visit took place or nobody was home."))
    body = body.strip()
    if status == VisitStatus.DONE and not body:
        raise ValueError(_("Write what came of the visit."))
    visit = Visit.objects.select_for_update().filter(pk=visit_id).first()
    if visit is None:
        raise Http404(_("No visit with this number."))
    plan = policy.guard_day_plan(actor, visit.plan_id)
    if visit.status != VisitStatus.PLANNED:
        raise ValueError(_("This visit is already reported; correct the note in the case "
                           "file instead."))
    if plan.day > timezone.localdate():
        raise ValueError(_("A visit can be reported from its day on."))
    if visit.case_file_id is None:
        raise ValueError(_("The case file of this visit no longer exists."))
    if status == VisitStatus.MISSED:
        body = "\n\n".join(filter(None, [_("Home visit: nobody home."), body]))
    note = cases.add_note(actor, visit.case_file_id, NoteKind.HOME_VISIT, body,
                          sensitive=sensitive)
    visit.status, visit.done_at, visit.report_note_id = status, note.created_at, note.pk
    visit.save(update_fields=["status", "done_at", "report_note_id"])
    policy.record(actor, AuditAction.UPDATE, "visit", visit.pk, visit.household_id,
                  detail=f"report: {status}")
    return visit
