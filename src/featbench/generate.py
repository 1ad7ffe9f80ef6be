"""Deterministic row generation: values are a pure function of (seed, table, row index).

Every column draws from its own counter-based Philox stream keyed by
(seed, table, column); row *i* uses counter block *i*. Any row range can therefore
be produced alone, in any order, on any worker, and is byte-identical every time —
which is what makes parallel and distributed loading, resuming, verification and
cross-backend comparison possible.

Keys: with nested key universes, row *i* of every table of an entity holds the
entity's key number *i*, so a table with fewer rows (a short window) holds a prefix
of the keys of a longer one.
"""

from __future__ import annotations

import binascii
import ctypes
import functools
import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from featbench import clib
from featbench.spec import REFERENCE_TIME_US, Column, Table, WorkloadSpec, scaled_rows

WORDS_PER_BLOCK = 4  # Philox4x64 yields four 64-bit words per counter value
_MASK63 = np.uint64((1 << 63) - 1)

ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "double": pa.float64(),
    "text": pa.string(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "boolean": pa.bool_(),
}


def stream_key(seed: int, *parts: str) -> np.ndarray:
    """128-bit Philox key for one named stream; stable across runs, platforms and versions."""
    return np.frombuffer(_stream_key_bytes(seed, parts), dtype="<u8").astype(np.uint64)


@functools.lru_cache(maxsize=4096)
def _stream_key_bytes(seed: int, parts: tuple[str, ...]) -> bytes:
    # Cached: a load asks for the same (table, column) keys in every batch of a table.
    h = hashlib.blake2b((f"featbench\x00{seed}\x00" + "\x00".join(parts)).encode(), digest_size=16)
    return h.digest()


# One Philox bit generator per thread, re-keyed for each stream: setting its state costs
# a fifth of constructing one (which also draws OS entropy for a seed it never uses).
_philox = threading.local()


# The C Philox loop (`_generate.c`), None where it was not built.
_C_PHILOX = clib.function(
    "featbench._generate",
    "fb_philox4x64_blocks",
    [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p],
    None,
)


def blocks(seed: int, parts: tuple[str, ...], start: int, stop: int) -> np.ndarray:
    """Philox blocks for counters start..stop-1 as an (n, 4) uint64 array.

    numpy's Philox draws a block word by word through its buffered interface; the C
    loop computes the same blocks at about 80% of its cost (tests/test_generate_golden.py
    pins both)."""
    n = stop - start
    if _C_PHILOX is not None:
        out = np.empty((n, WORDS_PER_BLOCK), dtype=np.uint64)
        key = stream_key(seed, *parts)
        ctr = np.array([start, 0, 0, 0], dtype=np.uint64)
        _C_PHILOX(key.ctypes.data, ctr.ctypes.data, n, out.ctypes.data)
        return out
    # numpy's Philox increments the counter before producing a block, so counter=start
    # yields block start+1 first: a consistent, order-free mapping row -> block.
    bg = getattr(_philox, "bg", None)
    if bg is None:
        bg = _philox.bg = np.random.Philox(key=0)
    bg.state = {
        "bit_generator": "Philox",
        "state": {
            "counter": np.array([start, 0, 0, 0], dtype=np.uint64),
            "key": np.frombuffer(_stream_key_bytes(seed, parts), dtype="<u8"),
        },
        "buffer": _EMPTY_BUFFER,
        "buffer_pos": WORDS_PER_BLOCK,  # buffer used up: the next word starts a new block
        "has_uint32": 0,
        "uinteger": 0,
    }
    return bg.random_raw(n * WORDS_PER_BLOCK).reshape(n, WORDS_PER_BLOCK)


_EMPTY_BUFFER = np.zeros(WORDS_PER_BLOCK, dtype=np.uint64)


def _unit(words: np.ndarray) -> np.ndarray:
    """Uniform doubles in [0, 1) from 64-bit words (53 high bits)."""
    return (words >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _hex_strings(raw: np.ndarray, nchars: int) -> pa.Array:
    """Lowercase hex text of `nchars` characters per row, from (n, 4) uint64 blocks.

    The bytes of a row in memory order, each as two characters (high nibble first): the
    rows' leading bytes, contiguous, go through one `binascii.hexlify` (C, ~1 GB/s)."""
    n = raw.shape[0]
    nbytes = (nchars + 1) // 2
    b = np.ascontiguousarray(np.ascontiguousarray(raw).view(np.uint8).reshape(n, 32)[:, :nbytes])
    text = np.frombuffer(binascii.hexlify(b.reshape(-1)), dtype=np.uint8)
    if nchars % 2:
        text = np.ascontiguousarray(text.reshape(n, 2 * nbytes)[:, :nchars])
    offsets = np.arange(0, nchars * (n + 1), nchars, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))


