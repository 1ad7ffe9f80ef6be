"""Quoting without holes (issue #13, item 5).

The `function` strategy's body is dollar-quoted with a tag that does not occur in it, so
a schema name holding `$fb$` runs (on a real server) instead of ending the quote early;
identifiers PostgreSQL would truncate (63 bytes), or that would collide once truncated,
are refused with their names; featbench's own table names are refused in specs; a
table's `schema_name` is refused by `load` (which writes only into --schema) in one line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from faults.data_cli import cli, one_line_exit_2
from featbench.backends.pg_strategies import dollar_tag, function_definition
from featbench.errors import SpecError
from featbench.spec import RESERVED_TABLE_NAMES, spec_from_dict
from run_helpers import drop_schema, fill_tables, tiny_spec


def _spec(entities: list[str], **table: Any) -> dict[str, Any]:
    return {
        "name": "q",
        "entities": [{"name": e} for e in entities],
        "tables": [
            {"entity": e, "family": "fam", "window": "30d", "rows": 10, "name": f"t{i}",
             **table, "columns": [{"name": "n", "type": "bigint"}]}
            for i, e in enumerate(entities)
        ],
    }  # fmt: skip


def test_dollar_tag_never_occurs_in_the_body() -> None:
    assert dollar_tag("SELECT 1") == "$fb$"
    assert dollar_tag('SELECT 1 FROM "a$fb$b"."t"') == "$fb1$"
    assert dollar_tag("$fb$ $fb1$ $fb2$") == "$fb3$"
    spec = tiny_spec(2, rows=50, name="q1")
    name, ddl = function_definition("s$fb$x", spec)
    body = ddl.split("AS $fb1$\n", 1)[1].rsplit("\n$fb1$", 1)[0]
    assert '"s$fb$x"' in body and "$fb1$" not in body


@pytest.fixture
def dollar_schema(pg_dsn: str) -> Iterator[str]:
    name = f"fbt_{uuid.uuid4().hex[:6]}$fb$x"
    yield name
    drop_schema(pg_dsn, name)


def test_function_strategy_in_a_schema_named_with_the_old_tag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_dsn: str, dollar_schema: str
) -> None:
    spec = tiny_spec(2, rows=300, name="dollar")
    fill_tables(pg_dsn, dollar_schema, spec)
    (tmp_path / "s.toml").write_text(spec.to_toml())
    code, out, err = cli(
        capsys, "run", "-t", pg_dsn, "--spec", tmp_path / "s.toml", "--schema", dollar_schema,
        "--out", tmp_path / "res", "--strategy", "function", "--ratios", "100,0",
        "--requests", "20", "--warmup", "2", "--keys", "200", "--io-sample-every", "0",
        "--no-evict-os-cache", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    ratios = doc["sections"][0]["ratios"] if "sections" in doc else doc["summary"]["ratios"]
    assert all(r["errors"] == 0 and r["requests"] == 20 for r in ratios), ratios
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        src = conn.execute(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname LIKE 'featbench\\_request\\_%%'",
            (dollar_schema,),
        ).fetchone()
    assert src is not None and f'"{dollar_schema}"' in src[0]  # the whole body, quoted


def test_parameter_names_that_postgres_would_truncate_are_refused() -> None:
    ok = "e" * 61  # k_ + 61 characters = 63 bytes: kept whole
    spec_from_dict(_spec([ok]))
    a, b = "a" * 61 + "cd", "a" * 61 + "ml"  # 63 characters, the same first 61
    with pytest.raises(SpecError) as ei:
        spec_from_dict(_spec([a, b]))
    msg = str(ei.value)
    assert a in msg and b in msg and "would even become the same parameter" in msg, msg
    assert "truncated by PostgreSQL to 63 bytes" in msg
    with pytest.raises(SpecError, match="is longer than 61 characters"):
        spec_from_dict(_spec(["e" * 62]))


def test_identifiers_over_63_bytes_are_refused() -> None:
    with pytest.raises(SpecError, match="schema_name .* is 64 bytes"):
        spec_from_dict(_spec(["e"], schema_name="s" * 64))
    with pytest.raises(SpecError, match="key_column .* is 65 bytes"):
        spec_from_dict(_spec(["e"], key_column="é" * 32 + "k"))


@pytest.mark.parametrize("name", RESERVED_TABLE_NAMES)
def test_reserved_table_names_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    import tomli_w

    data = _spec(["e"], name=name)
    (tmp_path / "s.toml").write_text(tomli_w.dumps(data))
    code, _, err = cli(capsys, "spec", "show", "--spec", tmp_path / "s.toml")
    msg = one_line_exit_2(code, err)
    assert f"table name {name!r} is reserved" in msg, msg


def test_load_refuses_a_table_in_another_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_dsn: str, pg_schema: str
) -> None:
    data = tiny_spec(1, rows=40, name="elsewhere").model_dump(mode="json", exclude_none=True)
    data["tables"][0]["schema_name"] = "someone_elses"
    import tomli_w

    (tmp_path / "s.toml").write_text(tomli_w.dumps(data))
    args = ["load", "-t", pg_dsn, "--spec", tmp_path / "s.toml", "--schema", pg_schema]
    code, _, err = cli(capsys, *args)
    msg = one_line_exit_2(code, err)
    assert "schema_name 'someone_elses'" in msg and "load writes only into --schema" in msg
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # nothing was written
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (pg_schema,)
        ).fetchone() == (0,)
    # the same table placed in --schema itself is loaded there, where run looks for it
    data["tables"][0]["schema_name"] = pg_schema
    (tmp_path / "s.toml").write_text(tomli_w.dumps(data))
    code, _, err = cli(capsys, *args)
    assert code == 0, err
