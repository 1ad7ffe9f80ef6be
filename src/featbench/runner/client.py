"""The client loop: runs requests of a level on one session and records them.

Every client — the single closed-loop client in featbench's own process and each
worker process of a concurrent or open-loop run — is this loop. Its discipline is
what makes featbench's tail the store's tail (README, "The timed path"):

- between sending a request and receiving its last row, and between two timed
  requests, nothing but this loop runs in the process: no listener, statistics,
  file write or display, and no thread of featbench's that could hold the GIL;
- a timed request leaves three list stores behind (start, end, the store's reply);
  nothing is allocated for it beyond what the store's client allocates;
- what was recorded is handed to `sink` only at a *pause*: when `pause_every`
  requests are recorded, when `pause_interval_s` has passed (closed loop), or — in
  an open loop — in an idle gap before a request's intended start that is long
  enough for the hand-over; a pause that had to happen with no such gap (the client
  was saturated) is counted as forced;
- the garbage collector is off while a level is measured (objects that existed
  before the run are frozen out of its way by the driver) and collects at pauses.

Requests are built from the level's plan arrays one block at a time, at pauses, so
memory does not grow with the number of requests.

Where the session offers a compiled plan (PostgreSQL's serial, function and union
strategies: `backends/pg_native.py`), the timed requests run in blocks of machine code
with the GIL released, writing into the same arrays: no Python at all between or
around timed requests inside a block, closed or open loop. Elsewhere (other stores and
strategies, FEATBENCH_TIMED_PATH=python) the loop calls `Session.execute`.
"""

from __future__ import annotations

import contextlib
import gc
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featbench.backends.base import IOSample, Key, NativePlan, Session
from featbench.runner.reconnect import ReconnectPolicy

PAUSE_EVERY = 16_384  # requests recorded before a pause (and the size of a request block)
PAUSE_INTERVAL_S = 2.0  # closed loop: at most this long between pauses
SPIN_NS = 80_000  # open loop: sleep until this close to a start, then spin (sleep overshoots)
IDLE_PAUSE_MIN_NS = 2_000_000  # open loop: hand records over only in a gap at least this long
IDLE_PAUSE_EVERY_NS = 100_000_000  # …and at most this often
NAN = float("nan")
REWARM = 32  # closed loop: unmeasured repeats of the last request after a pause (see _pause)
STOP_EVERY = 16  # measured requests between two checks of `stop` (a stop is never urgent)
NATIVE_BLOCK = 256  # compiled path: requests per call at most (`stop` is asked between calls)…
NATIVE_BLOCK_NS = 50_000_000  # …and at most this long, so Ctrl-C is seen at once
WARN_LIMIT = 5  # unmeasured-request failures reported one by one before they are only counted


@dataclass
class Chunk:
    """What a client recorded between two pauses (columns; picklable for worker processes)."""

    seq: np.ndarray  # int64
    start_ns: np.ndarray  # int64, raw perf_counter_ns
    end_ns: np.ndarray  # int64
    rows_found: np.ndarray  # int64
    keys_found: np.ndarray  # int64
    lookups: np.ndarray  # int64
    errors: dict[int, str]
    scheduled_ns: np.ndarray | None = None  # int64
    entity_ns: np.ndarray | None = None  # (n, E) int64, -1 where not measured
    consumed_units: np.ndarray | None = None  # float64, NaN where not reported
    io: list[tuple[int, IOSample | None, str | None]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.seq.shape[0])


@dataclass
class ShareStats:
    """How one share of a level went, for the run's load report."""

    requests: int = 0
    errors: int = 0
    cpu_s: float = 0.0  # CPU of the loop, pauses excluded
    wall_s: float = 0.0  # wall time of the loop, pauses excluded
    pauses: int = 0
    forced_pauses: int = 0  # open loop: pauses taken with no idle gap (the client was saturated)
    pause_s: float = 0.0
    pause_cpu_s: float = 0.0
    rewarm_errors: int = 0  # repeats after a pause that failed (then the session reconnected)
    after_pause: list[int] = field(default_factory=list)  # seq of the first request after a pause
    timed_path: str = "python"  # "compiled" where the session's plan ran the timed requests


