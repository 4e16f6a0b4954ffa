"""Where a run's label bias comes from, from its stored scores only (no model call).

* Priors side by side: the prior p_hat that each calibration estimates (CC: the label
  words alone; DC: in-domain noise; LOOC: held-out demonstrations; BC: the test inputs),
  against uniform and against the gold distribution of the test set, each with its
  total-variation distance to both.
* Majority-label bias: how often the prediction is a label that is most frequent among
  the demonstrations; recency bias: how often it is the last demonstration's label.
  Each against what the gold labels give (the rate a predictor that follows the input
  alone would show on average), with a 95% bootstrap interval of the excess.
  Demonstration labels come from the leave-one-out set, so these need k >= 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bootstrap as bs
from .calibrations import METHODS
from .metrics import predict, softmax
from .results import RunScores, calibrators, priors


def tv(p: np.ndarray, q: np.ndarray) -> float:
    """Total-variation distance between two distributions."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


def prior_table(rs: RunScores) -> dict:
    """{"uniform": K-vector, "gold": K-vector, "predicted": K-vector (shares of the
    uncalibrated predictions), "priors": {method: {"p": ..., "tv_uniform", "tv_gold"}}}."""
    found, reasons = priors(rs)
    uniform = np.full(rs.k, 1.0 / rs.k)
    n = max(len(rs.test_gold), 1)
    gold = np.bincount(rs.test_gold, minlength=rs.k) / n
    predicted = np.bincount(predict(softmax(rs.test)), minlength=rs.k) / n if len(rs.test) else np.zeros(rs.k)
    out = {}
    for m in found:  # every prior method that applies, in registry order
        if m != "none":
            p = np.asarray(found[m], dtype=np.float64)
            p = p / p.sum()
            out[m] = {"p": p, "tv_uniform": tv(p, uniform), "tv_gold": tv(p, gold)}
    return {"uniform": uniform, "gold": gold, "predicted": predicted, "priors": out, "reasons": reasons}


@dataclass(frozen=True)
class Following:
    """How often predictions fall in ``labels`` (a demonstration-derived label set)."""

    labels: tuple[int, ...]
    rate: float  # share of test predictions in labels
    expected: float  # share of gold test labels in labels
    excess: float  # rate - expected
    lo: float  # 95% bootstrap interval of the excess
    hi: float


def following(pred: np.ndarray, gold: np.ndarray, labels, *, resamples: int = bs.RESAMPLES, seed: int = 0) -> Following:
    labels = tuple(int(x) for x in labels)
    hit_pred = np.isin(pred, labels).astype(float)
    hit_gold = np.isin(gold, labels).astype(float)
    idx = bs.draws(len(pred), len(pred), resamples=resamples, seed=seed, stream=7)
    samples = hit_pred[idx].mean(axis=1) - hit_gold[idx].mean(axis=1)
    lo, hi = bs.interval(samples)
    rate, expected = float(hit_pred.mean()), float(hit_gold.mean())
    return Following(labels, rate, expected, rate - expected, lo, hi)


def demo_effects(rs: RunScores, *, resamples: int = bs.RESAMPLES, seed: int = 0) -> dict:
    """Majority and recency following under each method; {} with a reason when k < 2."""
    demo = np.asarray(rs.looc_gold)
    if len(demo) < 2:
        return {"reason": "needs the demonstrations' labels, which runs with k >= 2 keep (the leave-one-out set)"}
    counts = np.bincount(demo, minlength=rs.k)
    majority = np.flatnonzero(counts == counts.max())
    last = (int(demo[-1]),)
    maps, _ = calibrators(rs)
    p = softmax(rs.test)
    out = {"demonstration_labels": demo.tolist(), "majority": majority.tolist(), "last": list(last), "methods": {}}
    for m in METHODS:
        if m not in maps:
            continue
        pred = predict(maps[m](p))
        out["methods"][m] = {
            "majority": following(pred, rs.test_gold, majority, resamples=resamples, seed=seed),
            "recency": following(pred, rs.test_gold, last, resamples=resamples, seed=seed),
        }
    return out
