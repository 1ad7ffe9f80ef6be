"""Workload spec: the typed model of entities and feature tables, TOML loading, built-in fraud-30.

A spec says *what* data exists (entities, tables, typed columns, rows at scale 1) and
how each column's values are generated; ``generate`` turns it into rows. Everything is
validated before any database is touched, and errors name the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from featbench.errors import SpecError
from featbench.fsutil import read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
WINDOW = re.compile(r"^(\d+)([hdw])$")

ColumnType = Literal[
    "bigint", "integer", "double", "text", "timestamptz", "boolean",
    "bytea", "uuid",  # existing tables only: featbench generates neither
]  # fmt: skip
# hex64 and bigint: keys featbench generates. text, integer, uuid, bytea: keys of existing
# tables, as their key column has them (checked against the column before anything runs).
KeyType = Literal["hex64", "bigint", "text", "integer", "uuid", "bytea"]
GENERATED_KEY_TYPES = ("hex64", "bigint")
EXISTING_ONLY_COLUMN_TYPES = ("bytea", "uuid")
# a table's own query: $1 is the key, $2… its named parameters
_QUERY_PARAM = re.compile(r"\$(\d+)")
Generator = Literal[
    "count",  # non-negative integer, exponential around `mean`
    "subcount",  # integer <= column `of`, mean fraction `mean`
    "rate",  # `of` / `per`, 0 when `per` is 0: in [0, 1] when `of` is a subcount of `per`
    "ratio",  # `of` / `per` for amounts (e.g. average ticket), 0 when `per` is 0
    "amount",  # non-negative money amount around `mean`, 2 decimals
    "uniform",  # double in [low, high)
    "int_uniform",  # integer in [low, high]
    "first_seen",  # timestamp inside the table's window before the reference time
    "last_seen",  # timestamp between column `after` and the reference time
    "seconds_since",  # integer seconds in [0, window]
    "category",  # one of `choices`
    "text",  # random lowercase hex text of `length` characters
    "bool",  # true with probability `mean` (default 0.5)
]

# Fixed reference "now" so generated timestamps never depend on the wall clock.
REFERENCE_TIME_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
DEFAULT_WINDOW_DAYS = 365
# Row indexes are 63-bit integers (generate.py): no table can hold more rows.
MAX_TABLE_ROWS = 2**62
# Names featbench gives its own tables in a schema: a spec table may not take them.
RESERVED_TABLE_NAMES = ("run_results", "run_keys", "_meta", "_load_state", "_load_chunks")
# PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
MAX_IDENT_BYTES = 63

_TYPE_BYTES = {"bigint": 8, "integer": 4, "double": 8, "timestamptz": 8, "boolean": 1, "uuid": 16}
# estimated stored bytes of one key, per key type (varlena keys with their short header)
KEY_BYTES = {"hex64": 65, "bigint": 8, "integer": 4, "uuid": 16, "text": 33, "bytea": 33}
_GEN_TYPES: dict[str, set[str]] = {
    "count": {"bigint", "integer"},
    "subcount": {"bigint", "integer"},
    "rate": {"double"},
    "ratio": {"double"},
    "amount": {"double"},
    "uniform": {"double"},
    "int_uniform": {"bigint", "integer"},
    "first_seen": {"timestamptz"},
    "last_seen": {"timestamptz"},
    "seconds_since": {"bigint", "integer"},
    "category": {"text"},
    "text": {"text"},
    "bool": {"boolean"},
}
DEFAULT_GEN: dict[str, str] = {
    "bigint": "count",
    "integer": "int_uniform",
    "double": "uniform",
    "timestamptz": "first_seen",
    "text": "text",
    "boolean": "bool",
}
SQL_TYPES: dict[str, str] = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "double": "DOUBLE PRECISION",
    "text": "TEXT",
    "timestamptz": "TIMESTAMPTZ",
    "boolean": "BOOLEAN",
    "bytea": "BYTEA",
    "uuid": "UUID",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _identifier(v: str) -> str:
    if not IDENT.match(v):
        raise ValueError(f"{v!r} is not a valid identifier (lowercase letters, digits, _)")
    return v


Identifier = Annotated[str, AfterValidator(_identifier)]


class Column(_Model):
    name: Identifier
    type: ColumnType
    gen: Generator | None = None
    mean: float | None = Field(default=None, ge=0)
    low: float | None = None
    high: float | None = None
    of: str | None = None
    per: str | None = None
    after: str | None = None
    choices: list[str] | None = None
    length: int | None = Field(default=None, ge=1, le=64)

    @property
    def generator(self) -> str:
        return self.gen or DEFAULT_GEN.get(self.type, "")

    @model_validator(mode="after")
    def _check_gen(self) -> Column:
        if self.type in EXISTING_ONLY_COLUMN_TYPES:
            if self.gen is not None:
                raise ValueError(f"featbench generates no {self.type} values: drop `gen`")
            return self
        g = self.generator
        if self.type not in _GEN_TYPES[g]:
            allowed = ", ".join(sorted(_GEN_TYPES[g]))
            raise ValueError(f"generator {g!r} needs type {allowed}, not {self.type!r}")
        if g in ("subcount",) and not self.of:
            raise ValueError(f"generator {g!r} needs `of` (the column it is a part of)")
        if g in ("rate", "ratio") and not (self.of and self.per):
            raise ValueError(
                f"generator {g!r} needs `of` and `per` (numerator and denominator columns)"
            )
        if g == "last_seen" and not self.after:
            raise ValueError("generator 'last_seen' needs `after` (the first_seen column)")
        if g == "category" and not self.choices:
            raise ValueError("generator 'category' needs a non-empty `choices` list")
        if g in ("uniform", "int_uniform") and self.low is not None and self.high is not None:
            if self.high < self.low:
                raise ValueError("`high` must be >= `low`")
        if g == "subcount" and self.mean is not None and not 0 < self.mean <= 1:
            raise ValueError("`mean` of a subcount is a fraction in (0, 1]")
        if g == "bool" and self.mean is not None and not 0 <= self.mean <= 1:
            raise ValueError("`mean` of a bool is a probability in [0, 1]")
        return self

    def estimated_bytes(self) -> int:
        if self.type == "bytea":
            return (self.length or 32) + 1
        if self.type == "text":
            if self.choices:
                avg = sum(len(c.encode()) for c in self.choices) / len(self.choices)
            else:
                avg = self.length or 12
            return int(round(avg)) + 1  # short varlena header
        return _TYPE_BYTES[self.type]


class Entity(_Model):
    name: Identifier
    key_type: KeyType = "hex64"
    description: str = ""


class Table(_Model):
    entity: str
    family: Identifier
    window: str | None = None
    rows: int = Field(gt=0, description="rows at scale 1")
    columns: list[Column] = Field(min_length=1)
    name: str | None = None
    # "Bring your own feature store": describe an existing table instead of generating one.
    schema_name: str | None = None
    key_column: str | None = None
    # The store's own lookup (existing tables): SQL with $1 the key and $2… the named
    # parameters in `params` (e.g. {"2": ["conv_rate", "acc_rate"]}), timed as given.
    query: str | None = None
    params: dict[str, Any] | None = None

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None and not WINDOW.match(v):
            raise ValueError(f"{v!r} is not a window like '30d', '12h' or '2w'")
        return v

    @property
    def table_name(self) -> str:
        if self.name:
            return self.name
        parts = [self.entity, self.family] + ([self.window] if self.window else [])
        return "__".join(parts)

    @property
    def window_seconds(self) -> int:
        if self.window is None:
            return DEFAULT_WINDOW_DAYS * 86400
        m = WINDOW.match(self.window)
        assert m is not None
        n, unit = int(m.group(1)), m.group(2)
        return n * {"h": 3600, "d": 86400, "w": 7 * 86400}[unit]

    @model_validator(mode="after")
    def _check_query(self) -> Table:
        if self.query is None:
            if self.params:
                raise ValueError("`params` needs `query` (the table's own lookup)")
            return self
        if not re.match(r"^\s*(select|with)\b", self.query, re.IGNORECASE):
            raise ValueError("`query` must be a SELECT (or WITH … SELECT): featbench only reads")
        used = {int(n) for n in _QUERY_PARAM.findall(self.query)}
        if 1 not in used:
            raise ValueError("`query` must use $1 for the key")
        given: set[int] = set()
        for k in self.params or {}:
            if not str(k).isdigit() or int(k) < 2:
                raise ValueError(f"`params` key {k!r} is not a parameter number >= 2 ($2, $3…)")
            given.add(int(k))
        missing = sorted(used - {1} - given)
        if missing:
            raise ValueError(f"`query` uses ${missing[0]}, which has no value in `params`")
        unused = sorted(given - used)
        if unused:
            raise ValueError(f"`params` gives ${unused[0]}, which `query` does not use")
        return self

    @property
    def param_values(self) -> list[Any]:
        """The values of $2, $3… of the table's own query, in order."""
        p = self.params or {}
        return [p[k] for k in sorted(p, key=int)]

    @model_validator(mode="after")
    def _check_refs(self) -> Table:
        if self.name is not None and not IDENT.match(self.name):
            raise ValueError(f"table name {self.name!r} is not a valid identifier")
        if len(self.table_name) > 63:
            raise ValueError(f"table name {self.table_name!r} is longer than 63 characters")
        if self.table_name in RESERVED_TABLE_NAMES:
            raise ValueError(
                f"table name {self.table_name!r} is reserved: featbench keeps its own table of "
                f"that name in the schema (reserved: {', '.join(RESERVED_TABLE_NAMES)})"
            )
        for what, ident in (("schema_name", self.schema_name), ("key_column", self.key_column)):
            if ident is not None and not 0 < len(ident.encode()) <= MAX_IDENT_BYTES:
                raise ValueError(
                    f"{what} {ident!r} is {len(ident.encode())} bytes: PostgreSQL identifiers "
                    f"are 1 to {MAX_IDENT_BYTES} bytes (longer ones are truncated)"
                )
        by_name: dict[str, Column] = {}
        for c in self.columns:
            if c.name in by_name:
                raise ValueError(f"column {c.name!r} appears twice")
            by_name[c.name] = c
        for c in self.columns:
            for ref in ("of", "per", "after"):
                target = getattr(c, ref)
                if target is None:
                    continue
                if target not in by_name:
                    raise ValueError(f"column {c.name!r}: `{ref}` names unknown column {target!r}")
                # Referenced columns are generated first: forbid forward references so
                # generation is a single ordered pass.
                if [x.name for x in self.columns].index(target) >= [
                    x.name for x in self.columns
                ].index(c.name):
                    raise ValueError(
                        f"column {c.name!r}: `{ref}` column {target!r} must come before it"
                    )
        return self


