"""Reading a run directory back: the one module that does.

`show`, `compare`, `report`, `cost --run` and `run --keys-from` open run directories with
`read_run`; nothing else in featbench parses a run's manifest.json or summary.json. The
layout is the README's "Results" section. What is checked, here and only here:

- the path is a run directory: a manifest.json and a summary.json (the writer creates
  both when the run starts), each a JSON object;
- `schema_version`: a version newer than this featbench's (`rundir.SCHEMA_VERSION`) is
  refused with one line saying to upgrade, as asv does with its `api_version`; an older
  one is brought up to date by the steps in `MIGRATIONS`, applied in order;
- the summary's shape: every level has its level key (`hot_pct` or `theta`), `requests`
  and `latency_ms.p99`.

A run of any status is read: `complete`, `failed`, `interrupted`, `running` (not finished,
its process alive) and `crashed` (a `running` manifest whose process is gone: killed,
or no heartbeat; what it finished is in summary.json, its request rows in parts under
requests/). `run_status` is the one place that decides a run's status.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from featbench.errors import FeatbenchError
from featbench.measure.histogram import LatencyHistogram, parse_hlog
from featbench.results import rundir
from featbench.target import redact

LEVEL_KEYS = ("hot_pct", "theta")
_SECRET_WORDS = ("password", "secret", "token", "credential", "passwd")

# Upgrade steps: MIGRATIONS[v](manifest, summary) turns documents of schema version v into
# version v + 1, in place. Version 1 is the first; a format change that old files must
# follow adds a step here (and bumps rundir.SCHEMA_VERSION), so every reader sees the
# current shape.
Migration = Callable[[dict[str, Any], dict[str, Any]], None]
MIGRATIONS: dict[int, Migration] = {}


class RunDirError(FeatbenchError):
    """A run directory that cannot be read (its message says what is wrong)."""


@dataclass
class Section:
    """One (target, strategy) series of levels: a summary.json section, typed."""

    index: int
    run_id: str
    target: str
    backend: str
    strategy: str
    distribution: str
    levels: list[dict[str, Any]]  # summary.json's `ratios` objects, one per level
    doc: dict[str, Any] = field(repr=False, default_factory=dict)  # the section as written
    label: str = ""

    @property
    def level_key(self) -> str:
        """The sweep variable: hot % for hot/cold runs, theta for a Zipfian sweep."""
        return level_key_of(self.levels[0]) if self.levels else "hot_pct"

    def metric(self, *path: str) -> list[float | None]:
        out: list[float | None] = []
        for r in self.levels:
            v: Any = r
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            out.append(
                float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            )
        return out


def level_key_of(level: dict[str, Any]) -> str:
    """The level's key: `theta` in a Zipfian sweep, else `hot_pct`."""
    return "theta" if "theta" in level else "hot_pct"


