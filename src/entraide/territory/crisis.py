"""Crisis levels: each household's level 1–4 from its open alerts, its screening lead, its
case file's assessment and overdue plan actions, by the rules managers set, with the reasons.

Levels are kept in `CrisisLevel` so that the map reads one row per household; `signals.py`
refreshes a household when one of its causes changes, and `refresh()` without arguments
recomputes everyone (overdue actions become overdue with no event: run it daily).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from entraide.cases import services as cases
from entraide.people.models import Household
from entraide.screening import services as screening
from entraide.telecare import services as telecare

from .models import LEVEL_COLOURS, CrisisColour, CrisisLevel, CrisisRule, Signal

CHUNK = 2000


@dataclass(frozen=True)
class Verdict:
    """A household's level and the reasons for it, highest first."""

    level: int
    reasons: list[dict[str, Any]]


def judge(values: dict[str, float], rules: Iterable[CrisisRule]) -> Verdict:
    """Apply the rules to one household's signal values: its level is the highest any rule
    gives; each signal contributes its highest-level matching rule as a reason."""
    best: dict[str, CrisisRule] = {}
    for rule in rules:
        value = values.get(rule.signal)
        if value is None or value < rule.threshold:
            continue
        if rule.signal not in best or rule.level > best[rule.signal].level:
            best[rule.signal] = rule
    chosen = sorted(best.values(), key=lambda r: (-r.level, r.signal))
    reasons: list[dict[str, Any]] = [{"signal": r.signal, "level": r.level,
                                      "value": values[r.signal], "text": r.reason}
                                     for r in chosen]
    return Verdict(chosen[0].level if chosen else 1, reasons)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    iterator = iter(ids)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def refresh(household_ids: Collection[int] | None = None, today: dt.date | None = None) -> int:
    """Recompute the level of these households (all when None); returns how many."""
    rules = list(CrisisRule.objects.filter(active=True))
    if household_ids is None:
        return _refresh(None, rules, today)
    return sum(_refresh(chunk, rules, today) for chunk in _chunks(sorted(set(household_ids))))


def _refresh(ids: list[int] | None, rules: list[CrisisRule], today: dt.date | None) -> int:
    households = Household.objects.filter(anonymised_at__isnull=True)
    if ids is not None:
        households = households.filter(pk__in=ids)
    alerts = telecare.open_alert_severities(ids)
    leads = screening.waiting_leads(ids)
    files = cases.file_signals(ids, today)
    now = timezone.now()
    rows = []
    for household_id, territory_id, latitude, longitude in households.values_list(
            "pk", "territory_id", "latitude", "longitude").iterator(chunk_size=CHUNK):
        values: dict[str, float] = {}
        team_id = None
        if household_id in alerts:
            values[Signal.OPEN_ALERT] = alerts[household_id]
        if household_id in leads:
            values[Signal.SCREENING_SCORE], team_id = leads[household_id]
        file = files.get(household_id)
        if file is not None:
            team_id = file.team_id
            if file.highest_level is not None:
                values[Signal.ASSESSMENT] = file.highest_level
            if file.overdue_actions:
                values[Signal.OVERDUE_ACTIONS] = file.overdue_actions
        verdict = judge(values, rules)
        rows.append(CrisisLevel(
            household_id=household_id, territory_id=territory_id, team_id=team_id,
            level=verdict.level, reasons=verdict.reasons, open_alert=household_id in alerts,
            waiting_lead=household_id in leads, followed=file is not None,
            latitude=latitude, longitude=longitude, computed_at=now))
    CrisisLevel.objects.bulk_create(
        rows, batch_size=CHUNK, update_conflicts=True, unique_fields=["household"],
        update_fields=["territory", "team", "level", "reasons", "open_alert", "waiting_lead",
                       "followed", "latitude", "longitude", "computed_at"])
    return len(rows)


def describe(reason: dict[str, Any]) -> str:
    """A reason in words: the manager's text for the rule, or what the signal was."""
    if reason.get("text"):
        return str(reason["text"])
    value = reason.get("value")
    templates = {
        Signal.OPEN_ALERT: _("Telecare alert open (severity %(value)s)"),
        Signal.SCREENING_SCORE: _("Screening lead waiting (%(value)s points)"),
        Signal.ASSESSMENT: _("Assessment at level %(value)s in a domain"),
    }
    if reason.get("signal") == Signal.OVERDUE_ACTIONS:
        count = int(value or 0)
        return ngettext("%(value)d plan action overdue", "%(value)d plan actions overdue",
                        count) % {"value": count}
    template = templates.get(reason.get("signal", ""), "%(value)s")
    shown = f"{value:g}" if isinstance(value, float) else value
    return template % {"value": shown}


def summary(level: int, reasons: list[dict[str, Any]]) -> dict[str, Any]:
    """What the map shows beside a colour: level, its name, colour and reasons in words."""
    return {"level": level, "label": str(CrisisColour(level).label),
            "colour": LEVEL_COLOURS[level],
            "reasons": [describe(r) for r in reasons] or [_("No signal")]}

