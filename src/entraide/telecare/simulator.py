"""Simulated homes: the days of a person living alone, as the messages their sensors send.

`events()` is pure and seeded: the same home, window and seed give the same messages, so
tests feed them straight to the engine. `backfill()` sends past days to a broker with their
own time stamps; `Live` plays the present as it happens (optionally accelerated) and injects
incidents, which change what the sensors report from their instant on.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import itertools
import json
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from django.conf import settings

from .models import DeviceKind, Installation
from .mqtt import client, connected

Event = tuple[dt.datetime, str, dict[str, Any]]  # what a home sends: instant, topic, payload

INCIDENTS: dict[str, str] = {
    "fall": "no more movement: an inactivity alert once the usual stillness is exceeded",
    "fire": "the smoke detector goes off: a critical alert at once",
    "cold": "the heating fails: down to 12-14 °C over hours, a cold alert after 3 h "
            "below 16 °C",
    "heat_wave": "the home heats up to 32-35 °C: a heat alert after 3 h above 31 °C",
    "dead_battery": "a battery runs down to 5 %: a battery alert, then the device falls "
                    "silent",
}
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
CLIMATE_EVERY = dt.timedelta(minutes=15)
HEARTBEAT_EVERY = dt.timedelta(hours=1)
OCCUPANCY_CLEARS = dt.timedelta(seconds=90)
# The state an hourly heartbeat repeats (alarms off); a door's heartbeat carries only its
# battery, its state being sent when it changes.
HEARTBEAT_STATE: dict[str, str] = {DeviceKind.SMOKE: "smoke", DeviceKind.GAS: "gas",
                                   DeviceKind.WATER: "water_leak"}


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


# --- homes ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Sensor:
    """One device as the simulator sees it: its code, its kind and the topic it sends to."""

    code: str
    kind: str
    topic: str

    @property
    def zigbee(self) -> bool:
        return self.topic.startswith("zigbee2mqtt/")


@dataclass(frozen=True, slots=True)
class Habits:
    """What a resident's days look like (times in minutes after midnight; a bedtime past
    1440 is after midnight); drawn once per home from its code, so they never change."""

    wake: float
    bedtime: float
    outings: float
    night_trips: float
    indoor: float
    swing: float
    humidity: float

    @classmethod
    def drawn(cls, code: str) -> Habits:
        rng = random.Random(f"habits:{code}")
        if rng.random() < 0.25:  # a late sleeper
            wake, bedtime = rng.uniform(540, 630), rng.uniform(1425, 1530)
        else:
            wake, bedtime = rng.uniform(360, 480), rng.uniform(1290, 1395)
        return cls(wake=wake, bedtime=bedtime, outings=rng.uniform(0.2, 0.7),
                   night_trips=rng.uniform(0.2, 0.7), indoor=rng.uniform(19.3, 20.5),
                   swing=rng.uniform(0.4, 0.9), humidity=rng.uniform(40, 55))


@dataclass(frozen=True, slots=True)
class Incident:
    """Something that happens in a home at an instant and lasts; `device` is the sensor
    whose battery dies, for `dead_battery`."""

    kind: str
    at: dt.datetime
    device: str = ""


@dataclass(frozen=True, slots=True)
class Home:
    """One simulated home: its sensors, its resident's habits and what has happened there."""

    code: str
    sensors: tuple[Sensor, ...]
    habits: Habits
    incidents: tuple[Incident, ...] = ()

    @classmethod
    def of(cls, installation: Installation) -> Home:
        """The simulated twin of an installation, its devices as registered."""
        sensors = tuple(
            Sensor(device.code, device.kind,
                   f"zigbee2mqtt/{device.friendly_name}" if device.friendly_name
                   else f"entraide/{installation.code}/{device.code}")
            for device in sorted(installation.devices.all(), key=lambda d: d.code))
        return cls(installation.code, sensors, Habits.drawn(installation.code))

    def sensor(self, kind: str) -> Sensor | None:
        return next((sensor for sensor in self.sensors if sensor.kind == kind), None)

    def with_incident(self, kind: str, at: dt.datetime, device: str = "") -> Home:
        if kind not in INCIDENTS:
            raise ValueError(f"unknown incident {kind!r}; one of {', '.join(INCIDENTS)}")
        if kind == "dead_battery" and not device:
            device = (self.sensor(DeviceKind.SMOKE) or self.sensors[0]).code
        return replace(self, incidents=(*self.incidents, Incident(kind, at, device)))


