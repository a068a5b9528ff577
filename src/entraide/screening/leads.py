"""What the teams do with a screening: see their leads, record what came of each visit,
read the runs' figures, and — team leads — tune the scorecard. All through the policy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from entraide.secrecy import policy
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from .models import Indicator, Lead, Outcome, ScreeningRun

PAGE_SIZE = 50


class Status:
    TO_SEE = "to_see"
    DONE = "done"
    ALL = "all"


@dataclass
class LeadPage:
    leads: list[Lead]
    total: int
    page: int
    pages: int
    status: str


def _filtered(leads: QuerySet[Lead], status: str) -> QuerySet[Lead]:
    if status == Status.TO_SEE:
        return leads.filter(outcome="")
    if status == Status.DONE:
        return leads.exclude(outcome="")
    return leads


def leads_for(actor: Actor, status: str = Status.TO_SEE, page: int = 1) -> LeadPage:
    """The leads sent to the actor's team (territory, for a lead), the newest run's first,
    highest score first within a run; each lead shown is audited, since it names a
    household."""
    policy.guard_role(actor, actor.user.role in policy.FILE_ROLES, "screening_lead")
    scope = Lead.objects.filter(policy.lead_scope(actor.user))
    leads = _filtered(scope, status).select_related("household", "team", "run")
    total = leads.count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = list(leads.order_by("-run__started_at", "-score", "pk")
                 [(page - 1) * PAGE_SIZE:page * PAGE_SIZE])
    for lead in shown:
        policy.record(actor, AuditAction.READ, "screening_lead", lead.pk, lead.household_id,
                      detail="list")
    return LeadPage(shown, total, page, pages, status)


@dataclass
class LeadView:
    lead: Lead
    members: int
    followed: bool  # an open case file exists now (opened since the run, perhaps)
    may_open_household: bool


def lead_view(actor: Actor, lead_id: int) -> LeadView:
    """One lead with what a worker needs before going: where, how many people, why."""
    from entraide.cases.models import CaseFile, CaseStatus

    lead = policy.guard_lead(actor, lead_id)
    policy.record(actor, AuditAction.READ, "screening_lead", lead.pk, lead.household_id)
    household = lead.household
    return LeadView(
        lead, household.members.filter(merged_into__isnull=True).count(),
        CaseFile.objects.filter(household=household, status=CaseStatus.OPEN).exists(),
        policy.can_identify_household(actor.user, household))


@policy.atomic
def record_outcome(actor: Actor, lead_id: int, outcome: str) -> Lead:
    """What came of going to see the household; it also teaches the next learned model."""
    if outcome not in Outcome.values:
        raise ValueError(_("Choose what came of the visit."))
    lead = policy.guard_lead(actor, lead_id, for_update=True)
    lead.outcome, lead.outcome_at, lead.outcome_by = outcome, timezone.now(), actor.user
    lead.save(update_fields=["outcome", "outcome_at", "outcome_by"])
    policy.record(actor, AuditAction.UPDATE, "screening_lead", lead.pk, lead.household_id,
                  detail=f"outcome {outcome}")
    return lead


def runs(actor: Actor, limit: int = 12) -> list[ScreeningRun]:
    """The latest runs with their figures, evaluation and bias report: no household named."""
    policy.guard_role(actor, policy.can_see_screening_runs(actor.user), "screening_run")
    return list(ScreeningRun.objects.order_by("-started_at")[:limit])


def outcome_counts(run: ScreeningRun) -> dict[str, int]:
    """How many leads of a run have each outcome, and how many are still to see."""
    counts = {value: 0 for value in Outcome.values} | {"": 0}
    counts.update(run.lead_set.values_list("outcome").annotate(n=Count("pk")).order_by())
    return counts


def scorecard(actor: Actor) -> list[Indicator]:
    """The indicators with their points, for reading (leads, managers) or editing (leads)."""
    policy.guard_role(actor, policy.can_see_screening_runs(actor.user), "screening_scorecard")
    return list(Indicator.objects.select_related("source").filter(source__active=True)
                .order_by("source__name", "label"))


@policy.atomic
def update_scorecard(actor: Actor, changes: Mapping[int, Mapping[str, Any]]) -> int:
    """Set the points, threshold and plain-words explanation of indicators; returns how
    many changed. Each change is audited (who changed how households are scored)."""
    policy.guard_role(actor, policy.can_edit_scorecard(actor.user), "screening_scorecard")
    changed = 0
    indicators = Indicator.objects.select_for_update().filter(pk__in=list(changes))
    for indicator in indicators:
        new = changes[indicator.pk]
        before = (indicator.points, indicator.threshold, indicator.explanation)
        indicator.points = int(new["points"])
        indicator.threshold = float(new["threshold"])
        if not math.isfinite(indicator.threshold):  # it goes into the pipeline's SQL
            raise ValueError(_("A threshold must be a number."))
        indicator.explanation = str(new["explanation"])[:300]
        if (indicator.points, indicator.threshold, indicator.explanation) != before:
            indicator.save(update_fields=["points", "threshold", "explanation"])
            policy.record(actor, AuditAction.UPDATE, "screening_indicator", indicator.pk,
                          detail=f"{indicator}: points {before[0]}→{indicator.points}, "
                                 f"from {before[1]:g}→{indicator.threshold:g}")
            changed += 1
    return changed



def waiting_lead_of(actor: Actor, household_id: int) -> int | None:
    """The household's latest lead still waiting for a visit, if sent where the agent
    works (`policy.lead_scope`)."""
    return (Lead.objects.filter(policy.lead_scope(actor.user), household_id=household_id,
                                outcome="").order_by("-run_id").values_list("pk", flat=True)
            .first())
