"""API for home visits: the queue of visits due, planning a day, reading a day plan."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from entraide.api_contract import OFFSET, InvalidOut, LocalTime, responses
from entraide.secrecy.policy import Actor

from . import visits
from .models import DayPlan

router = Router(tags=["visits"])


class DueOut(Schema):
    household_id: int
    case_file_id: int
    address: str
    postcode: str
    commune: str
    latitude: float | None
    longitude: float | None
    level: int
    visits_per_month: float
    last_visit: dt.date | None
    due: dt.date
    overdue_days: int = Field(description="Days past the due date; negative: due in so many.")
    planned_for: dt.date | None = Field(description="Already in a day plan for this day.")


class DuePage(Schema):
    items: list[DueOut]
    count: int


class VisitIn(Schema):
    household_id: int
    not_before: LocalTime | None = Field(None, description="Default: when the day starts.")
    not_after: LocalTime | None = Field(None, description="The visit ends by then. Default: "
                                      "when the day ends.")
    duration_minutes: int | None = Field(None, ge=5, le=480,
                                         description=f"Default {visits.DEFAULT_DURATION}.")


class PlanIn(Schema):
    day: dt.date
    starts_at: LocalTime | None = Field(None, description="Default: when the office opens.")
    ends_at: LocalTime | None = Field(None, description="Back at the office by then. Default: "
                                    "when the office closes.")
    visits: list[VisitIn] = Field(min_length=1, max_length=visits.MAX_VISITS_PER_DAY)


class OfficeOut(Schema):
    name: str
    address: str
    latitude: float
    longitude: float


class VisitOut(Schema):
    id: int
    position: int
    household_id: int
    case_file_id: int | None
    address: str
    postcode: str
    commune: str
    latitude: float | None
    longitude: float | None
    window_start: LocalTime
    window_end: LocalTime
    duration_minutes: int
    arrival: LocalTime
    departure: LocalTime
    status: str


class PlanOut(Schema):
    id: int
    worker: str
    day: dt.date
    office: OfficeOut
    starts_at: LocalTime
    ends_at: LocalTime
    back_at: LocalTime | None
    travel_minutes: int
    distance_m: int
    visits: list[VisitOut]


class LeftOutOut(Schema):
    household_id: int
    reason: str


class CannotFitOut(InvalidOut):
    """422: input refused (`errors` names the fields), or visits that cannot fit in the day
    (`left_out` names them, and why)."""

    left_out: list[LeftOutOut] = Field([], description="The visits that cannot fit; absent "
                                       "when the input itself is refused.")


def _plan_out(view: visits.PlanView) -> dict[str, Any]:
    plan: DayPlan = view.plan
    return {
        **{f: getattr(plan, f) for f in ("id", "day", "office", "starts_at", "ends_at",
                                         "back_at", "travel_minutes", "distance_m")},
        "worker": plan.worker.get_username(),
        "visits": [{
            **{f: getattr(p.visit, f) for f in (
                "id", "position", "household_id", "case_file_id", "window_start",
                "window_end", "duration_minutes", "arrival", "status")},
            **{f: getattr(p.visit.household, f) for f in (
                "address", "postcode", "commune", "latitude", "longitude")},
            "departure": p.ends,
        } for p in view.visits],
    }


@router.get("/visits/due", response=responses({200: DuePage}, 401, 403, 422))
def visits_due(request: HttpRequest, limit: int = Query(50, ge=1, le=200),
               offset: int = OFFSET) -> dict[str, Any]:
    """The caller's households due a home visit (by now or within the week), the most
    overdue first, then the highest crisis level."""
    page = visits.visits_due(Actor.from_request(request, "api"), limit=limit, offset=offset)
    return {"count": page.total, "items": [{
        **{f: getattr(row, f) for f in ("case_file_id", "level", "visits_per_month",
                                        "last_visit", "due", "overdue_days", "planned_for")},
        "household_id": row.household.pk,
        **{f: getattr(row.household, f) for f in ("address", "postcode", "commune",
                                                  "latitude", "longitude")},
    } for row in page.rows]}


@router.post("/visits/plans",
             response=responses({201: PlanOut}, 400, 401, 403, 404, 422, invalid=CannotFitOut))
def plan_day(request: HttpRequest, body: PlanIn) -> tuple[int, dict[str, Any]]:
    """Plan a day of visits from the team's office and back, in the shortest order that
    respects every time window. When some visits cannot fit, nothing is saved and the 422
    answer names them and why (`left_out`)."""
    actor = Actor.from_request(request, "api")
    requests = [visits.VisitRequest(v.household_id, v.not_before, v.not_after,
                                    v.duration_minutes) for v in body.visits]
    try:
        plan = visits.plan_day(actor, body.day, requests, body.starts_at, body.ends_at)
    except visits.CannotFit as full:
        return 422, {"detail": str(full), "errors": [], "left_out": [
            {"household_id": h, "reason": reason} for h, reason in full.left_out.items()]}
    return 201, _plan_out(visits.plan_view(actor, plan.pk))


@router.get("/visits/plans/{plan_id}", response=responses({200: PlanOut}, 401, 403, 404, 422))
def get_plan(request: HttpRequest, plan_id: int) -> dict[str, Any]:
    """A day plan with its visits in order: its worker's, or for a team lead, one of their
    territory's."""
    return _plan_out(visits.plan_view(Actor.from_request(request, "api"), plan_id))