# --- one day ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _DeviceTraits:
    battery_phase: float
    battery_per_day: float
    link: float
    link_phase: float
    heartbeat_offset: float

    def battery(self, at: dt.datetime) -> float:
        """Slowly draining, replaced at 35 %: a level that depends on the instant only."""
        days = (at - EPOCH).total_seconds() / 86400
        return 100 - (self.battery_phase + self.battery_per_day * days) % 65

    def link_quality(self, at: dt.datetime) -> int:
        """Radio quality wandering around the device's own level."""
        seconds = at.timestamp()
        wander = 10 * math.sin(seconds / 1337 + self.link_phase) + 4 * math.sin(seconds / 97)
        return max(0, min(255, round(self.link + wander)))


@functools.cache
def _traits(home: str, sensor: str) -> _DeviceTraits:
    rng = random.Random(f"device:{home}:{sensor}")
    return _DeviceTraits(rng.uniform(0, 65), rng.uniform(0.05, 0.3), rng.uniform(60, 200),
                         rng.uniform(0, 2 * math.pi), rng.uniform(4, 56))


Message = tuple[dt.datetime, Sensor, dict[str, Any]]  # fields in the Entraide schema's names


@dataclass
class _Plan:
    """A day's movements (minutes after midnight) and door contacts (closed or not)."""

    motions: list[float]
    doors: list[tuple[float, bool]]
    meals: list[float]


def _plan(habits: Habits, rng: random.Random) -> _Plan:
    """Up at `wake`, moving every 20-70 minutes, three meals, perhaps going out for 1-3
    hours, to bed, perhaps up at night; always the same draws in the same order."""
    wake = habits.wake + max(-40.0, min(40.0, rng.gauss(0, 15)))
    bedtime = habits.bedtime + max(-45.0, min(45.0, rng.gauss(0, 20)))
    meals = [wake + rng.uniform(15, 40), rng.uniform(720, 810), rng.uniform(1140, 1230)]
    motions = [wake + rng.uniform(0, 3), bedtime - rng.uniform(0, 5)]
    for meal in meals:
        motions.extend(meal + k * rng.uniform(4, 10) for k in range(rng.randint(2, 4)))
    moment = wake
    while (moment := moment + rng.uniform(20, 70)) < bedtime - 5:
        motions.append(moment)
    outings: list[tuple[float, float]] = []
    for _ in range(2):
        goes = rng.random() < habits.outings
        leave = rng.uniform(max(wake + 45, 540), 1080)
        back = leave + rng.uniform(60, 180)
        if goes and back < bedtime - 30 and all(back < a or leave > b for a, b in outings):
            outings.append((leave, back))
    trip, gap, gets_up = bedtime + rng.uniform(90, 270), rng.uniform(3, 8), rng.random()
    if gets_up < habits.night_trips:
        motions.extend((trip, trip + gap))
    doors: list[tuple[float, bool]] = []
    for leave, back in outings:
        motions = [m for m in motions if not leave - 1 <= m <= back + 1]
        motions.extend((leave - rng.uniform(1, 4), back + rng.uniform(1, 3)))
        doors.extend(((leave, False), (leave + rng.uniform(0.2, 0.7), True),
                      (back, False), (back + rng.uniform(0.2, 0.7), True)))
    kept: list[float] = []
    for minute in sorted(motions):
        if not kept or minute - kept[-1] >= 2:  # one sensor sees one movement at a time
            kept.append(minute)
    return _Plan(kept, sorted(doors), meals)


def _indoor(habits: Habits, local: dt.datetime, meals: Sequence[float]) -> tuple[float, float]:
    """Temperature and humidity without noise: coolest at 4 a.m., warmest at 4 p.m.,
    warmer and damper while cooking."""
    hour = local.hour + local.minute / 60
    minute = hour * 60
    cooking = any(0 <= minute - meal <= 45 for meal in meals)
    temperature = habits.indoor - habits.swing * math.cos(2 * math.pi * (hour - 4) / 24)
    humidity = habits.humidity + 3 * math.cos(2 * math.pi * (hour - 6) / 24)
    return temperature + 0.3 * cooking, humidity + 6 * cooking


