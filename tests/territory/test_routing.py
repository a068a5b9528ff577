"""The route of a day of visits: travel times, windows, the baseline and the solver."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from entraide.territory.routing import (
    Reason,
    Route,
    Stop,
    TravelModel,
    haversine_km,
    nearest_neighbour,
    solve,
)

TRAVEL = TravelModel(speed_kmh=30, detour=1.3)
OFFICE = (44.20, 0.62)
DAY = (8 * 60, 19 * 60)
# What households ask for: mornings, afternoons, any time, late morning, short slots.
WINDOWS = [(8 * 60, 12 * 60 + 30), (13 * 60 + 30, 18 * 60 + 30), (8 * 60, 18 * 60 + 30),
           (10 * 60, 16 * 60), (9 * 60, 12 * 60), (14 * 60, 17 * 60)]


def forty_visits(seed: int = 1) -> list[Stop]:
    rng = random.Random(seed)
    return [Stop(i, OFFICE[0] + rng.uniform(-.025, .025), OFFICE[1] + rng.uniform(-.035, .035),
                 *rng.choice(WINDOWS), rng.choice([5, 10, 15]), f"{i + 1} rue des Lilas")
            for i in range(40)]


def assert_feasible(route: Route, stops: list[Stop], starts: int, ends: int) -> None:
    """Recompute every leg: each visit within its window, after the drive from the stop
    before, and back at the office by the end of the day; nothing lost or duplicated."""
    assert route.leaves == starts
    now, here, travel = starts, OFFICE, 0
    for planned in route.stops:
        stop = planned.stop
        leg = TRAVEL.minutes(here, stop.point)
        assert planned.travel_minutes == leg
        assert planned.arrival >= now + leg
        assert planned.wait == planned.arrival - (now + leg)
        assert planned.arrival >= stop.opens
        assert planned.departure == planned.arrival + stop.duration
        assert planned.departure <= stop.closes
        now, here, travel = planned.departure, stop.point, travel + leg
    assert route.back == now + TRAVEL.minutes(here, OFFICE) <= ends
    assert route.travel_minutes == travel + TRAVEL.minutes(here, OFFICE)
    keys = [p.stop.key for p in route.stops] + [o.stop.key for o in route.left_out]
    assert sorted(keys) == sorted(s.key for s in stops)


def test_travel_time_is_the_detoured_straight_line_at_the_average_speed() -> None:
    north = (OFFICE[0] + 0.1, OFFICE[1])  # 11.1 km due north
    assert round(haversine_km(OFFICE, north), 1) == 11.1
    assert TravelModel(speed_kmh=30, detour=1.5).minutes(OFFICE, north) == 34  # 33.4, rounded up
    assert TravelModel(speed_kmh=30, detour=1.5).metres(OFFICE, north) == 16_679
    assert TRAVEL.minutes(OFFICE, OFFICE) == 0


def test_forty_visits_with_windows_all_fit_and_travel_no_more_than_nearest_neighbour() -> None:
    stops = forty_visits()
    baseline = nearest_neighbour(OFFICE, stops, *DAY, travel=TRAVEL)
    assert baseline.complete  # the comparison below is between two full days

    route = solve(OFFICE, stops, *DAY, travel=TRAVEL)

    assert route.complete and len(route.stops) == 40
    assert_feasible(route, stops, *DAY)
    assert route.travel_minutes <= baseline.travel_minutes
    assert route.distance_m == sum(p.distance_m for p in route.stops) + TRAVEL.metres(
        route.stops[-1].stop.point, OFFICE)


def test_a_window_about_to_close_is_visited_before_a_nearer_one() -> None:
    near = Stop("near", OFFICE[0] + 0.002, OFFICE[1], 8 * 60, 18 * 60, 30)
    far = Stop("far", OFFICE[0] + 0.08, OFFICE[1], 8 * 60, 8 * 60 + 50, 20)  # 24 min away
    route = solve(OFFICE, [near, far], *DAY, travel=TRAVEL, time_limit=0.1)
    assert route.complete
    assert [p.stop.key for p in route.stops] == ["far", "near"]
    assert route.stops[0].arrival == 8 * 60 + 24


def test_visits_that_cannot_fit_are_named_with_the_reason() -> None:
    ok = Stop("ok", OFFICE[0] + 0.01, OFFICE[1], 9 * 60, 12 * 60, 45, "2 rue Haute")
    short = Stop("short", OFFICE[0] + 0.01, OFFICE[1] + 0.01, 9 * 60, 9 * 60 + 30, 45,
                 "3 rue Basse")
    early = Stop("early", OFFICE[0] + 0.2, OFFICE[1], 7 * 60, 8 * 60 + 30, 20,
                 "4 chemin des Crêtes")  # 22 km: closes before one gets there
    far = Stop("far", OFFICE[0] + 1.5, OFFICE[1], 8 * 60, 19 * 60, 30,
               "5 route de Paris")  # 217 km by road: there by 15:14, not back by 19:00
    # Two long visits in the same morning slot: only one of them fits.
    first = Stop("first", OFFICE[0] - 0.01, OFFICE[1], 9 * 60, 11 * 60, 90, "6 rue Neuve")
    second = Stop("second", OFFICE[0] - 0.011, OFFICE[1], 9 * 60, 11 * 60, 90,
                  "7 rue Neuve")
    stops = [ok, short, early, far, first, second]

    route = solve(OFFICE, stops, *DAY, travel=TRAVEL, time_limit=0.2)

    assert_feasible(route, stops, *DAY)
    reasons = {o.stop.key: o.reason for o in route.left_out}
    assert {k: reasons.pop(k) for k in ("short", "early", "far")} == {
        "short": Reason.WINDOW_TOO_SHORT, "early": Reason.UNREACHABLE,
        "far": Reason.DAY_TOO_SHORT}
    assert list(reasons.values()) == [Reason.NO_ROOM]
    assert set(reasons) < {"first", "second"}
    assert {"ok"} < {p.stop.key for p in route.stops}


def test_an_empty_day_goes_nowhere() -> None:
    route = solve(OFFICE, [], *DAY, travel=TRAVEL)
    assert route.stops == [] and route.travel_minutes == 0 and route.back == DAY[0]


@st.composite
def instances(draw: st.DrawFn) -> list[Stop]:
    stops = []
    for key in range(draw(st.integers(1, 7))):
        opens = draw(st.integers(7 * 60, 18 * 60))
        stops.append(Stop(
            key, OFFICE[0] + draw(st.floats(-0.1, 0.1)), OFFICE[1] + draw(st.floats(-0.1, 0.1)),
            opens, opens + draw(st.integers(0, 6 * 60)), draw(st.integers(5, 120))))
    return stops


@settings(max_examples=40, deadline=None)
@given(instances())
def test_every_route_returned_is_feasible_and_no_worse_than_the_baseline(
        stops: list[Stop]) -> None:
    baseline = nearest_neighbour(OFFICE, stops, *DAY, travel=TRAVEL)
    route = solve(OFFICE, stops, *DAY, travel=TRAVEL, time_limit=0.02)
    assert_feasible(baseline, stops, *DAY)
    assert_feasible(route, stops, *DAY)
    assert (len(route.stops), -route.travel_minutes) >= (len(baseline.stops),
                                                         -baseline.travel_minutes)
