"""Workload spec: the built-in fraud-30 as DESIGN.md describes it, and validation that names
the file, the field and what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from featbench.errors import SpecError
from featbench.spec import builtin_spec, check_scale, load_spec, scaled_rows, spec_from_dict


def test_fraud30_shape() -> None:
    s = builtin_spec("fraud-30")
    assert s.entity_names == ["card_fingerprint", "customer_email", "cardholder_name"]
    assert [len(s.tables_for(e)) for e in s.entity_names] == [9, 9, 12]
    assert s.key_column == "hash_key"
    assert all(e.key_type == "hex64" for e in s.entities)
    for t in s.tables:
        assert re.fullmatch(r"[a-z_]+__[a-z_]+__(30d|90d|365d)", t.table_name)
        assert t.table_name == f"{t.entity}__{t.family}__{t.window}"
        assert 8 <= len(t.columns) <= 15, t.table_name
        assert 150 <= s.row_bytes(t) <= 400, (t.table_name, s.row_bytes(t))
    total = sum(scaled_rows(t, 1.0) for t in s.tables)
    assert 1_200_000 <= total <= 1_800_000
    # nested universes: rows grow with the window inside each entity/family
    for e in s.entity_names:
        fams: dict[str, list[int]] = {}
        for t in s.tables_for(e):
            fams.setdefault(t.family, []).append(t.rows)
        assert all(r == sorted(r) for r in fams.values())


def test_scaling_is_linear_and_at_least_one_row() -> None:
    t = builtin_spec().tables[0]
    assert scaled_rows(t, 2.0) == 2 * scaled_rows(t, 1.0)
    assert scaled_rows(t, 1e-9) == 1
    for bad in (0, -1, -0.5):
        with pytest.raises(SpecError, match="--scale must be > 0"):
            check_scale(bad)


def test_toml_round_trip_keeps_fingerprint(tmp_path: Path) -> None:
    s = builtin_spec()
    p = tmp_path / "s.toml"
    p.write_text(s.to_toml())
    assert load_spec(p).fingerprint() == s.fingerprint()
    assert load_spec(None).fingerprint() == s.fingerprint()
    assert load_spec("fraud-30").fingerprint() == s.fingerprint()


def _one_table(**col: object) -> dict:
    column = {"name": "c", "type": "bigint"} | col
    return {
        "name": "t",
        "entities": [{"name": "user"}],
        "tables": [
            {"entity": "user", "family": "f", "window": "30d", "rows": 10, "columns": [column]}
        ],
    }


def test_custom_spec_any_number_of_entities_and_integer_keys() -> None:
    data = {
        "name": "four",
        "key_column": "id",
        "entities": [{"name": f"e{i}", "key_type": "bigint"} for i in range(4)],
        "tables": [
            {
                "entity": f"e{i % 4}",
                "family": f"f{i}",
                "rows": 5 + i,
                "columns": [{"name": "x", "type": "double"}],
            }
            for i in range(7)
        ],
    }
    s = spec_from_dict(data)
    assert len(s.entities) == 4 and len(s.tables) == 7
    assert s.key_column_of(s.tables[0]) == "id"


@pytest.mark.parametrize(
    ("data", "field", "why"),
    [
        (_one_table(type="money"), "tables[0].columns[0].type", "Input should be"),
        (_one_table(gen="rate"), "tables[0].columns[0]", "needs type double"),
        (_one_table(name="Bad Name"), "tables[0].columns[0].name", "not a valid identifier"),
        (
            {**_one_table(), "tables": [{**_one_table()["tables"][0], "rows": 0}]},
            "tables[0].rows",
            "greater than 0",
        ),
        (
            {**_one_table(), "tables": [{**_one_table()["tables"][0], "rows": -5}]},
            "tables[0].rows",
            "greater than 0",
        ),
        (
            {**_one_table(), "tables": [{**_one_table()["tables"][0], "entity": "nobody"}]},
            "",
            "unknown entity 'nobody'",
        ),
    ],
)
def test_bad_specs_name_file_field_and_reason(
    tmp_path: Path, data: dict, field: str, why: str
) -> None:
    import tomli_w

    p = tmp_path / "bad.toml"
    p.write_text(tomli_w.dumps(data))
    with pytest.raises(SpecError) as ei:
        load_spec(p)
    msg = str(ei.value)
    assert msg.startswith(str(p)), msg
    assert field in msg and why in msg, msg
    assert "\n" not in msg


def test_forward_reference_and_nesting_rules() -> None:
    cols = [
        {"name": "rate", "type": "double", "gen": "rate", "of": "n", "per": "n"},
        {"name": "n", "type": "bigint"},
    ]
    d = _one_table()
    d["tables"][0]["columns"] = cols
    with pytest.raises(SpecError, match="must come before it"):
        spec_from_dict(d)
    d = _one_table()
    t30 = d["tables"][0]
    d["tables"] = [t30 | {"rows": 100}, t30 | {"window": "90d", "rows": 50}]
    with pytest.raises(SpecError, match="nested key universes"):
        spec_from_dict(d)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
    p = tmp_path / "broken.toml"
    p.write_text("name = 'x'\n[[tables]\n")
    with pytest.raises(SpecError, match=r"broken.toml: not valid TOML"):
        load_spec(p)
