"""The welfare map as a team lead uses it, over the 5,000 households of the demo: it loads,
a filter changes the markers, a click opens a household and then its case file; a manager
sees counts per commune and no household."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import import_module
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from playwright.sync_api import Locator, Page, expect

from entraide.org.models import Organisation
from entraide.people.models import Household
from entraide.territory import communes, crisis
from entraide.territory.models import Service

from .test_case_file_in_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARKERS = "#welfare-map .map-hh"
GROUPS = "#welfare-map .map-cluster"


@pytest.fixture
def _fast_flush_of_the_demo(django_db_blocker: Any) -> Iterator[None]:
    """Empty the demo's tables with foreign keys off before pytest-django's flush: SQLite
    checks each deleted row against foreign keys that have no index, which takes minutes.
    The audit trail is left to the conftest, which empties it past its triggers.
    PostgreSQL's flush (TRUNCATE) is fast already."""
    yield
    if connection.vendor != "sqlite":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys = OFF")
        for table in connection.introspection.django_table_names(only_existing=True):
            if table != "secrecy_auditrecord":
                cursor.execute(f'DELETE FROM "{table}"')
        cursor.execute("PRAGMA foreign_keys = ON")


def uncovered(markers: Locator) -> Locator | None:
    """The first of these markers that nothing else on the map covers, so that a real
    click lands on it (markers of nearby households overlap)."""
    index = markers.evaluate_all("""(icons) => icons.findIndex((icon) => {
        const box = icon.getBoundingClientRect();
        const x = box.left + box.width / 2;
        const y = box.top + box.height / 2;
        return y > 0 && y < window.innerHeight && icon.contains(document.elementFromPoint(x, y));
    })""")
    return None if index < 0 else markers.nth(index)


def click(page: Page, marker: Locator | None) -> None:
    assert marker is not None, "every marker is covered by another one"
    box = marker.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def zoom_in_to_a_household(page: Page) -> Locator:
    """Click groups of households until single ones are drawn; return one to click."""
    for _ in range(6):
        household = uncovered(page.locator(MARKERS))
        if household is not None:
            return household
        with page.expect_response(lambda response: "households.geojson" in response.url):
            click(page, uncovered(page.locator(GROUPS)))
        expect(page.locator("#welfare-map")).to_have_attribute("data-state", "ready")
    raise AssertionError("no single household after zooming in six times")


