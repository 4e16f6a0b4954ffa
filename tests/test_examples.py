import pytest

from lbtui import catalog, examples
from lbtui.errors import TaskError


def test_sets_follow_the_definitions():
    task = catalog.load("reviews")
    s = examples.build(task, shots=8, seed=3, limit=50)
    assert len(s.demos) == 8 and len(s.bias) == 32 and len(s.test) == 50
    assert not {e.id for e in s.demos} & {e.id for e in s.bias}
    pool_ids = {e.id for e in task.pool}
    assert {e.id for e in s.demos} | {e.id for e in s.bias} <= pool_ids
    assert not {e.id for e in s.test} & pool_ids
    assert s.cc == ("N/A", "", "[MASK]") and len(s.dc) == 20


def test_seeds_change_demonstrations_not_the_test_set():
    task = catalog.load("reviews")
    a, b = examples.build(task, shots=4, seed=0), examples.build(task, shots=4, seed=1)
    assert [e.id for e in a.demos] != [e.id for e in b.demos]
    assert [e.id for e in a.test] == [e.id for e in b.test]
    assert examples.build(task, shots=4, seed=0) == a
    assert examples.build(task, shots=0, seed=0).demos == ()


def test_pool_too_small():
    task = catalog.load("reviews")
    with pytest.raises(TaskError, match="at least 97"):
        examples.build(task, shots=65, seed=0)
