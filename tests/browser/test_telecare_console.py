"""The monitoring console as an operator uses it: a fire comes in live, is taken in hand,
resolved, and leaves the list of open alerts."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from entraide.people.models import Person
from entraide.telecare import services, views
from entraide.telecare.engine import Engine, Message
from entraide.telecare.models import Alert

from ..factories import PersonFactory
from .test_case_file_in_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTACTS = [("Claire Lefèvre", "family", "06 01 02 03 04", ""),
            ("M. Petit", "neighbour", "06 05 06 07 08", ""),
            ("SAMU", "emergency", "15", "")]

# Counts the tones the page plays, since a test cannot listen.
COUNT_BEEPS = """
window.beeps = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.beeps += 1;
  return start.apply(this, args);
};
"""


def _home(person: Person, code: str, birth: dt.date) -> str:
    person.birth_date = birth
    person.phone = "05 53 40 12 34"
    person.save()
    services.create_installation(
        person.household, person, code=code, contacts=CONTACTS,
        devices=[("smoke", "smoke", None), ("water", "water", None), ("motion", "motion", None),
                 ("climate", "climate", None), ("door", "door", None)])
    return code


def _send(code: str, device: str, *readings: tuple[float, dict[str, object]]) -> None:
    """Readings sent (minutes ago, payload), processed as the bridge did at the last one."""
    now = dt.datetime.now(dt.UTC)
    moments = [now - dt.timedelta(minutes=minutes) for minutes, _payload in readings]
    Engine(clock=lambda: moments[-1]).process([
        Message(f"entraide/{code}/{device}",
                json.dumps({**payload, "ts": at.isoformat()}).encode(), now)
        for at, (_minutes, payload) in zip(moments, readings, strict=True)])


def _two_quiet_days(code: str) -> None:
    """Two days of an ordinary life: warm afternoons, moving about by day, a few outings."""
    now = timezone.localtime()
    temperatures, motions, doors = [], [], []
    for minutes in range(46 * 60, 10, -20):
        at = now - dt.timedelta(minutes=minutes)
        hour = at.hour + at.minute / 60
        warmth = max(0.0, math.sin(math.pi * (hour - 7) / 14)) if 7 <= hour <= 21 else 0.0
        temperatures.append((minutes, {"temperature": round(19.2 + 2.3 * warmth, 1)}))
        if 7 <= hour < 22 and minutes % 60 != 40:
            motions.append((minutes, {"motion": True}))
        if (at.hour, at.minute // 20) in {(9, 1), (11, 0), (16, 0), (18, 2)}:
            doors.append((minutes, {"contact": False}))
            doors.append((minutes - 5, {"contact": True}))
    _send(code, "climate", *temperatures)
    _send(code, "motion", *motions)
    _send(code, "door", *doors)


def test_operator_sees_a_fire_arrive_live_acknowledges_and_resolves_it(
    transactional_db, live_server, world, monkeypatch, page: Page, screenshots_dir: Path
) -> None:
    # The stream notices a closed page within a second or two; the test waits for each one to
    # end, as a request still running past the test would find the database closed.
    monkeypatch.setattr(views, "HEARTBEAT_SECONDS", 1.0)
    streams: list[threading.Thread] = []
    events = views._events

    def recorded(*args: Any, **kwargs: Any) -> Iterator[str]:
        streams.append(threading.current_thread())
        yield from events(*args, **kwargs)

    monkeypatch.setattr(views, "_events", recorded)
    base = live_server.url
    fire_home = _home(world.person_a, "maison-a", dt.date(1941, 3, 12))
    flood_home = _home(world.person_b, "maison-b", dt.date(1935, 11, 2))
    heat_home = _home(PersonFactory(first_name="Jeanne", last_name="Roux",
                                    household__territory=world.territory_a,
                                    household__commune="Agen"), "maison-c", dt.date(1938, 6, 30))
    _two_quiet_days(fire_home)
    _send(flood_home, "water", (14, {"water_leak": True}))
    _send(heat_home, "climate", (230, {"temperature": 31.8}), (47, {"temperature": 32.6}))
    _send(heat_home, "door", (131, {"battery": 8}))
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    page.add_init_script(COUNT_BEEPS)

    log_in(page, base, "operator")
    expect(page).to_have_url(base + "/telecare/")
    expect(page.locator("#live")).to_have_text("Live")
    expect(page.locator("#alert-list .alert-row")).to_have_count(3)
    page.locator("#sound").click()
    expect(page.locator("#sound")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function("window.beeps === 1")  # the button's own test beep

    _send(fire_home, "smoke", (0.2, {"smoke": True}))
    fire = Alert.objects.get(installation__code=fire_home, cause="smoke")
    row = page.locator(f'#alert-list [data-alert-id="{fire.pk}"]')
    expect(row).to_be_visible()  # arrived over the stream, without reloading the page
    expect(page.locator("#alert-list .alert-row").first).to_have_attribute("data-severity", "4")
    page.wait_for_function("window.beeps > 1")  # a new critical alert is heard

    row.locator("button.ack").click()
    expect(page.locator("#alert-detail .status-acknowledged")).to_be_visible()
    expect(row.locator(".tag.status")).to_have_text("Acknowledged")

    with page.expect_response(f"{base}/telecare/alerts/{fire.pk}/"):
        row.locator("a.open").click()
    detail = page.locator(f'#alert-detail [data-alert-id="{fire.pk}"]')
    expect(detail).to_contain_text("Claire Lefèvre")
    page.select_option("#alert-detail select[name=outcome]", "false_alarm")
    page.fill("#alert-detail textarea[name=note]",
              "Toast burnt in the kitchen; Mme Lefèvre is well, the neighbour checked.")
    page.screenshot(path=str(screenshots_dir / "telecare_console.png"), full_page=False)
    page.locator("#alert-detail button", has_text="Resolve").click()

    expect(page.locator("#alert-detail .resolved")).to_contain_text("False alarm")
    expect(row).to_have_count(0)
    expect(page.locator("#alert-list .alert-row")).to_have_count(3)
    fire.refresh_from_db()
    assert fire.status == "resolved" and fire.outcome == "false_alarm"

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: list above the detail
    page.screenshot(path=str(screenshots_dir / "telecare_console_phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#alert-detail a", has_text="last 48 hours").click()
    expect(page.locator("svg .ticks")).not_to_have_count(0)
    page.screenshot(path=str(screenshots_dir / "telecare_home.png"), full_page=True)
    for stream in streams:
        stream.join(timeout=10)
    assert streams and not any(stream.is_alive() for stream in streams)
