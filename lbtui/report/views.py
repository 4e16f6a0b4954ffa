"""What the app shows, computed from the store: tables of metrics per run and averaged,
curves against shots, comparisons and a run's details. The UI only lays these out.

Metrics of a run are cached and recomputed only when its stored scores or status
change, so toggling calibrations over many runs costs no recomputation at all; a
finished run's metrics are computed once, off the UI thread, and kept in the store.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..analysis import baselines, calibrations as cal
from ..analysis.metrics import Metrics, predict, softmax
from ..analysis.results import HEADLINE, analysis_version, evaluate_run, method_mark, metrics_from_payload
from ..results import Run, report, run_scores
from ..store import Store
from ..tasks.verbalizers import base_name


ANALYSING = "being analysed"  # the reason shown while a finished run's metrics are computed off the UI thread


def analyse_finished(store: Store, run_id: int) -> None:
    """Compute a finished run's metrics under every method (fitted ones included) and keep
    them in the store, as the engine's report does: once per run, in a worker, never on the
    UI thread."""
    report(store, run_id)


class ResultCache:
    """Metrics of the runs on screen. ``refresh`` reads the state of every shown run in one
    or two queries; ``get`` then answers from memory. Finished runs' metrics come from the
    store (computed once by ``analyse_finished``); a finished run not analysed yet shows
    as ANALYSING until a worker has done it. Runs being scored are evaluated here (a few
    at a time, prior methods only)."""

    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[int, Run] = {}
        self._state: dict[int, tuple[dict, int]] = {}
        self.unanalysed: list[int] = []  # finished runs shown whose metrics are not stored yet

    def refresh(self, run_ids: list[int]) -> None:
        self._state = self.store.run_states(list(run_ids), {rid: st[0] for rid, st in self._state.items()})
        stale = [
            rid
            for rid, (run, n) in self._state.items()
            if rid not in self._cache
            or self._cache[rid].n_scored != n
            or self._cache[rid].record["status"] != run["status"]
            or (run["status"] == "done" and ANALYSING in self._cache[rid].reasons.values())
        ]
        done = [rid for rid in stale if self._state[rid][0]["status"] == "done"]
        stored = self.store.cached_metrics(done, analysis_version(), calibrations=False) if done else {}
        for rid in done:
            run, n = self._state[rid]
            if rid in stored:
                metrics, reasons = metrics_from_payload(stored[rid])
            else:
                metrics, reasons = {m: None for m in cal.METHODS}, {m: ANALYSING for m in cal.METHODS}
            self._cache[rid] = Run(run, metrics, reasons, n_scored=n)
        self.unanalysed = [rid for rid in done if rid not in stored]

    def get(self, run_id: int) -> Run:
        if run_id in self._state:
            run, n = self._state[run_id]
        else:
            run, n = self.store.run(run_id), self.store.count_scores(run_id)
        hit = self._cache.get(run_id)
        # A status change counts too: a run seen "running" with all its scores in gets its
        # fitted calibrations once it is done.
        if hit and hit.n_scored == n and hit.record["status"] == run["status"]:
            return hit
        if run["status"] == "done":
            stored = self.store.cached_metrics([run_id], analysis_version())
            if run_id not in stored:  # asked for outside a refresh (the drill-down): analyse now
                analyse_finished(self.store, run_id)
                stored = self.store.cached_metrics([run_id], analysis_version())
            metrics, reasons = metrics_from_payload(stored[run_id])
            result = Run(run, metrics, reasons, n_scored=n)
        else:
            rs = run_scores(self.store, run_id)
            if len(rs.test) == 0:
                metrics, reasons = {m: None for m in cal.METHODS}, {}
            else:
                # Fitting a mixture at every redraw would stall the UI; fitted methods wait.
                metrics, reasons = _partial_safe(rs, [m for m in cal.METHODS if m not in cal.SLOW])
                for m in cal.SLOW:
                    metrics[m] = None
                    reasons[m] = "fitted when the run is complete"
            result = Run(run, metrics, reasons, n_scored=n)
        self._cache[run_id] = result
        return result


WAITING = "waits for its inputs (the run is still scoring)"


def _partial_safe(rs, methods=cal.METHODS):
    """Metrics of a run still being scored: methods whose inputs are not all in yet are
    left out rather than shown on a partial prior. A method whose inputs have not arrived
    says that it waits, not why it could never apply (a k = 4 run without its leave-one-out
    scores yet is not a run with fewer than 2 demonstrations)."""
    metrics, reasons = evaluate_run(rs, methods)
    if len(rs.bias) == 0:
        metrics = {m: None for m in metrics}
    for m in methods:
        if metrics.get(m) is None and any(len(getattr(rs, s)) == 0 for s in cal.REGISTRY[m].needs):
            reasons[m] = WAITING
    return metrics, reasons


def delta(m: Metrics | None, base: Metrics | None, key: str) -> float | None:
    if m is None or base is None:
        return None
    return getattr(m, key) - getattr(base, key)


def per_run_rows(cache: ResultCache, run_ids: list[int], methods: list[str]) -> list[dict]:
    """One row per (run, method) with the headline metrics and each one's change against none."""
    rows = []
    for rid in run_ids:
        res = cache.get(rid)
        r = res.record
        for m in methods:
            met = res.metrics.get(m)
            base = res.metrics.get("none")
            status = r["status"] if r["status"] == "done" else f"{r['status']} {res.n_scored}/{r['n_items']}"
            row = {
                "run_id": rid,
                "model": r["model_name"],
                "task": r["task_name"] + method_mark(r),
                "shots": r["shots"],
                "seed": r["seed"],
                "order": r["demo_order"],
                "status": status,
                "method": m,
            }
            for key in HEADLINE:
                row[key] = None if met is None else getattr(met, key)
                row["d_" + key] = None if m == "none" else delta(met, base, key)
            row["reason"] = res.reasons.get(m)
            rows.append(row)
    return rows