class WorkloadSpec(_Model):
    name: str
    description: str = ""
    key_column: str = "hash_key"
    key_universe: Literal["nested", "independent"] = "nested"
    entities: list[Entity] = Field(min_length=1)
    tables: list[Table] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> WorkloadSpec:
        if not IDENT.match(self.key_column):
            raise ValueError(f"key_column {self.key_column!r} is not a valid identifier")
        names = [e.name for e in self.entities]
        if len(set(names)) != len(names):
            raise ValueError("entity names must be unique")
        seen: set[str] = set()
        for i, t in enumerate(self.tables):
            if t.entity not in names:
                raise ValueError(f"tables[{i}] ({t.table_name}): unknown entity {t.entity!r}")
            if t.table_name in seen:
                raise ValueError(f"tables[{i}]: table name {t.table_name!r} appears twice")
            seen.add(t.table_name)
            if any(c.name == (t.key_column or self.key_column) for c in t.columns):
                raise ValueError(
                    f"tables[{i}] ({t.table_name}): column name {self.key_column!r} is the key column"
                )
        for e in names:
            if not any(t.entity == e for t in self.tables):
                raise ValueError(f"entity {e!r} has no tables")
        _check_parameter_names(names)
        if self.key_universe == "nested":
            # A key in a short window is also in the longer windows of the same family.
            fams: dict[tuple[str, str], list[Table]] = {}
            for t in self.tables:
                fams.setdefault((t.entity, t.family), []).append(t)
            for (ent, fam), ts in fams.items():
                ordered = sorted(ts, key=lambda t: t.window_seconds)
                for a, b in zip(ordered, ordered[1:], strict=False):
                    if a.rows > b.rows:
                        raise ValueError(
                            f"{ent}/{fam}: {a.table_name} has more rows ({a.rows}) than the longer "
                            f"window {b.table_name} ({b.rows}); nested key universes need "
                            "rows non-decreasing with the window"
                        )
        return self

    # -- derived views ---------------------------------------------------------------
    def entity(self, name: str) -> Entity:
        for e in self.entities:
            if e.name == name:
                return e
        raise SpecError(f"unknown entity {name!r}; the spec has {', '.join(self.entity_names)}")

    @property
    def entity_names(self) -> list[str]:
        return [e.name for e in self.entities]

    def tables_for(self, entity: str) -> list[Table]:
        return [t for t in self.tables if t.entity == entity]

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.table_name == name:
                return t
        raise SpecError(f"unknown table {name!r}")

    def key_column_of(self, table: Table) -> str:
        return table.key_column or self.key_column

    def row_bytes(self, table: Table) -> int:
        """Estimated on-disk bytes of one row in PostgreSQL (tuple header + line pointer + data)."""
        key = KEY_BYTES[self.entity(table.entity).key_type]
        return 24 + 4 + key + sum(c.estimated_bytes() for c in table.columns)

    def check_generatable(self) -> None:
        """Raise SpecError when the spec describes data featbench cannot generate (keys or
        columns only existing tables have): such a spec is for `run`, not `load`/`generate`."""
        for e in self.entities:
            if e.key_type not in GENERATED_KEY_TYPES:
                raise SpecError(
                    f"entity {e.name!r} has key_type {e.key_type!r}, which describes existing "
                    f"tables: featbench generates {' or '.join(GENERATED_KEY_TYPES)} keys only"
                )
        for t in self.tables:
            for c in t.columns:
                if c.type in EXISTING_ONLY_COLUMN_TYPES:
                    raise SpecError(
                        f"table {t.table_name} column {c.name} is {c.type}, which featbench does "
                        "not generate: such a spec describes existing tables (run, get)"
                    )

    @property
    def tables_with_query(self) -> list[str]:
        """Tables that give their own lookup query."""
        return [t.table_name for t in self.tables if t.query is not None]

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON form: two specs compare equal iff they generate the same data."""
        data = self.model_dump(mode="json")
        for t in data["tables"]:
            for k in ("query", "params"):  # added later: when unset, the fingerprint is as before
                if t.get(k) is None:
                    t.pop(k, None)
        canon = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def to_toml(self) -> str:
        import tomli_w

        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
        for t in data["tables"]:
            for c in t["columns"]:
                for k in [k for k, v in c.items() if v is None]:
                    del c[k]
        return tomli_w.dumps(data)


def check_scale(scale: float) -> float:
    """A finite, positive scale (inf and nan are refused before anything connects)."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise SpecError(f"--scale must be > 0 and finite, got {scale}")
    return scale


