"""ui/heap.py: builds run without automatic collection and freeze what they built; a
full collection reclaims cycles freed after a freeze."""

from __future__ import annotations

import gc
import threading
import weakref

from lbtui.ui import heap


class Node:
    pass


def test_a_build_pauses_collection_and_freezes_what_it_built():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with heap.quiet_build():
        assert not gc.isenabled()
        built = [Node() for _ in range(100)]
    assert gc.isenabled() and gc.get_freeze_count() >= frozen + 100
    ref = weakref.ref(built[0])
    del built
    assert ref() is None  # frozen, and still freed by reference counting
    heap.collect_all()


def test_overlapping_builds_keep_collection_paused_until_the_last_ends():
    first_in, second_done = threading.Event(), threading.Event()

    def other():
        with heap.quiet_build():
            first_in.set()
            second_done.wait(5)

    t = threading.Thread(target=other)
    t.start()
    first_in.wait(5)
    with heap.quiet_build():
        pass
    assert not gc.isenabled()  # the other build still runs
    second_done.set()
    t.join(5)
    assert gc.isenabled()
    heap.collect_all()


def test_a_cycle_freed_after_a_freeze_is_reclaimed_by_the_full_collection():
    with heap.quiet_build():
        a, b = Node(), Node()
        a.other, b.other = b, a
    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is not None  # frozen: an ordinary collection does not see it
    heap.collect_all()
    assert ref() is None
