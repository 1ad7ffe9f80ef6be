"""Typed values in key-value stores: encode per spec column type, decode back exactly.

Redis and DynamoDB keep no column types, so featbench stores values in a fixed,
documented form and uses the spec to type them back. The rules, per column type:

==============  ==========================  ===============================  ==================
type            Python value                Redis hash field (bytes)         DynamoDB attribute
==============  ==========================  ===============================  ==================
bigint/integer  int                         decimal text ``b"42"``           ``{"N": "42"}``
double          float                       ``repr(x)`` (shortest exact)     ``{"N": Decimal(repr(x))}``
text            str                         UTF-8 text                       ``{"S": ...}``
timestamptz     datetime, tz=UTC            epoch microseconds, decimal      ``{"N": micros}``
boolean         bool                        ``b"1"`` / ``b"0"``              ``{"BOOL": ...}``
==============  ==========================  ===============================  ==================

Why these forms: ``repr`` of a float is the shortest decimal string that parses back to
the same double, so doubles round-trip bit for bit (DynamoDB keeps up to 38 significant
digits; ``repr`` needs at most 17). Timestamps as integer epoch microseconds are exact
(PostgreSQL's resolution), compact (a 16-digit number is 9 bytes in DynamoDB against 27+
for ISO text) and sort like the instants they encode.

Encoders work on whole Arrow columns (one chunk of generated rows) and return Python
lists, so the per-row work in the loaders is a zip, not a type dispatch.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from featbench.errors import FeatbenchError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Decoder = Callable[[Any], Any]


# -- keys ------------------------------------------------------------------------------
# A key travels through featbench (plan, keys.parquet, requests.parquet, run_keys) as an
# int (bigint, integer keys) or as the text PostgreSQL itself reads and writes for its
# type: a uuid's canonical form, a bytea's hex form ``\\x0a1b…``. That text binds exactly
# to a parameter of the column's type, so one representation serves every strategy.
INT_KEY_TYPES = ("bigint", "integer")
BYTEA_PREFIX = "\\x"


def typed_key(key: Any, key_type: str) -> str | int:
    """A request key as featbench carries it for its entity's key type: int for bigint and
    integer (accepts '123'), a uuid's canonical text, a bytea's ``\\x`` hex text (accepts
    bytes, ``\\x0a1b`` or bare hex ``0a1b``), else text."""
    if key_type in INT_KEY_TYPES:
        try:
            return int(key)
        except (TypeError, ValueError):
            raise FeatbenchError(
                f"key {key!r} is not an integer ({key_type} keys are integers)"
            ) from None
    if key_type == "bytea":
        return bytea_key(key)
    if key_type == "uuid":
        try:
            return str(uuid.UUID(str(key)))
        except ValueError:
            raise FeatbenchError(f"key {key!r} is not a uuid (the entity has uuid keys)") from None
    if isinstance(key, bytes):
        return key.decode()
    return str(key)


def bytea_key(key: Any) -> str:
    if isinstance(key, bytes | bytearray | memoryview):
        return BYTEA_PREFIX + bytes(key).hex()
    text = str(key)
    digits = text[2:] if text.startswith(BYTEA_PREFIX) else text
    try:
        return BYTEA_PREFIX + bytes.fromhex(digits).hex()
    except ValueError:
        raise FeatbenchError(
            f"key {text!r} is not hex bytes (the entity has bytea keys: give them as hex, "
            "e.g. \\x0a1b or 0a1b)"
        ) from None


def key_from_db(value: Any, key_type: str) -> str | int:
    """A key as a PostgreSQL driver returned it (bytes, UUID, int, str), in featbench's form."""
    if isinstance(value, bytearray | memoryview):
        value = bytes(value)
    return typed_key(value if isinstance(value, int | str | bytes) else str(value), key_type)


def micros_to_datetime(us: int) -> datetime:
    # timedelta arithmetic is integer-exact; datetime.fromtimestamp would go through a float.
    return EPOCH + timedelta(microseconds=us)


def datetime_to_micros(dt: datetime) -> int:
    d = dt - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _finite(arr: pa.Array, name: str) -> np.ndarray:
    v = arr.to_numpy(zero_copy_only=False)
    if not np.isfinite(v).all():
        raise FeatbenchError(
            f"column {name!r} holds a non-finite double (NaN or infinity), which cannot be "
            "stored as a number; fix the spec's generator parameters"
        )
    return v


