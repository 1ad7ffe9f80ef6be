"""Vectorised encoder of Arrow record batches into PostgreSQL's binary COPY format.

Why: pyarrow's CSV writer formats every double and timestamp as text and was the
loader's bottleneck (~140–240k rows/s for fraud-30 rows, slower than one COPY stream
can absorb). Binary COPY needs no formatting at all: integers, doubles and timestamps
are their big-endian bytes, so a whole batch is a few numpy conversions and memcpys.
See benchmarks/generation.py for the measured figures.

Layout trick: COPY takes an explicit column list, so the stream's column order is
ours to choose. All fixed-width columns (numbers, timestamps, booleans, and text whose
values all have the same byte length, e.g. hex keys) go first, packed with their
length words into one numpy structured array — one row per record, memcpy speed.
Variable-length text goes last; Arrow's `binary_join_element_wise` (C++) then appends
each row's length-prefixed values to its fixed block, preserving row order.

Binary COPY wire format (PostgreSQL docs, "COPY … Binary Format"): an 11-byte
signature, int32 flags, int32 header-extension length; per row an int16 field count,
then per field an int32 byte length and the value; an int16 -1 trailer.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featbench import clib
from featbench.spec import Table, WorkloadSpec

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = b"\xff\xff"
# PostgreSQL timestamps count microseconds from 2000-01-01 00:00:00 UTC.
PG_EPOCH_US = 946_684_800_000_000

_FIXED: dict[pa.DataType, str] = {
    pa.int64(): ">i8",
    pa.int32(): ">i4",
    pa.int16(): ">i2",
    pa.float64(): ">f8",
    pa.float32(): ">f4",
    pa.bool_(): "u1",
}


@dataclass(frozen=True)
class EncodedBatch:
    """One batch as binary COPY row data (no header/trailer) and the column order it uses."""

    columns: tuple[str, ...]
    rows: int
    data: memoryview

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


def _offsets(arr: pa.Array) -> np.ndarray:
    """A string/binary array's n + 1 value offsets (int32, into its data buffer)."""
    return np.frombuffer(
        arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4
    )


def _binary(arr: pa.Array) -> pa.Array:
    """A string array as binary (the same buffers); binary arrays as they are."""
    return arr.cast(pa.binary()) if pa.types.is_string(arr.type) else arr


def _fixed_string_width(arr: pa.Array) -> int | None:
    """Byte width when every value of a string/binary array has the same length, else None."""
    if len(arr) == 0:
        return None
    d = np.diff(_offsets(arr))
    w = int(d[0])
    return w if bool(np.all(d == w)) else None


def _string_bytes(arr: pa.Array, width: int) -> np.ndarray:
    """(n, width) uint8 view of a fixed-width string array's data."""
    n = len(arr)
    start = int(_offsets(arr)[0])
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * width, offset=start)
    return data.reshape(n, width)


def _values(arr: pa.Array, dtype: type[np.generic]) -> np.ndarray:
    """The values of a null-free fixed-width array as numpy, a view of its buffer.

    Not `to_numpy`: its first call in a process imports pandas when pandas is installed
    (~0.25 CPU-seconds), which every load worker process would pay again."""
    size = np.dtype(dtype).itemsize
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * size)


def _numeric(arr: pa.Array) -> tuple[np.ndarray, str]:
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.unit != "us":
            arr = arr.cast(pa.timestamp("us", tz=t.tz))
        return _values(arr, np.int64) - np.int64(PG_EPOCH_US), ">i8"
    if t == pa.bool_():
        bits = np.unpackbits(np.frombuffer(arr.buffers()[1], dtype=np.uint8), bitorder="little")
        return np.ascontiguousarray(bits[arr.offset : arr.offset + len(arr)]), "u1"
    return _values(arr, np.dtype(_FIXED[t]).newbyteorder("=").type), _FIXED[t]


def _put(out: np.ndarray, n: int, row_w: int, off: int, src: np.ndarray) -> None:
    """Copy `src` (n values, or one value for all rows) into bytes off.. of every row of `out`."""
    w = src.dtype.itemsize * (src.shape[1] if src.ndim == 2 else 1)
    dst = np.ndarray((n,), dtype=f"V{w}", buffer=out, offset=off, strides=(row_w,))
    dst[...] = np.ascontiguousarray(src).view(f"V{w}").reshape(-1)


