"""The reception desk: search before create, duplicate candidates, intake, members, merges."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from entraide.concurrency import StaleEdit, resubmittable
from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from . import forms, services


@login_required
@require_http_methods(["GET", "POST"])
def reception(request: HttpRequest) -> HttpResponse:
    """Search first; if nobody matches, register the person and their household."""
    actor = Actor.from_request(request)
    policy.guard_role(actor, policy.can_do_intake(actor.user), "reception")
    search = forms.CandidateSearchForm(request.GET or None)
    context: dict[str, Any] = {"search": search}
    if search.is_bound and search.is_valid():
        context["candidates"] = services.find_candidates(
            actor, search.cleaned_data["q"], search.cleaned_data["birth_date"])
        context["searched"] = True
    person_form = forms.PersonForm(request.POST or None, prefix="person",
                                   initial=_split_name(search))
    address_form = forms.AddressForm(request.POST or None, prefix="address")
    reason_form = forms.IntakeReasonForm(request.POST or None, prefix="visit")
    context.update(person_form=person_form, address_form=address_form, reason_form=reason_form)
    if request.method == "POST":
        if person_form.is_valid() and address_form.is_valid() and reason_form.is_valid():
            household = services.register_household(
                actor, person_form.cleaned_data, dict(address_form.cleaned_data),
                reason_form.cleaned_data["reason"])
            messages.success(request, _("Household registered and case file opened."))
            return redirect("cases:household", household.pk)
        return render(request, "people/reception.html", context, status=400)
    template = "people/_candidates.html" if request.headers.get("HX-Request") else \
        "people/reception.html"
    return render(request, template, context, status=400 if search.errors else 200)


def _split_name(search: forms.CandidateSearchForm) -> dict[str, Any]:
    """Pre-fill the intake form with what was typed in the search box."""
    if not (search.is_bound and search.is_valid()):
        return {}
    words = search.cleaned_data["q"].split()
    last = [w for w in words if w.isupper() and len(w) > 1]
    first = [w for w in words if w not in last]
    if not last and len(words) > 1:
        first, last = words[:1], words[1:]
    return {"first_name": " ".join(first), "last_name": " ".join(last).title(),
            "birth_date": search.cleaned_data["birth_date"]}


@login_required
@require_http_methods(["GET", "POST"])
def new_member(request: HttpRequest, household_id: int) -> HttpResponse:
    actor = Actor.from_request(request)
    household = policy.guard_household(actor, household_id)
    form = forms.MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        relationship = data.pop("relationship")
        services.add_member(actor, household_id, data, relationship)
        messages.success(request, _("Member added."))
        return redirect("cases:household", household_id)
    return render(request, "people/member_form.html", {"form": form, "household": household},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def edit_person(request: HttpRequest, person_id: int) -> HttpResponse:
    """Identity, contact and consents of a person, under optimistic concurrency."""
    actor = Actor.from_request(request)
    person = services.get_person(actor, person_id)
    form = forms.PersonEditForm(request.POST or None, instance=person,
                                initial={"version": person.version,
                                         "identity_number": person.identity_number})
    context: dict[str, Any] = {"form": form, "person": person,
                               "consent_form": forms.ConsentForm(),
                               "consents": services.consents_of(person)}
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in (*services.Person.EDITABLE, "identity_number")}
        try:
            services.update_person(actor, person_id, form.cleaned_data["version"], changes)
        except StaleEdit as exc:
            posted = resubmittable(request.POST, exc)
            context["form"] = forms.PersonEditForm(posted, instance=exc.current)
            context["stale"] = exc
            return render(request, "people/person_form.html", context, status=409)
        messages.success(request, _("Person updated."))
        return redirect("cases:household", person.household_id)
    return render(request, "people/person_form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def new_consent(request: HttpRequest, person_id: int) -> HttpResponse:
    """Record a consent given or withdrawn; the earlier records stay."""
    form = forms.ConsentForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Choose a purpose and an answer."), status=400)
    services.record_consent(Actor.from_request(request), person_id,
                            form.cleaned_data["purpose"], form.cleaned_data["given"])
    messages.success(request, _("Consent recorded."))
    return redirect("people:edit_person", person_id)


@login_required
@require_http_methods(["GET", "POST"])
def edit_household(request: HttpRequest, household_id: int) -> HttpResponse:
    """The household's address, under optimistic concurrency."""
    actor = Actor.from_request(request)
    household = policy.guard_household(actor, household_id)
    form = forms.HouseholdForm(request.POST or None, instance=household,
                               initial={"version": household.version})
    context: dict[str, Any] = {"form": form, "household": household}
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in services.Household.EDITABLE}
        try:
            services.update_household(actor, household_id, form.cleaned_data["version"], changes)
        except StaleEdit as exc:
            posted = resubmittable(request.POST, exc)
            context["form"] = forms.HouseholdForm(posted, instance=exc.current)
            context["stale"] = exc
            return render(request, "people/household_form.html", context, status=409)
        messages.success(request, _("Address updated."))
        return redirect("cases:household", household_id)
    return render(request, "people/household_form.html", context,
                  status=400 if form.errors else 200)


@login_required
@require_POST
def merge(request: HttpRequest) -> HttpResponse:
    """Merge a duplicate person into the one kept; all history follows."""
    actor = Actor.from_request(request)
    form = forms.MergeForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Choose the person to keep and the duplicate."), status=400)
    try:
        kept = services.merge_persons(actor, form.cleaned_data["keep"],
                                      form.cleaned_data["duplicate"])
    except services.Person.DoesNotExist:
        return HttpResponse(_("No person with this number."), status=404)
    except ValueError as exc:
        return HttpResponse(str(exc), status=400)
    messages.success(request, _("Duplicate merged; its history now belongs to %(name)s.")
                     % {"name": kept})
    return redirect("cases:household", kept.household_id)


@login_required
@require_POST
def log_visit(request: HttpRequest, household_id: int) -> HttpResponse:
    """Record that someone of the household came to the desk."""
    from entraide.cases import services as cases

    actor = Actor.from_request(request)
    form = forms.IntakeReasonForm(request.POST, prefix="visit")
    if not form.is_valid():
        return HttpResponse(_("Give the reason for the visit (300 characters at most)."),
                            status=400)
    person = request.POST.get("person", "")
    cases.log_reception(actor, household_id, int(person) if person.isdigit() else None,
                        form.cleaned_data["reason"])
    messages.success(request, _("Visit recorded."))
    return redirect("cases:household", household_id)
