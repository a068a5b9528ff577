"""The interface is French first: every string has a French translation, compiled."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

LOCALE = Path(__file__).resolve().parents[1] / "src" / "entraide" / "locale"


def _translations(block: str) -> list[str]:
    """The msgstr texts of one .po entry (one, or one per plural form)."""
    texts: list[str] = []
    for line in block.splitlines():
        if line.startswith("msgstr"):
            texts.append(line.split(" ", 1)[1].strip('"'))
        elif line.startswith('"') and texts:
            texts[-1] += line.strip('"')
    return texts


@pytest.mark.parametrize("language", ["fr", "ko"])
def test_catalogue_has_no_untranslated_or_fuzzy_entry(language: str) -> None:
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    entries = po.read_text().split("\n\n")[1:]  # the first block is the header
    fuzzy = [e for e in entries if "#, fuzzy" in e]
    empty = [e for e in entries if not all(_translations(e))]
    assert entries and not fuzzy and not empty, (fuzzy[:3], empty[:3])
    mo = po.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime - 5


@pytest.mark.django_db
def test_pages_speak_french_by_default_english_and_korean_on_request(world) -> None:
    assert "Se connecter" in Client().get("/login/").content.decode()
    client = world.client("worker")
    assert "Mes dossiers" in client.get("/caseload/").content.decode()
    client.post("/i18n/setlang/", {"language": "en"})
    assert "My caseload" in client.get("/caseload/").content.decode()
    client.post("/i18n/setlang/", {"language": "ko"})
    assert "나의 담당 사례" in client.get("/caseload/").content.decode()
