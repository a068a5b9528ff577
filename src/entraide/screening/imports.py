"""Importing a provider's file into its feed: read it, check each line, pseudonymise, write.

A file is a CSV (UTF-8, `,` or `;`) or a Parquet file with the source's key column, its
period column and one column per indicator. Each line is checked on its own: a bad line is
recorded with its number and a reason (never its content, which holds the identifier) and
the others are kept. Only a file nobody could read line by line is refused as a whole.

Speed comes from checking columns, not lines: pyarrow parses a clean CSV in one call and
every check runs on whole columns; the key is hashed once per distinct value. A CSV whose
lines pyarrow cannot map one to one to records (undecodable bytes, wrong field counts,
quoted line breaks) is read again by the `csv` module, line by line, which knows where each
record starts. Both readings feed the same checks.

A national provider's Parquet file goes through `import_parquet` instead: the same checks,
digests and feed months, computed in DuckDB SQL over the whole file, with the same report.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import feeds, pseudonym
from .engines import DuckDBEngine
from .models import Import, Indicator, IndicatorKind, LinkKey, RejectedRow, Source

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = {".parquet", ".parq", ".pq"}
SHOWN_REJECTIONS = 20
# Digits with an optional decimal point or comma and exponent; no thousands separator.
_NUMBER = r"^[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?$"
_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}(-[0-9]{2})?")

# Why a line is rejected, worded once for both ways of importing.
KEY_EMPTY = gettext_lazy("the key is empty")
KEY_NOTHING_LEFT = gettext_lazy("nothing is left of the key once spaces and punctuation are "
                                "removed")
NOT_A_MONTH = gettext_lazy("not a month (YYYY-MM or YYYY-MM-DD)")
MONTH_TO_COME = gettext_lazy("a month still to come")
NOT_A_NUMBER = gettext_lazy("not a number")
NOT_A_FLAG = gettext_lazy("not 0 or 1")
NOT_WHOLE = gettext_lazy("not a whole number")
BELOW_MINIMUM = gettext_lazy("below the lowest valid value (%(minimum)s)")
ABOVE_MAXIMUM = gettext_lazy("above the highest valid value (%(maximum)s)")
DUPLICATE = gettext_lazy("duplicate of line %(line)d")


class ImportRefused(Exception):
    """The whole file was refused; the message says why, for the person who sent it."""


@dataclass
class _Records:
    """A file's records column by column, as read, before any check."""

    lines: np.ndarray  # the file's line number of each record
    key: pa.Array
    period: pa.Array
    values: dict[str, pa.Array]  # by indicator code
    # Lines refused while reading (undecodable, wrong field count): (line, column, reason).
    rejected: list[tuple[int, str, str]] = field(default_factory=list)


def import_file(source_code: str, path: Path) -> Import:
    """Import a provider's CSV or Parquet file into the feed of `source_code`; the report
    lists the lines not kept. Raises ImportRefused when the whole file is refused."""
    source = _source(source_code)
    report = Import.objects.create(source=source, file_name=Path(path).name[:300])
    try:
        records, ignored = _read(source, Path(path), report)
    except ImportRefused as refusal:
        _refused(report, refusal)
        raise
    _check_and_write(source, records, report)
    report.ignored_columns = ignored
    report.finished_at = timezone.now()
    report.save()
    return report


def _source(source_code: str) -> Source:
    source = Source.objects.filter(code=source_code).first()
    if source is None:
        known = ", ".join(Source.objects.order_by("code").values_list("code", flat=True))
        raise ImportRefused(_("No data source has the code %(code)s (known sources: "
                              "%(known)s).") % {"code": repr(source_code),
                                                 "known": known or "-"})
    return source


def _refused(report: Import, refusal: ImportRefused) -> None:
    report.error = str(refusal)
    report.finished_at = timezone.now()
    report.save()


