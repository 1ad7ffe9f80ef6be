"""The loader against a real PostgreSQL (the system server in CI, an embedded one elsewhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from featbench.backends.pgload.loader import PgLoadReport
from featbench.backends.pgload.state import lock_key
from featbench.backends.pgload.worker import ChunkTask, Worker, WorkerConfig
from featbench.backends.postgres import PostgresBackend
from featbench.cli import main
from featbench.datafiles import write_dataset
from featbench.errors import FeatbenchError
from featbench.generate import generate_batch
from featbench.spec import WorkloadSpec, builtin_spec, scaled_rows, spec_from_dict
from featbench.target import parse_target

pytestmark = pytest.mark.integration

FRAUD = builtin_spec()
SCALE = 0.004  # ~5.9k rows over 30 tables


def small_spec(key_type: str = "hex64") -> WorkloadSpec:
    """4 entities, 7 tables: nothing in featbench may assume 3 entities or 30 tables."""
    ents = [f"ent{i}" for i in range(4)]
    tables = []
    for i in range(7):
        tables.append(
            {
                "entity": ents[i % 4],
                "family": "feat",
                "window": ["30d", "90d"][i // 4],
                "rows": 300 + 100 * (i // 4),
                "columns": [
                    {"name": "n", "type": "bigint"},
                    {"name": "share", "type": "double", "gen": "uniform"},
                    {"name": "seen", "type": "timestamptz"},
                    {"name": "flag", "type": "boolean"},
                    {"name": "small", "type": "integer"},
                    {
                        "name": "kind",
                        "type": "text",
                        "gen": "category",
                        "choices": ["a", "bb", "ccc"],
                    },
                ],
            }
        )
    return spec_from_dict(
        {
            "name": "small",
            "key_column": "id" if key_type == "bigint" else "hash_key",
            "entities": [{"name": e, "key_type": key_type} for e in ents],
            "tables": tables,
        }
    )


@pytest.fixture
def new_schema(pg_dsn: str) -> Iterator[Callable[[], str]]:
    """Factory of fresh schema names; every one is dropped after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(f"fbt_{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def backend(dsn: str, schema: str) -> PostgresBackend:
    return PostgresBackend(parse_target(dsn), schema=schema)


def do_load(
    dsn: str, schema: str, spec: WorkloadSpec, scale: float, seed: int = 42, **kw: object
) -> PgLoadReport:
    kw.setdefault("streams", 2)
    kw.setdefault("progress", False)
    b = backend(dsn, schema)
    try:
        r = b.load(spec, scale, seed, **kw)  # type: ignore[arg-type]
    finally:
        b.close()
    assert isinstance(r, PgLoadReport)
    return r


def table_digest(conn: psycopg.Connection, schema: str, table: str, key: str) -> str:
    return conn.execute(
        sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY t.{})) FROM {}.{} t").format(
            sql.Identifier(key), sql.Identifier(schema), sql.Identifier(table)
        )
    ).fetchone()[0]


# -- load, counts, keys, skip ------------------------------------------------------------
def test_load_counts_primary_keys_analyze_and_skip(pg_dsn: str, pg_schema: str) -> None:
    r = do_load(pg_dsn, pg_schema, FRAUD, SCALE)
    assert r.ok, [c for c in r.checks if not c.ok]
    assert r.tables_loaded == 30 and r.tables_skipped == 0
    assert r.rows == sum(scaled_rows(t, SCALE) for t in FRAUD.tables)
    assert r.bytes > r.rows * 150  # binary COPY bytes actually sent
    assert r.rows_per_s is not None and r.rows_per_s > 0
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for t in FRAUD.tables:
            n = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(pg_schema), sql.Identifier(t.table_name)
                )
            ).fetchone()[0]
            assert n == scaled_rows(t, SCALE)
        pks = conn.execute(
            "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace"
            " WHERE n.nspname = %s AND k.contype = 'p' AND k.conrelid::regclass::text NOT LIKE '%%\\_%%meta'",
            (pg_schema,),
        ).fetchone()[0]
        assert pks >= 30
        # only ANALYZE writes column statistics
        analyzed = conn.execute(
            "SELECT count(DISTINCT s.starelid) FROM pg_statistic s JOIN pg_class c ON c.oid = s.starelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname LIKE '%%\\_\\_%%'",
            (pg_schema,),
        ).fetchone()[0]
        assert analyzed == 30
        states = dict(
            conn.execute(
                sql.SQL("SELECT status, count(*) FROM {}._load_state GROUP BY 1").format(
                    sql.Identifier(pg_schema)
                )
            ).fetchall()
        )
        assert states == {"done": 30}
        comment = conn.execute("SELECT obj_description(%s::regnamespace)", (pg_schema,)).fetchone()[
            0
        ]
        assert "featbench" in comment
    again = do_load(pg_dsn, pg_schema, FRAUD, SCALE)
    assert again.ok and again.tables_loaded == 0 and again.tables_skipped == 30 and again.rows == 0


