"""One pipeline, two engines: DuckDB and Spark (local[*]) give the same answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import lightgbm
import numpy as np
import pyarrow as pa
import pytest

from entraide.screening import engines, feeds
from entraide.screening.engines import ScreeningEngine

FEATURES = """
WITH held AS (
    SELECT DISTINCT source, period FROM feed_values
),
recency AS (
    SELECT source, period,
           ROW_NUMBER() OVER (PARTITION BY source ORDER BY period DESC) AS rank
    FROM held
),
latest AS (
    SELECT v.link, v.indicator, v.value
    FROM feed_values AS v
    JOIN recency AS r ON r.source = v.source AND r.period = v.period
    WHERE r.rank = 1
)
SELECT link,
       MAX(CASE WHEN indicator = 'rsa' THEN value END) AS rsa,
       MAX(CASE WHEN indicator = 'unpaid' THEN value END) AS unpaid,
       COALESCE(MAX(CASE WHEN indicator = 'cutoff' THEN value END), 0) AS cutoff
FROM latest
GROUP BY link
"""

EXPECTED_FEATURES = [
    {"link": "h1", "rsa": 550.0, "unpaid": None, "cutoff": 0.0},
    {"link": "h2", "rsa": None, "unpaid": 150.0, "cutoff": 1.0},
    {"link": "h3", "rsa": 300.0, "unpaid": 0.0, "cutoff": 0.0},
]

SCORED = pa.schema([("link", pa.string()), ("score", pa.float64())])


def month(rows: list[tuple[str, str, float]]) -> pa.Table:
    links, indicators, values = zip(*rows, strict=True)
    return pa.table({"link": links, "indicator": indicators, "value": values})


@pytest.fixture
def feed_folder(screening_dir: Path) -> Path:
    """Two sources × two months, written by the feeds module itself."""
    feeds.write("caf", "2025-01", month([("h1", "rsa", 500.0), ("h2", "rsa", 400.0)]))
    feeds.write("caf", "2025-02", month([("h1", "rsa", 550.0), ("h3", "rsa", 300.0)]))
    feeds.write("energie", "2025-01", month([("h1", "unpaid", 80.0), ("h2", "unpaid", 120.0)]))
    feeds.write("energie", "2025-02", month([("h2", "unpaid", 150.0), ("h2", "cutoff", 1.0),
                                             ("h3", "unpaid", 0.0)]))
    return feeds.feeds_dir()


@pytest.fixture(scope="module")
def spark_started() -> None:
    """Starts the process's Spark session once for the module (about five seconds)."""
    reason = engines.spark_unavailable()
    if reason:
        pytest.skip(reason)
    engines.spark_session()


@pytest.fixture(params=["duckdb", "spark"])
def db(request: pytest.FixtureRequest) -> Iterator[ScreeningEngine]:
    if request.param == "spark":
        request.getfixturevalue("spark_started")
    with engines.engine(request.param) as opened:
        yield opened


def rows(table: pa.Table) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda row: str(row["link"]))


