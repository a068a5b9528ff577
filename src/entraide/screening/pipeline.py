"""The screening pipeline, defined once: feeds and link keys in, one scored row per household
out, on any `engines.ScreeningEngine` (DuckDB on one machine, Spark for a country).

1. Each source's latest month within its refresh window (an older month is stale: it says
   nothing of today).
2. Its records meet the households on the link digest (`LinkKey` = feed `link`), one column
   per indicator, 0 where nothing is reported.
3. The scorecard: the points of every indicator that reaches its threshold, in SQL.
4. The learned score: the LightGBM model applied batch by batch (`map_batches`).

The SQL is generated from the registry in the subset both engines run alike (see
`engines`); codes and periods are checked before they are spliced into it. Nothing here
needs the database: the run (`runs.py`) and the benchmark give the inputs.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from .engines import ScreeningEngine
    from .learning import Model

_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}")
KEY_KINDS = ("address", "identifier")


@dataclass(frozen=True)
class Column:
    """One indicator as the pipeline sees it: a feature column and its scorecard line."""

    source: str
    indicator: str
    label: str
    threshold: float
    points: int
    explanation: str = ""

    @property
    def name(self) -> str:
        """The feature's column name: `<source>__<indicator>`, a plain SQL name."""
        return f"{self.source}__{self.indicator}".replace("-", "_")


@dataclass(frozen=True)
class Feed:
    """One source as the pipeline sees it: how it links, how long a month stays fresh."""

    source: str
    key_kind: str
    refresh_days: int
    columns: tuple[Column, ...]


@dataclass
class Scored:
    """The pipeline's result: a row per household, and which months were read. The feature
    columns stay on the engine (`features`) unless asked for: at a country's scale only the
    scores come back."""

    table: pa.Table  # household_id, territory_id, scorecard, learned, reported[, features]
    columns: list[Column]
    periods: dict[str, str] = field(default_factory=dict)  # source -> month read
    stale: list[str] = field(default_factory=list)  # sources with no month in their window