def scaled_rows(table: Table, scale: float) -> int:
    """Rows of a table at a scale: linear, at least one row."""
    rows = table.rows * check_scale(scale)
    if not rows <= MAX_TABLE_ROWS:
        raise SpecError(
            f"--scale {scale:g} gives table {table.table_name} {rows:.3g} rows, more than "
            f"featbench can number ({MAX_TABLE_ROWS:.3g}): use a smaller --scale"
        )
    return max(1, int(round(rows)))


def function_parameter(entity: str) -> str:
    """The `function` strategy's parameter for an entity's key (PostgreSQL)."""
    return f"k_{entity}"


def _check_parameter_names(entities: list[str]) -> None:
    """Refuse entity names whose derived identifiers PostgreSQL would truncate (and so,
    for two names sharing their first 61 characters, make collide)."""
    long = [e for e in entities if len(function_parameter(e).encode()) > MAX_IDENT_BYTES]
    if not long:
        return
    cut: dict[str, list[str]] = {}
    for e in entities:
        cut.setdefault(function_parameter(e).encode()[:MAX_IDENT_BYTES].decode(), []).append(e)
    clash = next((v for v in cut.values() if len(v) > 1), None)
    why = (
        f"; {' and '.join(repr(e) for e in clash)} would even become the same parameter"
        if clash
        else ""
    )
    raise ValueError(
        f"entity name{'s' if len(long) > 1 else ''} {', '.join(repr(e) for e in long)} "
        f"{'are' if len(long) > 1 else 'is'} longer than {MAX_IDENT_BYTES - 2} characters: "
        f"the function strategy's parameter k_<entity> would be truncated by PostgreSQL to "
        f"{MAX_IDENT_BYTES} bytes{why}; shorten the name"
    )


