"""The operator's console: open alerts, their lifecycle through the web, the live stream."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from entraide.secrecy.models import AuditRecord
from entraide.telecare import views
from entraide.telecare.engine import Engine, Message
from entraide.telecare.models import Alert, AlertStatus, Installation

HTMX = {"HX-Request": "true", "Accept-Language": "en"}
ENGLISH = {"Accept-Language": "en"}


def fire(home: Installation, device: str = "smoke", **payload: Any) -> Alert:
    """Send one reading as the bridge would and return the alert it opened."""
    now = dt.datetime.now(dt.UTC)
    body = json.dumps(payload or {device: True}).encode()
    Engine().process([Message(f"entraide/{home.code}/{device}", body, now)])
    return Alert.objects.filter(installation=home).latest("pk")


def operator(world: Any) -> Client:
    return world.client("operator")


def test_operator_sees_a_raised_alert_in_the_console(world, home) -> None:
    alert = fire(home)

    response = operator(world).get("/telecare/", headers=ENGLISH)

    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-alert-id="{alert.pk}"' in page and 'data-severity="4"' in page
    assert "Smoke" in page and "Zoé LEFÈVRE" in page
    assert f'hx-post="/telecare/alerts/{alert.pk}/acknowledge/"' in page


def test_console_lists_most_severe_first_then_oldest(world, home) -> None:
    battery = fire(home, "door", battery=5)
    smoke = fire(home, "smoke")

    page = operator(world).get("/telecare/").content.decode()

    assert page.index(f'data-alert-id="{smoke.pk}"') < page.index(
        f'data-alert-id="{battery.pk}"')


def test_operator_page_of_the_case_app_now_leads_to_the_console(world) -> None:
    response = operator(world).get("/monitoring/")

    assert response.status_code == 302 and response["Location"] == "/telecare/"


def test_acknowledge_dispatch_and_resolve_through_the_views_record_each_step(world, home
                                                                               ) -> None:
    alert = fire(home)
    client = operator(world)
    base = f"/telecare/alerts/{alert.pk}"

    acknowledged = client.post(f"{base}/acknowledge/", headers=HTMX)
    alert.refresh_from_db()
    assert acknowledged.status_code == 200 and alert.status == AlertStatus.ACKNOWLEDGED
    assert acknowledged["HX-Trigger"] == "telecare-changed"
    assert f'data-alert-id="{alert.pk}"' in acknowledged.content.decode()

    dispatched = client.post(f"{base}/dispatch/", {"to": "M. Petit, voisin"}, headers=HTMX)
    alert.refresh_from_db()
    assert dispatched.status_code == 200 and alert.status == AlertStatus.DISPATCHED
    assert alert.dispatched_to == "M. Petit, voisin"

    resolved = client.post(f"{base}/resolve/", {"outcome": "false_alarm", "note": "Grille-pain"})
    alert.refresh_from_db()
    assert resolved.status_code == 302 and resolved["Location"] == "/telecare/"
    assert alert.status == AlertStatus.RESOLVED and alert.outcome == "false_alarm"
    assert [s.step for s in alert.steps.all()] == ["raised", "acknowledged", "dispatched",
                                                   "resolved"]
    assert {s.by for s in alert.steps.exclude(step="raised")} == {world.users["operator"]}
    assert f'data-alert-id="{alert.pk}"' not in client.get("/telecare/").content.decode()


def test_resolving_twice_says_the_alert_is_already_resolved(world, home) -> None:
    alert = fire(home)
    client = operator(world)
    url = f"/telecare/alerts/{alert.pk}/resolve/"
    client.post(url, {"outcome": "help_given"}, headers=HTMX)

    again = client.post(url, {"outcome": "false_alarm"}, headers=HTMX)
    in_page = client.post(url, {"outcome": "false_alarm"}, headers=ENGLISH)

    assert again.status_code == 409 and in_page.status_code == 409
    assert "This alert is already resolved." in again.content.decode()
    assert "This alert is already resolved." in in_page.content.decode()
    alert.refresh_from_db()
    assert alert.outcome == "help_given"


def test_resolving_without_an_outcome_asks_what_happened(world, home) -> None:
    alert = fire(home)

    response = operator(world).post(f"/telecare/alerts/{alert.pk}/resolve/", {"outcome": ""},
                                    headers=HTMX)

    assert response.status_code == 409 and "Choose what happened." in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RAISED


@pytest.mark.parametrize("name", ["worker", "manager"])
def test_social_worker_and_manager_are_refused_the_console_stream_and_acknowledge(
        world, home, name) -> None:
    alert = fire(home)
    client = world.client(name)

    assert client.get("/telecare/").status_code == 403
    assert client.get("/telecare/stream/").status_code == 403
    assert client.post(f"/telecare/alerts/{alert.pk}/acknowledge/").status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RAISED


def _events(chunk: str) -> list[tuple[str, str]]:
    """(event name, data) of each Server-Sent Event in a chunk."""
    events = []
    for block in chunk.strip("\n").split("\n\n"):
        lines = block.split("\n")
        name = next((line[7:] for line in lines if line.startswith("event: ")), "")
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((name, data))
    return events


def test_stream_sends_the_alert_list_as_an_alerts_event(world, home) -> None:
    alert = fire(home)

    response = operator(world).get("/telecare/stream/?once=1", headers=ENGLISH)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    first = next(iter(response.streaming_content)).decode()
    ((name, data),) = _events(first)
    assert name == "alerts"
    assert "Smoke" in data and alert.reason in data and f'data-alert-id="{alert.pk}"' in data
    assert all(line.startswith(("data: ", "event: ", "retry: "))
               for line in first.strip("\n").split("\n"))


def test_stream_sends_the_list_again_when_an_alert_comes_in(world, home, monkeypatch) -> None:
    # Instead of waiting a second between two looks, a panic button is pressed.
    monkeypatch.setattr(views.time, "sleep", lambda seconds: fire(home, "panic"))
    response = operator(world).get("/telecare/stream/", headers=ENGLISH)
    chunks = iter(response.streaming_content)

    before = next(chunks).decode()
    after = next(chunks).decode()
    response.close()

    assert "No open alert." in before
    assert _events(after)[0][0] == "alerts" and "Panic button pressed" in after


def test_stream_ends_by_itself_for_the_browser_to_reconnect(world, home, monkeypatch) -> None:
    monkeypatch.setattr(views, "STREAM_SECONDS", 0)

    response = operator(world).get("/telecare/stream/")

    assert len(list(response.streaming_content)) == 1


def test_every_read_of_an_alert_detail_is_audited(world, home) -> None:
    alert = fire(home)
    client = operator(world)

    page = client.get(f"/telecare/alerts/{alert.pk}/")
    fragment = client.get(f"/telecare/alerts/{alert.pk}/", headers=HTMX)

    assert page.status_code == 200 and "<html" in page.content.decode()
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert "Claire Lefèvre" in fragment.content.decode()
    reads = AuditRecord.objects.filter(object_type="telecare_alert", object_id=alert.pk,
                                       action="read", username="operator")
    assert reads.count() == 2
    assert {r.household_id for r in reads} == {home.household_id}


def test_alert_detail_shows_the_person_contacts_devices_and_steps(world, home) -> None:
    world.person_a.birth_date = dt.date(1938, 5, 1)
    world.person_a.phone = "0553000000"
    world.person_a.save()
    alert = fire(home)

    page = operator(world).get(f"/telecare/alerts/{alert.pk}/", headers=HTMX).content.decode()

    assert "Zoé LEFÈVRE" in page and "0553000000" in page and " years" in page
    assert world.household_a.commune in page
    names = [page.index(n) for n in ("Claire Lefèvre", "M. Petit", "Urgences")]
    assert names == sorted(names)
    assert "Smoke detector" in page and "Raised" in page
    assert 'name="outcome"' in page and 'value="false_alarm"' in page


def test_installation_page_draws_the_last_readings_in_svg(world, home) -> None:
    now = dt.datetime.now(dt.UTC)
    messages = []
    for hours_ago, celsius in ((30, 19.5), (20, 20.5), (10, 21.0), (1, 20.0)):
        at = (now - dt.timedelta(hours=hours_ago)).isoformat()
        messages.append(Message(f"entraide/{home.code}/climate",
                                json.dumps({"temperature": celsius, "ts": at}).encode(), now))
        messages.append(Message(f"entraide/{home.code}/motion",
                                json.dumps({"motion": True, "ts": at}).encode(), now))
    Engine().process(messages)

    response = operator(world).get(f"/telecare/installations/{home.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in page and '<polyline class="temperature" points="' in page
    assert 'class="ticks motion"' in page
    points = page.split('points="')[1].split('"')[0].split()
    assert len(points) == 4 and all("," in p and p.count(".") <= 2 for p in points)
    assert AuditRecord.objects.filter(object_type="telecare_installation",
                                      object_id=home.pk).exists()


def test_chart_scales_readings_between_its_edges() -> None:
    now = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
    since = now - dt.timedelta(hours=48)
    home = Installation(cold_below=16.0, heat_above=31.0)
    view = views.services.InstallationView(
        home, [], [], [], {"temperature": [(since, 18.0), (now, 22.0)],
                           "motion": [(since + dt.timedelta(hours=24), 1.0)],
                           "door": [(now, 0.0), (now, 1.0)]}, since)

    chart = views.chart(view, now)

    (x1, y1), (x2, y2) = (map(float, p.split(",")) for p in chart.temperature.split())
    assert (x1, x2) == (chart.left, chart.right) and chart.bottom > y1 > y2 > chart.top
    middle = (chart.left + chart.right) / 2
    assert chart.motion == f"M{middle} 186V200" and chart.door_count == 1
    assert [label for _x, label in chart.hours][:2] == ["18:00", "01/03"]


def test_age_is_read_at_a_glance() -> None:
    now = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)

    with translation.override("en"):
        assert views.age(now - dt.timedelta(seconds=50), now) == "0 min"
        assert views.age(now - dt.timedelta(minutes=12, seconds=40), now) == "12 min"
        assert views.age(now - dt.timedelta(hours=3, minutes=5), now) == "3 h 05"
        assert views.age(now - dt.timedelta(days=3), now) == "3 d"


@pytest.mark.django_db
def test_each_alert_in_the_live_list_is_audited_once_per_stream(world: Any, home: Any) -> None:
    from entraide.telecare import services

    Engine().process([Message("entraide/maison-a/smoke", b'{"smoke": true}',
                              dt.datetime.now(dt.UTC))])
    shown: set[int] = set()
    for _ in range(3):
        services.console_alerts(world.actor("operator"), shown=shown)
    records = AuditRecord.objects.filter(object_type="telecare_alert", detail="console list")
    assert records.count() == 1
    assert records.get().household_id == world.household_a.pk
