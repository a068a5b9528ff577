"""The data protection officer's audit page."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from . import policy
from .models import AuditAction

PAGE = 50


class AuditFilterForm(forms.Form):
    username = forms.CharField(label=_("Agent"), max_length=150, required=False)
    household_id = forms.IntegerField(label=_("Household number"), required=False, min_value=1)
    action = forms.ChoiceField(label=_("Action"), required=False,
                               choices=[("", "—"), *AuditAction.choices])
    since = forms.DateField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


@login_required
@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    """Who read or changed which file, when, from where and why."""
    form = AuditFilterForm(request.GET or None)
    filters = dict(form.cleaned_data) if form.is_valid() else {}
    page = filters.pop("page", None) or 1
    rows, total = policy.audit_log(policy.Actor.from_request(request), filters,
                                   PAGE, (page - 1) * PAGE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "secrecy/audit.html", {
        "form": form, "rows": rows, "total": total, "page": page,
        "has_next": page * PAGE < total, "query": query.urlencode(),
    }, status=400 if form.errors else 200)
