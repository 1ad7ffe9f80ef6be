"""`featbench load --engine spark` against a real PostgreSQL, Redis and DynamoDB (moto
server), in Spark's local[2] mode."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from contract.conftest import dynamodb_url, unique_namespace
from featbench.backends.base import open_backend
from featbench.cli import main
from featbench.spark.load import KillMidChunk, SparkChunks
from featbench.spec import WorkloadSpec, scaled_rows
from run_helpers import drop_schema
from test_load import backend, do_load, small_spec, table_digest

__all__ = ["dynamodb_url"]  # a fixture of the contract suite, used here


@pytest.fixture
def other_schema(pg_dsn: str) -> Iterator[str]:
    """A second fresh schema, dropped afterwards."""
    name = f"fbt_{uuid.uuid4().hex[:10]}"
    yield name
    drop_schema(pg_dsn, name)


def spark_load(dsn: str, schema: str, spark_session: Any, **kw: Any):  # type: ignore[no-untyped-def]
    fault = kw.pop("fault", None)
    return do_load(
        dsn, schema, kw.pop("spec"), kw.pop("scale"),
        executor=SparkChunks(spark_session, partitions=2, fault=fault), **kw,
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.spark
def test_spark_load_equals_a_local_load(
    pg_dsn: str, pg_schema: str, other_schema: str, spark_session: Any
) -> None:
    spec, scale = small_spec(), 1.0
    local, dist = other_schema, pg_schema
    do_load(pg_dsn, local, spec, scale, chunk_rows=120)
    r = spark_load(pg_dsn, dist, spark_session, spec=spec, scale=scale, chunk_rows=120)
    assert r.ok, [c for c in r.checks if not c.ok]
    assert r.rows == sum(scaled_rows(t, scale) for t in spec.tables)
    assert r.chunks_skipped == 0 and r.chunks_loaded == sum(
        -(-scaled_rows(t, scale) // 120) for t in spec.tables
    )
    assert r.tables_loaded == len(spec.tables) and r.streams == 2
    key = spec.key_column_of(spec.tables[0])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for t in spec.tables:
            assert table_digest(conn, dist, t.table_name, key) == table_digest(
                conn, local, t.table_name, key
            ), t.table_name
    # a second Spark load finds everything done and loads nothing
    again = spark_load(pg_dsn, dist, spark_session, spec=spec, scale=scale, chunk_rows=120)
    assert again.ok and again.rows == 0 and again.tables_skipped == len(spec.tables)


@pytest.mark.integration
@pytest.mark.spark
def test_a_task_killed_mid_chunk_is_retried_and_counts_are_exact(
    pg_dsn: str, pg_schema: str, spark_session: Any, tmp_path: Path
) -> None:
    spec, scale, chunk = small_spec(), 20.0, 3000  # 6,000+ rows a table, 2-3 chunks each
    first = spec.tables[0].table_name
    marker = tmp_path / "killed"
    # chunk 1 of the first table is the second task of the first Spark partition:
    # its attempt dies with rows of that chunk on the server, chunk 0 already committed
    fault = KillMidChunk(first, 1, str(marker))
    r = spark_load(
        pg_dsn, pg_schema, spark_session, spec=spec, scale=scale, chunk_rows=chunk, fault=fault
    )
    assert marker.exists(), "the fault did not fire"
    assert int(marker.read_text()) > 0  # the server had received rows of the chunk
    assert r.ok, [c for c in r.checks if not c.ok]
    # the retry found chunk 0 recorded by the killed attempt and skipped it
    assert r.chunks_skipped == 1 and r.rows_skipped == chunk
    total = sum(scaled_rows(t, scale) for t in spec.tables)
    assert r.rows + r.rows_skipped == total
    b = backend(pg_dsn, pg_schema)
    try:
        for t in spec.tables:
            n = b.conn.execute(f'SELECT count(*) FROM "{pg_schema}"."{t.table_name}"').fetchone()
            assert n[0] == scaled_rows(t, scale), t.table_name
    finally:
        b.close()


def test_engine_spark_without_pyspark_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now fails
    with pytest.raises(SystemExit) as e:
        main(["load", "-t", "postgresql://nobody@127.0.0.1:1/x", "--engine", "spark"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert "featbench[spark]" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.integration
@pytest.mark.spark
def test_the_commands_run_on_spark(
    pg_dsn: str,
    pg_schema: str,
    spark_session: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """load and generate with --engine spark, through the command line (the active session)."""
    spec_file = tmp_path / "small.toml"
    spec_file.write_text(small_spec().to_toml())
    args = ["load", "-t", pg_dsn, "--schema", pg_schema, "--spec", str(spec_file)]
    with pytest.raises(SystemExit) as e:
        main([*args, "--engine", "spark", "--partitions", "2", "--chunk-rows", "200", "--json"])
    assert e.value.code in (0, None)
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["streams"] == 2 and doc["chunks_loaded"] > 0
    with pytest.raises(SystemExit) as e:
        main(["generate", "--spec", str(spec_file), "--engine", "spark", "--out",
              str(tmp_path / "lake"), "--json"])  # fmt: skip
    assert e.value.code in (0, None)
    assert json.loads(capsys.readouterr().out)["engine"] == "spark"
    with pytest.raises(SystemExit) as e:
        main([*args, "--partitions", "2"])  # a Spark option without --engine spark
    assert e.value.code == 2 and "--engine spark" in capsys.readouterr().err


@pytest.mark.spark
def test_a_task_failing_on_every_attempt_is_one_line(spark_session: Any) -> None:
    from featbench.backends.pgload.worker import ChunkTask, WorkerConfig
    from featbench.errors import FeatbenchError

    cfg = WorkerConfig(
        "postgresql://nobody@127.0.0.1:1/x", "postgresql://127.0.0.1:1/x", "s",
        small_spec().model_dump(mode="json"), 42, "binary", 0,
    )  # fmt: skip
    task = ChunkTask(small_spec().tables[0].table_name, 0, 0, 10)
    with pytest.raises(FeatbenchError) as e:
        SparkChunks(spark_session, partitions=1).run(cfg, [task])
    msg = str(e.value)
    assert "\n" not in msg and "re-run the load" in msg and "Traceback" not in msg


# -- Redis and DynamoDB: the store's own chunk writer in Spark tasks ------------------------
@pytest.fixture
def kv_pair(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """Two fresh namespaces of the store named by the test's parameter: one loaded here,
    one through Spark. Dropped afterwards."""
    url = request.getfixturevalue(f"{request.param}_url")
    opened = [
        open_backend(url, namespace=unique_namespace(), progress=False, chunk_rows=100)
        for _ in range(2)
    ]
    yield opened[0], opened[1]
    for b in opened:
        b.drop()
        b.close()


def kv_items(b: Any, spec: WorkloadSpec) -> dict[str, str]:
    """Every stored row of every table as a canonical text, per table: what a byte-level
    comparison of two loads needs (namespaces differ, so keys are taken without them)."""
    out: dict[str, str] = {}
    for t in spec.tables:
        if b.kind == "redis":
            prefix = f"{b.namespace}:{t.table_name}:"
            rows = {
                k.decode()[len(prefix) :]: sorted(b.r.hgetall(k).items())
                for k in b.r.scan_iter(match=prefix + "*", count=1000)
            }
        else:
            rows = {
                json.dumps(item[spec.key_column_of(t)], sort_keys=True): sorted(item.items())
                for item in b._scan(b.table_name(t))
            }
        out[t.table_name] = repr(sorted(rows.items()))
    return out


@pytest.mark.integration
@pytest.mark.spark
@pytest.mark.parametrize("kv_pair", ["redis", "dynamodb"], indirect=True)
def test_a_spark_load_into_a_key_value_store_equals_a_local_one(
    kv_pair: tuple[Any, Any], spark_session: Any
) -> None:
    local, dist = kv_pair
    spec, scale, seed = small_spec(), 1.0, 42
    local.load(spec, scale, seed, streams=2)
    r = dist.load(spec, scale, seed, executor=SparkChunks(spark_session, partitions=2))
    assert all(c.ok for c in r.checks), [c for c in r.checks if not c.ok]
    assert r.rows == sum(scaled_rows(t, scale) for t in spec.tables)
    assert r.tables_loaded == len(spec.tables)
    assert kv_items(dist, spec) == kv_items(local, spec)
    assert sorted(dist.describe()["tables_loaded"]) == sorted(t.table_name for t in spec.tables)
    if dist.kind == "dynamodb":  # the item sizes the tasks measured came back to the driver
        assert dist.describe()["item_bytes"] == local.describe()["item_bytes"]
    # a second Spark load finds every table complete and writes nothing
    again = dist.load(spec, scale, seed, executor=SparkChunks(spark_session, partitions=2))
    assert again.rows == 0 and again.tables_skipped == len(spec.tables)


@pytest.mark.integration
@pytest.mark.spark
@pytest.mark.parametrize("kv_pair", ["redis"], indirect=True)
def test_a_key_value_task_killed_mid_chunk_is_retried_without_losing_or_doubling_rows(
    kv_pair: tuple[Any, Any], spark_session: Any, tmp_path: Path
) -> None:
    _, b = kv_pair
    spec, scale, seed = small_spec(), 1.0, 42
    first = spec.tables[0].table_name
    marker = tmp_path / "killed"
    # chunk 1 of the first table: the task's attempt writes half of it (chunk 0 is
    # already in), then its process exits; Spark runs the task again
    fault = KillMidChunk(first, 1, str(marker))
    r = b.load(spec, scale, seed, executor=SparkChunks(spark_session, partitions=2, fault=fault))
    assert marker.exists(), "the fault did not fire"
    assert int(marker.read_text()) == 50  # half of the 100-row chunk was written
    assert all(c.ok for c in r.checks), [c for c in r.checks if not c.ok]
    assert r.rows == sum(scaled_rows(t, scale) for t in spec.tables)  # each chunk counted once
    for c in b.verify(spec, scale, seed, sample=5, count=True):  # stored rows, counted
        assert c.ok and c.rows == scaled_rows(spec.table(c.table), scale), c


@pytest.mark.integration
@pytest.mark.spark
def test_load_engine_spark_into_redis_through_the_command_line(
    redis_url: str, spark_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "small.toml"
    spec_file.write_text(small_spec().to_toml())
    ns = unique_namespace()
    args = ["load", "-t", redis_url, "--schema", ns, "--spec", str(spec_file)]
    try:
        with pytest.raises(SystemExit) as e:
            main([*args, "--engine", "spark", "--partitions", "2", "--json"])
        assert e.value.code in (0, None)
        doc = json.loads(capsys.readouterr().out)
        assert doc["ok"] and doc["rows"] == sum(t.rows for t in small_spec().tables)
    finally:
        b = open_backend(redis_url, namespace=ns)
        b.drop()
        b.close()


# -- speculative execution: two attempts of one chunk at the same time -------------------------
@pytest.mark.integration
def test_two_attempts_of_a_chunk_at_once_load_it_once(pg_dsn: str, pg_schema: str) -> None:
    """What a speculative copy does (Spark runs it only on another host, so local mode never
    does): a second attempt starts while the first is mid-COPY. The second waits on the
    first's claim of the chunk and skips it once that commits; the rows are there once."""
    import threading

    from featbench.backends.pgload import state
    from featbench.backends.pgload.worker import ChunkTask, Worker, WorkerConfig

    spec, scale = small_spec(), 1.0
    t = spec.tables[0]
    name, key, rows = t.table_name, spec.key_column_of(t), scaled_rows(t, scale)
    do_load(pg_dsn, pg_schema, spec, scale, chunk_rows=rows)  # the table is one chunk
    q = sql.Identifier(pg_schema, name)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        want = table_digest(conn, pg_schema, name, key)
        # back to the state before the chunk ran, without the primary key that is only
        # built after every chunk (it would turn a duplicate into an error, not a count)
        (pk,) = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            (f'"{pg_schema}"."{name}"',),
        ).fetchone()
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(q, sql.Identifier(pk)))
        conn.execute(sql.SQL("TRUNCATE {}").format(q))
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE table_name = %s").format(
                state.q(pg_schema, state.LOAD_CHUNKS)
            ),
            (name,),
        )
    cfg = WorkerConfig(
        pg_dsn, pg_dsn, pg_schema, spec.model_dump(mode="json"), 42, "binary", 0
    )  # fmt: skip
    task = ChunkTask(name, 0, 0, rows)
    in_copy, release = threading.Event(), threading.Event()

    def first_reports(kind: str, *_: Any) -> None:  # holds the first attempt mid-COPY
        if kind == "progress" and not in_copy.is_set():
            in_copy.set()
            assert release.wait(60), "the test never released the first attempt"

    a, b = Worker(cfg, first_reports), Worker(cfg, lambda *_: None)
    got: dict[str, Any] = {}
    try:
        ta = threading.Thread(target=lambda: got.__setitem__("a", a.run_chunk(task)))
        ta.start()
        assert in_copy.wait(60), "the first attempt never started its COPY"
        tb = threading.Thread(target=lambda: got.__setitem__("b", b.run_chunk(task)))
        tb.start()
        b_pid = b.conn.info.backend_pid
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for _ in range(600):  # the second attempt waits on the first's claim (a row lock)
                (wait,) = conn.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (b_pid,)
                ).fetchone()
                if wait == "Lock":
                    break
                threading.Event().wait(0.05)
            assert wait == "Lock", f"second attempt not waiting on the claim: {wait!r}"
        release.set()
        ta.join(60)
        tb.join(60)
    finally:
        release.set()
        a.close()
        b.close()
    assert got["a"] == (rows, got["a"][1], False) and got["a"][1] > 0
    assert got["b"] == (rows, 0, True)  # skipped: the first attempt's commit recorded it
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        (n,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(q)).fetchone()
        assert n == rows
        assert table_digest(conn, pg_schema, name, key) == want
