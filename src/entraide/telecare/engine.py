"""The stream processor: messages in, readings stored, rules applied, alerts raised.

One `Engine` serves one bridge process. It keeps in memory what the rules need (each
device's installation, each home's last movement, flood buckets) so that a reading costs
no query; readings are written in batches, one transaction per batch, and the broker is
acknowledged only after that transaction commits.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import payloads, rules, services
from .models import Device, Installation, Metric, Reading
from .payloads import Rejected

log = logging.getLogger(__name__)
T = TypeVar("T")

ENTRAIDE_PREFIX = "entraide/"
Z2M_PREFIX = "zigbee2mqtt/"
Z2M_IGNORED_SUFFIXES = ("/availability", "/set", "/get")
SNAPSHOT_CHUNK = 500
# Devices are silent after hours: looking every 5 minutes is enough, and spares each tick
# a pass over every device.
SILENCE_CHECK_SECONDS = 300


@dataclass(slots=True)
class Message:
    """One MQTT message (or one HTTP reading) as received; `token` is for acknowledging it."""

    topic: str
    payload: bytes
    received_at: dt.datetime
    token: Any = None


@dataclass(slots=True)
class DeviceState:
    id: int
    installation_id: int
    kind: str
    code: str
    tokens: float = 0.0
    clock: float = 0.0
    last_seen: dt.datetime | None = None
    battery: float | None = None
    link_quality: float | None = None
    values: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class HomeState:
    id: int
    limits: rules.Thresholds
    profile: list[int]
    last_motion: dt.datetime | None
    last_door: dt.datetime | None
    climate_out_since: dt.datetime | None
    alerted_stillness: dt.datetime | None = None


@dataclass
class BatchResult:
    stored: int = 0
    rejected: int = 0
    ignored: int = 0
    alerts: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        """Count another batch's figures in these."""
        self.stored += other.stored
        self.rejected += other.rejected
        self.ignored += other.ignored
        self.alerts += other.alerts


def thresholds(installation: Installation) -> rules.Thresholds:
    return rules.Thresholds(
        floor_minutes=installation.inactivity_floor_minutes,
        ceiling_minutes=installation.inactivity_ceiling_minutes,
        night_start=installation.night_start, night_end=installation.night_end,
        cold_below=installation.cold_below, heat_above=installation.heat_above,
        temperature_minutes=installation.temperature_minutes,
        silence_minutes=installation.silence_minutes, battery_low=installation.battery_low)


