"""Reading a run directory back for reports: manifest, summary sections, raw requests.

The format is the one agreed in DESIGN.md "Contracts" (plus ``sections`` in
summary.json for runs with several targets/strategies). Reports must never crash on a
run they can partly use: an interrupted (or failed) run renders what it has, marked as
such; a directory that is not a run, is still running, lacks its summary, or was
written by a newer featbench is refused with a message that says what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from featbench.errors import FeatbenchError
from featbench.target import redact

SUPPORTED_SCHEMA_VERSION = 1
# Columns of requests.parquet the report uses; others are not read.
REQUEST_COLUMNS = (
    "hot_pct",
    "theta",
    "seq",
    "scheduled_ns",
    "start_ns",
    "end_ns",
    "latency_us",
    "error",
    "hot_entities",
    "target",
    "strategy",
    "io_sampled",
    "consumed_units",
)
_SECRET_WORDS = ("password", "secret", "token", "credential", "passwd")


class RunDirError(FeatbenchError):
    """A run directory the report cannot use."""


@dataclass
class Section:
    """One (target, strategy) series of ratios."""

    run_id: str
    target: str
    backend: str
    strategy: str
    distribution: str
    ratios: list[dict[str, Any]]
    label: str = ""

    @property
    def x_key(self) -> str:
        """The sweep variable: hot % for hot/cold runs, theta for a Zipfian sweep."""
        if self.ratios and "hot_pct" not in self.ratios[0] and "theta" in self.ratios[0]:
            return "theta"
        return "hot_pct"

    def xs(self) -> list[float]:
        return [float(r[self.x_key]) for r in self.ratios]

    def metric(self, *path: str) -> list[float | None]:
        out: list[float | None] = []
        for r in self.ratios:
            v: Any = r
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            out.append(
                float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            )
        return out


@dataclass
class RunData:
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    sections: list[Section] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.summary.get("run_id") or self.path.name)

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "unknown"))

    @property
    def partial(self) -> bool:
        return self.status in ("interrupted", "failed")

    @property
    def config(self) -> dict[str, Any]:
        c = self.manifest.get("config")
        return c if isinstance(c, dict) else {}

    @property
    def scale(self) -> float | None:
        v = self.config.get("scale", self.manifest.get("scale"))
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def seed(self) -> Any:
        return self.manifest.get("seed", self.config.get("seed"))

    @property
    def targets(self) -> list[dict[str, Any]]:
        """Targets with credentials removed (again: never trust a file to be clean)."""
        out = []
        for t in self.manifest.get("targets") or []:
            if not isinstance(t, dict):
                continue
            out.append(
                {
                    "target": redact(str(t.get("target", ""))),
                    "backend": str(t.get("backend", "")),
                    "server": scrub(t.get("server") or {}),
                }
            )
        return out

    def server_for(self, target: str) -> dict[str, Any]:
        for t in self.targets:
            if t["target"] == target:
                return t["server"]
        return self.targets[0]["server"] if len(self.targets) == 1 else {}

    @cached_property
    def spec(self) -> Any:
        """The run's WorkloadSpec, or None when the manifest's spec does not validate."""
        from featbench.spec import spec_from_dict

        data = self.manifest.get("spec")
        if not isinstance(data, dict):
            return None
        try:
            return spec_from_dict(data, f"{self.path}/manifest.json spec")
        except FeatbenchError:
            return None

    @property
    def entity_names(self) -> list[str]:
        if self.spec is not None:
            return list(self.spec.entity_names)
        ents = (self.manifest.get("spec") or {}).get("entities") or []
        return [e["name"] for e in ents if isinstance(e, dict) and "name" in e]

    @cached_property
    def requests(self) -> Any:
        """requests.parquet as a pyarrow Table (or the per-ratio parts an interrupted run
        left under requests/); None when the run kept no per-request log."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        files: list[Path] = []
        single = self.path / "requests.parquet"
        if single.is_file():
            files = [single]
        elif (self.path / "requests").is_dir():
            files = sorted((self.path / "requests").glob("*.parquet"))
        tables = []
        for f in files:
            try:
                names = pq.read_schema(f).names
                cols = [c for c in REQUEST_COLUMNS if c in names]
                cols += [c for c in names if c.endswith("_hot") or c.endswith("_latency_us")]
                tables.append(pq.read_table(f, columns=sorted(set(cols), key=names.index)))
            except Exception as e:  # noqa: BLE001 - a half-written part of a crashed run
                if self.partial and f != single:
                    continue
                raise RunDirError(f"{f}: unreadable Parquet ({type(e).__name__}: {e})") from None
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="default")


def scrub(d: Any) -> Any:
    """Drop anything that looks like a secret from a describe() dict before showing it."""
    if isinstance(d, dict):
        return {
            str(k): scrub(v)
            for k, v in d.items()
            if not any(w in str(k).lower() for w in _SECRET_WORDS)
        }
    if isinstance(d, list):
        return [scrub(v) for v in d]
    if isinstance(d, str) and "://" in d:
        return redact(d)
    return d


