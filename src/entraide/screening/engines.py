"""Where screening's SQL runs: DuckDB in the process by default, Spark when the data
outgrows one machine. The pipeline is written once against `ScreeningEngine`: views over
Parquet or Arrow, SQL views on top, one batch-mapping step for the learned model.

Portable SQL: what both DuckDB and Spark SQL 4 run the same way.

Use:
- `SELECT ... FROM ... [LEFT|INNER] JOIN ... ON ... WHERE ... GROUP BY ... HAVING ...
  ORDER BY ... LIMIT n`, `WITH name AS (...)`, `UNION ALL`, `SELECT DISTINCT`;
  give every subquery in FROM an alias.
- `CASE WHEN ... THEN ... ELSE ... END`, `COALESCE`, `NULLIF`, `IS [NOT] NULL`,
  `IS [NOT] DISTINCT FROM`, `IN (...)`, `BETWEEN`, `LIKE`, `EXISTS (subquery)`.
- Aggregates `COUNT(*)`, `COUNT(DISTINCT x)`, `SUM`, `AVG`, `MIN`, `MAX`, `STDDEV_SAMP`;
  conditional aggregation as `MAX(CASE WHEN indicator = 'x' THEN value END)`.
- Windows `ROW_NUMBER() / LAG / LEAD / SUM(...) OVER (PARTITION BY ... ORDER BY ...)`.
- `CAST(x AS DOUBLE | BIGINT | INT | STRING | BOOLEAN)`, `GREATEST`, `LEAST`, `ABS`,
  `ROUND(x, n)`, `LN`, `EXP`, `LOWER`, `UPPER`, `LENGTH`, `SUBSTRING(s, start, n)`,
  `CONCAT`, `||`.
- String literals in single quotes; plain lower-case snake_case names, never quoted
  (DuckDB quotes with "...", Spark with `...`; in Spark "x" is a string).
- One statement per call, no trailing semicolon.

Write explicitly, because the engines' defaults differ:
- `NULLS FIRST` / `NULLS LAST` in every ORDER BY where NULLs can occur (DuckDB puts them
  last, Spark first).
- `x / NULLIF(y, 0)`: dividing by zero gives infinity in DuckDB and an error in Spark
  (ANSI mode, on by default in Spark 4); both give a double for `/`.
- `CAST(... AS BIGINT)` around `ROW_NUMBER()` and `SUM` of integers, and
  `CAST(0.5 AS DOUBLE)` for fractional constants, when the column's type matters: the
  engines type them differently (int32 or int64, HUGEINT or BIGINT, DECIMAL precision).
- Period strings `YYYY-MM` compare as strings: `period >= '2025-01'`.

Avoid: `PIVOT`/`UNPIVOT`, `QUALIFY`, `::` casts, `FILTER (WHERE ...)`, `GROUP BY ALL`,
`SELECT * EXCLUDE/REPLACE`, reuse of a select alias in the same SELECT, list, map and
struct functions (`UNNEST`, `EXPLODE`, `STRING_AGG`, `collect_list`), regular expressions,
`USING SAMPLE`/`TABLESAMPLE`, `SEMI`/`ANTI JOIN` (use `EXISTS`), `DIV`/`//`, date
arithmetic, and table functions such as `read_parquet(...)` (register the files instead).

Rows come back in no particular order without `ORDER BY`, and sums of doubles may differ in
their last bits between engines: compare results sorted, and scores with a tolerance.
"""

from __future__ import annotations

import abc
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BatchFunction = Callable[[pa.RecordBatch], pa.RecordBatch]

# Rows per Arrow batch handed to `map_batches` functions, the same on both engines.
BATCH_ROWS = 10_000
# In-process batches can be larger: the model then spends its time predicting rather than
# starting threads (a million rows scored 0.6 s faster here).
DUCKDB_BATCH_ROWS = 100_000

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WILDCARD = re.compile(r"[*?\[]")


