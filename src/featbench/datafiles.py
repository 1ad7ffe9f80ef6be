"""Data sets on disk: `featbench generate` writes them, `featbench load --from-dir` reads them.

Layout: `<out>/<table>.parquet` (or `.csv`, header-less canonical CSV) and
`<out>/manifest.json` with spec fingerprint, scale, seed and a sha256 per table
computed over the canonical CSV text (so it does not depend on the file format
or on the chunking used to write it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from featbench import __version__
from featbench.fsutil import atomic_write, ensure_writable_dir
from featbench.generate import arrow_schema, csv_bytes, iter_batches
from featbench.spec import WorkloadSpec, scaled_rows

Format = Literal["parquet", "csv"]
MANIFEST = "manifest.json"


def write_dataset(
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    out: Path,
    fmt: Format = "parquet",
    chunk_rows: int = 50_000,
    on_rows: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Write every table of the spec under `out`; return the manifest (also written)."""
    ensure_writable_dir(out)
    tables: dict[str, Any] = {}
    for table in spec.tables:
        name = table.table_name
        final = out / f"{name}.{fmt}"
        tmp = final.with_suffix(final.suffix + ".partial")
        h = hashlib.sha256()
        rows = 0
        schema = arrow_schema(spec, table)
        writer = pq.ParquetWriter(tmp, schema) if fmt == "parquet" else None
        try:
            with open(tmp, "wb") if fmt == "csv" else _nullctx() as fh:
                for batch in iter_batches(spec, table, seed, scale, chunk_rows):
                    text = csv_bytes(batch)
                    h.update(text)
                    if writer is not None:
                        # generated batches carry nullable fields; the file's schema says NOT NULL
                        writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
                    else:
                        fh.write(text)
                    rows += batch.num_rows
                    if on_rows:
                        on_rows(name, batch.num_rows)
            if writer is not None:
                writer.close()
        except BaseException:  # Ctrl-C or a full disk: no half-written table is left
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, final)  # a crash never leaves a file that looks complete
        tables[name] = {"file": final.name, "rows": rows, "sha256": h.hexdigest()}
    return write_manifest(out, spec, scale, seed, fmt, tables)


def write_manifest(
    out: Path | None, spec: WorkloadSpec, scale: float, seed: int, fmt: str, tables: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """The data set's manifest.json (and spec.toml) in `out` (None: nowhere); returns it."""
    manifest = {
        "featbench_version": __version__,
        "spec_name": spec.name,
        "spec_fingerprint": spec.fingerprint(),
        "scale": scale,
        "seed": seed,
        "format": fmt,
        **extra,
        "tables": tables,
        "total_rows": sum(t["rows"] for t in tables.values()),
    }
    if out is not None:
        (out / "spec.toml").write_text(spec.to_toml())
        # the manifest last, renamed into place: its presence means the data set is complete
        text = json.dumps(manifest, indent=2) + "\n"
        atomic_write(out / MANIFEST, lambda tmp: tmp.write_text(text), ".partial")
    return manifest


def expected_rows(spec: WorkloadSpec, scale: float) -> dict[str, int]:
    return {t.table_name: scaled_rows(t, scale) for t in spec.tables}


class _nullctx:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None