def _day(home: Home, day: dt.date, rng: random.Random) -> list[Message]:
    """Every message of one local day (and of its night), incidents left aside."""
    zone = _zone()
    midnight = dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)
    length = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone) - midnight
    plan = _plan(home.habits, rng)
    out: list[Message] = []

    def at(minutes: float) -> dt.datetime:
        return (midnight + dt.timedelta(minutes=minutes)).replace(microsecond=0)

    motion, door = home.sensor(DeviceKind.MOTION), home.sensor(DeviceKind.DOOR)
    if motion is not None:
        for minute in plan.motions:
            out.append((at(minute), motion, {"motion": True}))
            out.append((at(minute) + OCCUPANCY_CLEARS, motion, {"motion": False}))
    if door is not None:
        out.extend((at(minute), door, {"contact": closed}) for minute, closed in plan.doors)
    climate = home.sensor(DeviceKind.CLIMATE)
    if climate is not None:
        for step in range(int(length / CLIMATE_EVERY)):
            when = at(step * 15 + rng.uniform(0, 2))
            temperature, humidity = _indoor(home.habits, when.astimezone(zone), plan.meals)
            out.append((when, climate, {
                "temperature": round(temperature + rng.gauss(0, 0.15), 1),
                "humidity": round(max(20.0, min(90.0, humidity + rng.gauss(0, 0.8))), 1),
                "battery": None}))
    for sensor in home.sensors:
        if sensor.kind == DeviceKind.CLIMATE:
            continue
        offset = _traits(home.code, sensor.code).heartbeat_offset
        state = HEARTBEAT_STATE.get(sensor.kind)
        for step in range(int(length / HEARTBEAT_EVERY)):
            out.append((at(offset + step * 60 + rng.uniform(-4, 4)), sensor,
                        {state: False, "battery": None} if state else {"battery": None}))
    return out


# --- incidents ----------------------------------------------------------------------------------

def _incident_rng(home: Home, incident: Incident) -> random.Random:
    return random.Random(f"{incident.kind}:{home.code}:{incident.at.isoformat()}")


def _death(home: Home, incident: Incident) -> dt.datetime:
    """When a running-down battery reaches 5 % and its device stops reporting."""
    return incident.at + dt.timedelta(hours=_incident_rng(home, incident).uniform(3, 5))


def _with_incident(home: Home, incident: Incident, messages: list[Message],
                   its_day: bool) -> list[Message]:
    """The day's messages as the incident changes them from its instant on; the messages
    it adds are added on `its_day` only."""
    start = incident.at
    if incident.kind == "fall":
        return [m for m in messages if m[0] < start or not (
            "motion" in m[2] or "contact" in m[2])]
    if incident.kind == "fire":
        smoke = home.sensor(DeviceKind.SMOKE)
        if smoke is None or not its_day:
            return messages
        end = start + dt.timedelta(minutes=10)
        alarm = [(start + dt.timedelta(seconds=30 * k), smoke, {"smoke": True})
                 for k in range(20)]
        return [*messages, *alarm, (end, smoke, {"smoke": False})]
    if incident.kind in ("cold", "heat_wave"):
        rng, cold = _incident_rng(home, incident), incident.kind == "cold"
        target = rng.uniform(12, 14) if cold else rng.uniform(32, 35)
        hours = rng.uniform(3, 5) if cold else rng.uniform(3, 6)
        shift = target - home.habits.indoor
        changed = []
        for when, sensor, fields in messages:
            if when >= start and "temperature" in fields:
                progress = min(1.0, (when - start) / dt.timedelta(hours=hours))
                damp = (10 if cold else -15) * progress
                fields = {**fields,
                          "temperature": round(fields["temperature"] + shift * progress, 1),
                          "humidity": round(max(15.0, min(95.0, fields["humidity"] + damp)), 1)}
            changed.append((when, sensor, fields))
        return changed
    # dead_battery: the device reports more often as its battery runs down, then no more.
    dying = next((s for s in home.sensors if s.code == incident.device), None)
    if dying is None:
        return messages
    dead = _death(home, incident)
    reports: list[Message] = []
    if its_day:
        reports = [(start + dt.timedelta(minutes=20 * k), dying, {"battery": None})
                   for k in range(int((dead - start) / dt.timedelta(minutes=20)) + 1)]
        reports.append((dead, dying, {"battery": None}))
    return [m for m in [*messages, *reports] if m[1] != dying or m[0] <= dead]


