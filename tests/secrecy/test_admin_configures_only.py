"""Administrators configure, they do not read: the admin shows no personal data."""

from __future__ import annotations

import pytest
from django.contrib import admin

from entraide.cases import services

# What the admin may configure; telecare's installations appear without who lives there
# (tests/telecare/test_admin.py).
CONFIGURATION = {"org.organisation", "org.territory", "org.team", "org.user", "auth.group",
                 "telecare.installation", "telecare.notificationchannel", "screening.source",
                 "territory.office"}


def test_only_configuration_models_are_registered_in_the_admin() -> None:
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert registered <= CONFIGURATION, registered - CONFIGURATION


@pytest.mark.django_db
def test_admin_pages_show_no_note_and_no_household(world) -> None:
    services.add_note(world.actor("worker"), world.file_a.pk, "interview", "Dettes de jeu")
    client = world.client("admin")
    for url in ["/admin/", "/admin/org/user/", f"/admin/org/user/{world.users['worker'].pk}/"]:
        page = client.get(url).content.decode()
        assert "Dettes" not in page and "Lefèvre" not in page, url
    assert client.get("/admin/cases/note/").status_code == 404
    assert client.get("/admin/people/person/").status_code == 404
