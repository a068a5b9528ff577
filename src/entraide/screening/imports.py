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
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import feeds, pseudonym
from .models import Import, Indicator, IndicatorKind, LinkKey, RejectedRow, Source

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = {".parquet", ".parq", ".pq"}
SHOWN_REJECTIONS = 20
# Digits with an optional decimal point or comma and exponent; no thousands separator.
_NUMBER = r"^[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?$"
_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}(-[0-9]{2})?")


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
    source = Source.objects.filter(code=source_code).first()
    if source is None:
        known = ", ".join(Source.objects.order_by("code").values_list("code", flat=True))
        raise ImportRefused(_("No data source has the code %(code)s (known sources: "
                              "%(known)s).") % {"code": repr(source_code),
                                                 "known": known or "-"})
    report = Import.objects.create(source=source, file_name=Path(path).name[:300])
    try:
        records, ignored = _read(source, Path(path), report)
    except ImportRefused as refusal:
        report.error = str(refusal)
        report.finished_at = timezone.now()
        report.save()
        raise
    _check_and_write(source, records, report)
    report.ignored_columns = ignored
    report.finished_at = timezone.now()
    report.save()
    return report


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
    if not source.active:
        raise ImportRefused(_("The source %(code)s is switched off: it takes no file.")
                            % {"code": source.code})
    indicators = list(source.indicators.order_by("code"))
    if not indicators:
        raise ImportRefused(_("The source %(code)s has no indicator yet: declare its "
                              "columns first.") % {"code": source.code})
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImportRefused(_("The file cannot be read: %(error)s.")
                            % {"error": error.strerror or error}) from None
    report.file_sha256 = hashlib.sha256(data).hexdigest()
    wanted = [source.key_column, source.period_column] + [i.code for i in indicators]
    if data.startswith(PARQUET_MAGIC) or path.suffix.lower() in PARQUET_SUFFIXES:
        return _read_parquet(data, wanted)
    return _read_csv(data, wanted)


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
        raise ImportRefused(_("The file is not a readable Parquet file (%(error)s).")
                            % {"error": str(error)[:200]}) from None
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


def _check_and_write(source: Source, records: _Records, report: Import) -> None:
    """Check every record, write the kept ones to the feed by month, fill the report."""
    size = len(records.lines)
    problems = _Problems(size)
    key = pc.utf8_trim_whitespace(pc.cast(records.key, pa.string()))
    problems.flag(~_mask(pc.greater(pc.utf8_length(key), 0)), source.key_column,
                  _("the key is empty"))
    distinct = pc.dictionary_encode(key)
    digests = pa.array([pseudonym.digest(source.key_kind, value)
                        for value in distinct.dictionary.to_pylist()], pa.string())
    links = pc.take(digests, distinct.indices)
    problems.flag(_mask(pc.equal(links, "")), source.key_column,
                  _("nothing is left of the key once spaces and punctuation are removed"))

    periods = pc.dictionary_encode(pc.cast(records.period, pa.string()))
    months = pc.take(pa.array([_month(p or "") for p in periods.dictionary.to_pylist()],
                              pa.string()), periods.indices)
    problems.flag(_mask(pc.equal(months, "")) | _mask(pc.is_null(months)),
                  source.period_column, _("not a month (YYYY-MM or YYYY-MM-DD)"))
    this_month = timezone.localdate().strftime("%Y-%m")
    problems.flag(_mask(pc.greater(months, this_month)), source.period_column,
                  _("a month still to come"))

    indicators = list(source.indicators.order_by("code"))
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for indicator in indicators:
        numbers, given, unreadable = _numbers(records.values[indicator.code])
        code = indicator.code
        problems.flag(unreadable, code, _("not a number"))
        with np.errstate(invalid="ignore"):
            if indicator.kind == IndicatorKind.FLAG:
                problems.flag(given & (numbers != 0) & (numbers != 1), code, _("not 0 or 1"))
            elif indicator.kind in (IndicatorKind.COUNT, IndicatorKind.DAYS):
                problems.flag(given & (numbers != np.floor(numbers)), code,
                              _("not a whole number"))
            problems.flag(given & (numbers < indicator.minimum), code,
                          _("below the lowest valid value (%(minimum)s)")
                          % {"minimum": _number(indicator.minimum)})
            if indicator.maximum is not None:
                problems.flag(given & (numbers > indicator.maximum), code,
                              _("above the highest valid value (%(maximum)s)")
                              % {"maximum": _number(indicator.maximum)})
        values[code] = numbers, given

    _flag_duplicates(problems, links, months, records.lines)
    good = problems.good()

    kept = np.flatnonzero(good)
    kept_links = pc.take(links, pa.array(kept))
    kept_months = pc.take(months, pa.array(kept))
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
        problems.flag_one(int(candidates[position]), "", _("duplicate of line %(line)d")
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
