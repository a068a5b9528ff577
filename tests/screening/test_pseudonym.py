"""Link keys: both sides meet on the digest, and the raw value is nowhere in it."""

from __future__ import annotations

import string
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entraide.screening import feeds, pseudonym
from entraide.screening.models import KeyKind

DUCKDB = duckdb.connect()


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


# What addresses are written with here: French and Korean, digits and punctuation.
ADDRESS_LETTERS = (string.printable + "àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆß’«»–"
                   + "".join(chr(c) for c in range(0xAC00, 0xAC00 + 400)))


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.tuples(st.just(KeyKind.IDENTIFIER),
              st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)),
    st.tuples(st.just(KeyKind.ADDRESS), st.text(alphabet=ADDRESS_LETTERS, max_size=60)),
    st.tuples(st.sampled_from([KeyKind.IDENTIFIER, KeyKind.ADDRESS]),
              st.sampled_from(["12, Rue de l'Église 47000 AGEN", "Cœur Æther Straße 3",
                               "서울시 강남구 테헤란로 12", "2 84 05-75 116.003 42", "  ", ""]))))
def test_files_digested_in_sql_meet_the_households_digested_in_python(
        case: tuple[str, str]) -> None:
    kind, value = case
    got = DUCKDB.execute(f"SELECT {pseudonym.digest_sql(kind, '$v')}", {"v": value})
    assert got.fetchone() == (pseudonym.digest(kind, value),)


@pytest.mark.django_db
def test_purge_takes_old_months_and_the_features_kept_beside_old_runs() -> None:
    import datetime as dt

    import pyarrow as pa

    from entraide.screening import runs, services
    from entraide.screening.models import ScreeningRun, Source

    Source.objects.create(code="energie", name="Énergie", provider="EDF", key_kind="address",
                          key_column="adresse", legal_basis="Convention", retention_days=365)
    table = pa.table({"link": ["a"], "indicator": ["x"], "value": [1.0]})
    for period in ("2025-09", "2026-10"):
        feeds.write("energie", period, table)
    old, recent = ScreeningRun.objects.create(), ScreeningRun.objects.create()
    ScreeningRun.objects.filter(pk=old.pk).update(
        started_at=dt.datetime(2025, 10, 1, tzinfo=dt.UTC))
    for run in (old, recent):
        runs.lead_features_path(run.pk).parent.mkdir(parents=True)
        runs.lead_features_path(run.pk).write_bytes(b"features")
    gone = services.purge(today=dt.date(2026, 11, 30))
    assert gone == {"energie": ["2025-09"], "runs": [str(old.pk)]}
    assert runs.lead_features_path(recent.pk).exists()


@pytest.mark.django_db
def test_households_get_the_keys_of_their_address_and_members_identity_numbers(
        world: Any) -> None:
    from entraide.people import services as people
    from entraide.screening import services
    from entraide.screening.models import LinkKey
    from entraide.secrecy.models import AuditRecord
    from entraide.secrecy.rights import system_actor

    household = world.household_a
    person = world.person_a
    people.update_person(world.actor("worker"), person.pk, 1,
                         {"identity_number": "2 84 05 75 116 003 42"})
    services.refresh_link_keys(system_actor())
    keys = dict(LinkKey.objects.filter(household=household).values_list("kind", "digest"))
    assert keys[KeyKind.IDENTIFIER] == pseudonym.digest(KeyKind.IDENTIFIER, "284057511600342")
    assert keys[KeyKind.ADDRESS] == pseudonym.digest(KeyKind.ADDRESS, pseudonym.address_of(
        household.address, household.postcode, household.commune))
    assert AuditRecord.objects.filter(object_type="screening_link_keys").exists()

    household.address = "4 rue Neuve"
    household.save()
    assert services.refresh_link_keys(system_actor()) == {"added": 1, "removed": 1}
    assert LinkKey.objects.get(household=household, kind=KeyKind.ADDRESS).digest == (
        pseudonym.digest(KeyKind.ADDRESS, pseudonym.address_of(
            "4 rue Neuve", household.postcode, household.commune)))
    assert services.refresh_link_keys(system_actor()) == {"added": 0, "removed": 0}
