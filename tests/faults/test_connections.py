"""Every connection a run holds recovers (README "Reliability"): requests, cache counters,
SQL result rows and EXPLAIN samples, on PostgreSQL and Redis.

Each fault is done while the run waits at `measure-1` (the second level's counters are
read, nothing of it is timed yet), so the second level's first requests, its EXPLAIN
samples and its closing counter read all meet the broken connections.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from .conftest import OwnPostgres, OwnRedis, show_json

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _sql_rows(uri: str, run_id: str) -> list[tuple[float, float | None]]:
    with psycopg.connect(uri, autocommit=True) as conn:
        return conn.execute(
            sql.SQL(
                "SELECT hot_pct, hit_ratio FROM featbench.run_results WHERE run_id = %s "
                "ORDER BY hot_pct"
            ),
            (run_id,),
        ).fetchall()


def _check_pg_run(run: object, uri: str, code: int, err: str) -> dict:
    assert code == 0, err
    assert "Traceback" not in err, err
    doc = show_json(run.run_dir)  # type: ignore[attr-defined]
    assert doc["status"] == "complete"
    levels = doc["ratios"]
    assert sorted(lv["hot_pct"] for lv in levels) == [0, 50, 100]
    for lv in levels:  # every level measured its cache, before and after the fault
        assert lv["io"]["hit_ratio"] is not None, lv
        assert lv["io"]["sampled_requests"] > 0, lv
    rows = _sql_rows(uri, run.run_id)  # type: ignore[attr-defined]
    assert [r[0] for r in rows] == [0.0, 50.0, 100.0]  # a SQL row for every level
    assert all(r[1] is not None for r in rows)
    return doc


@pytest.mark.parametrize("concurrency", ["1", "3"])
def test_terminated_backends_are_reconnected(
    loaded_pg: OwnPostgres, start_run, concurrency: str
) -> None:
    run = start_run(
        loaded_pg.uri, "measure-1", "-c", concurrency, "--max-error-rate", "0.5",
        run_id=f"term{concurrency}",
    )  # fmt: skip
    run.wait_reached("measure-1")
    # the clients' sessions and the run's own connection (counters, SQL rows)
    assert loaded_pg.terminate_others() >= int(concurrency) + 1
    run.go("measure-1")
    code, _out, err = run.finish()
    doc = _check_pg_run(run, loaded_pg.uri, code, err)
    # the second level met the terminated sessions: its failed requests are counted
    second = next(lv for lv in doc["ratios"] if lv["hot_pct"] == 50)  # cold-first: 0, 50, 100
    assert second["errors"] >= 1, second


@pytest.mark.parametrize("concurrency", ["1", "3"])
def test_restart_of_postgres_mid_run(loaded_pg: OwnPostgres, start_run, concurrency: str) -> None:
    run = start_run(
        loaded_pg.uri, "measure-1", "-c", concurrency, "--max-error-rate", "0.5",
        run_id=f"restart{concurrency}",
    )  # fmt: skip
    run.wait_reached("measure-1")
    loaded_pg.restart()  # pg_ctl restart -m fast: every connection is gone
    run.go("measure-1")
    code, _out, err = run.finish()
    _check_pg_run(run, loaded_pg.uri, code, err)


def test_outage_longer_than_the_budget_fails_the_run(
    loaded_pg: OwnPostgres, start_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refused case: a server that stays away longer than --reconnect-timeout fails the
    run (one line, exit 2), keeping the level it finished."""
    run = start_run(
        loaded_pg.uri, "measure-1", "--reconnect-timeout", "1", run_id="budget",
    )  # fmt: skip
    run.wait_reached("measure-1")
    from pgserver import pg_ctl

    srv = loaded_pg.server
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=srv.pgdata, user=srv.system_user, timeout=60)
    try:
        run.go("measure-1")
        code, _out, err = run.finish()
    finally:
        loaded_pg.restart()  # pg_ctl restart starts a stopped server with its old options
    assert code == 2, err
    assert "within 1 s (--reconnect-timeout)" in err and "Traceback" not in err
    doc = show_json(run.run_dir)
    assert doc["status"] == "failed"
    assert 0 in [lv["hot_pct"] for lv in doc["ratios"]]  # the level it finished


def test_redis_restart_mid_run(own_redis: OwnRedis, start_run) -> None:
    run = start_run(own_redis.url, "measure-1", "--max-error-rate", "0.5", run_id="redis")
    run.wait_reached("measure-1")
    own_redis.shutdown()  # SHUTDOWN NOSAVE
    run.go("measure-1")
    time.sleep(2.0)  # down for a while (the run waits in its reconnect backoff)…
    own_redis.start()  # …then back, with the data of its last SAVE
    code, _out, err = run.finish()
    assert code == 0, err
    doc = show_json(run.run_dir)
    assert doc["status"] == "complete"
    levels = doc["ratios"]
    assert sorted(lv["hot_pct"] for lv in levels) == [0, 50, 100]
    for lv in levels:  # the data is back: every lookup after the restart finds its row
        assert lv["requests"] == 100
        assert lv["keys_found_pct"] is not None and lv["keys_found_pct"] > 0, lv
