"""The home simulator: realistic, deterministic days, whose incidents the engine catches."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from entraide.telecare import demo
from entraide.telecare.bridge import Bridge
from entraide.telecare.broker import EmbeddedBroker
from entraide.telecare.engine import Engine, Message
from entraide.telecare.models import Alert, Device, Installation, Reading
from entraide.telecare.simulator import (
    Event,
    Home,
    Incident,
    Live,
    Publisher,
    backfill,
    events,
    home_rng,
)

from ..factories import PersonFactory

pytestmark = pytest.mark.django_db
ZONE = ZoneInfo(settings.TIME_ZONE)
START = dt.datetime(2025, 3, 12, tzinfo=ZONE)


def _day(home: Home, days: float = 1, seed: int = 7) -> list[Event]:
    return list(events(home, START, START + dt.timedelta(days=days), random.Random(seed)))


def _feed(messages: list[Event]) -> Engine:
    engine = Engine()
    result = engine.process(Message(topic, json.dumps(payload).encode(), at)
                            for at, topic, payload in messages)
    assert result.rejected == 0
    return engine


def _moved(payload: dict[str, Any]) -> bool:
    return bool(payload.get("motion") or payload.get("occupancy"))


def _causes() -> set[str]:
    return set(Alert.objects.values_list("cause", flat=True))


def test_the_same_seed_gives_the_same_messages_and_another_seed_others(home: Any) -> None:
    simulated = Home.of(home)
    assert _day(simulated) == _day(simulated)
    assert _day(simulated) != _day(simulated, seed=8)


def test_a_home_speaks_the_language_of_each_of_its_devices(home: Any) -> None:
    fields: dict[str, set[str]] = {}
    for _, topic, payload in _day(Home.of(home)):
        fields.setdefault(topic, set()).update(payload)
    assert fields["zigbee2mqtt/salon_mouvement"] == {"occupancy", "battery", "linkquality"}
    assert fields["zigbee2mqtt/salon_temperature"] == {"temperature", "humidity", "battery",
                                                      "linkquality"}
    assert fields["zigbee2mqtt/cuisine_fumee"] == {"smoke", "battery", "linkquality"}
    assert fields["entraide/maison-a/gas"] == {"gas", "battery", "linkquality"}


def test_an_incident_changes_nothing_before_its_instant(home: Any) -> None:
    simulated, fall = Home.of(home), START + dt.timedelta(hours=15)
    before = [m for m in _day(simulated, days=2) if m[0] < fall]
    changed = _day(simulated.with_incident("cold", fall).with_incident("fall", fall), days=2)
    assert [m for m in changed if m[0] < fall] == before
    assert changed != _day(simulated, days=2)


def test_a_normal_day_moves_while_awake_and_raises_no_alarm(home: Any) -> None:
    messages = _day(Home.of(home))
    moves = [at for at, _, payload in messages if _moved(payload)]
    doors = [at for at, _, payload in messages if "contact" in payload]
    daytime = [at for at in moves if dt.time(11, 30) <= at.astimezone(ZONE).time()
               <= dt.time(20, 30)]
    assert len(daytime) >= 8
    for earlier, later in zip(daytime, daytime[1:], strict=False):
        # Still for more than 75 minutes in the daytime only when out of the house.
        assert later - earlier <= dt.timedelta(minutes=75) or any(
            earlier < door < later for door in doors)
    temperatures = [p["temperature"] for _, _, p in messages if "temperature" in p]
    assert len(temperatures) >= 90 and all(17 <= t <= 23 for t in temperatures)
    assert not any(p.get(alarm) for _, _, p in messages
                   for alarm in ("smoke", "gas", "water_leak", "action"))
    _feed(messages)
    assert not Alert.objects.exists()


def test_a_fire_raises_a_critical_smoke_alert(home: Any) -> None:
    fire = START + dt.timedelta(hours=14, minutes=3)
    _feed(_day(Home.of(home).with_incident("fire", fire)))
    alert = Alert.objects.get(cause="smoke")
    assert (alert.severity, alert.reading_at) == (4, fire)


def test_after_a_fall_nothing_moves_and_an_inactivity_alert_follows(home: Any) -> None:
    fall = START + dt.timedelta(hours=10)
    messages = list(events(Home.of(home).with_incident("fall", fall), START,
                           fall + dt.timedelta(hours=8), random.Random(7)))
    assert not [at for at, _, payload in messages if at >= fall and _moved(payload)]
    engine = _feed(messages)
    assert "inactivity" not in _causes()
    engine.tick(fall + dt.timedelta(hours=17))
    assert "inactivity" in _causes()


def test_a_heating_failure_raises_a_cold_alert(home: Any) -> None:
    messages = _day(Home.of(home).with_incident("cold", START + dt.timedelta(hours=6)))
    temperatures = [p["temperature"] for at, _, p in messages if "temperature" in p
                    and at > START + dt.timedelta(hours=14)]
    assert temperatures and all(11.5 <= t <= 14.5 for t in temperatures)
    _feed(messages)
    assert _causes() == {"cold"}


def test_a_heat_wave_raises_a_heat_alert(home: Any) -> None:
    _feed(_day(Home.of(home).with_incident("heat_wave", START + dt.timedelta(hours=6))))
    assert _causes() == {"heat"}


def test_a_dying_battery_is_alerted_then_its_device_falls_silent(home: Any) -> None:
    dying = START + dt.timedelta(hours=8)
    messages = list(events(Home.of(home).with_incident("dead_battery", dying, "water"),
                           START, dying + dt.timedelta(hours=18), random.Random(7)))
    water = [(at, p) for at, topic, p in messages if topic == "entraide/maison-a/water"]
    assert water[-1][1]["battery"] == 5 and water[-1][0] < dying + dt.timedelta(hours=5)
    engine = _feed(messages)
    assert _causes() == {"battery"}
    engine.tick(dying + dt.timedelta(hours=18))
    silent = Alert.objects.get(cause="silent")
    assert silent.device is not None and silent.device.code == "water"


class _Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def send(self, topic: str, payload: dict[str, Any]) -> None:
        self.messages.append((topic, payload))


def test_live_play_continues_the_history_and_follows_an_injected_incident(home: Any) -> None:
    simulated, sent = Home.of(home), _Sent()
    live = Live(sent, [simulated], seed=5, start=START)  # type: ignore[arg-type]
    live.real_origin -= 6 * 3600  # six hours have gone by
    live.step()
    now = live.now()
    expected = [(t, p) for at, t, p in events(simulated, START, now, home_rng(5, simulated))]
    assert sent.messages[:len(expected)] == expected and len(expected) > 30

    changed, incident = live.inject(random.Random(3))
    assert live.homes[simulated.code].incidents == (incident,)
    sent.messages.clear()
    live.real_origin -= 6 * 3600
    live.step()
    expected = [(t, p) for at, t, p in events(changed, incident.at, live.now(),
                                                home_rng(5, simulated))]
    assert sent.messages[:len(expected)] == expected and len(expected) > 30


@pytest.mark.parametrize("kind", ["fire", "cold"])
def test_the_first_live_incident_can_be_chosen(home: Any, kind: str) -> None:
    """`make demo` starts with a fire, so that the console shows life at once."""
    live = Live(_Sent(), [Home.of(home)], seed=5, start=START)  # type: ignore[arg-type]
    stop, seen = threading.Event(), []

    def on_incident(changed: Home, incident: Incident) -> None:
        seen.append(incident.kind)
        if len(seen) == 2:
            stop.set()

    live.run(stop, random.Random(1), incident_every=0.05, on_incident=on_incident, first=kind)
    assert seen[0] == kind and len(seen) == 2


def test_seed_homes_prefers_elderly_people_living_alone_and_is_idempotent(world: Any) -> None:
    elderly = PersonFactory(birth_date=dt.date(1938, 5, 2))
    homes = demo.seed_homes(2, random.Random(1))
    assert [home.code for home in homes] == ["demo-0001", "demo-0002"]
    assert homes[0].resident == elderly
    for home in homes:
        assert home.devices.count() == 7
        names = set(home.devices.values_list("friendly_name", flat=True))
        assert names == {None} or all(name.startswith(f"{home.code}_") for name in names)
        contacts = list(home.contacts.all())
        assert 2 <= len(contacts) <= 3 and contacts[-1].phone == "15"
        assert all(contact.notify_url == "" for contact in contacts)

    assert demo.seed_homes(2, random.Random(99)) == homes
    more = demo.seed_homes(3, random.Random(99))
    assert more[:2] == homes and Installation.objects.count() == 3
    assert len({home.household_id for home in more}) == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def mqtt_url() -> Iterator[str]:
    port = _free_port()
    broker = EmbeddedBroker(port).start()
    yield f"mqtt://127.0.0.1:{port}"
    broker.stop()


@pytest.fixture
def bridge(mqtt_url: str, db: None) -> Iterator[Bridge]:
    started = Bridge(mqtt_url, f"test-simulator-{uuid.uuid4().hex[:8]}").start()
    yield started
    started.stop()


def test_published_history_reaches_the_bridge_with_its_own_time(
        home: Any, mqtt_url: str, bridge: Bridge) -> None:
    now = timezone.now().replace(microsecond=0)
    fire = now - dt.timedelta(hours=1)
    publisher = Publisher(mqtt_url).start()
    sent = backfill(publisher, [Home.of(home).with_incident("fire", fire)],
                    now - dt.timedelta(hours=3), now, seed=3)
    publisher.stop()
    assert sent > 30
    assert bridge.run_until(lambda: bridge.totals.stored >= sent and not bridge.queue)
    assert bridge.totals.rejected == 0
    assert Alert.objects.get(cause="smoke").reading_at == fire
    # A Zigbee2MQTT device and an Entraide one, both reporting whether anyone moves or not.
    for code in ("climate", "water"):
        device = Device.objects.get(installation=home, code=code)
        earliest = Reading.objects.filter(device=device).order_by("at").first()
        assert earliest is not None and earliest.at < now - dt.timedelta(hours=2)


def test_simulate_once_equips_demo_homes_and_sends_their_history(
        world: Any, mqtt_url: str, bridge: Bridge) -> None:
    out = io.StringIO()
    call_command("simulate", "homes", "--homes", "2", "--backfill-days", "0.5", "--once",
                 "--mqtt-url", mqtt_url, stdout=out)
    assert "2 simulated homes" in out.getvalue() and "History sent" in out.getvalue()
    homes = Installation.objects.filter(code__startswith="demo-")
    assert homes.count() == 2
    assert bridge.run_until(lambda: all(
        Reading.objects.filter(device__installation=home).exists() for home in homes))
    assert bridge.totals.rejected == 0
