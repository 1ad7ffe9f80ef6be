"""Generated values are pinned: the same bytes in every version of featbench.

Data generation is a pure function of (seed, table, row index), and that function is a
contract across versions — a data set loaded by one version is verified, resumed and
compared by another, and Spark generates the same rows as a single machine. A speed-up
of the generator or the COPY encoder must therefore leave every value byte-identical.
These digests were recorded from the generator as it was before its optimisation
(issue #18) and must never change; if one does, values changed.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from featbench import generate
from featbench.backends.pgload import encode
from featbench.backends.pgload.encode import copy_bytes, encode_batch, variable_text_columns
from featbench.generate import csv_bytes, generate_batch
from featbench.spec import WorkloadSpec, builtin_spec, spec_from_dict

BUILTIN = builtin_spec()

# Every generator, odd text lengths, integer variants and bigint keys in independent key
# universes: what the built-in spec does not exercise.
ALL_GENERATORS = spec_from_dict(
    {
        "name": "all-generators",
        "key_column": "id",
        "key_universe": "independent",
        "entities": [{"name": "u", "key_type": "bigint"}, {"name": "h", "key_type": "hex64"}],
        "tables": [
            {
                "entity": ent,
                "family": "f",
                "window": "30d",
                "rows": 5000,
                "columns": [
                    {"name": "n", "type": "bigint", "gen": "count", "mean": 7},
                    {"name": "n32", "type": "integer", "gen": "count"},
                    {"name": "k", "type": "integer", "gen": "subcount", "of": "n32", "mean": 0.3},
                    {"name": "k64", "type": "bigint", "gen": "subcount", "of": "n"},
                    {"name": "r", "type": "double", "gen": "rate", "of": "k64", "per": "n"},
                    {"name": "amt", "type": "double", "gen": "amount", "mean": 55.5},
                    {"name": "q", "type": "double", "gen": "ratio", "of": "amt", "per": "n"},
                    {"name": "x", "type": "double", "gen": "uniform", "low": -3, "high": 9},
                    {"name": "x01", "type": "double"},
                    {"name": "i", "type": "integer", "gen": "int_uniform", "low": -5, "high": 5},
                    {"name": "i64", "type": "bigint", "gen": "int_uniform"},
                    {"name": "fs", "type": "timestamptz", "gen": "first_seen"},
                    {"name": "ls", "type": "timestamptz", "gen": "last_seen", "after": "fs"},
                    {"name": "ss", "type": "bigint", "gen": "seconds_since"},
                    {"name": "ss32", "type": "integer", "gen": "seconds_since"},
                    {"name": "c", "type": "text", "gen": "category", "choices": ["a", "bbb", ""]},
                    {"name": "cf", "type": "text", "gen": "category", "choices": ["xy", "zw"]},
                    {"name": "t", "type": "text", "gen": "text", "length": 13},
                    {"name": "t64", "type": "text", "gen": "text", "length": 64},
                    {"name": "t1", "type": "text", "gen": "text", "length": 1},
                    {"name": "b", "type": "boolean", "gen": "bool", "mean": 0.2},
                    {"name": "b2", "type": "boolean"},
                ],
            }
            for ent in ("u", "h")
        ],
    }
)

# sha256 of the canonical CSV text and of the binary COPY stream of rows [start, stop)
# of every table, all chained into one digest per (spec, seed, range).
GOLDEN: dict[tuple[str, int, int, int], tuple[str, str]] = {
    ("builtin", 42, 0, 2500): (
        "ace678130cd672fed54d4f89f5b85a8295a21833960f8b04089d4f81611c0bf7",
        "b0fba02ef5af1172692e53f147ada924fdbd9a75d194a7f13099fbeb89544071",
    ),
    ("builtin", 7, 123456, 124000): (
        "c5d4db8ab601563544efa0ef125ee83e04c51cd3417b80b23d0363e80fa114f2",
        "1ecfa89f081a2a83a5ac404660c7fc8b720fca985582dbf5669352fdec4f8c8d",
    ),
    ("all-generators", 42, 0, 3000): (
        "50ab5229680fc690e9154408f68801f72f36d728f4e98d3cb80d36b5f8c66623",
        "07ed0a7b71e73a61153a58ff92584340bd456d58015d367e327f18c76e9ded64",
    ),
    ("all-generators", 3, 999999, 1001001): (
        "d7297eac5333faecd42f3eaaf75c96e80272070c821b70e8840b27961c822336",
        "2dbe07d994603f969a1b3d5999ecbbc01b3f763566b4729624906c8776e8107d",
    ),
}

CASES = [
    ("builtin", 42, 0, 2500),
    ("builtin", 7, 123456, 124000),
    ("all-generators", 42, 0, 3000),
    ("all-generators", 3, 999999, 1001001),
]


def _spec(name: str) -> WorkloadSpec:
    return BUILTIN if name == "builtin" else ALL_GENERATORS


def digests(spec: WorkloadSpec, seed: int, start: int, stop: int) -> tuple[str, str]:
    h_csv, h_copy = hashlib.sha256(), hashlib.sha256()
    for t in spec.tables:
        batch = generate_batch(spec, t, seed, start, stop)
        h_csv.update(t.table_name.encode() + b"\0" + csv_bytes(batch))
        cols, stream = copy_bytes(batch)
        h_copy.update(",".join(cols).encode() + b"\0" + stream)
        enc = encode_batch(batch, variable_text_columns(spec, t))
        h_copy.update(",".join(enc.columns).encode() + b"\0" + bytes(enc.data))
    return h_csv.hexdigest(), h_copy.hexdigest()


@pytest.fixture(params=["c", "numpy"])
def inner_loops(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both implementations of the generator's inner loops: the C library
    (featbench/_generate.c, where it was built) and the numpy path it replaces."""
    if request.param == "numpy":
        monkeypatch.setattr(generate, "_C_PHILOX", None)
        monkeypatch.setattr(encode, "_C_ROWS", None)
    elif generate._C_PHILOX is None or encode._C_ROWS is None:
        pytest.skip("featbench/_generate.c was not built (no C compiler at install)")
    return str(request.param)