def test_a_load_leaves_no_thread_behind(pg_dsn: str, new_schema: Callable[[], str]) -> None:
    # A queue feeder thread left alive made the next load in the same process (a notebook,
    # benchmarks/load_throughput.py) start its workers with spawn instead of fork.
    before = {t.ident for t in threading.enumerate()}
    for _ in range(2):
        assert do_load(pg_dsn, new_schema(), small_spec(), 1.0, verify=False).rows > 0
        left = [t.name for t in threading.enumerate() if t.ident not in before]
        assert left == []


def test_same_data_whatever_streams_chunking_and_copy_format(
    pg_dsn: str, new_schema: Callable[[], str]
) -> None:
    spec = small_spec()
    a, b, c = new_schema(), new_schema(), new_schema()
    assert do_load(pg_dsn, a, spec, 1.0, streams=1, chunk_rows=97).ok
    assert do_load(pg_dsn, b, spec, 1.0, streams=3).ok
    assert do_load(pg_dsn, c, spec, 1.0, streams=2, chunk_rows=50, copy_format="csv").ok
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for t in spec.tables:
            key = spec.key_column_of(t)
            da, db, dc = (table_digest(conn, s, t.table_name, key) for s in (a, b, c))
            assert da == db == dc, t.table_name


def test_integer_keys_end_to_end(pg_dsn: str, pg_schema: str) -> None:
    spec = small_spec("bigint")
    r = do_load(pg_dsn, pg_schema, spec, 1.0)
    assert r.ok
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        typ = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND column_name = 'id' LIMIT 1",
            (pg_schema,),
        ).fetchone()[0]
    assert typ == "bigint"


# -- verify ------------------------------------------------------------------------------
def test_verify_names_a_tampered_row_and_a_missing_table(
    pg_dsn: str, pg_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = small_spec()
    assert do_load(pg_dsn, pg_schema, spec, 1.0).ok
    t0, t1 = spec.tables[0], spec.tables[3]
    key0 = generate_batch(spec, t0, 42, 0, 1).column(0)[0].as_py()  # row 0 is always sampled
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.{} SET share = share + 0.5 WHERE hash_key = %s").format(
                sql.Identifier(pg_schema), sql.Identifier(t0.table_name)
            ),
            (key0,),
        )
        conn.execute(
            sql.SQL("DROP TABLE {}.{}").format(
                sql.Identifier(pg_schema), sql.Identifier(t1.table_name)
            )
        )
    b = backend(pg_dsn, pg_schema)
    try:
        checks = {c.table: c for c in b.verify(spec, 1.0, 42)}
        with pytest.raises(FeatbenchError, match=t1.table_name):
            b.check_tables(spec)
    finally:
        b.close()
    assert not checks[t0.table_name].ok and "share" in " ".join(checks[t0.table_name].problems)
    assert not checks[t1.table_name].ok and "does not exist" in checks[t1.table_name].problems[0]
    assert sum(not c.ok for c in checks.values()) == 2
    # the CLI: exit 2, each failing table named
    spec_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"{pg_schema}.toml"
    spec_file.write_text(spec.to_toml())
    try:
        capsys.readouterr()
        with pytest.raises(SystemExit) as ei:
            main(
                [
                    "verify",
                    "--target",
                    pg_dsn,
                    "--schema",
                    pg_schema,
                    "--spec",
                    str(spec_file),
                    "--scale",
                    "1",
                ]
            )
        assert ei.value.code == 2
        out = capsys.readouterr()
        text = out.out + out.err
        assert t0.table_name in text and t1.table_name in text and "2 of 7 tables failed" in text
        # a different seed is a different data set: said plainly, not as 7 row diffs
        with pytest.raises(SystemExit) as ei:
            main(
                [
                    "verify",
                    "-t",
                    pg_dsn,
                    "--schema",
                    pg_schema,
                    "--spec",
                    str(spec_file),
                    "--scale",
                    "1",
                    "--seed",
                    "7",
                ]
            )
        assert ei.value.code == 2
        # the seed recorded at load time disagrees with --seed: one line naming both
        err = capsys.readouterr().err
        assert "--seed 7" in err and "seed 42" in err, err
    finally:
        spec_file.unlink()
    # a re-run reloads the missing table (it is recorded as featbench's), and its closing
    # verification still reports the tampered row it did not reload
    r = do_load(pg_dsn, pg_schema, spec, 1.0)
    assert any(t1.table_name in n and "missing" in n for n in r.notes)
    bad = {c.table for c in r.checks if not c.ok}
    assert bad == {t0.table_name}


