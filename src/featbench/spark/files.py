"""`featbench generate --engine spark --format parquet|delta`: the data set as lakehouse tables.

One Spark job per spec table: a DataFrame of row ranges, and `mapInArrow` turning each range
into the rows `generate.generate_batch` produces for it — the same values as `featbench
generate`, typed as the spec says — written as a Parquet directory or a Delta table
(`<out>/<table>`). Parts follow the row ranges in order, so reading a table's parts in
name order gives the rows in row-index order.

Delta: with the Delta Lake jars on the session (built into Databricks; elsewhere
`spark.jars.packages`, which must reach Maven) Spark writes the Delta table itself.
Without them, Spark writes the same Parquet parts and delta-rs (the `deltalake` package)
commits them as a Delta table (`convert_to_deltalake`: one transaction log entry adding
every part); the manifest records which writer made the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from featbench.datafiles import write_manifest
from featbench.errors import FeatbenchError
from featbench.generate import arrow_schema, chunk_ranges, generate_batch
from featbench.spec import WorkloadSpec, scaled_rows, spec_from_dict

FORMATS = ("parquet", "delta")
DEFAULT_CHUNK_ROWS = 200_000


def _rows(
    spec_json: dict[str, Any], table: str, seed: int, batches: Iterator[Any]
) -> Iterator[Any]:
    """In a Spark task: each (start, stop) of the input becomes that range's rows."""
    spec = spec_from_dict(spec_json)
    t = spec.table(table)
    schema = arrow_schema(spec, t)
    for b in batches:
        for start, stop in zip(
            b.column("start").to_pylist(), b.column("stop").to_pylist(), strict=True
        ):
            batch = generate_batch(spec, t, seed, start, stop)
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def write_tables(
    session: Any,
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    out: str,
    *,
    fmt: str = "parquet",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    partitions: int | None = None,
) -> dict[str, Any]:
    """Write every spec table under `out`; return the manifest (also written there when
    `out` is a local path)."""
    if fmt not in FORMATS:
        raise FeatbenchError(f"--format must be one of {', '.join(FORMATS)} with --engine spark")
    if chunk_rows < 1:
        raise FeatbenchError(f"chunk rows must be at least 1, got {chunk_rows}")
    spec_json = spec.model_dump(mode="json")
    session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    session.conf.set("spark.sql.session.timeZone", "UTC")
    tables: dict[str, Any] = {}
    for t in spec.tables:
        rows = scaled_rows(t, scale)
        ranges = list(chunk_ranges(rows, chunk_rows)) or [(0, 0)]
        n = max(1, min(partitions or len(ranges), len(ranges)))
        # parallelize keeps the ranges in order, in contiguous slices: no shuffle
        tasks = session.createDataFrame(
            session.sparkContext.parallelize(ranges, n), "start long, stop long"
        )
        name = t.table_name
        schema = arrow_schema(spec, t)
        df = tasks.mapInArrow(
            lambda it, name=name: _rows(spec_json, name, seed, it),
            _spark_schema(schema),
        )
        path = f"{out.rstrip('/')}/{name}"
        writer = _write(df, fmt, path)
        tables[name] = {"path": name, "rows": rows, "chunks": len(ranges)}
        if writer:
            tables[name]["delta_writer"] = writer
    # the manifest goes beside the tables where the driver can write files (a local path,
    # a mounted volume); on an object store URL it is returned only
    local = "://" not in out or out.startswith("file://")
    base = Path(out.removeprefix("file://")) if local else None
    return write_manifest(base, spec, scale, seed, fmt, tables, engine="spark")


def _write(df: Any, fmt: str, path: str) -> str | None:
    """Write one table; for Delta, return which writer made its transaction log."""
    if fmt == "parquet":
        df.write.format("parquet").mode("overwrite").save(path)
        return None
    try:
        df.write.format("delta").mode("overwrite").save(path)
        return "delta-spark"
    except Exception as e:
        text = str(e).lower()
        if not ("delta" in text and "source" in text):
            raise
    try:  # no Delta Lake jars on this session: the same parts, committed by delta-rs
        from deltalake import convert_to_deltalake
    except ImportError:
        raise FeatbenchError(
            "writing Delta needs the Delta Lake jars on the Spark session (built into "
            "Databricks; elsewhere set spark.jars.packages=io.delta:delta-spark_2.13:<version>) "
            "or the deltalake package (pip install 'featbench[spark]')"
        ) from None
    # overwrite replaces the directory, an earlier transaction log included
    df.write.format("parquet").mode("overwrite").save(path)
    convert_to_deltalake(path.removeprefix("file://"))
    return "delta-rs"


def _spark_schema(schema: pa.Schema) -> Any:
    """The Arrow schema as Spark's (NOT NULL kept)."""
    from pyspark.sql import types as T

    kinds = {
        pa.int64(): T.LongType(),
        pa.int32(): T.IntegerType(),
        pa.float64(): T.DoubleType(),
        pa.string(): T.StringType(),
        pa.bool_(): T.BooleanType(),
        pa.timestamp("us", tz="UTC"): T.TimestampType(),
    }
    return T.StructType([T.StructField(f.name, kinds[f.type], nullable=f.nullable) for f in schema])