class _Recorder:
    """Preallocated C arrays for up to `cap` timed requests, reused at every pause.

    Values are copied out of the store's reply as soon as it returns, so the reply (and
    its integers) is freed at once and the next request's allocations reuse the same,
    cache-hot memory: nothing a timed request allocates is kept until the pause.
    """

    def __init__(self, cap: int, entities: Sequence[str]) -> None:
        self.cap = cap
        self.entities = tuple(entities)
        n_e = len(self.entities)
        self.seq = array("q", bytes(8 * cap))
        self.start = array("q", bytes(8 * cap))
        self.end = array("q", bytes(8 * cap))
        self.sched = array("q", bytes(8 * cap))
        self.rows = array("q", bytes(8 * cap))
        self.keys_found = array("q", bytes(8 * cap))
        self.lookups = array("q", bytes(8 * cap))
        self.entity_ns = array("q", bytes(8 * cap * n_e))
        self.units = array("d", bytes(8 * cap))
        self.errors: dict[int, str] = {}
        self.has_entity = False
        self.has_units = False

    def views(self) -> dict[str, np.ndarray]:
        """The arrays as numpy views (same memory) for the compiled timed path."""
        names = "seq start end sched rows keys_found lookups entity_ns".split()
        v = {name: np.frombuffer(getattr(self, name), dtype=np.int64) for name in names}
        v["units"] = np.frombuffer(self.units, dtype=np.float64)
        return v

    def mark_entity(self, k: int) -> None:
        """The first reply with per-entity times since the last pause: earlier rows had none."""
        self.has_entity = True
        for x in range(k * len(self.entities)):
            self.entity_ns[x] = -1

    def mark_units(self, k: int) -> None:
        self.has_units = True
        for x in range(k):
            self.units[x] = NAN

    def chunk(
        self, n: int, open_loop: bool, io: list[tuple[int, IOSample | None, str | None]]
    ) -> Chunk:
        def col(a: array, dtype: Any = np.int64) -> np.ndarray:
            return np.frombuffer(a, dtype=dtype, count=n).copy()

        n_e = len(self.entities)
        out = Chunk(
            seq=col(self.seq),
            start_ns=col(self.start),
            end_ns=col(self.end),
            rows_found=col(self.rows),
            keys_found=col(self.keys_found),
            lookups=col(self.lookups),
            errors=dict(self.errors),
            scheduled_ns=col(self.sched) if open_loop else None,
            entity_ns=np.frombuffer(self.entity_ns, dtype=np.int64, count=n * n_e)
            .reshape(n, n_e)
            .copy()
            if self.has_entity
            else None,
            consumed_units=col(self.units, np.float64) if self.has_units else None,
            io=list(io),
        )
        self.errors.clear()
        self.has_entity = self.has_units = False
        return out


