"""Stability across demonstration seeds and orderings (issue 7, part 2)."""

import hashlib
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from lbtui.tasks import catalog
from lbtui.auditing import examples
from lbtui.analysis import stability
from lbtui.cli import main
from lbtui.auditing.engine import plan, run_key
from lbtui.models import ModelSpec
from lbtui.errors import TaskError, UserError
from lbtui.store import Store


def test_orderings_are_distinct_start_with_the_drawn_order_and_do_not_depend_on_how_many():
    five = examples.orderings(8, 3, 5)
    assert five[0] == tuple(range(8))
    assert len(set(five)) == 5 and all(sorted(p) == list(range(8)) for p in five)
    assert examples.orderings(8, 3, 3) == five[:3]
    assert examples.orderings(8, 4, 3) != five[:3]  # each seed its own stream
    assert len(examples.orderings(3, 0, 10)) == 6  # all 3! of them, no more
    assert examples.orderings(1, 0, 4) == [(0,)]
    assert examples.orderings(0, 0, 4) == [()]


def test_an_ordering_reorders_the_same_demonstrations_and_keeps_every_other_set():
    task = catalog.load("reviews")
    base = examples.build(task, shots=6, seed=2, limit=10)
    other = examples.build(task, shots=6, seed=2, limit=10, order=2)
    assert [d.id for d in other.demos] != [d.id for d in base.demos]
    assert sorted(d.id for d in other.demos) == sorted(d.id for d in base.demos)
    perm = examples.orderings(6, 2, 3)[2]
    assert [d.id for d in other.demos] == [base.demos[i].id for i in perm]
    assert (other.bias, other.test, other.dc, other.cc) == (base.bias, base.test, base.dc, base.cc)
    with pytest.raises(TaskError, match="--orders: 2 demonstrations have only 2 orderings"):
        examples.build(task, shots=2, seed=0, order=2)


