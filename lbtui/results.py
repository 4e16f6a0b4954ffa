"""From raw stored scores to metrics under every calibration method: pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import calibration as cal
from .metrics import Metrics, evaluate, softmax


@dataclass(frozen=True)
class RunScores:
    """Raw (N, K) scores of each set of one run and the gold labels where known."""

    k: int
    test: np.ndarray
    test_gold: np.ndarray
    bias: np.ndarray
    bias_gold: np.ndarray
    cc: np.ndarray
    dc: np.ndarray
    looc: np.ndarray
    looc_gold: np.ndarray


def priors(rs: RunScores) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """p_hat of every method that applies, and the reason for each that does not."""
    out: dict[str, np.ndarray] = {"none": cal.uniform_prior(rs.k)}
    reasons: dict[str, str] = {}
    sources = {
        "cc": lambda: cal.mean_prior(softmax(rs.cc)),
        "dc": lambda: cal.mean_prior(softmax(rs.dc)),
        "bc": lambda: cal.mean_prior(softmax(rs.test)),
        "looc": lambda: cal.looc_prior(softmax(rs.looc), rs.looc_gold),
    }
    for method, estimate in sources.items():
        try:
            out[method] = estimate()
        except cal.NotApplicable as e:
            reasons[method] = str(e)
    return out, reasons


def evaluate_run(rs: RunScores, methods=cal.METHODS) -> tuple[dict[str, Metrics | None], dict[str, str]]:
    """Metrics for each method (None where it cannot apply, with the reason)."""
    p_test, p_bias = softmax(rs.test), softmax(rs.bias)
    found, reasons = priors(rs)
    out: dict[str, Metrics | None] = {}
    for m in methods:
        if m not in found:
            out[m] = None
            continue
        out[m] = evaluate(cal.apply(p_test, found[m]), rs.test_gold, cal.apply(p_bias, found[m]), rs.bias_gold)
    return out, {m: r for m, r in reasons.items() if m in methods}


HEADLINE = ("accuracy", "macro_f1", "rsd", "bias_score")


def mean_headlines(per_run: list[dict[str, Metrics | None]], methods=cal.METHODS) -> dict[str, dict[str, float] | None]:
    """The unweighted mean of each headline metric over runs, per method; None for a method
    that applies to no run."""
    out: dict[str, dict[str, float] | None] = {}
    for m in methods:
        got = [r[m] for r in per_run if r.get(m) is not None]
        if not got:
            out[m] = None
            continue
        out[m] = {key: float(np.mean([getattr(x, key) for x in got])) for key in HEADLINE}
    return out


def finite_or_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x