def weighted_score(weights_json: str) -> engines.BatchFunction:
    """A scoring function carried as a closure over a plain string, as a model is."""
    def score(batch: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow.compute as pc

        weights = json.loads(weights_json)
        total = pa.array([0.0] * batch.num_rows)
        for column, weight in weights.items():
            total = pc.add(total, pc.multiply(pc.fill_null(batch.column(column), 0.0), weight))
        return pa.RecordBatch.from_arrays([batch.column("link"), total],
                                          names=["link", "score"])
    return score


def lightgbm_score(model: str) -> engines.BatchFunction:
    def score(batch: pa.RecordBatch) -> pa.RecordBatch:
        import lightgbm
        import numpy as np

        booster = lightgbm.Booster(model_str=model)
        matrix = np.column_stack([batch.column(column).to_numpy(zero_copy_only=False)
                                  for column in ("rsa", "unpaid", "cutoff")])
        return pa.RecordBatch.from_arrays([batch.column("link"), pa.array(booster.predict(matrix))],
                                          names=["link", "score"])
    return score


def test_engine_factory_defaults_to_duckdb_and_refuses_unknown_names() -> None:
    with engines.engine() as default:
        assert isinstance(default, engines.DuckDBEngine)
    with pytest.raises(ValueError, match="unknown screening engine"):
        engines.engine("polars")


def test_spark_master_comes_from_the_setting_then_the_environment(
        settings: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRAIDE_SPARK_MASTER", raising=False)
    assert engines.spark_master() == "local[*]"

    monkeypatch.setenv("ENTRAIDE_SPARK_MASTER", "local[2]")
    assert engines.spark_master() == "local[2]"

    settings.ENTRAIDE_SPARK_MASTER = "spark://screening:7077"  # type: ignore[attr-defined]
    assert engines.spark_master() == "spark://screening:7077"


def test_spark_is_said_unavailable_without_java(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert "Java" in (engines.spark_unavailable() or "")


def test_hive_partitions_are_read_as_string_columns(db: ScreeningEngine,
                                                    feed_folder: Path) -> None:
    db.register_parquet("feed_values", feed_folder)

    table = db.to_arrow("SELECT * FROM feed_values")

    assert table.schema == pa.schema([("link", pa.string()), ("indicator", pa.string()),
                                      ("value", pa.float64()), ("source", pa.string()),
                                      ("period", pa.string())])
    assert table.num_rows == 9
    held = db.to_arrow("SELECT DISTINCT source, period FROM feed_values ORDER BY source, period")
    assert held.to_pylist() == [
        {"source": "caf", "period": "2025-01"}, {"source": "caf", "period": "2025-02"},
        {"source": "energie", "period": "2025-01"}, {"source": "energie", "period": "2025-02"}]


def test_a_glob_below_the_hive_root_keeps_the_partition_columns(db: ScreeningEngine,
                                                                feed_folder: Path) -> None:
    db.register_parquet("feed_values", feed_folder / "source=caf" / "period=*" / "data.parquet")

    table = db.to_arrow("SELECT DISTINCT source, period FROM feed_values ORDER BY period")

    assert table.to_pylist() == [{"source": "caf", "period": "2025-01"},
                                 {"source": "caf", "period": "2025-02"}]


def test_features_from_the_latest_month_of_each_source(db: ScreeningEngine,
                                                       feed_folder: Path) -> None:
    db.register_parquet("feed_values", feed_folder)
    db.create_view("features", FEATURES)

    table = db.to_arrow("SELECT * FROM features")

    assert rows(table) == EXPECTED_FEATURES
    assert table.schema == pa.schema([("link", pa.string()), ("rsa", pa.float64()),
                                      ("unpaid", pa.float64()), ("cutoff", pa.float64())])


def test_map_batches_adds_a_computed_column(db: ScreeningEngine, feed_folder: Path) -> None:
    db.register_parquet("feed_values", feed_folder)
    db.create_table("features", FEATURES)
    weights = json.dumps({"rsa": -0.01, "unpaid": 0.1, "cutoff": 10.0})

    db.map_batches("scores", "SELECT * FROM features", weighted_score(weights), SCORED)

    assert rows(db.to_arrow("SELECT link, score FROM scores")) == [
        {"link": "h1", "score": pytest.approx(-5.5)},
        {"link": "h2", "score": pytest.approx(25.0)},
        {"link": "h3", "score": pytest.approx(-3.0)}]


def test_map_batches_scores_with_a_lightgbm_model_carried_as_a_string(
        db: ScreeningEngine, feed_folder: Path) -> None:
    generator = np.random.default_rng(7)
    matrix = generator.normal(size=(200, 3)) * [200.0, 50.0, 0.5]
    labels = (matrix[:, 1] > 0).astype(int)
    booster = lightgbm.train({"objective": "binary", "num_leaves": 4, "verbose": -1},
                             lightgbm.Dataset(matrix, labels), num_boost_round=5)
    db.register_parquet("feed_values", feed_folder)
    db.create_view("features", FEATURES)

    db.map_batches("scores", "SELECT * FROM features", lightgbm_score(booster.model_to_string()),
                   SCORED)

    features = [[np.nan if row[c] is None else row[c] for c in ("rsa", "unpaid", "cutoff")]
                for row in EXPECTED_FEATURES]
    expected = booster.predict(np.array(features, dtype=float))
    assert [row["score"] for row in rows(db.to_arrow("SELECT * FROM scores"))] == list(expected)


def test_map_batches_over_no_rows_registers_an_empty_result(db: ScreeningEngine) -> None:
    db.register_arrow("features", pa.table({"link": pa.array([], pa.string()),
                                            "rsa": pa.array([], pa.float64()),
                                            "unpaid": pa.array([], pa.float64()),
                                            "cutoff": pa.array([], pa.float64())}))

    db.map_batches("scores", "SELECT * FROM features", weighted_score("{}"), SCORED)

    assert db.to_arrow("SELECT * FROM scores").schema == SCORED
    assert db.to_arrow("SELECT * FROM scores").num_rows == 0


def test_a_name_can_be_registered_again_as_another_kind(db: ScreeningEngine) -> None:
    db.register_arrow("households", pa.table({"link": ["h1"]}))
    db.create_table("households", "SELECT 'h2' AS link")
    db.create_view("households", "SELECT 'h3' AS link")
    db.register_arrow("households", pa.table({"link": ["h4"]}))

    assert db.to_arrow("SELECT link FROM households").to_pylist() == [{"link": "h4"}]


def test_names_that_are_not_plain_identifiers_are_refused(db: ScreeningEngine) -> None:
    with pytest.raises(ValueError, match="plain SQL name"):
        db.create_view("scores; DROP TABLE x", "SELECT 1 AS one")


def test_to_arrow_casts_to_an_agreed_schema(db: ScreeningEngine) -> None:
    table = db.to_arrow("SELECT 'h1' AS link, ROW_NUMBER() OVER (ORDER BY 1) AS rank",
                        schema=pa.schema([("link", pa.string()), ("rank", pa.int64())]))

    assert table.schema == pa.schema([("link", pa.string()), ("rank", pa.int64())])
    assert table.to_pylist() == [{"link": "h1", "rank": 1}]


def test_written_parquet_reads_back_the_same_rows(db: ScreeningEngine, feed_folder: Path,
                                                  tmp_path: Path) -> None:
    db.register_parquet("feed_values", feed_folder)
    db.write_parquet(FEATURES, tmp_path / "features")
    db.write_parquet(FEATURES, tmp_path / "features")  # replaces, does not add

    db.register_parquet("features", tmp_path / "features", hive_partitioning=False)

    assert rows(db.to_arrow("SELECT * FROM features")) == EXPECTED_FEATURES


def test_both_engines_give_identical_features_and_scores(spark_started: None,
                                                         feed_folder: Path) -> None:
    results = []
    for name in ("duckdb", "spark"):
        with engines.engine(name) as db:
            db.register_parquet("feed_values", feed_folder)
            db.create_view("features", FEATURES)
            db.map_batches("scores", "SELECT * FROM features",
                           weighted_score(json.dumps({"unpaid": 0.1, "cutoff": 10.0})), SCORED)
            results.append((db.to_arrow("SELECT * FROM features ORDER BY link"),
                            db.to_arrow("SELECT * FROM scores ORDER BY link")))

    (duck_features, duck_scores), (spark_features, spark_scores) = results
    assert duck_features.equals(spark_features)
    assert duck_scores.equals(spark_scores)


def test_spark_engines_share_one_session_but_not_their_views(spark_started: None) -> None:
    from pyspark.errors import AnalysisException

    with engines.SparkEngine() as first, engines.SparkEngine() as second:
        first.register_arrow("households", pa.table({"link": ["h1"]}))

        assert first.session.sparkContext is second.session.sparkContext
        assert engines.spark_session() is engines.spark_session()
        with pytest.raises(AnalysisException):
            second.to_arrow("SELECT * FROM households")
