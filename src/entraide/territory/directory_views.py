"""Web pages of the service directory: search (from a case file or not), a service's page,
adding and changing services, the one-click referral, and the map's services layer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from entraide.cases.models import Domain
from entraide.org.services import organisation_of
from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from . import directory
from .models import Service, ServiceCategory

PAGE = 20
RADII = (5, 10, 20, 50)
# Starting from a case file, look this far around the home until the worker says otherwise.
DEFAULT_RADIUS_KM = 20


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def _number(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return min(int(raw), 10**9) if raw.isdigit() else None


def _context_file(request: HttpRequest, actor: Actor) -> directory.CaseFileContext | None:
    """The case file the search is for (`?case_file=`), read under need-to-know."""
    case_file_id = _number(request.GET.get("case_file"))
    return directory.near_case_file(actor, case_file_id) if case_file_id else None


def _query(request: HttpRequest, context_file: directory.CaseFileContext | None
           ) -> directory.ServiceQuery:
    params = request.GET.copy()
    # Arriving from the case file, its needs and a radius are preselected; once the worker
    # has searched (`searched`), what they chose counts, even no need at all.
    if context_file and "searched" not in params:
        params.setlist("need", list(context_file.needs))
        params["radius"] = str(DEFAULT_RADIUS_KM)
    query = directory.ServiceQuery.parse(params)
    if context_file:
        query = query.around(context_file.point, query.radius_km)
    return query


def _page_url(request: HttpRequest, offset: int, **extra: str) -> str:
    params: QueryDict = request.GET.copy()
    params["offset"] = str(offset)
    params.setdefault("searched", "1")
    for name, value in extra.items():
        params[name] = value
    return "?" + params.urlencode()


def _need_tags(needs: list[str], matched: tuple[str, ...]) -> list[tuple[str, bool]]:
    """Each need a service covers, in words, and whether it is one that was searched for."""
    return [(str(label), code in matched) for code, label in Domain.choices if code in needs]


@login_required
@require_GET
def service_list(request: HttpRequest) -> HttpResponse:
    """Search the directory by need, category, words and, from a case file, distance."""
    actor = _actor(request)
    context_file = _context_file(request, actor)
    offset = _number(request.GET.get("offset")) or 0
    error = ""
    try:
        query = _query(request, context_file)
    except ValueError as wrong:
        error, query = str(wrong), directory.ServiceQuery()
    found = directory.search(query, organisation_of(actor.user), PAGE, offset)
    context = {
        "found": found, "query": query, "error": error, "context_file": context_file,
        "results": [(item, _need_tags(item.service.needs, item.matched_needs))
                    for item in found.items],
        "context_needs": directory.need_labels(context_file.needs) if context_file else [],
        "domains": Domain.choices, "categories": ServiceCategory.choices, "radii": RADII,
        "can_edit": policy.can_edit_directory(actor.user),
        "previous_url": _page_url(request, max(0, offset - PAGE)) if offset else "",
        "next_url": _page_url(request, offset + PAGE) if found.has_next else "",
    }
    return render(request, "territory/directory/search.html", context,
                  status=400 if error else 200)


@login_required
@require_GET
def service_detail(request: HttpRequest, service_id: int) -> HttpResponse:
    """A service's page; from a case file, with its distance and the Refer button."""
    actor = _actor(request)
    service = directory.get_service(service_id, organisation_of(actor.user))
    context_file = _context_file(request, actor)
    distance = None
    if context_file and context_file.point and service.latitude is not None \
            and service.longitude is not None:
        distance = directory.distance_km(context_file.point,
                                         (service.latitude, service.longitude))
    return render(request, "territory/directory/detail.html", {
        "service": service, "context_file": context_file, "distance": distance,
        "needs": _need_tags(service.needs, context_file.needs if context_file else ()),
        "can_edit": policy.can_edit_directory(actor.user),
    })


