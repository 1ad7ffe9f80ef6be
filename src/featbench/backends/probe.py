"""The probe before timing: does each table's lookup bind its key, and do its values decode
to the types the spec says? Shared by every backend's `probe(spec, keys_by_entity)`.

Why: a spec describing an existing table can disagree with it (a `bytea` key where the
spec says hex64, a text column where it says bigint). Without a probe every timed request
fails, and the run's numbers describe errors. A type mismatch stops the run before
anything is written, with one line naming the table, the column and both types. Other
errors of the probe request (a timeout, a server-side exception) are the store's
behaviour: the run goes on, measures them, and `--max-error-rate` judges it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from featbench.backends.base import Key, Row
from featbench.errors import FeatbenchError
from featbench.spec import Table, WorkloadSpec

PROBE_KEYS = 20  # keys tried per table until one is found (nested universes miss some)

# The Python values each spec type may decode to. Families, not exact types: an existing
# table may hold NUMERIC where the spec says double, or INTEGER where it says bigint,
# and still serve the same features.
_FAMILY: dict[str, tuple[type, ...]] = {
    "bigint": (int,),
    "integer": (int,),
    "double": (float, Decimal, int),
    "timestamptz": (datetime,),
    "boolean": (bool,),
    "text": (str,),
    "bytea": (bytes,),
    "uuid": (UUID, str),
}
KEY_TYPES = {"hex64": "text"}  # the SQL type of a key type, where its name is not one


class ProbeError(FeatbenchError):
    """A table whose lookup cannot bind its key or whose values do not decode as the spec says."""


def _fits(spec_type: str, value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) and spec_type != "boolean":
        return False  # bool is an int in Python, never a count
    return isinstance(value, _FAMILY[spec_type])


def row_problem(
    spec: WorkloadSpec,
    table: Table,
    row: Row,
    *,
    where: str,
    db_types: dict[str, str] | None = None,
) -> str | None:
    """The first column of `row` (one decoded row of `table`) that the spec's types do not
    fit, as one line naming the table, the column and both types; None when all fit."""
    db_types = db_types or {}
    for c in table.columns:
        if c.name not in row:
            return f"table {where} has no column {c.name!r} that the spec lists ({c.type})"
        v = row[c.name]
        if not _fits(c.type, v):
            have = db_types.get(c.name) or type(v).__name__
            return (
                f"table {where} column {c.name} is {have} in the store, but the spec says "
                f"{c.type}: fix the column's type in the spec"
            )
    return None


def key_problem(
    spec: WorkloadSpec, table: Table, *, where: str, db_type: str | None, error: str
) -> str:
    """One line for a lookup that could not bind its key."""
    ent = spec.entity(table.entity)
    have = f" is {db_type} in the store" if db_type else ""
    return (
        f"table {where} key column {spec.key_column_of(table)}{have}, but the spec's "
        f"{ent.name} keys are {ent.key_type} ({KEY_TYPES.get(ent.key_type, ent.key_type)}): "
        f"the lookup fails ({error}); fix key_type or key_column in the spec"
    )


def first_keys(keys_by_entity: dict[str, list[Key]], entity: str) -> list[Key]:
    return list(keys_by_entity.get(entity) or [])[:PROBE_KEYS]


def decode_problem(
    table: Table, raw: dict[str, Any], decoders: dict[str, Any], *, where: str
) -> str | None:
    """Decode one stored record field by field (key-value stores keep no types): the first
    column whose stored value does not decode as the spec's type, as one line; else None.
    An absent field is a null value, not a problem."""
    for c in table.columns:
        v = raw.get(c.name)
        if v is None:
            continue
        try:
            value = decoders[c.type](v)
        except Exception:  # noqa: BLE001 - any decoding failure is the finding
            shown = repr(v)[:40]
            return (
                f"table {where} column {c.name} holds {shown} in the store, which does not "
                f"decode as {c.type} (the spec's type)"
            )
        if not _fits(c.type, value):
            return f"table {where} column {c.name} decodes to {type(value).__name__}, not {c.type}"
    return None
