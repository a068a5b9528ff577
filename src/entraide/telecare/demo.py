"""Demo telecare homes: sensors in the homes of the demo département's elderly people."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from entraide.people import demo_names
from entraide.people.models import Household, Person

from . import services
from .models import ContactRelation, Device, DeviceKind, Installation

CODE_PREFIX = "demo-"
ELDERLY_BORN_BEFORE = dt.date(1955, 1, 1)
# Where each sensor sits, for the Zigbee2MQTT friendly names ("demo-0007_salon_mouvement").
PLACES = {DeviceKind.MOTION: "salon_mouvement", DeviceKind.DOOR: "entree_porte",
          DeviceKind.CLIMATE: "salon_climat", DeviceKind.SMOKE: "cuisine_fumee",
          DeviceKind.GAS: "cuisine_gaz", DeviceKind.WATER: "sdb_fuite",
          DeviceKind.PANIC: "pendentif_sos"}


def seed_homes(n: int, rng: random.Random) -> list[Installation]:
    """Equip `n` demo homes (elderly people living alone first) with the seven sensors and
    two or three contacts; homes equipped earlier are kept, only the missing ones are made.

    No contact has a notification address: the demo tells them nothing, it shows whom
    to call."""
    existing = Installation.objects.filter(code__startswith=CODE_PREFIX)
    kept = list(existing.order_by("code")[:n])
    if len(kept) < n:
        taken = set(existing.values_list("code", flat=True))
        codes = (code for code in (f"{CODE_PREFIX}{i:04d}" for i in range(1, 10_000))
                 if code not in taken)
        with transaction.atomic():
            made = [_equip(resident, code, rng) for resident, code in
                    zip(_residents(n - len(kept), rng), codes, strict=False)]
            checked(made, timezone.now())
        kept += made
    return kept


def checked(installations: list[Installation], now: dt.datetime) -> None:
    """Record that every sensor of these homes answered at `now`, as after a technician's
    visit: a bridge replaying their history meanwhile finds none of them stale, where a
    home half replayed would look still and silent for days."""
    ids = [installation.pk for installation in installations]
    Installation.objects.filter(pk__in=ids).update(last_motion_at=now, last_door_at=None,
                                                    climate_out_since=None)
    Device.objects.filter(installation__in=ids).update(last_seen_at=now)


def _residents(count: int, rng: random.Random) -> list[Person]:
    """People to equip, one per household without sensors yet: elderly people living
    alone when there are enough, then the oldest member of any other household."""
    free = Household.objects.filter(anonymised_at__isnull=True,
                                    telecare_installations__isnull=True)
    alone = free.annotate(size=Count("members")).filter(size=1)
    people = Person.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
    elderly = list(people.filter(household__in=alone.values("pk"),
                                 birth_date__lt=ELDERLY_BORN_BEFORE)
                   .order_by("pk"))
    chosen = rng.sample(elderly, min(count, len(elderly)))
    if len(chosen) < count:
        used = {person.household_id for person in chosen}
        oldest: dict[int, Person] = {}
        for person in people.filter(household__in=free).order_by("household_id",
                                                                 "birth_date", "pk"):
            if person.household_id is not None and person.household_id not in used:
                oldest.setdefault(person.household_id, person)
        others = list(oldest.values())
        chosen += rng.sample(others, min(count - len(chosen), len(others)))
    return chosen


def _equip(resident: Person, code: str, rng: random.Random) -> Installation:
    zigbee = rng.random() < 0.5
    devices = [(kind.value, kind.value, f"{code}_{place}" if zigbee else None)
               for kind, place in PLACES.items()]
    relative = rng.choice(demo_names.FIRST_NAMES_F + demo_names.FIRST_NAMES_M)
    contacts = [(f"{relative} {resident.last_name}", ContactRelation.FAMILY, _phone(rng), "")]
    if rng.random() < 0.7:
        neighbour = (f"{rng.choice(demo_names.FIRST_NAMES_F + demo_names.FIRST_NAMES_M)} "
                     f"{rng.choice(demo_names.LAST_NAMES)}")
        contacts.append((neighbour, ContactRelation.NEIGHBOUR, _phone(rng), ""))
    contacts.append(("SAMU", ContactRelation.EMERGENCY, "15", ""))
    assert resident.household is not None
    return services.create_installation(resident.household, resident, code=code,
                                        devices=devices, contacts=contacts)


def _phone(rng: random.Random) -> str:
    """A mobile number from the range France reserves for fiction (06 39 98 xx xx)."""
    return f"06 39 98 {rng.randrange(100):02d} {rng.randrange(100):02d}"
