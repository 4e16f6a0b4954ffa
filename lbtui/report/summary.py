"""Reports over stored runs: per task and method the headline metrics with bootstrap
confidence intervals and each calibration's paired difference from none (or another
baseline method, ``--against``); gates.py holds ``--fail-if``.

Rows are grouped by (model, task, shots, scoring); a group's value is the mean over its
seeds (and orderings of their demonstrations), as the paper reports, with the range and
std across them. With more than one task, a "mean" row per (model, shots,
scoring) averages the tasks without weights. Nothing here calls a model.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..analysis import baselines, bootstrap as bs, choice, stability
from ..analysis.calibrations import METHODS
from ..analysis.metrics import REGISTRY as METRICS, per_class
from ..analysis.results import method_mark
from ..errors import RunError, StorePathError, UserError
from ..results import Results, pool
from ..results.service import draw_stream, not_done
from ..store import Store
from . import means


MEAN_TASK = "mean"
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
    # RSD only: the point value is degenerate (fewer right answers than labels in some run),
    # and the share of resamples where it is; the interval is over the others.
    degenerate: bool = False
    undefined: float = math.nan

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
                raise RunError(not_done(r))
    else:
        runs = store.runs(status="done")
    if task_names is not None:
        wanted = set(task_names)
        runs = [r for r in runs if r["task_name"] in wanted]
    if not runs:
        if task_names is not None:
            raise UserError("--suite", f"no finished run of the suite's tasks in {store.path}")
        raise (RunError if run_ids else StorePathError)(f"no finished runs to report in {store.path}")
    return runs


def build(
    results: Results,
    runs: list[dict],
    *,
    resamples: int = bs.RESAMPLES,
    seed: int = 0,
    methods=METHODS,
    against: str = "none",
) -> list[Row]:
    """Every (group, method, metric) row (see ``summarize``)."""
    return summarize(results, runs, resamples=resamples, seed=seed, methods=methods, against=against).rows


def summarize(
    results: Results,
    runs: list[dict],
    *,
    resamples: int = bs.RESAMPLES,
    seed: int = 0,
    methods=METHODS,
    against: str = "none",
    jobs: int = 1,
) -> "Summary":
    """Every (group, method, metric) row, task groups first, then the means over tasks,
    with differences against the ``against`` method; and for each group its baselines,
    its recommendation and its marks. Each finished run's point values and resamples
    come from ``results`` (drawn once per service: the app keeps one, so the verdict
    asked again as runs finish draws only the new ones), a chunk of whole tasks at a time,
    with ``jobs`` > 1 in worker processes (results/pool.py: the same chunks, the same
    numbers). A group of several seeds or orderings is resampled at two levels
    (bootstrap.two_level); a mean over tasks adds its chunks' sums (means.py)."""
    if against not in METHODS:
        raise UserError("--against", f"unknown method {against!r} ({', '.join(METHODS)})")
    groups = _groups(runs)
    work = functools.partial(_task_groups, resamples=resamples, seed=seed, methods=tuple(methods), against=against)
    chunks = _chunks(groups)
    if jobs > 1:
        parts = pool.map_chunks(results.store, work, chunks, jobs=jobs)
    else:
        parts = [work(results, chunk) for chunk in chunks]
    points: dict[tuple, tuple[dict, int]] = {}  # per group: its point values and test size
    info: dict[tuple, dict] = {}  # per group: baselines, the selection data, marks
    rows_of: dict[tuple, list[Row]] = {}
    per_run: dict[int, dict] = {}  # run id -> {method: {key: value}}
    group_of: dict[tuple, Group] = {}
    sums: dict[tuple, list[means.ChunkSum]] = defaultdict(list)  # per mean over tasks: its chunks' sums
    for part in parts:
        for into, got in zip((points, info, rows_of, per_run, group_of), part):
            into.update(got)
        for mean_key, got in part[-1].items():
            sums[mean_key].append(got)
    rows = [row for key in groups for row in rows_of[key]]
    order = [group_of[key] for key in groups]
    tasks_by = defaultdict(list)
    for key in groups:
        tasks_by[_mean_key(key)].append(key)
    for mean_key, keys in tasks_by.items():
        if len(keys) < 2:
            continue
        members = [r for k in keys for r in groups[k]]
        v, mean_info = _mean_group(keys, points, info, sums[mean_key])
        rows += _rows(mean_key, v, members, methods, per_run, against)
        order.append(_group(mean_key, v, members, mean_info))
    return Summary(rows, order)


TASKS_A_CHUNK = 8  # at most: a chunk's sums go back instead of its groups' resamples


