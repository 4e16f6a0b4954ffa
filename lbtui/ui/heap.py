"""The garbage collector and the app's big snapshots.

A snapshot of thousands of runs is a large graph of live objects. Built with automatic
collection on, it is walked by every collection that runs meanwhile, and once it reaches
the oldest generation by every full collection after: on the app bench's 2,511 runs,
full collections of 100-300 ms, each a stall of the UI thread (the GIL). So a build runs
with automatic collection paused, and what exists when it ends is frozen (moved out of
every later walk). Reference counting still frees a snapshot, or a temporary, when
nothing refers to it; only reference cycles freed after the freeze wait for the next
full collection (``collect_all``: the app makes one each time the shown runs grow by
FREEZE_STEP, a moment that redraws the tables anyway)."""

from __future__ import annotations

import contextlib
import gc
import threading

_lock = threading.Lock()
_builds = 0  # builds running now (workers may overlap)


@contextlib.contextmanager
def quiet_build():
    """No automatic collection while the body builds; what it built frozen after."""
    global _builds
    with _lock:
        _builds += 1
        if _builds == 1:
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            _builds -= 1
            if _builds == 0:
                gc.freeze()
                gc.enable()


def collect_all() -> None:
    """A full collection of everything, frozen again after: cycles freed since the last
    one are reclaimed. A stall as long as the heap is big. While a build runs, what it
    has built is not frozen yet: only the young generations are collected then."""
    with _lock:
        if _builds:
            gc.collect(1)
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
