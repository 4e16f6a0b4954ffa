"""``Results``: one thread-safe service over one store that turns a run's stored scores
into its fitted calibrations, its metrics under every method and its bootstrap draws,
behind one cache with one key rule: (what, run id, analysis version, options).

A finished run's calibrations are fitted once and kept in the store beside its metrics
(``run_metrics``), so no report, classifier or view fits ProCa or SC again for the same
run and analysis version; a run still being scored is read afresh each time."""

from __future__ import annotations

import threading
import zlib

import numpy as np
from typing import Any, Callable

from ..analysis import bootstrap as bs
from ..analysis.calibrations import METHODS, Calibration, fit_all
from ..analysis.metrics import softmax
from ..analysis.results import (
    analysis_version,
    calibrations_from_payload,
    evaluate_with,
    method_mark,
    metrics_from_payload,
    metrics_payload,
)
from ..errors import RunError, UserError
from ..store import RunStatus, Store, owner_alive
from ..types import RunScores
from .run import Run


def run_scores(store: Store, run_id: int, record: dict | None = None) -> RunScores:
    """A run's raw (N, K) scores of every set, with the gold labels where known (each row
    checked as it is read; a finished run must hold every input it planned). ``record``:
    the run's record where the caller has it."""
    run = record or store.run(run_id)
    k = len(run["labels"])
    s = store.set_scores(run_id, k)  # name -> (gold, scores)
    store.check_done(run, sum(len(gold) for gold, _ in s.values()))
    return RunScores(
        k=k,
        test=s["test"][1].reshape(-1, k),
        test_gold=s["test"][0],
        bias=s["bias"][1].reshape(-1, k),
        bias_gold=s["bias"][0],
        cc=s["cc"][1].reshape(-1, k),
        dc=s["dc"][1].reshape(-1, k),
        looc=s["looc"][1].reshape(-1, k),
        looc_gold=s["looc"][0],
    )


def not_done(run: dict) -> str:
    """Why a run has no report yet, and what to do: wait for the process scoring it, or
    resume it."""
    if run["status"] == RunStatus.RUNNING and run.get("owner") and owner_alive(run["owner"], run.get("heartbeat")):
        return f"run {run['id']} is being scored by another process; it has a report when that finishes"
    return f"run {run['id']} is {run['status']}, not done; run it again to resume"


