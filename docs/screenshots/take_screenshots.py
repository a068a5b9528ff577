"""Refresh the README's screenshots from a running demo (`make demo`), in headless Chromium.

    .venv/bin/python docs/screenshots/take_screenshots.py [http://127.0.0.1:8000]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from playwright.sync_api import Browser, FloatRect, Locator, Page, sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parent
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run"]


def login(page: Page, username: str) -> None:
    page.goto(f"{BASE}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "entraide-demo")
    page.click("main button[type=submit]")


def main() -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        viewport = {"width": 1280, "height": 1000}
        worker = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
        login(worker, "worker")
        worker.click("table a")
        worker.screenshot(path=OUT / "household.png", full_page=False)
        household_url = worker.url

        desk = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
        login(desk, "reception")
        name = worker.locator("h1").inner_text().split("·")[0].split("dossier")[0].strip()
        last, first = name.split()[-1], " ".join(name.split()[:-1])
        desk.goto(f"{BASE}/reception/?q={last.upper()}+{first}")
        desk.screenshot(path=OUT / "reception.png", full_page=False)

        worker.goto(household_url)
        plan_link = worker.locator("a[href*='/plan/']").first.get_attribute("href")
        worker.goto(BASE + plan_link)
        action_link = worker.locator("a[href*='/actions/']").first.get_attribute("href")
        lead = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
        login(lead, "lead")
        for page in (worker, lead):
            page.goto(BASE + action_link)
        lead.fill("#id_title", "Relancer le bailleur avant le 15")
        lead.click("main button[type=submit]")
        worker.fill("#id_title", "Dossier déposé au FSL")
        worker.click("main button[type=submit]")
        worker.screenshot(path=OUT / "stale.png", full_page=False)

        dpo = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
        login(dpo, "dpo")
        household = re.search(r"/households/(\d+)/", household_url)
        dpo.goto(f"{BASE}/audit/?household_id={household.group(1) if household else ''}")
        dpo.screenshot(path=OUT / "audit.png", full_page=False)

        operator = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
        login(operator, "operator")
        operator.locator("#alert-list [data-alert-id] a.open").first.click()
        operator.wait_for_selector("#alert-detail [data-alert-id]")
        operator.screenshot(path=OUT / "telecare-console.png", full_page=False)
        operator.locator("#alert-detail a[href*='/telecare/installations/']").first.click()
        operator.wait_for_selector("svg")
        operator.screenshot(path=OUT / "telecare-home.png", full_page=False)

        worker.goto(f"{BASE}/screening/")
        worker.screenshot(path=OUT / "screening-leads.png", full_page=False)
        worker.locator("table a").first.click()
        worker.screenshot(path=OUT / "screening-lead.png", full_page=False)
        welfare_map(browser, household_url)
        browser.close()


def on_map(page: Page, selector: str) -> list[tuple[Locator, FloatRect]]:
    """Markers in the open part of the map (not under its controls or legend)."""
    found = []
    items = page.locator(selector)
    for index in range(items.count()):
        box = items.nth(index).bounding_box()
        if box and 300 < box["x"] < 900 and 240 < box["y"] < 740:
            found.append((items.nth(index), box))
    return found


def click_centre(page: Page, box: FloatRect) -> None:
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def welfare_map(browser: Browser, household_url: str) -> None:
    """The map as a team lead and as a manager, a day of visits planned, the directory."""
    viewport = {"width": 1280, "height": 900}
    lead = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
    login(lead, "lead")
    lead.goto(f"{BASE}/map/")
    lead.wait_for_selector("#welfare-map[data-state=ready]")
    for _ in range(2):  # into the largest group twice: the main town, household by household
        groups = on_map(lead, "#welfare-map .map-cluster")
        if not groups:
            break
        click_centre(lead, max(groups, key=lambda g: int(g[0].inner_text() or 0))[1])
        lead.wait_for_timeout(1200)
        lead.wait_for_selector("#welfare-map[data-state=ready]")
    households = on_map(lead, "#welfare-map .map-hh")
    if households:
        click_centre(lead, households[len(households) // 2][1])
        lead.wait_for_selector("#map-panel .map-summary")
    lead.screenshot(path=OUT / "map.png", full_page=False)

    manager = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
    login(manager, "manager")
    manager.goto(f"{BASE}/map/")
    manager.wait_for_selector("#welfare-map[data-state=ready]")
    manager.screenshot(path=OUT / "map-manager.png", full_page=False)

    worker = browser.new_context(locale="fr-FR", viewport=viewport).new_page()
    login(worker, "worker")
    worker.goto(f"{BASE}/visits/")
    boxes = worker.locator("input[name=household]")
    for index in range(min(8, boxes.count())):
        boxes.nth(index).check()
    worker.locator("main form button[type=submit]").first.click()
    if worker.locator(".left-out").count():  # plan the day without what cannot fit
        worker.locator("main form button[type=submit]").first.click()
    worker.wait_for_selector(".leaflet-container")
    worker.wait_for_timeout(500)
    worker.screenshot(path=OUT / "visits-plan.png", full_page=False)

    worker.goto(household_url)
    link = worker.locator("a[href*='/services/?case_file=']").first.get_attribute("href")
    worker.goto(BASE + (link or "/services/"))
    worker.screenshot(path=OUT / "directory.png", full_page=False)


if __name__ == "__main__":
    main()