class ServiceForm(forms.Form):
    """What a lead or manager types; `directory.validate` decides what is acceptable."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    category = forms.ChoiceField(label=gettext_lazy("Category"),
                                 choices=ServiceCategory.choices)
    needs = forms.MultipleChoiceField(
        label=gettext_lazy("Needs covered"), choices=Domain.choices, required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        help_text=gettext_lazy("The case-file domains it helps with: workers search by them."))
    description = forms.CharField(label=gettext_lazy("What it offers"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    eligibility = forms.CharField(label=gettext_lazy("Who can come"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    opening_hours = forms.CharField(label=gettext_lazy("Opening hours"), max_length=300,
                                    required=False)
    address = forms.CharField(label=gettext_lazy("Address"), max_length=200, required=False)
    postcode = forms.CharField(label=gettext_lazy("Postcode"), max_length=10, required=False)
    commune = forms.CharField(label=gettext_lazy("Commune"), max_length=100, required=False)
    latitude = forms.CharField(
        label=gettext_lazy("Latitude"), required=False,
        help_text=gettext_lazy("In degrees, such as 44.642. With the longitude, it puts the "
                               "service on the map and lets workers find it by distance."))
    longitude = forms.CharField(label=gettext_lazy("Longitude"), required=False,
                                help_text=gettext_lazy("In degrees, such as 0.512."))
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=30, required=False)
    email = forms.CharField(label=gettext_lazy("E-mail"), max_length=254, required=False)
    website = forms.CharField(label=gettext_lazy("Website"), max_length=200, required=False)
    active = forms.BooleanField(
        label=gettext_lazy("In the directory"), required=False, initial=True,
        help_text=gettext_lazy("Untick when the service closes: it is no longer found, and "
                               "past referrals keep its name."))

    def fields_for_service(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        for name in ("latitude", "longitude"):
            raw = data[name].strip().replace(",", ".")
            data[name] = raw or None
        return data


def _initial(service: Service) -> dict[str, Any]:
    initial = {name: getattr(service, name) for name in directory.EDITABLE}
    for name in ("latitude", "longitude"):
        initial[name] = "" if initial[name] is None else f"{initial[name]:.6f}".rstrip("0")
    return initial


def _edit(request: HttpRequest, actor: Actor, service: Service | None) -> HttpResponse:
    form = ServiceForm(request.POST or None,
                       initial=_initial(service) if service else {"active": True})
    if request.method == "POST" and form.is_valid():
        try:
            saved = directory.save_service(actor, form.fields_for_service(),
                                           service.pk if service else None)
        except directory.InvalidService as invalid:
            for name, problems in invalid.errors.items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        else:
            messages.success(request, _("“%(name)s” saved in the directory.")
                             % {"name": saved.name})
            return redirect("territory:service", saved.pk)
    return render(request, "territory/directory/form.html",
                  {"form": form, "service": service}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def service_new(request: HttpRequest) -> HttpResponse:
    """Add a service to the directory (team leads and managers)."""
    actor = _actor(request)
    directory.guard_editor(actor)
    return _edit(request, actor, None)


@login_required
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, service_id: int) -> HttpResponse:
    """Change a service of the directory (team leads and managers)."""
    actor = _actor(request)
    directory.guard_editor(actor)
    return _edit(request, actor, directory.get_service(
        service_id, organisation_of(actor.user)))


@login_required
@require_POST
def refer(request: HttpRequest, case_file_id: int, service_id: int) -> HttpResponse:
    """One click from a search result: the referral is recorded in the case file."""
    actor = _actor(request)
    try:
        referral = directory.refer(actor, case_file_id, service_id,
                                   request.POST.get("reason", "")[:1000],
                                   request.POST.getlist("need"))
    except ValueError as wrong:
        messages.error(request, str(wrong))
        return redirect(reverse("territory:services") + f"?case_file={case_file_id}")
    messages.success(request, _("Referral to “%(service)s” recorded in the case file.")
                     % {"service": referral.service})
    return redirect(reverse("cases:household", args=[referral.case_file.household_id])
                    + "#h-ref")


@login_required
@require_GET
def services_layer(request: HttpRequest) -> HttpResponse:
    """The map's services layer as GeoJSON (filters: need, category, bbox)."""
    actor = _actor(request)
    try:
        query = directory.ServiceQuery.parse(request.GET)
    except ValueError as wrong:
        return JsonResponse({"detail": str(wrong)}, status=400)
    return JsonResponse(directory.services_geojson(query, organisation_of(actor.user)))


urlpatterns: list[URLPattern] = [
    path("services/", service_list, name="services"),
    path("services/new/", service_new, name="service_new"),
    path("services/layer.geojson", services_layer, name="services_layer"),
    path("services/<int:service_id>/", service_detail, name="service"),
    path("services/<int:service_id>/edit/", service_edit, name="service_edit"),
    path("case-files/<int:case_file_id>/refer/<int:service_id>/", refer, name="refer"),
]
