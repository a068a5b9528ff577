"""The data protection officer's pages: the audit trail and the rights of the person."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from . import policy, rights
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


# --- rights of the person ----------------------------------------------------------------------

class PersonLookupForm(forms.Form):
    q = forms.CharField(label=_("Name or person number"), max_length=100, min_length=2)


class ErasureForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the erasure"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3}))
    confirm = forms.BooleanField(
        label=_("I confirm: this person's identity will be replaced, and cannot be restored."))


@login_required
@require_GET
def persons(request: HttpRequest) -> HttpResponse:
    """Find the person a rights request is about, by name or number."""
    actor = policy.Actor.from_request(request)
    rights.guard_dpo(actor, "rights_search")
    form = PersonLookupForm(request.GET or None)
    found = rights.find_persons(actor, form.cleaned_data["q"]) if form.is_valid() else None
    return render(request, "secrecy/persons.html", {"form": form, "found": found},
                  status=400 if form.errors else 200)


@login_required
@require_GET
def person_export(request: HttpRequest, person_id: int) -> HttpResponse:
    """Everything held on a person, readable and printable (audited as an export)."""
    data = rights.export_person(policy.Actor.from_request(request), person_id)
    return render(request, "secrecy/person_export.html",
                  {"data": rights.for_display(data), "person_id": person_id})


@login_required
@require_GET
def person_export_json(request: HttpRequest, person_id: int) -> HttpResponse:
    """Everything held on a person as a JSON file (audited as an export)."""
    data = rights.export_person(policy.Actor.from_request(request), person_id)
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = f'attachment; filename="person-{person_id}.json"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def person_erase(request: HttpRequest, person_id: int) -> HttpResponse:
    """Erase a person's identity on request, with a reason and a confirmation."""
    actor = policy.Actor.from_request(request)
    rights.guard_dpo(actor, "person_erasure")
    form = ErasureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rights.erase_person(actor, person_id, form.cleaned_data["reason"])
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The person's identity was erased."))
            return redirect(f"{reverse('secrecy:persons')}?q={person_id}")
    person = rights.person_for_rights(actor, person_id)
    return render(request, "secrecy/person_erase.html", {"form": form, "person": person},
                  status=400 if form.errors else 200)