# -- loading ------------------------------------------------------------------------
def _format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in first["loc"])
    loc = loc.replace(".[", "[")
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    where = f"{source}: {loc}: " if loc else f"{source}: "
    return f"{where}{msg}{more}"


def spec_from_dict(data: dict[str, Any], source: str = "<spec>") -> WorkloadSpec:
    try:
        return WorkloadSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(_format_validation_error(source, e)) from None


def load_spec(path: str | Path | None = None) -> WorkloadSpec:
    """Load a spec from a TOML file, or the built-in ``fraud-30`` when path is None/'fraud-30'."""
    if path is None or str(path) in BUILTIN_SPECS:
        return builtin_spec(str(path) if path else "fraud-30")
    p = Path(path)
    text = read_text(p, "spec file", SpecError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{p}: not valid TOML: {e}") from None
    return spec_from_dict(data, str(p))


# -- built-in fraud-30 --------------------------------------------------------------
def _c(name: str, type_: str, gen: str | None = None, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "type": type_}
    if gen:
        d["gen"] = gen
    d.update(kw)
    return d


_COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "CA", "AU", "MX", "NL", "ES"]
_CHANNELS = ["card_present", "ecommerce", "in_app", "moto", "recurring"]


def _rated(event: str, of: str, mean: float) -> list[dict[str, Any]]:
    """`<event>_count`, a share `mean` of `of`, and `<event>_rate`, per transaction."""
    count = f"{event}_count"
    return [
        _c(count, "bigint", "subcount", of=of, mean=mean),
        _c(f"{event}_rate", "double", "rate", of=count, per="txn_count"),
    ]


