"""A spec describing a Feast repository's PostgreSQL online store, as Feast materialized it.

Feast's PostgreSQL online store keeps one table per feature view, `<project>_<view>`, in
the online store's `db_schema` (else the user's schema): `entity_key bytea` (the view's
join keys serialized by Feast), `feature_name`, `value bytea` (a protobuf), `value_text`
(the value as text, where Feast could), `event_ts`, `created_ts`, primary key
`(entity_key, feature_name)`: one row per feature per entity. Feast reads it with
`SELECT entity_key, feature_name, value, event_ts … WHERE entity_key = ANY(%s) AND
feature_name = ANY(%s)`.

The spec written here describes each view's table as it is, with Feast's read as the
table's own query (one key per lookup, `value_text` selected besides so `get` can show
the values), and one featbench entity per set of Feast entities (views keyed by the same
entities share serialized keys). Keys are sampled from the tables themselves, so no
serialization code is needed. The repository is read with the `feast` package
(`pip install 'featbench[feast]'`); everything else here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featbench.errors import FeatbenchError
from featbench.spec import WorkloadSpec, spec_from_dict

FEAST_COLUMNS = [
    {"name": "feature_name", "type": "text"},
    {"name": "value", "type": "bytea"},
    {"name": "value_text", "type": "text"},
    {"name": "event_ts", "type": "timestamptz"},
]


@dataclass(frozen=True)
class FeastView:
    """What the spec needs of one Feast feature view."""

    name: str
    table: str  # Feast's online table name, `<project>_<view>` (with a version suffix if any)
    entities: tuple[str, ...]
    features: tuple[str, ...]


def _ident(name: str) -> str:
    """A Feast name as a featbench identifier (lowercase letters, digits, _)."""
    out = re.sub(r"[^a-z0-9_]", "_", name.lower())
    return out if re.match(r"^[a-z_]", out) else f"_{out}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def feast_query(schema: str, table: str) -> str:
    """Feast's read of one view, for one entity key ($1) and its features ($2)."""
    return (
        "SELECT entity_key, feature_name, value, value_text, event_ts "
        f"FROM {_q(schema)}.{_q(table)} WHERE entity_key = $1 AND feature_name = ANY($2)"
    )


def spec_from_views(project: str, schema: str, views: Sequence[FeastView]) -> WorkloadSpec:
    """The spec of these feature views' tables in Feast's PostgreSQL online store."""
    if not views:
        raise FeatbenchError(f"the Feast project {project!r} has no feature view to describe")
    entities: dict[tuple[str, ...], str] = {}
    tables = []
    for v in views:
        ents = tuple(sorted(v.entities))
        ent = entities.setdefault(ents, "__".join(_ident(e) for e in ents) or "entity")
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", v.table):
            raise FeatbenchError(
                f"Feast table {v.table!r} (feature view {v.name}) is not a plain lowercase "
                "identifier, which a featbench spec needs for a table name"
            )
        tables.append(
            {
                "entity": ent,
                "family": _ident(v.name),
                "name": v.table,
                # not known without reading the store; featbench reads the tables as they are
                "rows": 1,
                "schema_name": schema,
                "key_column": "entity_key",
                "columns": FEAST_COLUMNS,
                "query": feast_query(schema, v.table),
                "params": {"2": list(v.features)},
            }
        )
    return spec_from_dict(
        {
            "name": f"feast-{project}",
            "description": f"Feast project {project}: its PostgreSQL online store, as it is",
            "key_universe": "independent",
            "entities": [{"name": n, "key_type": "bytea"} for n in entities.values()],
            "tables": tables,
        },
        f"feast repository {project}",
    )


def read_repo(
    repo_dir: Path, feature_views: Sequence[str] = ()
) -> tuple[str, str, list[FeastView]]:
    """(project, online schema, views) of a Feast repository, read with the feast package."""
    try:
        from feast import FeatureStore
    except ImportError:
        raise FeatbenchError(
            "reading a Feast repository needs the feast package: pip install 'featbench[feast]'"
        ) from None
    try:
        from feast.infra.online_stores.helpers import compute_table_id
    except ImportError:  # Feast before online-table versioning: `<project>_<view>`

        def compute_table_id(project: str, table: Any, enable_versioning: bool = False) -> str:
            return f"{project}_{table.name}"

    if not (repo_dir / "feature_store.yaml").exists():
        raise FeatbenchError(f"{repo_dir} has no feature_store.yaml: give a Feast repository")
    try:
        fs = FeatureStore(repo_path=str(repo_dir))
        online: Any = fs.config.online_store
        if getattr(online, "type", None) != "postgres":
            raise FeatbenchError(
                f"the online store of {repo_dir} is {getattr(online, 'type', online)!r}: "
                "featbench reads Feast's PostgreSQL online store (type: postgres)"
            )
        versioning = bool(
            getattr(fs.config.registry, "enable_online_feature_view_versioning", False)
        )
        found = list(fs.list_feature_views()) + list(fs.list_stream_feature_views())
    except FeatbenchError:
        raise
    except Exception as e:  # noqa: BLE001 - Feast's own errors, shown as one line
        raise FeatbenchError(f"cannot read the Feast repository {repo_dir}: {e}") from None
    by_name = {v.name: v for v in found}
    unknown = [n for n in feature_views if n not in by_name]
    if unknown:
        raise FeatbenchError(
            f"no feature view {unknown[0]!r} in {repo_dir}; it has {', '.join(sorted(by_name))}"
        )
    chosen = [by_name[n] for n in feature_views] if feature_views else found
    views = [
        FeastView(
            name=v.name,
            table=compute_table_id(fs.config.project, v, versioning),
            entities=tuple(v.entities),
            features=tuple(f.name for f in v.features),
        )
        for v in chosen
    ]
    return fs.config.project, online.db_schema or online.user, views


def spec_from_feast(repo_dir: Path, feature_views: Sequence[str] = ()) -> WorkloadSpec:
    """`featbench spec from-feast`: the spec of a Feast repository's online tables."""
    project, schema, views = read_repo(repo_dir, feature_views)
    return spec_from_views(project, schema, views)