def _chunks(groups: dict[tuple, list[dict]]) -> list[list[tuple]]:
    """The groups' (key, members) in chunks of whole tasks (a task's runs share their
    draws' batches), about 64 chunks for a large report: each worker gets a share, and the
    last chunk ends soon after the others. The same chunks with any number of workers, so
    the means over tasks add their sums in one order (means.py)."""
    by_task: dict[str, list] = defaultdict(list)
    for key, members in groups.items():
        by_task[key[1]].append((key, members))
    tasks = list(by_task.values())
    size = min(TASKS_A_CHUNK, -(-len(tasks) // 64))
    return [[item for task in tasks[at : at + size] for item in task] for at in range(0, len(tasks), size)]


def _mean_key(key: tuple) -> tuple:
    """The mean over tasks a task group's key belongs to."""
    model, _, shots, scoring = key
    return (model, MEAN_TASK, shots, scoring)


def _task_groups(results: Results, items: list[tuple], *, resamples: int, seed: int, methods, against: str):
    """A chunk's task groups' (key, members) -> their point values and test sizes, info,
    rows and group by key, their runs' point values, and the sums they add to each mean
    over tasks: one batch of draws over all their runs, then a group at a time (in a
    worker process, all of it there: only the means over tasks are left)."""
    ids = [r["id"] for _, members in items for r in members]
    results.draw_all(ids, resamples=resamples, seed=seed, methods=methods)
    points, info, rows, per_run, group_of = {}, {}, {}, {}, {}
    samples: dict[tuple, list[dict]] = defaultdict(list)  # per mean over tasks: its groups' resamples
    for key, members in items:
        v, info[key] = _task_group(results, members, resamples, seed, methods, per_run)
        points[key] = (v[0], v[2])
        rows[key] = _rows(key, v, members, methods, per_run, against)
        group_of[key] = _group(key, v, members, info[key])
        samples[_mean_key(key)].append(v[1])
    return points, info, rows, per_run, group_of, {k: means.chunk_sums(s) for k, s in samples.items()}


def _groups(runs: list[dict]) -> dict[tuple, list[dict]]:
    """Runs by (model, task, shots, scoring): a group pools its seeds and orderings. Runs
    scored under older rules stay readable but are never pooled with current ones; runs of
    another --limit (another test set) are refused."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["model_name"], r["task_name"] + method_mark(r), r["shots"], r["scoring"])].append(r)
    for (model, task, shots, scoring), members in groups.items():
        limits = sorted({r["limit_"] for r in members}, key=str)
        if len(limits) > 1:
            ids = ", ".join(f"{r['id']} (--limit {r['limit_']})" for r in members)
            raise RunError(
                f"runs {ids} of {model} on {task} k={shots} differ in --limit; report pools only runs"
                " of one --limit: choose them with --run"
            )
    return groups


def _task_group(
    results: Results, members: list[dict], resamples: int, seed: int, methods, per_run: dict
) -> tuple[tuple[dict, dict, int], dict]:
    """One task group's (point values, two-level resamples, test size) and its info; each
    run's point values go into ``per_run``."""
    points, samples, n_test = [], [], 0
    for r in members:
        # Seeds of a task share the test draws (same test set); tasks do not.
        point, sample, n_test = results.draws(r["id"], resamples=resamples, seed=seed, methods=tuple(methods))
        points.append(point)
        per_run[r["id"]] = point
        samples.append(sample)
    stream = draw_stream(members[0])
    gold = results.scores(members[0]["id"]).test_gold
    info = {
        "baselines": baselines.both(gold, len(members[0]["labels"])),
        "selection": means.mean_of([results.selection(r["id"]) for r in members], choice.GOALS),
        "marks": _marks(results, members, methods),
        "labels": members[0]["labels"],
        "confusion": _confusions(results, members),
    }
    return (means.mean_of(points), _two_level_of(samples, seed, stream), n_test), info


def _mean_group(keys: list[tuple], points: dict, info: dict, sums: list) -> tuple[tuple[dict, dict, int], dict]:
    """The mean over a model's tasks at one shot count and scoring: its values and info."""
    pt = means.mean_of([points[k][0] for k in keys])
    mean_info = {
        "baselines": baselines.mean([info[k]["baselines"] for k in keys]),
        "selection": means.mean_of([info[k]["selection"] for k in keys], choice.GOALS),
        "marks": [m for k in keys for m in info[k]["marks"]],
        "labels": None,
        "confusion": {},
    }
    return (pt, means.mean_of_sums(sums), sum(points[k][1] for k in keys)), mean_info


def _two_level_of(samples: list[dict], seed: int, stream: int) -> dict:
    """{method: {key: (B,)}} of a group: two-level resamples of the methods every run has
    (and the share of runs whose RSD is undefined on each resample)."""
    common, keys = means.common(samples), means.SAMPLE_KEYS
    if not common:
        return {}
    # (methods, keys, runs, B), resampled in one pass
    got = bs.two_level([[[s[m][key] for s in samples] for key in keys] for m in common], seed=seed, stream=stream)
    return {m: {key: got[i, j] for j, key in enumerate(keys)} for i, m in enumerate(common)}


def _confusions(results: Results, members: list[dict]) -> dict[str, np.ndarray]:
    """Each method's test confusion matrix summed over the group's runs."""
    out: dict[str, np.ndarray] = {}
    for r in members:
        for m, got in results.report(r["id"]).metrics.items():
            if got is not None:
                out[m] = out.get(m, 0) + np.asarray(got.confusion)
    return out


def _marks(results: Results, members: list[dict], methods) -> list[str]:
    """Where a group's point values are degenerate: a bias set without some label, a
    label a method never predicts, RSD with fewer right answers than labels."""
    out = []
    for r in members:
        rep = results.report(r["id"])
        labels, rs = r["labels"], results.scores(r["id"])
        lacking = [labels[j] for j in range(len(labels)) if not (np.asarray(rs.bias_gold) == j).any()]
        if lacking:
            out.append(
                f"run {r['id']}: the bias set has no {', '.join(map(repr, lacking))} (BiasScore averages the"
                " labels it has)"
            )
        for m in methods:
            got = rep.metrics.get(m)
            if got is None:
                continue
            never = [labels[j] for j in range(len(labels)) if got.gold_share[j] > 0 and got.predicted_share[j] == 0]
            if never:
                out.append(f"run {r['id']} {m}: never predicts {', '.join(map(repr, never))}")
            right = int(np.trace(got.confusion))
            if right < int((got.gold_share > 0).sum()):
                out.append(
                    f"run {r['id']} {m}: RSD undefined ({right} right answers for"
                    f" {int((got.gold_share > 0).sum())} labels; the reference's rule gives {got.rsd:.3f})"
                )
    return out


def _group(key: tuple, v: tuple, members: list[dict], info: dict) -> "Group":
    pt, sm, n_test = v
    model, task, shots, scoring = key
    base = info["baselines"]
    sel = {m: x for m, x in info["selection"].items() if m in pt}
    rec = None
    if "none" in sel and "none" in pt:
        c = choice.choose({m: sel[m]["macro_f1"] for m in sel}, {m: sel[m]["bias_score"] for m in sel})
        lo, hi = bs.interval(sm[c.method]["macro_f1"])
        diff = interval = None
        if c.runner_up is not None:
            diff = float(pt[c.method]["macro_f1"] - pt[c.runner_up]["macro_f1"])
            interval = bs.interval(sm[c.method]["macro_f1"] - sm[c.runner_up]["macro_f1"])
        rec = Recommendation(
            c.method,
            choice.CHOSEN_ON,
            c.runner_up,
            diff,
            interval,
            choice.reading(c, interval, lo, baselines.better(base)),
            choice.RULE,
            float(pt[c.method]["macro_f1"]),
            lo,
            hi,
            c.best_f1 if c.disagree else None,
        )
    per = {}
    if rec is not None and rec.method in info["confusion"]:
        got = per_class(info["confusion"][rec.method])
        per = {
            lab: {k: (int(v[j]) if k == "support" else float(v[j])) for k, v in got.items()}
            for j, lab in enumerate(info["labels"])
        }
    return Group(model, task, shots, scoring, base, rec, tuple(info["marks"]), len(members), per)


def _spreads(members: list[dict], per_run: dict[int, dict], methods) -> dict[tuple[str, str], stability.Stats]:
    """(method, metric) -> its spread across (seed, ordering): each one's mean over the
    tasks in ``members``, for the seeds and orderings that every task has."""
    n_tasks = len({r["task_name"] for r in members})
    cells, values = [], []
    for m in methods:
        combos: dict[tuple, list[dict]] = defaultdict(list)  # (seed, ordering) -> its runs' values
        for r in members:
            if m in per_run[r["id"]]:
                combos[(r["seed"], r["demo_order"])].append(per_run[r["id"]][m])
        full = [got for got in combos.values() if len(got) == n_tasks]
        for metric in bs.KEYS:
            # a task group's combinations have one value each, which is their mean exactly
            cells.append((m, metric))
            values.append(
                [float(got[0][metric]) if len(got) == 1 else np.mean([float(x[metric]) for x in got]) for got in full]
            )
    by_size: dict[int, list[int]] = defaultdict(list)  # rows of one length are one array
    for i, v in enumerate(values):
        by_size[len(v)].append(i)
    out = {}
    for rows in by_size.values():
        for i, got in zip(rows, stability.stats_rows(np.array([values[i] for i in rows]))):
            out[cells[i]] = got
    return out


def _rows(key: tuple, v: tuple, members: list[dict], methods, per_run: dict[int, dict], against: str) -> list[Row]:
    model, task, shots, scoring = key
    pt, sm, n_test = v
    seeds = len({r["seed"] for r in members})
    orders = max(Counter((r["seed"], r["task_name"]) for r in members).values())
    asked, samples, keeps = [], [], []  # (method, metric, keep, paired); what bs.intervals takes
    for m in methods:
        if m not in pt:
            continue
        paired = m != against and against in pt
        for metric in bs.KEYS:
            keep = both = None
            if metric == "rsd":  # degenerate resamples are counted, never read as unbiased
                keep = sm[m][bs.UNDEFINED] == 0
                both = keep & (sm[against][bs.UNDEFINED] == 0) if paired else None
            asked.append((m, metric, keep, paired))
            samples.append(sm[m][metric])
            keeps.append(keep)
            if paired:
                samples.append(sm[m][metric] - sm[against][metric])
                keeps.append(both)
    got = iter(bs.intervals(samples, keeps))  # the value's interval, then the difference's if paired
    spreads = _spreads(members, per_run, [m for m in methods if m in pt])
    out = []
    for m, metric, keep, paired in asked:
        (lo, hi), (dlo, dhi) = next(got), (next(got) if paired else (None, None))
        diff = float(pt[m][metric] - pt[against][metric]) if paired else None
        degenerate = bool(pt[m][bs.UNDEFINED] > 0) if keep is not None else False
        undefined = float(1 - keep.mean()) if keep is not None else math.nan
        sp = spreads[m, metric]
        out.append(
            Row(
                model,
                task,
                shots,
                scoring,
                m,
                metric,
                float(pt[m][metric]),
                lo,
                hi,
                diff,
                dlo,
                dhi,
                seeds,
                n_test,
                tuple(sorted(r["id"] for r in members)),
                orders,
                sp.min if sp.n > 1 else math.nan,
                sp.max if sp.n > 1 else math.nan,
                sp.std,
                degenerate,
                undefined,
            )
        )
    return out


@dataclass(frozen=True)
class Recommendation:
    """Which method to use for a group, chosen on data it is not reported on (the rule:
    analysis/choice.py), with its test-set macro-F1 and the paired difference to the
    runner-up."""

    method: str
    chosen_on: str
    runner_up: str | None
    difference: float | None  # macro-F1, method minus runner-up, on the test set
    interval: tuple[float, float] | None
    reading: str  # one of choice.READINGS
    rule: str
    value: float  # the method's macro-F1 on the test set, with its interval
    lo: float
    hi: float
    best_f1: str | None = None  # where the goals disagree: the best macro-F1, more biased than none

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["interval"] = list(self.interval) if self.interval else None
        return d


@dataclass(frozen=True)
class Group:
    """One row group of a report: its baselines, recommendation and marks."""

    model: str
    task: str
    shots: int
    scoring: str
    baselines: dict  # {"chance": {"accuracy", "macro_f1"}, "majority": {...}}
    recommendation: Recommendation | None
    marks: tuple[str, ...]
    runs: int
    per_class: dict = field(default_factory=dict)  # the recommended method's {label: precision, recall, f1, support}

    @property
    def key(self) -> tuple:
        return (self.model, self.task, self.shots, self.scoring)

    def at_chance(self, row: Row) -> bool:
        """A macro-F1 interval that reaches the better of the two guessers."""
        return row.metric == "macro_f1" and row.lo <= baselines.better(self.baselines)

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "task": self.task,
            "shots": self.shots,
            "scoring": self.scoring,
            "runs": self.runs,
            "baselines": self.baselines,
            "recommendation": self.recommendation.as_dict() if self.recommendation else None,
            "marks": list(self.marks),
            "per_class": self.per_class,
        }


@dataclass(frozen=True)
class Summary:
    rows: list[Row]
    groups: list[Group]

    def group(self, model: str, task: str, shots: int, scoring: str) -> Group | None:
        return self._by_key.get((model, task, shots, scoring))

    @functools.cached_property
    def _by_key(self) -> dict[tuple, Group]:
        """The groups by key, built once: a report asks for every row's group, and a scan
        a lookup took 1.7 s of a profiled report over 840 groups. The first of a key, as a
        scan would find it."""
        out: dict[tuple, Group] = {}
        for g in self.groups:
            out.setdefault(g.key, g)
        return out