# -- refusals ------------------------------------------------------------------------------
def test_foreign_schema_refused_then_forced_without_damage(pg_dsn: str, pg_schema: str) -> None:
    spec = small_spec()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.mine (id int)").format(sql.Identifier(pg_schema)))
        conn.execute(
            sql.SQL("INSERT INTO {}.mine VALUES (1), (2)").format(sql.Identifier(pg_schema))
        )
    with pytest.raises(FeatbenchError, match="not created by featbench"):
        do_load(pg_dsn, pg_schema, spec, 1.0)

    def objects() -> set[str]:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND relkind = 'r'",
                (pg_schema,),
            ).fetchall()
            return {r[0] for r in rows}

    assert objects() == {"mine"}  # nothing written by the refused load
    assert do_load(pg_dsn, pg_schema, spec, 1.0, force=True).ok
    # a different data set is refused, then replaced with --force; 'mine' is never touched
    with pytest.raises(FeatbenchError, match="pass --force to replace"):
        do_load(pg_dsn, pg_schema, spec, 1.0, seed=7)
    r = do_load(pg_dsn, pg_schema, spec, 1.0, seed=7, force=True)
    assert r.ok and any("dropped 7 featbench tables" in n for n in r.notes)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert (
            conn.execute(
                sql.SQL("SELECT count(*) FROM {}.mine").format(sql.Identifier(pg_schema))
            ).fetchone()[0]
            == 2
        )
        meta = dict(
            conn.execute(
                sql.SQL("SELECT key, value FROM {}._meta").format(sql.Identifier(pg_schema))
            ).fetchall()
        )
    assert meta["schema_created"] == "false" and meta["seed"] == "7"


def test_foreign_table_with_a_spec_name_is_never_overwritten(pg_dsn: str, pg_schema: str) -> None:
    spec = small_spec()
    name = spec.tables[2].table_name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.{} (x int)").format(
                sql.Identifier(pg_schema), sql.Identifier(name)
            )
        )
    with pytest.raises(FeatbenchError, match=f"{name} .* was not created by featbench"):
        do_load(pg_dsn, pg_schema, spec, 1.0, force=True)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        cols = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (pg_schema, name),
        ).fetchall()
    assert cols == [("x",)]


def test_worker_prefetch_of_loaded_or_other_chunks_is_dropped(
    pg_dsn: str, new_schema: Callable[[], str]
) -> None:
    """A chunk generated ahead (`Worker.prefetch`) and then found loaded, or not run at
    all, is dropped without disturbing the chunk that does run."""
    spec, schema = small_spec(), new_schema()
    assert do_load(pg_dsn, schema, spec, 1.0, chunk_rows=100, streams=1).ok
    name = spec.tables[0].table_name
    cfg = WorkerConfig(pg_dsn, pg_dsn, schema, spec.model_dump(mode="json"), 42, "binary", 0)
    w = Worker(cfg, lambda *_: None)
    try:
        w.prefetch(ChunkTask(name, 0, 0, 100))
        assert w.run_chunk(ChunkTask(name, 1, 100, 200)) == (100, 0, True)
        w.prefetch(ChunkTask(name, 2, 200, 300))
        assert w.run_chunk(ChunkTask(name, 2, 200, 300)) == (100, 0, True)
    finally:
        w.close()
    assert not [t for t in threading.enumerate() if t.name == "featbench-generate"]


def test_second_load_on_the_same_schema_is_refused(pg_dsn: str, pg_schema: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(pg_schema),))
        with pytest.raises(FeatbenchError, match="another featbench load is running on schema"):
            do_load(pg_dsn, pg_schema, small_spec(), 1.0)
    # the lock went with its session: now it loads
    assert do_load(pg_dsn, pg_schema, small_spec(), 1.0).ok


# -- files from `featbench generate` ---------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_load_from_dir(
    pg_dsn: str, new_schema: Callable[[], str], tmp_path: Path, fmt: str
) -> None:
    spec = small_spec()
    write_dataset(spec, 1.0, 42, tmp_path, fmt=fmt)  # type: ignore[arg-type]
    a, b = new_schema(), new_schema()
    r = do_load(pg_dsn, a, spec, 1.0, from_dir=tmp_path)
    assert r.ok and r.source == fmt
    assert do_load(pg_dsn, b, spec, 1.0).ok
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for t in spec.tables:
            assert table_digest(conn, a, t.table_name, "hash_key") == table_digest(
                conn, b, t.table_name, "hash_key"
            )
    with pytest.raises(FeatbenchError, match="scale 1.0 seed 42, not scale 2 seed 42"):
        do_load(pg_dsn, new_schema(), spec, 2.0, from_dir=tmp_path)


