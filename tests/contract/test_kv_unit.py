"""Pure unit tests of the key-value backends' parts: codec, sizes, retries (botocore Stubber), planning."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber

from featbench.backends.dynamodb import (
    DynamoDBBackend,
    RetriesExhausted,
    RetryPolicy,
    batch_get,
    batch_write,
    call_with_retry,
    new_stats,
)
from featbench.backends.kvstore import (
    TableMeta,
    compare_row,
    new_meta,
    plan_load,
    run_load,
    sample_candidates,
    sample_rows,
)
from featbench.backends.typing_codec import (
    REDIS_DECODERS,
    datetime_to_micros,
    ddb_item_size,
    ddb_number,
    ddb_number_size,
    micros_to_datetime,
    read_units,
    typed_key,
)
from featbench.errors import FeatbenchError
from featbench.generate import generate_batch
from featbench.spec import builtin_spec, scaled_rows, spec_from_dict
from featbench.target import parse_target

from .suite import CUSTOM, custom_spec

TRICKY_FLOATS = [
    0.0,
    -0.0,
    0.1,
    1 / 3,
    2 / 3,
    1e-7,
    1.5e-5,
    123456789.12345679,
    2.0**53 + 2,
    1e16,
    3.4e17,
    9.999999999999999e22,
    5e-324,
    1.7976931348623157e308,
    -2.5e-10,
    0.30000000000000004,
]


# -- codec -----------------------------------------------------------------------------
@pytest.mark.parametrize("x", TRICKY_FLOATS)
def test_float_round_trips_exactly(x: float) -> None:
    assert REDIS_DECODERS["double"](repr(x).encode()) == x  # what redis-py sends for a float
    s = ddb_number(x)
    back = float(s)
    assert back == x and math.copysign(1, back) == math.copysign(1, x)
    assert "e" not in s  # exponent forms go through Decimal, like boto3 ('1E-7')


def test_generated_doubles_round_trip() -> None:
    spec = builtin_spec()
    for t in spec.tables[:6]:
        batch = generate_batch(spec, t, 3, 0, 500)
        for c in t.columns:
            if c.type == "double":
                for v in batch.column(c.name).to_pylist():
                    assert float(ddb_number(v)) == v and float(repr(v)) == v


@pytest.mark.parametrize(
    "us", [0, 1, -1, 1_767_225_600_000_000, -62_135_596_800_000_000, 253_402_300_799_999_999]
)
def test_timestamp_micros_exact(us: int) -> None:
    dt = micros_to_datetime(us)
    assert dt.tzinfo is not None and datetime_to_micros(dt) == us


def test_timestamp_matches_arrow() -> None:
    dt = datetime(2025, 12, 11, 22, 53, 45, 272421, tzinfo=timezone.utc)
    assert micros_to_datetime(1765493625272421) == dt


def test_redis_decoders() -> None:
    assert REDIS_DECODERS["bigint"](b"-42") == -42
    assert REDIS_DECODERS["boolean"](b"1") is True and REDIS_DECODERS["boolean"](b"0") is False
    assert REDIS_DECODERS["text"]("ünï".encode()) == "ünï"


def test_typed_key() -> None:
    assert typed_key("123", "bigint") == 123
    assert typed_key(5, "hex64") == "5"
    with pytest.raises(FeatbenchError, match="not an integer"):
        typed_key("abc", "bigint")


@pytest.mark.parametrize(
    "s,size",
    [
        ("0", 1),
        ("7", 2),
        ("12", 2),
        ("123", 3),
        ("1000", 2),
        ("0.1", 2),
        ("0.001", 2),
        ("-12.5", 3),
        ("1E-7", 2),
        ("1767225600000000", 5),
        ("1765493625272421", 9),
        ("0.30000000000000004", 10),
    ],
)
def test_ddb_number_size(s: str, size: int) -> None:
    assert ddb_number_size(s) == size


def test_ddb_item_size() -> None:
    item = {"a": {"S": "héllo"}, "bb": {"N": "12"}, "c": {"BOOL": True}}
    assert ddb_item_size(item) == (1 + 6) + (2 + 2) + (1 + 1)


def test_read_units() -> None:
    assert read_units(1, True) == 1 and read_units(1, False) == 0.5
    assert (
        read_units(4096, True) == 1
        and read_units(4097, True) == 2
        and read_units(8193, False) == 1.5
    )


# -- retries with botocore's Stubber ---------------------------------------------------
def _client():
    return boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def _policy(sleeps: list[float], attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(base_s=0.01, cap_s=0.05, max_attempts=attempts, sleep=sleeps.append)


THROTTLE = "ProvisionedThroughputExceededException"


def test_throttles_are_retried_with_backoff_and_counted() -> None:
    c = _client()
    sleeps: list[float] = []
    stats = new_stats()
    with Stubber(c) as st:
        st.add_client_error("get_item", THROTTLE, http_status_code=400)
        st.add_client_error("get_item", "ThrottlingException", http_status_code=400)
        st.add_response("get_item", {"Item": {"k": {"S": "a"}}})
        r = call_with_retry(
            c.get_item, _policy(sleeps), stats, TableName="t", Key={"k": {"S": "a"}}
        )
    assert r["Item"] == {"k": {"S": "a"}}
    assert stats["throttles"] == 2 and stats["retries"] == 2
    assert len(sleeps) == 2 and all(0 <= s <= 0.05 for s in sleeps)


def test_throttling_that_never_ends_is_one_error() -> None:
    c = _client()
    stats = new_stats()
    with Stubber(c) as st:
        for _ in range(3):
            st.add_client_error("get_item", THROTTLE, http_status_code=400)
        with pytest.raises(RetriesExhausted) as ei:
            call_with_retry(c.get_item, _policy([], 3), stats, TableName="t", Key={"k": {"S": "a"}})
    assert isinstance(ei.value, FeatbenchError) and "\n" not in str(ei.value)
    assert stats["throttles"] == 3 and stats["retries"] == 2


def test_other_errors_are_not_retried() -> None:
    c = _client()
    stats = new_stats()
    with Stubber(c) as st:
        st.add_client_error("get_item", "ValidationException", http_status_code=400)
        with pytest.raises(Exception, match="ValidationException"):
            call_with_retry(c.get_item, _policy([]), stats, TableName="t", Key={"k": {"S": "a"}})
    assert stats["retries"] == 0


def test_batch_get_retries_unprocessed_keys() -> None:
    c = _client()
    stats = new_stats()
    k = [{"k": {"S": s}} for s in "abc"]
    with Stubber(c) as st:
        st.add_response(
            "batch_get_item",
            {
                "Responses": {"t": [k[0]]},
                "UnprocessedKeys": {"t": {"Keys": k[1:]}},
                "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 0.5}],
            },
        )
        st.add_client_error("batch_get_item", THROTTLE, http_status_code=400)
        st.add_response(
            "batch_get_item",
            {
                "Responses": {"t": k[1:]},
                "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 1.0}],
            },
        )
        got, units = batch_get(c, {"t": {"Keys": k}}, _policy([]), stats)
    assert got == {"t": k}
    assert units == 1.5
    assert stats["unprocessed_keys"] == 2 and stats["throttles"] == 1 and stats["retries"] == 2


def test_batch_get_without_capacity_reports_none_not_zero() -> None:
    c = _client()
    with Stubber(c) as st:
        st.add_response("batch_get_item", {"Responses": {"t": []}})
        _, units = batch_get(c, {"t": {"Keys": [{"k": {"S": "a"}}]}}, _policy([]), new_stats())
    assert units is None


def test_batch_write_retries_unprocessed_items() -> None:
    c = _client()
    stats = new_stats()
    puts = [{"PutRequest": {"Item": {"k": {"S": s}}}} for s in "ab"]
    with Stubber(c) as st:
        st.add_response("batch_write_item", {"UnprocessedItems": {"t": puts[1:]}})
        st.add_response("batch_write_item", {"UnprocessedItems": {}})
        batch_write(c, {"t": puts}, _policy([]), stats)
        st.assert_no_pending_responses()
    assert stats["unprocessed_items"] == 1 and stats["retries"] == 1


def _stubbed_backend(attempts: int = 4) -> tuple[DynamoDBBackend, Stubber]:
    c = _client()
    b = DynamoDBBackend(
        parse_target("dynamodb://?region=us-east-1&namespace=u"),
        client=c,
        retry=_policy([], attempts),
    )
    return b, Stubber(c)


def test_session_counts_throttles_and_never_crashes() -> None:
    spec = custom_spec()
    b, st = _stubbed_backend(attempts=2)
    s = b.session(spec, "batch")
    item = {"entity_id": {"N": "1"}}
    with st:
        st.add_client_error("batch_get_item", THROTTLE, http_status_code=400)
        st.add_response(
            "batch_get_item",
            {
                "Responses": {"u.device__risk__1d": [item]},
                "ConsumedCapacity": [{"CapacityUnits": 0.5}],
            },
        )
        r = s.execute({"device": 1})
        assert (
            r.error is None
            and r.rows_found == 1
            and r.rows_looked_up == 1
            and r.consumed_units == 0.5
        )
        st.add_client_error("batch_get_item", THROTTLE, http_status_code=400)
        st.add_client_error("batch_get_item", THROTTLE, http_status_code=400)
        r = s.execute({"device": 1})
    assert r.error is not None and "RetriesExhausted" in r.error and r.rows_found == 0
    assert s.stats["throttles"] == 3 and s.stats["errors"] == 1


def test_session_serial_sums_capacity_per_table() -> None:
    spec = custom_spec()
    b, st = _stubbed_backend()
    s = b.session(spec, "serial")
    with st:
        st.add_response(
            "get_item",
            {"Item": {"entity_id": {"N": "5"}}, "ConsumedCapacity": {"CapacityUnits": 0.5}},
        )
        st.add_client_error("get_item", THROTTLE, http_status_code=400)
        st.add_response("get_item", {"ConsumedCapacity": {"CapacityUnits": 0.5}})
        st.add_response(
            "get_item",
            {"Item": {"entity_id": {"N": "5"}}, "ConsumedCapacity": {"CapacityUnits": 1.0}},
        )
        r = s.execute({"account": 5})
    assert r.error is None and r.rows_found == 2 and r.rows_looked_up == 3
    assert r.consumed_units == 2.0 and s.stats["throttles"] == 1
    assert set(r.entity_ns or {}) == {"account"}


def test_bad_options_are_one_line_errors() -> None:
    for url, msg in [
        ("dynamodb://?region=us-east-1&layout=wide", "layout"),
        ("dynamodb://?region=us-east-1&colour=blue", "colour"),
        ("dynamodb://?region=us-east-1&consistent=maybe", "consistent"),
        ("dynamodb://?region=us-east-1&namespace=a:b", "namespace"),
    ]:
        with pytest.raises(FeatbenchError, match=msg) as ei:
            DynamoDBBackend(parse_target(url), client=_client())
        assert "\n" not in str(ei.value)


# -- load planning ---------------------------------------------------------------------
def test_plan_load_decisions() -> None:
    spec = custom_spec()
    t0, t1, t2, t3 = spec.tables
    done = new_meta(spec, t0, "x", 1.0, 7)
    done.complete = True
    half = new_meta(spec, t1, "x", 1.0, 7)
    metas = {t0.table_name: done, t1.table_name: half, t2.table_name: None, t3.table_name: None}
    p = plan_load(spec, 1.0, 7, metas, force=False, where="here")
    assert p.skip == [t0] and p.load == [t1, t2, t3] and p.clear == []
    p = plan_load(spec, 1.0, 7, metas, force=True, where="here")
    assert p.skip == [] and p.load == list(spec.tables) and p.clear == list(spec.tables)
    with pytest.raises(FeatbenchError, match=f"{t0.table_name} in here holds seed 7"):
        plan_load(spec, 1.0, 8, metas, force=False, where="here")
    with pytest.raises(FeatbenchError, match="scale 1"):
        plan_load(spec, 2.0, 7, metas, force=False, where="here")


def test_meta_json_round_trip() -> None:
    spec = custom_spec()
    m = new_meta(spec, spec.tables[0], "x", 0.5, 3)
    m.stats["item_bytes_mean"] = 12.5
    assert TableMeta.from_json(m.to_json()) == m


def test_run_load_stops_on_first_error_and_keeps_finished_tables() -> None:
    spec = custom_spec()
    done: list[str] = []
    written: list[tuple[str, int]] = []

    def write(t, batch) -> int:
        if t.table_name == "account__activity__30d":
            raise RuntimeError("disk full")
        written.append((t.table_name, batch.num_rows))
        return batch.num_rows

    with pytest.raises(RuntimeError, match="disk full"):
        run_load(
            spec,
            spec.tables,
            1.0,
            7,
            streams=1,
            chunk_rows=25,
            write_chunk=write,
            on_table_done=lambda t: done.append(t.table_name),
            label="t",
            progress=False,
        )
    assert "account__profile" in done and "account__activity__30d" not in done
    with pytest.raises(FeatbenchError, match="streams"):
        run_load(
            spec,
            spec.tables,
            1.0,
            7,
            streams=0,
            chunk_rows=25,
            write_chunk=write,
            on_table_done=lambda t: None,
            label="t",
            progress=False,
        )


def test_run_load_writes_every_row_once() -> None:
    spec = custom_spec()
    seen: dict[str, list[int]] = {}

    def write(t, batch) -> int:
        seen.setdefault(t.table_name, []).extend(batch.column(0).to_pylist())
        return batch.num_rows

    rows, _ = run_load(
        spec,
        spec.tables,
        1.0,
        7,
        streams=3,
        chunk_rows=7,
        write_chunk=write,
        on_table_done=lambda t: None,
        label="t",
        progress=False,
    )
    assert rows == sum(t.rows for t in spec.tables)
    for t in spec.tables:
        want = generate_batch(spec, t, 7, 0, t.rows).column(0).to_pylist()
        assert sorted(seen[t.table_name]) == sorted(want)


# -- sampling --------------------------------------------------------------------------
def test_sample_candidates_nested() -> None:
    spec = builtin_spec()
    e = "cardholder_name"
    a = sample_candidates(spec, e, 50, seed=1, data_seed=42, scale=0.01)
    assert a == sample_candidates(spec, e, 50, seed=1, data_seed=42, scale=0.01)
    assert a != sample_candidates(spec, e, 50, seed=2, data_seed=42, scale=0.01)
    keys = [k for _, k in a]
    assert len(set(keys)) == 50
    big = max(spec.tables_for(e), key=lambda t: t.rows)
    universe = set(generate_batch(spec, big, 42, 0, scaled_rows(big, 0.01)).column(0).to_pylist())
    assert set(keys) <= universe
    everything = sample_candidates(spec, e, 10**6, seed=1, data_seed=42, scale=0.01)
    assert {k for _, k in everything} == universe


def test_sample_candidates_uniform_over_keys() -> None:
    spec = custom_spec()
    n = custom_spec().tables[0].rows  # account universe: 90 keys
    counts = np.zeros(n)
    all_keys = generate_batch(spec, spec.tables[0], 7, 0, n).column(0).to_pylist()
    pos = {k: i for i, k in enumerate(all_keys)}
    for seed in range(300):
        for _, k in sample_candidates(spec, "account", 10, seed, 7, 1.0):
            counts[pos[k]] += 1
    # 3000 draws over 90 keys: every key drawn, none wildly over-represented.
    assert counts.min() > 10 and counts.max() < 70


def test_sample_candidates_independent_universes() -> None:
    data = dict(CUSTOM, key_universe="independent")
    spec = spec_from_dict(data)
    a = sample_candidates(spec, "account", 40, seed=5, data_seed=7, scale=1.0)
    assert a == sample_candidates(spec, "account", 40, seed=5, data_seed=7, scale=1.0)
    tables = {t.table_name for t, _ in a}
    assert len(tables) > 1  # drawn from every table, not just the largest
    for t, k in a:
        assert k in generate_batch(spec, t, 7, 0, t.rows).column(0).to_pylist()


def test_sample_rows_includes_ends() -> None:
    idx = sample_rows(1000, 10, 3)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) == 10 and idx == sorted(set(idx))
    assert sample_rows(1, 10, 3) == [0] and sample_rows(0, 5, 1) == []


def test_compare_row_finds_type_and_value_differences() -> None:
    want = {"a": 1, "b": 0.5, "c": True}
    assert compare_row(want, dict(want), "r") == []
    assert compare_row(want, None, "r") == ["r: row is missing"]
    assert any(
        "column b is 0.5000000000000001" in p
        for p in compare_row(want, {**want, "b": 0.5000000000000001}, "r")
    )
    assert any("int 1" in p for p in compare_row(want, {**want, "c": 1}, "r"))
    assert any("unexpected" in p for p in compare_row(want, {**want, "d": 0}, "r"))
