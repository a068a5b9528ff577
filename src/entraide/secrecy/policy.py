"""Need-to-know: the one place that decides who may see which personal data, and records it.

Every service that reads or writes personal data calls `guard_*` (decides, records refusals)
then `record` (writes the audit line). Views and API handlers never filter querysets
themselves: they call services, which call this module.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from entraide.org.models import Role

from . import crypto
from .audit_chain import append
from .models import AuditAction, AuditRecord, EmergencyAccess

if TYPE_CHECKING:
    from django.http import HttpRequest

    from entraide.cases.models import CaseFile
    from entraide.org.models import User
    from entraide.people.models import Household
    from entraide.screening.models import Lead
    from entraide.telecare.models import Installation
    from entraide.territory.models import DayPlan

P = ParamSpec("P")
R = TypeVar("R")

FILE_ROLES = frozenset({Role.SOCIAL_WORKER, Role.TEAM_LEAD})
IDENTITY_ROLES = FILE_ROLES | {Role.RECEPTION}


class Denied(PermissionDenied):
    """Raised when an agent is outside need-to-know; the message says why, for a person.

    `unsaved_refusal` holds the refusal's audit record when it was written inside a
    transaction that this very exception is about to roll back.
    """

    def __init__(self, message: str, unsaved_refusal: dict[str, Any] | None = None):
        super().__init__(message)
        self.unsaved_refusal = unsaved_refusal


@dataclass(frozen=True)
class Actor:
    """Who is acting, from where, through which channel, and why if they said."""

    user: User
    ip: str | None = None
    channel: str = "web"
    reason: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, channel: str = "web") -> Actor:
        return cls(
            user=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
            channel=channel,
            reason=(request.GET.get("reason") or "")[:500],
        )

    @property
    def role(self) -> str:
        return self.user.role


def client_ip(request: HttpRequest) -> str | None:
    """Where the request came from: the proxy's X-Real-IP when it is trusted, else the peer."""
    from django.conf import settings

    candidates = [request.META.get("REMOTE_ADDR")]
    if settings.ENTRAIDE_TRUST_X_REAL_IP:
        candidates.insert(0, request.META.get("HTTP_X_REAL_IP"))
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address((candidate or "").strip()))
        except ValueError:
            continue
    return None


def record(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | None = None,
    household_id: int | None = None,
    detail: str = "",
) -> AuditRecord:
    """Write one audit record for an access to personal data, chained to the one before.

    A reason given (why the agent opened it, an emergency) says something of the household:
    it is sealed with the household's key when the record concerns one that has a key."""
    reason = actor.reason
    if reason and household_id is not None:
        reason = crypto.seal_if_keyed(household_id, reason[:300], crypto.AUDIT_REASON) or reason
    return append(
        user=actor.user,
        username=actor.user.get_username(),
        role=actor.role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        household_id=household_id,
        channel=actor.channel,
        ip=actor.ip,
        reason=reason,
        detail=detail[:500],
    )


def _refuse(actor: Actor, object_type: str, object_id: int | None, household_id: int | None,
            message: str) -> Denied:
    refusal: dict[str, Any] = {"actor": actor, "action": AuditAction.DENIED,
                               "object_type": object_type, "object_id": object_id,
                               "household_id": household_id}
    record(**refusal)
    return Denied(message, refusal if connection.in_atomic_block else None)


_services = threading.local()


