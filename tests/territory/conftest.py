"""Fixtures shared by the territory tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def in_english(settings: Any) -> Iterator[None]:
    """Messages are checked in English, whatever the catalogues hold."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
