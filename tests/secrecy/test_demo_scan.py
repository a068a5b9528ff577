"""After the demo's seed, no text describing a family's situation is readable in the raw
database: not in the SQLite file, not in a PostgreSQL dump. What stays clear (names, addresses,
configuration) is listed in docs/security.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from entraide.people import demo_names

from .rawscan import entraide, pg_dump, postgres_answers, postgres_database, sqlite_bytes


def _situation_texts() -> set[str]:
    """The demo's free texts about households: goals, actions, reasons, pieces of notes."""
    texts = {t for titles in demo_names.GOAL_TITLES.values() for t in titles}
    texts |= set(demo_names.ACTION_TITLES) | set(demo_names.RECEPTION_REASONS)
    for phrases in demo_names.NOTE_PHRASES.values():
        for phrase in phrases:
            texts |= {piece.strip() for piece in re.split(r"\{\w+\}", phrase)
                      if len(piece.strip()) > 15}
    return texts


def _seed(data_dir: Path, database_url: str | None = None) -> None:
    """The demo's seeding steps, as `make demo` runs them (a smaller département)."""
    entraide(data_dir, database_url, "migrate", "--no-input", "-v", "0")
    entraide(data_dir, database_url, "seed", "--households", "150", "--seed", "7")
    entraide(data_dir, database_url, "territory", "demo")


def _assert_no_situation_text(raw: bytes) -> None:
    found = sorted(t for t in _situation_texts() if t.encode() in raw)
    assert not found, f"stored in clear: {found[:10]}"
    # The scan reads real data: configuration and names the demo writes are there in clear.
    assert b"Territoire" in raw and b"Secours populaire" in raw


def test_the_demo_database_file_holds_no_situation_text(tmp_path: Path) -> None:
    _seed(tmp_path)
    _assert_no_situation_text(sqlite_bytes(tmp_path))


@pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer")
def test_a_dump_of_the_demo_database_holds_no_situation_text(tmp_path: Path) -> None:
    with postgres_database() as url:
        _seed(tmp_path, url)
        dump = pg_dump(url)
    _assert_no_situation_text(dump)
