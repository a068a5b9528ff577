"""Routes for a day of home visits: travel times, a nearest-neighbour baseline and the
OR-Tools solver, as plain functions on plain data (no models), so that they can be tested
and benchmarked alone.

Times are whole minutes from midnight. A visit happens entirely within its window: it
starts no earlier than `opens` and ends no later than `closes`. The worker leaves the office
at the start of the day, may wait at a door until its window opens, and must be back at the
office by the end of the day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

Point = tuple[float, float]  # (latitude, longitude) in degrees

EARTH_RADIUS_KM = 6371.0088
URGENCY_WEIGHTS = (0.0, 0.05, 0.1, 0.2)


@dataclass(frozen=True)
class TravelModel:
    """Travel between two points: the straight line × a detour factor, at an average speed."""

    speed_kmh: float
    detour: float

    @classmethod
    def from_settings(cls) -> TravelModel:
        """The model of settings.ROUTE_SPEED_KMH and settings.ROUTE_DETOUR."""
        from django.conf import settings

        return cls(settings.ROUTE_SPEED_KMH, settings.ROUTE_DETOUR)

    def metres(self, a: Point, b: Point) -> int:
        return round(haversine_km(a, b) * self.detour * 1000)

    def minutes(self, a: Point, b: Point) -> int:
        # Rounded up: a plan that says 7 minutes for a 6.2-minute drive is not late.
        return math.ceil(haversine_km(a, b) * self.detour / self.speed_kmh * 60 - 1e-9)


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between two points, in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Stop:
    """A visit to place in the day: where, when the household can be seen, for how long."""

    key: int | str
    lat: float
    lon: float
    opens: int
    closes: int
    duration: int
    label: str = ""

    @property
    def point(self) -> Point:
        return (self.lat, self.lon)


@dataclass(frozen=True)
class PlannedStop:
    """A stop in its place in the route: when the visit starts and ends, and the leg to it."""

    stop: Stop
    arrival: int  # the visit starts (after waiting at the door if the window was not open)
    departure: int
    wait: int
    travel_minutes: int  # of the leg from the office or the stop before
    distance_m: int


class Reason:
    """Why a stop cannot fit, when it can be said simply."""

    WINDOW_TOO_SHORT = "window_too_short"  # the visit lasts longer than its window
    UNREACHABLE = "unreachable"  # the window closes before one can get there from the office
    DAY_TOO_SHORT = "day_too_short"  # even alone, one cannot be back at the office in time
    NO_ROOM = "no_room"  # it fits alone, but not with the other visits


@dataclass(frozen=True)
class LeftOut:
    stop: Stop
    reason: str


@dataclass(frozen=True)
class Route:
    """A day's route: the stops in order with their times, and the stops that could not fit."""

    stops: list[PlannedStop]
    leaves: int  # the office, at the start of the day
    back: int  # at the office
    travel_minutes: int  # every leg, the way back included
    distance_m: int
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.left_out


class _Day:
    """One instance: the office, the stops and the travel matrix (node 0 is the office)."""

    def __init__(self, office: Point, stops: Sequence[Stop], starts: int, ends: int,
                 travel: TravelModel):
        if ends < starts:
            raise ValueError("The day ends before it starts.")
        self.stops = list(stops)
        self.starts, self.ends = starts, ends
        points = [office, *(s.point for s in self.stops)]
        self.minutes = [[travel.minutes(a, b) for b in points] for a in points]
        self.metres = [[travel.metres(a, b) for b in points] for a in points]

    def window(self, node: int) -> tuple[int, int]:
        """The earliest and latest start of the visit at this node: within its window, after
        the drive from the office, early enough to drive back before the day ends."""
        stop = self.stops[node - 1]
        return (max(stop.opens, self.starts + self.minutes[0][node]),
                min(stop.closes, self.ends - self.minutes[node][0]) - stop.duration)

    def route(self, order: Sequence[int]) -> Route | None:
        """The earliest schedule for visiting these nodes in this order, None if infeasible."""
        planned, now, here, travel, metres = [], self.starts, 0, 0, 0
        for node in order:
            stop = self.stops[node - 1]
            earliest, latest = self.window(node)
            reach = now + self.minutes[here][node]
            start = max(reach, earliest)
            if start > latest:
                return None
            planned.append(PlannedStop(stop, start, start + stop.duration, start - reach,
                                       self.minutes[here][node], self.metres[here][node]))
            travel += self.minutes[here][node]
            metres += self.metres[here][node]
            now, here = start + stop.duration, node
        back = now + self.minutes[here][0]
        if back > self.ends:
            return None
        return Route(planned, self.starts, back, travel + self.minutes[here][0],
                     metres + self.metres[here][0])

    def why_left_out(self, node: int) -> str:
        stop = self.stops[node - 1]
        if stop.closes - stop.opens < stop.duration:
            return Reason.WINDOW_TOO_SHORT
        start = max(self.starts + self.minutes[0][node], stop.opens)
        if start + stop.duration > stop.closes:
            return Reason.UNREACHABLE
        if start + stop.duration + self.minutes[node][0] > self.ends:
            return Reason.DAY_TOO_SHORT
        return Reason.NO_ROOM

    def with_left_out(self, route: Route, order: Sequence[int]) -> Route:
        kept = set(order)
        return replace(route, left_out=[LeftOut(self.stops[n - 1], self.why_left_out(n))
                                        for n in range(1, len(self.stops) + 1)
                                        if n not in kept])

    def nearest_neighbour_order(self, urgency: float) -> list[int]:
        """Go each time to the nearest visit that can still be made, where "near" is the
        drive plus the wait at the door plus, weighted by `urgency`, the time left before
        its window closes; visits that can no longer be made are skipped."""
        order: list[int] = []
        left = set(range(1, len(self.stops) + 1))
        now, here = self.starts, 0
        while left:
            best: tuple[float, int, int] | None = None
            for node in left:
                earliest, latest = self.window(node)
                start = max(now + self.minutes[here][node], earliest)
                if start <= latest:
                    candidate = (start - now + urgency * (latest - start), node, start)
                    best = min(best, candidate) if best else candidate
            if best is None:
                break
            _, node, start = best
            order.append(node)
            left.discard(node)
            now, here = start + self.stops[node - 1].duration, node
        return order

    def baseline(self) -> tuple[list[int], Route]:
        """The best nearest-neighbour route over a few urgency weights: pure nearness
        travels least, a little urgency misses fewer windows."""
        routes = []
        for urgency in URGENCY_WEIGHTS:
            order = self.nearest_neighbour_order(urgency)
            routes.append((order, _checked(self.route(order))))
        return max(routes, key=lambda r: (len(r[0]), -r[1].travel_minutes))