class Engine:
    """Turns messages into stored readings and alerts; `tick` watches the silences."""

    def __init__(self, clock: Callable[[], dt.datetime] = timezone.now,
                 installation_id: int | None = None):
        self.clock = clock
        self.only = {} if installation_id is None else {"pk": installation_id}
        self.flood_rate = float(settings.ENTRAIDE_TELECARE_FLOOD_RATE)
        self.flood_burst = float(settings.ENTRAIDE_TELECARE_FLOOD_BURST)
        self.snapshot_seconds = float(settings.ENTRAIDE_TELECARE_SNAPSHOT_SECONDS)
        self.devices: dict[tuple[str, str], DeviceState] = {}
        self.homes: dict[int, HomeState] = {}
        self.missing: dict[tuple[str, str], float] = {}
        self.dirty_devices: dict[int, DeviceState] = {}
        self.dirty_homes: dict[int, HomeState] = {}
        self.last_snapshot = time.monotonic()
        self.last_silence_check = -1e9
        self.refreshed_at = timezone.now()
        self.reload()

    # --- what the engine knows ----------------------------------------------------------

    def reload(self) -> None:
        """Read devices and thresholds again, keeping what was learnt from the stream."""
        only = {f"installation__{k}": v for k, v in self.only.items()}
        self._load_homes(Installation.objects.filter(active=True, **self.only))
        self.devices = {}
        self._load_devices(Device.objects.filter(installation__active=True, **only))
        self.missing.clear()

    def refresh(self) -> None:
        """Read again the homes edited since the last look (thresholds in the admin; devices,
        names and switching off on the equipment page): cheaper than `reload`, which reads
        every device (1.6 s for 10,000 homes). What the stream taught about a device that
        stays (flood bucket, last values) is kept."""
        since, self.refreshed_at = self.refreshed_at, timezone.now()
        edited = dict(Installation.objects.filter(updated_at__gte=since, **self.only)
                      .values_list("pk", "active"))
        if not edited:
            return
        known = {state.id: state for state in self.devices.values()}
        self.devices = {key: state for key, state in self.devices.items()
                        if state.installation_id not in edited}
        for pk, active in edited.items():
            if not active:
                self.homes.pop(pk, None)
        self._load_homes(Installation.objects.filter(pk__in=edited, active=True))
        self._load_devices(Device.objects.filter(installation_id__in=edited,
                                                 installation__active=True), known)
        self.missing.clear()

    def _load_homes(self, installations: QuerySet[Installation]) -> None:
        for installation in installations:
            home = self.homes.get(installation.pk)
            if home is None:
                self.homes[installation.pk] = HomeState(
                    installation.pk, thresholds(installation), list(installation.profile),
                    installation.last_motion_at, installation.last_door_at,
                    installation.climate_out_since)
            else:
                home.limits = thresholds(installation)
                home.profile = list(installation.profile)

    def _load_devices(self, devices: QuerySet[Device],
                      known: dict[int, DeviceState] | None = None) -> None:
        if known is None:
            known = {state.id: state for state in self.devices.values()}
        for row in devices.values("id", "installation_id", "installation__code", "code", "kind",
                                  "friendly_name", "last_seen_at", "battery"):
            state = known.get(row["id"])
            if state is None:
                state = DeviceState(row["id"], row["installation_id"], row["kind"], row["code"],
                                    tokens=self.flood_burst, last_seen=row["last_seen_at"],
                                    battery=row["battery"])
            else:
                state.kind, state.code = row["kind"], row["code"]
            self.devices[("e", f"{row['installation__code']}/{row['code']}")] = state
            if row["friendly_name"]:
                self.devices[("z", row["friendly_name"])] = state

    def _device(self, key: tuple[str, str]) -> DeviceState | None:
        state = self.devices.get(key)
        if state is None and time.monotonic() - self.missing.get(key, -1e9) > 10:
            # Perhaps registered since the engine started: look it up (an unknown one, again
            # after 10 s at the earliest, so that a stream of strangers costs no query each).
            if key[0] == "e":
                installation, _, code = key[1].partition("/")
                where = Q(installation__code=installation, code=code)
            else:
                where = Q(friendly_name=key[1])
            only = {f"installation__{k}": v for k, v in self.only.items()}
            found = Device.objects.filter(where, installation__active=True, **only)
            self._load_homes(Installation.objects.filter(
                pk__in=found.values("installation_id")))
            self._load_devices(found)
            state = self.devices.get(key)
            if state is None:
                self.missing[key] = time.monotonic()
        return state

    # --- the stream ---------------------------------------------------------------------

    def process(self, messages: Iterable[Message]) -> BatchResult:
        """Store the readings of a batch and raise what they call for, in one transaction."""
        result = BatchResult()
        rows: list[tuple[int, dt.datetime, int, float]] = []
        findings: list[tuple[int, int | None, dt.datetime, rules.Finding]] = []
        rejections: list[tuple[str, int | None, Rejected, bytes, dt.datetime]] = []
        buckets: dict[int, tuple[DeviceState, float, float]] = {}
        for index, message in enumerate(messages):
            key = self._key(message.topic)
            if key is None:
                result.ignored += 1
                continue
            device = self._device(key)
            try:
                if device is None:
                    raise Rejected("unknown_device", message.topic)
                at, values = self._parse(key[0], message, device)
                buckets.setdefault(device.id, (device, device.tokens, device.clock))
                self._admit(device, at)
            except Exception as error:  # whatever a message holds, the stream goes on
                rejected = error if isinstance(error, Rejected) else Rejected(
                    "unreadable", f"{type(error).__name__}: {error}")
                if not isinstance(error, Rejected):
                    log.exception("unexpected error reading a message on %s", message.topic)
                rejections.append((message.topic, device.id if device else None, rejected,
                                   message.payload, message.received_at))
                result.refused.append((index, rejected.code, rejected.detail))
                continue
            for metric, value in values:
                rows.append((device.id, at, metric, value))
                self._observe(device, at, metric, value, findings)
        try:
            with transaction.atomic():
                result.stored = self._store(rows)
                if rejections:
                    services.count_rejections(rejections)
                if findings:
                    result.alerts = services.raise_alerts(findings, self.clock())
        except Exception:
            # The batch will come again: it must not find its devices' buckets spent.
            for device, tokens, clock in buckets.values():
                device.tokens, device.clock = tokens, clock
            raise
        result.rejected = len(rejections)
        if time.monotonic() - self.last_snapshot >= self.snapshot_seconds and self.flush(
                SNAPSHOT_CHUNK):
            self.last_snapshot = time.monotonic()
        return result

    @staticmethod
    def _key(topic: str) -> tuple[str, str] | None:
        if topic.startswith(ENTRAIDE_PREFIX):
            return "e", topic[len(ENTRAIDE_PREFIX):]
        if topic.startswith(Z2M_PREFIX):
            name = topic[len(Z2M_PREFIX):]
            if name.startswith("bridge/") or name.endswith(Z2M_IGNORED_SUFFIXES):
                return None
            return "z", name
        return None

    @staticmethod
    def _parse(source: str, message: Message, device: DeviceState
               ) -> tuple[dt.datetime, list[tuple[int, float]]]:
        data = payloads.decode(message.payload)
        if source == "e":
            return payloads.parse_entraide(data, message.received_at)
        at, values = payloads.parse_zigbee2mqtt(data, device.kind, message.received_at)
        if "last_seen" in data:  # Zigbee2MQTT's own time stamp, when the bridge adds it
            at = payloads.zigbee2mqtt_time(data["last_seen"], message.received_at)
        return at, values

    def _admit(self, device: DeviceState, at: dt.datetime) -> None:
        """A token bucket per device, on the readings' own clock: a replayed backlog of
        readings spread over hours is not a flood, a burst of readings in one second is."""
        now = at.timestamp()
        if now > device.clock:
            device.tokens = min(self.flood_burst,
                                device.tokens + (now - device.clock) * self.flood_rate)
            device.clock = now
        if device.tokens < 1:
            raise Rejected("flood", f"more than {self.flood_burst:g} messages in a burst")
        device.tokens -= 1

    def _observe(self, device: DeviceState, at: dt.datetime, metric: int, value: float,
                 findings: list[tuple[int, int | None, dt.datetime, rules.Finding]]) -> None:
        if device.last_seen is None or at > device.last_seen:
            device.last_seen = at
        if metric == Metric.BATTERY:
            device.battery = value
        elif metric == Metric.LINK_QUALITY:
            device.link_quality = value
        else:
            device.values[Metric(metric).name.lower()] = value
        self.dirty_devices[device.id] = device
        home = self.homes.get(device.installation_id)
        if home is None:
            return
        if metric == Metric.MOTION and value and (home.last_motion is None
                                                  or at > home.last_motion):
            home.last_motion = at
            self.dirty_homes[home.id] = home
        elif metric == Metric.CONTACT and not value and (home.last_door is None
                                                         or at > home.last_door):
            # Only an opening: door sensors also report "closed" every hour or so.
            home.last_door = at
            self.dirty_homes[home.id] = home
        if metric == Metric.TEMPERATURE:
            since, finding = rules.temperature(value, at, home.climate_out_since, home.limits)
            if since != home.climate_out_since:
                home.climate_out_since = since
                self.dirty_homes[home.id] = home
        else:
            finding = rules.on_value(metric, value, at, home.limits)
        if finding is not None:
            findings.append((device.installation_id, device.id, at, finding))

    def _store(self, rows: list[tuple[int, dt.datetime, int, float]]) -> int:
        if not rows:
            return 0
        table = connection.ops.quote_name(Reading._meta.db_table)
        adapt = _adapter()
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (device_id, at, metric, value) "  # noqa: S608
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(d, adapt(at), m, v) for d, at, m, v in rows])
        return len(rows)

    # --- what is kept between batches ---------------------------------------------------

    def flush(self, limit: int | None = None) -> bool:
        """Write devices' last values and homes' last movements, kept in memory between
        snapshots; with `limit`, only that many of each (a snapshot of 40,000 devices is
        written over many batches, so that no batch waits long for it). Returns
        whether everything has been written."""
        devices = _take(self.dirty_devices, limit)
        homes = _take(self.dirty_homes, limit)
        at, state = _adapter(), Device._meta.get_field("state")
        with transaction.atomic(), connection.cursor() as cursor:
            if devices:
                cursor.executemany(
                    "UPDATE telecare_device SET last_seen_at = %s, battery = %s, "
                    "link_quality = %s, state = %s WHERE id = %s",
                    [(at(s.last_seen), _whole(s.battery), _whole(s.link_quality),
                      state.get_db_prep_save(s.values, connection), s.id) for s in devices])
            if homes:
                cursor.executemany(
                    "UPDATE telecare_installation SET last_motion_at = %s, last_door_at = %s, "
                    "climate_out_since = %s WHERE id = %s",
                    [(at(h.last_motion), at(h.last_door), at(h.climate_out_since), h.id)
                     for h in homes])
        return not self.dirty_devices and not self.dirty_homes

    def learnt(self, installation_id: int, profile: list[int]) -> None:
        """Use a home's newly learnt habits."""
        if (home := self.homes.get(installation_id)) is not None:
            home.profile = profile

    def tick(self, now: dt.datetime | None = None, send: bool = True) -> int:
        """Raise alerts for silences (no movement, devices not reporting) and escalate
        unacknowledged alerts; returns the number of alerts raised. With `send`, the
        notifications this creates are sent before returning."""
        now = now or self.clock()
        findings: list[tuple[int, int | None, dt.datetime, rules.Finding]] = []
        for home in self.homes.values():
            finding = rules.stillness(home.last_motion, home.last_door, now, home.profile,
                                      home.limits)
            if finding is not None and home.alerted_stillness != home.last_motion:
                home.alerted_stillness = home.last_motion
                findings.append((home.id, None, now, finding))
        if time.monotonic() - self.last_silence_check < SILENCE_CHECK_SECONDS:
            return self._raise(findings, now, send)
        self.last_silence_check = time.monotonic()
        silent: dict[int, DeviceState] = {}
        for state in self.devices.values():
            owner = self.homes.get(state.installation_id)
            if owner is not None and state.id not in silent and rules.silence(
                    state.last_seen, now, state.code, owner.limits):
                silent[state.id] = state
        by_home: dict[int, list[DeviceState]] = defaultdict(list)
        for state in silent.values():
            by_home[state.installation_id].append(state)
        for home_id, states in by_home.items():
            oldest = min(states, key=lambda s: s.last_seen or now)
            finding = rules.silence(oldest.last_seen, now, ", ".join(
                sorted(s.code for s in states)), self.homes[home_id].limits)
            if finding is not None:
                findings.append((home_id, oldest.id, now, finding))
        return self._raise(findings, now, send)

    def _raise(self, findings: list[tuple[int, int | None, dt.datetime, rules.Finding]],
               now: dt.datetime, send: bool) -> int:
        with transaction.atomic():
            raised = services.raise_alerts(findings, now, repeat=False) if findings else 0
            services.escalate_due(now)
        if send:
            services.send_pending_notifications()
        return raised


def _whole(value: float | None) -> int | None:
    return None if value is None else round(value)


def _adapter() -> Callable[[dt.datetime | None], Any]:
    """Aware datetimes as the database driver takes them, fast (SQLite: naive UTC text,
    as Django stores them)."""
    if connection.vendor != "sqlite":
        return lambda at: at
    return lambda at: None if at is None else str(at.astimezone(dt.UTC).replace(tzinfo=None))


def _take(dirty: dict[int, T], limit: int | None) -> list[T]:
    """Remove and return up to `limit` items (all without a limit), oldest first."""
    if limit is None or limit >= len(dirty):
        items = list(dirty.values())
        dirty.clear()
        return items
    keys = list(itertools.islice(dirty, limit))
    return [dirty.pop(key) for key in keys]