def _battery(home: Home, sensor: Sensor, at: dt.datetime) -> int:
    level = _traits(home.code, sensor.code).battery(at)
    for incident in home.incidents:
        if incident.kind == "dead_battery" and incident.device == sensor.code \
                and at >= incident.at:
            dead = _death(home, incident)
            level += (5 - level) * min(1.0, (at - incident.at) / (dead - incident.at))
    return round(level)


def _payload(home: Home, at: dt.datetime, sensor: Sensor, fields: dict[str, Any]
             ) -> dict[str, Any]:
    """The message in the sensor's own language: Zigbee2MQTT devices send their whole
    state (battery and link quality included), Entraide devices what changed, and their
    battery now and then."""
    payload = dict(fields)
    if sensor.zigbee or "battery" in fields:
        payload["battery"] = _battery(home, sensor, at)
        payload["linkquality"] = _traits(home.code, sensor.code).link_quality(at)
    if sensor.zigbee:
        if "motion" in payload:
            payload["occupancy"] = payload.pop("motion")
        if payload.pop("panic", False):
            payload["action"] = "sos"
    return payload


# --- the generator ------------------------------------------------------------------------------

def events(home: Home, start: dt.datetime, end: dt.datetime, rng: random.Random
           ) -> Iterator[Event]:
    """The messages the home's sensors send from `start` (included) to `end` (excluded), in
    time order, as (instant, topic, payload without time stamp). The same `rng` seed gives
    the same messages; an incident changes none of those before its instant."""
    zone = _zone()
    base = rng.getrandbits(64)
    day = start.astimezone(zone).date() - dt.timedelta(days=1)  # its night reaches `start`
    last = end.astimezone(zone).date()
    pending: list[tuple[dt.datetime, int, str, dict[str, Any]]] = []
    order = itertools.count()
    while day <= last:
        messages = _day(home, day, random.Random(f"{base}:{day.isoformat()}"))
        midnight = dt.datetime.combine(day, dt.time(0), zone)
        day += dt.timedelta(days=1)
        # Every later day starts at its own midnight: what is before it is final.
        horizon = dt.datetime.combine(day, dt.time(0), zone)
        for incident in home.incidents:
            messages = _with_incident(home, incident, messages,
                                      midnight <= incident.at < horizon)
        for when, sensor, fields in messages:
            if start <= when < end:
                heapq.heappush(pending, (when, next(order), sensor.topic,
                                         _payload(home, when, sensor, fields)))
        while pending and pending[0][0] < horizon:
            when, _, topic, payload = heapq.heappop(pending)
            yield when, topic, payload
    while pending:
        when, _, topic, payload = heapq.heappop(pending)
        yield when, topic, payload


