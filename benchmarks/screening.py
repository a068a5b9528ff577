"""Screening at a country's scale: the providers' files imported, every household's features
built and scored, the leads chosen, step by step, beside one bare DuckDB scan of the files.

`entraide bench screening [--households 10000000] [--seed 42] [--engine duckdb|spark]
[--dir DATA_DIR/bench-screening] [--memory-limit 50%] [--leads-per-team 20] [--threshold 0.5]
[--check]`

Prepared once per households and seed, untimed, under --dir: what the six synthetic
providers send for two months — one Parquet file per source and month, a row per household
with something to report, the raw key (identifier or address, written the provider's way),
the period and one column per indicator — with the population, its link keys (digests of
the same identifiers and addresses), the hidden truth, and a LightGBM model trained on other
synthetic households. Then, in this process, into a fresh feed folder:

- import_s: every provider file through `imports.import_parquet_files` (checks, link
  digests, duplicates, feed months written; `Import` and `RejectedRow` in --db);
- features_s: `pipeline.score` up to the features of every household, materialised;
- scoring_s: the rest of it: scorecard, learned model, scores back in this process;
- leads_s: the households without an open case file scoring at least --threshold, at most
  --leads-per-team per team (`runs.select`; one team per territory here), their features
  and explanations, written to a Parquet file — nothing in the database;
- baseline_scan_s: one `SELECT count(*), sum(...)` by DuckDB over the same provider files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.core.management import call_command

from benchmarks.cases import say, use_database
from entraide.screening import engines, feeds, imports, learning, pipeline, pseudonym, runs, synth
from entraide.screening.models import KeyKind

MONTHS = 2
TRAINING_HOUSEHOLDS = 50_000
BAD_ROWS = 1e-4  # share of provider rows with a value below its minimum: rejected on import
ROW_GROUP = 131_072
# Addresses made up per household, unique once normalised: number, street, postcode.
NUMBERS = 400
STREETS = ("rue de l'Église", "avenue du Maréchal Foch", "place de la Mairie",
           "chemin des Écoliers", "impasse des Tilleuls", "boulevard Gambetta",
           "rue Jean Jaurès", "allée des Châtaigniers", "route de Sainte-Foy",
           "quai Aristide Briand", "rue du Moulin", "cours Victor Hugo", "rue des Œillets",
           "place du Marché", "chemin de la Côte", "rue Pasteur")
COMMUNES = ("Agen", "Villeneuve-sur-Lot", "Marmande", "Nérac", "Tonneins", "Fumel")
VERSION = 1  # of the prepared data: a new layout prepares again


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="entraide bench screening")
    parser.add_argument("--households", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=Path(settings.DATA_DIR) / "bench-screening")
    parser.add_argument("--db", type=Path,
                        default=Path(settings.DATA_DIR) / "bench-screening.sqlite3")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    parser.add_argument("--memory-limit", default="50%",
                        help="DuckDB's memory for features and scoring (default 50%%, as a "
                             "run has it: the database and web workers live beside it).")
    parser.add_argument("--leads-per-team", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=runs.DEFAULT_THRESHOLD["learned"],
                        help="Lowest learned score of a lead (default 0.5).")
    parser.add_argument("--check", action="store_true",
                        help="Also score with pipeline.score as it is and compare (small runs).")
    return parser.parse_args(argv)


# --- the prepared data (cached, not timed) --------------------------------------------------

def _sql_list(values: tuple[str, ...]) -> str:
    return "[{}]".format(", ".join("'{}'".format(v.replace("'", "''")) for v in values))


KEY_MACROS = (
    "CREATE MACRO identifier_of(h) AS '99' || lpad(CAST(h AS VARCHAR), 11, '0')",
    f"CREATE MACRO address_of(h) AS CAST(h % {NUMBERS} + 1 AS VARCHAR) || ' ' || "
    f"{_sql_list(STREETS)}[(h // {NUMBERS}) % {len(STREETS)} + 1] || ' ' || "
    f"CAST(10000 + h // {NUMBERS * len(STREETS)} AS VARCHAR) || ' ' || "
    f"{_sql_list(COMMUNES)}[(h // {NUMBERS * len(STREETS)}) % {len(COMMUNES)} + 1]",
    # Written the provider's way: spaced identifiers, addresses in capitals or with a comma.
    "CREATE MACRO identifier_sent(h, variant) AS CASE WHEN variant < 0.3 THEN "
    "substr(identifier_of(h), 1, 2) || ' ' || substr(identifier_of(h), 3, 5) || ' ' || "
    "substr(identifier_of(h), 8) ELSE identifier_of(h) END",
    "CREATE MACRO address_sent(h, variant) AS CASE WHEN variant < 0.3 THEN upper(address_of(h)) "
    "WHEN variant < 0.5 THEN regexp_replace(address_of(h), ' ', ', ') ELSE address_of(h) END",
    # A record that fails to link, as synth's: BIS after the first word.
    "CREATE MACRO mangled(k) AS split_part(k, ' ', 1) || ' BIS ' || "
    "substr(k, length(split_part(k, ' ', 1)) + 2)",
)


def _new_connection() -> engines.DuckDBEngine:
    engine = engines.DuckDBEngine()
    engine.connection.execute("SET enable_progress_bar = false")
    return engine


def key_check() -> str:
    """What the link keys depend on: a digest under this installation's key."""
    return pseudonym.digest(KeyKind.IDENTIFIER, "0")