def in_mean(run: dict) -> bool:
    """Whether a run counts in the headline mean over tasks: finished, with the drawn order
    of its demonstrations and the task's own label words (reorderings and label-word
    variants have their own views and are not extra tasks)."""
    return run["status"] == "done" and not run.get("demo_order") and base_name(run["task_name"]) == run["task_name"]


def mean_group(run: dict) -> tuple:
    """What a mean over tasks never pools across: model, shots, scoring mode, the scoring
    rules' version (METHOD_VERSION) and --limit (label-word variants and reorderings are
    not ``in_mean`` at all). The report and the verdict group the same way."""
    return (run["model_name"], run["shots"], run["scoring"], run.get("method_version") or 1, run["limit_"])


def mean_rows(cache: ResultCache, run_ids: list[int], methods: list[str]) -> list[dict]:
    """Per (model, shots, scoring, method version, limit) and method: the unweighted mean
    over tasks of each task's mean over seeds, as the paper reports; with the change
    against none. Only runs ``in_mean``; each row says how many tasks, runs and test
    examples stand behind it."""
    groups: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for rid in run_ids:
        res = cache.get(rid)
        if in_mean(res.record) and res.metrics.get("none") is not None:
            groups[mean_group(res.record)][res.record["task_name"]].append(res.metrics)
    rows = []
    for (model, shots, scoring, version, limit), by_task in groups.items():
        means = {m: _mean_over_tasks(by_task, m) for m in set(methods) | {"none"}}
        runs = [x for r in by_task.values() for x in r]
        n_test = sum(int(x["none"].confusion.sum()) for x in runs)
        mark = method_mark({"method_version": version}).strip()
        # what the macro-F1 must beat: the better guesser's, averaged over the tasks as they are
        chance = math.fsum(baselines.better(baselines.of_shares(r[0]["none"].gold_share)) for r in by_task.values())
        chance /= len(by_task)
        for m in methods:
            row = {
                "model": model,
                "shots": shots,
                "scoring": scoring + (f" {mark}" if mark else ""),
                "limit": limit,
                "method": m,
                "tasks": len(by_task),
                "runs": len(runs),
                "n_test": n_test,
                "chance_f1": chance,
            }
            for key in HEADLINE:
                v, b = means[m].get(key), means["none"].get(key)
                row[key] = v
                row["d_" + key] = None if m == "none" or v is None or b is None else v - b
            rows.append(row)
    return rows


def _mean_over_tasks(by_task: dict[str, list], method: str) -> dict[str, float]:
    out = {}
    for key in HEADLINE:
        per_task = []
        for runs in by_task.values():
            vals = [getattr(x[method], key) for x in runs if x.get(method) is not None]
            if vals:  # plain float means: numpy's per-call cost dominates on lists this short
                per_task.append(math.fsum(vals) / len(vals))
        out[key] = math.fsum(per_task) / len(per_task) if per_task else None
    return out


def curves(cache: ResultCache, run_ids: list[int], methods: list[str], key: str) -> dict[str, list[tuple[int, float]]]:
    """For a plot of ``key`` against shots: per method, (k, mean over tasks and seeds)."""
    out: dict[str, list[tuple[int, float]]] = {}
    rows = mean_rows(cache, run_ids, methods)
    for m in methods:
        pts = defaultdict(list)
        for r in rows:
            if r["method"] == m and r[key] is not None:
                pts[r["shots"]].append(r[key])
        out[m] = sorted((k, float(np.mean(v))) for k, v in pts.items())
    return out


