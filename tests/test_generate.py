"""Deterministic generation and the binary COPY encoder (pure unit tests, no server)."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from featbench.backends.pgload.encode import (
    HEADER,
    PG_EPOCH_US,
    TRAILER,
    column_order,
    copy_bytes,
    encode_batch,
    variable_text_columns,
)
from featbench.generate import _hex_strings, blocks, generate_batch, table_checksum
from featbench.spec import REFERENCE_TIME_US, builtin_spec, scaled_rows, spec_from_dict

SPEC = builtin_spec()
SMALL = 0.002


def test_checksums_repeat_and_depend_on_seed() -> None:
    t = SPEC.tables[0]
    a = table_checksum(SPEC, t, 42, SMALL)
    b = table_checksum(SPEC, t, 42, SMALL)
    c = table_checksum(SPEC, t, 43, SMALL)
    assert a == b
    assert a.sha256 != c.sha256
    assert a.rows == scaled_rows(t, SMALL)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_checksum_independent_of_chunking(chunk: int) -> None:
    t = SPEC.table("cardholder_name__tesseract_velocities__30d")
    assert table_checksum(SPEC, t, 5, SMALL, chunk_rows=chunk) == table_checksum(SPEC, t, 5, SMALL)


def test_any_range_alone_equals_the_slice_of_the_whole() -> None:
    t = SPEC.table("customer_email__fraud_rates__90d")
    whole = generate_batch(SPEC, t, 9, 0, 300)
    for a, b in [(0, 1), (17, 18), (100, 250), (299, 300)]:
        assert generate_batch(SPEC, t, 9, a, b).equals(whole.slice(a, b - a))
    # and in any order: the reverse-order concatenation of pieces reassembles the whole
    pieces = [generate_batch(SPEC, t, 9, a, a + 50) for a in reversed(range(0, 300, 50))]
    assert pa.Table.from_batches(list(reversed(pieces))).equals(pa.Table.from_batches([whole]))


def test_values_are_plausible() -> None:
    for t in SPEC.tables[:12]:
        b = generate_batch(SPEC, t, 1, 0, 5000).to_pydict()
        now = datetime.fromtimestamp(REFERENCE_TIME_US / 1e6, tz=timezone.utc)
        for c in t.columns:
            v = b[c.name]
            if c.generator in ("count", "subcount", "seconds_since"):
                assert min(v) >= 0, c.name
            if c.generator == "subcount":
                assert all(x <= p for x, p in zip(v, b[c.of], strict=True)), c.name
            if c.generator == "rate":
                assert all(0.0 <= x <= 1.0 for x in v), c.name
                num, den = b[c.of], b[c.per]
                assert all(
                    x == (n / d if d else 0.0) for x, n, d in zip(v, num, den, strict=True)
                ), c.name
            if c.generator == "first_seen":
                lo = now - timedelta(seconds=t.window_seconds)
                assert all(lo <= x <= now for x in v), c.name
            if c.generator == "last_seen":
                assert all(f <= x <= now for x, f in zip(v, b[c.after], strict=True)), c.name


def test_nested_key_universes() -> None:
    ts = [t for t in SPEC.tables_for("card_fingerprint") if t.family == "fraud_rates"]
    short, long_ = (
        sorted(ts, key=lambda t: t.window_seconds)[0],
        sorted(ts, key=lambda t: t.window_seconds)[-1],
    )
    k_short = generate_batch(SPEC, short, 3, 0, 100).column(0)
    k_long = generate_batch(SPEC, long_, 3, 0, 200).column(0)
    assert k_short.equals(k_long.slice(0, 100))
    keys = k_long.to_pylist()
    assert len(set(keys)) == len(keys) and all(len(k) == 64 for k in keys)


def test_hex_lookup_matches_the_naive_encoding() -> None:
    raw = blocks(11, ("x",), 0, 64)
    for n in (1, 7, 12, 16, 63, 64):
        expect = [bytes(r.view(np.uint8)).hex()[:n] for r in raw]
        assert _hex_strings(raw, n).to_pylist() == expect


# -- binary COPY encoder ---------------------------------------------------------------
def _decode(
    stream: bytes, arrow_types: dict[str, pa.DataType], cols: tuple[str, ...]
) -> list[dict]:
    """A small independent reader of PostgreSQL's binary COPY format."""
    assert stream.startswith(HEADER) and stream.endswith(TRAILER)
    pos, rows = len(HEADER), []
    while True:
        (nf,) = struct.unpack_from(">h", stream, pos)
        pos += 2
        if nf == -1:
            break
        assert nf == len(cols)
        row = {}
        for name in cols:
            (ln,) = struct.unpack_from(">i", stream, pos)
            pos += 4
            raw = stream[pos : pos + ln]
            pos += ln
            t = arrow_types[name]
            if pa.types.is_timestamp(t):
                us = struct.unpack(">q", raw)[0] + PG_EPOCH_US
                row[name] = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)
            elif t == pa.int64():
                row[name] = struct.unpack(">q", raw)[0]
            elif t == pa.int32():
                row[name] = struct.unpack(">i", raw)[0]
            elif t == pa.float64():
                row[name] = struct.unpack(">d", raw)[0]
            elif t == pa.bool_():
                row[name] = raw == b"\x01"
            else:
                row[name] = raw.decode()
        rows.append(row)
    assert pos == len(stream)
    return rows


