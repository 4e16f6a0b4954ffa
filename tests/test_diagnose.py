"""lbtui diagnose: priors side by side, majority and recency bias (hand-worked cases)."""

import json

import numpy as np
import pytest

from lbtui.analysis import diagnose
from lbtui.analysis.calibrations import METHODS, REGISTRY
from lbtui.cli import main
from lbtui.analysis.results import RunScores
from lbtui.report.reading import priors as reading_priors, reading

PRIOR_METHODS = {m for m in METHODS if m != "none" and REGISTRY[m].kind == "prior"}  # the priors diagnose compares


def run_scores(test_pred, test_gold, looc_gold, k=3):
    """Scores that predict ``test_pred`` with certainty; CC prefers label 0."""
    test = np.log(np.eye(k)[test_pred] * 0.9 + 0.1 / k)
    cc = np.log(np.array([[0.6, 0.3, 0.1]] * 3))
    return RunScores(
        k=k,
        test=test,
        test_gold=np.array(test_gold),
        bias=test[:4],
        bias_gold=np.array(test_gold[:4]),
        cc=cc,
        dc=cc,
        looc=test[: len(looc_gold)],
        looc_gold=np.array(looc_gold),
    )


def test_priors_against_uniform_and_gold():
    rs = run_scores([0, 0, 1, 2], [0, 1, 1, 2], [0, 0, 1])
    t = diagnose.prior_table(rs)
    assert np.allclose(t["gold"], [0.25, 0.5, 0.25])
    assert np.allclose(t["priors"]["cc"]["p"], [0.6, 0.3, 0.1])
    # TV([.6,.3,.1], uniform) = 0.5 * (|.6-1/3| + |.3-1/3| + |.1-1/3|) = 0.2667
    assert t["priors"]["cc"]["tv_uniform"] == pytest.approx(0.5 * (0.6 - 1 / 3 + 1 / 3 - 0.3 + 1 / 3 - 0.1))
    assert t["priors"]["cc"]["tv_gold"] == pytest.approx(0.5 * (0.35 + 0.2 + 0.15))
    assert set(t["priors"]) == PRIOR_METHODS


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
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "tickets", "-k", "0,4", "--limit", "20", "--db", str(db), "--json"],
            backend_factory=fake_factory,
        )
        == 0
    )
    capsys.readouterr()
    assert main(["diagnose", "--db", str(db), "--run", "1", "--run", "2", "--json", "--resamples", "100"]) == 0
    k0, k4 = json.loads(capsys.readouterr().out)
    assert "k >= 2" in k0["demonstrations"]["reason"] and "looc" not in k0["priors"]
    assert set(k4["priors"]) == PRIOR_METHODS and sum(k4["gold"].values()) == pytest.approx(1)
    assert len(k4["demonstrations"]["labels"]) == 4
    assert k4["reading"][0].startswith("Uncalibrated,") and any("majority-label" in line for line in k4["reading"])
    assert set(k4["demonstrations"]["methods"]["none"]) == {"majority", "recency"}
    assert main(["diagnose", "--db", str(db), "--run", "9"]) == 2


# --- the plain-language reading (hand-worked cases) ----------------------------------


def read(test_pred, test_gold, looc_gold, resamples=300):
    rs = run_scores(test_pred, test_gold, looc_gold)
    return reading(["a", "b", "c"], diagnose.prior_table(rs), diagnose.demo_effects(rs, resamples=resamples))


def test_reading_names_the_over_predicted_label_with_its_shares():
    # predictions a: 4/6, b: 1/6, c: 1/6 against gold 2/6 each: 'a' over by 33 points, 'b' under by 17.
    said = read([0, 0, 0, 1, 2, 0] * 10, [0, 1, 0, 1, 2, 2] * 10, [0, 0, 1])
    assert said[0] == (
        "Uncalibrated, the model answers 'a' for 67% of the test inputs, where 33% are 'a';"
        " 'b' gets 17% of the answers for 33% of the inputs."
    )
    # CC's prior [.6, .3, .1] and the others all favour 'a'.
    assert said[1].startswith("Every calibration's prior leans toward 'a'")
    # Majority label 'a' (demonstrations a, a, b): excess +0.33 with an interval above 0, and
    # 'a' is also the over-predicted label.
    assert said[2].startswith(
        "A majority-label bias: predictions take the demonstrations' most frequent label ('a')"
        " in 67% of the answers against 33% of the gold labels (excess +0.33"
    )
    assert "cannot tell the two apart" in said[2]
    # The last demonstration is 'b': predicted 17% against 33% gold, an interval below 0.
    assert said[3].startswith("No recency bias: predictions take the last demonstration's label ('b') less often")


def test_reading_without_a_lean_or_a_detectable_bias():
    # Predictions equal the gold labels: no label over-predicted; majority 'a' taken as often as gold has it.
    said = read([0, 1, 2] * 20, [0, 1, 2] * 20, [0, 0, 1])
    assert said[0].startswith("Uncalibrated, the answers follow the test set's label shares within 0%")
    assert said[2].startswith("No majority-label bias shows:") and "holds 0" in said[2]
    assert said[3].startswith("No recency bias shows:")


def test_reading_of_a_zero_shot_run_says_why_demonstrations_are_not_read():
    said = read([0, 1], [0, 1], [])
    assert any(line.startswith("Majority and recency bias are not measured here") and "k >= 2" in line for line in said)
    assert said[-1] == "LOOC is not applied: needs at least 2 demonstrations."


def test_reading_near_uniform_priors():
    table = {
        "predicted": np.array([0.5, 0.5]),
        "gold": np.array([0.5, 0.5]),
        "priors": {"cc": {"p": np.array([0.52, 0.48]), "tv_uniform": 0.02, "tv_gold": 0.02}},
        "reasons": {},
    }
    assert reading_priors(["x", "y"], table).startswith(
        "The priors the calibrations estimate are near uniform (largest distance to uniform 0.02, CC)"
    )


def test_the_pooled_reading_counts_leaning_runs_and_the_calibrations_that_end_the_lean():
    from types import SimpleNamespace as NS

    from lbtui.report.reading import pooled

    def m(pred, gold=(0.5, 0.3, 0.2)):
        return NS(predicted_share=np.array(pred), gold_share=np.array(gold))

    run = {"model_name": "m", "task_name": "t", "shots": 4, "scoring": "full"}
    items = [
        (run, {"none": m((0.1, 0.1, 0.8)), "bc": m((0.45, 0.35, 0.2)), "looc": None}),
        (run, {"none": m((0.2, 0.1, 0.7)), "bc": m((0.2, 0.2, 0.6)), "looc": m((0.5, 0.3, 0.2))}),
        (run, {"none": m((0.5, 0.3, 0.2)), "bc": m((0.5, 0.3, 0.2)), "looc": m((0.5, 0.3, 0.2))}),
    ]
    lines = pooled(["a", "b", "c"], items)
    assert lines == [
        "Over 3 runs of m on t at k=4 (full), the uncalibrated answers over-predict 'c' in 2 of 3.",
        "Runs left without a lean of 10% or more: BC 2 of 3, LOOC 2 of 2.",
    ]