def _mix63(x: np.ndarray, seed_words: np.ndarray) -> np.ndarray:
    """A bijection on 63-bit integers: distinct row indexes give distinct, scattered keys."""
    with np.errstate(over="ignore"):
        x = (x + seed_words[0]) & _MASK63
        x = (x * np.uint64(0x9E3779B97F4A7C15 | 1)) & _MASK63
        x ^= x >> np.uint64(31)
        x = (x * np.uint64(0xBF58476D1CE4E5B9 | 1)) & _MASK63
        x ^= x >> np.uint64(29)
    return x


def key_stream_parts(spec: WorkloadSpec, table: Table) -> tuple[str, ...]:
    if spec.key_universe == "nested":
        return ("key", table.entity)
    return ("key", table.table_name)


def keys_for(spec: WorkloadSpec, table: Table, seed: int, start: int, stop: int) -> pa.Array:
    """The keys of rows start..stop-1 of a table."""
    parts = key_stream_parts(spec, table)
    if spec.entity(table.entity).key_type == "hex64":
        return _hex_strings(blocks(seed, parts, start, stop), 64)
    idx = np.arange(start, stop, dtype=np.uint64)
    return to_arrow(_mix63(idx, stream_key(seed, *parts)).astype(np.int64), pa.int64())


_NUMPY_TYPES = {pa.int64(): np.int64, pa.int32(): np.int32, pa.float64(): np.float64}


def to_arrow(values: np.ndarray, typ: pa.DataType) -> pa.Array:
    """A null-free numpy array as an Arrow array of `typ`, wrapping its buffer.

    Not `pa.array`: its first call in a process imports pandas when pandas is installed
    (~0.25 CPU-seconds), which every load worker process would pay again."""
    n = len(values)
    if typ == pa.bool_():
        buf = pa.py_buffer(np.packbits(values.astype(np.bool_), bitorder="little"))
    else:
        dtype = np.int64 if pa.types.is_timestamp(typ) else _NUMPY_TYPES[typ]
        buf = pa.py_buffer(np.ascontiguousarray(values, dtype=dtype))
    return pa.Array.from_buffers(typ, n, [None, buf])


def _strings(values: list[str]) -> pa.Array:
    """A list of str as an Arrow string array (without `pa.array`: see `to_arrow`)."""
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data))
    )


# Generators whose values derive from earlier columns only: they draw no random bits.
DERIVED_GENERATORS = frozenset({"rate", "ratio"})


def _column(
    col: Column, table: Table, raw: np.ndarray | None, done: dict[str, np.ndarray]
) -> tuple[np.ndarray | pa.Array, np.ndarray]:
    """(arrow-ready values, numpy values for later columns) of one column.

    `raw`: the column's Philox blocks; None for DERIVED_GENERATORS."""
    g = col.generator
    # uniform doubles from each block's first word (text uses the whole block instead)
    u = _unit(raw[:, 0]) if raw is not None and g != "text" else np.empty(0)
    if g == "count":
        mean = col.mean if col.mean is not None else 100.0
        v = np.floor(-mean * np.log1p(-u)).astype(np.int64)
    elif g == "subcount":
        p = col.mean if col.mean is not None else 0.1
        parent = done[col.of]  # type: ignore[index]
        frac = u ** ((1.0 - p) / p)  # E[U^k] = 1/(k+1) = p
        v = np.minimum(np.floor(parent * frac).astype(np.int64), parent)
    elif g in ("rate", "ratio"):
        num = done[col.of].astype(np.float64)  # type: ignore[index]
        den = done[col.per].astype(np.float64)  # type: ignore[index]
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        if g == "ratio":
            v = np.round(v, 2)
    elif g == "amount":
        mean = col.mean if col.mean is not None else 100.0
        v = np.round(-mean * np.log1p(-u), 2)
    elif g == "uniform":
        lo = col.low if col.low is not None else 0.0
        hi = col.high if col.high is not None else 1.0
        v = lo + (hi - lo) * u
    elif g == "int_uniform":
        lo = int(col.low) if col.low is not None else 0
        hi = int(col.high) if col.high is not None else 1000
        v = lo + np.floor(u * (hi - lo + 1)).astype(np.int64)
        v = np.minimum(v, hi)
    elif g == "first_seen":
        span = table.window_seconds * 1_000_000
        v = REFERENCE_TIME_US - np.floor(u * span).astype(np.int64)
    elif g == "last_seen":
        after = done[col.after]  # type: ignore[index]
        v = after + np.floor(u * (REFERENCE_TIME_US - after)).astype(np.int64)
    elif g == "seconds_since":
        v = np.floor(u * (table.window_seconds + 1)).astype(np.int64)
    elif g == "category":
        choices = _strings(col.choices)  # type: ignore[arg-type]
        idx = np.minimum(np.floor(u * len(col.choices)).astype(np.int32), len(col.choices) - 1)  # type: ignore[arg-type]
        return pc.take(choices, to_arrow(idx, pa.int32())), idx
    elif g == "text":
        arr = _hex_strings(raw, col.length or 12)  # type: ignore[arg-type]
        return arr, np.empty(0)
    elif g == "bool":
        p = col.mean if col.mean is not None else 0.5
        v = u < p
    else:  # pragma: no cover - the spec validates generator names
        raise ValueError(g)
    if col.type == "integer":
        v = np.clip(v, -(2**31), 2**31 - 1).astype(np.int32)
    return v, v


