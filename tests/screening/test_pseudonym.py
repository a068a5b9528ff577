"""Link keys: both sides meet on the digest, and the raw value is nowhere in it."""

from __future__ import annotations

from entraide.screening import feeds, pseudonym
from entraide.screening.models import KeyKind


def test_the_same_identifier_written_differently_gives_the_same_digest() -> None:
    a = pseudonym.digest(KeyKind.IDENTIFIER, "2 84 05 75 116 003 42")
    b = pseudonym.digest(KeyKind.IDENTIFIER, "284057511600342")
    assert a == b and len(a) == 64 and "284057511600342" not in a


def test_addresses_meet_whatever_their_accents_and_punctuation() -> None:
    a = pseudonym.digest(KeyKind.ADDRESS, pseudonym.address_of("12, Rue de l'Église",
                                                                "47000", "AGEN"))
    b = pseudonym.digest(KeyKind.ADDRESS, "12 rue de l eglise 47000 Agen")
    assert a == b


def test_an_identifier_and_an_address_of_the_same_text_do_not_meet() -> None:
    assert pseudonym.digest(KeyKind.IDENTIFIER, "12") != pseudonym.digest(KeyKind.ADDRESS, "12")
    assert pseudonym.digest(KeyKind.IDENTIFIER, " - ") == ""


def test_a_month_written_again_with_the_same_rows_is_unchanged() -> None:
    import pyarrow as pa

    table = pa.table({"link": ["b", "a"], "indicator": ["x", "y"], "value": [1.0, 2.0]})
    assert feeds.write("energie", "2026-10", table)
    assert not feeds.write("energie", "2026-10", table.take([1, 0]))
    assert feeds.periods("energie") == ["2026-10"]


def test_months_past_retention_are_purged() -> None:
    import datetime as dt

    import pyarrow as pa

    table = pa.table({"link": ["a"], "indicator": ["x"], "value": [1.0]})
    for period in ("2025-09", "2026-10"):
        feeds.write("energie", period, table)
    assert feeds.purge("energie", 365, today=dt.date(2026, 11, 30)) == ["2025-09"]
    assert feeds.periods("energie") == ["2026-10"]
