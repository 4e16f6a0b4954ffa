"""The app's verdict: the best method per model and shots, from `lbtui report`'s rows."""

import math

import numpy as np
import pytest

from lbtui.report.summary import MEAN_TASK, Row
from lbtui.report.verdict import verdicts, describe


def row(task, method, metric, value, diff=None, lo=None, hi=None, n=60, runs=(1,)):
    return Row("m", task, 4, "full", method, metric, value, value - 0.1, value + 0.1, diff, lo, hi, 1, n, runs)


def test_the_best_method_comes_from_the_mean_over_tasks_with_its_interval():
    rows = []
    for task, n in (("a", 60), ("b", 30), (MEAN_TASK, 90)):
        rows += [
            row(task, "none", "macro_f1", 0.50, n=n),
            row(task, "cc", "macro_f1", 0.70 if task == MEAN_TASK else 0.9, 0.20, 0.05, 0.35, n=n),
            row(task, "bc", "macro_f1", 0.60, 0.10, -0.02, 0.22, n=n),
            row(task, "none", "bias_score", 0.40, n=n),
            row(task, "cc", "bias_score", 0.30, -0.10, -0.20, 0.01, n=n),
            row(task, "bc", "bias_score", math.nan, n=n),
        ]
    (v,) = verdicts(rows)
    assert (v.tasks, v.n_test, v.small) == (2, 90, True)
    assert v.f1.method == "cc" and v.f1.value == 0.70 and not v.f1.within_noise  # [+0.05, +0.35] excludes 0
    assert v.bias.method == "cc" and v.bias.within_noise  # lowest BiasScore, but [-0.20, +0.01] holds 0
    head, f1, bias = describe(v)  # rows without a summary: no recommendation lines
    assert head == "m k=4 full · 2 tasks · 90 test (small)"
    assert f1 == "  best macro-F1 cc 0.700 [0.600, 0.800], +0.200 vs none [+0.050, +0.350]"
    assert bias.endswith("within noise")


def test_one_task_and_none_best():
    rows = [
        row("a", "none", "macro_f1", 0.8, n=200),
        row("a", "cc", "macro_f1", 0.7, -0.1, -0.2, 0.0, n=200),
        row("a", "none", "bias_score", 0.1, n=200),
        row("a", "cc", "bias_score", 0.2, 0.1, 0.0, 0.2, n=200),
    ]
    (v,) = verdicts(rows)
    assert v.tasks == 1 and not v.small and v.f1.method == "none" and v.f1.within_noise
    assert "no calibration does better" in describe(v)[1]


def test_a_run_s_bootstrap_is_drawn_once_however_often_the_verdict_is_asked(fake_audit, monkeypatch):
    """The app asks for the verdict each time a run finishes; earlier runs' resamples come
    from the cache, and the answer is the same as without it."""
    from lbtui.analysis import bootstrap as bs
    from lbtui.report import verdict
    from lbtui.results import Results

    ids = fake_audit.run(["reviews", "tickets"], limit=20)
    store = fake_audit.store
    drawn = []
    real = bs.point_and_resample_many

    def counted(rps, *a, **k):
        drawn.extend([k.get("resamples")] * len(rps))  # one entry a run drawn
        return real(rps, *a, **k)

    monkeypatch.setattr(bs, "point_and_resample_many", counted)
    results = Results(store)
    first = verdict.build(results, ids[:1], resamples=50)
    both = verdict.build(results, ids, resamples=50)
    assert [n for n in drawn if n] == [50, 50] and len(first) == 1  # one run, then only the new one
    assert both == verdict.build(Results(store), ids, resamples=50)


