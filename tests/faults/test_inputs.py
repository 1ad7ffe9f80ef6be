"""The smaller faults of issue #13 (item 6), each against a real server.

- a target URL that cannot be parsed (`postgresql://[::1`) is one line, exit 2, and a
  password in it is not printed;
- `load --force` over a data set a user's view depends on names the view, exit 2, and
  leaves the data as it was (never CASCADE);
- a re-load of a loaded Redis target verifies what it holds instead of "all 0 tables OK".
(Ctrl-C of a load whose output is not a terminal: tests/faults/test_sizes.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from faults.data_cli import cli, one_line_exit_2
from featbench.backends.base import open_backend
from run_helpers import tiny_spec

SPEC = tiny_spec(2, rows=60, name="inputs")


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("spec") / "inputs.toml"
    p.write_text(SPEC.to_toml())
    return p


@pytest.mark.parametrize("url", ["postgresql://[::1", "postgresql://me:s3cret@[::1/db"])
@pytest.mark.parametrize("command", ["load", "verify", "run", "get"])
def test_unparsable_target_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, url: str
) -> None:
    extra = {"run": ["--out", tmp_path], "get": ["card_fingerprint=ab"]}.get(command, [])
    code, _, err = cli(capsys, command, "-t", url, *extra)
    msg = one_line_exit_2(code, err)
    assert "is not a valid URL" in msg and "[::1" in msg, msg
    assert "s3cret" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def user_view(pg_dsn: str) -> Iterator[str]:
    name = f"fbt_view_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP VIEW IF EXISTS public.{}").format(sql.Identifier(name)))


def test_load_force_with_a_users_view_names_it(
    capsys: pytest.CaptureFixture[str],
    pg_dsn: str,
    pg_schema: str,
    spec_file: Path,
    user_view: str,
) -> None:
    load = ["load", "-t", pg_dsn, "--spec", spec_file, "--schema", pg_schema]
    code, _, err = cli(capsys, *load)
    assert code == 0, err
    table = SPEC.tables[0].table_name
    count = sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(pg_schema), sql.Identifier(table)
    )
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        before = conn.execute(count).fetchone()
        conn.execute(
            sql.SQL("CREATE VIEW public.{} AS SELECT * FROM {}.{}").format(
                sql.Identifier(user_view), sql.Identifier(pg_schema), sql.Identifier(table)
            )
        )
    code, _, err = cli(capsys, *load, "--force", "--seed", "7")  # another data set
    msg = one_line_exit_2(code, err)
    assert f"public.{user_view}" in msg and "depends on it" in msg, msg
    assert "nothing was changed" in msg
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert conn.execute(count).fetchone() == before
        seed = conn.execute(
            sql.SQL("SELECT value FROM {}._meta WHERE key = 'seed'").format(
                sql.Identifier(pg_schema)
            )
        ).fetchone()
    assert seed == ("42",)  # the data set is still the one loaded
    code, out, err = cli(capsys, "verify", "-t", pg_dsn, "--spec", spec_file, "--schema", pg_schema)
    assert code == 0, err


@pytest.fixture
def redis_target(redis_url: str) -> Iterator[str]:
    ns = f"fbt_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in redis_url else "?"
    target = f"{redis_url}{sep}namespace={ns}"
    yield target
    b = open_backend(target)
    try:
        b.drop()
    finally:
        b.close()


def test_redis_reload_verifies_what_it_holds(
    capsys: pytest.CaptureFixture[str], redis_target: str, spec_file: Path
) -> None:
    load = ["load", "-t", redis_target, "--spec", spec_file]
    code, _, err = cli(capsys, *load)
    assert code == 0, err
    code, _, err = cli(capsys, *load)  # everything is loaded already
    assert code == 0, err
    assert "nothing to load" in err
    assert "all 0 tables" not in err
    assert f"verify: all {len(SPEC.tables)} tables OK" in err, err
