"""The verdict at the top of the app's Results: per model and shots, which calibration is
best by macro-F1 and by BiasScore, with the 95% bootstrap intervals that `lbtui report`
computes (summary.build) and the test size behind it. Pure functions over report rows,
plus one that builds them from the store."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..analysis.metrics import PAPER
from ..results import Results
from . import summary
from .formats import baseline_line, recommendation_line
from .summary import MEAN_TASK, Group, Row, Summary

SMALL = 100  # fewer test examples than this: intervals are wide, say so


@dataclass(frozen=True)
class Pick:
    """The best method under one metric, and its change against none."""

    metric: str
    method: str
    value: float
    lo: float
    hi: float
    diff: float | None  # against none, on the same resamples
    diff_lo: float | None
    diff_hi: float | None

    @property
    def within_noise(self) -> bool:
        """The change's interval includes 0 (or there is no change: none itself is best)."""
        return self.diff is None or self.diff_lo is None or self.diff_lo <= 0 <= self.diff_hi


@dataclass(frozen=True)
class Verdict:
    model: str
    shots: int
    scoring: str
    tasks: int
    runs: int
    n_test: int
    f1: Pick
    bias: Pick
    group: Group | None = None  # baselines and the recommendation (report's summary)
    spread: tuple[int, float, float] | None = None  # runs, min and max macro-F1 of the recommended method across them

    @property
    def small(self) -> bool:
        return self.n_test < SMALL


def _pick(rows: list[Row], metric: str, best) -> Pick | None:
    got = [r for r in rows if r.metric == metric and not math.isnan(r.value)]
    if not got:
        return None
    r = best(got, key=lambda r: r.value)
    return Pick(metric, r.method, r.value, r.lo, r.hi, r.diff, r.diff_lo, r.diff_hi)


def verdicts(rows: list[Row] | Summary) -> list[Verdict]:
    """One verdict per (model, shots, scoring): over the mean of tasks where there are
    several, else over the one task; with a Summary, its baselines and recommendation."""
    summary = rows if isinstance(rows, Summary) else None
    rows = summary.rows if summary else rows
    groups: dict[tuple, dict[str, list[Row]]] = {}
    for r in rows:
        groups.setdefault((r.model, r.shots, r.scoring), {}).setdefault(r.task, []).append(r)
    out = []
    for (model, shots, scoring), by_task in groups.items():
        tasks = [t for t in by_task if t != MEAN_TASK]
        task = MEAN_TASK if MEAN_TASK in by_task else tasks[0]
        chosen = by_task[task]
        f1, bias = _pick(chosen, "macro_f1", max), _pick(chosen, "bias_score", min)
        if f1 is None or bias is None:
            continue
        group = summary.group(model, task, shots, scoring) if summary else None
        spread = None
        if group is not None and group.recommendation is not None:
            rec = next(r for r in chosen if r.method == group.recommendation.method and r.metric == "macro_f1")
            if rec.spread_min == rec.spread_min:
                spread = (rec.seeds * rec.orders, rec.spread_min, rec.spread_max)
        out.append(
            Verdict(model, shots, scoring, len(tasks), len(chosen[0].runs), chosen[0].n_test, f1, bias, group, spread)
        )
    return sorted(out, key=lambda v: (v.model, v.shots, v.scoring))


def build(results: Results, run_ids: list[int], *, resamples: int = 1000) -> list[Verdict]:
    """Verdicts over the finished runs among ``run_ids`` that count in a mean (the drawn
    order, the task's own label words); a run's bootstrap is drawn once per ``results``
    however often the verdict is asked for."""
    from .views import in_mean

    runs = [r for r in (results.run(i) for i in run_ids) if in_mean(r)]
    return verdicts(summary.summarize(results, runs, resamples=resamples)) if runs else []


def describe(v: Verdict) -> list[str]:
    """Short lines of plain text for one verdict: the group, the recommendation (the
    report's own line), the baselines, the best macro-F1 and lowest BiasScore on the test
    set, and the spread across seeds and orderings where there are several."""
    size = f"{v.tasks} task{'s' if v.tasks != 1 else ''} · {v.n_test:,} test" + (" (small)" if v.small else "")
    lines = [f"{v.model} k={v.shots} {v.scoring} · {size}"]
    if v.group is not None:
        lines += [f"  recommended: {recommendation_line(v.group)}", f"  {baseline_line(v.group)}"]
    lines += [f"  best macro-F1 {_say(v.f1)}", f"  lowest BiasScore {_say(v.bias)}"]
    if v.spread is not None:
        lines.append(
            f"  across {v.spread[0]} seeds and orderings: {v.group.recommendation.method} macro-F1"
            f" {v.spread[1]:.3f}–{v.spread[2]:.3f}"
        )
    return lines


def _say(p: Pick) -> str:
    text = f"{p.method} {p.value:.3f} [{p.lo:.3f}, {p.hi:.3f}]"
    if p.method == "none" or p.diff is None:
        return text + ", no calibration does better"
    text += f", {p.diff:+.3f} vs none [{p.diff_lo:+.3f}, {p.diff_hi:+.3f}]"
    return text + (" within noise" if p.within_noise else "")


# --- one run and method: the line under the app's per-run table ----------------------

ROW_METRICS = PAPER  # macro-F1, RSD, BiasScore


def run_rows(results: Results, run_id: int, method: str, *, resamples: int = 1000) -> list[Row]:
    """`lbtui report --run ID`'s rows of one finished run under one method (headline metrics
    with intervals and the paired change against none); [] when the method does not apply."""
    rows = summary.build(results, [results.run(run_id)], resamples=resamples)
    return [r for r in rows if r.method == method and r.metric in ROW_METRICS and not math.isnan(r.value)]


def describe_run(run: dict, method: str, rows: list[Row]) -> str:
    """One line: each headline metric with its 95% interval and, beside it, the change
    against none with its interval (marked when the interval holds 0)."""
    head = f"run {run['id']} · {method.upper()}"
    if run["status"] != "done":
        return f"{head}: intervals once the run is finished ({run['status']})"
    if not rows:
        return f"{head}: does not apply to this run (see the why column)"
    n = rows[0].n_test
    parts = []
    for r in sorted(rows, key=lambda r: ROW_METRICS.index(r.metric)):
        text = f"{summary.METRIC_LABELS[r.metric]} {r.value:.3f} [{r.lo:.3f}, {r.hi:.3f}]"
        if r.diff is not None and r.diff_lo is not None:
            noise = r.diff_lo <= 0 <= r.diff_hi
            text += f" Δ {r.diff:+.3f} [{r.diff_lo:+.3f}, {r.diff_hi:+.3f}]{' noise' if noise else ''}"
        parts.append(text)
    return f"{head} · {n:,} test{' (small)' if n < SMALL else ''} · " + " · ".join(parts)
