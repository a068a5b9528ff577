"""Web pages of screening: a team's leads, one lead and its outcome, the runs' figures, the
scorecard."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from . import leads as service
from .models import Outcome, ScreeningRun


@login_required
@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", service.Status.TO_SEE)
    if status not in (service.Status.TO_SEE, service.Status.DONE, service.Status.ALL):
        status = service.Status.TO_SEE
    page = request.GET.get("page", "1")
    found = service.leads_for(Actor.from_request(request), status,
                              int(page) if page.isdigit() else 1)
    return render(request, "screening/leads.html", {"found": found})


@login_required
@require_http_methods(["GET", "POST"])
def lead(request: HttpRequest, lead_id: int) -> HttpResponse:
    actor = Actor.from_request(request)
    if request.method == "POST":
        try:
            service.record_outcome(actor, lead_id, request.POST.get("outcome", ""))
        except ValueError as wrong:
            messages.error(request, str(wrong))
        else:
            messages.success(request, _("Outcome recorded. Thank you: it also teaches the "
                                        "next screening."))
            return redirect("screening:leads")
    view = service.lead_view(actor, lead_id)
    return render(request, "screening/lead.html", {"view": view, "outcomes": Outcome.choices})


MODELS = {"scorecard": gettext_lazy("Scorecard"), "learned": gettext_lazy("Learned model"),
          "random": gettext_lazy("At random")}
ORIGINS = {"truth": gettext_lazy("synthetic truth (demonstration data)"),
           "outcomes": gettext_lazy("outcomes of earlier visits")}
DIMENSIONS = {"territory": gettext_lazy("Territory"), "age_band": gettext_lazy("Age band"),
              "household_type": gettext_lazy("Household type")}
GROUPS = {"under_30": gettext_lazy("under 30"), "30_44": gettext_lazy("30 to 44"),
          "45_59": gettext_lazy("45 to 59"), "60_74": gettext_lazy("60 to 74"),
          "75_plus": gettext_lazy("75 and over"), "unknown": gettext_lazy("unknown"),
          "alone": gettext_lazy("alone"), "couple": gettext_lazy("couple"),
          "family": gettext_lazy("family"), "single_parent": gettext_lazy("single parent"),
          "other": gettext_lazy("other")}


def _evaluations(run: ScreeningRun) -> list[dict[str, Any]]:
    """Each evaluation of a run (against the synthetic truth, against recorded outcomes) as
    a table: one row per model."""
    tables = []
    for origin in ("truth", "outcomes"):
        report = run.evaluation.get(origin)
        if not report or "k" not in report:
            continue
        tables.append({"origin": ORIGINS[origin], "k": report["k"],
                       "households": report.get("households"),
                       "rows": [(MODELS[name], report[name]) for name in MODELS
                                if name in report]})
    return tables


def _bias(run: ScreeningRun) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """The bias report as one table per dimension, the whole population first."""
    if not run.bias:
        return []
    tables = [(_("All households"), [(_("all"), run.bias.get("overall", {}))])]
    for key, title in DIMENSIONS.items():
        groups = run.bias.get(key, {})
        tables.append((str(title), [(str(GROUPS.get(name, name)), cell)
                                    for name, cell in sorted(groups.items())]))
    return tables


@login_required
@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    rows = []
    for run in service.runs(Actor.from_request(request)):
        counts = service.outcome_counts(run)
        rows.append({"run": run, "to_see": counts[""],
                     "outcomes": [(label, counts[value]) for value, label in Outcome.choices],
                     "evaluations": _evaluations(run), "bias": _bias(run)})
    return render(request, "screening/runs.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def scorecard(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    indicators = service.scorecard(actor)
    if request.method == "POST":
        changes = {}
        errors = []
        for indicator in indicators:
            prefix = f"i{indicator.pk}-"
            if prefix + "points" not in request.POST:
                continue
            try:
                threshold = float(request.POST[prefix + "threshold"].replace(",", "."))
                if not math.isfinite(threshold):
                    raise ValueError(threshold)
                changes[indicator.pk] = {
                    "points": int(request.POST[prefix + "points"]), "threshold": threshold,
                    "explanation": request.POST.get(prefix + "explanation", "")}
            except ValueError:
                errors.append(indicator.label)
        if errors:
            messages.error(request, _("Points must be whole numbers and thresholds numbers: "
                                      "%(labels)s.") % {"labels": ", ".join(errors)})
        else:
            changed = service.update_scorecard(actor, changes)
            messages.success(request, ngettext(
                "Scorecard saved (%(n)d indicator changed). It applies from the next run.",
                "Scorecard saved (%(n)d indicators changed). It applies from the next run.",
                changed) % {"n": changed})
            return redirect("screening:scorecard")
    return render(request, "screening/scorecard.html", {
        "indicators": indicators,
        "editable": policy.can_edit_scorecard(request.user),  # type: ignore[arg-type]
    })