@dataclass
class Run:
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    _requests: dict[tuple[str, ...] | None, pa.Table] = field(default_factory=dict, repr=False)
    _io: pa.Table | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.summary.get("run_id") or self.path.name)

    @property
    def status(self) -> str:
        return run_status(self.manifest)

    @property
    def crash_reason(self) -> str | None:
        """How a crashed run is known to be dead (None unless `status` is crashed)."""
        return crash_reason(self.manifest)

    @property
    def partial(self) -> bool:
        """Not a complete result: shown with what it measured, marked as such."""
        return self.status != "complete"

    @property
    def error(self) -> str | None:
        e = self.manifest.get("error")
        return str(e) if e else None

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self.manifest.get("warnings") or []]

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
    def spec_fingerprint(self) -> str | None:
        return self.manifest.get("spec_fingerprint")

    @property
    def targets(self) -> list[dict[str, Any]]:
        """Targets with credentials removed (again: never trust a file to be clean)."""
        return [
            {
                "target": redact(str(t.get("target", ""))),
                "backend": str(t.get("backend", "")),
                "server": scrub(t.get("server") or {}),
            }
            for t in self.manifest.get("targets") or []
            if isinstance(t, dict)
        ]

    @cached_property
    def spec(self) -> Any:
        """The run's WorkloadSpec, or None when the manifest's spec does not validate."""
        from featbench.spec import spec_from_dict

        data = self.manifest.get("spec")
        if not isinstance(data, dict):
            return None
        try:
            return spec_from_dict(data, f"{self.path}/{rundir.MANIFEST} spec")
        except FeatbenchError:
            return None

    @property
    def entity_names(self) -> list[str]:
        if self.spec is not None:
            return list(self.spec.entity_names)
        ents = (self.manifest.get("spec") or {}).get("entities") or []
        return [e["name"] for e in ents if isinstance(e, dict) and "name" in e]

    def require_levels(self) -> None:
        """Refuse a run that finished no level: there is nothing to show for it."""
        if any(s.levels for s in self.sections):
            return
        if self.partial:
            raise RunDirError(
                f"{self.path}: the run was {self.status} before any ratio finished; nothing to report"
            )
        raise RunDirError(f"{self.path / rundir.SUMMARY}: no ratios measured; nothing to report")

    # -- the per-request files ---------------------------------------------------------
    def requests(self, columns: Sequence[str] | None = None) -> pa.Table:
        """requests.parquet (or the parts a run that never consolidated them left), with
        only `columns` when given (those the file lacks are left out); an empty table
        when the run kept no request rows."""
        key = None if columns is None else tuple(columns)
        if key not in self._requests:
            self._requests[key] = self._table(rundir.REQUESTS, rundir.REQUEST_PARTS, key)
        return self._requests[key]

    def io_samples(self) -> pa.Table:
        if self._io is None:
            self._io = self._table(rundir.IO_SAMPLES, rundir.IO_PARTS, None)
        return self._io

    def keys(self) -> pa.Table:
        p = self.path / rundir.KEYS
        if not p.exists():
            raise RunDirError(f"{self.path} has no {rundir.KEYS}")
        return pq.read_table(p)

    def histogram(self, name: str) -> LatencyHistogram:
        """The merged untagged (request latency) histograms of one .hlog file."""
        ivs = parse_hlog((self.path / rundir.HISTOGRAMS / name).read_text())
        out = LatencyHistogram()
        for iv in ivs:
            if iv.tag is None:
                out.extend(iv.histogram)
        return out

    def _table(self, name: str, parts: str, columns: tuple[str, ...] | None) -> pa.Table:
        single = self.path / name
        files = [single] if single.is_file() else rundir.part_files(self.path / parts)
        tables = []
        for f in files:
            try:
                names = pq.read_schema(f).names
                cols = None if columns is None else [c for c in names if c in columns]
                tables.append(pq.read_table(f, columns=cols))
            except Exception as e:  # noqa: BLE001 - e.g. the half-written part of a killed run
                if self.partial and f != single:
                    continue
                raise RunDirError(f"{f}: unreadable Parquet ({type(e).__name__}: {e})") from None
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="default")


def run_status(manifest: dict[str, Any]) -> str:
    """The status a run is read with: the one place it is decided. The manifest's (checked
    by `read_run` to be one of rundir.STATUSES), except that a `running` run whose process
    is known to be gone is `crashed` (`crash_reason` says how it is known)."""
    status = str(manifest.get("status"))
    if status == "running" and crash_reason(manifest) is not None:
        return "crashed"
    return status


