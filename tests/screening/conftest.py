"""Screening tests keep their feeds and models in a folder of their own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def screening_dir(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder = tmp_path / "screening"
    settings.ENTRAIDE_SCREENING_DIR = folder  # type: ignore[attr-defined]
    return folder