def describe(report: Import) -> str:
    """What an import did, in a few lines: counts, then the first rejected lines."""
    lines = [f"{report.source.code} · {report.file_name}"]
    if report.error:
        lines.append(_("Refused: %(reason)s") % {"reason": report.error})
        return "\n".join(lines)
    lines.append(_("Lines read: %(read)d, kept: %(kept)d (with no known household yet: "
                   "%(unlinked)d), rejected: %(rejected)d.")
                 % {"read": report.rows_read, "kept": report.rows_kept,
                    "unlinked": report.rows_unlinked, "rejected": report.rows_rejected})
    if report.ignored_columns:
        lines.append(_("Columns ignored: %(columns)s.")
                     % {"columns": ", ".join(repr(c) for c in report.ignored_columns)})
    lines.append(_("The feed held this data already: nothing changed.") if report.unchanged
                 else _("The feed was updated."))
    if report.rows_rejected:
        lines.append(_("Rejected lines:"))
        for row in report.rejected.all()[:SHOWN_REJECTIONS]:
            if row.column:
                lines.append("  " + _("line %(line)d, column %(column)s: %(reason)s")
                             % {"line": row.line, "column": repr(row.column),
                                "reason": row.reason})
            else:
                lines.append("  " + _("line %(line)d: %(reason)s")
                             % {"line": row.line, "reason": row.reason})
        if report.rows_rejected > SHOWN_REJECTIONS:
            lines.append("  " + _("… and %(more)d more.")
                         % {"more": report.rows_rejected - SHOWN_REJECTIONS})
    return "\n".join(lines)


# Reading ---------------------------------------------------------------------------------


def _read(source: Source, path: Path, report: Import) -> tuple[_Records, list[str]]:
    """The file's records and the names of the columns nothing reads."""
    wanted = _wanted(source)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _unreadable(error) from None
    report.file_sha256 = hashlib.sha256(data).hexdigest()
    if data.startswith(PARQUET_MAGIC) or path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(data, wanted)
    return _read_csv(data, wanted)


def _wanted(source: Source) -> list[str]:
    """The columns a source's file must have: key, period, then its indicators by code."""
    if not source.active:
        raise ImportRefused(_("The source %(code)s is switched off: it takes no file.")
                            % {"code": source.code})
    indicators = list(source.indicators.order_by("code"))
    if not indicators:
        raise ImportRefused(_("The source %(code)s has no indicator yet: declare its "
                              "columns first.") % {"code": source.code})
    return [source.key_column, source.period_column] + [i.code for i in indicators]


def _unreadable(error: OSError) -> ImportRefused:
    return ImportRefused(_("The file cannot be read: %(error)s.")
                         % {"error": error.strerror or error})


def _not_parquet(error: Exception) -> ImportRefused:
    return ImportRefused(_("The file is not a readable Parquet file (%(error)s).")
                         % {"error": str(error)[:200]})


def _columns(names: list[str], wanted: list[str],
             separator: str = "") -> tuple[dict[str, int], list[str]]:
    """Where each wanted column is among `names` (spaces and case aside), and the others."""
    found: dict[str, int] = {}
    for position, name in enumerate(names):
        folded = name.strip().casefold()
        for column in wanted:
            if column.casefold() == folded:
                if column in found:
                    raise ImportRefused(_("The column %(column)s appears twice.")
                                        % {"column": repr(column)})
                found[column] = position
    missing = [column for column in wanted if column not in found]
    if missing:
        # The names found are not repeated: a file without its header line would put an
        # identifier there.
        found_how = (_("The first line has %(count)d column(s) separated by %(separator)s.")
                     % {"count": len(names), "separator": repr(separator)} if separator
                     else _("The file has %(count)d column(s).") % {"count": len(names)})
        raise ImportRefused(_("Missing required column(s): %(missing)s.")
                            % {"missing": ", ".join(repr(c) for c in missing)}
                            + " " + found_how)
    taken = set(found.values())
    ignored = [name.strip() for position, name in enumerate(names) if position not in taken]
    return found, ignored


def _read_csv(data: bytes, wanted: list[str]) -> tuple[_Records, list[str]]:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    lines = data.splitlines()
    if not lines or not lines[0].strip():
        raise ImportRefused(_("The first line must name the columns, and it is empty."))
    if (data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
            or b"\x00" in lines[0]):
        raise ImportRefused(_("The file is in UTF-16, not UTF-8: save it again as UTF-8."))
    try:
        header = lines[0].decode("utf-8")
    except UnicodeDecodeError:
        raise ImportRefused(_("The first line is not UTF-8 text: save the file again as "
                              "UTF-8 (it may be in Windows-1252 or Latin-1).")) from None
    separator = ";" if header.count(";") > header.count(",") else ","
    try:
        names = next(csv.reader([header], delimiter=separator), [])
    except csv.Error:
        raise ImportRefused(_("The first line is not readable as CSV.")) from None
    positions, ignored = _columns(names, wanted, separator)
    body = lines[1:]
    parsed = (_parse_fast(body, separator, len(names), positions)
              or _parse_careful(body, separator, len(names), positions))
    numbers, columns, rejected = parsed
    return _records(wanted, np.asarray(numbers, dtype=np.int64), columns, rejected), ignored


