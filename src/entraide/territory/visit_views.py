"""Web pages of home visits: the queue of visits due and the form that plans a day, the day
plan (map, ordered list, print, calendar) and the report of a visit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from entraide.secrecy.policy import Actor

from . import visits as service
from .models import VisitStatus

PAGE_SIZE = 50


def _time(value: str) -> dt.time | None:
    return dt.time.fromisoformat(value) if value else None


def _plan_form(post: QueryDict) -> tuple[dt.date, list[service.VisitRequest], dt.time | None,
                                         dt.time | None]:
    """The day, the visits ticked with the windows and durations typed beside them, and the
    day's start and end, from the queue form."""
    try:
        chosen = []
        for household_id in map(int, post.getlist("household")):
            duration = post.get(f"duration-{household_id}", "")
            chosen.append(service.VisitRequest(
                household_id, _time(post.get(f"from-{household_id}", "")),
                _time(post.get(f"to-{household_id}", "")), int(duration) if duration else None))
        return (dt.date.fromisoformat(post.get("day", "")), chosen,
                _time(post.get("starts_at", "")), _time(post.get("ends_at", "")))
    except ValueError:
        raise ValueError(_("Check the day, the times and the durations.")) from None


def _rows(page: service.DuePage, post: QueryDict, left_out: dict[int, str]
          ) -> list[dict[str, Any]]:
    """The queue's rows with what the worker had typed in them, when the form comes back."""
    chosen = set(post.getlist("household"))
    return [{"due": row, "id": row.household.pk,
             "checked": str(row.household.pk) in chosen and row.household.pk not in left_out,
             "from": post.get(f"from-{row.household.pk}", ""),
             "to": post.get(f"to-{row.household.pk}", ""),
             "duration": post.get(f"duration-{row.household.pk}", ""),
             "left_out": left_out.get(row.household.pk)} for row in page.rows]


@login_required
@require_http_methods(["GET", "POST"])
def due(request: HttpRequest) -> HttpResponse:
    """The worker's queue of visits due; ticking some and choosing a day plans it (POST).
    An htmx GET with an offset answers the next rows only."""
    actor = Actor.from_request(request)
    limit, offset, left_out = PAGE_SIZE, 0, {}
    if request.method == "POST":
        try:
            day, requests, starts, ends = _plan_form(request.POST)
            plan = service.plan_day(actor, day, requests, starts, ends)
        except service.CannotFit as full:
            messages.error(request, str(full))
            left_out = full.left_out
        except ValueError as wrong:
            messages.error(request, str(wrong))
        else:
            messages.success(request, ngettext(
                "Day planned: %(n)d visit, back at the office at %(back)s.",
                "Day planned: %(n)d visits, back at the office at %(back)s.",
                len(requests)) % {"n": len(requests), "back": f"{plan.back_at:%H:%M}"})
            return redirect("territory:visit_plan", plan.pk)
        # Show again every row the worker had loaded, with their choices, minus what cannot fit.
        limit = max(PAGE_SIZE, len(request.POST.getlist("row")))
    elif request.GET.get("offset", "").isdigit():
        offset = int(request.GET["offset"])
    page = service.visits_due(actor, limit=limit, offset=offset)
    context = {"page": page, "rows": _rows(page, request.POST, left_out),
               "next_offset": offset + len(page.rows)}
    if request.headers.get("HX-Request"):
        return render(request, "territory/visits/_due_rows.html", context)
    return render(request, "territory/visits/due.html", {
        **context, "plans": service.day_plans(actor),
        "form": request.POST.dict() if request.method == "POST" else {
            "day": (timezone.localdate() + dt.timedelta(days=1)).isoformat()}})


@login_required
@require_GET
def plan(request: HttpRequest, plan_id: int) -> HttpResponse:
    view = service.plan_view(Actor.from_request(request), plan_id)
    office = view.plan.office
    data = {
        "tiles": settings.MAP_TILES_URL, "attribution": settings.MAP_TILES_ATTRIBUTION,
        "office": {"lat": office.latitude, "lon": office.longitude, "label": office.name},
        "stops": [{"n": p.visit.position, "lat": p.visit.household.latitude,
                   "lon": p.visit.household.longitude,
                   "label": f"{p.visit.arrival:%H:%M} · {p.visit.household}",
                   "done": p.visit.status != VisitStatus.PLANNED} for p in view.visits],
    }
    return render(request, "territory/visits/plan.html", {
        "view": view, "map_data": data, "distance_km": view.plan.distance_m / 1000})


@login_required
@require_GET
def plan_ics(request: HttpRequest, plan_id: int) -> HttpResponse:
    text = service.ics(Actor.from_request(request), plan_id)
    response = HttpResponse(text, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="visits-{plan_id}.ics"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest, visit_id: int) -> HttpResponse:
    actor = Actor.from_request(request)
    if request.method == "POST":
        try:
            visit = service.record_report(actor, visit_id, request.POST.get("status", ""),
                                          request.POST.get("body", ""),
                                          sensitive=bool(request.POST.get("sensitive")))
        except ValueError as wrong:
            messages.error(request, str(wrong))
        else:
            messages.success(request, _("Report saved as a note in the case file."))
            return redirect("territory:visit_plan", visit.plan_id)
    visit = service.visit_for_report(actor, visit_id)
    return render(request, "territory/visits/report.html", {
        "visit": visit, "statuses": [(s, s.label) for s in service.REPORTED],
        "post": request.POST})


urlpatterns: list[URLPattern] = [
    path("visits/", due, name="visits"),
    path("visits/plans/<int:plan_id>/", plan, name="visit_plan"),
    path("visits/plans/<int:plan_id>.ics", plan_ics, name="visit_plan_ics"),
    path("visits/<int:visit_id>/report/", report, name="visit_report"),
]