def atomic(func: Callable[P, R]) -> Callable[P, R]:
    """`transaction.atomic` for services: a refusal recorded inside outlives the rollback,
    also when the service runs inside another one's transaction (the outermost records it)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        depth = getattr(_services, "depth", 0)
        _services.depth = depth + 1
        try:
            with transaction.atomic():
                return func(*args, **kwargs)
        except Denied as refused:
            if refused.unsaved_refusal is not None and depth == 0:
                record(**refused.unsaved_refusal)
                refused.unsaved_refusal = None
            raise
        finally:
            _services.depth = depth

    return wrapper


# --- who may see what -----------------------------------------------------------------

def case_file_scope(user: User) -> Q:
    """The case files an agent has need-to-know for, as a filter on CaseFile."""
    if user.role == Role.SOCIAL_WORKER:
        return Q(referent_id=user.pk) | Q(team_id=user.team_id)
    if user.role == Role.TEAM_LEAD and user.territory_id is not None:
        return Q(team__territory_id=user.territory_id)
    return Q(pk__in=[])


def readable_case_files(user: User) -> models.QuerySet[CaseFile]:
    """Case files the agent may open."""
    from entraide.cases.models import CaseFile

    if user.role not in FILE_ROLES:
        return CaseFile.objects.none()
    return CaseFile.objects.filter(case_file_scope(user))


def case_file_readable(user: User, case_file_field: str) -> Exists:
    """A condition on rows of another table: their case file is one the agent may read.

    Checked row by row through the case file's primary key, which suits queries that stop
    after a page better than materialising every readable case file first.
    """
    return Exists(readable_case_files(user).filter(pk=OuterRef(case_file_field)))


def identifiable_households(user: User) -> models.QuerySet[Household]:
    """Households whose identity (members, address) the agent may see."""
    from entraide.cases.models import CaseFile
    from entraide.people.models import Household

    if user.territory_id is None:
        return Household.objects.none()
    if user.role in (Role.RECEPTION, Role.TEAM_LEAD):
        return Household.objects.filter(territory_id=user.territory_id)
    if user.role == Role.SOCIAL_WORKER:
        files = CaseFile.objects.filter(case_file_scope(user), household_id=OuterRef("pk"))
        return Household.objects.filter(Q(territory_id=user.territory_id) | Exists(files))
    return Household.objects.none()


def can_read_case_file(user: User, case_file: CaseFile) -> bool:
    """Whether the agent has need-to-know for this case file's content."""
    if user.role == Role.SOCIAL_WORKER:
        return case_file.referent_id == user.pk or case_file.team_id == user.team_id
    if user.role == Role.TEAM_LEAD:
        return user.territory_id is not None and case_file.team.territory_id == user.territory_id
    return False


def can_identify_household(user: User, household: Household) -> bool:
    """Whether the agent may see who lives in this household and where."""
    if user.role in IDENTITY_ROLES and household.territory_id == user.territory_id:
        return True
    if user.role == Role.SOCIAL_WORKER:
        return readable_case_files(user).filter(household_id=household.pk).exists()
    return False


def can_read_sensitive(user: User, author_id: int, case_file: CaseFile) -> bool:
    """A sensitive note (health, violence, minors) is read by its author and the referent."""
    return user.pk in (author_id, case_file.referent_id)


def can_see_audit(user: User) -> bool:
    return user.role == Role.DPO


def can_see_aggregates(user: User) -> bool:
    return user.role in (Role.MANAGER, Role.TEAM_LEAD)


def can_do_intake(user: User) -> bool:
    return user.role in IDENTITY_ROLES


def can_monitor(user: User) -> bool:
    """Monitoring operators answer alarms, for their territory or, without one, for all."""
    return user.role == Role.OPERATOR


def monitoring_scope(user: User) -> Q:
    """The telecare installations an operator watches, as a filter on Installation."""
    if not can_monitor(user):
        return Q(pk__in=[])
    return Q() if user.territory_id is None else Q(territory_id=user.territory_id)


def can_see_installation(user: User, installation: Installation) -> bool:
    """Operators in scope; the social workers and leads who follow the household."""
    if can_monitor(user):
        return user.territory_id in (None, installation.territory_id)
    return user.role in FILE_ROLES and can_identify_household(user, installation.household)


def can_equip(user: User, household: Household) -> bool:
    """Who may equip a home with telecare and keep its devices and contacts up to date:
    operators in scope, and the household's own workers — those its case files are
    assigned to, and the leads of their territory — not every agent who may identify it."""
    if can_monitor(user):
        return user.territory_id in (None, household.territory_id)
    return readable_case_files(user).filter(household_id=household.pk).exists()


def lead_scope(user: User) -> Q:
    """The screening leads an agent may see, as a filter on Lead: those sent to their team,
    or, for a team lead, to any team of their territory. Leads name households nobody
    follows yet: only the people who are to go and see them have need-to-know."""
    if user.role == Role.SOCIAL_WORKER and user.team_id is not None:
        return Q(team_id=user.team_id)
    if user.role == Role.TEAM_LEAD and user.territory_id is not None:
        return Q(territory_id=user.territory_id)
    return Q(pk__in=[])


def can_see_screening_runs(user: User) -> bool:
    """Runs, their evaluation and bias report: figures without names."""
    return user.role in (Role.TEAM_LEAD, Role.MANAGER, Role.DPO)


def can_edit_scorecard(user: User) -> bool:
    return user.role == Role.TEAM_LEAD