def generate_batch(
    spec: WorkloadSpec, table: Table, seed: int, start: int, stop: int
) -> pa.RecordBatch:
    """Rows start..stop-1 of a table as an Arrow record batch (key column first)."""
    if not 0 <= start <= stop:
        raise ValueError(f"bad row range {start}..{stop}")
    arrays: list[pa.Array] = [keys_for(spec, table, seed, start, stop)]
    names = [spec.key_column_of(table)]
    done: dict[str, np.ndarray] = {}
    for col in table.columns:
        raw = (
            None
            if col.generator in DERIVED_GENERATORS
            else blocks(seed, ("col", table.table_name, col.name), start, stop)
        )
        arrow_vals, np_vals = _column(col, table, raw, done)
        done[col.name] = np_vals
        typ = ARROW_TYPES[col.type]
        arrays.append(arrow_vals if isinstance(arrow_vals, pa.Array) else to_arrow(arrow_vals, typ))
        names.append(col.name)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def arrow_schema(spec: WorkloadSpec, table: Table) -> pa.Schema:
    key_t = pa.string() if spec.entity(table.entity).key_type == "hex64" else pa.int64()
    fields = [pa.field(spec.key_column_of(table), key_t, nullable=False)]
    fields += [pa.field(c.name, ARROW_TYPES[c.type], nullable=False) for c in table.columns]
    return pa.schema(fields)


def chunk_ranges(total: int, chunk_rows: int, start: int = 0) -> Iterator[tuple[int, int]]:
    for a in range(start, total, chunk_rows):
        yield a, min(a + chunk_rows, total)


def iter_batches(
    spec: WorkloadSpec, table: Table, seed: int, scale: float, chunk_rows: int = 50_000
) -> Iterator[pa.RecordBatch]:
    for a, b in chunk_ranges(scaled_rows(table, scale), chunk_rows):
        yield generate_batch(spec, table, seed, a, b)


_CSV_OPTS = pacsv.WriteOptions(include_header=False, batch_size=1 << 16)


def csv_bytes(batch: pa.RecordBatch) -> bytes:
    """Canonical CSV text of a batch (no header): what COPY reads and checksums hash."""
    buf = io.BytesIO()
    pacsv.write_csv(batch, buf, write_options=_CSV_OPTS)
    return buf.getvalue()


@dataclass
class TableChecksum:
    table: str
    rows: int
    sha256: str


def table_checksum(
    spec: WorkloadSpec, table: Table, seed: int, scale: float, chunk_rows: int = 50_000
) -> TableChecksum:
    """sha256 of the table's canonical CSV text: identical for any chunking."""
    h = hashlib.sha256()
    rows = 0
    for batch in iter_batches(spec, table, seed, scale, chunk_rows):
        h.update(csv_bytes(batch))
        rows += batch.num_rows
    return TableChecksum(table.table_name, rows, h.hexdigest())
