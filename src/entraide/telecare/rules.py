"""The rules, as plain functions of readings, habits and thresholds (no database here).

Each returns the alerts a situation calls for, with the reason in plain words; the engine
feeds them readings as they stream in and asks them about silences as time passes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .models import AlertCause, Metric, Severity

UNKNOWN_DAY_MINUTES = 8 * 60
MARGIN = 1.25


@dataclass(frozen=True, slots=True)
class Finding:
    """An alert the rules call for."""

    cause: str
    severity: int
    reason: str


@dataclass(slots=True)
class Thresholds:
    floor_minutes: int
    ceiling_minutes: int
    night_start: dt.time
    night_end: dt.time
    cold_below: float
    heat_above: float
    temperature_minutes: int
    silence_minutes: int
    battery_low: int


IMMEDIATE: dict[int, tuple[str, int]] = {
    Metric.SMOKE: (AlertCause.SMOKE, Severity.CRITICAL),
    Metric.GAS: (AlertCause.GAS, Severity.CRITICAL),
    Metric.PANIC: (AlertCause.PANIC, Severity.CRITICAL),
    Metric.WATER_LEAK: (AlertCause.WATER_LEAK, Severity.HIGH),
}


def local(at: dt.datetime) -> dt.datetime:
    return at.astimezone(ZoneInfo(settings.TIME_ZONE))


def day_and_time(at: dt.datetime) -> str:
    """"Sat 07:00", with the day's name in the active language."""
    return f"{date_format(local(at), 'D')} {local(at):%H:%M}"


def is_night(at: dt.datetime, start: dt.time, end: dt.time) -> bool:
    moment = local(at).time()
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def on_value(metric: int, value: float, at: dt.datetime, limits: Thresholds) -> Finding | None:
    """What one reading calls for at once (alarms, a door at night, a flat battery)."""
    if metric in IMMEDIATE and value >= 1.0:
        cause, severity = IMMEDIATE[metric]
        return Finding(cause, severity, _("%(sensor)s triggered at %(time)s") % {
            "sensor": Metric(metric).label, "time": f"{local(at):%H:%M}"})
    if metric == Metric.CONTACT and value == 0.0 and is_night(at, limits.night_start,
                                                              limits.night_end):
        return Finding(AlertCause.DOOR_NIGHT, Severity.HIGH,
                       _("Front door opened at %(time)s, during the night") % {
                           "time": f"{local(at):%H:%M}"})
    if metric == Metric.BATTERY and value < limits.battery_low:
        return Finding(AlertCause.BATTERY, Severity.LOW,
                       _("Battery at %(level)d %%") % {"level": value})
    return None


def temperature(value: float, at: dt.datetime, out_since: dt.datetime | None,
                limits: Thresholds) -> tuple[dt.datetime | None, Finding | None]:
    """The new start of the out-of-range spell, and an alert once it has lasted too long."""
    if limits.cold_below <= value <= limits.heat_above:
        return None, None
    since = out_since or at
    if at - since < dt.timedelta(minutes=limits.temperature_minutes):
        return since, None
    cold = value < limits.cold_below
    words = (_("%(value).1f °C at home, below %(limit).1f °C since %(since)s") if cold
             else _("%(value).1f °C at home, above %(limit).1f °C since %(since)s"))
    reason = words % {"value": value, "since": f"{local(since):%H:%M}",
                      "limit": limits.cold_below if cold else limits.heat_above}
    return since, Finding(AlertCause.COLD if cold else AlertCause.HEAT,
                          Severity.HIGH if cold or value >= limits.heat_above + 4
                          else Severity.MEDIUM, reason)


def allowed_stillness(profile: Sequence[int], since: dt.datetime, limits: Thresholds) -> int:
    """Minutes of stillness allowed after a movement at `since`: the person's habit for that
    hour, within the installation's floor and ceiling."""
    hour = local(since).hour
    learned = profile[hour] if len(profile) == 24 else 0
    if not learned:
        night = is_night(since, limits.night_start, limits.night_end)
        learned = limits.ceiling_minutes if night else UNKNOWN_DAY_MINUTES
    return max(limits.floor_minutes, min(limits.ceiling_minutes, learned))


def stillness(last_motion: dt.datetime | None, last_door: dt.datetime | None,
              now: dt.datetime, profile: Sequence[int], limits: Thresholds) -> Finding | None:
    """An inactivity alert when nothing has moved for longer than this person's habit
    allows; after the door was the last thing to move (gone out), only the ceiling applies."""
    if last_motion is None:
        return None
    away = last_door is not None and last_door > last_motion
    allowed = limits.ceiling_minutes if away else allowed_stillness(profile, last_motion, limits)
    still = (now - last_motion).total_seconds() / 60
    if still <= allowed:
        return None
    return Finding(AlertCause.INACTIVITY, Severity.HIGH, _(
        "No movement since %(since)s (%(hours)dh%(minutes)02d); usually at most "
        "%(usual_h)dh%(usual_m)02d at that time") % {
        "since": day_and_time(last_motion), "hours": still // 60,
        "minutes": still % 60, "usual_h": allowed // 60, "usual_m": allowed % 60})


def silence(last_seen: dt.datetime | None, now: dt.datetime, device: str,
            limits: Thresholds) -> Finding | None:
    """A technical alert for a device that stopped reporting."""
    if last_seen is None or now - last_seen <= dt.timedelta(minutes=limits.silence_minutes):
        return None
    return Finding(AlertCause.SILENT, Severity.LOW,
                   _("%(device)s silent since %(since)s") % {
                       "device": device, "since": day_and_time(last_seen)})


def learn_profile(motions: Iterable[dt.datetime]) -> list[int]:
    """The longest usual stillness (minutes) after a movement at each hour of the day.

    For each hour, the 95th percentile of the gaps between movements that started within
    an hour of it, with a 25 % margin; 0 where the history says nothing.
    """
    by_hour: list[list[float]] = [[] for _ in range(24)]
    previous: dt.datetime | None = None
    for at in sorted(motions):
        if previous is not None:
            gap = (at - previous).total_seconds() / 60
            hour = local(previous).hour
            for h in (hour - 1, hour, hour + 1):
                by_hour[h % 24].append(gap)
        previous = at
    profile = []
    for gaps in by_hour:
        if len(gaps) < 5:
            profile.append(0)
            continue
        gaps.sort()
        profile.append(round(gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))] * MARGIN))
    return profile