class Results:
    """The read side of one store. Thread-safe: the app's workers share one instance; its
    lock serialises the store's connection, and the arithmetic runs outside it."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.RLock()
        self._cache: dict[tuple, Any] = {}

    def _cached(self, what: str, run_id: int, options: tuple, make: Callable[[], Any]) -> Any:
        """The one cache: finished runs only (a running run's scores still change)."""
        key = _key(what, run_id, options)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = make()
        with self._lock:
            return self._cache.setdefault(key, value)

    def close(self) -> None:
        """Close the store once no worker is reading it (a connection closed under a
        running query would crash the process)."""
        with self._lock:
            self.store.close()

    def run(self, run_id: int) -> dict:
        """A run's record: a finished run's read once (it no longer changes), another's
        afresh each time."""
        key = _key("run", run_id, ())
        with self._lock:
            if key not in self._cache:
                run = self.store.run(run_id)
                if run["status"] != RunStatus.DONE:
                    return run
                self._cache[key] = run
            return self._cache[key]

    def scores(self, run_id: int) -> RunScores:
        """A run's raw scores: read once for a finished run, afresh for one being scored."""
        with self._lock:
            run = self.run(run_id)
            if run["status"] != RunStatus.DONE:
                return run_scores(self.store, run_id, run)
        return self._cached("scores", run_id, (), lambda: self._read_scores(run))

    def _read_scores(self, run: dict) -> RunScores:
        with self._lock:
            return run_scores(self.store, run["id"], run)

    def selection(self, run_id: int) -> dict[str, dict[str, float]]:
        """Each method's macro-F1 and BiasScore on the run's labelled bias set (held out
        from the test set): what a recommendation is chosen on (analysis.choice)."""

        def make():
            rp = self.probs(run_id).on_bias()
            return _selection(bs.point(rp, METHODS))

        return self._cached("selection", run_id, (), make) if len(self.scores(run_id).bias) else {}

    def report(self, run_id: int) -> Run:
        """A finished run's metrics and calibrations: read from the store where kept, else
        fitted once and kept (when the store is writable)."""
        run = self.run(run_id)
        if run["status"] != RunStatus.DONE:
            raise RunError(not_done(run))
        return self._cached("report", run_id, (), lambda: self._report(run))

    def _report(self, run: dict) -> Run:
        version = analysis_version()
        with self._lock:
            stored = self.store.cached_metrics([run["id"]], version)
        if run["id"] in stored:
            p = stored[run["id"]]
            return Run(run, *metrics_from_payload(p), calibrations_from_payload(p), run["n_items"])
        rs = self.scores(run["id"])
        calibrations, reasons = fit_all(rs)
        metrics = evaluate_with(rs, calibrations)
        if not self.store.readonly:
            with self._lock:
                self.store.put_metrics(run["id"], version, metrics_payload(metrics, reasons, calibrations))
        return Run(run, metrics, reasons, calibrations, run["n_items"])

    def calibration(self, run_id: int, method: str) -> Calibration:
        """The calibration the run's metrics used for ``method``; refused in one line, with
        the reason the tables show, where it does not apply."""
        if method not in METHODS:
            raise UserError("--method", f"unknown method {method!r} ({', '.join(METHODS)})")
        rep = self.report(run_id)
        if method not in rep.calibrations:
            raise UserError(
                "--method", f"{method} does not apply to run {run_id}: {rep.reasons.get(method, 'no calibration')}"
            )
        return rep.calibrations[method]

    def probs(self, run_id: int) -> bs.RunProbs:
        """What the bootstrap resamples: the run's probabilities and its kept calibrations."""
        rs = self.scores(run_id)
        return bs.RunProbs(
            rs.k, softmax(rs.test), rs.test_gold, softmax(rs.bias), rs.bias_gold, self.report(run_id).calibrations
        )

    def draws(self, run_id: int, *, resamples: int, seed: int, methods=METHODS) -> tuple[dict, dict, int]:
        """A finished run's point values, its bootstrap resamples (on its ``draw_stream``)
        and its test size, drawn once per (resamples, seed, methods): ``draw_all`` of one run
        unless drawn already."""
        key = _key("draws", run_id, (resamples, seed, draw_stream(self.run(run_id)), tuple(methods)))
        self.draw_all([run_id], resamples=resamples, seed=seed, methods=methods)
        with self._lock:
            return self._cache[key]

    def draw_all(self, run_ids: list[int], *, resamples: int, seed: int, methods=METHODS) -> None:
        """``draws`` of many finished runs (each on its ``draw_stream``), those that share
        their resamples (one stream, label count, test set and bias set size) in one batch:
        the same numbers as one at a time, without a pass of array work a run."""
        options = lambda stream: (resamples, seed, stream, tuple(methods))  # noqa: E731
        batches: dict[tuple, list[tuple[int, bs.RunProbs]]] = {}
        chosen_on: dict[tuple, list[tuple[int, bs.RunProbs]]] = {}  # the selections not yet made
        for run_id in run_ids:
            stream = draw_stream(self.run(run_id))
            with self._lock:
                if _key("draws", run_id, options(stream)) in self._cache:
                    continue
                selected = _key("selection", run_id, ()) in self._cache
            rp = self.probs(run_id)
            share = (stream, rp.k, len(rp.test), len(rp.bias), np.asarray(rp.test_gold).tobytes())
            batches.setdefault(share, []).append((run_id, rp))
            if not selected and len(rp.bias):
                on = rp.on_bias()  # shares rp's calibrated bias set
                chosen_on.setdefault((rp.k, len(on.test), on.test_gold.tobytes()), []).append((run_id, on))
        for (stream, *_), members in batches.items():
            self._put_all("draws", members, options(stream), methods, resamples, seed, stream)
        for members in chosen_on.values():
            self._put_all("selection", members, (), METHODS, 0, 0, 0)

    def _put_all(self, what, members, options, methods, resamples, seed, stream) -> None:
        """Draw ``members`` (runs that share their resamples) in batches and keep each
        run's draws, or its selection (its point values on the bias set)."""
        for at in range(0, len(members), BATCH):
            part = members[at : at + BATCH]
            rps = [rp for _, rp in part]
            got = bs.point_and_resample_many(rps, methods, resamples=resamples, seed=seed, stream=stream)
            with self._lock:
                for (run_id, rp), (pt, sample) in zip(part, got):
                    value = (pt, sample, len(rp.test)) if what == "draws" else _selection(pt)
                    self._cache.setdefault(_key(what, run_id, options), value)

    def intervals(self, run_id: int, method: str, *, resamples: int = bs.RESAMPLES, seed: int = 0) -> dict:
        """One run and method's headline metrics with their 95% intervals, as `lbtui report
        --run ID` gives them (the same draws): {metric: {value, lo, hi}}."""
        point, sample, _ = self.draws(run_id, resamples=resamples, seed=seed)
        out = {}
        for key in bs.KEYS:
            lo, hi = bs.interval(sample[method][key])
            out[key] = {"value": point[method][key], "lo": lo, "hi": hi}
        return out


BATCH = 16  # runs drawn together at most: their arrays are (resamples, runs x methods, K, K)


def _selection(point: dict) -> dict[str, dict[str, float]]:
    """What a recommendation is chosen on, of each method's point values on the bias set."""
    return {m: {"macro_f1": v["macro_f1"], "bias_score": v["bias_score"]} for m, v in point.items()}


def _key(what: str, run_id: int, options: tuple) -> tuple:
    """The cache's one key rule."""
    return (what, run_id, analysis_version(), options)


def draw_stream(run: dict) -> int:
    """Which bootstrap stream a run's resamples come from: its task (seeds of a task share
    their test draws, so differences between them are paired; tasks do not)."""
    return zlib.crc32((run["task_name"] + method_mark(run)).encode())


def report(store: Store, run_id: int) -> Run:
    """One finished run's report (see ``Results.report``), for callers without a service."""
    return Results(store).report(run_id)
