"""The case file as an agent uses it: log in, open a household, write a note, find it again."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "entraide-demo"


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_password) button[type=submit]").click()


def test_worker_logs_in_opens_household_adds_note_and_finds_it_by_search(
    transactional_db, live_server, world, page: Page, screenshots_dir: Path
) -> None:
    base = live_server.url
    household_path = f"/households/{world.file_a.household_id}/"

    log_in(page, base, "worker")
    expect(page).to_have_url(base + "/caseload/")

    page.locator(f'table a[href="{household_path}"]').click()
    expect(page).to_have_url(base + household_path)

    token = f"ZX{secrets.randbelow(10**6):06d}"
    sentence = f"Visite: la locataire évoque des impayés d'électricité — repère {token}"
    page.select_option("#id_kind", "home_visit")
    page.fill("#id_body", sentence)
    page.locator("form:has(#id_body) button[type=submit]").click()
    expect(page).to_have_url(base + household_path)
    expect(page.locator("#timeline")).to_contain_text(sentence)
    page.screenshot(path=str(screenshots_dir / "household.png"), full_page=True)

    page.goto(base + "/search/")
    # No accents, and singular where the note has a plural: "impayés" -> "impaye".
    page.fill("#id_q", f"impaye {token}")
    page.locator("form[role=search] button[type=submit]").click()
    expect(page.locator("#results")).to_contain_text(sentence)
    expect(page).to_have_url(re.compile(r"/search/\?q=impaye"))
    page.screenshot(path=str(screenshots_dir / "search_results.png"), full_page=True)


def test_worker_of_another_territory_typing_the_household_url_is_refused(
    transactional_db, live_server, world, page: Page, screenshots_dir: Path
) -> None:
    base = live_server.url
    log_in(page, base, "worker.b")
    expect(page).to_have_url(base + "/caseload/")

    response = page.goto(base + f"/households/{world.file_a.household_id}/")

    assert response is not None
    assert response.status == 403
    expect(page.locator("body")).not_to_contain_text("Lefèvre")
    page.screenshot(path=str(screenshots_dir / "access_refused.png"), full_page=True)