def _put_number(out: np.ndarray, n: int, row_w: int, off: int, vals: np.ndarray, dt: str) -> None:
    """Store numbers as big-endian `dt` at bytes off.. of every row of `out`: one strided,
    byte-swapping assignment (measured faster than converting first and copying bytes)."""
    dst = np.ndarray((n,), dtype=dt, buffer=out, offset=off, strides=(row_w,))
    dst[...] = vals


# The C row encoder (`featbench/_generate.c`), None where it was not built.
_P, _I = ctypes.c_void_p, ctypes.c_int64
_C_ROWS = clib.function(
    "featbench._generate", "fb_copy_rows", [_I, _I, _P, _P, _P, _I, _P, _P, _P], _I
)


def _c_rows(
    n: int,
    fixed: list[tuple[str, np.ndarray, str, tuple[int, ...]]],
    widths: list[int],
    var: list[tuple[str, pa.Array]],
) -> memoryview:
    """The rows written by the C encoder, row by row in one pass: the same bytes as the
    numpy path below (numbers byte-swapped, text copied), without its column passes
    over the batch and Arrow's join of the variable-length text."""
    keep: list[Any] = []

    def ptrs(xs: list[int]) -> int:
        a = np.asarray(xs, dtype=np.uint64)
        keep.append(a)
        return int(a.ctypes.data)

    srcs, swaps = [], []
    for (_name, vals, dt, shape), w in zip(fixed, widths, strict=True):
        v = np.ascontiguousarray(vals if not shape else np.asarray(vals).reshape(n, w))
        if not shape and v.dtype.itemsize != w:  # e.g. int16 stored as >i2: same width
            raise AssertionError(dt)
        keep.append(v)
        srcs.append(int(v.ctypes.data))
        swaps.append(0 if shape or dt == "u1" else 1)
    offs, datas = [], []
    total = n * (2 + sum(4 + w for w in widths) + 4 * len(var))
    for _name, arr in var:
        b = _binary(arr)
        o = _offsets(b)
        keep.append(b)
        offs.append(int(o.ctypes.data))
        data = b.buffers()[2]
        datas.append(data.address if data is not None else 0)
        total += int(o[-1]) - int(o[0])
    out = np.empty(total, dtype=np.uint8)
    wrote = _C_ROWS(n, len(fixed), ptrs(srcs), ptrs(widths), ptrs(swaps), len(var),
                    ptrs(offs), ptrs(datas), out.ctypes.data)  # fmt: skip
    if wrote != total:
        raise AssertionError(f"C encoder wrote {wrote} bytes, expected {total}")
    return memoryview(out)


def column_order(names: list[str], variable: frozenset[str]) -> tuple[str, ...]:
    """The COPY column order `encode_batch(..., variable=variable)` produces."""
    return tuple([c for c in names if c not in variable] + [c for c in names if c in variable])


def variable_text_columns(spec: WorkloadSpec, table: Table) -> frozenset[str]:
    """Text columns whose values can differ in byte length (so they cannot be packed).

    Decided from the spec, not from a batch, so that every batch of a table — even a
    one-row batch — uses the same COPY column order.
    """
    out = set()
    for c in table.columns:
        if c.type != "text":
            continue
        if c.generator == "text":
            continue  # hex text of a fixed `length`
        if (
            c.generator == "category"
            and c.choices
            and len({len(x.encode()) for x in c.choices}) == 1
        ):
            continue
        out.add(c.name)
    return frozenset(out)