def map_scope(user: User, household_field: str = "pk") -> Q:
    """The households an agent sees as points on the welfare map, as a filter on the rows
    whose `household_field` is the household:
    those whose case file they may read and those whose lead was sent to their team (for a
    team lead, their territory's). Being able to identify a household at the desk is not
    need-to-know for its crisis level."""
    from entraide.cases.models import CaseFile, CaseStatus
    from entraide.screening.models import Lead

    if user.role not in FILE_ROLES:
        return Q(pk__in=[])
    files = CaseFile.objects.filter(case_file_scope(user), status=CaseStatus.OPEN,
                                    household_id=OuterRef(household_field))
    leads = Lead.objects.filter(lead_scope(user), outcome="",
                                household_id=OuterRef(household_field))
    return Q(Exists(files)) | Q(Exists(leads))


def map_layer_scope(user: User) -> Q:
    """`map_scope` as a filter on the map's own table of crisis levels, whose `team` is the
    team following the household (its open case file's, else its waiting lead's): the fast
    form the layers use. It never shows more than `map_scope` and may show less when the
    team following a household sits in another territory than the household."""
    from entraide.cases.models import CaseFile, CaseStatus
    from entraide.org.models import Team

    if user.role == Role.SOCIAL_WORKER:
        referent_of = CaseFile.objects.filter(referent_id=user.pk, status=CaseStatus.OPEN)
        return (Q(team_id=user.team_id) if user.team_id is not None else Q(pk__in=[])) | Q(
            household_id__in=referent_of.values("household_id"))
    if user.role == Role.TEAM_LEAD and user.territory_id is not None:
        return Q(territory_id=user.territory_id, team_id__in=Team.objects.filter(
            territory_id=user.territory_id).values("pk"))
    return Q(pk__in=[])


def can_see_map(user: User) -> bool:
    """Workers and team leads see their households; managers see counts per area."""
    return user.role in FILE_ROLES or user.role == Role.MANAGER


def can_edit_crisis_rules(user: User) -> bool:
    """Crisis rules and the visits-per-level table are the managers' to set."""
    return user.role == Role.MANAGER


def can_edit_directory(user: User) -> bool:
    """The service directory holds no personal data; leads and managers keep it current."""
    return user.role in (Role.TEAM_LEAD, Role.MANAGER)


def can_plan_visits(user: User) -> bool:
    return user.role in FILE_ROLES and user.team_id is not None


# --- guarded access ----------------------------------------------------------------------

def active_emergency_access(user: User, case_file_id: int) -> EmergencyAccess | None:
    """The agent's unexpired break-the-glass access to a case file, if any."""
    return (EmergencyAccess.objects.filter(user=user, case_file_id=case_file_id,
                                           expires_at__gt=timezone.now())
            .order_by("-expires_at").first())


def guard_case_file(actor: Actor, case_file_id: int, *, for_update: bool = False) -> CaseFile:
    """Return the case file if the actor has need-to-know, or an emergency access to it;
    record and raise otherwise."""
    from entraide.cases.models import CaseFile

    queryset = CaseFile.objects.select_related("household", "team__territory", "referent")
    if for_update:
        queryset = queryset.select_for_update()
    try:
        case_file = queryset.get(pk=case_file_id)
    except CaseFile.DoesNotExist:
        raise Http404(_("No case file with this number.")) from None
    if can_read_case_file(actor.user, case_file):
        return case_file
    if actor.user.role in FILE_ROLES and (
            emergency := active_emergency_access(actor.user, case_file.pk)):
        case_file.emergency = emergency  # type: ignore[attr-defined]
        return case_file
    raise _refuse(actor, "case_file", case_file.pk, case_file.household_id,
                  _("You have no need to know this case file."))


def open_case_file(actor: Actor, case_file_id: int) -> CaseFile:
    """Return the case file for reading, with exactly one audit record (flagged when read
    under an emergency access)."""
    case_file = guard_case_file(actor, case_file_id)
    emergency = getattr(case_file, "emergency", None)
    if emergency is None:
        record(actor, AuditAction.READ, "case_file", case_file.pk, case_file.household_id)
    else:
        record(Actor(actor.user, actor.ip, actor.channel, emergency.reason), AuditAction.READ,
               "case_file", case_file.pk, case_file.household_id,
               detail=f"break-the-glass until {emergency.expires_at.isoformat()}")
    return case_file


def guard_household(actor: Actor, household_id: int) -> Household:
    """Return the household if the actor may identify it; record and raise otherwise."""
    from entraide.people.models import Household

    try:
        household = Household.objects.select_related("territory").get(pk=household_id)
    except Household.DoesNotExist:
        raise Http404(_("No household with this number.")) from None
    if not can_identify_household(actor.user, household):
        raise _refuse(actor, "household", household.pk, household.pk,
                      _("You have no need to know this household."))
    return household