def crash_reason(manifest: dict[str, Any], now: datetime | None = None) -> str | None:
    """Why a `running` run cannot still be running, None when it may be (or cannot be told:
    a run written before the manifest recorded its process).

    On the host that ran it: its pid is gone, a zombie, or another process now (a start
    time that differs). Elsewhere: no heartbeat for longer than the run said to allow.
    """
    proc = manifest.get("process")
    if manifest.get("status") != "running" or not isinstance(proc, dict):
        return None
    pid, host = proc.get("pid"), proc.get("host")
    if isinstance(pid, int) and host == socket.gethostname():
        import psutil

        try:
            p = psutil.Process(pid)
            started = p.create_time()
            if p.status() == psutil.STATUS_ZOMBIE:
                return f"its process (pid {pid}) has ended"
        except psutil.NoSuchProcess:
            return f"its process (pid {pid}) is gone"
        except psutil.Error:  # e.g. access denied: the process exists
            return None
        recorded = _time(proc.get("process_started_at"))
        if recorded is not None and abs(recorded.timestamp() - started) > 1.0:
            return f"its process (pid {pid}) is gone (the pid is another process now)"
        return None
    beat = _time(proc.get("heartbeat_at"))
    stale = proc.get("stale_after_s")
    if beat is None or not isinstance(stale, (int, float)):
        return None
    age = ((now or datetime.now(timezone.utc)) - beat).total_seconds()
    if age > stale:
        return f"no heartbeat from {host} for {age:,.0f} s (more than {stale:g} s)"
    return None