def test_plan_runs_each_ordering_that_exists_and_keeps_old_keys_for_the_drawn_order(tmp_path):
    task = catalog.load("reviews")
    spec = ModelSpec(name="m", path=tmp_path / "m.gguf")
    plans = plan([spec], [task], [0, 1, 2, 4], [0, 1], limit=5, orders=3)
    count = {}
    for p in plans:
        count[(p.shots, p.seed)] = count.get((p.shots, p.seed), 0) + 1
    assert count == {(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 1, (2, 0): 2, (2, 1): 2, (4, 0): 3, (4, 1): 3}
    keys = [run_key("sha", p) for p in plans]
    assert len(set(keys)) == len(keys)
    # Runs stored before orderings existed keep their identity (no "order" field in the key).
    p = next(p for p in plans if p.shots == 4 and p.seed == 0 and p.order == 0)
    from lbtui.auditing.engine import METHOD_VERSION

    old = json.dumps(
        {
            "model": "sha",
            "task": task.content_hash,
            "shots": 4,
            "seed": 0,
            "scoring": "full",
            "limit": 5,
            "n_bias": 32,
            "chat": False,
            "method": METHOD_VERSION,
        },
        sort_keys=True,
    )
    assert run_key("sha", p) == hashlib.sha256(old.encode()).hexdigest()
    with pytest.raises(UserError, match="--orders: must be >= 1, got 0"):
        plan([spec], [task], [4], [0], orders=0)


def test_pooled_std_and_stats_by_hand():
    # Groups [1, 3] and [10, 14]: squared deviations 1+1 and 4+4 over 1+1 degrees of freedom.
    assert stability.pooled_std([[1, 3], [10, 14]]) == pytest.approx(math.sqrt(5))
    assert math.isnan(stability.pooled_std([[1], [2]]))
    s = stability.stats([0.2, 0.4, 0.9, float("nan")])
    assert (s.n, s.min, s.max) == (3, 0.2, 0.9)
    assert s.mean == pytest.approx(0.5) and s.std == pytest.approx(math.sqrt(((0.3**2) + (0.1**2) + (0.4**2)) / 2))


def _m(f1, rsd=0.5, bias=0.1, acc=0.6):
    return SimpleNamespace(macro_f1=f1, rsd=rsd, bias_score=bias, accuracy=acc)


def _run(i, seed, order, shots=4, task="t"):
    return {
        "id": i,
        "model_name": "m",
        "task_name": task,
        "shots": shots,
        "scoring": "full",
        "seed": seed,
        "demo_order": order,
    }


def test_spread_rows_separate_seeds_from_orderings():
    entries = [
        (_run(1, 0, 0), {"none": _m(0.50)}),
        (_run(2, 0, 1), {"none": _m(0.60)}),
        (_run(3, 1, 0), {"none": _m(0.80)}),
        (_run(4, 1, 1), {"none": _m(0.70)}),
    ]
    rows = {r["across"]: r for r in stability.spread_rows(entries, ["none"])}
    assert set(rows) == {"seeds", "orders", "all"}
    seeds = rows["seeds"]["macro_f1"]  # drawn orders only: 0.5 and 0.8
    assert (seeds.n, seeds.min, seeds.max) == (2, 0.5, 0.8) and seeds.mean == pytest.approx(0.65)
    orders = rows["orders"]["macro_f1"]  # within seed 0: 0.5, 0.6; seed 1: 0.8, 0.7 -> pooled sd sqrt(0.01)
    assert orders.n == 4
    assert orders.std == pytest.approx(math.sqrt((0.005 + 0.005) / 2))
    assert (orders.min, orders.max) == (0.5, 0.8)
    assert rows["all"]["macro_f1"].n == 4
    assert rows["seeds"]["runs"] == [1, 3]
    # One run alone varies in nothing: no row.
    assert stability.spread_rows([(_run(1, 0, 0), {"none": _m(0.5)})], ["none"]) == []


def test_bands_take_each_seed_and_orderings_mean_over_tasks():
    entries = [
        (_run(1, 0, 0, task="a"), {"none": _m(0.2)}),
        (_run(2, 0, 0, task="b"), {"none": _m(0.4)}),
        (_run(3, 1, 0, task="a"), {"none": _m(0.6)}),
        (_run(4, 1, 0, task="b"), {"none": _m(0.8)}),
        (_run(5, 0, 0, shots=0, task="a"), {"none": _m(0.1)}),
    ]
    got = stability.bands(entries, ["none"], "macro_f1")["none"]
    assert got[0] == (0, 0.1, 0.1, 0.1)
    k, mean, lo, hi = got[1]
    assert k == 4 and mean == pytest.approx(0.5) and lo == pytest.approx(0.3) and hi == pytest.approx(0.7)


def test_run_with_orders_stores_reordered_runs_and_reports_their_spread(capsys, tmp_path, fake_model, fake_factory):
    db = tmp_path / "s.db"
    argv = [
        "run",
        "-m",
        str(fake_model),
        "-t",
        "reviews",
        "-k",
        "4",
        "--seeds",
        "2",
        "--orders",
        "3",
        "--limit",
        "20",
        "--db",
        str(db),
        "--json",
    ]
    assert main(argv, backend_factory=fake_factory) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted((r["seed"], r["order"]) for r in doc["runs"]) == [(s, o) for s in (0, 1) for o in (0, 1, 2)]
    store = Store(db)
    runs = store.runs()
    by_seed = {}
    for r in runs:
        by_seed.setdefault(r["seed"], []).append(r["demo_ids"])
    for demo_lists in by_seed.values():  # the same demonstrations, three different orders
        assert len({tuple(d) for d in demo_lists}) == 3 and len({tuple(sorted(d)) for d in demo_lists}) == 1
    rows = doc["stability"]
    across = {(r["across"], r["method"]): r for r in rows}
    assert across[("seeds", "none")]["macro_f1"]["n"] == 2
    assert across[("orders", "none")]["macro_f1"]["n"] == 6
    assert across[("all", "bc")]["seeds"] == 2
    f1 = [r["metrics"]["none"]["macro_f1"] for r in doc["runs"]]
    assert across[("all", "none")]["macro_f1"]["min"] == pytest.approx(min(f1))
    assert across[("all", "none")]["macro_f1"]["max"] == pytest.approx(max(f1))
    # The stability command gives the same rows from the store alone.
    assert main(["stability", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == rows
    assert main(["stability", "--db", str(db), "-t", "nothing-like-it"]) == 2
    assert "-t: no finished run of task nothing-like-it" in capsys.readouterr().err  # and what the store holds
    # The report counts seeds x orderings and gives their range.
    assert main(["report", "--db", str(db), "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    row = next(r for r in rep["rows"] if r["method"] == "none" and r["metric"] == "macro_f1")
    assert (row["seeds"], row["orders"]) == (2, 3)
    assert row["spread_min"] == pytest.approx(min(f1)) and row["spread_max"] == pytest.approx(max(f1))
    assert row["spread_min"] <= row["value"] <= row["spread_max"]


def test_stability_without_variation_is_a_one_line_error(capsys, tmp_path, fake_model, fake_factory):
    db = tmp_path / "one.db"
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "4", "--limit", "5", "--db", str(db), "--json"],
            backend_factory=fake_factory,
        )
        == 0
    )
    capsys.readouterr()
    assert main(["stability", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--seeds N and/or --orders N" in err


@pytest.mark.model
def test_reordering_changes_what_the_real_model_scores(capsys, tmp_path):
    """SmolLM2: the same two demonstrations in both orders give different test scores
    (the order matters to the model), and both runs keep every input scored."""
    db = tmp_path / "real.db"
    assert (
        main(
            [
                "run",
                "-m",
                "smollm2-135m-instruct",
                "-t",
                "reviews",
                "-k",
                "2",
                "--orders",
                "2",
                "--limit",
                "4",
                "--scoring",
                "first-token",
                "--db",
                str(db),
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert [r["order"] for r in doc["runs"]] == [0, 1]
    store = Store(db)
    a, b = (store.scored_set(r["run_id"], "test").scores for r in doc["runs"])
    assert a.size == b.size == 4 * 2  # 4 test inputs x 2 labels
    assert not (abs(a - b) < 1e-6).all()
    runs = store.runs()
    assert runs[0]["demo_ids"] == list(reversed(runs[1]["demo_ids"]))


def test_stats_of_each_row_are_those_of_the_row_alone():
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 3, 9):
        x = rng.random((40, n)) * rng.choice([1e-3, 1.0, 1e3], size=(40, 1))
        if n:
            x[5, 0] = np.nan  # an RSD undefined for one run
            x[7] = np.nan
            x[9, -1] = np.inf
        got, want = stability.stats_rows(x), [stability.stats(row) for row in x]
        assert [g.as_dict() for g in got] == [w.as_dict() for w in want]
