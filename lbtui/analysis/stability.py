"""How stable a finding is: the spread of each method's metrics across demonstration
seeds (different demonstrations) and across orderings of the same demonstrations
(``--orders``). Pure functions over per-run metrics; nothing here calls a model.

Three ways a group of runs (model, task, shots, scoring) can vary:

- ``seeds``: the drawn-order run of each seed (n = seeds);
- ``orders``: the orderings within each seed; the standard deviation is the pooled
  within-seed one, so differences between seeds do not count as ordering effects;
- ``all``: every run, seeds and orderings together (given only when both vary).

Standard deviations are sample ones (ddof 1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .metrics import Metrics
from .results import HEADLINE


ACROSS = ("seeds", "orders", "all")


@dataclass(frozen=True)
class Stats:
    n: int
    mean: float
    std: float
    min: float
    max: float

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def stats(values, *, std: float | None = None) -> Stats:
    """Mean, sample std (or the given one), min and max of finite values; NaNs are left out
    (an RSD that is undefined for a run)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return Stats(0, math.nan, math.nan, math.nan, math.nan)
    sd = std if std is not None else (float(np.std(x, ddof=1)) if len(x) > 1 else math.nan)
    return Stats(len(x), float(x.mean()), sd, float(x.min()), float(x.max()))


def stats_rows(values: np.ndarray) -> list[Stats]:
    """``stats`` of each row of values (rows, n), as one call each would give them (numpy
    reduces each row of a 2-D array along it as it reduces that row alone): every row in
    a few array passes, a row with a non-finite value on its own."""
    x = np.asarray(values, dtype=float)
    rows, n = x.shape
    if n == 0:
        return [stats([]) for _ in range(rows)]
    finite = np.isfinite(x).all(axis=1)
    with np.errstate(invalid="ignore"):  # a non-finite row's numbers are not used
        mean, lo, hi = x.mean(axis=1), x.min(axis=1), x.max(axis=1)
        sd = x.std(axis=1, ddof=1) if n > 1 else np.full(rows, math.nan)
    return [
        Stats(n, float(mean[i]), float(sd[i]), float(lo[i]), float(hi[i])) if finite[i] else stats(x[i])
        for i in range(rows)
    ]


def pooled_std(groups: list[list[float]]) -> float:
    """sqrt(sum of squared deviations from each group's own mean / sum(n_g - 1)): the spread
    within groups, whatever their means."""
    ss, dof = 0.0, 0
    for g in groups:
        x = np.asarray([v for v in g if v is not None and np.isfinite(v)], dtype=float)
        if len(x) > 1:
            ss += float(((x - x.mean()) ** 2).sum())
            dof += len(x) - 1
    return math.sqrt(ss / dof) if dof else math.nan


def _value(metrics: dict[str, Metrics | None], method: str, key: str) -> float | None:
    m = metrics.get(method)
    return None if m is None else float(getattr(m, key))


def spread_rows(entries: list[tuple[dict, dict[str, Metrics | None]]], methods) -> list[dict]:
    """One row per (model, task, shots, scoring, method, across) where at least two runs
    vary that way, with each headline metric's Stats. ``entries`` are (run, metrics) pairs;
    a run is a store row (seed, demo_order, ...)."""
    groups: dict[tuple, list] = defaultdict(list)
    for run, metrics in entries:
        groups[(run["model_name"], run["task_name"], run["shots"], run["scoring"])].append((run, metrics))
    rows = []
    for (model, task, shots, scoring), members in groups.items():
        by_seed: dict[int, list] = defaultdict(list)
        for run, metrics in members:
            by_seed[run["seed"]].append((run, metrics))
        drawn = [(r, m) for r, m in members if r["demo_order"] == 0]
        reordered = {s: g for s, g in by_seed.items() if len(g) > 1}
        ways = {}
        if len({r["seed"] for r, _ in drawn}) > 1:
            ways["seeds"] = (drawn, None)
        if reordered:
            ways["orders"] = ([x for g in reordered.values() for x in g], list(reordered.values()))
        if len(ways) == 2:
            ways["all"] = (members, None)
        for across, (runs, within) in ways.items():
            for method in methods:
                row = {
                    "model": model,
                    "task": task,
                    "shots": shots,
                    "scoring": scoring,
                    "method": method,
                    "across": across,
                    "seeds": len({r["seed"] for r, _ in runs}),
                    "runs": sorted(r["id"] for r, _ in runs),
                }
                for key in HEADLINE:
                    vals = [_value(m, method, key) for _, m in runs]
                    sd = (
                        None if within is None else pooled_std([[_value(m, method, key) for _, m in g] for g in within])
                    )
                    row[key] = stats(vals, std=sd)
                if row["macro_f1"].n:
                    rows.append(row)
    return rows


def bands(
    entries: list[tuple[dict, dict[str, Metrics | None]]], methods, key: str
) -> dict[str, list[tuple[int, float, float, float]]]:
    """For a plot of ``key`` against shots: per method, (k, mean, min, max) where each point
    of the spread is one (seed, ordering)'s mean over models and tasks. With one run per k,
    min = mean = max (a line without a band)."""
    out: dict[str, list[tuple[int, float, float, float]]] = {}
    for method in methods:
        per: dict[int, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
        for run, metrics in entries:
            v = _value(metrics, method, key)
            if v is not None and np.isfinite(v):
                per[run["shots"]][(run["seed"], run["demo_order"])].append(v)
        pts = []
        for k in sorted(per):
            means = [float(np.mean(v)) for v in per[k].values()]
            pts.append((k, float(np.mean(means)), min(means), max(means)))
        out[method] = pts
    return out
