"""`verify`: does the database hold exactly the data set the generator defines?

Per table: it exists, its row count equals the spec at that scale, its primary key
exists on the key column, and a sample of rows — chosen by row index, including the
first and the last — equals, column by column and typed (integers, doubles bit for
bit, timestamps, text, booleans), what `generate_batch` produces for that index.
The sample is the same for the same seed, so a failure is reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from featbench.backends.base import TableCheck
from featbench.backends.pgload.state import DataSet, q, read_meta, read_state, relation_names
from featbench.generate import generate_batch
from featbench.spec import Table, WorkloadSpec, scaled_rows


def sample_indexes(rows: int, sample: int, seed: int, table: str) -> list[int]:
    """Row indexes to compare: first, last and a seeded spread in between (sorted, unique)."""
    if rows <= 0 or sample <= 0:
        return []
    if rows <= sample:
        return list(range(rows))
    salt = int.from_bytes(table.encode()[:8].ljust(8, b"\0"), "little")
    rng = np.random.default_rng([seed & 0xFFFFFFFF, salt & 0xFFFFFFFF, len(table)])
    picked = {0, rows - 1}
    picked.update(int(i) for i in rng.choice(rows, size=sample - 2, replace=False))
    return sorted(picked)[: max(sample, 2)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "…"


def _check_rows(
    conn: psycopg.Connection[Any],
    schema: str,
    spec: WorkloadSpec,
    table: Table,
    seed: int,
    idx: list[int],
) -> list[str]:
    key = spec.key_column_of(table)
    names = [key] + [c.name for c in table.columns]
    expected: dict[Any, tuple[int, dict[str, Any]]] = {}
    for i in idx:
        row = generate_batch(spec, table, seed, i, i + 1).to_pylist()[0]
        expected[row[key]] = (i, row)
    got_rows = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, names)),
            q(schema, table.table_name),
            sql.Identifier(key),
        ),
        (list(expected),),
    ).fetchall()
    got: dict[Any, list[tuple[Any, ...]]] = {}
    for r in got_rows:
        got.setdefault(r[0], []).append(r)
    problems: list[str] = []
    for k, (i, exp) in expected.items():
        rows = got.get(k, [])
        if not rows:
            problems.append(f"row {i} (key {str(k)[:12]}…) is missing")
            continue
        if len(rows) > 1:
            problems.append(f"row {i} (key {str(k)[:12]}…) appears {len(rows)} times")
        for name, v in zip(names, rows[0], strict=True):
            if not _same(v, exp[name]):
                problems.append(
                    f"row {i} (key {str(k)[:12]}…): {name} is {_short(v)} in the database, "
                    f"{_short(exp[name])} generated"
                )
    return problems


def verify(
    conn: psycopg.Connection[Any],
    schema: str,
    spec: WorkloadSpec,
    scale: float,
    seed: int,
    *,
    sample: int = 20,
) -> list[TableCheck]:
    """Check every table of the spec; one TableCheck per table, `ok` only if nothing is wrong."""
    present = relation_names(conn, schema)
    meta = read_meta(conn, schema) if present else None
    want = DataSet.of(spec, scale, seed)
    have = DataSet.from_meta(meta) if meta else None
    mismatch = None
    if have is not None and not have.same_data(want):
        mismatch = f"schema {schema} holds {have.describe()}, not {want.describe()}"
    state = read_state(conn, schema) if meta else {}
    pk_tables = {
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]"
            " WHERE k.contype = 'p' AND n.nspname = %s AND array_length(k.conkey, 1) = 1"
            " AND a.attname = ANY(%s)",
            (schema, sorted({spec.key_column_of(t) for t in spec.tables})),
        ).fetchall()
    }
    checks: list[TableCheck] = []
    for t in spec.tables:
        name = t.table_name
        if name not in present:
            checks.append(TableCheck(name, False, [f"table {schema}.{name} does not exist"]))
            continue
        problems: list[str] = []
        if mismatch:
            problems.append(mismatch)
        expected = scaled_rows(t, scale)
        try:
            with conn.transaction():
                # a verify never waits long behind a running load's locks
                conn.execute("SET LOCAL lock_timeout = '10s'")
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(q(schema, name))
                ).fetchone()
                n = int(row[0]) if row else 0
        except psycopg.errors.LockNotAvailable:
            checks.append(
                TableCheck(
                    name, False, ["table is locked (is a load running?); verify again later"]
                )
            )
            continue
        if n != expected:
            problems.append(f"{n:,} rows, expected {expected:,}")
        if name not in pk_tables:
            problems.append(f"no primary key on {spec.key_column_of(t)}")
        st = state.get(name)
        if st is not None and st.status != "done":
            problems.append(
                f"load not finished (status {st.status}, {len(st.chunks_done)} chunks loaded)"
            )
        if not mismatch:
            problems += _check_rows(
                conn, schema, spec, t, seed, sample_indexes(expected, sample, seed, name)
            )
        checks.append(TableCheck(name, not problems, problems, rows=n))
    return checks
