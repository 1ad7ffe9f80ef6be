"""A Feast store as it is (real server, real Feast): `spec from-feast`, `run`, `get`.

The test makes a Feast repository (a small driver data set it writes itself), applies it
and materializes it into the machine's PostgreSQL (project and online schema unique to
the test), writes the spec with `featbench spec from-feast`, runs it with 0 errors, every
key found and one row per feature, leaves Feast's tables unchanged, and `get` on one key
returns the values Feast's own `get_online_features` returns.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from featbench.cli import main
from featbench.feast_spec import FeastView, spec_from_views
from run_helpers import schema_checksum

feast = pytest.importorskip("feast")

DRIVERS = 240
FEATURES = ("conv_rate", "trips", "city")
CITIES = ("lyon", "oslo", "porto")

pytestmark = pytest.mark.integration


def _write_repo(repo: Path, dsn: str, project: str) -> None:
    u = urlparse(dsn)
    # the embedded server listens on a socket directory given as ?host=
    host = u.hostname or parse_qs(u.query).get("host", ["127.0.0.1"])[0]
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        f"""project: {project}
registry: {repo / "registry.db"}
provider: local
online_store:
  type: postgres
  host: {host}
  port: {u.port or 5432}
  database: {u.path.lstrip("/") or "postgres"}
  db_schema: {project}
  user: {u.username or "postgres"}
  password: "{u.password or ""}"
  sslmode: disable
offline_store:
  type: file
entity_key_serialization_version: 3
"""
    )
    ts = datetime(2026, 11, 1, tzinfo=timezone.utc)
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array(range(1000, 1000 + DRIVERS), pa.int64()),
                "conv_rate": [i / 7 for i in range(DRIVERS)],
                "trips": pa.array([i * 3 for i in range(DRIVERS)], pa.int64()),
                "city": [CITIES[i % 3] for i in range(DRIVERS)],
                "event_timestamp": [ts] * DRIVERS,
                "created": [ts] * DRIVERS,
            }
        ),
        repo / "drivers.parquet",
    )


# Feast runs in a child process: it leaves a thread pool behind in the process that uses
# it, and the timed-path tests of the same pytest process check that no other thread runs.
FEAST_SCRIPT = """
import json, sys
from datetime import datetime, timedelta, timezone
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

repo = sys.argv[2]
fs = FeatureStore(repo_path=repo)
if sys.argv[1] == "materialize":
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(path=repo + "/drivers.parquet", timestamp_field="event_timestamp",
                        created_timestamp_column="created")
    view = FeatureView(
        name="driver_stats", entities=[driver], ttl=timedelta(days=3650), online=True,
        schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64),
                Field(name="trips", dtype=Int64), Field(name="city", dtype=String)],
        source=source,
    )
    fs.apply([driver, view])
    fs.materialize(start_date=datetime(2026, 10, 1, tzinfo=timezone.utc),
                   end_date=datetime(2026, 11, 2, tzinfo=timezone.utc))
else:
    served = fs.get_online_features(
        features=["driver_stats:" + f for f in sys.argv[4].split(",")],
        entity_rows=[{"driver_id": int(sys.argv[3])}],
    ).to_dict()
    print(json.dumps(served))
"""


def _feast(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", FEAST_SCRIPT, *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _featbench(*args: str) -> subprocess.CompletedProcess[str]:
    """The featbench command in a child process (it reads the repository with feast)."""
    return subprocess.run(
        [sys.executable, "-m", "featbench", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def feast_repo(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    project = f"fbt_feast_{uuid.uuid4().hex[:8]}"
    repo = tmp_path_factory.mktemp("feast") / "repo"
    _write_repo(repo, pg_dsn, project)
    try:
        _feast("materialize", str(repo))
        yield repo, project
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for s in (project, project + "_fb"):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(s)))


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_feast_store_from_spec_to_run_and_get(
    pg_dsn: str,
    feast_repo: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, project = feast_repo
    table = f"{project}_driver_stats"
    before = schema_checksum(pg_dsn, project)
    assert table in before

    spec = tmp_path / "feast.toml"
    done = _featbench("spec", "from-feast", str(repo), "-o", str(spec))
    assert done.returncode == 0, done.stderr
    text = spec.read_text()
    assert f'schema_name = "{project}"' in text and 'key_type = "bytea"' in text

    fb = project + "_fb"
    code, out, err = _cli(
        capsys, "run", "-t", pg_dsn, "--spec", str(spec), "--schema", fb, "-o", str(tmp_path),
        "--run-id", "feast", "-n", "30", "--warmup", "5", "--ratios", "100,0", "--keys", "200",
        "--strategy", "serial,pipeline", "--json",
    )  # fmt: skip
    assert code == 0, err + out
    summary = json.loads((tmp_path / "feast" / "summary.json").read_text())
    for sec in summary["sections"]:
        for r in sec["ratios"]:
            assert r["errors"] == 0, (sec["strategy"], r)
            assert r["keys_found_pct"] == pytest.approx(100.0)
            assert r["rows_per_lookup"] == pytest.approx(len(FEATURES))
    assert schema_checksum(pg_dsn, project) == before  # Feast's tables are only read

    # one key, as featbench shows it and as Feast serves it
    from feast.infra.key_encoding_utils import deserialize_entity_key

    keys = pq.read_table(tmp_path / "feast" / "keys.parquet").to_pylist()
    hex_key = keys[0]["hash_key"]
    assert keys[0]["key_type"] == "bytea" and hex_key.startswith("\\x")
    entity = deserialize_entity_key(bytes.fromhex(hex_key[2:]), entity_key_serialization_version=3)
    driver_id = entity.entity_values[0].int64_val
    code, out, err = _cli(
        capsys, "get", "-t", pg_dsn, "--spec", str(spec), "--schema", fb,
        "--pivot", "feature_name=value_text", f"driver={hex_key}",
    )  # fmt: skip
    assert code == 0, err
    (record,) = json.loads(out)["tables"][table]
    assert set(record) == set(FEATURES), record
    served = json.loads(_feast("serve", str(repo), str(driver_id), ",".join(FEATURES)))
    assert float(record["conv_rate"]) == served["conv_rate"][0]
    assert int(record["trips"]) == served["trips"][0]
    assert record["city"] == served["city"][0]


def test_spec_from_views_is_pure() -> None:
    spec = spec_from_views(
        "proj",
        "online",
        [
            FeastView("driver_stats", "proj_driver_stats", ("driver",), ("a", "b")),
            FeastView("driver_more", "proj_driver_more", ("driver",), ("c",)),
            FeastView("pair", "proj_pair", ("driver", "rider"), ("d",)),
        ],
    )
    assert spec.entity_names == ["driver", "driver__rider"]
    t = spec.table("proj_driver_stats")
    assert t.schema_name == "online" and t.key_column == "entity_key"
    assert t.param_values == [["a", "b"]]
    assert "entity_key = $1 AND feature_name = ANY($2)" in (t.query or "")


def test_from_feast_bad_input_is_one_line(
    feast_repo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _ = feast_repo
    for args, needle in (
        ([str(tmp_path)], "has no feature_store.yaml"),
        ([str(repo), "--feature-view", "nope"], "no feature view 'nope'"),
    ):
        done = _featbench("spec", "from-feast", *args)
        err = done.stderr
        assert done.returncode == 2, err
        assert len(err.strip().splitlines()) == 1 and needle in err, err
        assert "Traceback" not in err and not done.stdout