def _read_json(p: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(
            f"{p}: {what} is not valid JSON ({e.msg} at line {e.lineno}); the run may have been cut short"
        ) from None
    except OSError as e:
        raise RunDirError(f"cannot read {p}: {e.strerror}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{p}: {what} must be a JSON object")
    return data


def _check_version(doc: dict[str, Any], p: Path) -> None:
    v = doc.get("schema_version")
    if not isinstance(v, int) or isinstance(v, bool):
        raise RunDirError(f"{p}: missing or invalid schema_version; not a featbench result file")
    if v > SUPPORTED_SCHEMA_VERSION:
        raise RunDirError(
            f"{p}: schema_version {v} is newer than this featbench understands "
            f"({SUPPORTED_SCHEMA_VERSION}); upgrade featbench to report on it"
        )


_REQUIRED_RATIO_KEYS = ("requests", "latency_ms")


def _check_ratios(ratios: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(ratios, list):
        raise RunDirError(f"{where}: `ratios` must be a list")
    out = []
    for i, r in enumerate(ratios):
        if not isinstance(r, dict):
            raise RunDirError(f"{where}: ratios[{i}] must be an object")
        if "hot_pct" not in r and "theta" not in r:
            raise RunDirError(f"{where}: ratios[{i}] has neither `hot_pct` nor `theta`")
        for k in _REQUIRED_RATIO_KEYS:
            if k not in r:
                raise RunDirError(f"{where}: ratios[{i}] lacks `{k}`")
        if not isinstance(r["latency_ms"], dict) or "p99" not in r["latency_ms"]:
            raise RunDirError(f"{where}: ratios[{i}].latency_ms lacks `p99`")
        out.append(r)
    return out


def load_run(path: str | Path) -> RunData:
    """Read and check a run directory (see module doc for what is refused)."""
    p = Path(path)
    if not p.is_dir():
        raise RunDirError(f"{p} is not a directory; give a run directory such as results/<run_id>")
    mpath = p / "manifest.json"
    if not mpath.is_file():
        raise RunDirError(f"{p} is not a featbench run directory (no manifest.json)")
    manifest = _read_json(mpath, "manifest.json")
    _check_version(manifest, mpath)
    status = manifest.get("status")
    if status == "running":
        raise RunDirError(
            f"{p}: the run has not finished (status 'running'); wait for it, or if its process "
            "died, re-run it: a killed run has no summary to report"
        )
    spath = p / "summary.json"
    if not spath.is_file():
        raise RunDirError(
            f"{p}: incomplete run (status {status!r}) without summary.json; nothing to report"
        )
    summary = _read_json(spath, "summary.json")
    _check_version(summary, spath)
    run = RunData(path=p, manifest=manifest, summary=summary)
    run_id = run.run_id
    raw_sections = summary.get("sections")
    targets = run.targets
    if isinstance(raw_sections, list) and raw_sections:
        for i, s in enumerate(raw_sections):
            if not isinstance(s, dict):
                raise RunDirError(f"{spath}: sections[{i}] must be an object")
            run.sections.append(
                Section(
                    run_id=run_id,
                    target=redact(
                        str(s.get("target") or (targets[0]["target"] if targets else "?"))
                    ),
                    backend=str(s.get("backend") or summary.get("backend") or "?"),
                    strategy=str(s.get("strategy") or summary.get("strategy") or "?"),
                    distribution=str(
                        s.get("distribution") or run.config.get("distribution") or "hotcold"
                    ),
                    ratios=_check_ratios(s.get("ratios"), f"{spath}: sections[{i}]"),
                )
            )
    elif "ratios" in summary:
        run.sections.append(
            Section(
                run_id=run_id,
                target=targets[0]["target"] if targets else "?",
                backend=str(summary.get("backend") or (targets[0]["backend"] if targets else "?")),
                strategy=str(summary.get("strategy") or "?"),
                distribution=str(run.config.get("distribution") or "hotcold"),
                ratios=_check_ratios(summary["ratios"], str(spath)),
            )
        )
    else:
        raise RunDirError(f"{spath}: no `ratios` and no `sections`; not a featbench summary")
    if not any(s.ratios for s in run.sections):
        if run.partial:
            raise RunDirError(
                f"{p}: the run was {status} before any ratio finished; nothing to report"
            )
        raise RunDirError(f"{spath}: no ratios measured; nothing to report")
    return run


def load_runs(paths: list[str | Path]) -> list[RunData]:
    """Several runs for one report; every section gets a unique, readable label."""
    if not paths:
        raise RunDirError("give at least one run directory")
    runs = [load_run(p) for p in paths]
    sections = [s for r in runs for s in r.sections]
    label_sections(sections, multi_run=len(runs) > 1)
    return runs


def label_sections(sections: list[Section], *, multi_run: bool = False) -> None:
    """`backend · strategy`, widened with the target and then the run id only where
    needed to tell two sections apart."""
    for s in sections:
        s.label = f"{s.backend} · {s.strategy}"
    _widen(sections, lambda s: f"{s.target} · {s.strategy}")
    _widen(sections, lambda s: f"{s.label} ({s.run_id})")


def _widen(sections: list[Section], longer: Any) -> None:
    counts: dict[str, int] = {}
    for s in sections:
        counts[s.label] = counts.get(s.label, 0) + 1
    for s in sections:
        if counts[s.label] > 1:
            s.label = longer(s)
