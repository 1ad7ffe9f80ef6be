"""Same answers everywhere: PostgreSQL, Redis and DynamoDB (both layouts) return identical typed rows.

The same spec, scale and seed are loaded into every store; for a sample of keys of every
table the rows fetched from each store must be equal — values, Python types, and the
columns present — to each other and to the generator. `featbench get` is checked the
same way, through the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from featbench.backends.base import Backend, open_backend
from featbench.backends.kvstore import compare_row, expected_row, sample_rows
from featbench.generate import keys_for
from featbench.spec import WorkloadSpec, builtin_spec, scaled_rows

from .conftest import unique_namespace
from .suite import CUSTOM_SCALE, SEED, custom_spec
from .test_postgres import drop_schema

KEYS_PER_TABLE = 4


SPECS = {
    "fraud": (builtin_spec, 0.001),  # 22-84 rows a table: every table sampled, loads fast
    "custom": (custom_spec, CUSTOM_SCALE),
}
Stores = dict[str, dict[str, tuple[Backend, str]]]  # spec -> store name -> (backend, target URL)


@pytest.fixture(scope="module")
def stores(pg_dsn: str, redis_url: str, dynamodb_url: str) -> Iterator[Stores]:
    """Every store loaded with each spec (one namespace/schema per data set, as PostgreSQL wants)."""
    sep = "&" if "?" in dynamodb_url else "?"
    redis_sep = "&" if "?" in redis_url else "?"
    out: Stores = {}
    schemas: list[str] = []
    try:
        for which, (make_spec, scale) in SPECS.items():
            ns = unique_namespace()
            schemas.append(ns)
            urls = {
                "postgres": (pg_dsn, {"schema": ns}),
                "redis": (f"{redis_url}{redis_sep}namespace={ns}", {}),
                "dynamodb": (f"{dynamodb_url}{sep}namespace={ns}", {}),
                "dynamodb-single": (f"{dynamodb_url}{sep}namespace={ns}&layout=single-table", {}),
            }
            out[which] = {}
            for name, (url, opts) in urls.items():
                b = open_backend(url, progress=False, **opts)
                out[which][name] = (b, url)
                b.load(make_spec(), scale, SEED, streams=2)
        yield out
    finally:
        for opened in out.values():
            for name, (b, _) in opened.items():
                if name != "postgres":
                    b.drop()  # type: ignore[attr-defined]
                b.close()
        for ns in schemas:
            drop_schema(pg_dsn, ns)


def _probe_keys(spec: WorkloadSpec, scale: float) -> list[tuple[str, int, Any]]:
    """(entity, key number, key) for a sample of rows of every table (first, last, seeded)."""
    out: dict[tuple[str, int], Any] = {}
    for t in spec.tables:
        for i in sample_rows(scaled_rows(t, scale), KEYS_PER_TABLE, SEED):
            out[(t.entity, i)] = keys_for(spec, t, SEED, i, i + 1)[0].as_py()
    return [(e, i, k) for (e, i), k in sorted(out.items())]


@pytest.mark.parametrize("which", ["fraud", "custom"])
def test_fetch_identical_everywhere(stores: Stores, which: str) -> None:
    make_spec, scale = SPECS[which]
    spec = make_spec()
    probes = _probe_keys(spec, scale)
    assert len(probes) >= KEYS_PER_TABLE * len(spec.entities)
    compared = 0
    for e, i, key in probes:
        answers = {name: b.fetch(spec, {e: key}) for name, (b, _) in stores[which].items()}
        ref = answers["postgres"]
        for t in spec.tables_for(e):
            want = expected_row(spec, t, SEED, i) if i < scaled_rows(t, scale) else None
            for name, rows in answers.items():
                got = rows[t.table_name]
                if want is None:
                    assert got is None, (name, t.table_name, i)
                    continue
                assert not compare_row(want, got, f"{name} {t.table_name} row {i}")
                assert not compare_row(ref[t.table_name], got, f"{name} vs postgres {t.table_name}")
                assert list(got) == list(ref[t.table_name])  # same columns, same order
                compared += 1
    assert compared > 50


def _normalise(doc: Any) -> Any:
    """JSON with ISO timestamps turned back into instants (the offset PostgreSQL prints may differ)."""
    if isinstance(doc, dict):
        return {k: _normalise(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_normalise(v) for v in doc]
    if isinstance(doc, str) and len(doc) >= 25 and doc[4] == "-" and "T" in doc:
        try:
            return datetime.fromisoformat(doc)
        except ValueError:
            return doc
    return doc


def test_featbench_get_identical_everywhere(
    stores: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    from featbench.cli import main

    spec = builtin_spec()
    t = spec.table("cardholder_name__tesseract_velocities__30d")
    pairs = [
        f"{e}={keys_for(spec, spec.tables_for(e)[0], SEED, 3, 4)[0].as_py()}"
        for e in spec.entity_names
    ]
    docs = {}
    for name, (b, url) in stores["fraud"].items():
        args = ["get", "--target", url, "--json", *pairs]
        if name == "postgres":
            args += ["--schema", b.schema]  # type: ignore[attr-defined]
        with pytest.raises(SystemExit) as ei:
            main(args)
        assert ei.value.code == 0
        docs[name] = _normalise(json.loads(capsys.readouterr().out))
    assert (
        docs["postgres"]["found"] == len(spec.tables) and docs["postgres"]["tables"][t.table_name]
    )
    for name, doc in docs.items():
        assert doc == docs["postgres"], name