def _amounts(average: str, m: float) -> list[dict[str, Any]]:
    """Total amount and its mean per transaction (named `average`)."""
    return [
        _c("total_amount", "double", "amount", mean=2500 * m),
        _c(average, "double", "ratio", of="total_amount", per="txn_count"),
    ]


def _seen() -> list[dict[str, Any]]:
    return [
        _c("first_seen", "timestamptz", "first_seen"),
        _c("last_seen", "timestamptz", "last_seen", after="first_seen"),
    ]


def _family_columns(family: str, scale_mean: float) -> list[dict[str, Any]]:
    """Columns of one feature family; `scale_mean` grows counts with the window length."""
    m = scale_mean
    if family == "fraud_rates":
        return [
            _c("txn_count", "bigint", "count", mean=40 * m),
            *_rated("fraud", "txn_count", 0.03),
            *_rated("chargeback", "fraud_count", 0.4),
            *_rated("decline", "txn_count", 0.08),
            *_amounts("avg_amount", m),
            _c("fraud_amount", "double", "amount", mean=60 * m),
            *_seen(),
            _c("risk_band", "text", "category", choices=["low", "medium", "high", "critical"]),
        ]
    if family == "time_since":
        return [
            _c("secs_since_first_txn", "bigint", "seconds_since"),
            _c("secs_since_last_txn", "bigint", "seconds_since"),
            _c("secs_since_last_fraud", "bigint", "seconds_since"),
            _c("secs_since_last_decline", "bigint", "seconds_since"),
            _c("secs_since_last_chargeback", "bigint", "seconds_since"),
            _c("active_days", "integer", "int_uniform", low=1, high=30 * m),
            *_seen(),
            _c("last_country", "text", "category", choices=_COUNTRIES),
            _c("last_channel", "text", "category", choices=_CHANNELS),
        ]
    if family == "good_rates":
        return [
            _c("txn_count", "bigint", "count", mean=40 * m),
            *_rated("approved", "txn_count", 0.92),
            *_rated("good", "approved_count", 0.97),
            *_rated("refund", "approved_count", 0.02),
            *_amounts("avg_ticket", m),
            *_seen(),
            _c(
                "tenure_bucket",
                "text",
                "category",
                choices=["new", "recent", "established", "loyal"],
            ),
        ]
    if family == "tesseract_velocities":
        return [
            _c("txn_count_1h", "bigint", "count", mean=0.5 * m),
            _c("txn_count_24h", "bigint", "count", mean=3 * m),
            _c("txn_count_7d", "bigint", "count", mean=12 * m),
            _c("amount_1h", "double", "amount", mean=40 * m),
            _c("amount_24h", "double", "amount", mean=180 * m),
            _c("amount_7d", "double", "amount", mean=700 * m),
            _c("max_amount_24h", "double", "amount", mean=90 * m),
            _c("distinct_merchants_24h", "integer", "int_uniform", low=0, high=12),
            _c("distinct_devices_24h", "integer", "int_uniform", low=0, high=4),
            _c("distinct_ips_24h", "integer", "int_uniform", low=0, high=6),
            _c("distinct_countries_7d", "integer", "int_uniform", low=0, high=3),
            _c("velocity_score", "double", "uniform", low=0, high=1),
            *_seen(),
            _c("last_device_id", "text", "text", length=16),
        ]
    raise ValueError(family)


