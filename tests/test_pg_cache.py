"""Cold is cold: the cache-fit warning, OS page-cache eviction (measured with mincore and
cross-checked with util-linux `fincore`), and `--evict-os-cache` where it cannot work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from featbench.backends import embedded, pg_cache
from featbench.backends.postgres import PostgresBackend
from featbench.cli import main
from featbench.results.validate import validate_run
from featbench.target import parse_target
from run_helpers import fill_tables, filled_schema, remove_server_dir, server_dir, tiny_spec

SPEC = tiny_spec(2, rows=1500, name="coldfit")
SMALL_RUN = (
    "--ratios", "100,0", "--requests", "40", "--warmup", "5", "--keys", "300",
    "--io-sample-every", "20",
)  # fmt: skip


def cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(ex.value.code or 0), out, err


def _manifest(run_json: str) -> dict[str, Any]:
    path = Path(json.loads(run_json)["path"])
    assert validate_run(path) == []
    return json.loads((path / "manifest.json").read_text())


def _fincore_bytes(path: Path) -> int | None:
    exe = shutil.which("fincore")
    if exe is None:
        return None
    out = subprocess.run(
        [exe, "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.split()[0])


# -- pure ---------------------------------------------------------------------------------
def test_fit_warning_says_what_the_sweep_cannot_show() -> None:
    fits = pg_cache.CacheFit(10 * 2**20, 4, 128 * 2**20, 4 * 2**30, True, True)
    w = fits.warning("pg")
    assert w and "fit in shared_buffers (128 MB)" in w and "cold keys will not miss" in w
    assert fits.to_dict()["data_to_shared_buffers"] == 0.078
    between = pg_cache.CacheFit(300 * 2**20, 4, 128 * 2**20, 4 * 2**30, False, True)
    soft = between.warning("pg")
    assert soft and "OS page cache" in soft and "--evict-os-cache" in soft
    assert between.warning("pg", os_cache_evicted=True) is None  # eviction answers it
    big = pg_cache.CacheFit(8 * 2**30, 4, 128 * 2**20, 4 * 2**30, False, False)
    assert big.warning("pg") is None


def test_hot_set_estimate_and_warning() -> None:
    n_hot = {"ent0": 10, "ent1": 5}  # SPEC: 2 tables per entity
    assert pg_cache.hot_set_bytes(n_hot, SPEC, 8192) == (2 * (2 * 10 + 2) + 2 * (2 * 5 + 2)) * 8192
    assert pg_cache.hot_set_warning("pg", 2**20, 15, 4, 2**21) is None
    w = pg_cache.hot_set_warning("embedded", 48 * 2**20, 300, 30, 32 * 2**20)
    assert w and "up to 48 MB" in w and "shared_buffers (32 MB)" in w and "hot keys may miss" in w
    assert "more shared_buffers" in w
    fixed = pg_cache.hot_set_warning("embedded", 48 * 2**20, 300, 30, 32 * 2**20, fixed_sb=True)
    assert fixed and "more shared_buffers" not in fixed and "--keys" in fixed


def test_local_hosts() -> None:
    assert pg_cache.is_local_host("/var/run/postgresql")
    assert pg_cache.is_local_host("localhost") and pg_cache.is_local_host("127.0.0.1")
    assert pg_cache.is_local_host("db.internal", "127.0.0.1")
    assert not pg_cache.is_local_host("db.example.com", "203.0.113.5")


def test_direct_io_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(embedded.DIRECT_IO_ENV, "off")
    assert "turned off" in str(embedded.direct_io_supported(tmp_path))
    monkeypatch.delenv(embedded.DIRECT_IO_ENV)
    why = embedded.direct_io_supported(tmp_path)
    assert why is None or "O_DIRECT" in why
    assert not list(tmp_path.iterdir())  # the probe file is gone


# -- the machine's server -------------------------------------------------------------------
@pytest.fixture(scope="module")
def filled(pg_dsn: str) -> Iterator[str]:
    with filled_schema(pg_dsn, "fbt_cold", SPEC) as name:
        yield name


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("coldspec") / "coldfit.toml"
    p.write_text(SPEC.to_toml())
    return p


def test_data_that_fits_in_shared_buffers_is_warned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_dsn: str, filled: str, spec_file: Path
) -> None:
    code, out, err = cli(
        capsys, "run", "--target", pg_dsn, "--spec", spec_file, "--schema", filled,
        "--out", tmp_path, *SMALL_RUN, "--json",
    )  # fmt: skip
    assert code == 0, err
    m = _manifest(out)
    cache = m["targets"][0]["cache"]
    assert cache["fits_shared_buffers"] is True
    assert 0 < cache["data_bytes"] < cache["shared_buffers_bytes"]
    assert cache["relations"] == len(SPEC.tables)
    assert any("fit in shared_buffers" in w for w in m["warnings"]), m["warnings"]
    assert "fit in shared_buffers" in err  # on screen, not only in the file
    ev = m["targets"][0]["os_cache_eviction"]
    assert ev["enabled"] is False and "off by default" in ev["reason"] and ev["levels"] == []


@pytest.fixture
def no_settings_role(pg_dsn: str, filled: str) -> Iterator[str]:
    """A role that may read the tables but not the server's settings (data_directory)."""
    role = f"fbt_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL(
                "GRANT USAGE ON SCHEMA {s} TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}"
            ).format(s=sql.Identifier(filled), r=sql.Identifier(role))
        )
    try:
        yield role
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_evict_os_cache_where_the_data_directory_is_not_readable_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    pg_dsn: str,
    filled: str,
    spec_file: Path,
    no_settings_role: str,
) -> None:
    # the session runs as a role without pg_read_all_settings (a usual application role)
    sep = "&" if "?" in pg_dsn else "?"
    dsn = f"{pg_dsn}{sep}options=-c%20role%3D{no_settings_role}"
    code, _out, err = cli(
        capsys, "run", "--target", dsn, "--spec", spec_file, "--schema", filled,
        "--out", tmp_path, *SMALL_RUN, "--evict-os-cache",
    )  # fmt: skip
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert lines[0].startswith("error:") and "Traceback" not in err
    text = " ".join(lines)
    assert "--evict-os-cache" in text and "data_directory" in text and "--no-evict-os-cache" in text
    assert not list(tmp_path.iterdir())  # nothing written