def test_damaged_file_is_refused_and_nothing_of_it_kept(
    pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    spec = small_spec()
    m = write_dataset(spec, 1.0, 42, tmp_path, fmt="csv")
    bad = spec.tables[1].table_name
    f = tmp_path / m["tables"][bad]["file"]
    data = bytearray(f.read_bytes())
    i = data.index(b",") + 1  # first value after the key
    data[i] = ord("9") if data[i] != ord("9") else ord("8")
    f.write_bytes(bytes(data))
    with pytest.raises(FeatbenchError, match=f"{bad}.*does not match the checksum"):
        do_load(pg_dsn, pg_schema, spec, 1.0, from_dir=tmp_path, streams=1)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        n = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(pg_schema), sql.Identifier(bad)
            )
        ).fetchone()[0]
        chunks = conn.execute(
            sql.SQL("SELECT count(*) FROM {}._load_chunks WHERE table_name = %s").format(
                sql.Identifier(pg_schema)
            ),
            (bad,),
        ).fetchone()[0]
    assert n == 0 and chunks == 0


# -- interruption and resume ------------------------------------------------------------------
def _start_paused_load(dsn: str, schema: str, pause_dir: Path) -> subprocess.Popen[bytes]:
    """A load that stops after its 10th chunk until the test says go (featbench/pausepoint.py):
    the moment of the interruption is certain, whatever the machine's speed."""
    code = (
        "from featbench.cli import main; import sys; "
        f"main(['load', '--target', {dsn!r}, '--schema', {schema!r}, '--scale', '0.05', "
        "'--streams', '1', '--chunk-rows', '200'])"
    )
    env = {**os.environ, "FEATBENCH_TEST_PAUSE_AT": "load-chunk-10"}
    env["FEATBENCH_TEST_PAUSE_DIR"] = str(pause_dir)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def _wait_paused(proc: subprocess.Popen[bytes], pause_dir: Path) -> None:
    deadline = time.monotonic() + 120
    while not (pause_dir / "load-chunk-10.reached").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never reached its 10th chunk"
        time.sleep(0.05)


def _chunks_loaded(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if (
            conn.execute("SELECT to_regclass(%s)", (f"{schema}._load_chunks",)).fetchone()[0]
            is None
        ):
            return 0
        return conn.execute(
            sql.SQL("SELECT count(*) FROM {}._load_chunks").format(sql.Identifier(schema))
        ).fetchone()[0]


TOTAL_CHUNKS_005 = sum(-(-scaled_rows(t, 0.05) // 200) for t in FRAUD.tables)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_load_resumes_and_verifies(
    pg_dsn: str,
    pg_schema: str,
    how: signal.Signals,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    proc = _start_paused_load(pg_dsn, pg_schema, tmp_path)
    try:
        _wait_paused(proc, tmp_path)  # 10 chunks committed; the load waits for a go file
        if how == signal.SIGINT:
            # meanwhile, a second load of the same schema is refused, in one line
            capsys.readouterr()
            with pytest.raises(SystemExit) as ei:
                main(["load", "-t", pg_dsn, "--schema", pg_schema, "--scale", "0.05"])
            assert ei.value.code == 2
            err = capsys.readouterr().err.strip()
            assert "another featbench load is running" in err and len(err.splitlines()) == 1
        proc.send_signal(how)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if how == signal.SIGINT:
        assert proc.returncode == 130, err
        assert b"Traceback" not in err
    done_before = _chunks_loaded(pg_dsn, pg_schema)
    assert 10 <= done_before < TOTAL_CHUNKS_005  # really interrupted mid-way
    b = backend(pg_dsn, pg_schema)
    try:
        assert not all(c.ok for c in b.verify(FRAUD, 0.05, 42))
    finally:
        b.close()
    time.sleep(1.5)  # let an orphaned worker (SIGKILL case) notice and finish its chunk
    # the same command again, its --chunk-rows too: a table the first load had not created
    # yet (tables are created while the first ones copy) is cut by this run
    r = do_load(pg_dsn, pg_schema, FRAUD, 0.05, chunk_rows=200)
    assert r.ok, [c for c in r.checks if not c.ok]
    # ("resuming" is noted when a table was cut mid-way; the interrupt may also fall
    # between tables, so the proof of resuming is in the row counts below)
    total = sum(scaled_rows(t, 0.05) for t in FRAUD.tables)
    assert r.rows + r.rows_skipped < total  # the chunks loaded before were not loaded again
    assert _chunks_loaded(pg_dsn, pg_schema) == TOTAL_CHUNKS_005