# rows at scale 1 per (entity, window); long windows hold more keys (nested universes)
_FRAUD30_ROWS: dict[str, dict[str, int]] = {
    "card_fingerprint": {"30d": 32_000, "90d": 56_000, "365d": 84_000},
    "customer_email": {"30d": 30_000, "90d": 52_000, "365d": 78_000},
    "cardholder_name": {"30d": 22_000, "90d": 38_000, "365d": 58_000},
}
_FRAUD30_FAMILIES = {
    "card_fingerprint": ["fraud_rates", "time_since", "good_rates"],
    "customer_email": ["fraud_rates", "time_since", "good_rates"],
    "cardholder_name": ["fraud_rates", "time_since", "good_rates", "tesseract_velocities"],
}
_WINDOW_MEAN = {"30d": 1.0, "90d": 3.0, "365d": 12.0}


def _fraud30() -> dict[str, Any]:
    tables = []
    for ent, fams in _FRAUD30_FAMILIES.items():
        for fam in fams:
            for win in ("30d", "90d", "365d"):
                tables.append(
                    {
                        "entity": ent,
                        "family": fam,
                        "window": win,
                        "rows": _FRAUD30_ROWS[ent][win],
                        "columns": _family_columns(fam, _WINDOW_MEAN[win]),
                    }
                )
    return {
        "name": "fraud-30",
        "description": "Fraud scoring: 3 entities, 30 feature tables (9 + 9 + 12), nested 30d/90d/365d windows",
        "key_column": "hash_key",
        "key_universe": "nested",
        "entities": [
            {"name": "card_fingerprint", "key_type": "hex64"},
            {"name": "customer_email", "key_type": "hex64"},
            {"name": "cardholder_name", "key_type": "hex64"},
        ],
        "tables": tables,
    }


BUILTIN_SPECS = {"fraud-30": _fraud30}


def builtin_spec(name: str = "fraud-30") -> WorkloadSpec:
    try:
        return spec_from_dict(BUILTIN_SPECS[name](), name)
    except KeyError:
        raise SpecError(
            f"no built-in spec {name!r}; built-in: {', '.join(BUILTIN_SPECS)}"
        ) from None