def guard_installation(actor: Actor, installation_id: int, *, operate: bool = False
                       ) -> Installation:
    """Return a telecare installation the actor may see (or, with `operate`, act on as an
    operator); record and raise otherwise."""
    from entraide.telecare.models import Installation

    try:
        installation = Installation.objects.select_related(
            "household", "resident", "territory").get(pk=installation_id)
    except Installation.DoesNotExist:
        raise Http404(_("No telecare installation with this number.")) from None
    allowed = can_see_installation(actor.user, installation)
    if not allowed or (operate and not can_monitor(actor.user)):
        raise _refuse(actor, "telecare_installation", installation.pk, installation.household_id,
                      _("You do not monitor this home."))
    return installation


def guard_equipment(actor: Actor, household_id: int, installation_id: int | None = None
                    ) -> Household:
    """Return the household if the actor may equip its home with telecare (or change its
    installation `installation_id`); record and raise otherwise."""
    from entraide.people.models import Household

    try:
        household = Household.objects.select_related("territory").get(pk=household_id)
    except Household.DoesNotExist:
        raise Http404(_("No household with this number.")) from None
    if not can_equip(actor.user, household):
        raise _refuse(actor, "telecare_installation", installation_id, household.pk,
                      _("Only the monitoring centre and the social workers who follow this "
                        "household may set up or change its telecare."))
    return household


def guard_lead(actor: Actor, lead_id: int, *, for_update: bool = False) -> Lead:
    """Return the lead if the actor may see it; record and raise otherwise."""
    from entraide.screening.models import Lead

    leads = Lead.objects.select_related("household", "territory", "team", "run")
    if for_update:
        leads = leads.select_for_update(of=("self",))
    try:
        lead = leads.get(pk=lead_id)
    except Lead.DoesNotExist:
        raise Http404(_("No lead with this number.")) from None
    if not Lead.objects.filter(lead_scope(actor.user), pk=lead.pk).exists():
        raise _refuse(actor, "screening_lead", lead.pk, lead.household_id,
                      _("This lead was sent to another team."))
    return lead


def guard_map_household(actor: Actor, household_id: int) -> Household:
    """Return the household if it is on the actor's map; record and raise otherwise."""
    from entraide.people.models import Household

    try:
        household = Household.objects.select_related("territory").get(pk=household_id)
    except Household.DoesNotExist:
        raise Http404(_("No household with this number.")) from None
    if not Household.objects.filter(map_scope(actor.user), pk=household.pk).exists():
        raise _refuse(actor, "household", household.pk, household.pk,
                      _("You do not follow this household."))
    return household


def guard_day_plan(actor: Actor, plan_id: int) -> DayPlan:
    """Return a day plan: its worker's, or for a team lead, one of their territory's."""
    from entraide.territory.models import DayPlan

    try:
        plan = DayPlan.objects.select_related("worker", "office").get(pk=plan_id)
    except DayPlan.DoesNotExist:
        raise Http404(_("No day plan with this number.")) from None
    user = actor.user
    if plan.worker_id == user.pk or (user.role == Role.TEAM_LEAD and user.territory_id
                                     and plan.worker.territory_id == user.territory_id):
        return plan
    raise _refuse(actor, "day_plan", plan.pk, None, _("This is another worker's day."))


def guard_role(actor: Actor, allowed: bool, what: str) -> None:
    """Refuse, with an audit record, an action the actor's role does not allow."""
    if not allowed:
        raise _refuse(actor, what, None, None, _("Your role does not allow this."))


def audit_log(actor: Actor, filters: dict[str, Any], limit: int, offset: int
              ) -> tuple[list[AuditRecord], int]:
    """The audit records matching the DPO's filters, newest first, itself audited."""
    guard_role(actor, can_see_audit(actor.user), "audit")
    queryset = AuditRecord.objects.all()
    if filters.get("username"):
        queryset = queryset.filter(username=filters["username"])
    if filters.get("household_id"):
        queryset = queryset.filter(household_id=filters["household_id"])
    if filters.get("action"):
        queryset = queryset.filter(action=filters["action"])
    if filters.get("since"):
        queryset = queryset.filter(at__date__gte=filters["since"])
    if filters.get("until"):
        queryset = queryset.filter(at__date__lte=filters["until"])
    total = queryset.count()
    rows = list(queryset.order_by("-at", "-id")[offset:offset + limit])
    detail = " ".join(f"{k}={v}" for k, v in sorted(filters.items()) if v)
    record(actor, AuditAction.AUDIT_QUERY, "audit", detail=detail)
    return rows, total
