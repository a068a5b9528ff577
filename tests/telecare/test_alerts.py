"""Rules and alert lifecycle, fed straight to the engine (no broker needed)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import OperationalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entraide.cases import services as cases
from entraide.secrecy.policy import Denied
from entraide.telecare import services
from entraide.telecare.engine import Engine, Message
from entraide.telecare.models import Alert, Notification

from .conftest import make_home

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def feed(engine: Engine, *messages: tuple[str, dict[str, Any]], at: dt.datetime | None = None
         ) -> Any:
    now = at or dt.datetime.now(dt.UTC)
    return engine.process([Message(t, json.dumps(p).encode(), now) for t, p in messages])


def test_repeats_attach_to_the_one_open_alert_of_their_cause(home: Any) -> None:
    engine = Engine()
    feed(engine, ("entraide/maison-a/smoke", {"smoke": True}))
    feed(engine, ("entraide/maison-a/smoke", {"smoke": True}),
         ("zigbee2mqtt/cuisine_fumee", {"smoke": True}))
    alert = Alert.objects.get()
    assert (alert.cause, alert.repeats) == ("smoke", 2)


def test_an_alert_appears_in_the_persons_case_timeline(world: Any, home: Any) -> None:
    feed(Engine(), ("zigbee2mqtt/pendentif", {"action": "emergency", "battery": 90}))
    alert = Alert.objects.get()
    assert (alert.cause, alert.severity) == ("panic", 4)
    services.resolve(world.actor("operator"), alert.pk, "help_given", "Voisin passé")
    page = cases.timeline(world.actor("worker"), world.file_a.pk)
    summaries = [item.summary for item in page.items if item.kind == "alert"]
    assert len(summaries) == 2 and "Panic" in summaries[1]
    assert "resolved" in summaries[0] and "Help given" in summaries[0]


def test_door_opened_at_night_and_not_by_day(home: Any) -> None:
    engine = Engine()
    night = dt.datetime(2026, 11, 28, 3, 10, tzinfo=PARIS)
    day = dt.datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)
    feed(engine, ("entraide/maison-a/door", {"contact": False, "ts": day.isoformat()}), at=day)
    assert not Alert.objects.exists()
    feed(engine, ("entraide/maison-a/door", {"contact": False, "ts": night.isoformat()}),
         at=night)
    assert Alert.objects.get().cause == "door_night"


def test_cold_home_alerts_only_once_it_lasts(world: Any) -> None:
    make_home(world, temperature_minutes=60)
    engine = Engine()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    for minutes in (0, 30, 59):
        at = start + dt.timedelta(minutes=minutes)
        feed(engine, ("entraide/maison-a/climate", {"temperature": 13.5, "ts": at.isoformat()}))
    assert not Alert.objects.exists()
    warm = start + dt.timedelta(minutes=70)
    feed(engine, ("entraide/maison-a/climate", {"temperature": 19, "ts": warm.isoformat()}))
    cold_again = [warm + dt.timedelta(minutes=m) for m in (10, 75)]
    for at in cold_again:
        feed(engine, ("entraide/maison-a/climate", {"temperature": 12.0, "ts": at.isoformat()}))
    alert = Alert.objects.get()
    assert alert.cause == "cold" and "12.0 °C" in alert.reason


def test_low_battery_and_silent_devices_are_low_priority(home: Any) -> None:
    engine = Engine()
    now = dt.datetime.now(dt.UTC)
    feed(engine, ("zigbee2mqtt/salon_temperature", {"temperature": 20, "battery": 9}))
    engine.tick(now + dt.timedelta(hours=13))
    causes = dict(Alert.objects.values_list("cause", "severity"))
    assert causes == {"battery": 1, "silent": 1}
    assert not Notification.objects.exists()  # technical alerts do not wake the contacts


def test_an_unacknowledged_critical_alert_escalates_contact_by_contact(
        world: Any, captured: list[dict[str, str]]) -> None:
    make_home(world, escalation_seconds=2)
    engine = Engine()
    now = dt.datetime.now(dt.UTC)
    feed(engine, ("entraide/maison-a/gas", {"gas": True}), at=now)
    alert = Alert.objects.get()
    engine.tick(alert.raised_at + dt.timedelta(seconds=1))
    assert captured == []
    engine.tick(alert.raised_at + dt.timedelta(seconds=2))
    assert [c["to"] for c in captured] == ["claire@family"]
    assert "Zoé Lefèvre" in captured[0]["body"] and "Gas" in captured[0]["body"]
    engine.tick(alert.raised_at + dt.timedelta(seconds=4))
    assert [c["to"] for c in captured] == ["claire@family", "petit@neighbour"]
    engine.tick(alert.raised_at + dt.timedelta(seconds=6))
    by_phone = Notification.objects.get(contact__name="Urgences")
    assert (by_phone.status, by_phone.error) == ("by_phone", "15")
    alert.refresh_from_db()
    assert alert.escalation_level == 3 and alert.next_escalation_at is None
    steps = list(alert.steps.values_list("step", flat=True))
    assert steps == ["raised", "escalated", "escalated", "escalated"]


def test_acknowledging_stops_the_escalation(world: Any, captured: list[dict[str, str]]) -> None:
    make_home(world, escalation_seconds=2)
    engine = Engine()
    feed(engine, ("entraide/maison-a/panic", {"panic": True}))
    alert = Alert.objects.get()
    services.acknowledge(world.actor("operator"), alert.pk)
    engine.tick(alert.raised_at + dt.timedelta(minutes=10))
    assert captured == []
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == world.users["operator"]


def test_the_lifecycle_is_timestamped_and_cannot_go_back(world: Any, home: Any) -> None:
    feed(Engine(), ("entraide/maison-a/water", {"water_leak": True}))
    alert = Alert.objects.get()
    operator = world.actor("operator")
    services.dispatch(operator, alert.pk, "M. Petit, voisin")
    services.resolve(operator, alert.pk, "technical", "Joint changé")
    alert.refresh_from_db()
    assert alert.acknowledged_at <= alert.dispatched_at <= alert.resolved_at
    assert (alert.dispatched_to, alert.outcome) == ("M. Petit, voisin", "technical")
    with pytest.raises(ValueError, match="already resolved"):
        services.acknowledge(operator, alert.pk)
    feed(Engine(), ("entraide/maison-a/water", {"water_leak": True}))
    assert Alert.objects.filter(cause="water_leak").count() == 2  # a new one, not a repeat


def test_only_operators_act_on_alerts(world: Any, home: Any) -> None:
    feed(Engine(), ("entraide/maison-a/smoke", {"smoke": True}))
    alert = Alert.objects.get()
    for name in ("worker", "lead", "manager", "reception", "dpo"):
        with pytest.raises(Denied):
            services.acknowledge(world.actor(name), alert.pk)
    with pytest.raises(Denied):
        services.console_alerts(world.actor("worker"))


def test_an_operator_with_a_territory_sees_only_its_homes(world: Any, home: Any) -> None:
    feed(Engine(), ("entraide/maison-a/smoke", {"smoke": True}))
    operator = world.users["operator"]
    operator.territory = world.territory_b
    operator.save()
    assert services.console_alerts(world.actor("operator")) == []
    with pytest.raises(Denied):
        services.acknowledge(world.actor("operator"), Alert.objects.get().pk)


@given(payload=st.one_of(st.binary(max_size=300), st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["ts", "motion", "temperature", "battery", "smoke", "x"]), inner,
        max_size=4), max_leaves=12).map(lambda v: json.dumps(v).encode())))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_payload_stops_the_engine(home: Any, payload: bytes) -> None:
    result = Engine().process([Message("entraide/maison-a/climate", payload,
                                       dt.datetime.now(dt.UTC))])
    assert result.stored + result.rejected >= 1


def test_deeply_nested_json_is_refused_not_fatal(home: Any) -> None:
    deep = b"[" * 8000 + b"]" * 8000  # valid JSON, under 16 KB, deeper than Python recurses
    result = Engine().process([Message("entraide/maison-a/climate", deep,
                                       dt.datetime.now(dt.UTC)),
                               Message("zigbee2mqtt/salon_temperature", b'{"temperature": 20}',
                                       dt.datetime.now(dt.UTC))])
    assert (result.rejected, result.stored) == (1, 1)


def test_thresholds_edited_meanwhile_are_picked_up_by_a_running_engine(home: Any) -> None:
    engine = Engine()
    home.cold_below = 18.5
    home.save()
    engine.refresh()
    assert engine.homes[home.pk].limits.cold_below == 18.5


def test_equipment_changed_meanwhile_is_picked_up_by_a_running_engine(
        world: Any, home: Any) -> None:
    """Names swapped between two devices, a device added, a home switched off: the running
    engine follows after its periodic refresh, without a restart."""
    engine = Engine()
    other = make_home(world, "maison-b")
    motion, door = home.devices.get(code="motion"), home.devices.get(code="door")
    motion.friendly_name, door.friendly_name = "tmp", "salon_mouvement"
    motion.save()
    door.save()
    motion.friendly_name = "porte_entree"
    motion.save()
    home.devices.create(code="smoke2", kind="smoke", label="smoke2")
    home.save()  # the equipment page saves the home with its devices
    other.active = False
    other.save()
    engine.refresh()
    feed(engine, ("zigbee2mqtt/salon_mouvement", {"contact": False}),
         ("entraide/maison-a/smoke2", {"smoke": True}),
         ("entraide/maison-b/smoke", {"smoke": True}))
    assert door.readings.exists() and not motion.readings.exists()
    assert [(a.installation_id, a.cause) for a in Alert.objects.all()] == [(home.pk, "smoke")]


def test_a_batch_retried_after_a_database_error_is_not_taken_for_a_flood(
        home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    batch = [Message("entraide/maison-a/climate",
                     json.dumps({"temperature": 20, "ts": (start + dt.timedelta(
                         milliseconds=10 * i)).isoformat()}).encode(), start)
             for i in range(50)]  # a burst: 50 of the bucket's 60
    store = engine._store

    def unavailable(rows: Any) -> int:
        monkeypatch.setattr(engine, "_store", store)  # fails once, as a database restarting
        raise OperationalError("database is restarting")

    monkeypatch.setattr(engine, "_store", unavailable)
    with pytest.raises(OperationalError):
        engine.process(batch)
    result = engine.process(batch)
    assert (result.stored, result.rejected) == (50, 0)
