"""The managers' settings of the map: crisis rules and visits per month by level."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from entraide.secrecy import policy
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from . import crisis
from .models import CrisisRule, Signal, VisitFrequency


@dataclass
class Settings:
    rules: list[CrisisRule]
    frequencies: list[VisitFrequency]
    editable: bool


def current(actor: Actor) -> Settings:
    """The rules and frequencies: every map user reads why levels are what they are."""
    policy.guard_role(actor, policy.can_see_map(actor.user), "crisis_rules")
    return Settings(list(CrisisRule.objects.order_by("signal", "-level", "threshold")),
                    list(VisitFrequency.objects.order_by("level")),
                    policy.can_edit_crisis_rules(actor.user))


def _rule(values: Mapping[str, Any]) -> tuple[str, float, int, str, bool]:
    signal = str(values.get("signal", ""))
    if signal not in Signal.values:
        raise ValueError(_("Choose what the rule looks at."))
    try:
        threshold = float(str(values.get("threshold", "")).replace(",", "."))
    except ValueError:
        raise ValueError(_("A rule's threshold must be a number.")) from None
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(_("A rule's threshold must be a number.")) from None
    level = str(values.get("level", ""))
    if level not in {"1", "2", "3", "4"}:
        raise ValueError(_("A crisis level is a number from 1 to 4."))
    return (signal, threshold, int(level), str(values.get("reason", "")).strip()[:200],
            bool(values.get("active")))


def _visits(raw: Any) -> Decimal:
    try:
        visits = Decimal(str(raw).replace(",", ".")).quantize(Decimal("0.1"))
    except InvalidOperation:
        raise ValueError(_("Visits per month must be a number between 0 and 31.")) from None
    if not visits.is_finite() or not Decimal(0) <= visits <= Decimal(31):
        raise ValueError(_("Visits per month must be a number between 0 and 31."))
    return visits


def save(actor: Actor, rules: Mapping[int, Mapping[str, Any]], new_rule: Mapping[str, Any] | None,
         frequencies: Mapping[int, Any]) -> int:
    """Change rules (`delete` in a rule's values removes it), add one, set the visits per
    month; every change audited, then every household's level recomputed. Nothing is kept
    when one value is wrong. Returns how many changes were made."""
    policy.guard_role(actor, policy.can_edit_crisis_rules(actor.user), "crisis_rules")
    changed = 0
    with transaction.atomic():
        for rule in CrisisRule.objects.select_for_update().filter(pk__in=list(rules)):
            values = rules[rule.pk]
            if values.get("delete"):
                policy.record(actor, AuditAction.UPDATE, "crisis_rule", rule.pk,
                              detail=f"deleted: {rule}")
                rule.delete()
                changed += 1
                continue
            before = str(rule), rule.reason, rule.active
            rule.signal, rule.threshold, rule.level, rule.reason, rule.active = _rule(values)
            if (str(rule), rule.reason, rule.active) != before:
                rule.version += 1
                rule.save()
                policy.record(actor, AuditAction.UPDATE, "crisis_rule", rule.pk,
                              detail=f"{before[0]} → {rule}, active={rule.active}")
                changed += 1
        if new_rule and str(new_rule.get("threshold", "")).strip():
            signal, threshold, level, reason, _active = _rule(new_rule)
            rule = CrisisRule.objects.create(signal=signal, threshold=threshold, level=level,
                                             reason=reason)
            policy.record(actor, AuditAction.CREATE, "crisis_rule", rule.pk, detail=str(rule))
            changed += 1
        for frequency in VisitFrequency.objects.select_for_update().filter(
                level__in=list(frequencies)):
            visits = _visits(frequencies[frequency.level])
            if visits != frequency.visits_per_month:
                policy.record(actor, AuditAction.UPDATE, "visit_frequency", frequency.pk,
                              detail=f"level {frequency.level}: {frequency.visits_per_month}"
                                     f" → {visits} a month")
                frequency.visits_per_month, frequency.version = visits, frequency.version + 1
                frequency.save()
                changed += 1
        if changed:
            transaction.on_commit(crisis.refresh, robust=True)
    return changed
