"""The welfare map's layer at scale and the day-plan solver, with a bare-SQL baseline.

`entraide bench territory [--households 100000] [--queries 100] [--db var/bench-territory.sqlite3]`
seeds its own SQLite file once (never the demo database) with every household in one
territory, so that its team lead follows ~85% of them, computes their crisis levels, then
times the household layer as the map asks for it while someone pans and zooms (random views
from the whole territory down to a street; clusters above 1,500 households in view, points
below), audit record and JSON encoding included. The baseline runs the same views as bare SQL
without need-to-know, audit or JSON. Then it plans days of 40 visits with time windows to
households of the demo worker's team (`plan_40_s` is the slowest, through `visits.plan_day`:
checks, solver, saving and audit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from benchmarks.cases import ensure_households, percentile, say, timed, use_database
from entraide.cases.models import CaseFile, CaseStatus
from entraide.org.models import User
from entraide.people.models import Household
from entraide.secrecy.policy import Actor
from entraide.territory import crisis, layers, visits
from entraide.territory import demo as territory_demo
from entraide.territory.layers import MapFilters
from entraide.territory.models import CrisisLevel, DayPlan, Office
from entraide.territory.routing import haversine_km

SEED = 20_261_130
BARE_COUNT = (
    "SELECT COUNT(*) FROM territory_crisislevel WHERE territory_id = %s "
    "AND longitude BETWEEN %s AND %s AND latitude BETWEEN %s AND %s"
)
BARE_POINTS = (
    "SELECT household_id, latitude, longitude, level FROM territory_crisislevel "
    "WHERE territory_id = %s AND longitude BETWEEN %s AND %s AND latitude BETWEEN %s AND %s"
)
BARE_CLUSTERS = (
    "SELECT CAST((longitude + 180) / %s AS INTEGER), CAST((latitude + 180) / %s AS INTEGER), "
    "COUNT(*), AVG(latitude), AVG(longitude), MAX(level) FROM territory_crisislevel "
    "WHERE territory_id = %s AND longitude BETWEEN %s AND %s AND latitude BETWEEN %s AND %s "
    "GROUP BY 1, 2"
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="entraide bench territory")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--plans", type=int, default=5, help="Days of 40 visits to plan.")
    parser.add_argument("--db", type=Path,
                        default=Path(settings.DATA_DIR) / "bench-territory.sqlite3")
    return parser.parse_args(argv)


def views(rng: random.Random, extent: tuple[float, float, float, float], count: int
          ) -> list[MapFilters]:
    """Map views as someone pans and zooms: a random centre, zoom 9 (the whole territory)
    to 16 (a street), a 1280×800 screen."""
    west, south, east, north = extent
    found = []
    for _ in range(count):
        zoom = rng.randint(9, 16)
        width = 1280 / 256 * 360 / 2 ** zoom
        height = 800 / 256 * 360 / 2 ** zoom * 0.72  # degrees of latitude are shorter
        x, y = rng.uniform(west, east), rng.uniform(south, north)
        found.append(MapFilters(bbox=(max(x - width / 2, -180), max(y - height / 2, -90),
                                      min(x + width / 2, 180), min(y + height / 2, 90)),
                                zoom=zoom))
    return found


def bare_layer(territory_id: int, view: MapFilters) -> int:
    assert view.bbox is not None
    west, south, east, north = view.bbox
    with connection.cursor() as cursor:
        cursor.execute(BARE_COUNT, [territory_id, west, east, south, north])
        total = cursor.fetchone()[0]
        if total > layers.POINT_LIMIT:
            cell = 360 / 2 ** view.zoom / 4
            cursor.execute(BARE_CLUSTERS, [cell, cell, territory_id, west, east, south, north])
        else:
            cursor.execute(BARE_POINTS, [territory_id, west, east, south, north])
        return len(cursor.fetchall())


# When households can be seen: mornings, afternoons, any time, late morning, short slots.
WINDOWS = [((8, 30), (12, 30)), ((13, 30), (17, 30)), ((8, 30), (17, 30)), ((10, 0), (16, 0)),
           ((9, 0), (12, 0)), ((14, 0), (17, 0))]


def plan_requests(rng: random.Random, worker: User, office: Office, count: int = 40
                  ) -> list[visits.VisitRequest]:
    """`count` of the worker's team's households near the office (a day's round, not the
    whole territory), each with a window and a duration."""
    followed = CaseFile.objects.filter(
        team_id=worker.team_id, status=CaseStatus.OPEN).values_list(
        "household_id", "household__latitude", "household__longitude")
    nearest = sorted(followed, key=lambda row: haversine_km(
        (row[1], row[2]), (office.latitude, office.longitude)))[:count * 2]
    chosen = rng.sample(nearest, min(count, len(nearest)))
    requests = []
    for household_id, _lat, _lon in chosen:
        (h1, m1), (h2, m2) = rng.choice(WINDOWS)
        requests.append(visits.VisitRequest(household_id, dt.time(h1, m1), dt.time(h2, m2),
                                            rng.choice((5, 10, 15))))
    return requests


def time_plans(worker: User, count: int) -> tuple[list[float], int]:
    """Seconds to plan each of `count` days of 40 visits, and how many fitted whole."""
    territory_demo.seed_offices()
    actor = Actor(user=worker, ip="127.0.0.1")
    office = Office.objects.get(team_id=worker.team_id)
    rng = random.Random(SEED)
    durations, complete = [], 0
    day = dt.date.today() + dt.timedelta(days=1)
    for index in range(count):
        requests = plan_requests(rng, worker, office)
        started = time.perf_counter()
        try:
            visits.plan_day(actor, day + dt.timedelta(days=index), requests)
            complete += 1
        except visits.CannotFit:
            pass
        durations.append(time.perf_counter() - started)
    DayPlan.objects.filter(worker=worker).delete()
    return durations, complete


def run(argv: list[str]) -> dict[str, Any]:
    options = parse(argv)
    use_database(options.db)
    call_command("migrate", interactive=False, verbosity=0, stdout=sys.stderr)
    # Every household in one territory: its team lead follows ~85% of them.
    ensure_households(options.households, notes_per_household=(0, 1), territories=1)
    started = time.perf_counter()
    refreshed = crisis.refresh()
    refresh_s = time.perf_counter() - started
    say(f"{refreshed} crisis levels computed in {refresh_s:.1f} s")
    connection.close()

    lead = Actor(user=User.objects.get(username="lead"), ip="127.0.0.1")
    territory_id = lead.user.territory_id
    assert territory_id is not None
    box = Household.objects.filter(territory_id=territory_id).values_list(
        "longitude", "latitude")
    longitudes, latitudes = zip(*box.iterator(), strict=True)
    extent = (min(longitudes), min(latitudes), max(longitudes), max(latitudes))
    rng = random.Random(SEED)
    samples = views(rng, extent, options.queries + 5)
    whole = layers.households(lead, MapFilters(bbox=extent, zoom=9))["properties"]["total"]
    say(f"timing {options.queries} map views; the lead follows {whole} households")

    layer_ms = timed(samples, lambda view: json.dumps(layers.households(lead, view)))
    bare_ms = timed(samples, lambda view: bare_layer(territory_id, view))
    say(f"planning {options.plans} days of 40 visits")
    plan_s, complete = time_plans(User.objects.get(username="worker"), options.plans)
    return {
        "map_layer_p95_ms": percentile(layer_ms, 0.95),
        "map_layer_p50_ms": percentile(layer_ms, 0.50),
        "baseline_layer_p95_ms": percentile(bare_ms, 0.95),
        "plan_40_s": round(max(plan_s), 3),
        "plan_40_p50_s": round(percentile(plan_s, 0.5), 3),
        "plans_complete": complete,
        "plans": options.plans,
        "households": Household.objects.count(),
        "households_on_map": whole,
        "crisis_levels": CrisisLevel.objects.count(),
        "refresh_all_s": round(refresh_s, 2),
        "queries": options.queries,
        "db": connection.vendor,
    }