def nearest_neighbour(office: Point, stops: Sequence[Stop], starts: int, ends: int,
                      travel: TravelModel | None = None) -> Route:
    """The baseline route: always the nearest visit that can still be made next (see
    `_Day.baseline`); what can no longer be made is left out."""
    day = _Day(office, stops, starts, ends, travel or TravelModel.from_settings())
    order, route = day.baseline()
    return day.with_left_out(route, order)


def solve(office: Point, stops: Sequence[Stop], starts: int, ends: int,
          travel: TravelModel | None = None, time_limit: float = 1.0) -> Route:
    """The shortest route (total travel time) that fits the most visits in the day.

    Starts from the nearest-neighbour route and improves it by guided local search for at
    most `time_limit` seconds, so the result is never worse than the baseline. Each visit
    may be dropped at a penalty higher than any route's travel: stops are left out only when
    they cannot all fit, and the result says which and why.
    """
    day = _Day(office, stops, starts, ends, travel or TravelModel.from_settings())
    baseline_order, baseline = day.baseline()
    if not stops:
        return baseline
    nodes = len(day.stops) + 1
    manager = pywrapcp.RoutingIndexManager(nodes, 1, 0)
    model = pywrapcp.RoutingModel(manager)
    # Matrices rather than Python callbacks: the search runs in C++ and explores far more.
    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitMatrix(day.minutes))
    durations = [0, *(s.duration for s in day.stops)]
    with_visit = [[durations[i] + m for m in row] for i, row in enumerate(day.minutes)]
    model.AddDimension(model.RegisterTransitMatrix(with_visit), ends, ends, False, "time")
    time = model.GetDimensionOrDie("time")
    time.CumulVar(model.Start(0)).SetValue(starts)
    time.CumulVar(model.End(0)).SetMax(ends)
    # Dropping one visit must cost more than the longest route could ever travel.
    penalty = sum(max(row) for row in day.minutes) + 1
    for node in range(1, nodes):
        index = manager.NodeToIndex(node)
        earliest, latest = day.window(node)
        if earliest <= latest:
            time.CumulVar(index).SetRange(earliest, latest)
        else:
            model.ActiveVar(index).SetValue(0)
        model.AddDisjunction([index], penalty)

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC)
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    parameters.time_limit.FromMilliseconds(max(1, round(time_limit * 1000)))
    model.CloseModelWithParameters(parameters)
    initial = model.ReadAssignmentFromRoutes([baseline_order], True)
    solution = (model.SolveFromAssignmentWithParameters(initial, parameters)
                if initial is not None else model.SolveWithParameters(parameters))

    if solution is None:
        return day.with_left_out(baseline, baseline_order)
    order, index = [], model.Start(0)
    while not model.IsEnd(index := solution.Value(model.NextVar(index))):
        order.append(manager.IndexToNode(index))
    route = day.route(order)
    # Our own reckoning has the last word: as many visits as the baseline, and no longer.
    if route is None or (len(order), -route.travel_minutes) < (
            len(baseline_order), -baseline.travel_minutes):
        return day.with_left_out(baseline, baseline_order)
    return day.with_left_out(route, order)


def _checked(route: Route | None) -> Route:
    assert route is not None  # the nearest-neighbour order checks each step as it goes
    return route