_Parsed = tuple[list[int], dict[str, pa.Array], list[tuple[int, str, str]]]


def _parse_fast(body: list[bytes], separator: str, width: int,
                positions: dict[str, int]) -> _Parsed | None:
    """Records of a clean CSV body by pyarrow, each mapped to its line; None when some
    line is not one well-formed record, for the careful reading to say which."""
    joined = b"\n".join(body)
    try:
        joined.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if b'"' in joined and any(line.count(b'"') % 2 for line in body):
        return None  # a quoted value runs over a line break
    numbers = [number for number, line in enumerate(body, start=2) if line.strip()]
    if not numbers:
        return numbers, {c: pa.array([], pa.string()) for c in positions}, []
    invalid: list[object] = []

    def on_invalid(row: object) -> str:
        invalid.append(row)
        return "skip"

    names = [f"f{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(joined),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=separator, ignore_empty_lines=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={names[i]: pa.string() for i in positions.values()},
                include_columns=[names[i] for i in positions.values()],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowException, ValueError):
        return None
    if invalid or table.num_rows != len(numbers):
        return None
    columns = {column: table.column(names[i]).combine_chunks()
               for column, i in positions.items()}
    return numbers, columns, []


def _parse_careful(body: list[bytes], separator: str, width: int,
                   positions: dict[str, int]) -> _Parsed:
    """Records of a CSV body by the `csv` module, line by line: an undecodable line or one
    with the wrong number of fields is rejected and the others kept."""
    rejected: list[tuple[int, str, str]] = []
    undecodable = 0
    pulled: list[int] = []  # the line number of each line the reader has taken

    def texts() -> Iterator[str]:
        nonlocal undecodable
        for number, raw in enumerate(body, start=2):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                undecodable += 1
                rejected.append((number, "", _("the line is not UTF-8 text")))
                continue
            pulled.append(number)
            yield text + "\n"

    reader = csv.reader(texts(), delimiter=separator)
    numbers: list[int] = []
    cells: dict[str, list[str]] = {column: [] for column in positions}
    while True:
        start = len(pulled)
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:
            if len(pulled) == start:
                break
            rejected.append((pulled[start], "", _("the line is not readable as CSV")))
            continue
        line = pulled[start]
        if len(record) != width:
            rejected.append((line, "", ngettext("%(found)d field instead of %(expected)d",
                                                "%(found)d fields instead of %(expected)d",
                                                len(record))
                             % {"found": len(record), "expected": width}))
            continue
        numbers.append(line)
        for column, position in positions.items():
            cells[column].append(record[position])
    if undecodable * 2 > len(numbers) + len(rejected):
        raise ImportRefused(_("Most lines are not UTF-8 text: save the file again as UTF-8 "
                              "(it may be in Windows-1252 or Latin-1)."))
    columns = {column: pa.array(values, pa.string()) for column, values in cells.items()}
    return numbers, columns, rejected


def _read_parquet(data: bytes, wanted: list[str]) -> tuple[_Records, list[str]]:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, ValueError, OSError) as error:
        raise _not_parquet(error) from None
    positions, ignored = _columns(table.column_names, wanted)
    columns = {}
    for column, position in positions.items():
        cells = table.column(position).combine_chunks()
        try:
            columns[column] = _parquet_cells(cells, text=column in wanted[:2])
        except (pa.ArrowException, ValueError):
            raise ImportRefused(_("The column %(column)s holds %(type)s, which cannot be "
                                  "read as a value.")
                                % {"column": repr(column), "type": cells.type}) from None
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return _records(wanted, lines, columns, []), ignored


def _parquet_cells(cells: pa.Array, text: bool) -> pa.Array:
    """A Parquet column as text (key, period) or as numbers (indicators)."""
    if pa.types.is_dictionary(cells.type):
        cells = cells.dictionary_decode()
    if pa.types.is_timestamp(cells.type):
        cells = pc.cast(cells, pa.date32())
    if text or pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type):
        return pc.cast(cells, pa.string())
    if pa.types.is_boolean(cells.type):
        cells = pc.cast(cells, pa.int8())
    if pa.types.is_null(cells.type) or pa.types.is_integer(cells.type) \
            or pa.types.is_floating(cells.type) or pa.types.is_decimal(cells.type):
        return pc.cast(cells, pa.float64())
    raise ValueError(cells.type)


