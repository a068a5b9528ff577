"""Web pages of the case file: caseload, household page, notes, assessment, plan, search."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from entraide.concurrency import StaleEdit, resubmittable
from entraide.org.services import assignable_agents, landing_url
from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from . import forms, services, stats
from .models import Domain, GoalStatus, ReferralStatus


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    value = request.GET.get(name, "")
    return min(int(value), 10**9) if value.isdigit() else default


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect(landing_url(request.user))  # type: ignore[arg-type]


@login_required
@require_GET
def caseload(request: HttpRequest) -> HttpResponse:
    """My open case files, with overdue plan actions."""
    offset = _int_param(request, "offset", 0)
    rows, total = services.caseload(_actor(request), limit=50, offset=offset)
    return render(request, "cases/caseload.html",
                  {"rows": rows, "total": total, "offset": offset, "next": offset + 50})


@login_required
@require_GET
def household(request: HttpRequest, household_id: int) -> HttpResponse:
    """The household page: the case file for those in need-to-know, the desk view otherwise."""
    actor = _actor(request)
    case_file = services.case_file_of(actor, household_id)
    if case_file is None:
        try:
            context = services.household_view_for_reception(actor, household_id)
        except policy.Denied as refused:
            if actor.role not in policy.FILE_ROLES:
                raise
            return render(request, "cases/need_to_know.html",
                          {"household_id": household_id, "message": str(refused)}, status=403)
        return render(request, "cases/household_desk.html", context)
    view = services.read_case_file(actor, case_file.pk)
    return render(request, "cases/household.html", {
        "view": view, "case_file": view.case_file, "timeline": view.timeline,
        "note_form": forms.NoteForm(), "referral_form": forms.ReferralForm(),
        "domains": Domain.choices, "referral_statuses": ReferralStatus.choices,
    })


@login_required
@require_http_methods(["GET", "POST"])
def emergency_access(request: HttpRequest, household_id: int) -> HttpResponse:
    """Break the glass: open a file outside need-to-know, giving the reason."""
    from entraide.secrecy.emergency import MIN_REASON, break_glass

    actor = _actor(request)
    policy.guard_role(actor, actor.role in policy.FILE_ROLES, "emergency_access")
    error = ""
    if request.method == "POST":
        try:
            access = break_glass(actor, services.emergency_target(household_id).pk,
                                 request.POST.get("reason", "")[:500])
        except ValueError as exc:
            error = str(exc)
        else:
            messages.warning(request, _("Emergency access granted until %(until)s. It is "
                                        "recorded and notified to the DPO and the referent.")
                             % {"until": timezone.localtime(access.expires_at).strftime("%H:%M")})
            return redirect("cases:household", household_id)
    return render(request, "cases/emergency_access.html",
                  {"household_id": household_id, "error": error, "min_reason": MIN_REASON,
                   "minutes": settings.ENTRAIDE_BREAK_GLASS_MINUTES},
                  status=400 if error else 200)


@login_required
@require_GET
def timeline(request: HttpRequest, case_file_id: int) -> HttpResponse:
    """One more page of the timeline (htmx fragment)."""
    result = services.timeline(_actor(request), case_file_id, _int_param(request, "page", 1))
    return render(request, "cases/_timeline.html", {"timeline": result})


def _stale(request: HttpRequest, template: str, context: dict[str, Any], exc: StaleEdit
           ) -> HttpResponse:
    return render(request, template, {**context, "stale": exc}, status=409)


@login_required
@require_http_methods(["GET", "POST"])
def new_note(request: HttpRequest, case_file_id: int) -> HttpResponse:
    actor = _actor(request)
    case_file = policy.guard_case_file(actor, case_file_id)
    form = forms.NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.add_note(actor, case_file_id, form.cleaned_data["kind"], form.cleaned_data["body"],
                          sensitive=form.cleaned_data["sensitive"])
        messages.success(request, _("Note saved."))
        return redirect("cases:household", case_file.household_id)
    return render(request, "cases/note_form.html", {"form": form, "case_file": case_file},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def correct_note(request: HttpRequest, note_id: int) -> HttpResponse:
    """Correct a note: the new text becomes the next version, the old one stays visible."""
    actor = _actor(request)
    versions = services.note_history(actor, note_id)
    current = next(v for v in versions if v.is_current)
    if current.hidden:
        raise policy.Denied(_("Only the author and the referent can read this sensitive note."))
    initial = {"kind": current.kind, "body": current.body, "version_no": current.version_no}
    form = forms.CorrectionForm(request.POST or None, initial=initial)
    context = {"form": form, "case_file": current.case_file, "versions": versions,
               "note": current}
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_note(actor, note_id, form.cleaned_data["version_no"],
                                  form.cleaned_data["body"], form.cleaned_data["kind"])
        except StaleEdit as exc:
            data = resubmittable(request.POST, exc, "version_no")
            context["form"] = forms.CorrectionForm(data)
            return _stale(request, "cases/note_form.html", context, exc)
        messages.success(request, _("Correction saved; the previous version is kept."))
        return redirect("cases:household", current.case_file.household_id)
    return render(request, "cases/note_form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def assessment(request: HttpRequest, case_file_id: int) -> HttpResponse:
    """Needs and strengths per domain, with the history of earlier assessments."""
    actor = _actor(request)
    form = forms.AssessmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.assess(actor, case_file_id, form.levels())
        messages.success(request, _("Assessment saved."))
        return redirect("cases:assessment", case_file_id)
    case_file, history = services.assessments_of(actor, case_file_id)
    return render(request, "cases/assessment.html",
                  {"form": form, "case_file": case_file, "history": history,
                   "domains": Domain.choices},
                  status=400 if form.errors else 200)


def _set_agent_choices(form: Any, name: str, case_file: Any) -> None:
    form.fields[name].choices = [("", "—"), *assignable_agents(case_file.team)]


def _action_form(case_file: Any, data: Any = None, edit: bool = False, **kw: Any) -> Any:
    form = (forms.ActionEditForm if edit else forms.ActionForm)(data, **kw)
    _set_agent_choices(form, "owner", case_file)
    return form


@login_required
@require_http_methods(["GET", "POST"])
def plan(request: HttpRequest, case_file_id: int) -> HttpResponse:
    """The support plan: goals and their actions; adds a goal on POST."""
    actor = _actor(request)
    form = forms.GoalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.add_goal(actor, case_file_id, form.cleaned_data["domain"],
                          form.cleaned_data["title"])
        messages.success(request, _("Goal added."))
        return redirect("cases:plan", case_file_id)
    case_file, goals = services.plan_of(actor, case_file_id)
    return render(request, "cases/plan.html", {
        "case_file": case_file, "goals": goals, "goal_form": form,
        "owner_choices": assignable_agents(case_file.team),
        "goal_statuses": GoalStatus.choices,
    }, status=400 if form.errors else 200)


@login_required
@require_POST
def goal_status(request: HttpRequest, goal_id: int) -> HttpResponse:
    actor = _actor(request)
    form = forms.GoalStatusForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Invalid status."), status=400)
    try:
        goal = services.update_goal(actor, goal_id, form.cleaned_data["version"],
                                    {"status": form.cleaned_data["status"]})
    except StaleEdit as exc:
        messages.error(request, str(exc))
        goal = exc.current  # type: ignore[assignment]
    return redirect("cases:plan", goal.case_file_id)


@login_required
@require_POST
def new_action(request: HttpRequest, goal_id: int) -> HttpResponse:
    actor = _actor(request)
    goal_case_file = services.goal_case_file(actor, goal_id)
    form = _action_form(goal_case_file, request.POST)
    if form.is_valid():
        services.add_action(actor, goal_id, form.cleaned_data["title"],
                            form.cleaned_data["owner"], form.cleaned_data["due_date"])
        messages.success(request, _("Action added."))
    else:
        messages.error(request, _("The action was not added: %(errors)s")
                       % {"errors": "; ".join(e for errs in form.errors.values() for e in errs)})
    return redirect("cases:plan", goal_case_file.pk)


@login_required
@require_http_methods(["GET", "POST"])
def edit_action(request: HttpRequest, action_id: int) -> HttpResponse:
    """Edit an action; a stale save shows what changed and keeps what was typed."""
    actor = _actor(request)
    action, case_file = services.get_action(actor, action_id)
    initial = {"title": action.title, "owner": action.owner_id, "due_date": action.due_date,
               "status": action.status, "version": action.version}
    form = _action_form(case_file, request.POST or None, edit=True, initial=initial)
    context = {"form": form, "action": action, "case_file": case_file}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_action(actor, action_id, data["version"], {
                "title": data["title"], "owner_id": data["owner"],
                "due_date": data["due_date"], "status": data["status"]})
        except StaleEdit as exc:
            posted = resubmittable(request.POST, exc)
            context["form"] = _action_form(case_file, posted, edit=True)
            return _stale(request, "cases/action_form.html", context, exc)
        messages.success(request, _("Action saved."))
        return redirect("cases:plan", case_file.pk)
    return render(request, "cases/action_form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def new_referral(request: HttpRequest, case_file_id: int) -> HttpResponse:
    actor = _actor(request)
    form = forms.ReferralForm(request.POST)
    case_file = policy.guard_case_file(actor, case_file_id)
    if form.is_valid():
        services.add_referral(actor, case_file_id, form.cleaned_data["service"],
                              form.cleaned_data["reason"])
        messages.success(request, _("Referral recorded."))
    else:
        messages.error(request, _("The referral was not recorded: fill in the service and the "
                                  "reason (at most 200 and 1000 characters)."))
    return redirect("cases:household", case_file.household_id)


@login_required
@require_POST
def referral_status(request: HttpRequest, referral_id: int) -> HttpResponse:
    actor = _actor(request)
    form = forms.ReferralStatusForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Invalid status."), status=400)
    try:
        referral = services.update_referral(actor, referral_id, form.cleaned_data["version"],
                                            form.cleaned_data["status"])
    except StaleEdit as exc:
        messages.error(request, str(exc))
        referral = exc.current  # type: ignore[assignment]
    return redirect("cases:household", referral.case_file.household_id)


@login_required
@require_http_methods(["GET", "POST"])
def edit_case_file(request: HttpRequest, case_file_id: int) -> HttpResponse:
    """Referent and status of the file, under optimistic concurrency."""
    actor = _actor(request)
    case_file = policy.guard_case_file(actor, case_file_id)
    initial = {"version": case_file.version, "referent": case_file.referent_id,
               "status": case_file.status}
    form = forms.CaseFileForm(request.POST or None, initial=initial)
    _set_agent_choices(form, "referent", case_file)
    context = {"form": form, "case_file": case_file}
    if request.method == "POST" and form.is_valid():
        try:
            services.update_case_file(actor, case_file_id, form.cleaned_data["version"], {
                "referent_id": form.cleaned_data["referent"],
                "status": form.cleaned_data["status"]})
        except StaleEdit as exc:
            posted = resubmittable(request.POST, exc)
            form = forms.CaseFileForm(posted)
            _set_agent_choices(form, "referent", case_file)
            context["form"] = form
            return _stale(request, "cases/case_file_form.html", context, exc)
        messages.success(request, _("Case file updated."))
        return redirect("cases:household", case_file.household_id)
    return render(request, "cases/case_file_form.html", context,
                  status=400 if form.errors else 200)


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Search notes by words and persons by name, within need-to-know."""
    actor = _actor(request)
    form = forms.SearchForm(request.GET or None)
    context: dict[str, Any] = {"form": form}
    if form.is_bound and form.is_valid():
        q = form.cleaned_data["q"]
        context["found"] = services.search_notes(actor, q, limit=30)
        context["persons"] = services.search_persons(actor, q)
    elif form.is_bound:
        return render(request, "cases/search.html", context, status=400)
    template = "cases/_search_results.html" if request.headers.get("HX-Request") else \
        "cases/search.html"
    return render(request, template, context)


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Aggregated counts for managers and leads; small cells are hidden."""
    return render(request, "cases/overview.html", {"table": stats.overview(_actor(request))})


@login_required
@require_GET
def monitoring(request: HttpRequest) -> HttpResponse:
    """The operator's place: the telecare console."""
    policy.guard_role(_actor(request), request.user.role == "operator", "monitoring")  # type: ignore[union-attr]
    return redirect("telecare:console")
