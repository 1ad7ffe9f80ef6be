"""Writes a run's results as it goes: a run-event listener.

Per ratio (on `level_end`): the ratio's request rows as a Parquet part, its HdrHistogram
log, summary.json rewritten (atomically) with every ratio finished so far, and a row in
the SQL result table when the target is PostgreSQL. Request batches arrive at the
clients' pauses (outside timed requests) and are written as a part once `flush_rows`
have gathered, so even a killed process leaves all but the last few rows.
`finalize(status)` consolidates the parts into requests.parquet / io_samples.parquet and
stamps the manifest with the final status.

Every file is written to a temp name and renamed (`rundir.atomic_write`). A write that
fails (a full disk) stops the run: the writer then releases the space it reserved at the
start, stamps the manifest `failed` with the reason, and rewrites summary.json over the
ratios whose rows and histogram are all on disk — summary.json never counts a row that
is not there. The SQL copy gets each ratio's row before its files are written: the
database is not the full disk.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featbench.errors import WriteError
from featbench.events import (
    IOSampleRecord,
    LevelFinished,
    RequestBatch,
    RunFinished,
    SectionInfo,
)
from featbench.measure.cost import label_capacity_units
from featbench.measure.histogram import Interval, hlog_text
from featbench.measure.stats import StatsCollector
from featbench.measure.thresholds import Threshold, evaluate_thresholds
from featbench.results import rundir


def requests_schema(entities: tuple[str, ...] | list[str], level_key: str = "hot_pct") -> pa.Schema:
    fields = [
        pa.field(level_key, pa.float64(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("scheduled_ns", pa.int64()),
        pa.field("start_ns", pa.int64(), nullable=False),
        pa.field("end_ns", pa.int64(), nullable=False),
        pa.field("latency_us", pa.float64(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("hot_entities", pa.int32(), nullable=False),
    ]
    for e in entities:
        fields += [
            pa.field(f"{e}_key", pa.string(), nullable=False),
            pa.field(f"{e}_hot", pa.bool_(), nullable=False),
            pa.field(f"{e}_latency_us", pa.float64()),
        ]
    fields += [
        # read units the store charged for this request (DynamoDB); null where not reported
        pa.field("consumed_units", pa.float64()),
        pa.field("target", pa.string(), nullable=False),
        pa.field("strategy", pa.string(), nullable=False),
        # which client ran the request (concurrent, open-loop and Spark runs); null for the
        # single client in featbench's own process
        pa.field("client", pa.int16()),
    ]
    return pa.schema(fields)


TABLE_BLOCKS = pa.list_(
    pa.struct([("table", pa.string()), ("hit", pa.int64()), ("read", pa.int64())])
)


def io_samples_schema(
    entities: tuple[str, ...] | list[str], level_key: str = "hot_pct"
) -> pa.Schema:
    fields = [
        pa.field(level_key, pa.float64(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("hot_entities", pa.int32(), nullable=False),
    ]
    for e in entities:
        fields += [
            pa.field(f"{e}_key", pa.string(), nullable=False),
            pa.field(f"{e}_hot", pa.bool_(), nullable=False),
        ]
    fields += [
        pa.field("shared_hit", pa.int64()),
        pa.field("shared_read", pa.int64()),
        pa.field("table_blocks", TABLE_BLOCKS),
        pa.field("error", pa.string()),
        pa.field("target", pa.string(), nullable=False),
        pa.field("strategy", pa.string(), nullable=False),
    ]
    return pa.schema(fields)


class ResultSink(Protocol):
    """Somewhere besides the run directory that results go (e.g. SQL tables)."""

    def write_level(self, run_id: str, section: SectionInfo, ratio: dict[str, Any]) -> None: ...


class _Columns:
    """Column buffers for one Parquet schema."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.cols: dict[str, list[Any]] = {f.name: [] for f in schema}

    def __len__(self) -> int:
        return len(next(iter(self.cols.values())))

    def take(self) -> pa.Table:
        t = pa.table(
            {k: pa.array(v, type=self.schema.field(k).type) for k, v in self.cols.items()},
            schema=self.schema,
        )
        for v in self.cols.values():
            v.clear()
        return t