def encode_batch(batch: pa.RecordBatch, variable: frozenset[str] | None = None) -> EncodedBatch:
    """Encode a batch (no nulls) as binary COPY rows; columns reordered fixed-width first.

    `variable` names the text columns to treat as variable-length (see
    `variable_text_columns`); when None it is decided from this batch's data.
    """
    n = batch.num_rows
    if n == 0:
        return EncodedBatch(
            column_order(batch.schema.names, variable or frozenset()), 0, memoryview(b"")
        )
    fixed: list[tuple[str, np.ndarray, str, tuple[int, ...]]] = []
    var: list[tuple[str, pa.Array]] = []
    for name, arr in zip(batch.schema.names, batch.columns, strict=True):
        if arr.null_count:
            raise ValueError(f"column {name!r} has nulls; the generator never produces them")
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_binary(t):
            w = None if (variable is not None and name in variable) else _fixed_string_width(arr)
            if w is None and variable is not None and name not in variable and len(arr):
                raise ValueError(f"text column {name!r} has values of different lengths")
            if w is not None:
                fixed.append((name, _string_bytes(arr, w), "u1", (w,)))
            else:
                var.append((name, arr))
        elif pa.types.is_large_string(t) or pa.types.is_large_binary(t):
            var.append((name, arr.cast(pa.binary())))
        else:
            values, dt = _numeric(arr)
            fixed.append((name, values, dt, ()))
    # Row layout: int16 field count, then per fixed column an int32 length and the value.
    widths = [shape[0] if shape else np.dtype(dt).itemsize for _n, _v, dt, shape in fixed]
    columns = tuple([f[0] for f in fixed] + [v[0] for v in var])
    if _C_ROWS is not None:
        return EncodedBatch(columns, n, _c_rows(n, fixed, widths, var))
    row_w = 2 + sum(4 + w for w in widths)
    # The field count and the length words are the same in every row: write them once
    # into a template row and broadcast it, then copy in the values.
    template = bytearray(row_w)
    template[0:2] = (len(fixed) + len(var)).to_bytes(2, "big")
    off = 2
    for w in widths:
        template[off : off + 4] = w.to_bytes(4, "big")
        off += 4 + w
    rec = np.empty(n * row_w, dtype=np.uint8)
    rec.view(f"V{row_w}")[...] = np.frombuffer(bytes(template), dtype=f"V{row_w}")[0]
    # Each value column is written through a strided view of the rows: numbers with one
    # byte-swapping assignment, fixed-width text as a plain byte copy per row.
    off = 2
    for (_name, vals, dt, shape), w in zip(fixed, widths, strict=True):
        if shape:
            _put(rec, n, row_w, off + 4, np.ascontiguousarray(vals).reshape(n, w))
        else:
            _put_number(rec, n, row_w, off + 4, vals, dt)
        off += 4 + w
    if not var:
        return EncodedBatch(columns, n, memoryview(rec))
    # Variable-length text: join each row's fixed block with its length-prefixed values.
    fixed_bin = pa.Array.from_buffers(
        pa.binary(),
        n,
        [
            None,
            pa.py_buffer(np.arange(0, (n + 1) * row_w, row_w, dtype=np.int32)),
            pa.py_buffer(rec),
        ],
    )
    parts: list[pa.Array] = [fixed_bin]
    for _name, arr in var:
        b = _binary(arr)
        lens = _values(pc.binary_length(b), np.int32).astype(">i4")
        parts.append(
            pa.Array.from_buffers(
                pa.binary(),
                n,
                [
                    None,
                    pa.py_buffer(np.arange(0, 4 * (n + 1), 4, dtype=np.int32)),
                    pa.py_buffer(lens),
                ],
            )
        )
        parts.append(b)
    # no separator: an array of empty values (a b"" scalar would be converted by pyarrow
    # with its pandas check, see `_values`)
    empty = pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(np.zeros(n + 1, dtype=np.int32)), pa.py_buffer(b"")]
    )
    joined = pc.binary_join_element_wise(*parts, empty)
    offs = _offsets(joined)
    data = memoryview(joined.buffers()[2])[int(offs[0]) : int(offs[-1])]
    return EncodedBatch(columns, n, data)


def copy_bytes(batch: pa.RecordBatch) -> tuple[tuple[str, ...], bytes]:
    """A complete binary COPY stream (header, rows, trailer) of a batch: for tests and files."""
    enc = encode_batch(batch)
    return enc.columns, HEADER + bytes(enc.data) + TRAILER