def _records(wanted: list[str], lines: np.ndarray, columns: dict[str, pa.Array],
             rejected: list[tuple[int, str, str]]) -> _Records:
    key, period, *codes = wanted
    return _Records(lines=lines, key=columns[key], period=columns[period],
                    values={code: columns[code] for code in codes}, rejected=rejected)


# Checking and writing --------------------------------------------------------------------


class _Problems:
    """The first problem of each record: an index into a list of (column, reason)."""

    def __init__(self, size: int):
        self.first = np.zeros(size, dtype=np.int32)
        self.reasons: list[tuple[str, str]] = [("", "")]

    def flag(self, mask: np.ndarray, column: str, reason: str) -> None:
        mask = mask & (self.first == 0)
        if mask.any():
            self.reasons.append((column, reason))
            self.first[mask] = len(self.reasons) - 1

    def flag_one(self, index: int, column: str, reason: str) -> None:
        if self.first[index] == 0:
            self.reasons.append((column, reason))
            self.first[index] = len(self.reasons) - 1

    def good(self) -> np.ndarray:
        return self.first == 0

    def of(self, index: int) -> tuple[str, str]:
        return self.reasons[self.first[index]]


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _numbers(cells: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The values of an indicator column (NaN where absent), where a value is given, and
    where it is not a number."""
    if pa.types.is_string(cells.type):
        given = _mask(pc.greater(pc.utf8_length(cells), 0))
        try:
            # Arrow reads what _NUMBER matches (plus nan and inf, not finite): a clean
            # column is read at once, the others cell by cell below.
            cells = pc.cast(pc.if_else(pa.array(given), cells, None), pa.float64())
            readable = given.copy()
        except pa.ArrowInvalid:
            text = pc.utf8_trim_whitespace(cells)
            given = _mask(pc.greater(pc.utf8_length(text), 0))
            readable = _mask(pc.match_substring_regex(text, _NUMBER))
            text = pc.if_else(pa.array(readable), pc.replace_substring(text, ",", "."), None)
            cells = pc.cast(text, pa.float64())
    else:
        given = ~_mask(pc.is_null(cells))
        readable = given.copy()
    values = cells.to_numpy(zero_copy_only=False).astype(np.float64) + 0.0  # no -0.0
    with np.errstate(invalid="ignore"):
        readable &= np.isfinite(values)
    return values, given, given & ~readable


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _month(text: str) -> str:
    """YYYY-MM of a YYYY-MM or YYYY-MM-DD period; empty when it is neither."""
    text = text.strip()
    if not _PERIOD.fullmatch(text):
        return ""
    try:
        dt.date.fromisoformat(text if len(text) == 10 else f"{text}-01")
    except ValueError:
        return ""
    return text[:7]


def _check_and_write(source: Source, records: _Records, report: Import,
                     known: pa.Array | None = None) -> None:
    """Check every record, write the kept ones to the feed by month, fill the report;
    `known` are the households' digests of the source's key kind (default: `LinkKey`'s)."""
    size = len(records.lines)
    problems = _Problems(size)
    key = pc.utf8_trim_whitespace(pc.cast(records.key, pa.string()))
    problems.flag(~_mask(pc.greater(pc.utf8_length(key), 0)), source.key_column,
                  str(KEY_EMPTY))
    distinct = pc.dictionary_encode(key)
    digests = pa.array([pseudonym.digest(source.key_kind, value)
                        for value in distinct.dictionary.to_pylist()], pa.string())
    links = pc.take(digests, distinct.indices)
    problems.flag(_mask(pc.equal(links, "")), source.key_column, str(KEY_NOTHING_LEFT))

    periods = pc.dictionary_encode(pc.cast(records.period, pa.string()))
    months = pc.take(pa.array([_month(p or "") for p in periods.dictionary.to_pylist()],
                              pa.string()), periods.indices)
    problems.flag(_mask(pc.equal(months, "")) | _mask(pc.is_null(months)),
                  source.period_column, str(NOT_A_MONTH))
    this_month = timezone.localdate().strftime("%Y-%m")
    problems.flag(_mask(pc.greater(months, this_month)), source.period_column,
                  str(MONTH_TO_COME))

    indicators = list(source.indicators.order_by("code"))
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for indicator in indicators:
        numbers, given, unreadable = _numbers(records.values[indicator.code])
        code = indicator.code
        problems.flag(unreadable, code, str(NOT_A_NUMBER))
        with np.errstate(invalid="ignore"):
            if indicator.kind == IndicatorKind.FLAG:
                problems.flag(given & (numbers != 0) & (numbers != 1), code, str(NOT_A_FLAG))
            elif indicator.kind in (IndicatorKind.COUNT, IndicatorKind.DAYS):
                problems.flag(given & (numbers != np.floor(numbers)), code, str(NOT_WHOLE))
            problems.flag(given & (numbers < indicator.minimum), code,
                          BELOW_MINIMUM % {"minimum": _number(indicator.minimum)})
            if indicator.maximum is not None:
                problems.flag(given & (numbers > indicator.maximum), code,
                              ABOVE_MAXIMUM % {"maximum": _number(indicator.maximum)})
        values[code] = numbers, given

    _flag_duplicates(problems, links, months, records.lines)
    good = problems.good()

    kept = np.flatnonzero(good)
    kept_links = pc.take(links, pa.array(kept))
    kept_months = pc.take(months, pa.array(kept))
    if known is None:
        known = pa.array(list(LinkKey.objects.filter(kind=source.key_kind)
                              .values_list("digest", flat=True)), pa.string())
    report.rows_unlinked = int((~_mask(pc.is_in(kept_links, value_set=known))).sum())

    written = [feeds.write(source.code, month, table)
               for month, table in _months(indicators, values, kept, kept_links, kept_months)]
    report.unchanged = not any(written)

    rejected = list(records.rejected)
    rejected += [(int(records.lines[index]), *problems.of(int(index)))
                 for index in np.flatnonzero(~good)]
    rejected.sort()
    report.rows_read = size + len(records.rejected)
    report.rows_kept = len(kept)
    report.rows_rejected = len(rejected)
    with transaction.atomic():
        RejectedRow.objects.bulk_create(
            (RejectedRow(import_run=report, line=line, column=column[:60], reason=reason[:300])
             for line, column, reason in rejected), batch_size=2000)


def _flag_duplicates(problems: _Problems, links: pa.Array, months: pa.Array,
                     lines: np.ndarray) -> None:
    """Reject a good record whose key and month an earlier good record had already."""
    candidates = np.flatnonzero(problems.good())
    link_codes = pc.dictionary_encode(pc.take(links, pa.array(candidates)))
    month_codes = pc.dictionary_encode(pc.take(months, pa.array(candidates)))
    pairs = (link_codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
             * max(len(month_codes.dictionary), 1)
             + month_codes.indices.to_numpy(zero_copy_only=False))
    _pairs, first, which = np.unique(pairs, return_index=True, return_inverse=True)
    if len(first) == len(pairs):
        return
    earlier = first[which]  # the position of each pair's first record
    for position in np.flatnonzero(earlier != np.arange(len(pairs))):
        problems.flag_one(int(candidates[position]), "", DUPLICATE
                          % {"line": lines[candidates[earlier[position]]]})


def _months(indicators: list[Indicator], values: dict[str, tuple[np.ndarray, np.ndarray]],
            kept: np.ndarray, links: pa.Array,
            months: pa.Array) -> Iterator[tuple[str, pa.Table]]:
    """The long table (link, indicator, value) of the kept records, month by month."""
    codes = sorted(indicator.code for indicator in indicators)
    numbers = np.column_stack([values[code][0][kept] for code in codes])
    given = np.column_stack([values[code][1][kept] for code in codes])
    encoded = pc.dictionary_encode(months)
    month_of = encoded.indices.to_numpy(zero_copy_only=False)
    for position, month in sorted(enumerate(encoded.dictionary.to_pylist()),
                                  key=lambda pair: pair[1]):
        rows = np.flatnonzero(month_of == position)
        # In the order feeds.write keeps (link, then indicator): its sort is then cheap.
        rows = rows[pc.sort_indices(pc.take(links, pa.array(rows))).to_numpy()]
        present = given[rows].ravel()
        yield month, pa.table({
            "link": pc.take(links, pa.array(np.repeat(rows, len(codes))[present])),
            "indicator": pc.take(pa.array(codes, pa.string()),
                                 pa.array(np.tile(np.arange(len(codes)), len(rows))[present])),
            "value": pa.array(numbers[rows].ravel()[present], pa.float64()),
        })


# Parquet in bulk: the same checks in DuckDB SQL ------------------------------------------

# What Arrow's utf8_trim_whitespace trims, as an RE2 class: a key of these alone is empty.
_SPACE = (r"[\x{9}-\x{d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
          r"\x{202f}\x{205f}\x{3000}]")


def import_parquet(source_code: str, path: Path, link_keys: Path | None = None) -> Import:
    """`import_file` for a provider's Parquet file, checked and pseudonymised in DuckDB SQL
    over whole columns: the same feed months and the same report, for files of millions of
    lines. The households' keys are `LinkKey`'s, or those of `link_keys` (Parquet with
    `kind` and `digest`) where they are kept outside the database."""
    return import_parquet_files([(source_code, Path(path))], link_keys)[0]


def import_parquet_files(files: Sequence[tuple[str, Path]],
                         link_keys: Path | None = None) -> list[Import]:
    """`import_parquet` of several (source code, file) pairs in one DuckDB session, the
    households' keys loaded once per kind. A file refused whole raises ImportRefused; the
    files before it stay imported."""
    engine = DuckDBEngine()
    engine.connection.execute("SET enable_progress_bar = false")
    known: dict[str, str] = {}
    try:
        return [_import_parquet(engine.connection, code, Path(path), link_keys, known)
                for code, path in files]
    finally:
        engine.close()


@dataclass
class _Plan:
    """How DuckDB reads a file's columns as the careful reading sees them: key and period
    as text, each indicator as (number or NULL where absent, given but not a number)."""

    key: str
    period: str
    values: dict[str, tuple[str, str]]


def _import_parquet(connection: duckdb.DuckDBPyConnection, source_code: str, path: Path,
                    link_keys: Path | None, known: dict[str, str]) -> Import:
    source = _source(source_code)
    report = Import.objects.create(source=source, file_name=path.name[:300])
    try:
        wanted = _wanted(source)
        try:
            with path.open("rb") as handle:
                report.file_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as error:
            raise _unreadable(error) from None
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, ValueError, OSError) as error:
            raise _not_parquet(error) from None
        positions, ignored = _columns(schema.names, wanted)
        plan = _plan(schema, positions, wanted, path)
        known_table = _known(connection, source.key_kind, link_keys, known)
        if plan is None:  # a column type only the careful reading knows what to do with
            records, ignored = _read(source, path, report)
            digests = connection.sql(f"SELECT digest FROM {known_table}")  # noqa: S608
            _check_and_write(source, records, report,
                             digests.to_arrow_table()["digest"].combine_chunks())
        else:
            _check_and_write_sql(connection, source, path, plan, known_table, report)
    except ImportRefused as refusal:
        _refused(report, refusal)
        raise
    report.ignored_columns = ignored
    report.finished_at = timezone.now()
    report.save()
    return report


def _quoted(name: str) -> str:
    return '"{}"'.format(name.replace('"', '""'))


def _text_sql(column: str, kind: pa.DataType) -> str | None:
    """A key or period column as the text `_parquet_cells` makes of it."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_integer(kind) or pa.types.is_date32(kind)):
        return f"CAST({column} AS VARCHAR)"
    if pa.types.is_timestamp(kind) and kind.tz is None:
        return f"CAST(CAST({column} AS DATE) AS VARCHAR)"
    return None


def _value_sql(column: str, kind: pa.DataType) -> tuple[str, str] | None:
    """An indicator column as `_numbers` reads it: (the number, NULL where absent; whether a
    value is given that is not a finite number)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if (pa.types.is_integer(kind) or pa.types.is_float32(kind) or pa.types.is_float64(kind)
            or pa.types.is_boolean(kind) or pa.types.is_null(kind)):
        number = f"CAST({column} AS DOUBLE)"
        return number, f"NOT isfinite({number})"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = f"regexp_replace(CAST({column} AS VARCHAR), '^{_SPACE}+|{_SPACE}+$', '', 'g')"
        number = (f"CASE WHEN regexp_full_match({text}, '{_NUMBER}') "
                  f"THEN TRY_CAST(replace({text}, ',', '.') AS DOUBLE) END")
        return (f"CASE WHEN isfinite({number}) THEN {number} END",
                f"length({text}) > 0 AND NOT COALESCE(isfinite({number}), false)")
    return None


def _plan(schema: pa.Schema, positions: dict[str, int], wanted: list[str],
          path: Path) -> _Plan | None:
    """The SQL reading of the wanted columns; None when a type (or a path DuckDB would take
    for a pattern) needs the careful reading."""
    if any(mark in str(path) for mark in "*?[{"):
        return None
    columns = {name: (_quoted(schema.names[i]), schema.types[i])
               for name, i in positions.items()}
    key_name, period_name, *codes = wanted
    key = _text_sql(*columns[key_name])
    period = _text_sql(*columns[period_name])
    values = {code: _value_sql(*columns[code]) for code in codes}
    if key is None or period is None or any(v is None for v in values.values()):
        return None
    return _Plan(key, period, {code: v for code, v in values.items() if v is not None})


def _known(connection: duckdb.DuckDBPyConnection, kind: str, link_keys: Path | None,
           loaded: dict[str, str]) -> str:
    """The temporary table of the households' digests of a key kind, loaded once."""
    if kind not in loaded:
        name = f"known_{len(loaded)}"
        if link_keys is None:
            rows = pa.table({"digest": pa.array(list(LinkKey.objects.filter(kind=kind)
                                                     .values_list("digest", flat=True)),
                                                pa.string())})
            connection.register("known_rows", rows)
            connection.execute(f"CREATE TEMP TABLE {name} AS "  # noqa: S608
                               "SELECT digest FROM known_rows")
            connection.unregister("known_rows")
        else:
            connection.execute(f"CREATE TEMP TABLE {name} AS SELECT "  # noqa: S608
                               "CAST(digest AS VARCHAR) AS digest FROM read_parquet($files) "
                               "WHERE kind = $kind", {"files": str(link_keys), "kind": kind})
        loaded[kind] = name
    return loaded[kind]


def _double(value: float) -> str:
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _check_and_write_sql(connection: duckdb.DuckDBPyConnection, source: Source, path: Path,
                         plan: _Plan, known_table: str, report: Import) -> None:
    """`_check_and_write` in DuckDB: the same checks in the same order (the first problem of
    a line is its reason), the same duplicates, feed months and report."""
    scan, file = "read_parquet($file, file_row_number = true)", {"file": str(path)}
    # Few distinct periods: each is read as the careful reading does, in Python.
    raw = [row[0] for row in connection.execute(
        f"SELECT DISTINCT {plan.period} FROM {scan}", file).fetchall()]  # noqa: S608
    connection.register("file_months", pa.table({
        "raw": pa.array(raw, pa.string()),
        "month": pa.array([_month(text or "") or None for text in raw], pa.string())}))

    indicators = list(source.indicators.order_by("code"))
    checks: list[tuple[str, str, str]] = [
        (f"link = '' AND regexp_full_match(COALESCE(key, ''), '{_SPACE}*')",
         source.key_column, str(KEY_EMPTY)),
        ("link = ''", source.key_column, str(KEY_NOTHING_LEFT)),
        ("month IS NULL", source.period_column, str(NOT_A_MONTH)),
        (f"month > '{timezone.localdate():%Y-%m}'", source.period_column, str(MONTH_TO_COME)),
    ]
    for i, indicator in enumerate(indicators):
        value, code = f"v{i}", indicator.code
        checks.append((f"u{i}", code, str(NOT_A_NUMBER)))
        if indicator.kind == IndicatorKind.FLAG:
            checks.append((f"{value} NOT IN (0, 1)", code, str(NOT_A_FLAG)))
        elif indicator.kind in (IndicatorKind.COUNT, IndicatorKind.DAYS):
            checks.append((f"{value} <> floor({value})", code, str(NOT_WHOLE)))
        checks.append((f"{value} < {_double(indicator.minimum)}", code,
                       BELOW_MINIMUM % {"minimum": _number(indicator.minimum)}))
        if indicator.maximum is not None:
            checks.append((f"{value} > {_double(indicator.maximum)}", code,
                           ABOVE_MAXIMUM % {"maximum": _number(indicator.maximum)}))
    problem = " ".join(f"WHEN {condition} THEN {n}"
                       for n, (condition, _column, _reason) in enumerate(checks, start=1))
    numbers = [f"v{i}" for i in range(len(indicators))]
    columns = ", ".join(f"{number} AS v{i}, {unreadable} AS u{i}" for i, (number, unreadable)
                        in enumerate(plan.values[i.code] for i in indicators))
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE checked AS SELECT line, link, month, "  # noqa: S608
        f"{', '.join(numbers)}, CASE {problem} ELSE 0 END AS problem FROM ("
        f"SELECT f.*, {pseudonym.digest_sql(source.key_kind, 'f.key')} AS link, m.month "
        f"FROM (SELECT file_row_number + 1 AS line, {plan.key} AS key, {plan.period} AS raw, "
        f"{columns} FROM {scan}) f LEFT JOIN file_months m ON m.raw = f.raw)", file)
    connection.unregister("file_months")
    # A good line whose digest and month an earlier good line had already is a duplicate.
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE firsts AS SELECT link, month, min(line) AS first "
        "FROM checked WHERE problem = 0 GROUP BY link, month HAVING count(*) > 1")
    connection.execute(
        "UPDATE checked SET problem = -1 FROM firsts f WHERE checked.problem = 0 AND "
        "f.link = checked.link AND f.month = checked.month AND f.first <> checked.line")
    connection.execute("CREATE OR REPLACE TEMP VIEW kept AS "
                       "SELECT * EXCLUDE (problem) FROM checked WHERE problem = 0")
    rejected = connection.sql(
        "SELECT c.line, c.problem, f.first FROM checked c LEFT JOIN firsts f ON "
        "c.problem = -1 AND f.link = c.link AND f.month = c.month "
        "WHERE c.problem <> 0 ORDER BY c.line").fetchall()
    kept = connection.sql("SELECT count(*) FROM kept").fetchall()[0][0]
    linked = connection.sql(f"SELECT count(*) FROM kept WHERE link IN "  # noqa: S608
                            f"(SELECT digest FROM {known_table})").fetchall()[0][0]

    # In feeds.write's order: the kept lines by link (one a month), each one's values by
    # code; DuckDB keeps the order of a sorted subquery through unnest and filter.
    by_code = sorted(range(len(indicators)), key=lambda i: indicators[i].code)
    codes = ", ".join("'{}'".format(indicators[i].code.replace("'", "''")) for i in by_code)
    values = ", ".join(f"v{i} + 0.0" for i in by_code)  # + 0.0: no -0.0
    written = []
    for (month,) in connection.sql("SELECT DISTINCT month FROM kept ORDER BY month").fetchall():
        long = ("SELECT link, indicator, value FROM (SELECT link, "  # noqa: S608
                f"unnest([{codes}]) AS indicator, unnest([{values}]) AS value FROM "
                f"(SELECT * FROM kept WHERE month = '{month}' ORDER BY link)) "
                "WHERE value IS NOT NULL")
        written.append(_write_month(connection, source.code, month, long))

    report.unchanged = not any(written)
    report.rows_read = connection.sql("SELECT count(*) FROM checked").fetchall()[0][0]
    report.rows_kept = kept
    report.rows_rejected = len(rejected)
    report.rows_unlinked = kept - linked
    with transaction.atomic():
        RejectedRow.objects.bulk_create(
            (RejectedRow(import_run=report, line=line, column=column[:60], reason=reason[:300])
             for line, column, reason in (
                 (line, "", DUPLICATE % {"line": first}) if problem < 0
                 else (line, *checks[problem - 1][1:]) for line, problem, first in rejected)),
            batch_size=2000)