class ScreeningEngine(abc.ABC):
    """The few operations the screening pipeline needs, the same on every engine."""

    name: str

    @abc.abstractmethod
    def register_parquet(self, name: str, path: str | Path,
                         hive_partitioning: bool = True) -> None:
        """Register as `name` a view over Parquet files: a directory (read recursively), a
        file or a glob. With Hive partitioning, `key=value` folders become string columns
        (`source`, `period`) after the files' columns."""

    @abc.abstractmethod
    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Register as `name` a view over an in-memory Arrow table."""

    @abc.abstractmethod
    def create_view(self, name: str, query: str) -> None:
        """Register as `name` the (lazily evaluated) result of `query`."""

    @abc.abstractmethod
    def create_table(self, name: str, query: str) -> None:
        """Register as `name` the result of `query`, computed once now: for a result read
        several times."""

    @abc.abstractmethod
    def map_batches(self, name: str, source_query: str, fn: BatchFunction,
                    schema: pa.Schema) -> None:
        """Register as `name` the rows `fn` returns for each Arrow batch of `source_query`.

        `fn` must be pure and, for Spark, picklable: a function of an installed module, or
        a closure over plain values (a model as a string or bytes) that imports what it
        needs. Its batches are cast to `schema`, whose names it must all return."""

    @abc.abstractmethod
    def to_arrow(self, query: str, schema: pa.Schema | None = None) -> pa.Table:
        """The result of `query` as an Arrow table, every column nullable, cast to `schema`
        when given."""

    @abc.abstractmethod
    def write_parquet(self, query: str, path: str | Path) -> None:
        """Write the result of `query` as Parquet files in the folder `path`, replacing
        it; `register_parquet(name, path, hive_partitioning=False)` reads it back."""

    @abc.abstractmethod
    def close(self) -> None:
        """Forget every registered name and free what this engine holds."""

    def __enter__(self) -> ScreeningEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def engine(name: str = "duckdb") -> ScreeningEngine:
    """A new engine by name: "duckdb" (the default) or "spark"."""
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine()
    raise ValueError(f"unknown screening engine {name!r}: 'duckdb' or 'spark'")


def _checked(name: str) -> str:
    # Names are spliced into SQL: only plain identifiers, which both engines read alike.
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL name (letters, digits, underscores)")
    return name


def _shaped(table: pa.Table, schema: pa.Schema | None) -> pa.Table:
    if schema is not None:
        return table.select(schema.names).cast(schema)
    fields = [field.with_nullable(True) for field in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class DuckDBEngine(ScreeningEngine):
    """In-process DuckDB: every core, half the memory (the database server and the web
    workers live beside it), spilling to the system's temporary folder. One thread at a
    time: a run opens its own engine."""

    name = "duckdb"

    def __init__(self, threads: int | None = None, memory_limit: str = "50%") -> None:
        spill = Path(tempfile.gettempdir()) / f"entraide-duckdb-{os.getpid()}"
        self.connection = duckdb.connect(":memory:", config={
            "threads": threads or _cores(),
            "memory_limit": memory_limit,
            "temp_directory": str(spill),
        })
        self._kinds: dict[str, str] = {}

    def _replace(self, name: str, kind: str) -> str:
        # DuckDB refuses to replace a view with a table or an Arrow scan, or the reverse.
        previous = self._kinds.pop(_checked(name), None)
        if previous == "arrow":
            self.connection.unregister(name)
        elif previous is not None:
            self.connection.execute(f"DROP {previous} IF EXISTS {name}")
        self._kinds[name] = kind
        return name

    def register_parquet(self, name: str, path: str | Path,
                         hive_partitioning: bool = True) -> None:
        files = f"{path}/**/*.parquet" if Path(path).is_dir() else str(path)
        literal = files.replace("'", "''")
        hive = "true" if hive_partitioning else "false"
        scan = f"read_parquet('{literal}', hive_partitioning = {hive}, hive_types_autocast = false)"
        columns = self._in_folder_order(files) if hive_partitioning else "*"
        self.create_view(name, f"SELECT {columns} FROM {scan}")  # noqa: S608 - quoted

    def _in_folder_order(self, files: str) -> str:
        # DuckDB sorts partition columns by name; Spark, like the folders, by depth.
        first = self.connection.execute("SELECT file FROM glob(?) LIMIT 1", [files]).fetchone()
        keys = [part.split("=", 1)[0] for part in Path(first[0]).parent.parts
                if "=" in part] if first else []
        quoted = ", ".join('"{}"'.format(key.replace('"', '""')) for key in dict.fromkeys(keys))
        return f"* EXCLUDE ({quoted}), {quoted}" if quoted else "*"

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.connection.register(self._replace(name, "arrow"), table)

    def create_view(self, name: str, query: str) -> None:
        self.connection.execute(f"CREATE TEMP VIEW {self._replace(name, 'view')} AS {query}")

    def create_table(self, name: str, query: str) -> None:
        self.connection.execute(f"CREATE TEMP TABLE {self._replace(name, 'table')} AS {query}")

    def map_batches(self, name: str, source_query: str, fn: BatchFunction,
                    schema: pa.Schema) -> None:
        # The source streams; the result stays in memory (a few scores per household).
        reader = self.connection.sql(source_query).to_arrow_reader(DUCKDB_BATCH_ROWS)
        batches = list(_batchwise(fn, schema)(iter(reader)))
        self.register_arrow(name, pa.Table.from_batches(batches, schema=schema))

    def to_arrow(self, query: str, schema: pa.Schema | None = None) -> pa.Table:
        return _shaped(self.connection.sql(query).to_arrow_table(), schema)

    def write_parquet(self, query: str, path: str | Path) -> None:
        folder = str(path).replace("'", "''")
        self.connection.execute(
            f"COPY ({query}) TO '{folder}' "
            "(FORMAT parquet, COMPRESSION zstd, PER_THREAD_OUTPUT true, OVERWRITE true)")

    def close(self) -> None:
        self.connection.close()
        self._kinds.clear()


def _batchwise(fn: BatchFunction,
               schema: pa.Schema) -> Callable[[Iterator[pa.RecordBatch]],
                                              Iterator[pa.RecordBatch]]:
    # Pickled by value for the Python workers, so it names nothing of this module.
    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow

        for batch in batches:
            out = fn(batch)
            yield pyarrow.RecordBatch.from_arrays(
                [out.column(field.name).cast(field.type) for field in schema], schema=schema)

    return apply


def spark_master() -> str:
    """The Spark master: setting or environment ENTRAIDE_SPARK_MASTER, else local[*]."""
    from django.conf import settings

    configured = getattr(settings, "ENTRAIDE_SPARK_MASTER", None) if settings.configured else None
    return configured or os.environ.get("ENTRAIDE_SPARK_MASTER") or "local[*]"


def spark_unavailable() -> str | None:
    """Why Spark cannot start on this machine, or None when it can."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (it comes with entraide's dev extra)"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and not shutil.which("java"):
        return "no Java runtime: Spark needs Java 17 or later on PATH or in JAVA_HOME"
    return None


_QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.console.ref = console
logger.repl.name = org.apache.spark.api.python.PythonGatewayServer
logger.repl.level = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""

_spark: SparkSession | None = None
_spark_lock = threading.Lock()


def spark_session() -> SparkSession:
    """The process's one Spark session, started on first use: a JVM takes seconds."""
    global _spark
    with _spark_lock:
        if _spark is None:
            _spark = _start_spark(spark_master())
        return _spark


def _start_spark(master: str) -> SparkSession:
    reason = spark_unavailable()
    if reason:
        raise RuntimeError(f"Spark cannot start: {reason}")
    # Python workers must be this interpreter, which has entraide, pyarrow and lightgbm.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    local = master.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no hostname lookup, no LAN

    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master).appName("entraide-screening")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
        .config("spark.sql.execution.arrow.useLargeVarTypes", "false")
        # Partition folders are read as strings, as DuckDB does with hive_types_autocast off.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
    )
    if not local:
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session
    # A local JVM logs at ERROR from its start; a cluster keeps its SPARK_CONF_DIR logging.
    handle, logging = tempfile.mkstemp(prefix="entraide-spark-", suffix=".properties")
    with os.fdopen(handle, "w") as properties:
        properties.write(_QUIET_LOG4J)
    try:
        return (builder.config("spark.sql.shuffle.partitions", str(_cores()))
                .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={logging}")
                .getOrCreate())
    finally:
        os.unlink(logging)  # read once, when the JVM starts


def _hive_base(path: str) -> str:
    """The folder above the first `key=value` or wildcard part of `path`: where Spark's
    partition discovery starts."""
    parts = Path(path).parts
    for index, part in enumerate(parts):
        if "=" in part or _WILDCARD.search(part):
            return str(Path(*parts[:index])) if index else "."
    return str(Path(path).parent)


class SparkEngine(ScreeningEngine):
    """Spark SQL on the process's shared session (ENTRAIDE_SPARK_MASTER, default local[*]);
    each engine has its own temporary views. Views are lazy: Spark recomputes them at
    every read unless made with `create_table`. Cluster settings (memory, executors) come
    from Spark's own SPARK_CONF_DIR/spark-defaults.conf."""

    name = "spark"

    def __init__(self) -> None:
        self._session: SparkSession | None = None
        self._cached: dict[str, DataFrame] = {}

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = spark_session().newSession()
        return self._session

    def _register(self, name: str, frame: DataFrame) -> None:
        previous = self._cached.pop(_checked(name), None)
        if previous is not None:
            previous.unpersist()
        frame.createOrReplaceTempView(name)

    def register_parquet(self, name: str, path: str | Path,
                         hive_partitioning: bool = True) -> None:
        location = str(path)
        reader = self.session.read
        if not hive_partitioning:
            reader = reader.option("recursiveFileLookup", "true")
        elif not Path(location).is_dir():
            reader = reader.option("basePath", _hive_base(location))
        self._register(name, reader.parquet(location))

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self._register(name, self.session.createDataFrame(table))

    def create_view(self, name: str, query: str) -> None:
        self._register(name, self.session.sql(query))

    def create_table(self, name: str, query: str) -> None:
        frame = self.session.sql(query).persist()
        frame.count()  # computes it now, as DuckDB's CREATE TABLE does
        self._register(name, frame)
        self._cached[name] = frame

    def map_batches(self, name: str, source_query: str, fn: BatchFunction,
                    schema: pa.Schema) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        frame = self.session.sql(source_query)
        self._register(name, frame.mapInArrow(_batchwise(fn, schema), from_arrow_schema(schema)))

    def to_arrow(self, query: str, schema: pa.Schema | None = None) -> pa.Table:
        return _shaped(self.session.sql(query).toArrow(), schema)

    def write_parquet(self, query: str, path: str | Path) -> None:
        (self.session.sql(query).write.mode("overwrite").option("compression", "zstd")
         .parquet(str(path)))

    def close(self) -> None:
        if self._session is None:
            return
        for frame in self._cached.values():
            frame.unpersist()
        self._cached.clear()
        for table in self._session.catalog.listTables():
            if table.isTemporary:
                self._session.catalog.dropTempView(table.name)
        self._session = None