@pytest.mark.parametrize("name", [t.table_name for t in SPEC.tables[::4]])
def test_binary_copy_round_trip(name: str) -> None:
    t = SPEC.table(name)
    batch = generate_batch(SPEC, t, 4, 10, 400)
    cols, stream = copy_bytes(batch)
    types = {f.name: f.type for f in batch.schema}
    assert _decode(stream, types, cols) == batch.to_pylist()


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 0), (0, 1), (5, 2005), (0, 100_000), (123, 45_678)]
)
def test_sub_batches_cover_a_chunk_exactly(start: int, stop: int) -> None:
    from featbench.backends.pgload.worker import FIRST_BATCH_ROWS, sub_batches

    parts = list(sub_batches(start, stop))
    assert [a for a, _ in parts] == [start] + [b for _, b in parts[:-1]] if parts else start == stop
    assert (parts[-1][1] if parts else start) == stop
    assert all(b > a for a, b in parts)
    if parts:
        assert parts[0][1] - parts[0][0] <= FIRST_BATCH_ROWS


def test_static_column_order_holds_for_any_batch() -> None:
    # A one-row batch has "fixed-width" categories by accident; the spec decides instead.
    t = SPEC.table("card_fingerprint__fraud_rates__30d")
    var = variable_text_columns(SPEC, t)
    assert var == frozenset({"risk_band"})
    names = [SPEC.key_column_of(t)] + [c.name for c in t.columns]
    one = encode_batch(generate_batch(SPEC, t, 1, 5, 6), var)
    many = encode_batch(generate_batch(SPEC, t, 1, 0, 100), var)
    assert one.columns == many.columns == column_order(names, var)
    assert one.columns[-1] == "risk_band" and one.columns[0] == "hash_key"
    # fixed-length categories (country codes) are packed with the fixed columns
    ts = SPEC.table("card_fingerprint__time_since__30d")
    assert variable_text_columns(SPEC, ts) == frozenset({"last_channel"})
    empty = encode_batch(generate_batch(SPEC, t, 1, 0, 0), var)
    assert empty.rows == 0 and empty.nbytes == 0


def test_integer_keys_and_booleans_encode() -> None:
    s = spec_from_dict(
        {
            "name": "ints",
            "key_column": "id",
            "entities": [{"name": "u", "key_type": "bigint"}],
            "tables": [
                {
                    "entity": "u",
                    "family": "f",
                    "rows": 50,
                    "columns": [
                        {"name": "flag", "type": "boolean"},
                        {"name": "n", "type": "integer"},
                        {
                            "name": "label",
                            "type": "text",
                            "gen": "category",
                            "choices": ["a", "bbb", ""],
                        },
                    ],
                }
            ],
        }
    )
    t = s.tables[0]
    batch = generate_batch(s, t, 2, 0, 50)
    cols, stream = copy_bytes(batch)
    assert _decode(stream, {f.name: f.type for f in batch.schema}, cols) == batch.to_pylist()
