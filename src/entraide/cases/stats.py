"""Aggregates for managers: counts per territory, with cells under the threshold hidden."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from entraide.org.models import Territory
from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from .models import CaseFile, CaseStatus, Note

SMALL_CELL = 3


@dataclass(frozen=True)
class Cell:
    value: int | None

    @property
    def hidden(self) -> bool:
        return self.value is None


def _cell(n: int) -> Cell:
    # Counts of 1 or 2 could point at a person: they are shown as "< 3", never as a number.
    return Cell(n if n == 0 or n >= SMALL_CELL else None)


@dataclass(frozen=True)
class OverviewRow:
    territory: str
    open_files: Cell
    opened_this_year: Cell
    closed_this_year: Cell
    notes_last_30_days: Cell


def overview(actor: Actor) -> list[OverviewRow]:
    """Activity per territory, no file content, small counts suppressed."""
    policy.guard_role(actor, policy.can_see_aggregates(actor.user), "overview")
    year_start = timezone.now().replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    since = timezone.now() - dt.timedelta(days=30)
    files = dict(
        (row["team__territory"], row)
        for row in CaseFile.objects.values("team__territory").annotate(
            open=Count("id", filter=Q(status=CaseStatus.OPEN)),
            opened=Count("id", filter=Q(opened_at__gte=year_start)),
            closed=Count("id", filter=Q(closed_at__gte=year_start)),
        )
    )
    notes = dict(
        Note.objects.filter(created_at__gte=since, version_no=1)
        .values_list("case_file__team__territory").annotate(n=Count("id"))
    )
    rows = []
    for territory in Territory.objects.order_by("code"):
        f = files.get(territory.pk, {})
        rows.append(OverviewRow(
            territory.name, _cell(f.get("open", 0)), _cell(f.get("opened", 0)),
            _cell(f.get("closed", 0)), _cell(notes.get(territory.pk, 0)),
        ))
    return rows