class Client:
    """One client: a session (reopened after failures) and the timed loop over shares of levels."""

    def __init__(
        self,
        factory: Callable[[], Session],
        entities: Sequence[str],
        key_columns: Sequence[Sequence[Key]],
        *,
        sink: Callable[[Chunk], None],
        warn: Callable[[str], None],
        pause_every: int = PAUSE_EVERY,
        pause_interval_s: float = PAUSE_INTERVAL_S,
        progress: Any = None,  # a shared int64 array: progress[0] = requests done in this phase
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        self.factory = factory
        self.reconnect = reconnect or ReconnectPolicy()
        self.entities = tuple(entities)
        self.key_columns = [list(c) for c in key_columns]
        self.sink = sink
        self.warn = warn
        self.pause_every = max(1, int(pause_every))
        self.pause_interval_ns = int(pause_interval_s * 1e9)
        self.progress = progress
        self.session: Session = self.reconnect.open_session(factory)
        self._rec = _Recorder(self.pause_every, self.entities)
        self._views = self._rec.views()
        self._out: Any = None  # the compiled path's BlockOut over the recorder's arrays
        self._keys: Any = None  # the key columns encoded for the compiled path (once)
        self._plan: NativePlan | None = None
        self._bind()

    def _bind(self) -> None:
        """The session's compiled plan (None: Python path), readied now, before timing."""
        plan = self.session.native_plan(self.entities)
        if plan is not None:
            if self._keys is None:
                v = self._views
                try:
                    self._keys = plan.encode_keys(self.key_columns)
                except ValueError:  # a key libpq cannot send as text: `execute` reports it
                    self._plan = None
                    return
                self._out = plan.out(v["start"], v["end"], v["rows"], v["keys_found"],
                                     v["lookups"], v["entity_ns"])  # fmt: skip
            plan.prepare(self._out, self._keys)
        self._plan = plan

    @property
    def timed_path(self) -> str:
        """Which timed path the session runs: "compiled" or "python"."""
        return "compiled" if self._plan is not None else "python"

    # -- the session ------------------------------------------------------------------------
    @property
    def io_capable(self) -> bool:
        return bool(self.session.io_sampling)

    def _recover(self) -> None:
        self.session = self.reconnect.recover(self.session)
        self._bind()

    def backend_stats(self) -> dict[str, int] | None:
        """The store client's own counts (errors, retries…), None when it keeps none."""
        st = {k: v for k, v in self.session.stats.items() if isinstance(v, int)}
        return st or None

    def flush_stats(self) -> None:
        try:
            self.session.flush_stats()
        except Exception:  # noqa: BLE001 - e.g. the connection dropped since the last request
            self._recover()  # a new connection has nothing pending; the old one's stats
            self.session.flush_stats()  # were published when its backend ended

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.session.close()

    # -- building requests ---------------------------------------------------------------------
    def _block(
        self, key_idx: np.ndarray, io: np.ndarray, pos: np.ndarray
    ) -> list[tuple[int, dict[str, Key], bool]]:
        ents = self.entities
        cols = self.key_columns
        rows = key_idx[pos].tolist()
        flags = io[pos].tolist()
        seqs = pos.tolist()
        if len(ents) == 1:
            e0, c0 = ents[0], cols[0]
            return [(s, {e0: c0[r[0]]}, f) for s, r, f in zip(seqs, rows, flags, strict=True)]
        rng = range(len(ents))
        return [
            (s, {ents[j]: cols[j][r[j]] for j in rng}, f)
            for s, r, f in zip(seqs, rows, flags, strict=True)
        ]

    # -- one share of a level -------------------------------------------------------------------
    def run(
        self,
        key_idx: np.ndarray,
        io: np.ndarray,
        *,
        measured: bool,
        start: int = 0,
        step: int = 1,
        phase: str = "measure",
        sched: np.ndarray | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> ShareStats:
        """Execute rows start, start + step, … of a level (rows of `key_idx`/`io`/`sched`).

        `sched` (absolute perf_counter_ns per row) makes it an open loop. `stop()` is
        checked after every STOP_EVERY measured requests (every unmeasured one) and at the
        end of each block; on KeyboardInterrupt (or any exception) what was
        recorded is handed over before it propagates.
        """
        st = ShareStats()
        total = len(range(start, int(io.shape[0]), step))
        if total == 0:
            return st
        self._k = 0
        self._io: list[tuple[int, IOSample | None, str | None]] = []
        self._st = st
        self._open = sched is not None
        self._last_pause = self._last_end = time.perf_counter_ns()
        self._prev_req: dict[str, Key] | None = None
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        gc_was = gc.isenabled()
        if measured:
            gc.collect()
            gc.disable()
        try:
            for b in range(0, total, self.pause_every):
                pos = np.arange(
                    start + b * step, start + min(total, b + self.pause_every) * step, step
                )
                if measured and self._plan is not None:
                    st.timed_path = "compiled"
                    self._measured_native(key_idx, io, pos, sched, st, stop)
                else:
                    items = self._block(key_idx, io, pos)
                    times = None if sched is None else sched[pos].tolist()
                    if measured:
                        self._measured(items, times, st, stop)
                    else:
                        self._unmeasured(items, times, st, phase, stop)
                if stop is not None and stop():
                    break
        finally:
            if measured:
                self._pause(forced=False, final=True)
                if gc_was:
                    gc.enable()
            if st.after_pause and st.after_pause[-1] < 0:
                st.after_pause.pop()  # no timed request followed the last pause
            st.cpu_s = max(0.0, time.thread_time() - cpu0 - st.pause_cpu_s)
            st.wall_s = max(0.0, time.perf_counter() - wall0 - st.pause_s)
        return st

    def _wait(self, target: int, measured: bool) -> None:
        """Open loop: wait for a request's intended start; hand records over in a long gap."""
        clock = time.perf_counter_ns
        now = clock()
        if (
            measured
            and self._k
            and target - now > IDLE_PAUSE_MIN_NS
            and now - self._last_pause > IDLE_PAUSE_EVERY_NS
        ):
            self._pause(forced=False)
            now = clock()
        wait = target - now - SPIN_NS
        if wait > 0:
            time.sleep(wait / 1e9)
        while clock() < target:
            pass

    def _measured(
        self,
        items: list[tuple[int, dict[str, Key], bool]],
        times: list[int] | None,
        st: ShareStats,
        stop: Callable[[], bool] | None,
    ) -> None:
        # Between two timed requests this loop does only what a request needs recorded:
        # counters live in locals (self._k is stored only where another method reads it)
        # and `stop` is asked every STOP_EVERY requests, not after each one.
        clock = time.perf_counter_ns
        rec = self._rec
        seqs, starts, ends, sch = rec.seq, rec.start, rec.end, rec.sched
        rows, kfound, looked, ent_a, units = (
            rec.rows,
            rec.keys_found,
            rec.lookups,
            rec.entity_ns,
            rec.units,
        )
        names = self.entities
        n_e = len(names)
        name0 = names[0] if n_e == 1 else None
        cap = self.pause_every
        every = self.pause_interval_ns
        prog = self.progress
        execute = self.session.execute
        open_loop = times is not None
        done = 0
        k = self._k
        last_pause = self._last_pause
        prev, last_end = self._prev_req, self._last_end
        try:
            for j, (seq, req, is_io) in enumerate(items):
                # pauses come before a request, never after the last one of a level
                if k >= cap or (not open_loop and last_end - last_pause > every):
                    # k = -1 while self._k is the pause's (it may raise, e.g. Ctrl-C)
                    self._k, k = k, -1
                    self._pause(forced=open_loop and self._k >= cap,
                                rewarm=None if open_loop else prev)  # fmt: skip
                    k, last_pause = self._k, self._last_pause  # 0, now
                    execute = self.session.execute
                if open_loop:
                    self._k, k = k, -1
                    self._wait(times[j], True)  # type: ignore[index]
                    k, last_pause = self._k, self._last_pause
                if is_io:
                    self._io_sample(seq, req)
                    execute = self.session.execute
                    continue
                t0 = clock()
                res = execute(req)
                t1 = clock()
                seqs[k] = seq
                starts[k] = t0
                ends[k] = t1
                n = res.rows_found
                rows[k] = n
                kf = res.keys_found
                kfound[k] = n if kf is None else kf
                looked[k] = res.rows_looked_up
                ent = res.entity_ns
                if ent:
                    if not rec.has_entity:
                        rec.mark_entity(k)
                    if name0 is not None:
                        ent_a[k] = ent.get(name0, -1)
                    else:
                        base = k * n_e
                        for i in range(n_e):
                            ent_a[base + i] = ent.get(names[i], -1)
                elif rec.has_entity:
                    base = k * n_e
                    for i in range(n_e):
                        ent_a[base + i] = -1
                u = res.consumed_units
                if u is not None:
                    if not rec.has_units:
                        rec.mark_units(k)
                    units[k] = u
                elif rec.has_units:
                    units[k] = NAN
                if open_loop:
                    sch[k] = times[j]  # type: ignore[index]
                err = res.error
                res = ent = None  # freed now: the next request reuses its memory
                k += 1
                done += 1
                prev, last_end = req, t1
                if prog is not None:
                    prog[0] += 1
                if err is not None:
                    rec.errors[k - 1] = err
                    st.errors += 1
                    self._recover()
                    execute = self.session.execute
                if stop is not None and not done % STOP_EVERY and stop():
                    return
        finally:
            if k >= 0:
                self._k = k
            st.requests += done
            self._prev_req, self._last_end = prev, last_end

    def _request(self, row: Sequence[int]) -> dict[str, Key]:
        cols = self.key_columns
        return {e: cols[j][int(row[j])] for j, e in enumerate(self.entities)}

    def _measured_native(
        self,
        key_idx: np.ndarray,
        io: np.ndarray,
        pos: np.ndarray,
        sched: np.ndarray | None,
        st: ShareStats,
        stop: Callable[[], bool] | None,
    ) -> None:
        """`_measured` for a session with a compiled plan: the requests between two I/O
        samples go to the compiled loop, NATIVE_BLOCK per call, which records them
        straight into the recorder's arrays (the same pauses, the same records, the same
        recovery after a failed request). In an open loop the wait for a call's first
        request is `_wait`'s (which takes the idle pauses); the compiled loop waits for
        the others and hands back where a pause is due."""
        rows_all = np.ascontiguousarray(key_idx[pos], dtype=np.int64)
        times = None if sched is None else np.ascontiguousarray(sched[pos], dtype=np.int64)
        open_loop = times is not None
        io_at = np.flatnonzero(io[pos]).tolist()
        io_at.append(len(pos))
        v = self._views
        rec = self._rec
        cap = self.pause_every
        every = self.pause_interval_ns
        prog = self.progress
        m = len(pos)
        i = j_io = 0
        k = self._k
        last_pause = self._last_pause
        last_end = self._last_end
        last_i = -1  # row of rows_all timed last; its request dict is built only when asked

        def prev() -> dict[str, Key] | None:
            return self._prev_req if last_i < 0 else self._request(rows_all[last_i])

        try:
            while i < m:
                if k >= cap or (not open_loop and last_end - last_pause > every):
                    self._k, k = k, -1  # as in _measured: the pause may raise
                    self._pause(forced=open_loop and self._k >= cap,
                                rewarm=None if open_loop else prev())  # fmt: skip
                    k, last_pause = self._k, self._last_pause
                if times is not None:
                    self._k, k = k, -1
                    self._wait(int(times[i]), True)
                    k, last_pause = self._k, self._last_pause
                if i == io_at[j_io]:
                    self._io_sample(int(pos[i]), self._request(rows_all[i]))
                    i += 1
                    j_io += 1
                    continue
                plan = self._plan
                if plan is None:  # the recovered session has no compiled plan: Python path
                    self._k = k
                    self._prev_req, self._last_end = prev(), last_end
                    k = -1
                    rest = pos[i:]
                    left = None if times is None else times[i:].tolist()
                    self._measured(self._block(key_idx, io, rest), left, st, stop)
                    return
                n = min(io_at[j_io] - i, cap - k, NATIVE_BLOCK)
                if plan.timed_entities and not rec.has_entity:
                    rec.mark_entity(k)
                until = time.perf_counter_ns() + NATIVE_BLOCK_NS
                opened = None
                if times is None:
                    until = min(until, last_pause + every)
                else:
                    opened = (times[i : i + n], v["sched"], last_pause, IDLE_PAUSE_MIN_NS,
                              IDLE_PAUSE_EVERY_NS, SPIN_NS)  # fmt: skip
                done, err = plan.run(rows_all[i : i + n], k, until, self._out, self._keys,
                                     rec.has_entity, opened)  # fmt: skip
                v["seq"][k : k + done] = pos[i : i + done]
                if rec.has_units:
                    v["units"][k : k + done] = NAN
                k += done
                i += done
                st.requests += done
                last_end = int(v["end"][k - 1])
                last_i = i - 1
                if prog is not None:
                    prog[0] += done
                if err is not None:
                    rec.errors[k - 1] = err
                    st.errors += 1
                    self._recover()
                if stop is not None and stop():
                    return
        finally:
            if k >= 0:
                self._k = k
                self._prev_req, self._last_end = prev(), last_end

    def _unmeasured(
        self,
        items: list[tuple[int, dict[str, Key], bool]],
        times: list[int] | None,
        st: ShareStats,
        phase: str,
        stop: Callable[[], bool] | None,
    ) -> None:
        prog = self.progress
        for j, (_seq, req, _io) in enumerate(items):
            if times is not None:
                self._wait(times[j], False)
            res = self.session.execute(req)
            st.requests += 1
            if prog is not None:
                prog[0] += 1
            if res.error is not None:
                st.errors += 1
                if st.errors <= WARN_LIMIT:
                    self.warn(f"{phase} request failed: {res.error}")
                self._recover()
            if stop is not None and stop():
                return

    def _io_sample(self, seq: int, req: dict[str, Key]) -> None:
        if not self.session.io_sampling:
            return
        try:
            self._io.append((seq, self.session.explain(req), None))
        except Exception as e:  # noqa: BLE001 - a failed sample is recorded, not fatal
            self._io.append((seq, None, one_line(e)))
            self._recover()

    def _pause(
        self, *, forced: bool, final: bool = False, rewarm: dict[str, Key] | None = None
    ) -> None:
        """Hand what was recorded to the sink (outside any timed request).

        In a closed loop the client then repeats its last request REWARM times,
        unmeasured: after even a few milliseconds without requests the server's
        backend, its CPU and the scheduler leave the steady state the loop measures,
        and the first requests after the pause pay for waking them — measured here
        with a pause that does no work at all: 5.4x the median for the first request,
        1.7x after one repeat, 1.4x after 4, 1.1-1.2x after 16-32. The repeated
        request reads rows it has just read, so no cold key is spent.
        """
        k = self._k
        if not k and not self._io:
            return
        st = self._st
        c0, w0 = time.thread_time(), time.perf_counter_ns()
        if k and st.after_pause and st.after_pause[-1] < 0:
            st.after_pause[-1] = self._rec.seq[0]  # the first timed request after the last pause
        chunk = self._rec.chunk(k, self._open, self._io)
        self._k = 0
        self._io = []
        self.sink(chunk)
        if not final:
            gc.collect()
            st.pauses += 1
            st.forced_pauses += int(forced)
            st.after_pause.append(-1)  # filled in at the next pause
            if rewarm is not None:
                for _ in range(REWARM):
                    err = self.session.execute(rewarm).error
                    if err is not None:  # e.g. the connection dropped during the pause
                        st.rewarm_errors += 1
                        self.warn(f"a request repeated after a pause failed: {err}")
                        self._recover()
                        break
        w1 = time.perf_counter_ns()
        st.pause_s += (w1 - w0) / 1e9
        st.pause_cpu_s += time.thread_time() - c0
        self._last_pause = w1


def one_line(e: BaseException) -> str:
    return " ".join((str(e) or type(e).__name__).split())
