import pytest

from lbtui.tasks import catalog
from lbtui.auditing import examples
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


def test_one_bias_set_a_task_the_last_32_of_the_pool_disjoint_from_every_demonstration():
    """The reference's choice: BiasScore against shots compares the same examples."""
    task = catalog.load("reviews")
    runs = [
        examples.build(task, shots=k, seed=s, order=o)
        for k in (0, 4, 8)
        for s in (0, 1)
        for o in (0, 1)
        if not (k == 0 and o == 1)
    ]
    bias = {tuple(e.id for e in r.bias) for r in runs}
    assert bias == {tuple(e.id for e in task.pool[-32:])}
    for r in runs:
        assert not {e.id for e in r.demos} & set(next(iter(bias)))
    assert {e.id for e in examples.build(task, shots=64, seed=0).demos} == {e.id for e in task.pool[:-32]}


def test_domain_context_inputs_are_built_field_by_field():
    """Entailment's inputs fill "Premise: {premise} Hypothesis: {hypothesis}": each field
    from its own bag and mean length, and the field names never become words."""
    import math

    task = catalog.load("entailment")
    s = examples.build(task, shots=4, seed=0, limit=60)
    fields = [dict(e.fields) for e in s.test]
    bags = {f: {w for d in fields for w in d[f].lower().split()} for f in ("premise", "hypothesis")}
    lengths = {f: math.ceil(sum(len(d[f].split()) for d in fields) / len(fields)) for f in bags}
    assert len(s.dc) == 20
    for text in s.dc:
        head, hyp = text.split(" Hypothesis: ")
        assert head.startswith("Premise: ")
        prem = head[len("Premise: ") :].split()
        assert len(prem) == lengths["premise"] and set(prem) <= bags["premise"]
        assert len(hyp.split()) == lengths["hypothesis"] and set(hyp.split()) <= bags["hypothesis"]
        assert "premise:" not in text.lower()[9:] and "hypothesis:" not in hyp.lower()
    assert s.dc == examples.build(task, shots=4, seed=0, limit=60).dc
