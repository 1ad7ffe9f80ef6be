"""From what clients recorded to run events: batches, I/O samples, the end of a level.

Shared by every driver (the single client in featbench's process and the worker pool),
and always called outside timed requests: at a client's pause, or in the parent
process of a worker pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from featbench.events import IOSampleRecord, LevelFinished, RequestBatch, RunEvents
from featbench.runner.client import Chunk
from featbench.workload.plan import LevelPlan


def key_strings(keys: dict[str, list[object]], entities: Sequence[str]) -> list[np.ndarray]:
    """Per entity, its keys as an object array of str (what results files hold)."""
    return [np.array([str(k) for k in keys[e]], dtype=object) for e in entities]


def fire_chunk(
    events: RunEvents,
    chunk: Chunk,
    *,
    section: int,
    lp: LevelPlan,
    keys: dict[str, list[object]],
    key_str: list[np.ndarray],
    entities: Sequence[str],
    origin_ns: int,
    client: int | None = None,
) -> None:
    """Fire the chunk's timed requests as one batch, then its I/O samples, in seq order."""
    n = len(chunk)
    if n:
        seq = chunk.seq
        idx = lp.key_idx[seq]
        events.requests.fire(
            RequestBatch(
                section=section,
                level=lp.level,
                seq=seq,
                start_ns=chunk.start_ns - origin_ns,
                end_ns=chunk.end_ns - origin_ns,
                rows_found=chunk.rows_found,
                keys_found=chunk.keys_found,
                lookups=chunk.lookups,
                hot=lp.hot[seq],
                keys=tuple(key_str[j][idx[:, j]] for j in range(len(entities))),
                errors=chunk.errors,
                scheduled_ns=None if chunk.scheduled_ns is None else chunk.scheduled_ns - origin_ns,
                entity_ns=chunk.entity_ns,
                consumed_units=chunk.consumed_units,
                client=None if client is None else np.full(n, client, dtype=np.int16),
            )
        )
    for seq_i, sample, err in chunk.io:
        row = lp.key_idx[seq_i]
        events.io_sample.fire(
            IOSampleRecord(
                section,
                lp.level,
                int(seq_i),
                tuple(keys[e][int(row[j])] for j, e in enumerate(entities)),
                tuple(bool(h) for h in lp.hot[seq_i]),
                sample,
                err,
            )
        )


def read_counters(
    ctx: Any, warn: Callable[[str], None], flush: Callable[[], None] | None = None
) -> dict[str, int] | None:
    """The store's cache counters now (after `flush`), None where it has none or the read
    failed (a warning: counters missing for a level are not fatal)."""
    if ctx.read_counters is None:
        return None
    try:
        if flush is not None:
            flush()  # PostgreSQL 15+: only a session can publish its own pending stats
        # a side connection that broke is reopened, within the run's reconnect budget
        return ctx.reconnect.call(ctx.read_counters, "reading cache counters")
    except Exception as e:  # noqa: BLE001
        warn(
            "could not read cache counters, so this level's hit ratio is not reported: "
            f"{' '.join(str(e).split()) or type(e).__name__}"
        )
        return None


def counter_delta(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int] | None:
    """b - a per counter; None when either is unknown or a counter went backwards (a reset)."""
    if a is None or b is None:
        return None
    d = {k: int(b[k]) - int(a.get(k, 0)) for k in b if k != "tables"}
    if any(v < 0 for v in d.values()):
        return None
    return d


def fire_level_end(
    events: RunEvents,
    section: int,
    level: float,
    before: dict[str, int] | None,
    after: dict[str, int] | None,
    io_capable: bool,
    *,
    interrupted: bool,
) -> None:
    """Emit the end of one level with its cache-counter delta (every driver)."""
    delta = counter_delta(before, after)
    notes: tuple[str, ...] = ()
    if before is not None and after is not None and delta is None:
        notes = ("cache counters went backwards during this level (stats reset?): not reported",)
        events.warning.fire(notes[0])
    events.level_end.fire(
        LevelFinished(section, level, delta, io_capable, interrupted=interrupted, notes=notes)
    )