# -- Redis -----------------------------------------------------------------------------
def redis_column(arr: pa.Array, col_type: str, name: str = "?") -> list[Any]:
    """Values of one column in the form redis-py sends: int, float (sent as repr), str."""
    if col_type in ("bigint", "integer", "text"):
        return arr.to_pylist()
    if col_type == "double":
        _finite(arr, name)
        return arr.to_pylist()  # redis-py encodes floats with repr(): exact round trip
    if col_type == "timestamptz":
        return arr.cast(pa.int64()).to_pylist()
    if col_type == "boolean":
        return arr.to_numpy(zero_copy_only=False).astype(np.int8).tolist()
    raise ValueError(col_type)  # pragma: no cover - the spec validates types


def _redis_bool(b: bytes) -> bool:
    return b == b"1"


def _redis_text(b: bytes) -> str:
    return b.decode()


def _redis_ts(b: bytes) -> datetime:
    return micros_to_datetime(int(b))


REDIS_DECODERS: dict[str, Decoder] = {
    "bigint": int,  # int(b"42") parses bytes directly
    "integer": int,
    "double": float,
    "text": _redis_text,
    "timestamptz": _redis_ts,
    "boolean": _redis_bool,
}


# -- DynamoDB --------------------------------------------------------------------------
def ddb_number(x: int | float) -> str:
    """The N string DynamoDB receives; for floats the same digits as ``Decimal(repr(x))``."""
    if isinstance(x, float):
        s = repr(x)
        # boto3's serializer would send str(Decimal(repr(x))); only exponent forms differ
        # ('1e-07' -> '1E-7'), so only those go through Decimal.
        return str(Decimal(s)) if "e" in s else s
    return str(x)


def ddb_column(arr: pa.Array, col_type: str, name: str = "?") -> list[dict[str, Any]]:
    """Attribute values (low-level client form) of one column."""
    if col_type in ("bigint", "integer"):
        return [{"N": str(v)} for v in arr.to_pylist()]
    if col_type == "double":
        _finite(arr, name)
        return [{"N": ddb_number(v)} for v in arr.to_pylist()]
    if col_type == "text":
        return [{"S": v} for v in arr.to_pylist()]
    if col_type == "timestamptz":
        return [{"N": str(v)} for v in arr.cast(pa.int64()).to_pylist()]
    if col_type == "boolean":
        return [{"BOOL": v} for v in arr.to_pylist()]
    raise ValueError(col_type)  # pragma: no cover


def ddb_key_value(key: str | int, key_type: str) -> dict[str, str]:
    return {"N": str(int(key))} if key_type == "bigint" else {"S": str(key)}


def _ddb_int(av: dict[str, str]) -> int:
    s = av["N"]
    try:
        return int(s)
    except ValueError:  # a normalised form such as '1E+3'
        return int(Decimal(s))


def _ddb_float(av: dict[str, str]) -> float:
    return float(av["N"])


def _ddb_text(av: dict[str, str]) -> str:
    return av["S"]


def _ddb_ts(av: dict[str, str]) -> datetime:
    return micros_to_datetime(_ddb_int(av))


def _ddb_bool(av: dict[str, Any]) -> bool:
    return bool(av["BOOL"])


DDB_DECODERS: dict[str, Decoder] = {
    "bigint": _ddb_int,
    "integer": _ddb_int,
    "double": _ddb_float,
    "text": _ddb_text,
    "timestamptz": _ddb_ts,
    "boolean": _ddb_bool,
}


def ddb_number_size(s: str) -> int:
    """Bytes DynamoDB counts for a number: 1 per two significant digits, plus 1.

    AWS: "Leading and trailing zeroes are trimmed. The size of a number is approximately
    (1 byte per two significant digits) + (1 byte)". Zero has no significant digits.
    """
    mant = s.lstrip("+-").upper().split("E", 1)[0].replace(".", "")
    digits = len(mant.strip("0"))
    return math.ceil(digits / 2) + 1


def ddb_value_size(av: dict[str, Any]) -> int:
    ((t, v),) = av.items()
    if t == "S":
        return len(v.encode())
    if t == "N":
        return ddb_number_size(v)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "B":
        return len(v)
    raise ValueError(f"unsupported attribute type {t}")  # pragma: no cover


def ddb_item_size(item: dict[str, dict[str, Any]]) -> int:
    """Item size by DynamoDB's rules: attribute name bytes + value sizes (what RCUs bill)."""
    return sum(len(name.encode()) + ddb_value_size(av) for name, av in item.items())


def read_units(item_bytes: int, consistent: bool) -> float:
    """Read capacity units one item read costs: 4 KB steps, half for eventual consistency."""
    units = max(1, math.ceil(item_bytes / 4096))
    return units if consistent else units / 2