def _time(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


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


# -- reading and checking --------------------------------------------------------------
def _read_doc(p: Path, what: str) -> dict[str, Any]:
    try:
        data = rundir.read_json(p)
    except json.JSONDecodeError as e:
        raise RunDirError(
            f"{p}: {what} is not valid JSON ({e.msg} at line {e.lineno}); the run may have been cut short"
        ) from None
    except ValueError as e:  # NaN or Infinity, which the contract forbids
        raise RunDirError(f"{p}: {e}") from None
    except OSError as e:
        raise RunDirError(f"cannot read {p}: {e.strerror}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{p}: {what} must be a JSON object")
    return data


def version_problem(version: Any) -> str | None:
    """What is wrong with a file's schema_version for this featbench; None when it can be
    read (the current version, or an older one `MIGRATIONS` upgrades)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return "missing or invalid schema_version; not a featbench result file"
    if version > rundir.SCHEMA_VERSION:
        return (
            f"schema_version {version} is newer than this featbench understands "
            f"({rundir.SCHEMA_VERSION}); upgrade featbench to read it"
        )
    missing = [v for v in range(version, rundir.SCHEMA_VERSION) if v not in MIGRATIONS]
    if missing:
        return f"schema_version {version} is too old: no upgrade from version {missing[0]}"
    return None


def _check_version(doc: dict[str, Any], p: Path) -> int:
    problem = version_problem(doc.get("schema_version"))
    if problem:
        raise RunDirError(f"{p}: {problem}")
    return int(doc["schema_version"])


def migrate(manifest: dict[str, Any], summary: dict[str, Any], version: int) -> None:
    """Bring documents of `version` to rundir.SCHEMA_VERSION, in place, step by step."""
    for v in range(version, rundir.SCHEMA_VERSION):
        MIGRATIONS[v](manifest, summary)
        manifest["schema_version"] = summary["schema_version"] = v + 1


def _check_levels(levels: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(levels, list):
        raise RunDirError(f"{where}: `ratios` must be a list")
    for i, r in enumerate(levels):
        if not isinstance(r, dict):
            raise RunDirError(f"{where}: ratios[{i}] must be an object")
        if not any(k in r for k in LEVEL_KEYS):
            raise RunDirError(f"{where}: ratios[{i}] has neither `hot_pct` nor `theta`")
        for k in ("requests", "latency_ms"):
            if k not in r:
                raise RunDirError(f"{where}: ratios[{i}] lacks `{k}`")
        if not isinstance(r["latency_ms"], dict) or "p99" not in r["latency_ms"]:
            raise RunDirError(f"{where}: ratios[{i}].latency_ms lacks `p99`")
    return levels


def _sections(run: Run, spath: Path) -> list[Section]:
    """summary.json's sections, typed; a summary written before sections existed (top-level
    `ratios` only) is one section."""
    summary, targets = run.summary, run.targets
    first_target = targets[0]["target"] if targets else "?"
    first_backend = targets[0]["backend"] if targets else "?"
    raw = summary.get("sections")
    if isinstance(raw, list) and raw:
        docs, where = raw, [f"{spath}: sections[{i}]" for i in range(len(raw))]
    elif "ratios" in summary:
        docs, where = [{"ratios": summary["ratios"]}], [str(spath)]
    else:
        raise RunDirError(f"{spath}: no `ratios` and no `sections`; not a featbench summary")
    out = []
    for i, s in enumerate(docs):
        if not isinstance(s, dict):
            raise RunDirError(f"{spath}: sections[{i}] must be an object")
        out.append(
            Section(
                index=i,
                run_id=run.run_id,
                target=redact(str(s.get("target") or first_target)),
                backend=str(s.get("backend") or summary.get("backend") or first_backend),
                strategy=str(s.get("strategy") or summary.get("strategy") or "?"),
                distribution=str(
                    s.get("distribution") or run.config.get("distribution") or "hotcold"
                ),
                levels=_check_levels(s.get("ratios"), where[i]),
                doc=s,
            )
        )
    return out


def read_run(path: str | Path, *, summary: dict[str, Any] | None = None) -> Run:
    """Open and check a run directory (module doc); RunDirError saying what is wrong.

    `summary`: the run's summary document when the caller holds it already (the runner
    returns it), so summary.json is not read again."""
    p = Path(path)
    if not p.is_dir():
        raise RunDirError(f"{p} is not a directory; give a run directory such as results/<run_id>")
    mpath = p / rundir.MANIFEST
    if not mpath.is_file():
        raise RunDirError(f"{p} is not a featbench run directory (no {rundir.MANIFEST})")
    manifest = _read_doc(mpath, rundir.MANIFEST)
    version = _check_version(manifest, mpath)
    if manifest.get("status") not in rundir.STATUSES:
        raise RunDirError(
            f"{mpath}: status {manifest.get('status')!r} is not one of {', '.join(rundir.STATUSES)}"
        )
    spath = p / rundir.SUMMARY
    if summary is None:
        if not spath.is_file():
            raise RunDirError(
                f"{p}: incomplete run (status {manifest['status']!r}) without {rundir.SUMMARY}; "
                "nothing to read"
            )
        summary = _read_doc(spath, rundir.SUMMARY)
    if _check_version(summary, spath) != version:
        raise RunDirError(
            f"{p}: {rundir.MANIFEST} and {rundir.SUMMARY} have different schema versions"
        )
    migrate(manifest, summary, version)
    run = Run(path=p, manifest=manifest, summary=summary)
    run.sections = _sections(run, spath)
    return run


def read_runs(paths: Sequence[Run | str | Path]) -> list[Run]:
    """Several runs for one report (run directories, or runs already read): each must hold
    a finished level, and every section gets a unique, readable label."""
    if not paths:
        raise RunDirError("give at least one run directory")
    runs = [p if isinstance(p, Run) else read_run(p) for p in paths]
    for r in runs:
        r.require_levels()
    label_sections([s for r in runs for s in r.sections])
    return runs


def label_sections(sections: list[Section]) -> None:
    """`backend · strategy`, widened with the target and then the run id only where
    needed to tell two sections apart."""
    for s in sections:
        s.label = f"{s.backend} · {s.strategy}"
    _widen(sections, lambda s: f"{s.target} · {s.strategy}")
    _widen(sections, lambda s: f"{s.label} ({s.run_id})")


def _widen(sections: list[Section], longer: Callable[[Section], str]) -> None:
    counts: dict[str, int] = {}
    for s in sections:
        counts[s.label] = counts.get(s.label, 0) + 1
    for s in sections:
        if counts[s.label] > 1:
            s.label = longer(s)
