"""Reading a run directory back (for show, compare, report), complete or not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from featbench.errors import FeatbenchError
from featbench.measure.histogram import LatencyHistogram, parse_hlog
from featbench.results import rundir


@dataclass
class Run:
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    _requests: pa.Table | None = field(default=None, repr=False)
    _io: pa.Table | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id"))

    @property
    def status(self) -> str:
        return str(self.manifest.get("status"))

    @property
    def spec_fingerprint(self) -> str | None:
        return self.manifest.get("spec_fingerprint")

    @property
    def sections(self) -> list[dict[str, Any]]:
        return list(self.summary.get("sections") or [])

    def requests(self) -> pa.Table:
        """requests.parquet, or the parts of a run that never consolidated them."""
        if self._requests is None:
            self._requests = _read_table(self.path, rundir.REQUESTS, rundir.REQUEST_PARTS)
        return self._requests

    def io_samples(self) -> pa.Table:
        if self._io is None:
            self._io = _read_table(self.path, rundir.IO_SAMPLES, rundir.IO_PARTS)
        return self._io

    def keys(self) -> pa.Table:
        p = self.path / rundir.KEYS
        if not p.exists():
            raise FeatbenchError(f"{self.path} has no {rundir.KEYS}")
        return pq.read_table(p)

    def histogram(self, name: str) -> LatencyHistogram:
        """The merged untagged (request latency) histograms of one .hlog file."""
        ivs = parse_hlog((self.path / rundir.HISTOGRAMS / name).read_text())
        out = LatencyHistogram()
        for iv in ivs:
            if iv.tag is None:
                out.extend(iv.histogram)
        return out


def _read_table(path: Path, name: str, parts: str) -> pa.Table:
    f = path / name
    if f.exists():
        return pq.read_table(f)
    pdir = path / parts
    files = sorted(pdir.glob("part-*.parquet")) if pdir.exists() else []
    if not files:
        return pa.table({})
    return pa.concat_tables([pq.read_table(p) for p in files], promote_options="default")


def load_run(path: str | Path) -> Run:
    """Open a run directory; FeatbenchError with what is wrong if it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise FeatbenchError(
            f"{p} is not a directory (give a run directory, e.g. results/<run_id>)"
        )
    mf = p / rundir.MANIFEST
    if not mf.exists():
        raise FeatbenchError(f"{p} is not a featbench run directory: no {rundir.MANIFEST}")
    try:
        manifest = rundir.read_json(mf)
    except ValueError as e:
        raise FeatbenchError(f"{mf} is not valid JSON: {e}") from None
    sf = p / rundir.SUMMARY
    summary: dict[str, Any] = {"sections": [], "ratios": []}
    if sf.exists():
        try:
            summary = rundir.read_json(sf)
        except ValueError as e:
            raise FeatbenchError(f"{sf} is not valid JSON: {e}") from None
    return Run(p, manifest, summary)