@pytest.mark.parametrize(("spec_name", "seed", "start", "stop"), CASES)
def test_values_are_the_recorded_ones(
    spec_name: str, seed: int, start: int, stop: int, inner_loops: str
) -> None:
    got = digests(_spec(spec_name), seed, start, stop)
    assert got == GOLDEN[(spec_name, seed, start, stop)]


def _numpy_too(monkeypatch: pytest.MonkeyPatch, fn: Any) -> tuple[Any, Any]:
    """fn() with the C inner loops, then with the numpy ones."""
    if generate._C_PHILOX is None or encode._C_ROWS is None:
        pytest.skip("featbench/_generate.c was not built (no C compiler at install)")
    with_c = fn()
    with monkeypatch.context() as m:
        m.setattr(generate, "_C_PHILOX", None)
        m.setattr(encode, "_C_ROWS", None)
        return with_c, fn()


def test_the_c_philox_gives_numpy_blocks_across_counter_carries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for start in (0, 2**32 - 2, 2**64 - 3, 123_456_789_012):
        c, ref = _numpy_too(monkeypatch, lambda s=start: generate.blocks(5, ("col", "t"), s, s + 9))
        assert c.shape == (9, 4) and (c == ref).all()


def test_the_c_encoder_writes_the_numpy_bytes_for_every_column_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # what Parquet files may bring besides the generator's types, and sliced arrays
    n = 300
    rng = np.random.default_rng(4)
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(rng.integers(-(2**15), 2**15, n), pa.int16()),
            pa.array(rng.integers(-(2**31), 2**31, n), pa.int32()),
            pa.array(rng.integers(-(2**62), 2**62, n), pa.int64()),
            pa.array(rng.random(n), pa.float32()),
            pa.array(rng.normal(size=n), pa.float64()),
            pa.array(rng.random(n) < 0.5, pa.bool_()),
            pa.array(rng.integers(0, 2**40, n), pa.timestamp("ms", tz="UTC")),
            pa.array(rng.integers(0, 2**50, n), pa.timestamp("us", tz="UTC")),
            pa.array([f"{i:08x}" for i in range(n)]),
            pa.array(["x" * (i % 7) for i in range(n)]),
            pa.array(["é" * (i % 3) for i in range(n)], pa.large_string()),
            pa.array([bytes([i % 256]) * (i % 5) for i in range(n)], pa.binary()),
        ],
        names=[f"c{i}" for i in range(12)],
    )
    for part in (batch, batch.slice(17, 200)):
        c, ref = _numpy_too(monkeypatch, lambda b=part: encode_batch(b))
        assert c.columns == ref.columns and bytes(c.data) == bytes(ref.data)
