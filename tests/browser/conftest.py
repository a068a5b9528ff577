"""Headless Chromium through Playwright's sync API, against pytest-django's live server.

Playwright's sync API keeps an asyncio event loop running in the test thread, and Django
then refuses synchronous ORM calls from that thread (SynchronousOnlyOperation), including
pytest-django's own flush of the database after each transactional test. The documented
workaround is DJANGO_ALLOW_ASYNC_UNSAFE; it is set only while the browser tests of a module
run, so the rest of the suite keeps Django's safety check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "browser"


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_beside_playwright_loop() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_allow_orm_beside_playwright_loop: None) -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        # `make test` installs it; in CI a missing browser is a failure, not a skip.
        message = f"no Chromium at {CHROMIUM}: run `make chromium` (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, in French like the agents' browsers."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(autouse=True)
def _empty_audit_trail_after_transactional_test(request, django_db_blocker):
    """pytest-django empties SQLite with DELETE after a transactional test, which the audit
    trail's insert-only triggers refuse: empty it past them first, as only a test may."""
    from django.db import connection

    yield
    if connection.vendor != "sqlite" or "transactional_db" not in request.fixturenames:
        return
    triggers = {"secrecy_auditrecord_no_update": "BEFORE UPDATE",
                "secrecy_auditrecord_no_delete": "BEFORE DELETE"}
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for name in triggers:
            cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute("DELETE FROM secrecy_auditrecord")
        for name, when in triggers.items():
            cursor.execute(f"CREATE TRIGGER {name} {when} ON secrecy_auditrecord BEGIN "
                           "SELECT RAISE(ABORT, 'the audit trail is insert-only'); END")
