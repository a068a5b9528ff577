"""Importing a provider's file: every bad line is reported with its number and why, the good
ones reach the feed pseudonymised, and the same file twice changes nothing."""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import io
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entraide.screening import feeds, imports, pseudonym
from entraide.screening.models import (
    Import,
    Indicator,
    IndicatorKind,
    KeyKind,
    LinkKey,
    RejectedRow,
    Source,
)

from ..factories import HouseholdFactory

pytestmark = pytest.mark.django_db

KNOWN = "1 84 05 75 116 003 42"  # a member of a household the service knows
STRANGER = "2 91 12 47 001 002 17"  # nobody the service knows (yet)
HEADER = b"nir;mois;impayes;coupure;jours_retard;commentaire\n"
GOOD = [
    f"{KNOWN};2025-09;120,50;1;30;ok\n".encode(),
    f"{STRANGER};2025-09;0;0;;\n".encode(),
    f"{KNOWN};2025-10-15;80;0;10;\n".encode(),
]
BAD = [
    b"1 50 01 47 000 000 01;2025-09;beaucoup;0;0;\n",  # line 5
    f"{KNOWN};2025-09;99;1;1;\n".encode(),  # 6
    b"1 60 02 47 111 222 33;2025-09;10;1;2;caf\xe9 \xff\n",  # 7
    b"1 70 03 47 111 222 44;2025-09;10;1\n",  # 8
    b"1 80 04 47 111 222 55;2025-09;9999;0;0;\n",  # 9
    b"1 90 05 47 111 222 66;2025-13;5;0;0;\n",  # 10
    b";2025-09;5;0;0;\n",  # 11
    b"1 11 06 47 111 222 77;2025-09;5;2;0;\n",  # 12
    b"\n",  # 13: a blank line is no record
    b"2 22 07 47 111 222 88;2025-09;5;0;3,5;\n",  # 14
    b"--;2025-09;5;0;0;\n",  # 15
    b"2 33 08 47 111 222 99;2999-01;5;0;0;\n",  # 16
]
REJECTED = [
    (5, "impayes", "not a number"),
    (6, "", "duplicate of line 2"),
    (7, "", "the line is not UTF-8 text"),
    (8, "", "4 fields instead of 6"),
    (9, "impayes", "above the highest valid value (5000)"),
    (10, "mois", "not a month (YYYY-MM or YYYY-MM-DD)"),
    (11, "nir", "the key is empty"),
    (12, "coupure", "not 0 or 1"),
    (14, "jours_retard", "not a whole number"),
    (15, "nir", "nothing is left of the key once spaces and punctuation are removed"),
    (16, "mois", "a month still to come"),
]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def source() -> Source:
    energy = Source.objects.create(code="energie", name="Énergie", provider="Fournisseur",
                                   key_kind=KeyKind.IDENTIFIER, key_column="nir",
                                   period_column="mois", legal_basis="Convention")
    Indicator.objects.create(source=energy, code="impayes", label="Impayés",
                             kind=IndicatorKind.AMOUNT, maximum=5000)
    Indicator.objects.create(source=energy, code="coupure", label="Coupure",
                             kind=IndicatorKind.FLAG, maximum=1)
    Indicator.objects.create(source=energy, code="jours_retard", label="Jours de retard",
                             kind=IndicatorKind.DAYS, maximum=365)
    LinkKey.objects.create(household=HouseholdFactory(), kind=KeyKind.IDENTIFIER,
                           digest=pseudonym.digest(KeyKind.IDENTIFIER, KNOWN))
    return energy