def test_draws_and_selections_made_in_batches_are_those_made_one_run_at_a_time(fake_audit):
    """``Results.draw_all`` draws runs of one test set together and makes their selections
    (the bias set's point values) with the calibrated bias sets it already has: every
    number is the one a run drawn alone gives, and its selection the single-run path's
    (asked for before anything is drawn)."""
    from lbtui.results import Results

    ids = fake_audit.run(["reviews", "tickets"], seeds=[0, 1], limit=20)
    batched, alone = Results(fake_audit.store), Results(fake_audit.store)
    batched.draw_all(ids, resamples=40, seed=3)
    for i in ids:
        assert batched.selection(i) == alone.selection(i) and batched.selection(i)
        a, b = (
            batched.draws(i, resamples=40, seed=3),
            alone.draws(i, resamples=40, seed=3),
        )
        assert a[0] == b[0] and a[2] == b[2]
        for m in b[1]:
            for key, v in b[1][m].items():
                assert np.array_equal(a[1][m][key], v), (i, m, key)


def test_a_finished_run_s_record_is_read_from_the_store_once(fake_audit, monkeypatch):
    """A report asks for a run's record many times (its stream, status, labels); a finished
    run's is read once, one being scored afresh each time (its status still changes)."""
    from lbtui.report import summary
    from lbtui.results import Results

    ids = fake_audit.run(["reviews", "tickets"], limit=20)
    store = fake_audit.store
    reads = []
    real = type(store).run

    def counted(self, run_id):
        reads.append(run_id)
        return real(self, run_id)

    monkeypatch.setattr(type(store), "run", counted)
    results = Results(store)
    summary.summarize(results, [results.run(i) for i in ids], resamples=20)
    assert sorted(reads) == sorted(ids)  # each once
    store.update_run(ids[0], status="running")
    reads.clear()
    fresh = Results(store)
    assert fresh.run(ids[0])["status"] == "running" and fresh.run(ids[0])["status"] == "running"
    assert reads == [ids[0], ids[0]]


def test_a_summary_finds_each_group_by_its_key_without_a_scan_a_lookup(fake_audit, monkeypatch):
    """A report looks up every row's group: each is found by its key (None for a key it
    lacks), and the groups' keys are read once for all lookups, not once a lookup."""
    from lbtui.report import summary
    from lbtui.results import Results

    ids = fake_audit.run(["reviews", "tickets"], shots=[0, 2], limit=20)
    results = Results(fake_audit.store)
    got = summary.summarize(results, [results.run(i) for i in ids], resamples=20)
    reads = []
    real = summary.Group.key

    monkeypatch.setattr(summary.Group, "key", property(lambda g: reads.append(g) or real.fget(g)))
    for _ in range(3):
        for g in got.groups:
            assert got.group(*g.key) is g
    assert got.group("no such model", "reviews", 0, got.groups[0].scoring) is None
    assert len(got.groups) >= 6 and len(reads) == 3 * len(got.groups) + len(
        got.groups
    )  # the lookups' own, then the index once


def test_the_tables_read_stored_metrics_without_the_fitted_calibrations(fake_audit):
    """The tables show metrics, not the fitted calibrations stored beside them: SQLite
    leaves those out of what is parsed, and everything else is the payload as stored. A
    payload that is not JSON fails as it did when read whole."""
    import json

    from lbtui.analysis.results import analysis_version
    from lbtui.report.views import ResultCache
    from lbtui.results import Results

    ids = fake_audit.run(["reviews"], seeds=[0, 1], limit=20)
    store, version = fake_audit.store, analysis_version()
    Results(store).report(ids[0]), Results(store).report(ids[1])  # analysed: their payloads stored
    whole = store.cached_metrics(ids, version)
    lean = store.cached_metrics(ids, version, calibrations=False)
    assert set(whole) == set(ids) and all(whole[i]["calibrations"] for i in ids)
    assert lean == {i: {k: v for k, v in whole[i].items() if k != "calibrations"} for i in ids}
    cache = ResultCache(store)
    cache.refresh(ids)
    assert {i: cache.get(i).metrics["proca"].macro_f1 for i in ids} == {
        i: whole[i]["metrics"]["proca"]["macro_f1"] for i in ids
    }
    store.db.execute("UPDATE run_metrics SET payload = '{not json' WHERE run_id = ?", [ids[1]])
    with pytest.raises(json.JSONDecodeError):
        store.cached_metrics(ids, version, calibrations=False)
