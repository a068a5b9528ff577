"""Access-matrix rows for visits and day plans: a plan is its worker's and, for reading, their
territory's team leads'; a household is planned only by those who may read its case file."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from entraide.territory.models import DayPlan, Office, Visit

from ..access import FILE, Row, Targets, _api, _const, _obj, roles

WORKERS = roles("worker", "lead")


def add_targets(t: Targets) -> None:
    """Create the objects these rows point to, own territory (True) and other (False):
    each side's team gets an office, and its worker a plan of today with one visit."""
    world = t.world
    sides = ((True, world.team_a1, "worker", world.file_a),
             (False, world.team_b1, "worker.b", world.file_b))
    for own, team, worker, case_file in sides:
        office = Office.objects.create(team=team, name=f"Antenne {team.name}",
                                       address="1 place de la Mairie", latitude=44.21,
                                       longitude=0.61)
        plan = DayPlan.objects.create(worker=world.users[worker], day=timezone.localdate(),
                                      office=office, starts_at=dt.time(9),
                                      ends_at=dt.time(17), back_at=dt.time(10, 20))
        t.objects[("day_plan", own)] = plan
        t.objects[("visit", own)] = Visit.objects.create(
            plan=plan, household=case_file.household, case_file=case_file, position=1,
            window_start=dt.time(9), window_end=dt.time(17), arrival=dt.time(9, 15))


def _plan_data(t: Targets, own: bool) -> dict[str, Any]:
    return {"day": (timezone.localdate() + dt.timedelta(days=1)).isoformat(),
            "household": t("household", own).pk}


def web_rows() -> dict[str, Row]:
    return {
        # Planning names a household: only those who may read its case file.
        "territory:visits": Row("POST", _const("/visits/"), FILE, _plan_data),
        "territory:visit_plan": Row("GET", _obj("visits/plans", "day_plan"), FILE),
        "territory:visit_plan_ics": Row(
            "GET", lambda t, own: f"/visits/plans/{t('day_plan', own).pk}.ics", FILE),
        "territory:visit_report": Row("POST", _obj("visits", "visit", "report/"), FILE,
                                      lambda t, own: {"status": "missed"}),
    }


def api_rows() -> dict[str, Row]:
    return {
        "GET /api/v1/visits/due": Row("GET", _const("/api/v1/visits/due"), WORKERS),
        "POST /api/v1/visits/plans": Row(
            "POST", _const("/api/v1/visits/plans"), FILE,
            lambda t, own: {"day": _plan_data(t, own)["day"],
                            "visits": [{"household_id": t("household", own).pk}]}),
        "GET /api/v1/visits/plans/{plan_id}": Row(
            "GET", _api(lambda t, o: f"/visits/plans/{t('day_plan', o).pk}"), FILE),
    }