def test_a_lead_filters_the_map_opens_a_household_then_its_case_file_and_a_manager_sees_counts(
    transactional_db, live_server, settings, page: Page, screenshots_dir: Path,
    _fast_flush_of_the_demo: None,
) -> None:
    settings.MAP_TILES_URL = ""  # no tile server here: commune outlines and points only
    call_command("seed", households=5000, seed=42, stdout=StringIO(), stderr=StringIO())
    # An earlier transactional test's flush took the rules the migration creates with it.
    import_module("entraide.territory.migrations.0002_default_rules").create(apps, None)
    crisis.refresh()
    communes.derive()
    base = live_server.url
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    page.set_viewport_size({"width": 1280, "height": 800})

    log_in(page, base, "lead")
    page.locator("nav a", has_text="Map").click()
    expect(page).to_have_url(base + "/map/")
    canvas = page.locator("#welfare-map")
    expect(canvas).to_have_attribute("data-state", "ready")
    expect(page.locator(".map-commune-name").first).to_be_attached()
    households = int(canvas.get_attribute("data-total") or 0)
    assert households > 100
    expect(page.locator(f"{MARKERS}, {GROUPS}")).not_to_have_count(0)
    expect(page.locator("#map-status")).to_contain_text(f"{households:,}")

    page.check('#map-filters input[name=level][value="3"]')
    expect(canvas).not_to_have_attribute("data-total", str(households))
    expect(canvas).to_have_attribute("data-state", "ready")
    difficulties = int(canvas.get_attribute("data-total") or 0)
    assert 0 < difficulties < households
    expect(page.locator(f"{MARKERS}:not(.map-level-3)")).to_have_count(0)
    groups = page.locator(GROUPS).evaluate_all("(gs) => gs.map((g) => g.ariaLabel)")
    assert not [g for g in groups if re.search("Stable|To watch|Crisis", g)], groups
    expect(page).to_have_url(re.compile(r"/map/\?level=3$"))

    marker = zoom_in_to_a_household(page)
    label = marker.get_attribute("aria-label") or ""
    assert label.startswith("3 Difficulty: ")
    click(page, marker)
    summary = page.locator("#map-panel .map-summary")
    expect(summary).to_be_visible()
    expect(summary.locator(".map-summary-level")).to_contain_text("Difficulty")
    expect(summary.locator(".map-reasons li").first).to_have_text(
        label.split(": ", 1)[1].split("; ")[0])
    expect(page.locator(f"{MARKERS}.selected")).to_have_count(1)
    household = summary.get_attribute("data-household-id")
    page.screenshot(path=str(screenshots_dir / "map_filtered.png"))

    # The service directory's layer: a failure leaves the map as it was, with a word.
    near = Household.objects.get(pk=household)
    for name, north, east in (("Épicerie solidaire", 0.0012, 0.0018),
                              ("Point conseil budget", -0.0015, -0.001)):
        Service.objects.create(organisation=Organisation.objects.get(), name=name,
                               category="association", commune=near.commune,
                               latitude=near.latitude + north, longitude=near.longitude + east,
                               opening_hours="Mardi 9 h – 12 h", phone="05 53 00 00 00")
    services = page.locator("#map-services")
    page.route("**/services/layer.geojson*", lambda route: route.fulfill(status=404))
    services.click()  # not check(): the page may untick it before check() looks
    expect(page.locator("#map-services-note")).to_have_text(
        "The service directory could not be loaded.")
    expect(services).not_to_be_checked()
    expect(page.locator(MARKERS).first).to_be_visible()
    page.unroute("**/services/layer.geojson*")
    services.check()
    expect(page.locator("#welfare-map .map-service")).to_have_count(2)
    expect(page.locator("#map-services-note")).to_have_text("")
    expect(page).to_have_url(re.compile(r"/map/\?level=3&services=1$"))

    crises_here = canvas.get_attribute("data-total")
    with page.expect_response(lambda response: "households.geojson" in response.url):
        page.uncheck('#map-filters input[name=level][value="3"]')
    expect(canvas).to_have_attribute("data-state", "ready")
    expect(canvas).not_to_have_attribute("data-total", str(crises_here))
    selected = page.locator(f"{MARKERS}.selected").bounding_box()
    assert selected is not None
    page.mouse.move(selected["x"] + 12, selected["y"] + 12)
    with page.expect_response(lambda response: "households.geojson" in response.url):
        page.mouse.wheel(0, -150)  # closer, around the household shown in the panel
    expect(canvas).to_have_attribute("data-state", "ready")
    page.mouse.move(640, 120)  # away from the map: no tooltip over the picture
    page.screenshot(path=str(screenshots_dir / "map.png"))

    summary.get_by_role("link", name="Open the case file").click()
    expect(page).to_have_url(f"{base}/households/{household}/")
    expect(page.locator("#timeline")).to_be_visible()

    page.set_viewport_size({"width": 375, "height": 740})  # a cheap phone: filters folded
    page.goto(base + "/map/")
    expect(canvas).to_have_attribute("data-state", "ready")
    expect(page.locator("#map-filters-box")).not_to_have_attribute("open", "")
    page.screenshot(path=str(screenshots_dir / "map_phone.png"), full_page=True)
    click(page, zoom_in_to_a_household(page))
    expect(summary).to_be_in_viewport()
    page.screenshot(path=str(screenshots_dir / "map_phone_household.png"))
    page.set_viewport_size({"width": 1280, "height": 800})

    page.context.clear_cookies()
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    log_in(page, base, "manager")
    page.goto(base + "/map/")
    expect(canvas).to_have_attribute("data-state", "ready")
    expect(page.locator("#welfare-map .map-cell")).not_to_have_count(0)
    expect(page.locator(MARKERS)).to_have_count(0)
    click(page, uncovered(page.locator("#welfare-map .map-cell")))
    expect(page.locator("#map-panel .map-tip-levels li")).to_have_count(4)
    page.screenshot(path=str(screenshots_dir / "map_manager.png"))
