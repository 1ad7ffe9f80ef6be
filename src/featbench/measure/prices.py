"""The prices file: shipped defaults (``featbench/data/prices.toml``), user overrides merged over them.

Every entry carries ``price``, ``unit``, ``source`` and ``date`` so that a cost figure can
always say where its inputs came from. A user file holds only the entries it changes;
each entry it names must give a ``price`` (non-negative number). Entries it does not
name keep the shipped figure. Unknown names are refused (a typo would otherwise be
silently ignored and the default used).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from featbench.errors import FeatbenchError
from featbench.fsutil import read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The named prices the cost model needs: (section, name).
REQUIRED: tuple[tuple[str, str], ...] = (
    ("lakebase", "cu_hour"),
    ("lakebase", "storage_gb_month"),
    ("lakebase", "pitr_gb_month"),
    ("dynamodb", "read_request_units_million"),
    ("dynamodb", "storage_gb_month"),
    ("dynamodb", "rcu_hour"),
    ("elasticache", "reserved_memory_fraction"),
)
_TOP_LEVEL_TEXT = {"currency", "region"}


class PricesError(FeatbenchError):
    """A prices file that is missing, unreadable or holds a bad price."""


@dataclass(frozen=True)
class Price:
    value: float
    unit: str
    source: str
    date: str
    basis: str = "default"  # default (shipped with featbench) | given (a user's prices file)

    def as_dict(self) -> dict[str, Any]:
        return {
            "price": self.value,
            "unit": self.unit,
            "basis": self.basis,
            "source": self.source,
            "date": self.date,
        }


@dataclass(frozen=True)
class NodeType:
    name: str
    memory_gib: float
    hourly: float
    source: str
    date: str
    basis: str = "default"  # default | given

    def as_dict(self) -> dict[str, Any]:
        return {
            "price": self.hourly,
            "memory_gib": self.memory_gib,
            "unit": "USD per node-hour",
            "basis": self.basis,
            "source": self.source,
            "date": self.date,
        }


@dataclass(frozen=True)
class PriceBook:
    """Validated prices. ``origin`` says which files they came from (shown in reports)."""

    prices: dict[str, Price]  # "section.name" -> Price
    nodes: tuple[NodeType, ...]
    currency: str
    region: str
    origin: str

    def __getitem__(self, key: str) -> Price:
        return self.prices[key]

    def value(self, key: str) -> float:
        return self.prices[key].value

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "region": self.region,
            "origin": self.origin,
            "prices": {k: p.as_dict() for k, p in self.prices.items()},
            "elasticache_nodes": {n.name: n.as_dict() for n in self.nodes},
        }


def default_prices_text() -> str:
    return resources.files("featbench").joinpath("data/prices.toml").read_text()


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PricesError(f"{where}: not valid TOML: {e}") from None


def _number(v: Any, where: str, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PricesError(f"{where}: `{field}` must be a number, got {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise PricesError(f"{where}: `{field}` must be a finite number, got {v!r}")
    if f < 0:
        raise PricesError(f"{where}: `{field}` must not be negative, got {v!r}")
    return f


def _check_user_file(data: dict[str, Any], where: str) -> None:
    """Every entry the user names must be a known one and give a valid price."""
    known_sections = {s for s, _ in REQUIRED}
    for section, body in data.items():
        if section in _TOP_LEVEL_TEXT:
            continue
        if section not in known_sections or not isinstance(body, dict):
            raise PricesError(
                f"{where}: unknown section [{section}]; known: {', '.join(sorted(known_sections))}"
            )
        names = {n for s, n in REQUIRED if s == section} | (
            {"nodes"} if section == "elasticache" else set()
        )
        for name, entry in body.items():
            if name not in names:
                raise PricesError(
                    f"{where}: unknown price {section}.{name}; known in [{section}]: {', '.join(sorted(names))}"
                )
            if name == "nodes":
                if not isinstance(entry, dict):
                    raise PricesError(f"{where}: elasticache.nodes must be a table of node types")
                for node, nbody in entry.items():
                    _check_entry(nbody, f"{where}: elasticache.nodes.{node}", node=True)
            else:
                _check_entry(entry, f"{where}: {section}.{name}", node=False)


def _check_entry(entry: Any, where: str, *, node: bool) -> None:
    if not isinstance(entry, dict):
        raise PricesError(f"{where}: must be a table with `price`, `source` and `date`")
    if "price" not in entry:
        raise PricesError(f"{where}: missing `price`")
    _number(entry["price"], where, "price")
    if node and "memory_gib" in entry:
        if _number(entry["memory_gib"], where, "memory_gib") <= 0:
            raise PricesError(f"{where}: `memory_gib` must be > 0")


def _merge(base: dict[str, Any], over: dict[str, Any], origin: str) -> dict[str, Any]:
    """Deep-merge `over` into a copy of `base`; an overridden entry without its own
    source/date is attributed to the user file, not left with the default's citation."""
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, body in over.items():
        if not isinstance(body, dict):
            out[section] = body
            continue
        sec = {k: (dict(v) if isinstance(v, dict) else v) for k, v in out.get(section, {}).items()}
        for name, entry in body.items():
            if name == "nodes":
                nodes = {k: dict(v) for k, v in sec.get("nodes", {}).items()}
                for node, nbody in entry.items():
                    nodes[node] = _override(nodes.get(node, {}), nbody, origin)
                sec["nodes"] = nodes
            else:
                sec[name] = _override(sec.get(name, {}), entry, origin)
        out[section] = sec
    return out