def _file(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def _feed(source: str = "energie") -> dict[str, list[dict]]:
    return {month: pq.read_table(feeds.partition(source, month)).to_pylist()
            for month in feeds.periods(source)}


def _rejected(report: Import) -> list[tuple[int, str, str]]:
    return list(report.rejected.values_list("line", "column", "reason"))


def test_good_lines_are_kept_and_each_bad_one_is_reported_with_its_line_and_reason(
        source: Source, tmp_path: Path) -> None:
    path = _file(tmp_path, "factures.csv", codecs.BOM_UTF8 + HEADER + b"".join(GOOD + BAD))
    report = imports.import_file("energie", path)

    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (14, 3, 11)
    assert report.rows_unlinked == 1  # the stranger is kept, for when the link comes
    assert report.ignored_columns == ["commentaire"]
    assert _rejected(report) == REJECTED
    assert report.file_name == "factures.csv" and len(report.file_sha256) == 64
    known = pseudonym.digest(KeyKind.IDENTIFIER, KNOWN)
    stranger = pseudonym.digest(KeyKind.IDENTIFIER, STRANGER)
    assert _feed() == {
        "2025-09": sorted([
            {"link": known, "indicator": "coupure", "value": 1.0},
            {"link": known, "indicator": "impayes", "value": 120.5},
            {"link": known, "indicator": "jours_retard", "value": 30.0},
            {"link": stranger, "indicator": "coupure", "value": 0.0},
            {"link": stranger, "indicator": "impayes", "value": 0.0},
        ], key=lambda row: (row["link"], row["indicator"])),
        "2025-10": [
            {"link": known, "indicator": "coupure", "value": 0.0},
            {"link": known, "indicator": "impayes", "value": 80.0},
            {"link": known, "indicator": "jours_retard", "value": 10.0},
        ],
    }
    text = imports.describe(report)
    assert "Lines read: 14, kept: 3 (with no known household yet: 1), rejected: 11." in text
    assert "line 5, column 'impayes': not a number" in text
    assert "line 8: 4 fields instead of 6" in text


def test_the_same_file_twice_changes_nothing_and_reports_the_same(
        source: Source, tmp_path: Path) -> None:
    path = _file(tmp_path, "factures.csv", HEADER + b"".join(GOOD + BAD))
    first = imports.import_file("energie", path)
    months = {m: feeds.partition("energie", m).read_bytes() for m in feeds.periods("energie")}
    second = imports.import_file("energie", path)

    assert not first.unchanged and second.unchanged
    assert {m: feeds.partition("energie", m).read_bytes()
            for m in feeds.periods("energie")} == months
    assert _rejected(second) == _rejected(first) == REJECTED
    fields = ("rows_read", "rows_kept", "rows_rejected", "rows_unlinked", "file_sha256",
              "ignored_columns")
    assert [getattr(second, f) for f in fields] == [getattr(first, f) for f in fields]


def test_a_file_missing_a_required_column_is_refused_whole_and_nothing_is_written(
        source: Source, tmp_path: Path) -> None:
    path = _file(tmp_path, "factures.csv", b"nir;mois;impayes;jours_retard\n"
                 + f"{KNOWN};2025-09;120;30\n".encode())
    with pytest.raises(imports.ImportRefused, match="Missing required column.*'coupure'"):
        imports.import_file("energie", path)

    assert not feeds.feeds_dir().exists()
    refused = Import.objects.get()
    assert "'coupure'" in refused.error and refused.finished_at and not refused.rows_read
    assert "Refused: Missing required column" in imports.describe(refused)


def test_a_parquet_file_with_the_same_rows_gives_the_same_feed(
        source: Source, tmp_path: Path) -> None:
    imports.import_file("energie", _file(tmp_path, "f.csv", HEADER + b"".join(GOOD)))
    from_csv = _feed()
    table = pa.table({
        "NIR": [KNOWN, STRANGER, KNOWN, "", KNOWN],
        "mois": ["2025-09", "2025-09", "2025-10-15", "2025-09", "2025-09"],
        "impayes": pa.array([120.5, 0, 80, 1, 7], pa.float64()),
        "coupure": pa.array([True, False, False, True, True]),
        "jours_retard": pa.array([30, None, 10, 1, 1], pa.int32()),
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    report = imports.import_file("energie", _file(tmp_path, "f.parquet", buffer.getvalue()))

    assert report.unchanged and _feed() == from_csv
    assert _rejected(report) == [(4, "nir", "the key is empty"),
                                 (5, "", "duplicate of line 1")]


def test_quoted_addresses_keep_their_line_numbers(tmp_path: Path) -> None:
    homes = Source.objects.create(code="eau", name="Eau", provider="Régie",
                                  key_kind=KeyKind.ADDRESS, key_column="adresse",
                                  legal_basis="Convention")
    Indicator.objects.create(source=homes, code="impayes", label="Impayés",
                             kind=IndicatorKind.AMOUNT)
    path = _file(tmp_path, "eau.csv", (
        "adresse,period,impayes\r\n"
        "\"12, rue de l'Église 47000 Agen\",2025-09,10\r\n"
        "\r\n"
        "\"3, place du Marché 47000 Agen\",2025-09,-4\r\n"
        "\"12 Rue de l'Eglise, 47000, AGEN\",2025-10,12\r\n").encode())
    report = imports.import_file("eau", path)

    assert _rejected(report) == [(4, "impayes", "below the lowest valid value (0)")]
    link = pseudonym.digest(KeyKind.ADDRESS, "12 rue de l eglise 47000 agen")
    assert _feed("eau") == {"2025-09": [{"link": link, "indicator": "impayes", "value": 10.0}],
                            "2025-10": [{"link": link, "indicator": "impayes", "value": 12.0}]}


def test_raw_identifiers_are_nowhere_in_the_feeds_nor_the_database(
        source: Source, tmp_path: Path) -> None:
    path = _file(tmp_path, "factures.csv", HEADER + b"".join(GOOD + BAD))
    imports.import_file("energie", path)
    path.unlink()
    raw = [line.split(b";")[0].strip() for line in GOOD + BAD if line.strip(b"\n;-")]
    forms = {r for r in raw if r} | {r.replace(b" ", b"") for r in raw if r}

    stored = [f.read_bytes() for f in feeds.root().rglob("*") if f.is_file()]
    assert stored and not [f for f in forms for content in stored if f in content]
    text = " ".join(str(values) for values in [
        *RejectedRow.objects.values_list("column", "reason"),
        *Import.objects.values_list("file_name", "error", "ignored_columns"),
    ]).encode()
    assert not [f for f in forms if f in text]


def test_an_unknown_source_is_refused_with_the_known_ones(source: Source,
                                                          tmp_path: Path) -> None:
    with pytest.raises(imports.ImportRefused, match="known sources: energie"):
        imports.import_file("gaz", _file(tmp_path, "f.csv", HEADER))


def test_a_file_in_latin_1_throughout_is_refused_as_not_utf8(source: Source,
                                                             tmp_path: Path) -> None:
    lines = [f"{KNOWN};2025-0{m};1;0;0;café\n".encode("latin-1") for m in range(1, 9)]
    with pytest.raises(imports.ImportRefused, match="not UTF-8"):
        imports.import_file("energie", _file(tmp_path, "f.csv", HEADER + b"".join(lines)))
    assert not feeds.feeds_dir().exists()


def test_the_command_prints_the_report_and_refuses_in_words(source: Source,
                                                            tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("screening", "import", "energie",
                 str(_file(tmp_path, "f.csv", HEADER + b"".join(GOOD + BAD))), stdout=out)
    assert "line 16, column 'mois': a month still to come" in out.getvalue()
    with pytest.raises(CommandError, match="Missing required column"):
        call_command("screening", "import", "energie",
                     str(_file(tmp_path, "g.csv", b"nir;mois\n")))


FRAGMENTS = [b";", b",", b'"', b"\n", b"\r", b"\r\n", b" ", b"-", b"\xff", b"\xc3\xa9",
             b"\x00", b"1", b"0", b"2025-09", b"2025-02-30", b"12,5", b"1e400", b"nan",
             KNOWN.encode(), b"\xef\xbb\xbf"]
CELLS = [b"", b" ", KNOWN.encode(), STRANGER.encode(), b"2025-09", b"2025-10-31", b"2025-13",
         b"2025-9", b"0", b"1", b"12,5", b"-1", b"1e400", b"nan", b"abc", b'"a;b"', b'"x',
         b"\xff", b"\xc3\xa9", b"\x00"]
LINES = st.one_of(
    st.lists(st.sampled_from(CELLS), min_size=4, max_size=8),
    st.tuples(st.sampled_from([KNOWN.encode(), STRANGER.encode(), b"1 23", b"-", b""]),
              st.sampled_from([b"2025-09", b"2025-10-31", b"2025-02-30", b"2999-01"]),
              *[st.sampled_from([b"", b"0", b"1", b"2,5", b"7000", b"x"])] * 3,
              st.sampled_from(CELLS)),
).map(b";".join)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(
    st.binary(max_size=400),
    st.builds(lambda body: HEADER + body, st.binary(max_size=400)),
    st.builds(lambda parts: HEADER + b"".join(parts),
              st.lists(st.sampled_from(FRAGMENTS), max_size=80)),
    st.builds(lambda lines, end: HEADER + end.join(lines),
              st.lists(LINES, max_size=30), st.sampled_from([b"\n", b"\r\n", b"\r"])),
))
def test_arbitrary_bytes_never_crash_the_import(source: Source, tmp_path: Path,
                                                 content: bytes) -> None:
    path = _file(tmp_path, "any.csv", content)
    try:
        report = imports.import_file("energie", path)
    except imports.ImportRefused as refusal:
        assert str(refusal)
        return
    assert report.rows_read == report.rows_kept + report.rows_rejected
    assert report.rejected.count() == report.rows_rejected
    assert imports.describe(report)


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(LINES, max_size=30), end=st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_the_fast_reading_finds_the_lines_the_careful_one_finds(lines: list[bytes],
                                                                end: bytes) -> None:
    body = end.join(lines).splitlines()
    positions = {"nir": 0, "mois": 1, "impayes": 2, "coupure": 3, "jours_retard": 4}
    fast = imports._parse_fast(body, ";", 6, positions)
    if fast is None:
        return  # not a clean file: only the careful reading reads it
    numbers, columns, rejected = imports._parse_careful(body, ";", 6, positions)
    assert fast[0] == numbers and not fast[2] and not rejected
    assert {c: a.to_pylist() for c, a in fast[1].items()} == {
        c: a.to_pylist() for c, a in columns.items()}


def _others(n: int) -> str:
    return f"1 50 01 47 000 000 {n:02d}"


# (key, period, impayes, coupure, jours_retard): line n of the file is row n - 1.
AS_TEXT = [
    (KNOWN, "2025-09", "120,50", 1, 30.0),
    (STRANGER, "2025-09", "0", 0, None),
    (KNOWN, "2025-10-15", "80", 0, 10.0),
    ("", "2025-09", "5", 0, 0.0),  # 4: the key is empty
    ("\u3000\t", "2025-09", "5", 0, 0.0),  # 5: so is a key of spaces
    ("--", "2025-09", "5", 0, 0.0),  # 6: nothing left of it
    (KNOWN, "2025-09", "99", 1, 1.0),  # 7: duplicate of line 1
    (_others(8), "2025-13", "5", 0, 0.0),
    (_others(9), None, "5", 0, 0.0),
    (_others(10), "2999-01", "5", 0, 0.0),
    (_others(11), "2025-09", "beaucoup", 0, 0.0),
    (_others(12), "2025-09", "1e400", 0, 0.0),
    (_others(13), "2025-09", " 12,5 ", 2, 0.0),  # 13: not 0 or 1, reported before the rest
    (_others(14), "2025-09", "\u3000", 0, 3.5),
    (_others(15), "2025-09", "9999", 0, 0.0),
    (_others(16), "2025-09", "-1", 0, 0.0),
    (_others(17), "2025-09", "1", 0, 400.0),
    (_others(18), "2025-09", "1", 0, float("nan")),
    (_others(19), "2025-09", " 12,5 ", 1, None),
    (KNOWN, "2025-08", None, None, None),  # 20: a month with nothing reported
    (_others(13), "2025-09", "1", 0, 1.0),  # 21: line 13 was not kept: no duplicate
    (_others(19), "2025-09-30", "2", 0, 0.0),  # 22: duplicate of line 19
    (_others(23), "2025-02-30", "2", 0, 0.0),
    (_others(24), "2025-10", "-0", 0, 0.0),
]
AS_TEXT_REJECTED = [
    (4, "nir", "the key is empty"),
    (5, "nir", "the key is empty"),
    (6, "nir", "nothing is left of the key once spaces and punctuation are removed"),
    (7, "", "duplicate of line 1"),
    (8, "mois", "not a month (YYYY-MM or YYYY-MM-DD)"),
    (9, "mois", "not a month (YYYY-MM or YYYY-MM-DD)"),
    (10, "mois", "a month still to come"),
    (11, "impayes", "not a number"),
    (12, "impayes", "not a number"),
    (13, "coupure", "not 0 or 1"),
    (14, "jours_retard", "not a whole number"),
    (15, "impayes", "above the highest valid value (5000)"),
    (16, "impayes", "below the lowest valid value (0)"),
    (17, "jours_retard", "above the highest valid value (365)"),
    (18, "jours_retard", "not a number"),
    (22, "", "duplicate of line 19"),
    (23, "mois", "not a month (YYYY-MM or YYYY-MM-DD)"),
]


def _as_text() -> pa.Table:
    key, period, amount, flag, days = zip(*AS_TEXT, strict=True)
    return pa.table({
        "NIR ": pa.array(key, pa.string()),
        "mois": pa.array(period, pa.string()).dictionary_encode(),
        "impayes": pa.array(amount, pa.string()),
        "coupure": pa.array(flag, pa.int64()),
        "jours_retard": pa.array(days, pa.float64()),
        "commentaire": pa.array(["ok"] * len(key)),
    })


def _typed() -> pa.Table:
    at = [dt.datetime(2025, 9, 15, 10), dt.datetime(2025, 9, 1), dt.datetime(2025, 10, 31, 23),
          dt.datetime(2025, 9, 2), dt.datetime(2999, 1, 1), dt.datetime(2025, 9, 3),
          dt.datetime(2025, 9, 3), dt.datetime(2025, 9, 3), dt.datetime(2025, 9, 4), None]
    return pa.table({
        "nir": pa.array([184057511600342, 291124700100217, 184057511600342, None,
                         150014700000005, 150014700000006, 150014700000007, 150014700000008,
                         184057511600342, 150014700000010], pa.int64()),
        "mois": pa.array(at, pa.timestamp("us")),
        "impayes": pa.array([120.5, 0, 80, 1, 1, float("inf"), 9999, -0.0, 1, 1], pa.float32()),
        "coupure": pa.array([True, False, None, True, True, False, False, True, True, False]),
        "jours_retard": pa.array([30, None, 10, 1, 1, 1, 1, 400, 2, 1], pa.int32()),
    })


def _dated() -> pa.Table:
    typed = _typed()
    return typed.set_column(1, "mois", typed["mois"].cast(pa.date32()))


def _decimal() -> pa.Table:
    return pa.table({
        "nir": [KNOWN, STRANGER, KNOWN],
        "mois": pa.array([dt.date(2025, 9, 1), dt.date(2025, 9, 2), dt.date(2025, 9, 3)]),
        "impayes": pa.array([decimal.Decimal("120.50"), None, decimal.Decimal("6000.00")],
                            pa.decimal128(10, 2)),
        "coupure": [1, 0, 1],
        "jours_retard": [30, 2, 1],
    })


def _parquet(folder: Path, table: pa.Table) -> Path:
    path = folder / "factures.parquet"
    pq.write_table(table, path, row_group_size=7)
    return path


def _summary(report: Import) -> list[object]:
    return [report.rows_read, report.rows_kept, report.rows_rejected, report.rows_unlinked,
            report.unchanged, report.ignored_columns, report.file_sha256, _rejected(report)]


@pytest.mark.parametrize("make", [_as_text, _typed, _dated, _decimal],
                         ids=["text", "typed", "dated", "decimal"])
def test_a_parquet_file_imported_in_bulk_gives_the_careful_import_s_feed_and_report(
        source: Source, tmp_path: Path, make) -> None:
    path = _parquet(tmp_path, make())
    careful = imports.import_file("energie", path)
    careful_feed = _feed()
    shutil.rmtree(feeds.feeds_dir())
    bulk = imports.import_parquet("energie", path)

    assert _feed() == careful_feed and _summary(bulk) == _summary(careful)
    assert not bulk.unchanged and careful_feed
    if make is _as_text:
        assert _rejected(bulk) == AS_TEXT_REJECTED
        assert careful_feed["2025-08"] == []
        assert {"link": pseudonym.digest(KeyKind.IDENTIFIER, _others(19)),
                "indicator": "impayes", "value": 12.5} in careful_feed["2025-09"]
    # Each reads the months the other wrote as its own: importing again changes nothing.
    months = {m: feeds.partition("energie", m).read_bytes() for m in feeds.periods("energie")}
    assert imports.import_file("energie", path).unchanged
    assert imports.import_parquet("energie", path).unchanged
    assert {m: feeds.partition("energie", m).read_bytes()
            for m in feeds.periods("energie")} == months


def test_a_bulk_import_can_take_the_households_keys_from_a_parquet_file(
        source: Source, tmp_path: Path) -> None:
    path = _parquet(tmp_path, _as_text())
    keys = tmp_path / "link_keys.parquet"
    pq.write_table(pa.table({
        "kind": [KeyKind.IDENTIFIER, KeyKind.IDENTIFIER, KeyKind.ADDRESS],
        "digest": [pseudonym.digest(KeyKind.IDENTIFIER, STRANGER),
                   pseudonym.digest(KeyKind.IDENTIFIER, _others(19)),
                   pseudonym.digest(KeyKind.IDENTIFIER, KNOWN)]}), keys)

    first, again = imports.import_parquet_files([("energie", path), ("energie", path)], keys)

    # Kept: KNOWN three times (one of them only in the ADDRESS kind), the stranger, 19, 21, 24.
    assert (first.rows_kept, first.rows_unlinked) == (7, 5)
    assert again.unchanged and _summary(again)[:4] == _summary(first)[:4]