def compare_rows(cache: ResultCache, run_ids: list[int], methods: list[str]) -> tuple[list[str], list[dict]]:
    """Models side by side: per (task, shots, method), each model's mean over seeds."""
    cells: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    models: list[str] = []
    for rid in run_ids:
        res = cache.get(rid)
        r = res.record
        if r["model_name"] not in models:
            models.append(r["model_name"])
        for m in methods:
            if res.metrics.get(m) is not None:
                cells[(r["task_name"], r["shots"], m)][r["model_name"]].append(res.metrics[m])
    rows = []
    for (task, shots, m), by_model in sorted(
        cells.items(), key=lambda kv: (kv[0][0], kv[0][1], methods.index(kv[0][2]))
    ):
        row = {"task": task, "shots": shots, "method": m}
        for model in models:
            got = by_model.get(model, [])
            for key in HEADLINE:
                row[(model, key)] = float(np.mean([getattr(x, key) for x in got])) if got else None
        rows.append(row)
    return models, rows


@dataclass(frozen=True)
class RunDetail:
    run: dict
    labels: list[str]
    method: str
    metrics: Metrics | None
    reason: str | None
    examples: list[dict]  # test examples: id, text, gold, pred, probs (calibrated)
    prompt: str
    prior: list[float] | None


def run_detail(cache: ResultCache, run_id: int, method: str) -> RunDetail:
    res = cache.get(run_id)
    run = res.record
    labels = run["labels"]
    rs = run_scores(cache.store, run_id)
    test = cache.store.scored_set(run_id, "test")
    from ..analysis.results import calibrators

    # The same p -> q map the metrics were computed with: a finished run's as kept in the
    # store (fitted ones are never fitted again here); a running run's prior methods.
    calib = None
    if len(rs.test) and res.metrics.get(method) is not None:
        calib = (
            report(cache.store, run_id).calibrations if run["status"] == "done" else calibrators(rs, [method])[0]
        ).get(method)
    probs = calib(softmax(rs.test)) if calib is not None else np.zeros((0, len(labels)))
    preds = predict(probs) if len(probs) else np.zeros(0, dtype=int)
    examples = [
        {
            "id": eid,
            "text": text,
            "gold": labels[g] if g >= 0 else None,
            "pred": labels[p],
            "correct": bool(g == p),
            "probs": [float(x) for x in pr],
        }
        for eid, text, g, p, pr in zip(test.example_ids, test.texts, test.gold, preds, probs)
    ]
    prior = calib.prior if calib is not None and method != "none" else None  # a fitted map has none
    return RunDetail(
        run=run,
        labels=labels,
        method=method,
        metrics=res.metrics.get(method),
        reason=res.reasons.get(method),
        examples=examples,
        prompt=run.get("prompt_prefix") or "",
        prior=None if prior is None else [float(x) for x in prior],
    )


def run_diagnosis(cache: ResultCache, run_id: int) -> tuple[dict, dict, dict]:
    """Where a run's bias comes from (lbtui.analysis.diagnose): its priors, majority and recency."""
    from ..analysis import diagnose

    rs = run_scores(cache.store, run_id)
    return cache.store.run(run_id), diagnose.prior_table(rs), diagnose.demo_effects(rs)


def stability_rows(cache: ResultCache, run_ids: list[int], methods: list[str]) -> list[dict]:
    """Spread across seeds and orderings (lbtui.analysis.stability) of the finished runs shown."""
    from ..analysis.stability import spread_rows

    done = [cache.get(rid) for rid in run_ids]
    return spread_rows([(res.record, res.metrics) for res in done if res.record["status"] == "done"], methods)


def curve_bands(
    cache: ResultCache, run_ids: list[int], methods: list[str], key: str
) -> dict[str, list[tuple[int, float, float, float]]]:
    """For the plots: per method, (k, mean, min, max) across (seed, ordering)."""
    from ..analysis.stability import bands

    return bands([(res.record, res.metrics) for res in (cache.get(rid) for rid in run_ids)], methods, key)


def ladder_rows(cache: ResultCache, run_ids: list[int], methods: list[str]) -> list[dict]:
    """Quantized variants of a model side by side, by bits per weight (lbtui.analysis.ladder)."""
    from ..analysis.ladder import rows

    return rows([(res.record, res.metrics) for res in (cache.get(rid) for rid in run_ids)], methods)


def word_rows(cache: ResultCache, run_ids: list[int]) -> list[dict]:
    """Tasks run under other label words (lbtui.tasks.verbalizers), beside their original words:
    only the tasks that have such variants among the finished runs shown."""
    from ..tasks.verbalizers import word_rows as rows

    done = [cache.get(rid) for rid in run_ids]
    done = [res for res in done if res.record["status"] == "done" and res.metrics.get("none") is not None]
    varied = {base_name(res.record["task_name"]) for res in done if "[" in res.record["task_name"]}
    return rows([res for res in done if base_name(res.record["task_name"]) in varied])
