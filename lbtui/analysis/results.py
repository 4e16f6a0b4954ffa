"""From raw stored scores to metrics under every calibration method: pure functions."""

from __future__ import annotations

import math

import numpy as np

from ..types import RunScores  # noqa: F401  (re-exported: what a run's metrics are computed from)
from . import calibrations as cal, metrics
from .calibrations import Calibration
from .metrics import Metrics, evaluate, softmax


# Bump when scoring or example-set rules change: it enters the run key, so runs stored
# under older rules are never reused, and tables mark them. 2: whole-string tokens, one
# bias set a task (the pool's last 32), the reference's period rule, DC field by field.
METHOD_VERSION = 2


def method_mark(run: dict) -> str:
    """A note for runs scored under older rules than this lbtui's (readable, never reused)."""
    v = run.get("method_version") or 1
    return f" (older method v{v})" if v < METHOD_VERSION else ""


def calibrators(rs: RunScores, methods=cal.METHODS) -> tuple[dict[str, Calibration], dict[str, str]]:
    """Every requested method that applies, as its fitted Calibration (a map p -> q), and
    the notes on the rest (why not) or on one that applied (a fallback)."""
    return cal.fit_all(rs, methods)


def priors(rs: RunScores) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """p̂ of every prior method that applies, and the reason for each that does not."""
    names = [n for n in cal.METHODS if not cal.REGISTRY[n].slow]
    found, reasons = cal.fit_all(rs, names)
    return {n: c.prior for n, c in found.items()}, reasons


def evaluate_with(rs: RunScores, maps: dict[str, Calibration], methods=cal.METHODS) -> dict[str, Metrics | None]:
    """Each method's metrics under its fitted calibration (None where it has none)."""
    p_test, p_bias = softmax(rs.test), softmax(rs.bias)
    return {
        m: (evaluate(maps[m](p_test), rs.test_gold, maps[m](p_bias), rs.bias_gold) if m in maps else None)
        for m in methods
    }


def evaluate_run(rs: RunScores, methods=cal.METHODS) -> tuple[dict[str, Metrics | None], dict[str, str]]:
    """Metrics for each method (None where it cannot apply, with the reason)."""
    maps, reasons = calibrators(rs, methods)
    return evaluate_with(rs, maps, methods), reasons


HEADLINE = metrics.HEADLINE  # the registry's names, in table order


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


def analysis_version() -> str:
    """What a finished run's stored metrics were computed under: the scoring rules, the
    registries' names, and the cache's layout. Any change recomputes them."""
    return f"m{METHOD_VERSION}:" + ",".join(cal.METHODS) + ":" + ",".join(HEADLINE) + ":2"


def metrics_payload(
    metrics: dict[str, Metrics | None], reasons: dict[str, str], calibrations: dict[str, Calibration]
) -> dict:
    """A run's metrics under every method and the calibrations they came from, as JSON,
    for the store's metrics cache (layout 2: with the calibrations)."""
    return {
        "metrics": {m: (v.to_json() if v is not None else None) for m, v in metrics.items()},
        "reasons": reasons,
        "calibrations": {m: c.to_json() for m, c in calibrations.items()},
    }


def metrics_from_payload(p: dict) -> tuple[dict[str, Metrics | None], dict[str, str]]:
    return {m: (Metrics.from_json(v) if v is not None else None) for m, v in p["metrics"].items()}, p["reasons"]


def calibrations_from_payload(p: dict) -> dict[str, Calibration]:
    return {m: Calibration.from_json(c) for m, c in p["calibrations"].items()}
