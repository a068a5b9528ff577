"""Equipping a home with telecare, and keeping its devices and contacts up to date, on the web."""

from __future__ import annotations

from typing import Any

from entraide.secrecy.models import AuditRecord
from entraide.telecare.models import Contact, Device, Installation

ENGLISH = {"Accept-Language": "en"}


def formset(prefix: str, rows: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    """The POST fields of a formset: its management form and each row's fields."""
    data: dict[str, Any] = {f"{prefix}-TOTAL_FORMS": len(rows),
                            f"{prefix}-INITIAL_FORMS": initial}
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{name}": value for name, value in row.items()})
    return data


def existing(home: Installation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A home's devices and contacts as the edit page sends them back unchanged."""
    devices = [{"id": d.pk, "code": d.code, "kind": d.kind, "friendly_name": d.friendly_name or ""}
               for d in home.devices.order_by("pk")]
    contacts = [{"id": c.pk, "position": c.position, "name": c.name, "relation": c.relation,
                 "phone": c.phone, "notify_url": c.notify_url} for c in home.contacts.all()]
    return devices, contacts


def equip_data(world: Any, devices: list[dict[str, Any]], contacts: list[dict[str, Any]],
               code: str = "") -> dict[str, Any]:
    return {"resident": world.person_a.pk, "code": code, **formset("devices", devices),
            **formset("contacts", contacts)}


DEVICES = [{"code": "motion", "kind": "motion", "friendly_name": "lefevre_salon"},
           {"code": "door", "kind": "door", "friendly_name": ""},
           {"code": "panic", "kind": "panic", "friendly_name": "lefevre_pendentif"}]
CONTACTS = [{"position": 2, "name": "M. Petit", "relation": "neighbour", "phone": "06 05 06 07 08",
             "notify_url": ""},
            {"position": 1, "name": "Claire Lefèvre", "relation": "family",
             "phone": "0601020304", "notify_url": "mailto://claire@example.org"}]


def test_a_worker_of_the_household_equips_a_home_with_devices_and_contacts_in_order(world
                                                                                    ) -> None:
    client = world.client("worker")
    household_page = client.get(f"/households/{world.household_a.pk}/").content.decode()
    url = f"/telecare/installations/new/?household={world.household_a.pk}"
    assert url in household_page.replace("&amp;", "&")
    form = client.get(url, headers=ENGLISH)
    assert form.status_code == 200
    assert "entraide/&lt;home code&gt;/&lt;device code&gt;" in form.content.decode()

    response = client.post(url, equip_data(world, DEVICES, CONTACTS, code="lefevre"))

    home = Installation.objects.get(household=world.household_a)
    assert response.status_code == 302
    assert response["Location"] == f"/telecare/installations/{home.pk}/"
    assert (home.code, home.resident, home.territory, home.active) == (
        "lefevre", world.person_a, world.territory_a, True)
    assert sorted(home.devices.values_list("code", "kind", "friendly_name")) == [
        ("door", "door", None), ("motion", "motion", "lefevre_salon"),
        ("panic", "panic", "lefevre_pendentif")]
    assert list(home.contacts.values_list("position", "name", "notify_url")) == [
        (1, "Claire Lefèvre", "mailto://claire@example.org"), (2, "M. Petit", "")]
    created = AuditRecord.objects.get(action="create", object_type="telecare_installation")
    assert (created.object_id, created.household_id, created.username) == (
        home.pk, world.household_a.pk, "worker")
    assert AuditRecord.objects.filter(action="read", object_type="household",
                                      household_id=world.household_a.pk).exists()


def test_a_home_code_left_empty_is_made_up(world) -> None:
    response = world.client("operator").post(
        f"/telecare/installations/new/?household={world.household_a.pk}",
        equip_data(world, DEVICES[:1], CONTACTS[:1]))

    home = Installation.objects.get(household=world.household_a)
    assert response.status_code == 302 and len(home.code) == 12


def test_a_zigbee_name_another_home_uses_is_a_form_error_and_nothing_is_created(world, home
                                                                                ) -> None:
    devices_before = Device.objects.count()
    taken = [{"code": "motion", "kind": "motion", "friendly_name": "salon_mouvement"}]

    response = world.client("worker.b").post(
        f"/telecare/installations/new/?household={world.household_b.pk}",
        {**equip_data(world, taken, CONTACTS), "resident": world.person_b.pk}, headers=ENGLISH)

    assert response.status_code == 400
    assert "Another device already has this Zigbee2MQTT name" in response.content.decode()
    assert not Installation.objects.filter(household=world.household_b).exists()
    assert Device.objects.count() == devices_before


def test_the_same_zigbee_name_twice_in_one_home_is_a_form_error(world) -> None:
    twice = [DEVICES[0], {**DEVICES[2], "friendly_name": DEVICES[0]["friendly_name"]}]

    response = world.client("worker").post(
        f"/telecare/installations/new/?household={world.household_a.pk}",
        equip_data(world, twice, CONTACTS), headers=ENGLISH)

    assert response.status_code == 400
    assert "Two devices of this home have this Zigbee2MQTT name." in response.content.decode()
    assert not Installation.objects.exists()


def test_a_contact_without_phone_or_notification_address_is_refused(world) -> None:
    unreachable = [{"name": "Mme Roux", "relation": "neighbour", "phone": "", "notify_url": ""}]

    response = world.client("worker").post(
        f"/telecare/installations/new/?household={world.household_a.pk}",
        equip_data(world, DEVICES, unreachable), headers=ENGLISH)

    assert response.status_code == 400 and "a contact must be reachable" in (
        response.content.decode())
    assert not Installation.objects.exists()


def test_asking_for_another_row_shows_one_more_and_saves_nothing(world) -> None:
    data = {**equip_data(world, DEVICES[:1], CONTACTS), "add": "devices"}

    response = world.client("worker").post(
        f"/telecare/installations/new/?household={world.household_a.pk}", data)

    page = response.content.decode()
    assert response.status_code == 200 and not Installation.objects.exists()
    assert 'name="devices-TOTAL_FORMS" value="2"' in page and 'name="devices-1-code"' in page
    assert 'value="lefevre_salon"' in page


def test_editing_reorders_and_removes_contacts_and_adds_a_device(world, home) -> None:
    devices, contacts = existing(home)
    claire, petit, urgences = contacts
    client = world.client("worker")
    assert client.get(f"/telecare/installations/{home.pk}/edit/").status_code == 200
    data = {"active": "on",
            **formset("devices", [*devices, {"code": "bathroom", "kind": "motion",
                                             "friendly_name": "salle_de_bain"}],
                      initial=len(devices)),
            **formset("contacts", [{**claire, "position": 2}, {**petit, "DELETE": "on"},
                                   {**urgences, "position": 1}], initial=3)}

    response = client.post(f"/telecare/installations/{home.pk}/edit/", data)

    assert response.status_code == 302
    assert response["Location"] == f"/telecare/installations/{home.pk}/"
    assert list(home.contacts.values_list("position", "name")) == [
        (1, "Urgences"), (2, "Claire Lefèvre")]
    assert home.devices.count() == len(devices) + 1
    added = home.devices.get(code="bathroom")
    assert (added.kind, added.friendly_name, added.label) == ("motion", "salle_de_bain",
                                                              "bathroom")
    updated = AuditRecord.objects.get(action="update", object_type="telecare_installation")
    assert (updated.object_id, updated.household_id) == (home.pk, home.household_id)
    assert updated.detail == "devices +1 ~0 -0; contacts +0 ~2 -1; active"


def test_editing_changes_and_removes_devices_and_can_stop_the_home(world, home) -> None:
    devices, contacts = existing(home)
    motion, door, *others = devices
    data = {**formset("devices", [{**motion, "friendly_name": "salon_pir"},
                                  {**door, "DELETE": "on"}, *others], initial=len(devices)),
            **formset("contacts", contacts, initial=len(contacts))}

    response = world.client("operator").post(f"/telecare/installations/{home.pk}/edit/", data)

    home.refresh_from_db()
    assert response.status_code == 302 and not home.active
    assert not home.devices.filter(code="door").exists()
    assert home.devices.get(code="motion").friendly_name == "salon_pir"
    assert home.contacts.count() == 3


def test_two_devices_of_a_home_may_swap_their_zigbee_names(world, home) -> None:
    devices, contacts = existing(home)
    motion, door, *others = devices
    swapped = [{**motion, "friendly_name": door["friendly_name"]},
               {**door, "friendly_name": motion["friendly_name"]}, *others]

    response = world.client("worker").post(
        f"/telecare/installations/{home.pk}/edit/",
        {"active": "on", **formset("devices", swapped, initial=len(devices)),
         **formset("contacts", contacts, initial=len(contacts))})

    assert response.status_code == 302
    assert home.devices.get(code="motion").friendly_name == "porte_entree"
    assert home.devices.get(code="door").friendly_name == "salon_mouvement"


def test_a_device_of_another_home_cannot_be_slipped_into_the_form(world, home) -> None:
    other = Installation.objects.create(code="autre", household=world.household_b,
                                        resident=world.person_b, territory=world.territory_b,
                                        installed_at=home.installed_at)
    stranger = Device.objects.create(installation=other, code="smoke", kind="smoke")
    devices, contacts = existing(home)
    forged = [*devices, {"id": stranger.pk, "code": "smoke2", "kind": "smoke"}]

    response = world.client("operator").post(
        f"/telecare/installations/{home.pk}/edit/",
        {"active": "on", **formset("devices", forged, initial=len(forged)),
         **formset("contacts", contacts, initial=len(contacts))}, headers=ENGLISH)

    assert response.status_code == 400
    assert "A device listed is no longer in this home" in response.content.decode()
    stranger.refresh_from_db()
    assert (stranger.installation, stranger.code) == (other, "smoke")


def test_a_user_of_another_territory_gets_403_on_both_pages_and_it_is_audited(world, home
                                                                              ) -> None:
    client = world.client("worker.b")
    devices, contacts = existing(home)

    equip = client.get(f"/telecare/installations/new/?household={world.household_a.pk}")
    edit = client.get(f"/telecare/installations/{home.pk}/edit/")
    post = client.post(f"/telecare/installations/{home.pk}/edit/",
                       {**formset("devices", []), **formset("contacts", [])})

    assert (equip.status_code, edit.status_code, post.status_code) == (403, 403, 403)
    assert home.devices.count() == len(devices) and home.contacts.count() == len(contacts)
    assert AuditRecord.objects.filter(action="denied", username="worker.b",
                                      household_id=world.household_a.pk).count() == 3


def test_a_worker_who_does_not_follow_the_household_sees_the_home_but_may_not_change_it(
        world, home) -> None:
    client = world.client("worker.a2")  # same territory, another team

    page = client.get(f"/telecare/installations/{home.pk}/")

    assert page.status_code == 200
    assert f"/telecare/installations/{home.pk}/edit/" not in page.content.decode()
    assert client.get(f"/telecare/installations/{home.pk}/edit/").status_code == 403
    assert world.client("worker").get(f"/telecare/installations/{home.pk}/").content.decode(
    ).count(f"/telecare/installations/{home.pk}/edit/") == 1


def test_a_household_already_equipped_is_refused_with_a_link_to_its_installation(world, home
                                                                                 ) -> None:
    client = world.client("worker")
    url = f"/telecare/installations/new/?household={world.household_a.pk}"

    shown = client.get(url, headers=ENGLISH)
    posted = client.post(url, equip_data(world, DEVICES, CONTACTS), headers=ENGLISH)

    for response in (shown, posted):
        page = response.content.decode()
        assert response.status_code == 409
        assert "This home is already equipped" in page
        assert f'href="/telecare/installations/{home.pk}/"' in page
    assert Installation.objects.filter(household=world.household_a).count() == 1
    assert Contact.objects.count() == 3


def test_a_household_whose_installation_was_stopped_may_be_equipped_again(world, home
                                                                          ) -> None:
    Installation.objects.filter(pk=home.pk).update(active=False)

    response = world.client("worker").post(
        f"/telecare/installations/new/?household={world.household_a.pk}",
        equip_data(world, [{"code": "motion", "kind": "motion"}], CONTACTS))

    assert response.status_code == 302
    assert world.household_a.telecare_installations.filter(active=True).count() == 1