def stamped(at: dt.datetime, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its own time: `ts` in the Entraide schema, `last_seen` for
    Zigbee2MQTT, in ISO 8601 with the local offset."""
    key = "last_seen" if topic.startswith("zigbee2mqtt/") else "ts"
    return {**payload, key: at.astimezone(_zone()).isoformat(timespec="seconds")}


# --- sending ------------------------------------------------------------------------------------

class Publisher:
    """Publishes JSON payloads to an MQTT broker with QoS 1, a bounded number in flight."""

    def __init__(self, url: str, client_id: str = "", window: int = 500):
        self.window = window
        self.mqtt = client(url, client_id or f"entraide-simulator-{uuid.uuid4().hex[:8]}",
                           persistent=False)
        self.in_flight: deque[mqtt.MQTTMessageInfo] = deque()
        self.sent = self.failed = 0

    def start(self, timeout: float = 15) -> Publisher:
        connected(self.mqtt, timeout)
        return self

    def send(self, topic: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"))
        self.in_flight.append(self.mqtt.publish(topic, body, qos=1))
        self.sent += 1
        while len(self.in_flight) > self.window:
            self._settle(self.in_flight.popleft())

    def _settle(self, info: mqtt.MQTTMessageInfo) -> None:
        try:
            info.wait_for_publish(30)
        except (RuntimeError, ValueError):  # the broker went away: paho reconnects
            self.failed += 1

    def flush(self) -> None:
        """Wait until the broker has acknowledged every message sent."""
        while self.in_flight:
            self._settle(self.in_flight.popleft())

    def stop(self) -> None:
        self.flush()
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


def home_rng(seed: int, home: Home) -> random.Random:
    """The random source of one home's days: backfill and live play share it, so that
    the live present continues the history."""
    return random.Random(f"{seed}:{home.code}")


def backfill(publisher: Publisher, homes: Sequence[Home], start: dt.datetime,
             end: dt.datetime, seed: int, stop: threading.Event | None = None) -> int:
    """Send the homes' past messages with their own time stamps, as fast as the broker
    takes them; returns how many were sent.

    Home after home rather than in time order: a bridge checking silences meanwhile
    finds each home untouched or up to date, hardly ever half replayed.
    """
    sent = publisher.sent
    history = (event for home in homes for event in events(home, start, end,
                                                            home_rng(seed, home)))
    for at, topic, payload in history:
        if stop is not None and stop.is_set():
            break
        publisher.send(topic, stamped(at, topic, payload))
    publisher.flush()
    return publisher.sent - sent


class Live:
    """The homes played in real time, or `speed` times faster, from `start` on; messages
    carry no time stamp (the bridge stamps them on arrival, which accelerated time needs)."""

    def __init__(self, publisher: Publisher, homes: Sequence[Home], seed: int,
                 start: dt.datetime, speed: float = 1.0):
        self.publisher, self.seed, self.speed = publisher, seed, speed
        self.homes = {home.code: home for home in homes}
        self.origin, self.real_origin = start, time.monotonic()
        self.versions: dict[str, int] = dict.fromkeys(self.homes, 0)
        self.streams: dict[str, Iterator[Event]] = {}
        self.next: list[tuple[dt.datetime, int, str, int, str, dict[str, Any]]] = []
        self.order = itertools.count()
        for home in homes:
            self._play(home, start)

    def now(self) -> dt.datetime:
        """The simulated instant."""
        return self.origin + dt.timedelta(
            seconds=(time.monotonic() - self.real_origin) * self.speed)

    def _play(self, home: Home, since: dt.datetime) -> None:
        self.homes[home.code] = home
        self.versions[home.code] += 1
        self.streams[home.code] = events(home, since, since + dt.timedelta(days=3650),
                                         home_rng(self.seed, home))
        self._queue(home.code)

    def _queue(self, code: str) -> None:
        upcoming = next(self.streams[code], None)
        if upcoming is not None:
            at, topic, payload = upcoming
            heapq.heappush(self.next, (at, next(self.order), code, self.versions[code],
                                       topic, payload))

    def inject(self, rng: random.Random, kind: str | None = None) -> tuple[Home, Incident]:
        """An incident of this kind (else a random one), now, in a random home where nothing
        happened yet (in any home once every one has had its own)."""
        quiet = [home for home in self.homes.values() if not home.incidents]
        home = rng.choice(quiet or list(self.homes.values()))
        kind = kind or rng.choice(list(INCIDENTS))
        device = rng.choice(home.sensors).code if kind == "dead_battery" else ""
        now = self.now()
        home = home.with_incident(kind, now, device)
        self._play(home, now)
        return home, home.incidents[-1]

    def step(self) -> float:
        """Send what is due; returns the real seconds until the next message."""
        now = self.now()
        while self.next and self.next[0][0] <= now:
            _, _, code, version, topic, payload = heapq.heappop(self.next)
            if version == self.versions[code]:  # else the home was replayed since
                self.publisher.send(topic, payload)
                self._queue(code)
        if not self.next:
            return 1.0
        return (self.next[0][0] - now).total_seconds() / self.speed

    def run(self, stop: threading.Event, rng: random.Random,
            incident_every: float = 0,
            on_incident: Callable[[Home, Incident], None] | None = None,
            first: str | None = None) -> None:
        """Play until `stop` is set, injecting an incident every `incident_every` real
        seconds (never when 0); the `first` kind, if given, within a minute."""
        due = time.monotonic() + (min(60, incident_every) if first else incident_every)
        while not stop.is_set():
            if incident_every and time.monotonic() >= due:
                home, incident = self.inject(rng, first)
                first = None
                if on_incident is not None:
                    on_incident(home, incident)
                due += incident_every
            wait = self.step()
            if incident_every:
                wait = min(wait, due - time.monotonic())
            stop.wait(max(0.0, min(wait, 1.0)))