def _write_month(connection: duckdb.DuckDBPyConnection, source: str, month: str,
                 long: str) -> bool:
    """`feeds.write` of the rows of `long` (link, indicator, value, in its order), written
    by DuckDB, replacing the month whole; False when the month held them already."""
    path = feeds.partition(source, month)
    if path.exists() and _holds(connection, path, long):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".parquet.tmp")
    target = str(temporary).replace("'", "''")
    connection.execute(f"COPY ({long}) TO '{target}' "
                       "(FORMAT parquet, COMPRESSION zstd)")
    os.replace(temporary, path)  # readers see the old month or the new one, never half
    return True


def _holds(connection: duckdb.DuckDBPyConnection, path: Path, long: str) -> bool:
    """Whether the month's file holds the rows of `long`, in `feeds.write`'s order."""
    old = ("SELECT file_row_number AS n, CAST(link AS VARCHAR) AS link, "
           "CAST(indicator AS VARCHAR) AS indicator, CAST(value AS DOUBLE) AS value FROM "
           "read_parquet($old, file_row_number = true)")
    new = ("SELECT row_number() OVER (ORDER BY link, indicator) - 1 AS n, link, "  # noqa: S608
           f"indicator, value FROM ({long})")
    try:
        differ = connection.execute(
            f"SELECT count(*) FROM ({old}) o FULL JOIN ({new}) w ON o.n = w.n "  # noqa: S608
            "WHERE o.link IS DISTINCT FROM w.link OR o.indicator IS DISTINCT FROM "
            "w.indicator OR o.value IS DISTINCT FROM w.value", {"old": str(path)}
        ).fetchall()[0][0]
    except duckdb.Error:
        return False  # unreadable as a month of the feed: written again
    return differ == 0
