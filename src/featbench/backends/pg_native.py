"""The compiled timed path for PostgreSQL: libpq called from C, not Python.

A request through psycopg's `exec_prepared` already waits in C, but everything around
the wait — the parameter list, the result object, the clock reads, the recording —
is Python, 5-8 µs of CPU per request on this project's 2-core machine, and every
microsecond of it is stretched when another process shares the core (README, "The
timed path"). Here a block of requests runs in one call of a small C loop
(`_timedloop.c`, built with featbench when a C compiler is present, loaded with
ctypes, which releases the GIL for the call): it points each statement's parameters
at pre-encoded keys, calls libpq's `PQexecPrepared` on the connection psycopg opened
(`PGconn.pgconn_ptr`, the same libpq), reads `PQntuples`, clears the result and reads
`clock_gettime(CLOCK_MONOTONIC)` — the clock of `time.perf_counter_ns` — straight into
the client's recording arrays. What it measures is what a C client such as pgbench
measures.

Used when the loop was built, the loaded libpq can be found, and `FEATBENCH_TIMED_PATH`
is not `python`; otherwise the client runs the same requests through `Session.execute`
(each level's `load` entry in the manifest says which: `timed_path`). A failed request
ends a block: its error text is read here, outside the loop, and the client recovers
the session as on the Python path.
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

from featbench import clib
from featbench.backends.base import Key
from featbench.backends.pg_lookup import key_param

ENV = "FEATBENCH_TIMED_PATH"  # "python" forces the Python path (benchmarks compare both)


_P = ctypes.c_void_p
_I = ctypes.c_int64


class _Args(ctypes.Structure):
    """`fb_block` of _timedloop.c, field for field (pointers as addresses)."""

    _fields_ = [
        ("exec_prepared", _P), ("result_status", _P), ("ntuples", _P), ("clear", _P),
        ("conn", _P),
        ("rows", _P), ("n", _I), ("k0", _I), ("deadline", _I),
        ("n_s", _I), ("n_e", _I), ("names", _P), ("n_params", _P), ("pv_off", _P),
        ("slot_lo", _P), ("slot_hi", _P), ("slot_pv", _P), ("slot_ent", _P), ("group", _P),
        ("looked", _P), ("hit_rows", _P), ("fail_looked", _I), ("pv", _P), ("key_ptr", _P),
        ("ent_base", _P),
        ("start", _P), ("end", _P), ("found", _P), ("keys_found", _P), ("looked_out", _P),
        ("entity_ns", _P), ("write_ent", _I),
        ("sched", _P), ("sched_out", _P), ("last_pause", _I), ("idle_min", _I),
        ("idle_every", _I), ("spin", _I),
        ("done", _I), ("failed", _I), ("failed_result", _P),
    ]  # fmt: skip


class _Lib:
    """The compiled loop and the libpq functions it calls (addresses) or reads errors with."""

    def __init__(self, loop: ctypes.CDLL, libpq_path: str) -> None:
        self.run_block = loop.fb_run_block
        self.run_block.argtypes = [ctypes.POINTER(_Args)]
        self.run_block.restype = _I
        pq = ctypes.CDLL(libpq_path)
        self.fns = {
            name: ctypes.cast(getattr(pq, sym), _P).value
            for name, sym in (("exec_prepared", "PQexecPrepared"),
                              ("result_status", "PQresultStatus"), ("ntuples", "PQntuples"),
                              ("clear", "PQclear"))
        }  # fmt: skip
        self.clear = pq.PQclear
        self.clear.argtypes = [_P]
        self.clear.restype = None
        self.result_error = pq.PQresultErrorMessage
        self.result_error.argtypes = [_P]
        self.result_error.restype = ctypes.c_char_p
        self.conn_error = pq.PQerrorMessage
        self.conn_error.argtypes = [_P]
        self.conn_error.restype = ctypes.c_char_p


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


def _loop_library() -> ctypes.CDLL | None:
    """The built _timedloop library, loaded (None: it was not built)."""
    return clib.load("featbench.backends._timedloop")


@cache
def _compiled() -> _Lib | str:
    """The compiled loop and the library it calls, or why there is none."""
    if os.environ.get(ENV, "").lower() == "python":
        return f"{ENV}=python"
    if not sys.platform.startswith("linux"):
        return "the compiled timed path is built for Linux"
    if time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return "perf_counter is not CLOCK_MONOTONIC here"
    loop = _loop_library()
    if loop is None:
        return "the compiled loop was not built (no C compiler when featbench was installed)"
    from psycopg import pq

    if pq.__impl__ == "python":
        return "psycopg runs its pure-Python libpq wrapper"
    path = _loaded_libpq()
    if path is None:
        return "the loaded libpq was not found"
    try:
        return _Lib(loop, path)
    except (OSError, AttributeError) as e:
        return f"the compiled loop could not be loaded ({e})"


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
        self.sizes = np.asarray([len(c) for c in key_columns], dtype=np.int64)


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
    reconnects). Built by the session; `prepare` points it at a client's arrays and keys.
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
        self._lib = got
        self.conn_ptr = conn_ptr
        self.n_entities = n_entities
        self.timed_entities = any(s.group >= 0 for s in statements)
        keep: list[Any] = []  # C strings and arrays the pointers below point into

        def cstr(b: bytes) -> int:
            s = ctypes.create_string_buffer(b)
            keep.append(s)
            return ctypes.addressof(s)

        def arr(v: Sequence[int], dtype: Any = np.int64) -> int:
            a = np.ascontiguousarray(v, dtype=dtype)
            keep.append(a)
            return int(a.ctypes.data)

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
        a = _Args(**got.fns)
        a.n_s, a.n_e = len(statements), n_entities
        a.names, a.n_params, a.pv_off = arr(names, np.uint64), arr(n_params), arr(pv_off)
        a.slot_lo, a.slot_hi, a.slot_pv, a.slot_ent = arr(lo), arr(hi), arr(slot_pv), arr(slot_ent)
        a.group = arr([s.group for s in statements])
        a.looked = arr([s.looked for s in statements])
        a.hit_rows = arr([int(s.hit_rows) for s in statements])
        a.fail_looked = int(fail_counts_lookups)
        a.pv = arr(pv + [0], np.uint64)  # one spare slot: never a zero-length array
        self._keep = keep
        self._args = a
        self._bound: tuple[Any, Any] | None = None  # the out/keys whose pointers are set

    def encode_keys(self, key_columns: Sequence[Sequence[Key]]) -> EncodedKeys:
        return EncodedKeys(key_columns)

    def out(self, *arrays: np.ndarray) -> BlockOut:
        return BlockOut(*arrays)

    def prepare(self, out: BlockOut, keys: EncodedKeys) -> None:
        """Point the loop at the client's arrays and keys now, before anything is timed."""
        cols = (out.start, out.end, out.found, out.keys_found, out.looked, out.entity_ns)
        slots = out.start.shape[0]
        for c in (*cols, keys.ptr, keys.base):
            if c.dtype.itemsize != 8 or not c.flags.c_contiguous:
                raise ValueError("the compiled loop takes contiguous 8-byte arrays")
        if (
            any(c.shape[0] < slots for c in cols)
            or out.entity_ns.shape[0] < slots * self.n_entities
        ):
            raise ValueError("the recording arrays are shorter than the slots")
        if keys.base.shape[0] != self.n_entities:
            raise ValueError("the keys are not encoded for this plan's entities")
        a = self._args
        for name in ("start", "end", "found", "keys_found", "entity_ns"):
            setattr(a, name, int(getattr(out, name).ctypes.data))
        a.looked_out = int(out.looked.ctypes.data)
        a.key_ptr, a.ent_base = int(keys.ptr.ctypes.data), int(keys.base.ctypes.data)
        self._bound = (out, keys)

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
        """Run the requests of `rows` (key indices, (n, E) int64, C order), recording at
        k0, k0 + 1…; stops after a failed request or one that ends past `deadline_ns`.
        An open loop passes `opened` = (intended starts, one per row; the recorder's
        array for them; the client's last pause; the idle gap and interval of its pause
        rule; the spin margin — all ns): then it also stops before a request that starts
        past the deadline or before which the client should pause. Returns how many ran
        and the error of the last one (None if it succeeded)."""
        if self._bound is None or self._bound[0] is not out or self._bound[1] is not keys:
            self.prepare(out, keys)
        a = self._args
        n = int(rows.shape[0])
        if n == 0:
            return 0, None
        if k0 < 0 or k0 + n > out.start.shape[0] or rows.shape[1] != self.n_entities:
            # C writes where it is told: refuse what would write past the client's arrays
            raise ValueError(f"block of {n} at slot {k0} does not fit {out.start.shape[0]} slots")
        rows = np.ascontiguousarray(rows, dtype=np.int64)  # what the C loop indexes
        if rows.min() < 0 or (rows.max(axis=0) >= keys.sizes).any():
            raise ValueError("a key index is outside the client's key columns")
        if opened is not None and opened[0].shape[0] < n:
            raise ValueError("an open loop block needs an intended start per request")
        conn = self.conn_ptr()
        a.conn = conn
        a.rows, a.n, a.k0, a.deadline = int(rows.ctypes.data), n, k0, deadline_ns
        a.write_ent = int(write_ent)
        if opened is None:
            a.sched = None
        else:
            sched, sched_out, a.last_pause, a.idle_min, a.idle_every, a.spin = opened
            sched = np.ascontiguousarray(sched, dtype=np.int64)
            if sched_out.dtype != np.int64 or k0 + n > sched_out.shape[0]:
                raise ValueError("the intended starts' recording array does not fit the block")
            a.sched, a.sched_out = int(sched.ctypes.data), int(sched_out.ctypes.data)
        lib = self._lib
        lib.run_block(ctypes.byref(a))
        done, res = int(a.done), a.failed_result
        if not a.failed:
            return done, None
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
