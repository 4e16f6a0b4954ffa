"""Reports over stored runs: per task and method the headline metrics with bootstrap
confidence intervals, each calibration's paired difference from none (or another
baseline method, ``--against``), and gates
(``--fail-if``) that let a pipeline refuse a model on its label bias.

Rows are grouped by (model, task, shots, scoring); a group's value is the mean over its
seeds (and orderings of their demonstrations), as the paper reports, with the range and
std across them. With more than one task, a "mean" row per (model, shots,
scoring) averages the tasks without weights. Nothing here calls a model.
"""

from __future__ import annotations

import math
import operator
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..analysis import bootstrap as bs, stability
from ..analysis.calibrations import METHODS
from ..analysis.metrics import REGISTRY as METRICS
from ..analysis.results import method_mark
from ..errors import UserError
from ..results import Results
from ..results.service import draw_stream
from ..store import Store


MEAN_TASK = "mean"
METRIC_ALIASES = {alias: name for name, m in METRICS.items() for alias in (name, *m.aliases)}
METRIC_LABELS = {name: m.title for name, m in METRICS.items()}


@dataclass(frozen=True)
class Row:
    model: str
    task: str
    shots: int
    scoring: str
    method: str
    metric: str
    value: float
    lo: float
    hi: float
    diff: float | None  # method minus the baseline (none unless --against), paired on the same resamples
    diff_lo: float | None
    diff_hi: float | None
    seeds: int
    n_test: int
    runs: tuple[int, ...]
    orders: int = 1  # orderings of each seed's demonstrations
    # Across the group's seeds and orderings (each one's mean over tasks for a mean row):
    # the smallest and largest value and the sample std; NaN with a single run.
    spread_min: float = math.nan
    spread_max: float = math.nan
    spread_std: float = math.nan

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["runs"] = list(self.runs)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def select_runs(store: Store, run_ids: list[int] | None, task_names: list[str] | None) -> list[dict]:
    """Done runs: the given ids (each must exist and be done), else every done run, narrowed to
    the given task names (a suite's tasks)."""
    if run_ids:
        runs = [store.run(rid) for rid in run_ids]
        for r in runs:
            if r["status"] != "done":
                raise UserError("--run", f"run {r['id']} is {r['status']}, not done; run it again to resume")
    else:
        runs = store.runs(status="done")
    if task_names is not None:
        wanted = set(task_names)
        runs = [r for r in runs if r["task_name"] in wanted]
    if not runs:
        raise UserError("--run" if run_ids else "--db", f"no finished runs to report in {store.path}")
    return runs


def build(
    results: Results, runs: list[dict], *, resamples: int = bs.RESAMPLES, seed: int = 0, methods=METHODS,
    against: str = "none",
) -> list[Row]:
    """Every (group, method, metric) row, task groups first, then the means over tasks;
    differences against the ``against`` method. Each finished run's point values and
    resamples come from ``results`` (drawn once per service: the app keeps one, so the
    verdict asked again as runs finish draws only the new ones)."""
    if against not in METHODS:
        raise UserError("--against", f"unknown method {against!r} ({', '.join(METHODS)})")
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        # Runs scored under older rules stay readable but are never pooled with current ones.
        groups[(r["model_name"], r["task_name"] + method_mark(r), r["shots"], r["scoring"])].append(r)
    for (model, task, shots, scoring), members in groups.items():
        limits = sorted({r["limit_"] for r in members}, key=str)
        if len(limits) > 1:  # another --limit is another test set, not another seed
            ids = ", ".join(f"{r['id']} (--limit {r['limit_']})" for r in members)
            raise UserError("--run", f"runs {ids} of {model} on {task} k={shots} differ in --limit; report pools only runs"
                                     " of one --limit: choose them with --run")
    values: dict[tuple, tuple[dict, dict, int]] = {}
    per_run: dict[int, dict] = {}  # run id -> {method: {key: value}}
    for key, members in groups.items():
        points, samples, n_test = [], [], 0
        for r in members:
            # Seeds of a task share the test draws (same test set); tasks do not.
            point, sample, n_test = results.draws(r["id"], resamples=resamples, seed=seed, stream=draw_stream(r),
                                                  methods=tuple(methods))
            points.append(point)
            per_run[r["id"]] = point
            samples.append(sample)
        values[key] = (_mean_of(points), _mean_of(samples), n_test)
    rows = [row for key, v in values.items() for row in _rows(key, v, groups[key], methods, per_run, against)]
    tasks_by = defaultdict(list)
    for key in values:
        tasks_by[(key[0], key[2], key[3])].append(key)
    for (model, shots, scoring), keys in tasks_by.items():
        if len(keys) < 2:
            continue
        pt = _mean_of([values[k][0] for k in keys])
        sm = _mean_of([values[k][1] for k in keys])
        members = [r for k in keys for r in groups[k]]
        rows += _rows((model, MEAN_TASK, shots, scoring), (pt, sm, sum(values[k][2] for k in keys)), members, methods, per_run,
                      against)
    return rows


