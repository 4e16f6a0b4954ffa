"""The means over tasks (report/means.py): summed a chunk at a time where the task groups
were made, added in chunk order; and what a chunk sends back instead of its groups'
resamples (report/summary.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from lbtui.analysis.calibrations import METHODS
from lbtui.report import means, summary
from lbtui.results import Results
from lbtui.store import Store
from lbtui.ui.bench import write_store

B = 200


def _samples(rng, n: int, methods=("none", "cc", "bc")) -> list[dict]:
    return [{m: {key: rng.random(B) for key in means.SAMPLE_KEYS} for m in methods} for _ in range(n)]


def test_one_chunks_mean_is_numpys_mean_bit_for_bit():
    items = _samples(np.random.default_rng(0), 7)
    got = means.mean_of_sums([means.chunk_sums(items)])
    want = means.mean_of(items)
    assert list(got) == list(want)
    for m in want:
        for key in means.SAMPLE_KEYS:
            assert np.array_equal(got[m][key], want[m][key]), (m, key)


def test_chunks_sums_are_added_in_chunk_order_and_divided_by_the_task_count():
    items = _samples(np.random.default_rng(1), 9)
    chunks = [items[:4], items[4:5], items[5:]]
    got = means.mean_of_sums([means.chunk_sums(c) for c in chunks])
    for m in ("none", "cc", "bc"):
        for key in means.SAMPLE_KEYS:
            sums = [np.sum([it[m][key] for it in c], axis=0) for c in chunks]
            assert np.array_equal(got[m][key], ((sums[0] + sums[1]) + sums[2]) / 9)
            # not numpy's one pass over all nine, but within rounding of it
            np.testing.assert_allclose(got[m][key], np.mean([it[m][key] for it in items], axis=0), rtol=1e-14)


def test_a_method_some_task_lacks_is_left_out_of_the_mean_in_any_chunk():
    rng = np.random.default_rng(2)
    items = _samples(rng, 3) + _samples(rng, 1, methods=("none", "bc"))
    for chunks in ([items], [items[:2], items[2:]], [items[:3], items[3:]]):
        assert list(means.mean_of_sums([means.chunk_sums(c) for c in chunks])) == ["none", "bc"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    db = tmp_path_factory.mktemp("means") / "means.db"
    write_store(db, 27, seed=3)  # three tasks, k = 0, 4, 8, three seeds each
    return Store(db, readonly=True)


def test_a_chunk_sends_one_sum_a_mean_not_its_groups_resamples(store):
    runs = store.runs(status="done")
    chunk = [item for c in summary._chunks(summary._groups(runs)) for item in c]  # three tasks in one chunk
    part = summary._task_groups(Results(store), chunk, resamples=1000, seed=0, methods=tuple(METHODS), against="none")
    points, sums = part[0], part[-1]
    assert len(points) == 9 and set(sums) == {summary._mean_key(key) for key in points}  # 3 tasks x 3 shots
    assert all(s.groups == 3 for s in sums.values())
    a_group = len(METHODS) * len(means.SAMPLE_KEYS) * 1000 * 8  # a group's resamples, in bytes
    assert len(pickle.dumps(part)) < 9 * a_group / 2  # three sums go back, not nine groups' resamples


def test_a_report_is_chunked_by_whole_tasks_whatever_the_workers(store):
    runs = store.runs(status="done")
    chunks = summary._chunks(summary._groups(runs))
    assert [sorted({key[1] for key, _ in c}) for c in chunks] == [[t] for t in sorted({r["task_name"] for r in runs})]
    many = {("m", f"t{i}", 0, "first"): [] for i in range(279)}
    sized = summary._chunks(many)
    assert len(sized) == 56 and max(len(c) for c in sized) == 5  # 279 tasks: about 64 chunks
    few = summary._chunks({("m", f"t{i}", 0, "first"): [] for i in range(5000)})
    assert max(len(c) for c in few) == summary.TASKS_A_CHUNK
