"""From raw stored scores to metrics under every calibration method: pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from . import calibration as cal
from . import calibration_models as cm
from .metrics import Metrics, evaluate, softmax

# Bump when scoring or example-set rules change: it enters the run key, so runs stored
# under older rules are never reused, and tables mark them. 2: whole-string tokens, one
# bias set a task (the pool's last 32), the reference's period rule, DC field by field.
METHOD_VERSION = 2


def method_mark(run: dict) -> str:
    """A note for runs scored under older rules than this lbtui's (readable, never reused)."""
    v = run.get("method_version") or 1
    return f" (older method v{v})" if v < METHOD_VERSION else ""



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


def fitted(rs: RunScores, found: dict[str, np.ndarray]) -> tuple[dict[str, Callable], dict[str, str]]:
    """The calibrations that fit a model (prototypical, supervised): a function from
    probabilities to calibrated probabilities for each that applies, and notes: the
    reason one does not apply, or that prototypical fell back to BC."""
    maps: dict[str, Callable] = {}
    notes: dict[str, str] = {}
    try:
        maps["proca"] = cm.prototypical(softmax(rs.test))
    except cm.Degenerate as e:
        if "bc" in found:
            maps["proca"] = partial(cal.apply, prior=found["bc"])
            notes["proca"] = f"fell back to BC: {e}"
        else:
            notes["proca"] = str(e)
    except cal.NotApplicable as e:
        notes["proca"] = str(e)
    try:
        maps["sc"] = cm.supervised(softmax(rs.looc), rs.looc_gold)
    except cal.NotApplicable as e:
        notes["sc"] = str(e)
    return maps, notes


def calibrators(rs: RunScores, methods=cal.METHODS) -> tuple[dict[str, Callable], dict[str, str]]:
    """Every requested method that applies as a function p -> q, and the notes on the rest."""
    found, reasons = priors(rs)
    maps = {m: partial(cal.apply, prior=found[m]) for m in found}
    if set(methods) & set(cal.FITTED):
        more, notes = fitted(rs, found)
        maps.update(more)
        reasons.update(notes)
    return {m: f for m, f in maps.items() if m in methods}, {m: r for m, r in reasons.items() if m in methods}


def evaluate_run(rs: RunScores, methods=cal.METHODS) -> tuple[dict[str, Metrics | None], dict[str, str]]:
    """Metrics for each method (None where it cannot apply, with the reason)."""
    p_test, p_bias = softmax(rs.test), softmax(rs.bias)
    maps, reasons = calibrators(rs, methods)
    out: dict[str, Metrics | None] = {}
    for m in methods:
        if m not in maps:
            out[m] = None
            continue
        out[m] = evaluate(maps[m](p_test), rs.test_gold, maps[m](p_bias), rs.bias_gold)
    return out, reasons


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