def _mean_of(items: list[dict]) -> dict:
    """Mean over items of {method: {key: x}}, for the methods every item has."""
    common = set(items[0]).intersection(*items[1:]) if items else set()
    return {m: {key: np.mean([it[m][key] for it in items], axis=0) for key in bs.KEYS} for m in common}


def _spread(members: list[dict], per_run: dict[int, dict], method: str, metric: str) -> stability.Stats:
    """Across (seed, ordering): each one's mean over the tasks in ``members``, for the
    seeds and orderings that every task has."""
    combos: dict[tuple, list[float]] = defaultdict(list)
    for r in members:
        if method in per_run[r["id"]]:
            combos[(r["seed"], r["demo_order"])].append(float(per_run[r["id"]][method][metric]))
    n_tasks = len({r["task_name"] for r in members})
    return stability.stats([np.mean(v) for v in combos.values() if len(v) == n_tasks])


def _rows(key: tuple, v: tuple, members: list[dict], methods, per_run: dict[int, dict], against: str) -> list[Row]:
    model, task, shots, scoring = key
    pt, sm, n_test = v
    seeds = len({r["seed"] for r in members})
    orders = max(len([r for r in members if r["seed"] == s and r["task_name"] == t])
                 for s, t in {(r["seed"], r["task_name"]) for r in members})
    out = []
    for m in methods:
        if m not in pt:
            continue
        for metric in bs.KEYS:
            lo, hi = bs.interval(sm[m][metric])
            diff = dlo = dhi = None
            if m != against and against in pt:
                diff = float(pt[m][metric] - pt[against][metric])
                dlo, dhi = bs.interval(sm[m][metric] - sm[against][metric])
            sp = _spread(members, per_run, m, metric)
            out.append(Row(model, task, shots, scoring, m, metric, float(pt[m][metric]), lo, hi, diff, dlo, dhi,
                           seeds, n_test, tuple(sorted(r["id"] for r in members)), orders,
                           sp.min if sp.n > 1 else math.nan, sp.max if sp.n > 1 else math.nan, sp.std))
    return out


# --- gates -------------------------------------------------------------------------------

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_GATE = re.compile(r"^\s*(?:(?P<method>[A-Za-z*]+)\s*[:.]\s*)?(?P<metric>[A-Za-z][A-Za-z0-9_-]*)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?\d*\.?\d+)\s*$")


@dataclass(frozen=True)
class Gate:
    text: str
    method: str  # a method name or "*" for any
    metric: str
    op: str
    value: float

    def hits(self, rows: list[Row]) -> list[Row]:
        return [r for r in rows if r.metric == self.metric and (self.method == "*" or r.method == self.method)
                and not math.isnan(r.value) and _OPS[self.op](r.value, self.value)]


def parse_gate(text: str) -> Gate:
    """``[method:]metric OP number``, e.g. ``rsd>0.3`` (uncalibrated), ``looc:macro_f1<0.5``,
    ``*:bias_score>0.2`` (any method)."""
    m = _GATE.match(text)
    if not m:
        raise UserError("--fail-if", f"cannot read {text!r}; write [method:]metric OP number, e.g. 'rsd>0.3' or 'looc:macro_f1<0.5'")
    metric = METRIC_ALIASES.get(m["metric"].lower())
    if metric is None:
        raise UserError("--fail-if", f"unknown metric {m['metric']!r} in {text!r} (accuracy, macro_f1, rsd, bias_score)")
    method = (m["method"] or "none").lower()
    if method != "*" and method not in METHODS:
        raise UserError("--fail-if", f"unknown method {m['method']!r} in {text!r} ({', '.join(METHODS)} or *)")
    return Gate(text.strip(), method, metric, m["op"], float(m["value"]))