def test_evict_os_cache_on_a_local_server_records_each_ratio(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_dsn: str, filled: str, spec_file: Path
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        d, why = pg_cache.locate_data_dir(conn)
        files_ok = d is not None and os.access(d / "base", os.R_OK)
    if not files_ok:
        pytest.skip(f"the test server's data directory is not readable here: {why}")
    code, out, err = cli(
        capsys, "run", "--target", pg_dsn, "--spec", spec_file, "--schema", filled,
        "--out", tmp_path, *SMALL_RUN, "--evict-os-cache", "--json",
    )  # fmt: skip
    assert code == 0, err
    ev = _manifest(out)["targets"][0]["os_cache_eviction"]
    assert ev["enabled"] is True and ev["reason"] == "--evict-os-cache"
    assert sorted(r["level"] for r in ev["levels"]) == [0, 100]
    for r in ev["levels"]:
        # each table: heap (+ fsm/vm forks) and its primary key index
        assert r["files"] >= 2 * len(SPEC.tables) and r["bytes"] > 0
        assert r["resident_after_bytes"] <= r["bytes"] // 20, r


# -- the embedded server: featbench runs it, so eviction is on by default --------------------
@pytest.fixture(scope="module")
def emb() -> Iterator[tuple[str, str, Path]]:
    home = server_dir("coldhome")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEATBENCH_HOME", str(home))
        try:
            srv = embedded.start()
            fill_tables(srv.uri, "fbt_cold_emb", SPEC)
            yield srv.uri, "fbt_cold_emb", srv.pgdata
        finally:
            embedded.stop(purge=True)
            remove_server_dir(home)


def test_eviction_empties_the_page_cache_of_every_relation_file(
    emb: tuple[str, str, Path],
) -> None:
    _uri, schema, pgdata = emb
    b = PostgresBackend(parse_target("embedded"), schema=schema)
    try:
        ev = b.os_cache_eviction(SPEC, None)
        assert ev.enabled and ev.evict is not None and "embedded" in ev.reason
        files = pg_cache.segment_files(pgdata, pg_cache.relation_paths(b.conn, schema, SPEC))
        assert len(files) >= 2 * len(SPEC.tables)
        for f in files:  # read every file through the page cache: now resident
            f.read_bytes()
        size = sum(f.stat().st_size for f in files)
        before = sum(pg_cache.resident_bytes(f) for f in files)
        assert before == size
        fc = [_fincore_bytes(f) for f in files]
        if fc[0] is not None:  # util-linux agrees with our mincore
            assert sum(x or 0 for x in fc) == before
        rec = ev.evict()
        assert rec["files"] == len(files) and rec["bytes"] == size
        assert rec["resident_before_bytes"] == before
        assert rec["checkpoint_ms"] is not None
        # measured again, independently of the record
        after = sum(pg_cache.resident_bytes(f) for f in files)
        assert rec["resident_after_bytes"] == after == 0
        if fc[0] is not None:
            assert sum(_fincore_bytes(f) or 0 for f in files) == 0
    finally:
        b.close()


def test_run_on_embedded_evicts_before_every_ratio(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emb: tuple[str, str, Path],
    spec_file: Path,
) -> None:
    _uri, schema, _pgdata = emb
    base = ["run", "--target", "embedded", "--spec", spec_file, "--schema", schema, *SMALL_RUN]
    code, out, err = cli(capsys, *base, "--out", tmp_path / "on", "--json")
    assert code == 0, err
    t = _manifest(out)["targets"][0]
    ev = t["os_cache_eviction"]
    assert ev["enabled"] is True and "embedded" in ev["reason"]
    assert sorted(r["level"] for r in ev["levels"]) == [0, 100]
    assert all(r["files"] > 0 and r["resident_after_bytes"] == 0 for r in ev["levels"])
    if t["server"]["settings"].get("debug_io_direct") == "data":
        # direct I/O: the ratio's reads did not bring the files back into the page cache
        assert "direct I/O" in ev["method"] and t["cache"]["direct_io"] is True
        assert max(r["resident_before_bytes"] for r in ev["levels"][1:]) == 0, ev["levels"]
    code, out, err = cli(capsys, *base, "--out", tmp_path / "off", "--no-evict-os-cache", "--json")
    assert code == 0, err
    ev = _manifest(out)["targets"][0]["os_cache_eviction"]
    assert ev["enabled"] is False and ev["levels"] == [] and "--no-evict-os-cache" in ev["reason"]
