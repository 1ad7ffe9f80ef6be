"""`featbench generate --engine spark`: Parquet (and Delta) tables with generate's values."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featbench.errors import FeatbenchError
from featbench.generate import arrow_schema, csv_bytes, iter_batches, table_checksum
from featbench.spark.files import write_tables
from featbench.spec import scaled_rows
from test_load import small_spec

pytestmark = pytest.mark.spark

SEED = 7


def _parts(table_dir: Path) -> pa.Table:
    """A Spark-written table's Parquet parts, in name (= row range) order."""
    files = sorted(table_dir.glob("part-*.parquet"))
    assert files, f"no parts in {table_dir}"
    return pa.concat_tables(pq.read_table(f) for f in files)


def test_spark_parquet_tables_hold_generates_values_in_row_order(
    spark_session: Any, tmp_path: Path
) -> None:
    spec = small_spec()
    out = tmp_path / "lake"
    manifest = write_tables(
        spark_session, spec, 1.0, SEED, str(out), fmt="parquet", chunk_rows=120, partitions=3
    )
    assert json.loads((out / "manifest.json").read_text())["tables"] == manifest["tables"]
    for t in spec.tables:
        schema = arrow_schema(spec, t)
        got = _parts(out / t.table_name).cast(schema)
        want = pa.Table.from_batches(list(iter_batches(spec, t, SEED, 1.0))).cast(schema)
        assert got.num_rows == scaled_rows(t, 1.0) == manifest["tables"][t.table_name]["rows"]
        assert got.equals(want), t.table_name
        # the canonical CSV text, hence the checksum `featbench generate` records, is the same
        digest = hashlib.sha256(b"".join(csv_bytes(b) for b in got.to_batches())).hexdigest()
        assert digest == table_checksum(spec, t, SEED, 1.0).sha256


def test_delta_tables_hold_the_rows_of_generate(spark_session: Any, tmp_path: Path) -> None:
    """Without the Delta Lake jars (Maven is unreachable here) delta-rs commits Spark's
    Parquet parts as the Delta table; read back through delta-rs, the values are
    `featbench generate`'s, and a second write replaces the table."""
    from deltalake import DeltaTable

    spec = small_spec()
    out = tmp_path / "delta"
    for _ in range(2):
        manifest = write_tables(
            spark_session, spec, 1.0, SEED, str(out), fmt="delta", chunk_rows=200
        )
    for t in spec.tables:
        entry = manifest["tables"][t.table_name]
        assert entry["delta_writer"] in ("delta-spark", "delta-rs")
        dt = DeltaTable(str(out / t.table_name))
        assert dt.version() == 0  # the overwrite left one table, not two commits of parts
        schema = arrow_schema(spec, t)
        got = dt.to_pyarrow_table().cast(schema).sort_by(spec.key_column_of(t))
        want = pa.Table.from_batches(list(iter_batches(spec, t, SEED, 1.0))).cast(schema)
        assert got.num_rows == scaled_rows(t, 1.0) == entry["rows"]
        assert got.equals(want.sort_by(spec.key_column_of(t))), t.table_name


def test_delta_without_a_writer_is_one_clear_error(
    spark_session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "deltalake", None)  # import deltalake now fails
    try:
        write_tables(spark_session, small_spec(), 1.0, SEED, str(tmp_path / "d"), fmt="delta")
    except FeatbenchError as e:
        assert "Delta Lake jars" in str(e) and "deltalake" in str(e) and "\n" not in str(e)
    else:
        pytest.skip("this Spark session has the Delta Lake jars: it writes Delta itself")


def test_unknown_format_is_refused(spark_session: Any, tmp_path: Path) -> None:
    with pytest.raises(FeatbenchError, match="parquet, delta"):
        write_tables(spark_session, small_spec(), 1.0, SEED, str(tmp_path), fmt="csv")