def prepared_dir(options: argparse.Namespace) -> Path:
    return options.dir / f"{options.households}-{options.seed}"


def prepare(options: argparse.Namespace) -> dict[str, Any]:
    """The provider files, population, link keys, truth and model, made once and reused."""
    folder = prepared_dir(options)
    manifest = folder / "manifest.json"
    if manifest.exists():
        known = json.loads(manifest.read_text())
        if known.get("version") == VERSION and known.get("key_check") == key_check():
            say(f"reusing the prepared data in {folder}")
            return known
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    end = synth.last_month()
    periods = synth._periods(end, MONTHS)
    written = provider_files(options.households, options.seed, periods, folder)
    train_model(options.seed, end, folder)
    known = {"version": VERSION, "key_check": key_check(), "households": options.households,
             "seed": options.seed, "end": end, "periods": periods, **written}
    manifest.write_text(json.dumps(known, indent=1))
    say(f"prepared in {time.perf_counter() - started:.0f} s")
    return known


def provider_files(households: int, seed: int, periods: list[str],
                   folder: Path) -> dict[str, Any]:
    """Population, link keys, truth and the providers' files of `households` synthetic
    households, a million at a time (synth's draws, raw keys attached)."""
    inbox = folder / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    territories = max(3, households // 50_000)
    spec = {s.code: s for s in synth.REGISTRY}
    engine = _new_connection()
    db = engine.connection
    for macro in KEY_MACROS:
        db.execute(macro)
    writers: dict[str, pq.ParquetWriter] = {}
    rows = 0

    def write(name: str, path: Path, table: pa.Table) -> None:
        if name not in writers:
            writers[name] = pq.ParquetWriter(path, table.schema, compression="zstd")
        writers[name].write_table(table, row_group_size=ROW_GROUP)

    try:
        for index, start in enumerate(range(0, households, synth.CHUNK)):
            stop = min(start + synth.CHUNK, households)
            say(f"preparing households {start + 1}-{stop} of {households}")
            rng = np.random.default_rng([seed, index, 7])
            n = stop - start
            ids = np.arange(start + 1, stop + 1, dtype=np.int64)
            age = rng.choice(len(synth.AGE_SHARES), n, p=synth.AGE_SHARES).astype(np.int8)
            kind = rng.choice(len(synth.TYPE_SHARES), n, p=synth.TYPE_SHARES).astype(np.int8)
            chunk = synth.generate(ids, age, kind, seed, periods, index)
            followed = rng.random(n) < np.where(chunk.crisis, 0.3, 0.04)
            write("population", folder / "population.parquet", pa.table({
                "household_id": ids,
                "territory_id": rng.integers(1, territories + 1, n, dtype=np.int64),
                "open_case": followed}))
            write("truth", folder / "truth.parquet",
                  pa.table({"household_id": ids, "in_crisis": chunk.crisis}))
            db.register("chunk_ids", pa.table({"h": ids}))
            write("link_keys", folder / "link_keys.parquet", db.sql(
                "SELECT h AS household_id, kind, CASE kind WHEN 'address' THEN "  # noqa: S608
                f"{pseudonym.digest_sql(KeyKind.ADDRESS, 'address_of(h)')} ELSE "
                f"{pseudonym.digest_sql(KeyKind.IDENTIFIER, 'identifier_of(h)')} END AS digest "
                "FROM chunk_ids, (VALUES ('address'), ('identifier')) k(kind) "
                "ORDER BY kind, h").to_arrow_table())
            for period in periods:
                for code, matrix in chunk.months[period].items():
                    source = spec[code]
                    sent = np.flatnonzero(np.any(np.nan_to_num(matrix) != 0, axis=1))
                    values = matrix[sent]
                    values[rng.random(len(sent)) < BAD_ROWS, 0] = -1.0
                    db.register("sent", pa.table({
                        "h": ids[sent], "variant": rng.random(len(sent)),
                        "linked": chunk.linked[period][code][sent],
                        **{f"v{i}": pa.array(values[:, i], from_pandas=True)
                           for i in range(values.shape[1])}}))
                    key = f"{source.key_kind}_sent(h, variant)"
                    indicators = ", ".join(f'v{i} AS "{item.code}"'
                                           for i, item in enumerate(source.indicators))
                    name = f"{code}-{period}"
                    write(name, inbox / f"{name}.parquet", db.sql(
                        f"SELECT CASE WHEN linked THEN {key} ELSE mangled({key}) END "  # noqa: S608
                        f'AS "{source.key_column}", \'{period}\' AS period, {indicators} '
                        "FROM sent").to_arrow_table())
                    rows += len(sent)
    finally:
        for writer in writers.values():
            writer.close()
        engine.close()
    files = sorted(p.name for p in inbox.glob("*.parquet"))
    return {"provider_rows": rows, "provider_files": files}


def train_model(seed: int, end: str, folder: Path) -> None:
    """A model trained on other synthetic households (their pseudonymised feeds)."""
    sample = folder / "training"
    say(f"training the model on {TRAINING_HOUSEHOLDS} other households")
    synth.without_database(TRAINING_HOUSEHOLDS, sample, seed + 1, MONTHS, end)
    with engines.engine("duckdb") as engine:
        scored = pipeline.score(engine, feeds=sample / "feeds",
                                population=sample / "population.parquet",
                                link_keys=sample / "link_keys.parquet",
                                registry=synth.registry(), as_of=as_of(end), with_features=True)
    truth = pq.read_table(sample / "truth.parquet")
    if not truth["household_id"].equals(scored.table["household_id"]):
        raise RuntimeError("the training sample's truth is not in the households' order")
    model = learning.train(scored.table, truth["in_crisis"].to_numpy(zero_copy_only=False),
                           [c.name for c in scored.columns], seed=seed,
                           origin="synthetic truth")
    learning.save(model, folder / "model")
    shutil.rmtree(sample)


def as_of(end: str) -> dt.date:
    """The day after the last month of the data: every source's month is fresh."""
    year, month = (int(part) for part in end.split("-"))
    return dt.date(year + month // 12, month % 12 + 1, 1)


# --- the timed steps --------------------------------------------------------------------------

class Staged(engines.ScreeningEngine):
    """An engine that materialises the pipeline's `features` and notes when they are done,
    so that building features and scoring them are timed apart."""

    def __init__(self, inner: engines.ScreeningEngine):
        self.inner, self.name = inner, inner.name
        self.features_at = 0.0

    def register_parquet(self, name: str, path: str | Path,
                         hive_partitioning: bool = True) -> None:
        self.inner.register_parquet(name, path, hive_partitioning)

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.inner.register_arrow(name, table)

    def create_view(self, name: str, query: str) -> None:
        if name == "features":
            self.inner.create_table(name, query)
            self.features_at = time.perf_counter()
        else:
            self.inner.create_view(name, query)

    def create_table(self, name: str, query: str) -> None:
        self.inner.create_table(name, query)

    def map_batches(self, name: str, source_query: str, fn: engines.BatchFunction,
                    schema: pa.Schema) -> None:
        self.inner.map_batches(name, source_query, fn, schema)

    def to_arrow(self, query: str, schema: pa.Schema | None = None) -> pa.Table:
        return self.inner.to_arrow(query, schema)

    def write_parquet(self, query: str, path: str | Path) -> None:
        self.inner.write_parquet(query, path)

    def close(self) -> None:
        self.inner.close()


def open_engine(name: str, memory_limit: str = "50%") -> engines.ScreeningEngine:
    if name != "duckdb":
        return engines.engine(name)
    inner = engines.DuckDBEngine(memory_limit=memory_limit)
    inner.connection.execute("SET enable_progress_bar = false")
    return inner


def baseline_scan(inbox: Path) -> float:
    """Seconds of one bare DuckDB scan of the provider files: rows, key lengths, values."""
    parts = []
    for source in synth.REGISTRY:
        files = sorted(str(p) for p in inbox.glob(f"{source.code}-*.parquet"))
        total = " + ".join(f'COALESCE("{i.code}", 0)' for i in source.indicators)
        parts.append(f'SELECT strlen("{source.key_column}") AS size, {total} AS total '  # noqa: S608
                     f"FROM read_parquet({files!r})")
    engine = _new_connection()
    try:
        started = time.perf_counter()
        engine.connection.sql("SELECT count(*), sum(size), sum(total) FROM ("  # noqa: S608
                              + " UNION ALL ".join(parts) + ")").fetchall()
        return time.perf_counter() - started
    finally:
        engine.close()


def leads(engine: engines.ScreeningEngine, scored: pipeline.Scored, model: learning.Model,
          population: Path, options: argparse.Namespace, out: Path) -> int:
    """Choose the leads as a run does (one team per territory here), explain them and write
    them to `out`; returns how many."""
    people = pq.read_table(population, columns=["household_id", "territory_id", "open_case"])
    table = scored.table
    if not pc.all(pc.equal(table["household_id"], people["household_id"])).as_py():
        raise RuntimeError("the pipeline did not return one row per household, in order")
    score = np.nan_to_num(table["learned"].to_numpy(zero_copy_only=False))
    eligible = ~people["open_case"].to_numpy(zero_copy_only=False)
    teams = people["territory_id"].to_numpy()
    chosen = runs.select(score, eligible, teams, options.threshold, options.leads_per_team)
    ids = table["household_id"].take(pa.array(chosen, pa.int64()))
    rows = pipeline.features(engine, scored, ids.to_pylist())
    reasons = learning.explain_learned(model, rows, scored.columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "household_id": ids, "team_id": pa.array(teams[chosen], pa.int64()),
        "learned": rows["learned"], "scorecard": rows["scorecard"],
        "explanation": pa.array([json.dumps(why, ensure_ascii=False) for why in reasons],
                                pa.string())}), out)
    return len(chosen)


