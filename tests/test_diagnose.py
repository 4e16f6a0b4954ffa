"""lbtui diagnose: priors side by side, majority and recency bias (hand-worked cases)."""

import json

import numpy as np
import pytest

from lbtui.analysis import diagnose
from lbtui.cli import main
from lbtui.analysis.results import RunScores


def run_scores(test_pred, test_gold, looc_gold, k=3):
    """Scores that predict ``test_pred`` with certainty; CC prefers label 0."""
    test = np.log(np.eye(k)[test_pred] * 0.9 + 0.1 / k)
    cc = np.log(np.array([[0.6, 0.3, 0.1]] * 3))
    return RunScores(k=k, test=test, test_gold=np.array(test_gold), bias=test[:4], bias_gold=np.array(test_gold[:4]),
                     cc=cc, dc=cc, looc=test[: len(looc_gold)], looc_gold=np.array(looc_gold))


def test_priors_against_uniform_and_gold():
    rs = run_scores([0, 0, 1, 2], [0, 1, 1, 2], [0, 0, 1])
    t = diagnose.prior_table(rs)
    assert np.allclose(t["gold"], [0.25, 0.5, 0.25])
    assert np.allclose(t["priors"]["cc"]["p"], [0.6, 0.3, 0.1])
    # TV([.6,.3,.1], uniform) = 0.5 * (|.6-1/3| + |.3-1/3| + |.1-1/3|) = 0.2667
    assert t["priors"]["cc"]["tv_uniform"] == pytest.approx(0.5 * (0.6 - 1 / 3 + 1 / 3 - 0.3 + 1 / 3 - 0.1))
    assert t["priors"]["cc"]["tv_gold"] == pytest.approx(0.5 * (0.35 + 0.2 + 0.15))
    assert set(t["priors"]) == {"cc", "dc", "looc", "bc"}


def test_majority_and_recency_by_hand():
    # Demonstrations 0, 0, 1: majority label 0, last label 1.
    # Predictions 0, 0, 0, 1, 2, 0 (none): majority rate 4/6; gold 0, 1, 0, 1, 2, 2 has 2/6 zeros.
    rs = run_scores([0, 0, 0, 1, 2, 0], [0, 1, 0, 1, 2, 2], [0, 0, 1])
    e = diagnose.demo_effects(rs, resamples=500)
    assert e["majority"] == [0] and e["last"] == [1]
    mj, rc = e["methods"]["none"]["majority"], e["methods"]["none"]["recency"]
    assert (mj.rate, mj.expected) == pytest.approx((4 / 6, 2 / 6)) and mj.excess == pytest.approx(2 / 6)
    assert (rc.rate, rc.expected) == pytest.approx((1 / 6, 2 / 6))
    assert mj.lo <= mj.excess <= mj.hi and rc.lo <= rc.excess <= rc.hi


def test_a_tie_counts_every_most_frequent_label():
    rs = run_scores([0, 1, 2, 2], [0, 1, 2, 2], [1, 0, 1, 0])
    e = diagnose.demo_effects(rs, resamples=100)
    assert e["majority"] == [0, 1] and e["methods"]["none"]["majority"].rate == pytest.approx(0.5)


def test_without_demonstration_labels():
    assert "reason" in diagnose.demo_effects(run_scores([0, 1], [0, 1], []))


def test_cli_json(capsys, tmp_path, fake_model, fake_factory):
    db = tmp_path / "d.db"
    assert main(["run", "-m", str(fake_model), "-t", "tickets", "-k", "0,4", "--limit", "20", "--db", str(db), "--json"],
                backend_factory=fake_factory) == 0
    capsys.readouterr()
    assert main(["diagnose", "--db", str(db), "--run", "1", "--run", "2", "--json", "--resamples", "100"]) == 0
    k0, k4 = json.loads(capsys.readouterr().out)
    assert "k >= 2" in k0["demonstrations"]["reason"] and "looc" not in k0["priors"]
    assert set(k4["priors"]) == {"cc", "dc", "looc", "bc"} and sum(k4["gold"].values()) == pytest.approx(1)
    assert len(k4["demonstrations"]["labels"]) == 4
    assert set(k4["demonstrations"]["methods"]["none"]) == {"majority", "recency"}
    assert main(["diagnose", "--db", str(db), "--run", "9"]) == 2