class ResultsWriter:
    def __init__(
        self,
        path: Path,
        *,
        run_id: str,
        manifest: dict[str, Any],
        entities: tuple[str, ...],
        stats: StatsCollector,
        sinks: list[ResultSink] | None = None,
        level_key: str = "hot_pct",
        flush_rows: int = 5000,
        clock_origin_s: float = 0.0,
        thresholds: Sequence[Threshold] = (),
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.manifest = manifest
        self.entities = entities
        self.stats = stats
        self.sinks = sinks if sinks is not None else []  # the caller may add to it
        self.level_key = level_key
        self.flush_rows = flush_rows
        self.clock_origin_s = clock_origin_s
        self.thresholds = list(thresholds)
        self.sections: dict[int, SectionInfo] = {}
        self.warnings: list[str] = []
        self._req_schema = requests_schema(entities, level_key)
        self._part_options = part_options(entities)
        self._io = _Columns(io_samples_schema(entities, level_key))
        self._tables: list[pa.Table] = []  # request batches not yet written
        self._rows = 0
        self._parts = 0
        # rows per (section, level): gathered in memory / written in parts on disk
        self._pending: dict[tuple[int, float], int] = {}
        self._on_disk: dict[tuple[int, float], int] = {}
        self._histograms: set[tuple[int, float]] = set()  # levels whose histogram is on disk
        self.failure: WriteError | None = None
        self._beat_ns = time.monotonic_ns()
        try:
            (path / rundir.REQUEST_PARTS).mkdir(exist_ok=True)
            (path / rundir.IO_PARTS).mkdir(exist_ok=True)
        except OSError as e:
            raise rundir.write_failed(path / rundir.REQUEST_PARTS, e) from None
        rundir.reserve_space(path, RESERVE_BYTES + 4 * len(str(manifest)))
        rundir.write_json(path / rundir.MANIFEST, manifest)
        self._write_summary()

    # -- listeners ---------------------------------------------------------------------
    def heartbeat(self, every_s: float = rundir.HEARTBEAT_S) -> None:
        """Renew the manifest's heartbeat if `every_s` has passed (events arrive at the
        clients' pauses and between phases, never during a timed request)."""
        now = time.monotonic_ns()
        proc = self.manifest.get("process")
        if proc is None or now - self._beat_ns < every_s * 1e9:
            return
        self._beat_ns = now
        proc["heartbeat_at"] = rundir.iso(rundir.utc_now())
        self.manifest["warnings"] = list(self.warnings)  # kept even if the process dies
        rundir.write_json(self.path / rundir.MANIFEST, self.manifest)

    def on_section_start(self, info: SectionInfo) -> None:
        self.sections[info.index] = info
        self.heartbeat(0)

    def on_level_start(self, ev: Any) -> None:
        self.heartbeat(0)

    def on_requests(self, b: RequestBatch) -> None:
        n = len(b)
        if n == 0:
            return
        info = self.sections[b.section]
        lat_us = (b.end_ns - b.start_ns) / 1000.0
        if b.errors:
            err: list[str | None] = [None] * n
            for i, text in b.errors.items():
                err[i] = text
            errors = pa.array(err, type=pa.string())
        else:
            errors = pa.nulls(n, pa.string())
        cols: dict[str, pa.Array] = {
            self.level_key: pa.array(np.full(n, float(b.level))),
            "seq": pa.array(b.seq, type=pa.int64()),
            "scheduled_ns": pa.nulls(n, pa.int64())
            if b.scheduled_ns is None
            else pa.array(b.scheduled_ns, type=pa.int64(), mask=b.scheduled_ns < 0),
            "start_ns": pa.array(b.start_ns, type=pa.int64()),
            "end_ns": pa.array(b.end_ns, type=pa.int64()),
            "latency_us": pa.array(lat_us, type=pa.float64()),
            "error": errors,
            "hot_entities": pa.array(b.hot.sum(axis=1).astype(np.int32), type=pa.int32()),
        }
        for j, e in enumerate(self.entities):
            cols[f"{e}_key"] = pa.array(b.keys[j], type=pa.string())
            cols[f"{e}_hot"] = pa.array(b.hot[:, j], type=pa.bool_())
            if b.entity_ns is None:
                cols[f"{e}_latency_us"] = pa.nulls(n, pa.float64())
            else:
                ent = b.entity_ns[:, j]
                cols[f"{e}_latency_us"] = pa.array(ent / 1000.0, type=pa.float64(), mask=ent < 0)
        cols["consumed_units"] = (
            pa.nulls(n, pa.float64())
            if b.consumed_units is None
            else pa.array(b.consumed_units, type=pa.float64(), from_pandas=True)
        )
        cols["target"] = pa.repeat(pa.scalar(info.target, pa.string()), n)
        cols["strategy"] = pa.repeat(pa.scalar(info.strategy, pa.string()), n)
        cols["client"] = (
            pa.nulls(n, pa.int16()) if b.client is None else pa.array(b.client, type=pa.int16())
        )
        self._tables.append(pa.table(cols, schema=self._req_schema))
        self._rows += n
        key = (b.section, float(b.level))
        self._pending[key] = self._pending.get(key, 0) + n
        if self._rows >= self.flush_rows:
            self._flush()
        self.heartbeat()

    def on_io_sample(self, s: IOSampleRecord) -> None:
        c = self._io.cols
        info = self.sections[s.section]
        c[self.level_key].append(float(s.level))
        c["seq"].append(s.seq)
        c["hot_entities"].append(sum(s.hot))
        for i, e in enumerate(self.entities):
            c[f"{e}_key"].append(str(s.keys[i]))
            c[f"{e}_hot"].append(s.hot[i])
        smp = s.sample
        c["shared_hit"].append(smp.shared_hit if smp else None)
        c["shared_read"].append(smp.shared_read if smp else None)
        c["table_blocks"].append(
            [{"table": t, "hit": h, "read": r} for t, (h, r) in smp.per_table.items()]
            if smp
            else None
        )
        c["error"].append(s.error)
        c["target"].append(info.target)
        c["strategy"].append(info.strategy)

    def on_section_end(self, ev: Any) -> None:
        if self.failure is None:  # (after a failed write, finalize records what is on disk)
            self._write_summary()  # the section's backend_stats are known now

    def on_warning(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)

    def on_level_end(self, ev: LevelFinished) -> None:
        info = self.sections[ev.section]
        st = self.stats.levels.get((ev.section, ev.level))
        if st is not None:
            ratio = st.to_summary()
            for sink in self.sinks:
                try:
                    sink.write_level(self.run_id, info, ratio)
                except Exception as e:  # noqa: BLE001 - the files are the record; SQL is a copy
                    self.on_warning(f"could not write the SQL result row: {e}")
        self._flush()
        if st is not None:
            self._write_histogram(info, st)
        self._write_summary()
        self.heartbeat(0)

    def on_run_end(self, ev: RunFinished) -> None:
        self.finalize(ev.status, ev.error)

    # -- files -------------------------------------------------------------------------
    def _guard(self, write: Any) -> None:
        """Run a write; a failure is remembered (the run is failed from then on) and raised."""
        try:
            write()
        except WriteError as e:
            self.failure = self.failure or e
            raise

    def _flush(self) -> None:
        if self._tables:
            table = pa.concat_tables(self._tables)
            part = self.path / rundir.REQUEST_PARTS / f"part-{self._parts:05d}.parquet"
            self._guard(lambda: rundir.write_parquet(part, table, **self._part_options))
            for key, n in self._pending.items():
                self._on_disk[key] = self._on_disk.get(key, 0) + n
            self._tables, self._rows, self._pending = [], 0, {}
            self._parts += 1
        if len(self._io):
            part = self.path / rundir.IO_PARTS / f"part-{self._parts:05d}.parquet"
            table = self._io.take()
            self._guard(lambda: rundir.write_parquet(part, table))
            self._parts += 1

    def _write_histogram(self, info: SectionInfo, st: Any) -> None:
        start_s = (st.first_start_ns or 0) / 1e9
        length_s = max(0.0, ((st.last_end_ns or 0) - (st.first_start_ns or 0)) / 1e9)
        intervals = [Interval(st.latency, start_s, length_s)]
        if st.corrected.count:
            intervals.append(Interval(st.corrected, start_s, length_s, "corrected"))
        for name, h in st.entity_latency.items():
            intervals.append(Interval(h, start_s, length_s, f"entity.{name}"))
        text = hlog_text(
            intervals,
            start_time_s=self.clock_origin_s,
            comment=(
                f"featbench run {self.run_id} section {info.label} {self.level_key}={st.level:g}; "
                "values in microseconds; untagged line = request latency (successful measured requests)"
            ),
        )
        name = rundir.histogram_name(info.label, st.level, self.level_key)
        path = self.path / rundir.HISTOGRAMS / name
        self._guard(lambda: rundir.atomic_write(path, lambda tmp: tmp.write_text(text)))
        self._histograms.add((info.index, float(st.level)))

    def summary(self, on_disk_only: bool = False) -> dict[str, Any]:
        """summary.json; `on_disk_only`: only the ratios whose rows and histogram are all on
        disk (after a failed write)."""
        sections = self.stats.sections_summary()
        if on_disk_only:
            for idx, sec in zip(sorted(self.stats.sections), sections, strict=True):
                sec["ratios"] = [r for r in sec["ratios"] if self._all_on_disk(idx, r)]
        # DynamoDB sections say whether their capacity units are measured or emulated
        label_capacity_units(sections, self.manifest.get("targets") or [])
        first = sections[0] if sections else None
        doc: dict[str, Any] = {
            "schema_version": rundir.SCHEMA_VERSION,
            "run_id": self.run_id,
            "backend": first["backend"] if first else None,
            "strategy": first["strategy"] if first else None,
            "ratios": first["ratios"] if first else [],
            "sections": sections,
        }
        if self.thresholds:  # over the ratios finished so far; final at finalize
            doc["thresholds"] = evaluate_thresholds(self.thresholds, sections)
        return doc

    def _all_on_disk(self, section: int, ratio: dict[str, Any]) -> bool:
        key = (section, float(ratio[self.level_key]))
        return key in self._histograms and self._on_disk.get(key, 0) == ratio["requests"]

    def _write_summary(self) -> None:
        doc = self.summary()
        self._guard(lambda: rundir.write_json(self.path / rundir.SUMMARY, doc))

    def _stamp(self, status: str, error: str | None) -> None:
        self.manifest["status"] = status
        self.manifest["finished_at"] = rundir.iso(rundir.utc_now())
        if error:
            self.manifest["error"] = error
        self.manifest["warnings"] = list(self.warnings)
        rundir.write_json(self.path / rundir.MANIFEST, self.manifest)

    def finalize(self, status: str, error: str | None = None) -> None:
        """Consolidate and stamp the manifest; after a failed write, record the failure
        instead (`_record_failure`) and raise it: the run is `failed` whatever it was."""
        if self.failure is None:
            try:
                self._flush()
                # A ratio cut short by an exception never reached level_end: its histogram
                # is written here, so every ratio in summary.json has one.
                for (sec, _level), st in list(self.stats.levels.items()):
                    info = self.sections.get(sec)
                    if info is not None:
                        self._write_histogram(info, st)
                for parts, out, schema in (
                    (rundir.REQUEST_PARTS, rundir.REQUESTS, self._req_schema),
                    (rundir.IO_PARTS, rundir.IO_SAMPLES, self._io.schema),
                ):
                    self._guard(lambda: _consolidate(self.path / parts, self.path / out, schema))  # noqa: B023
                self._write_summary()
                rundir.release_reserve(self.path)
                self._guard(lambda: self._stamp(status, error))
                return
            except WriteError:
                pass
        assert self.failure is not None
        self._record_failure(self.failure)
        raise self.failure

    def _record_failure(self, failure: WriteError) -> None:
        """The disk is full: free what featbench holds (the reserve, unfinished temp files),
        then stamp the manifest `failed` with the reason and make summary.json count only
        what is on disk. Best effort: what cannot be written leaves the previous file,
        which counted only rows already on disk."""
        rundir.release_reserve(self.path)
        rundir.remove_temp_files(self.path)
        for write in (
            lambda: self._stamp("failed", str(failure)),
            lambda: rundir.write_json(self.path / rundir.SUMMARY, self.summary(on_disk_only=True)),
        ):
            try:
                write()
            except WriteError:
                pass


def part_options(entities: Sequence[str]) -> dict[str, Any]:
    """How request parts are written. They are written while clients measure (on a machine
    they may share) and read once, by `_consolidate`: dictionaries only where values
    repeat (keys, text) and no column statistics halve the CPU a row costs (0.44 -> 0.21
    µs on the development machine)."""
    keys = [f"{e}_key" for e in entities]
    return {"use_dictionary": [*keys, "error", "target", "strategy"], "write_statistics": False}


RESERVE_BYTES = 256 * 1024  # + 4 x the manifest: room to record a failure on a full disk


def _consolidate(parts_dir: Path, out: Path, schema: pa.Schema) -> None:
    """Merge parts into one file (written to a temp name first), then drop the parts."""
    parts = rundir.part_files(parts_dir)

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema) as w:
            for p in parts:
                w.write_table(pq.read_table(p, schema=schema))

    rundir.atomic_write(out, write)
    if parts_dir.exists():
        shutil.rmtree(parts_dir)
