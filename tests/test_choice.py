"""Baselines and the recommendation rule (issue 27), on hand-worked numbers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sklearn.metrics import f1_score

from lbtui.analysis import baselines, choice
from lbtui.report.means import mean_of


def test_chance_and_majority_by_hand():
    gold = np.array([0, 0, 0, 1])  # shares 3/4 and 1/4, K = 3 (label 2 absent)
    c = baselines.chance(gold, 3)
    # F1_c = 2 pi / (K pi + 1): 2(.75)/(3.25) = 0.461538..., 2(.25)/(1.75) = 0.285714...
    assert c["accuracy"] == pytest.approx(1 / 3)
    assert c["macro_f1"] == pytest.approx((1.5 / 3.25 + 0.5 / 1.75) / 2)
    m = baselines.majority(gold, 3)
    assert m == {"accuracy": 0.75, "macro_f1": pytest.approx((1.5 / 1.75) / 2)}
    assert baselines.better({"chance": c, "majority": m}) == pytest.approx(1.5 / 3.5)


def test_majority_equals_scikit_learn_on_the_majority_predictions():
    rng = np.random.default_rng(0)
    for k in (2, 3, 5):
        gold = rng.integers(0, k, 37)
        top = np.bincount(gold, minlength=k).argmax()
        want = f1_score(gold, np.full_like(gold, top), labels=np.unique(gold), average="macro", zero_division=0)
        assert baselines.majority(gold, k)["macro_f1"] == pytest.approx(want)


def test_chance_macro_f1_is_the_expected_counts_of_a_uniform_guesser():
    gold = np.array([0, 1, 1, 2, 2, 2])
    k = 3
    n = len(gold)
    pi = np.bincount(gold) / n
    tp, fp, fn = n * pi / k, n * (1 - pi) / k, n * pi * (1 - 1 / k)
    assert baselines.chance(gold, k)["macro_f1"] == pytest.approx(np.mean(2 * tp / (2 * tp + fp + fn)))


F1 = {"none": 0.30, "cc": 0.50, "dc": 0.55, "bc": 0.52}


def test_the_rule_takes_the_best_macro_f1_among_methods_not_more_biased_than_none():
    got = choice.choose(F1, {"none": 0.20, "cc": 0.10, "dc": 0.05, "bc": 0.02})
    assert (got.method, got.runner_up, got.disagree) == ("dc", "bc", False)


def test_when_the_best_macro_f1_is_more_biased_the_goals_disagree():
    got = choice.choose(F1, {"none": 0.20, "cc": 0.10, "dc": 0.25, "bc": 0.02})
    assert (got.method, got.runner_up, got.best_f1, got.disagree) == ("bc", "cc", "dc", True)
    assert choice.reading(got, (0.1, 0.2), 0.5, 0.3) == "goals disagree"


def test_none_stays_eligible_and_ties_go_to_the_earlier_method():
    got = choice.choose({"none": 0.5, "cc": 0.5}, {"none": 0.1, "cc": 0.3})
    assert (got.method, got.runner_up, got.disagree) == ("none", None, False)


@pytest.mark.parametrize(
    "interval,lo,want",
    [
        ((0.01, 0.2), 0.5, "better"),
        ((-0.1, 0.2), 0.5, "tied"),
        (None, 0.5, "tied"),
        ((0.01, 0.2), 0.3, "at chance"),
        ((-0.3, -0.01), 0.5, "runner-up better"),
    ],
)
def test_readings(interval, lo, want):
    c = choice.Choice("dc", "bc", "dc", False)
    assert choice.reading(c, interval, lo, 0.3) == want


def test_the_two_level_bootstrap_resamples_runs_then_their_own_resamples():
    from lbtui.analysis import bootstrap as bs

    a, b = np.array([1.0, 1.0, 1.0, 1.0]), np.array([3.0, 3.0, 3.0, 3.0])  # two seeds, four resamples each
    got = bs.two_level([a, b], seed=0, stream=5)
    pick = np.random.default_rng([0, 5, 2, 2]).integers(0, 2, size=(4, 2))  # the runs each resample draws
    want = np.where(pick == 0, 1.0, 3.0).mean(axis=1)
    assert np.array_equal(got, want) and set(got) <= {1.0, 2.0, 3.0}
    # with varied runs the interval is wider than the example-only one (a mean of fixed runs is always 2)
    assert np.array_equal(bs.two_level([a], seed=0, stream=5), a)
    many = bs.two_level([np.full(1000, 1.0), np.full(1000, 3.0)], seed=0, stream=1)
    assert many.min() == 1.0 and many.max() == 3.0 and 0.4 < (many == 2.0).mean() < 0.6


def test_rsd_is_undefined_where_fewer_answers_are_right_than_labels():
    from lbtui.analysis import bootstrap as bs

    gold = np.array([[0, 0, 1, 2], [0, 1, 1, 2], [2, 2, 2, 2]])
    pred = np.array([[2, 2, 2, 2], [0, 1, 2, 2], [2, 2, 2, 2]])  # right: 1 for 3 labels, 3 for 3, 4 for 1
    q = np.full((3, 2, 3), 1 / 3)
    got = bs.metrics_batch(gold, pred, q, np.zeros((3, 2), dtype=int), 3)
    assert list(got[bs.UNDEFINED]) == [1.0, 0.0, 0.0]


def test_per_class_numbers_equal_scikit_learns():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from lbtui.analysis.metrics import per_class

    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 4, 50), rng.integers(0, 3, 50)  # label 3 never predicted
    got = per_class(confusion_matrix(y, p, labels=range(4)))
    want = precision_recall_fscore_support(y, p, labels=range(4), zero_division=0)
    for key, w in zip(("precision", "recall", "f1", "support"), want):
        assert np.allclose(got[key], w)


def test_a_groups_tied_methods_resolve_in_registry_order_whatever_the_hash_seed():
    """The rule's ties go to the earlier method; a group's per-method means once came out
    of a set, so which tied method was recommended changed with PYTHONHASHSEED."""
    import subprocess
    import sys

    code = (
        "from lbtui.report.means import mean_of; from lbtui.analysis.calibrations import METHODS;"
        "import json; items = [{m: {'macro_f1': 0.5, 'bias_score': 0.1} for m in METHODS}] * 2;"
        "print(json.dumps([list(mean_of(items, ('macro_f1', 'bias_score'))), list(METHODS)]))"
    )
    orders = set()
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        got, registry = json.loads(out.stdout)
        assert got == registry, seed
        orders.add(tuple(got))
    assert len(orders) == 1
    from lbtui.analysis.calibrations import METHODS

    means = mean_of([{m: {"macro_f1": 0.5, "bias_score": 0.1} for m in METHODS}], ("macro_f1", "bias_score"))
    pick = choice.choose({m: v["macro_f1"] for m, v in means.items()}, {m: v["bias_score"] for m, v in means.items()})
    assert pick.method == METHODS[0]
