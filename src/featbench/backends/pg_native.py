"""The compiled timed path for PostgreSQL: libpq called from machine code, not Python.

A request through psycopg's `exec_prepared` already waits in C, but everything around
the wait — the parameter list, the result object, the clock reads, the recording —
is Python, 5-8 µs of CPU per request on this project's 2-core machine, and every
microsecond of it is stretched when another process shares the core (README, "The
timed path"). Here a block of requests runs in one call of a function compiled by
numba, with the GIL released: it fills each statement's parameter pointers from
pre-encoded keys, calls libpq's `PQexecPrepared` (the same library and connection
psycopg opened: `PGconn.pgconn_ptr`), reads `PQntuples`, clears the result and
reads the clock (`clock_gettime(CLOCK_MONOTONIC)`, the clock of
`time.perf_counter_ns`) straight into the client's recording arrays. What it
measures is what a C client such as pgbench measures.

Used when numba imports, the loaded libpq can be found, and `FEATBENCH_TIMED_PATH`
is not `python`; otherwise the client runs the same requests through `Session.execute`
(the run's manifest says which: `timed_path`). A failed request ends a block: its
error text is read here, outside the compiled loop, and the client recovers the
session as on the Python path.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from featbench.backends.base import Key
from featbench.backends.pg_lookup import key_param

ENV = "FEATBENCH_TIMED_PATH"  # "python" forces the Python path (benchmarks compare both)
_TUPLES_OK = 2  # ExecStatusType PGRES_TUPLES_OK
_CLOCK_MONOTONIC = 1


class _Lib:
    """libpq and libc functions, typed for numba (pointers as size_t: same registers)."""

    def __init__(self, libpq_path: str) -> None:
        u, i = ctypes.c_size_t, ctypes.c_int
        pq = ctypes.CDLL(libpq_path)
        self.exec_prepared = pq.PQexecPrepared
        self.exec_prepared.argtypes = [u, u, i, u, u, u, i]
        self.exec_prepared.restype = u
        self.result_status = pq.PQresultStatus
        self.result_status.argtypes = [u]
        self.result_status.restype = i
        self.ntuples = pq.PQntuples
        self.ntuples.argtypes = [u]
        self.ntuples.restype = i
        self.clear = pq.PQclear
        self.clear.argtypes = [u]
        self.clear.restype = None
        self.result_error = pq.PQresultErrorMessage
        self.result_error.argtypes = [u]
        self.result_error.restype = ctypes.c_char_p
        self.conn_error = pq.PQerrorMessage
        self.conn_error.argtypes = [u]
        self.conn_error.restype = ctypes.c_char_p
        libc = ctypes.CDLL(None)
        self.clock_gettime = libc.clock_gettime
        self.clock_gettime.argtypes = [i, u]
        self.clock_gettime.restype = i
        self.nanosleep = libc.nanosleep
        self.nanosleep.argtypes = [u, u]
        self.nanosleep.restype = i


def _loaded_libpq() -> str | None:
    """The path of the libpq this process loaded (psycopg's), from the process's maps."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(None, 1)[-1]
                if "/libpq" in path and ".so" in path:
                    return path
    except OSError:
        return None
    return None


@cache
def _compiled() -> tuple[Callable[..., int], _Lib] | str:
    """The compiled block function and the library it calls, or why there is none."""
    if os.environ.get(ENV, "").lower() == "python":
        return f"{ENV}=python"
    if not sys.platform.startswith("linux"):
        return "the compiled timed path is built for Linux"
    if time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return "perf_counter is not CLOCK_MONOTONIC here"
    try:
        import numba
        from psycopg import pq
    except ImportError as e:
        return f"numba is not installed ({e})"
    if pq.__impl__ == "python":
        return "psycopg runs its pure-Python libpq wrapper"
    import psycopg  # noqa: F401 - loads libpq, so that it appears in the maps

    path = _loaded_libpq()
    if path is None:
        return "the loaded libpq was not found"
    lib = _Lib(path)
    exec_prepared, result_status, ntuples = lib.exec_prepared, lib.result_status, lib.ntuples
    clear, clock_gettime, nanosleep = lib.clear, lib.clock_gettime, lib.nanosleep

    @numba.njit(nogil=True)
    def run_block(  # noqa: PLR0913 - flat arrays are what compiled code takes
        conn: int,
        rows: np.ndarray,  # (n, E) int64: each request's key index per entity
        k0: int,  # first recording slot
        deadline: int,  # stop after the request that ends past this (perf_counter_ns)
        names: np.ndarray,  # (S,) uint64: statement name pointers
        n_params: np.ndarray,  # (S,) int64
        pv_off: np.ndarray,  # (S,) int64: where a statement's parameter pointers start in pv
        slot_lo: np.ndarray,  # (S,) int64: its key slots, slot_lo..slot_hi of slot_pv/slot_ent
        slot_hi: np.ndarray,
        slot_pv: np.ndarray,  # (K,) int64: index in pv of a key slot
        slot_ent: np.ndarray,  # (K,) int64: entity whose key goes there
        group: np.ndarray,  # (S,) int64: entity timed around the statement, -1 for none
        looked: np.ndarray,  # (S,) int64: lookups a statement stands for
        hit_rows: np.ndarray,  # (S,) int64: 1 = every row is a lookup that found its key
        fail_looked: int,  # 1 = a failed statement still counts its lookups (one statement)
        pv: np.ndarray,  # uint64 parameter pointers (extras pre-filled)
        key_ptr: np.ndarray,  # uint64: pointers to each key's NUL-terminated text
        ent_base: np.ndarray,  # (E,) int64: an entity's first index in key_ptr
        ts: np.ndarray,  # (2,) int64 scratch timespec
        start: np.ndarray,
        end: np.ndarray,
        found_a: np.ndarray,
        kfound_a: np.ndarray,
        looked_a: np.ndarray,
        ent_a: np.ndarray,  # flat (slots, E) int64
        write_ent: int,
        status: np.ndarray,  # out: [done, failed (0/1), failed result pointer]
        sched: np.ndarray,  # open loop: each request's intended start; empty: closed loop
        sched_a: np.ndarray,  # where the intended starts are recorded
        last_pause: int,  # open loop: when the client last paused…
        idle_min: int,  # …and the gap / interval that make it want to pause again
        idle_every: int,
        spin: int,  # sleep until this close to a start, then spin
    ) -> int:
        n = rows.shape[0]
        n_s = names.shape[0]
        n_e = ent_base.shape[0]
        tsa = ts.ctypes.data
        pva = pv.ctypes.data
        status[1] = 0
        status[2] = 0
        open_loop = sched.shape[0] > 0
        for i in range(n):
            k = k0 + i
            if open_loop:
                # The first request's wait was the caller's. Later ones: hand back (the
                # caller pauses, or sleeps) where a pause is due or the start is past the
                # deadline; else sleep, then spin, until the intended start.
                target = sched[i]
                clock_gettime(_CLOCK_MONOTONIC, tsa)
                now = ts[0] * 1_000_000_000 + ts[1]
                if i > 0 and (
                    target > deadline or (target - now > idle_min and now - last_pause > idle_every)
                ):
                    status[0] = i
                    return i
                wait = target - now - spin
                if wait > 0:
                    ts[0] = wait // 1_000_000_000
                    ts[1] = wait % 1_000_000_000
                    nanosleep(tsa, 0)
                while now < target:
                    clock_gettime(_CLOCK_MONOTONIC, tsa)
                    now = ts[0] * 1_000_000_000 + ts[1]
                sched_a[k] = target
            for s in range(n_s):
                for q in range(slot_lo[s], slot_hi[s]):
                    e = slot_ent[q]
                    pv[slot_pv[q]] = key_ptr[ent_base[e] + rows[i, e]]
            if write_ent:
                for e in range(n_e):
                    ent_a[k * n_e + e] = -1
            found = 0
            hit = 0
            nl = 0
            failed = 0
            clock_gettime(_CLOCK_MONOTONIC, tsa)
            t0 = ts[0] * 1_000_000_000 + ts[1]
            g = -1
            g0 = t0
            for s in range(n_s):
                if group[s] != g:
                    if g >= 0:
                        clock_gettime(_CLOCK_MONOTONIC, tsa)
                        t = ts[0] * 1_000_000_000 + ts[1]
                        ent_a[k * n_e + g] = t - g0
                        g0 = t
                    g = group[s]
                res = exec_prepared(conn, names[s], n_params[s], pva + 8 * pv_off[s], 0, 0, 0)
                if res == 0 or result_status(res) != _TUPLES_OK:
                    failed = 1
                    status[2] = res  # read and cleared by the caller
                    if fail_looked:
                        nl += looked[s]
                    g = -1
                    break
                m = ntuples(res)
                clear(res)
                found += m
                if hit_rows[s]:
                    hit += m
                elif m > 0:
                    hit += 1
                nl += looked[s]
            clock_gettime(_CLOCK_MONOTONIC, tsa)
            t1 = ts[0] * 1_000_000_000 + ts[1]
            if g >= 0:
                ent_a[k * n_e + g] = t1 - g0
            start[k] = t0
            end[k] = t1
            if failed and fail_looked:
                found = 0
                hit = 0
            found_a[k] = found
            kfound_a[k] = hit
            looked_a[k] = nl
            if failed:
                status[0] = i + 1
                status[1] = 1
                return i + 1
            if t1 > deadline:
                status[0] = i + 1
                return i + 1
        status[0] = n
        return n

    return run_block, lib


def unavailable() -> str | None:
    """Why the compiled timed path cannot run here (None: it can)."""
    got = _compiled()
    return got if isinstance(got, str) else None


@dataclass(frozen=True)
class Statement:
    """One prepared statement of a request, in send order."""

    name: bytes
    keys: tuple[int, ...]  # the entity (index) of each leading parameter
    extra: tuple[bytes, ...] = ()  # fixed parameters after the keys ($2…)
    group: int = -1  # entity timed around this statement (serial), -1 for none
    looked: int = 1  # lookups the statement stands for
    hit_rows: bool = False  # every row is one lookup that found its key


class EncodedKeys:
    """Every key of a client's key columns as NUL-terminated parameter text, with pointers."""

    def __init__(self, key_columns: Sequence[Sequence[Key]]) -> None:
        bufs: list[np.ndarray] = []
        ptrs: list[np.ndarray] = []
        base: list[int] = []
        n = 0
        for col in key_columns:
            enc = [key_param(k) for k in col]
            if any(b"\0" in b for b in enc):
                raise ValueError("a key holds a NUL byte")
            lens = np.fromiter((len(b) + 1 for b in enc), dtype=np.int64, count=len(enc))
            buf = np.frombuffer(b"\0".join(enc) + b"\0", dtype=np.uint8).copy()
            offs = np.zeros(len(enc), dtype=np.uint64)
            if len(enc) > 1:
                offs[1:] = np.cumsum(lens[:-1]).astype(np.uint64)
            bufs.append(buf)
            ptrs.append(np.uint64(buf.ctypes.data) + offs)
            base.append(n)
            n += len(enc)
        self._bufs = bufs  # the pointers point into these: they live as long as this object
        self.ptr = np.concatenate(ptrs) if ptrs else np.zeros(0, np.uint64)
        self.base = np.asarray(base, dtype=np.int64)


@dataclass
class BlockOut:
    """The client's recording arrays (numpy views) the compiled loop writes into."""

    start: np.ndarray
    end: np.ndarray
    found: np.ndarray
    keys_found: np.ndarray
    looked: np.ndarray
    entity_ns: np.ndarray  # flat (slots, E)


class NativePlan:
    """A session's request as statements, runnable by the compiled loop on its connection.

    `conn_ptr` returns the current libpq connection (it changes when the session
    reconnects). Built by the session, bound to a client's keys with `bind`.
    """

    def __init__(
        self,
        conn_ptr: Callable[[], int],
        statements: Sequence[Statement],
        n_entities: int,
        *,
        fail_counts_lookups: bool,
    ) -> None:
        got = _compiled()
        if isinstance(got, str):
            raise RuntimeError(got)
        self._fn, self._lib = got
        self.conn_ptr = conn_ptr
        self.n_entities = n_entities
        self.timed_entities = any(s.group >= 0 for s in statements)
        self._fail_looked = int(fail_counts_lookups)
        keep: list[bytes] = []  # C strings the pointers below point into

        def cstr(b: bytes) -> int:
            s = ctypes.create_string_buffer(b)
            keep.append(s)  # type: ignore[arg-type]
            return ctypes.addressof(s)

        names, n_params, pv_off, lo, hi, slot_pv, slot_ent = [], [], [], [], [], [], []
        pv: list[int] = []
        for st in statements:
            names.append(cstr(st.name))
            n_params.append(len(st.keys) + len(st.extra))
            pv_off.append(len(pv))
            lo.append(len(slot_pv))
            for j, e in enumerate(st.keys):
                slot_pv.append(len(pv) + j)
                slot_ent.append(e)
            hi.append(len(slot_pv))
            pv.extend([0] * len(st.keys))
            pv.extend(cstr(x) for x in st.extra)

        def i64(v: Sequence[int]) -> np.ndarray:
            return np.asarray(v, dtype=np.int64)

        self._keep = keep
        self._arrays = (
            np.asarray(names, dtype=np.uint64),
            i64(n_params),
            i64(pv_off),
            i64(lo),
            i64(hi),
            i64(slot_pv),
            i64(slot_ent),
            i64([s.group for s in statements]),
            i64([s.looked for s in statements]),
            i64([int(s.hit_rows) for s in statements]),
        )
        self._pv = np.asarray(pv, dtype=np.uint64)
        self._ts = np.zeros(2, dtype=np.int64)
        self._status = np.zeros(3, dtype=np.int64)
        none = np.zeros(0, dtype=np.int64)
        self._closed = (none, none, 0, 0, 0, 0)

    def encode_keys(self, key_columns: Sequence[Sequence[Key]]) -> EncodedKeys:
        return EncodedKeys(key_columns)

    def out(self, *arrays: np.ndarray) -> BlockOut:
        return BlockOut(*arrays)

    def compile(self, out: BlockOut, keys: EncodedKeys) -> None:
        """Compile for these argument types now (a fraction of a second), before timing."""
        self.run(np.zeros((0, self.n_entities), dtype=np.int64), 0, 0, out, keys, False)

    def run(
        self,
        rows: np.ndarray,
        k0: int,
        deadline_ns: int,
        out: BlockOut,
        keys: EncodedKeys,
        write_ent: bool,
        opened: tuple[Any, ...] | None = None,
    ) -> tuple[int, str | None]:
        """Run the requests of `rows` (key indices, (n, E) int64), recording at k0, k0 + 1…;
        stops after a failed request or one that ends past `deadline_ns`. An open loop
        passes `opened` = (intended starts, one per row; the recorder's array for them;
        the client's last pause; the idle gap and interval of its pause rule; the spin
        margin, all ns): then it also stops before a request that starts past the
        deadline or before which the client should pause. Returns how many ran and the error of the last one (None if it
        succeeded)."""
        conn = self.conn_ptr() if rows.shape[0] else 0
        st = self._status
        self._fn(
            conn, rows, k0, deadline_ns, *self._arrays, self._fail_looked, self._pv, keys.ptr,
            keys.base, self._ts, out.start, out.end, out.found, out.keys_found, out.looked,
            out.entity_ns, int(write_ent), st, *(opened or self._closed),
        )  # fmt: skip
        done, failed, res = int(st[0]), int(st[1]), int(st[2])
        if not failed:
            return done, None
        lib = self._lib
        if res:
            msg = lib.result_error(res) or b""
            lib.clear(res)
        else:
            msg = b""
        if not msg:
            msg = lib.conn_error(conn) or b""
        text = msg.decode("utf-8", "replace").strip() or "request failed"
        return done, " ".join(text.split())


def plan_or_none(build: Callable[[], NativePlan]) -> NativePlan | None:
    """`build()`, or None where the compiled path cannot run (see `unavailable`)."""
    if unavailable() is not None:
        return None
    return build()


def describe(plan: Any) -> str:
    """What the manifest's `timed_path` says for a session's plan (None: the Python path)."""
    if plan is not None:
        return "compiled (numba, libpq)"
    why = unavailable()
    return f"python ({why})" if why else "python"