def check(scored: pipeline.Scored, data: dict[str, Any], model: learning.Model,
          folder: Path) -> None:
    """pipeline.score as it is gives the scores the staged run gave."""
    with open_engine("duckdb") as engine:
        plain = pipeline.score(engine, feeds=feeds.feeds_dir(),
                               population=folder / "population.parquet",
                               link_keys=folder / "link_keys.parquet", registry=runs.registry(),
                               as_of=as_of(data["end"]), model=model)
    same = (plain.table.select(["household_id", "scorecard", "reported"])
            .equals(scored.table.select(["household_id", "scorecard", "reported"])))
    gap = np.max(np.abs(plain.table["learned"].to_numpy() - scored.table["learned"].to_numpy()))
    if not same or gap > 1e-9:
        raise RuntimeError(f"the staged pipeline differs from pipeline.score (learned {gap})")
    say("check: the staged pipeline gives pipeline.score's scores")


def run(argv: list[str]) -> dict[str, Any]:
    options = parse(argv)
    use_database(options.db)
    call_command("migrate", interactive=False, verbosity=0, stdout=sys.stderr)
    synth.register()
    data = prepare(options)
    folder = prepared_dir(options)
    model = learning.latest(folder / "model")
    if model is None:
        raise RuntimeError(f"no model in {folder / 'model'}: delete {folder} to prepare again")
    inbox = folder / "inbox"
    files = [(name.split("-", 1)[0], inbox / name) for name in data["provider_files"]]
    settings.ENTRAIDE_SCREENING_DIR = options.dir / "screening"
    shutil.rmtree(feeds.feeds_dir(), ignore_errors=True)  # each run imports afresh
    registry = runs.registry()
    indicators = len(pipeline.columns(registry))
    if options.engine == "spark":
        engines.spark_session()  # the JVM's start is not the pipeline's time
    baseline_s = baseline_scan(inbox)
    say(f"baseline scan: {baseline_s:.2f} s; importing {len(files)} files")

    started = time.perf_counter()
    reports = imports.import_parquet_files(files, link_keys=folder / "link_keys.parquet")
    import_s = time.perf_counter() - started
    say(f"import: {import_s:.2f} s")

    with Staged(open_engine(options.engine, options.memory_limit)) as engine:
        started = time.perf_counter()
        scored = pipeline.score(engine, feeds=feeds.feeds_dir(),
                                population=folder / "population.parquet",
                                link_keys=folder / "link_keys.parquet", registry=registry,
                                as_of=as_of(data["end"]), model=model)
        scored_at = time.perf_counter()
        features_s, scoring_s = engine.features_at - started, scored_at - engine.features_at
        say(f"features: {features_s:.2f} s, scoring: {scoring_s:.2f} s")
        lead_count = leads(engine, scored, model, folder / "population.parquet", options,
                           options.dir / "screening" / "runs" / "bench" / "leads.parquet")
        leads_s = time.perf_counter() - scored_at
        say(f"leads: {leads_s:.2f} s ({lead_count})")
    if options.check:
        check(scored, data, model, folder)

    with _new_connection() as counter:
        feed_values = counter.connection.execute(
            "SELECT count(*) FROM read_parquet($files)",
            {"files": str(feeds.feeds_dir() / "**" / "*.parquet")}).fetchall()[0][0]
    total_s = import_s + features_s + scoring_s + leads_s
    provider_rows = sum(r.rows_read for r in reports)
    return {
        "households": options.households, "indicators": indicators, "engine": options.engine,
        "memory_limit": options.memory_limit,
        "provider_files": len(files), "provider_rows": provider_rows,
        "rows_rejected": sum(r.rows_rejected for r in reports),
        "rows_unlinked": sum(r.rows_unlinked for r in reports),
        "feed_values": feed_values, "leads": lead_count,
        "import_s": round(import_s, 3), "features_s": round(features_s, 3),
        "scoring_s": round(scoring_s, 3), "leads_s": round(leads_s, 3),
        "total_s": round(total_s, 3),
        "rows_per_s": round(options.households * indicators / total_s),
        "feed_values_per_s": round(feed_values / total_s),
        "import_rows_per_s": round(provider_rows / import_s),
        "baseline_scan_s": round(baseline_s, 3),
    }
