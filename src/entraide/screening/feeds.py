"""Where feed values are kept: Parquet files, one per source and month, under
ENTRAIDE_SCREENING_DIR/feeds/source=<code>/period=<YYYY-MM>/data.parquet.

Each file holds the long table (link, indicator, value): `link` is the pseudonymous digest
(`pseudonym.digest`), never an identifier. A month's file is the provider's whole picture of
that month: importing a file again rewrites the months it covers, with the same content if
it is the same file. The layout is Hive partitioning, which DuckDB and Spark both read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

SCHEMA = pa.schema([("link", pa.string()), ("indicator", pa.string()), ("value", pa.float64())])


def root() -> Path:
    return Path(settings.ENTRAIDE_SCREENING_DIR)


def feeds_dir() -> Path:
    return root() / "feeds"


def partition(source: str, period: str) -> Path:
    return feeds_dir() / f"source={source}" / f"period={period}" / "data.parquet"


def fingerprint(table: pa.Table) -> str:
    """What a month's data is, whatever the order of its rows: the same rows, the same
    fingerprint."""
    ordered = table.sort_by([("link", "ascending"), ("indicator", "ascending")])
    digest = hashlib.sha256()
    for column in ordered.columns:
        for chunk in column.chunks:
            for buffer in chunk.buffers():
                if buffer is not None:
                    digest.update(buffer)
    return digest.hexdigest()


def write(source: str, period: str, table: pa.Table) -> bool:
    """Make `table` the month's data of `source`; False when it was that already."""
    table = table.cast(SCHEMA).sort_by([("link", "ascending"), ("indicator", "ascending")])
    path = partition(source, period)
    if path.exists():
        current = pq.read_table(path).cast(SCHEMA)
        if current.equals(table):
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".parquet.tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)  # readers see the old month or the new one, never half
    return True


def periods(source: str) -> list[str]:
    """The months held for a source, oldest first."""
    folder = feeds_dir() / f"source={source}"
    if not folder.exists():
        return []
    return sorted(p.name.split("=", 1)[1] for p in folder.glob("period=*")
                  if (p / "data.parquet").exists())


def purge(source: str, retention_days: int, today: dt.date | None = None) -> list[str]:
    """Delete the months of `source` older than its retention; returns those deleted. A
    month is kept until its last day is past retention."""
    today = today or dt.date.today()
    removed = []
    for period in periods(source):
        year, month = (int(part) for part in period.split("-"))
        following = dt.date(year + month // 12, month % 12 + 1, 1)
        if (today - (following - dt.timedelta(days=1))).days > retention_days:
            shutil.rmtree(partition(source, period).parent)
            removed.append(period)
    return removed
