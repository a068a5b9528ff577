"""The admin configures homes' rules and devices without showing who lives there."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_the_admin_edits_thresholds_and_devices_but_never_shows_the_resident(
        world: Any, home: Any) -> None:
    client = world.client("admin")
    page = client.get(f"/admin/telecare/installation/{home.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "inactivity_floor_minutes" in html and "salon_mouvement" in html
    assert "Lefèvre" not in html and "Claire" not in html and "0601020304" not in html
    assert client.get("/admin/telecare/installation/add/").status_code == 403
