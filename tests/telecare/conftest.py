"""A home in territory A with one device of each kind and three contacts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from entraide.telecare import notify, services
from entraide.telecare.models import Installation

from .brokers import bridges, broker_url, embedded_broker  # noqa: F401  (fixtures)

DEVICES = [("motion", "motion", "salon_mouvement"), ("door", "door", "porte_entree"),
           ("climate", "climate", "salon_temperature"), ("smoke", "smoke", "cuisine_fumee"),
           ("gas", "gas", None), ("water", "water", None), ("panic", "panic", "pendentif")]
CONTACTS = [("Claire Lefèvre", "family", "0601020304", "capture://claire@family"),
            ("M. Petit", "neighbour", "0605060708", "capture://petit@neighbour"),
            ("Urgences", "emergency", "15", "")]


def make_home(world: Any, code: str = "maison-a", **thresholds: Any) -> Installation:
    """A home; Zigbee2MQTT names are unique, so those of other homes than the first are
    prefixed with their code."""
    devices = [(c, kind, name if name is None or code == "maison-a" else f"{code}_{name}")
               for c, kind, name in DEVICES]
    return services.create_installation(world.household_a, world.person_a, code=code,
                                        devices=devices, contacts=CONTACTS, **thresholds)


@pytest.fixture
def home(world: Any) -> Installation:
    return make_home(world)


@pytest.fixture(autouse=True)
def in_english() -> Iterator[None]:
    """Alert reasons are written in the active language; these tests read them in English."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def captured() -> list[dict[str, str]]:
    """Messages sent to capture:// Apprise URLs during the test."""
    notify.CAPTURED.clear()
    yield notify.CAPTURED
    notify.CAPTURED.clear()
