"""The page where managers set crisis rules and visits per month (others read it)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from entraide.secrecy.policy import Actor

from . import rules as service
from .models import CrisisColour, Signal

FIELDS = ("signal", "threshold", "level", "reason", "active", "delete")


def _posted(post: Any, prefix: str) -> dict[str, Any]:
    return {name: post.get(f"{prefix}{name}") for name in FIELDS if f"{prefix}{name}" in post}


@login_required
@require_http_methods(["GET", "POST"])
def crisis_rules(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    settings = service.current(actor)
    if request.method == "POST":
        rules = {r.pk: _posted(request.POST, f"r{r.pk}-") for r in settings.rules
                 if f"r{r.pk}-signal" in request.POST}
        frequencies = {f.level: request.POST[f"f{f.level}"] for f in settings.frequencies
                       if f"f{f.level}" in request.POST}
        try:
            changed = service.save(actor, rules, _posted(request.POST, "new-"), frequencies)
        except ValueError as error:
            messages.error(request, _("Nothing was saved: %(reason)s") % {"reason": error})
        else:
            messages.success(request, ngettext(
                "%(n)d change saved; every household's level is being recomputed.",
                "%(n)d changes saved; every household's level is being recomputed.",
                changed) % {"n": changed})
            return redirect("territory:crisis_rules")
    return render(request, "territory/rules.html", {
        "settings": settings, "signals": Signal.choices, "levels": CrisisColour.choices})


urlpatterns: list[URLPattern] = [
    path("map/rules/", crisis_rules, name="crisis_rules"),
]
