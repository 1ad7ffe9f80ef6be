"""Sampled keys of a run: per entity, a seeded ranking of keys; the top ranks are hot.

Sampling itself is the backend's job (`Backend.sample_keys`: TABLESAMPLE on
PostgreSQL); this module turns what it returned into a `KeySet` the same way for
every store: deduplicate, sort canonically, shuffle with the seed, mark the first
`hot_fraction` of the ranks hot. Because the canonical sort comes first, the
ranking depends only on the set of keys and the seed, not on the order a backend
happened to return them in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from featbench.backends.base import Key
from featbench.backends.typing_codec import typed_key
from featbench.errors import FeatbenchError
from featbench.spec import WorkloadSpec

KEYS_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("hash_key", pa.string(), nullable=False),
        pa.field("is_hot", pa.bool_(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        # the entity's key type: hash_key holds integers as decimal text, bytea as \x hex
        pa.field("key_type", pa.string(), nullable=True),
    ]
)


def derived_seed(seed: int, *parts: str, bits: int = 63) -> int:
    """A stable integer seed for one named purpose (independent of Python's hash salt)."""
    h = hashlib.blake2b(("\x00".join([str(seed), *parts])).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << bits) - 1)


@dataclass(frozen=True)
class KeySet:
    """Keys per entity in rank order (rank 0 first); ranks < n_hot[entity] are hot."""

    entities: tuple[str, ...]
    keys: dict[str, list[Key]]
    n_hot: dict[str, int]
    requested: int  # keys asked for per entity (the sample may hold fewer)
    key_types: dict[str, str] | None = None  # per entity, as the spec declares them

    def hot(self, entity: str) -> list[Key]:
        return self.keys[entity][: self.n_hot[entity]]

    def cold_count(self, entity: str) -> int:
        return len(self.keys[entity]) - self.n_hot[entity]

    def to_arrow(self) -> pa.Table:
        ents: list[str] = []
        keys: list[str] = []
        hot: list[bool] = []
        rank: list[int] = []
        types: list[str | None] = []
        for e in self.entities:
            nh = self.n_hot[e]
            kt = (self.key_types or {}).get(e)
            for i, k in enumerate(self.keys[e]):
                ents.append(e)
                keys.append(str(k))  # integer keys as their decimal string (contract)
                hot.append(i < nh)
                rank.append(i)
                types.append(kt)
        return pa.table(
            {"entity": ents, "hash_key": keys, "is_hot": hot, "rank": rank, "key_type": types},
            schema=KEYS_SCHEMA,
        )

    @classmethod
    def from_arrow(cls, table: pa.Table, spec: WorkloadSpec) -> KeySet:
        """Read keys.parquet content back in the spec's key types (integers restored); keys
        recorded with another key type than the spec declares are refused."""
        cols = table.to_pydict()
        recorded = dict(zip(cols["entity"], cols.get("key_type") or [], strict=False))
        for e, kt in recorded.items():
            if kt is not None and e in spec.entity_names and kt != spec.entity(e).key_type:
                raise FeatbenchError(
                    f"the saved keys of {e!r} are {kt}, but the spec declares key_type "
                    f"{spec.entity(e).key_type}"
                )
        by_ent: dict[str, list[tuple[int, str, bool]]] = {}
        for e, k, h, r in zip(
            cols["entity"], cols["hash_key"], cols["is_hot"], cols["rank"], strict=False
        ):
            by_ent.setdefault(e, []).append((int(r), k, bool(h)))
        missing = [e for e in spec.entity_names if e not in by_ent]
        if missing:
            raise FeatbenchError(f"the saved keys have no entity {missing[0]!r} of the spec")
        keys: dict[str, list[Key]] = {}
        n_hot: dict[str, int] = {}
        for e in spec.entity_names:
            rows = sorted(by_ent[e])
            kt = spec.entity(e).key_type
            keys[e] = [typed_key(k, kt) for _, k, _ in rows]
            n_hot[e] = sum(1 for _, _, h in rows if h)
            if any(h != (i < n_hot[e]) for i, (_, _, h) in enumerate(rows)):
                raise FeatbenchError(f"the saved keys of {e!r} are not hot-first by rank")
        return cls(tuple(spec.entity_names), keys, n_hot, max(len(v) for v in keys.values()),
                   {e.name: e.key_type for e in spec.entities})  # fmt: skip


def rank_keys(keys: list[Key], seed: int, entity: str) -> list[Key]:
    """Deduplicate, sort canonically, shuffle with a seed derived from (seed, entity)."""
    uniq = sorted(set(keys), key=lambda k: (isinstance(k, str), k))
    rng = np.random.default_rng(derived_seed(seed, "rank", entity))
    perm = rng.permutation(len(uniq))
    return [uniq[i] for i in perm]


def hot_count(n: int, hot_fraction: float) -> int:
    """Number of hot keys among n: round(n·f), at least 1 and leaving at least 1 cold key."""
    if n <= 1:
        return n
    return min(n - 1, max(1, int(round(n * hot_fraction))))


def build_keyset(
    sampled: dict[str, list[Key]],
    spec: WorkloadSpec,
    *,
    seed: int,
    hot_fraction: float,
    requested: int,
) -> KeySet:
    if not 0.0 < hot_fraction < 1.0:
        raise FeatbenchError(
            f"--hot-fraction must be between 0 and 1 (exclusive), got {hot_fraction}"
        )
    keys: dict[str, list[Key]] = {}
    n_hot: dict[str, int] = {}
    for e in spec.entity_names:
        ranked = rank_keys(sampled.get(e, []), seed, e)[:requested]
        if not ranked:
            raise FeatbenchError(
                f"no keys of entity {e!r} found in its tables on the target; is the data loaded?"
            )
        keys[e] = ranked
        n_hot[e] = hot_count(len(ranked), hot_fraction)
    key_types = {e.name: e.key_type for e in spec.entities}
    return KeySet(tuple(spec.entity_names), keys, n_hot, requested, key_types)


def sample_keyset(
    sample: Callable[[str, int, int], list[Key]],
    spec: WorkloadSpec,
    *,
    n: int,
    seed: int,
    hot_fraction: float,
) -> KeySet:
    """Sample n keys per entity with `sample(entity, n, seed)` (a backend's sample_keys)."""
    if n < 2:
        raise FeatbenchError(f"--keys must be at least 2, got {n}")
    sampled = {
        e: list(sample(e, n, derived_seed(seed, "sample", e, bits=31))) for e in spec.entity_names
    }
    return build_keyset(sampled, spec, seed=seed, hot_fraction=hot_fraction, requested=n)