def _month(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def _literal(text: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(text):
        raise ValueError(f"{text!r} cannot be used in the screening SQL")
    return f"'{text}'"


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"threshold {value!r} is not a finite number")
    return f"CAST({float(value)!r} AS DOUBLE)"


def columns(registry: Sequence[Feed]) -> list[Column]:
    """Every feature column of the registry, in its order; names are checked unique."""
    out = [column for feed in registry for column in feed.columns]
    names = [column.name for column in out]
    if len(set(names)) != len(names):
        raise ValueError("two indicators give the same column name")
    for column in out:
        _literal(column.source, _CODE)
        _literal(column.indicator, _CODE)
    return out


def _has_files(path: str | Path) -> bool:
    location = Path(path)
    return location.is_file() or (location.is_dir() and any(location.rglob("*.parquet")))


def _register(engine: ScreeningEngine, name: str, data: pa.Table | str | Path,
              wanted: list[str]) -> None:
    if isinstance(data, pa.Table):
        engine.register_arrow(name, data.select(wanted))
    else:
        engine.register_parquet(f"{name}_files", data, hive_partitioning=False)
        engine.create_view(name, f"SELECT {', '.join(wanted)} FROM {name}_files")  # noqa: S608


def latest_periods(engine: ScreeningEngine, registry: Sequence[Feed],
                   as_of: dt.date) -> dict[str, str]:
    """The latest month of each source within its refresh window (the `feeds` view must be
    registered): a month counts while its last day is no older than `refresh_days`."""
    windows = []
    for feed in registry:
        since = _literal(_month(as_of - dt.timedelta(days=feed.refresh_days)), _PERIOD)
        windows.append(f"(source = {_literal(feed.source, _CODE)} AND period >= {since} "
                       f"AND period <= {_literal(_month(as_of), _PERIOD)})")
    if not windows:
        return {}
    rows = engine.to_arrow(
        "SELECT source, MAX(period) AS period FROM feeds "  # noqa: S608 - checked literals
        f"WHERE {' OR '.join(windows)} GROUP BY source").to_pylist()
    return {row["source"]: row["period"] for row in rows}


def _linked_query(registry: Sequence[Feed], periods: dict[str, str]) -> str:
    """The records of the months read, on their household: (household_id, source,
    indicator, value); a digest names one household, through a key of the source's kind."""
    months = []
    for feed in registry:
        if feed.source in periods:
            if feed.key_kind not in KEY_KINDS:
                raise ValueError(f"unknown key kind {feed.key_kind!r}")
            months.append(f"(f.source = {_literal(feed.source, _CODE)} AND f.period = "
                          f"{_literal(periods[feed.source], _PERIOD)} AND k.kind = "
                          f"'{feed.key_kind}')")
    return ("SELECT k.household_id AS household_id, f.source AS source, "  # noqa: S608
            "f.indicator AS indicator, f.value AS value "
            "FROM feeds f JOIN link_keys k ON k.digest = f.link "
            f"WHERE {' OR '.join(months)}")


def _features_query(cols: list[Column], linked: bool) -> str:
    """One row per household, one column per indicator (the largest value when several
    records of a household report it, 0 when none does)."""
    if not linked or not cols:
        zero = "".join(f", CAST(0 AS DOUBLE) AS {c.name}" for c in cols)
        return f"SELECT household_id, territory_id{zero} FROM population"  # noqa: S608
    pivot = ", ".join(
        f"MAX(CASE WHEN source = {_literal(c.source, _CODE)} AND indicator = "
        f"{_literal(c.indicator, _CODE)} THEN value END) AS {c.name}" for c in cols)
    filled = ", ".join(f"COALESCE(x.{c.name}, CAST(0 AS DOUBLE)) AS {c.name}" for c in cols)
    return (f"SELECT p.household_id AS household_id, p.territory_id AS territory_id, "  # noqa: S608
            f"{filled} FROM population p LEFT JOIN "
            f"(SELECT household_id, {pivot} FROM linked GROUP BY household_id) x "
            "ON x.household_id = p.household_id")


def scorecard_sql(cols: list[Column]) -> str:
    """The scorecard as one SQL expression over the feature columns."""
    terms = [f"CASE WHEN {c.name} >= {_number(c.threshold)} THEN {int(c.points)} ELSE 0 END"
             for c in cols if c.points]
    return f"CAST({' + '.join(terms) or '0'} AS DOUBLE)"


def _reported_sql(cols: list[Column]) -> str:
    terms = [f"CASE WHEN {c.name} <> 0 THEN 1 ELSE 0 END" for c in cols]
    return f"CAST({' + '.join(terms) or '0'} AS BIGINT)"


SCORES = pa.schema([("household_id", pa.int64()), ("territory_id", pa.int64()),
                    ("scorecard", pa.float64()), ("learned", pa.float64()),
                    ("reported", pa.int64())])


def schema(cols: Sequence[Column]) -> pa.Schema:
    """The schema of the scored table with its feature columns."""
    return pa.schema([*SCORES, *((c.name, pa.float64()) for c in cols)])


def score(engine: ScreeningEngine, *, feeds: str | Path, population: pa.Table | str | Path,
          link_keys: pa.Table | str | Path, registry: Sequence[Feed], as_of: dt.date,
          model: Model | None = None, with_features: bool = False) -> Scored:
    """Score every household of `population` (household_id, territory_id) from the feed
    months under `feeds` (the Hive layout of `feeds.py`) linked through `link_keys`
    (household_id, kind, digest): scorecard points, the learned probability when a model
    is given, and how many indicators are reported. Tables or Parquet paths; rows come
    back by household_id, with the feature columns when `with_features`; the engine keeps
    the scored table for `features`."""
    cols = columns(registry)
    _register(engine, "population", population, ["household_id", "territory_id"])
    periods: dict[str, str] = {}
    if _has_files(feeds):
        engine.register_parquet("feeds", feeds, hive_partitioning=True)
        periods = latest_periods(engine, registry, as_of)
    if periods:
        _register(engine, "link_keys", link_keys, ["household_id", "kind", "digest"])
        engine.create_view("linked", _linked_query(registry, periods))
    engine.create_view("features", _features_query(cols, bool(periods)))
    engine.create_table("carded", f"SELECT *, {scorecard_sql(cols)} AS scorecard, "  # noqa: S608
                                  f"{_reported_sql(cols)} AS reported FROM features")
    out = schema(cols)
    if model is not None:
        # DuckDB maps the batches one after the other: the model may use every core there;
        # Spark runs a worker per core already.
        scorer = model.scorer(threads=0 if engine.name == "duckdb" else 1)
        known = set(model.features)
        inputs = ", ".join(["household_id", *(c.name for c in cols if c.name in known)])
        # Most households have nothing reported: all their features are 0, and so is their
        # score the same. The model runs once for them and row by row for the others.
        engine.map_batches("learned_scores",
                           f"SELECT {inputs} FROM carded WHERE reported > 0",  # noqa: S608
                           scorer, pa.schema([out.field("household_id"),
                                              out.field("learned")]))
        nothing = _number(float(model.predict(pa.table({"household_id": [0]}))[0]))
        engine.create_view("scored", f"SELECT c.*, COALESCE(l.learned, {nothing}) "  # noqa: S608
                                     "AS learned FROM carded c LEFT JOIN learned_scores l "
                                     "ON l.household_id = c.household_id")
    else:
        engine.create_view("scored", "SELECT *, CAST(NULL AS DOUBLE) AS learned FROM carded")
    wanted = out if with_features else SCORES
    table = engine.to_arrow(f"SELECT {', '.join(wanted.names)} FROM scored "  # noqa: S608
                            "ORDER BY household_id", wanted)
    return Scored(table, cols, periods,
                  [feed.source for feed in registry if feed.source not in periods])


def features(engine: ScreeningEngine, scored: Scored, household_ids: Sequence[int]) -> pa.Table:
    """The scored rows, feature columns included, of some households (leads, a training
    sample), in the order asked, from the engine that scored them."""
    engine.register_arrow("wanted", pa.table({"household_id": pa.array(household_ids,
                                                                       pa.int64())}))
    out = schema(scored.columns)
    names = ", ".join(f"s.{name} AS {name}" for name in out.names)
    table = engine.to_arrow(f"SELECT {names} FROM scored s JOIN wanted w "  # noqa: S608
                            "ON w.household_id = s.household_id", out)
    where = {h: i for i, h in enumerate(table["household_id"].to_pylist())}
    return table.take(pa.array([where[h] for h in household_ids], pa.int64()))
