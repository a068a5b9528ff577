"""What sensors may send: the Entraide JSON schema, Zigbee2MQTT payloads, and their checks.

A payload becomes a list of (metric, value) pairs and an instant, or a `Rejected` that says,
in words an operator understands, what was wrong with it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from .models import DeviceKind, Metric

MAX_BYTES = 16 * 1024
MAX_AGE = dt.timedelta(days=7)
MAX_AHEAD = dt.timedelta(minutes=5)

REASONS = {
    "too_large": _("Message larger than 16 KB"),
    "not_json": _("Not JSON"),
    "not_object": _("JSON, but not an object of fields"),
    "unknown_device": _("No device is registered under this topic or name"),
    "unknown_field": _("Field not in the schema"),
    "wrong_type": _("Field of the wrong type"),
    "absurd_value": _("Value outside what a sensor can measure"),
    "bad_time": _("Time stamp unreadable, too old or in the future"),
    "empty": _("No measurement in the message"),
    "flood": _("Too many messages from this device"),
    "unreadable": _("Message the bridge could not read"),
}


class Rejected(Exception):
    """A message that cannot be used; `code` is one of REASONS, `detail` says which part."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail[:300]


@dataclass(frozen=True, slots=True)
class Field:
    metric: int
    kind: type
    low: float = 0.0
    high: float = 1.0


BOOL = bool
# The Entraide schema (docs/telecare.md): every field optional, at least one measurement.
FIELDS: dict[str, Field] = {
    "motion": Field(Metric.MOTION, BOOL),
    "contact": Field(Metric.CONTACT, BOOL),
    "temperature": Field(Metric.TEMPERATURE, float, -40.0, 70.0),
    "humidity": Field(Metric.HUMIDITY, float, 0.0, 100.0),
    "smoke": Field(Metric.SMOKE, BOOL),
    "gas": Field(Metric.GAS, BOOL),
    "water_leak": Field(Metric.WATER_LEAK, BOOL),
    "panic": Field(Metric.PANIC, BOOL),
    "battery": Field(Metric.BATTERY, float, 0.0, 100.0),
    "linkquality": Field(Metric.LINK_QUALITY, float, 0.0, 255.0),
}
# Zigbee2MQTT's names for the same measurements; its other fields (voltage, tamper…) are
# ignored, as a bridge publishes many that the rules have no use for.
Z2M_FIELDS: dict[str, str] = {
    "occupancy": "motion", "contact": "contact", "temperature": "temperature",
    "humidity": "humidity", "smoke": "smoke", "gas": "gas", "carbon_monoxide": "gas",
    "water_leak": "water_leak", "battery": "battery", "linkquality": "linkquality",
}


def decode(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object, or the reason it is not one."""
    if len(payload) > MAX_BYTES:
        raise Rejected("too_large", f"{len(payload)} bytes")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise Rejected("not_json", str(error) or type(error).__name__) from None
    if not isinstance(data, dict):
        raise Rejected("not_object", type(data).__name__)
    return data


def _value(name: str, raw: Any, spec: Field) -> float:
    if spec.kind is BOOL:
        if not isinstance(raw, bool):
            raise Rejected("wrong_type", f"{name} must be true or false, not {raw!r:.40}")
        return 1.0 if raw else 0.0
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise Rejected("wrong_type", f"{name} must be a number, not {raw!r:.40}")
    value = float(raw)
    if not math.isfinite(value) or not spec.low <= value <= spec.high:
        raise Rejected("absurd_value", f"{name} = {raw!r:.40} (expected {spec.low:g} to "
                                       f"{spec.high:g})")
    return value


def _instant(raw: Any, received_at: dt.datetime) -> dt.datetime:
    if raw is None:
        return received_at
    try:
        if isinstance(raw, bool):
            raise ValueError
        if isinstance(raw, int | float):
            at = dt.datetime.fromtimestamp(float(raw), dt.UTC)
        elif isinstance(raw, str):
            at = dt.datetime.fromisoformat(raw)
            if at.tzinfo is None:
                raise ValueError
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise Rejected("bad_time", f"ts = {raw!r:.40} (ISO 8601 with offset, or epoch "
                                   f"seconds)") from None
    if not received_at - MAX_AGE <= at <= received_at + MAX_AHEAD:
        raise Rejected("bad_time", f"ts = {raw!r:.40} is more than 7 days old or in the future")
    return at


def parse_entraide(data: dict[str, Any], received_at: dt.datetime
                   ) -> tuple[dt.datetime, list[tuple[int, float]]]:
    """Readings from a message in Entraide's own schema; unknown fields are refused."""
    values: list[tuple[int, float]] = []
    for name, raw in data.items():
        if name == "ts":
            continue
        spec = FIELDS.get(name)
        if spec is None:
            raise Rejected("unknown_field", f"{name!r:.40}")
        values.append((spec.metric, _value(name, raw, spec)))
    if not values:
        raise Rejected("empty")
    return _instant(data.get("ts"), received_at), values


def parse_zigbee2mqtt(data: dict[str, Any], kind: str, received_at: dt.datetime
                      ) -> tuple[dt.datetime, list[tuple[int, float]]]:
    """Readings from a Zigbee2MQTT state message of a device of this kind."""
    values: list[tuple[int, float]] = []
    for name, raw in data.items():
        field = Z2M_FIELDS.get(name)
        if field is not None and raw is not None:
            values.append((FIELDS[field].metric, _value(name, raw, FIELDS[field])))
    action = data.get("action")
    if kind == DeviceKind.PANIC and isinstance(action, str) and action:
        values.append((Metric.PANIC, 1.0))
    if not values:
        raise Rejected("empty")
    return received_at, values


def zigbee2mqtt_time(raw: Any, received_at: dt.datetime) -> dt.datetime:
    """Zigbee2MQTT's `last_seen` (ISO 8601, or epoch milliseconds) as an instant."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = raw / 1000
    return _instant(raw, received_at)