def _override(old: dict[str, Any], new: dict[str, Any], origin: str) -> dict[str, Any]:
    merged = {**old, **new}
    if "source" not in new:
        merged["source"] = f"override in {origin}"
    if "date" not in new:
        merged["date"] = "not given"
    return merged


def _given_names(user: dict[str, Any]) -> set[str]:
    """`section.name` (and `elasticache.nodes.<node>`) of every entry a user's file sets."""
    out = set()
    for section, body in user.items():
        if not isinstance(body, dict):
            continue
        for name, entry in body.items():
            if name == "nodes" and isinstance(entry, dict):
                out.update(f"{section}.nodes.{node}" for node in entry)
            else:
                out.add(f"{section}.{name}")
    return out


def _build(data: dict[str, Any], origin: str, given: set[str] | None = None) -> PriceBook:
    """The price book; entries named in `given` (all when None) came from the user."""

    def basis(key: str) -> str:
        return "given" if given is None or key in given else "default"

    prices: dict[str, Price] = {}
    for section, name in REQUIRED:
        where = f"{origin}: {section}.{name}"
        entry = data.get(section, {}).get(name)
        if entry is None:
            raise PricesError(f"{where}: missing price")
        _check_entry(entry, where, node=False)
        for field in ("source", "date"):
            if not str(entry.get(field, "")).strip():
                raise PricesError(
                    f"{where}: missing `{field}` (every price says where and when it was taken)"
                )
        prices[f"{section}.{name}"] = Price(
            value=float(entry["price"]),
            unit=str(entry.get("unit", "")),
            source=str(entry["source"]),
            date=str(entry["date"]),
            basis=basis(f"{section}.{name}"),
        )
    if prices["elasticache.reserved_memory_fraction"].value >= 1:
        raise PricesError(f"{origin}: elasticache.reserved_memory_fraction must be < 1")
    nodes = []
    for node, nbody in data.get("elasticache", {}).get("nodes", {}).items():
        where = f"{origin}: elasticache.nodes.{node}"
        _check_entry(nbody, where, node=True)
        if "memory_gib" not in nbody:
            raise PricesError(f"{where}: missing `memory_gib` (memory of one node, GiB)")
        nodes.append(
            NodeType(
                name=node,
                memory_gib=float(nbody["memory_gib"]),
                hourly=float(nbody["price"]),
                source=str(nbody.get("source", "")),
                date=str(nbody.get("date", "")),
                basis=basis(f"elasticache.nodes.{node}"),
            )
        )
    if not nodes:
        raise PricesError(f"{origin}: elasticache.nodes is empty; give at least one node type")
    return PriceBook(
        prices=prices,
        nodes=tuple(sorted(nodes, key=lambda n: n.memory_gib)),
        currency=str(data.get("currency", "USD")),
        region=str(data.get("region", "")),
        origin=origin,
    )


def load_prices(user_file: str | Path | None = None) -> PriceBook:
    """The shipped prices, with `user_file` (if given) merged over them."""
    data = _parse(default_prices_text(), "featbench/data/prices.toml")
    origin = "featbench defaults (featbench/data/prices.toml)"
    given: set[str] = set()
    if user_file is not None:
        p = Path(user_file)
        text = read_text(p, "prices file", PricesError)
        user = _parse(text, str(p))
        _check_user_file(user, str(p))
        data = _merge(data, user, str(p))
        origin = f"{p} merged over featbench defaults"
        given = _given_names(user)
    return _build(data, origin, given)


def prices_from_text(text: str, origin: str = "<prices>") -> PriceBook:
    """A complete prices document (tests, or a user who wants no defaults at all)."""
    return _build(_parse(text, origin), origin)
