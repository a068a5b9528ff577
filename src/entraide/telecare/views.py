"""Web pages of telecare: the operator's console, its live stream, alerts, and homes: their
readings, and the forms that equip them and keep their devices and contacts up to date."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import close_old_connections, connection
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from . import forms, services
from .models import Alert, Outcome, Severity
from .payloads import REASONS

# The browser's EventSource reconnects by itself: a stream never holds a worker for long.
STREAM_SECONDS = 300.0
POLL_SECONDS = 1.0
# Ages are shown in minutes: send the list again at least this often even if nothing changed.
REFRESH_SECONDS = 60.0
# A comment line this often finds out, by failing to write, that the browser has gone.
HEARTBEAT_SECONDS = 15.0
RETRY_MILLISECONDS = 2000

STEP_LABELS = {
    "raised": gettext_lazy("Raised"),
    "escalated": gettext_lazy("Escalated to a contact"),
    "acknowledged": gettext_lazy("Acknowledged"),
    "dispatched": gettext_lazy("Someone sent"),
    "resolved": gettext_lazy("Resolved"),
}


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def _htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


def age(since: dt.datetime, now: dt.datetime) -> str:
    """How long ago, as an operator reads it at a glance: "12 min", "3 h 05", "2 d"."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return _("%(minutes)d min") % {"minutes": minutes}
    if minutes < 48 * 60:
        return _("%(hours)d h %(minutes)02d") % {"hours": minutes // 60, "minutes": minutes % 60}
    return _("%(days)d d") % {"days": minutes // (24 * 60)}


def years_old(birth_date: dt.date | None, today: dt.date) -> int | None:
    if birth_date is None:
        return None
    return today.year - birth_date.year - ((today.month, today.day)
                                           < (birth_date.month, birth_date.day))


@dataclass
class Row:
    alert: Alert
    age: str


def _list_context(actor: Actor, shown: set[int] | None = None) -> dict[str, Any]:
    now = timezone.now()
    counts = services.alert_counts(actor)
    return {
        "rows": [Row(a, age(a.raised_at, now))
                 for a in services.console_alerts(actor, shown=shown)],
        "counts": [(level, label, counts.get(level, 0))
                   for level, label in reversed(Severity.choices)],
    }


# --- the console -----------------------------------------------------------------------------

@login_required
@require_GET
def console(request: HttpRequest) -> HttpResponse:
    """Open alerts, most severe then oldest first, beside the selected alert's detail."""
    actor = _actor(request)
    context = _list_context(actor)
    if _htmx(request):
        return render(request, "telecare/_alert_list.html", context)
    refused = [(r, REASONS.get(r.reason, r.reason)) for r in services.rejections(actor)]
    return render(request, "telecare/console.html", {**context, "rejections": refused})


@login_required
@require_GET
def stream(request: HttpRequest) -> StreamingHttpResponse:
    """Server-Sent Events: the alert list again whenever it changes; `?once=1` sends it once."""
    actor = _actor(request)
    services.console_version(actor)  # a role that may not monitor is refused before streaming
    response = StreamingHttpResponse(
        _events(request, actor, once=request.GET.get("once") == "1"),
        content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _event(name: str, text: str) -> str:
    lines = "".join(f"data: {line}\n" for line in text.splitlines() or [""])
    return f"retry: {RETRY_MILLISECONDS}\nevent: {name}\n{lines}\n"


def _events(request: HttpRequest, actor: Actor, once: bool) -> Iterator[str]:
    # The generator runs after the view has returned: it keeps the request's language, and
    # gives back its database connection when it ends.
    language = translation.get_language()
    started = time.monotonic()
    sent_version: str | None = None
    shown: set[int] = set()  # alerts this stream has shown, audited once each
    sent_at = written_at = started
    try:
        while True:
            now = time.monotonic()
            version = services.console_version(actor)
            if version != sent_version or now - sent_at >= REFRESH_SECONDS:
                with translation.override(language):
                    html = render_to_string("telecare/_alert_list.html",
                                            _list_context(actor, shown), request)
                yield _event("alerts", html)
                sent_version, sent_at, written_at = version, now, now
            elif now - written_at >= HEARTBEAT_SECONDS:
                yield ": still here\n\n"
                written_at = now
            if once or now - started >= STREAM_SECONDS:
                return
            time.sleep(POLL_SECONDS)
    finally:
        if not connection.in_atomic_block:  # a test's transaction is not the stream's to end
            close_old_connections()


# --- one alert -------------------------------------------------------------------------------

def _detail(request: HttpRequest, actor: Actor, alert_id: int, error: str = "",
            status: int = 200) -> HttpResponse:
    view = services.alert_view(actor, alert_id)
    now = timezone.now()
    context = {
        "view": view, "a": view.alert, "error": error,
        "age": age(view.alert.raised_at, now),
        "years": years_old(view.resident.birth_date, timezone.localdate(now)),
        "steps": [(s, STEP_LABELS.get(s.step, s.step)) for s in view.steps],
        "outcomes": Outcome.choices, "may_act": policy.can_monitor(actor.user),
    }
    template = "telecare/_alert_detail.html" if _htmx(request) else "telecare/alert.html"
    return render(request, template, context, status=status)


@login_required
@require_GET
def alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    """An alert with the person's key facts, contacts, devices and what was done (audited)."""
    return _detail(request, _actor(request), alert_id)


def _act(request: HttpRequest, alert_id: int, act: Callable[[Actor], Alert], done: str
         ) -> HttpResponse:
    actor = _actor(request)
    try:
        act(actor)
    except ValueError as wrong:
        return _detail(request, actor, alert_id, error=str(wrong), status=409)
    if not _htmx(request):
        messages.success(request, done)
        return redirect("telecare:console")
    response = _detail(request, actor, alert_id)
    response["HX-Trigger"] = "telecare-changed"  # the console refreshes its list at once
    return response


@login_required
@require_POST
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    return _act(request, alert_id, lambda actor: services.acknowledge(actor, alert_id),
                _("Alert acknowledged."))


@login_required
@require_POST
def dispatch(request: HttpRequest, alert_id: int) -> HttpResponse:
    to = request.POST.get("to", "")
    return _act(request, alert_id, lambda actor: services.dispatch(actor, alert_id, to),
                _("Dispatch recorded."))


@login_required
@require_POST
def resolve(request: HttpRequest, alert_id: int) -> HttpResponse:
    outcome, note = request.POST.get("outcome", ""), request.POST.get("note", "")
    return _act(request, alert_id,
                lambda actor: services.resolve(actor, alert_id, outcome, note),
                _("Alert resolved."))


# --- one home --------------------------------------------------------------------------------

@dataclass
class Chart:
    """The last hours of a home drawn in SVG user units: temperature line, event ticks."""

    width: int = 760
    left: int = 84  # room for the row labels ("mouvement")
    right: int = 748
    top: int = 12
    bottom: int = 172
    temperature: str = ""
    low: float = 0.0
    high: float = 0.0
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    hours: list[tuple[float, str]] = field(default_factory=list)
    motion: str = ""
    door: str = ""
    motion_count: int = 0
    door_count: int = 0
    last_temperature: float | None = None

    @property
    def plot_width(self) -> int:
        return self.right - self.left

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top


def chart(view: services.InstallationView, now: dt.datetime) -> Chart:
    """Place the readings of `view` on a chart from `view.since` to `now`."""
    c = Chart()
    span = max((now - view.since).total_seconds(), 1.0)

    def x(at: dt.datetime) -> float:
        return round(c.left + (at - view.since).total_seconds() / span * (c.right - c.left), 1)

    def ticks(xs: set[float], y1: int, y2: int) -> str:
        return " ".join(f"M{v} {y1}V{y2}" for v in sorted(xs))

    temperatures = view.series["temperature"]
    if temperatures:
        values = [v for _at, v in temperatures]
        c.low, c.high = math.floor(min(values)) - 1, math.ceil(max(values)) + 1
        c.last_temperature = values[-1]

        def y(value: float) -> float:
            return round(c.bottom - (value - c.low) / (c.high - c.low) * (c.bottom - c.top), 1)

        per_column = {x(at): value for at, value in temperatures}  # the last one per column
        c.temperature = " ".join(f"{px},{y(v)}" for px, v in per_column.items())
        step = max(1, math.ceil((c.high - c.low) / 5))
        c.y_labels = [(y(v), f"{v:g}") for v in range(int(c.low), int(c.high) + 1, step)]
        limits = ((view.installation.cold_below, _("cold")),
                  (view.installation.heat_above, _("heat")))
        c.thresholds = [(y(v), label) for v, label in limits if c.low <= v <= c.high]
    motions = {x(at) for at, value in view.series["motion"] if value >= 1}
    doors = {x(at) for at, value in view.series["door"] if value == 0}  # 0: opened
    c.motion, c.door = ticks(motions, 186, 200), ticks(doors, 212, 226)
    c.motion_count = sum(1 for _at, value in view.series["motion"] if value >= 1)
    c.door_count = sum(1 for _at, value in view.series["door"] if value == 0)
    mark = view.since.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    while mark <= now:
        local = timezone.localtime(mark)
        if local.hour % 6 == 0:
            label = local.strftime("%d/%m") if local.hour == 0 else local.strftime("%H:00")
            c.hours.append((x(mark), label))
        mark += dt.timedelta(hours=1)
    return c


@login_required
@require_GET
def installation(request: HttpRequest, installation_id: int) -> HttpResponse:
    """A home: devices, contacts, alert history and the last 48 hours of readings (audited)."""
    view = services.installation_view(_actor(request), installation_id)
    now = timezone.now()
    return render(request, "telecare/installation.html", {
        "view": view, "home": view.installation, "chart": chart(view, now),
        "years": years_old(view.installation.resident.birth_date, timezone.localdate(now)),
        "may_equip": policy.can_equip(request.user,  # type: ignore[arg-type]
                                      view.installation.household),
    })


# --- equipping a home ------------------------------------------------------------------------

def _with_a_row_more(request: HttpRequest) -> QueryDict | None:
    """The submitted form with one more blank row of devices or contacts, when that is what
    was asked for ("+ Another device"), to be shown again rather than saved; else None."""
    prefix = request.POST.get("add")
    if request.method != "POST" or prefix not in ("devices", "contacts"):
        return None
    data = request.POST.copy()
    total = data.get(f"{prefix}-TOTAL_FORMS", "")
    data[f"{prefix}-TOTAL_FORMS"] = str(int(total) + 1 if total.isdigit() else 1)
    return data


def _all_valid(*checked: Any) -> bool:
    return all([form.is_valid() for form in checked])  # every one checked: all errors shown


@login_required
@require_http_methods(["GET", "POST"])
def equip(request: HttpRequest) -> HttpResponse:
    """Equip a household's home with telecare: the resident, the devices, the contacts."""
    actor = _actor(request)
    household_id = request.GET.get("household", "")
    if not household_id.isdigit():
        raise Http404(_("No household with this number."))
    found = services.equipping(actor, int(household_id))
    if found.current is not None:
        return render(request, "telecare/equip.html",
                      {"household": found.household, "current": found.current}, status=409)
    more = _with_a_row_more(request)
    data = more or (request.POST if request.method == "POST" else None)
    form = forms.EquipForm(data, members=found.members)
    devices = forms.device_formset(data, extra=3)
    contacts = forms.contact_formset(data, extra=2)
    error = ""
    if more is None and data is not None and _all_valid(form, devices, contacts):
        try:
            home = services.equip(actor, found.household.pk, form.cleaned_data["resident"],
                                  code=form.cleaned_data["code"], devices=devices.lines(),
                                  contacts=contacts.lines())
        except services.AlreadyEquipped as equipped:
            return render(request, "telecare/equip.html",
                          {"household": found.household, "current": equipped.installation},
                          status=409)
        except ValueError as wrong:
            error = str(wrong)
        else:
            messages.success(request, _("The home is equipped with telecare."))
            return redirect("telecare:installation", home.pk)
    return render(request, "telecare/equip.html", {
        "household": found.household, "form": form, "devices": devices, "contacts": contacts,
        "error": error,
    }, status=400 if more is None and data is not None else 200)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, installation_id: int) -> HttpResponse:
    """Change a home's devices and contacts (add, change, remove, reorder), or stop it."""
    actor = _actor(request)
    found = services.equipment(actor, installation_id)
    more = _with_a_row_more(request)
    data = more or (request.POST if request.method == "POST" else None)
    form = forms.EditForm(data, initial={"active": found.installation.active})
    devices = forms.device_formset(data, found.devices)
    contacts = forms.contact_formset(data, found.contacts)
    error = ""
    if more is None and data is not None and _all_valid(form, devices, contacts):
        try:
            services.update_equipment(actor, installation_id, active=form.cleaned_data["active"],
                                      devices=devices.lines(), contacts=contacts.lines())
        except ValueError as wrong:
            error = str(wrong)
        else:
            messages.success(request, _("Devices and contacts saved."))
            return redirect("telecare:installation", installation_id)
    return render(request, "telecare/equip.html", {
        "home": found.installation, "household": found.installation.household, "form": form,
        "devices": devices, "contacts": contacts, "error": error,
    }, status=400 if more is None and data is not None else 200)
