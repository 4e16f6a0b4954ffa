"""Read-side work spread over worker processes: ``map_chunks`` calls ``fn(results, chunk)``
for each chunk in a pool of processes, each with its own connection to the store (opened
as the caller's is) and a fresh ``Results`` a chunk, and returns the answers in order.

Why processes: a report's bootstrap is many small array steps that hold the GIL (threads
gained 3%), so only processes use a second core. Spawned, never forked: a forked child
would inherit the caller's SQLite connection and BLAS threads. Each worker holds BLAS to
one thread (two processes of two BLAS threads on two cores are slower than one process)
and ignores ctrl+c (the caller stops the pool). Workers adopt the calibration methods the
caller registered after the bundled ones, so they compute what the caller would."""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import pickle
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from ..store import Store
    from .service import Results

# This module imports only the standard library on import: a worker imports it first
# (its initializer), and adopts its caller's methods before lbtui reads the method list.

MIN_RUNS = 256  # below this, starting workers (about half a second each) costs more than it saves


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_jobs(runs: int) -> int:
    """Worker processes for a report over ``runs`` runs when none are asked for: every CPU
    for a large report, none (this process) for a small one."""
    return cpus() if runs >= MIN_RUNS else 1


def map_chunks(store: Store, fn: Callable[[Results, Any], Any], chunks: Iterable, *, jobs: int) -> list:
    """``[fn(Results(store'), chunk) for chunk in chunks]`` over ``jobs`` worker processes
    (``fn`` a module-level function or a partial of one). An error raised by ``fn`` is
    raised here, as it was raised there."""
    from ..analysis import calibrations

    chunks = list(chunks)
    if not chunks:
        return []
    try:  # bytes, so that a worker unpickles them only once it ignores ctrl+c (below)
        extra = pickle.dumps(calibrations.added())
    except Exception as e:  # a method registered at run time must be importable by name
        raise RuntimeError(f"the calibration methods registered at run time cannot go to a worker process: {e}") from e
    call = functools.partial(_call, str(store.path), store.readonly, fn)
    pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(chunks)), _start, (extra,))
    with pool:  # a chunk a hand-out: the caller sizes its chunks
        return list(pool.imap(call, chunks))


def _start(extra: bytes) -> None:
    """A worker's first step: ctrl+c ignored (the terminal sends it to the whole group;
    the caller stops the pool), then its caller's added methods registered, before
    anything reads the method list; freed memory kept for reuse; BLAS held to one thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()
    from threadpoolctl import threadpool_limits

    from ..analysis import calibrations

    calibrations.adopt(pickle.loads(extra))
    threadpool_limits(1)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def keep_freed_memory() -> None:
    """Let glibc's malloc keep the memory of freed arrays for the next ones. By default it
    gives back a heap top of freed draws' arrays (tens of MB a batch) to the system and
    faults fresh zeroed pages in for the next batch (a report over 2,511 runs: 535,000 page
    faults and 2 to 3 s of system time on a 2-core EPYC; 110,000 and 0.7 s with this).
    Arrays of up to 32 MB come from the heap, trimmed only past 256 MB free. Not glibc:
    nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt
        return
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 256 << 20)


_store: "Store | None" = None  # the worker's connection, opened by its first chunk


def _call(path: str, readonly: bool, fn: Callable, chunk: Any) -> Any:
    from ..store import Store
    from .service import Results

    global _store
    if _store is None:
        _store = Store(path, create=False, readonly=readonly)
    return fn(Results(_store), chunk)
