"""What the visible tab shows, computed in a worker thread and handed to the UI whole.

A snapshot holds every calibration method's rows, already formatted as text, so that a
calibration toggle only filters rows on the UI thread and never waits for the store.
The builder owns its own store connection and result cache; one build runs at a time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..analysis.calibrations import METHODS
from ..analysis.metrics import PAPER, REGISTRY as METRICS
from ..analysis.results import HEADLINE, method_mark
from ..report import views as analysis
from ..report.render import STABILITY_KEYS, seed_label, spread_cell
from ..store import Store
from ..tasks.verbalizers import base_name, words_of
from .format import change_style, fmt_change, fmt_num
from .rowtable import Column, Rows, fit_widths


PLOT_METRICS = PAPER


def metric_columns(lead: tuple[str, ...]) -> list[Column]:
    cols = [Column(c, right=c in ("run", "k", "tasks", "runs", "test n", "seed", "n", "chance F1")) for c in lead] + [
        Column("method")
    ]
    for key in HEADLINE:
        cols.append(Column(METRICS[key].short, right=True))
        if key != "accuracy":
            cols.append(Column("Δ", right=True, style=change_style(key)))
    return cols


def metric_cells(row: dict) -> tuple[str, ...]:
    cells = [row["method"]]
    for key in HEADLINE:
        cells.append(fmt_num(row[key]))
        if key != "accuracy":
            cells.append(fmt_change(row["d_" + key]))
    return tuple(cells)


PER_RUN_LEAD = ("run", "model", "task", "k", "seed", "status")
MEAN_LEAD = ("model", "k", "scoring", "tasks", "runs", "test n", "chance F1")
HISTORY_HEADS = (
    "run",
    "model",
    "task",
    "words",
    "k",
    "seed",
    "test n",
    "scoring",
    "status",
    "scored",
    "seconds",
    "created",
)
HISTORY_COLUMNS = [Column(c, right=c in ("run", "k", "test n", "scored", "seconds")) for c in HISTORY_HEADS]
# Past runs' sort orders (s cycles them): a name and the key of a run record
HISTORY_SORTS: tuple[tuple[str, Callable[[dict], Any]], ...] = (
    ("newest", lambda r: -r["id"]),
    ("model", lambda r: (r["model_name"], r["task_name"], r["shots"], r["id"])),
    ("task", lambda r: (r["task_name"], r["model_name"], r["shots"], r["id"])),
    ("k", lambda r: (r["shots"], r["id"])),
    ("status", lambda r: (r["status"], -r["id"])),
)
STABILITY_LEAD = ("model", "task", "k", "across", "n", "method")


@dataclass(frozen=True)
class MethodRows:
    """Rows of every method, with each row's method: ``only(on)`` keeps the toggled ones."""

    rows: Rows
    methods: list[str]
    repeat_blank: int = 0  # leading columns left blank when equal to the row above's

    def only(self, on: set[str]) -> Rows:
        keep = [i for i, m in enumerate(self.methods) if m in on]
        sub = self.rows.subset(keep)
        if not self.repeat_blank:
            return sub
        n, prev, out = self.repeat_blank, None, []
        for row in sub.rows:
            head = row[:n]
            out.append(("",) * n + row[n:] if head == prev else row)
            prev = head
        return Rows(sub.columns, out, sub.keys, sub.widths)


@dataclass
class Snapshot:
    tab: str
    seq: int
    run_ids: list[int]
    unanalysed: list[int] = field(default_factory=list)
    mean: MethodRows | None = None
    per_run: MethodRows | None = None
    history: Rows | None = None
    compare: MethodRows | None = None
    ladder: list[dict] = field(default_factory=list)
    words: list[dict] = field(default_factory=list)
    stability: MethodRows | None = None
    curves: dict[str, dict[str, list]] = field(default_factory=dict)  # metric -> method -> (k, mean)
    bands: dict[str, dict[str, list]] = field(default_factory=dict)  # metric -> method -> (k, mean, min, max)


class SnapshotBuilder:
    """Builds snapshots from the store, in a worker thread. Formatted per-run rows are kept
    per run and rebuilt only when that run's results change."""

    def __init__(self, db: Path, trace: Callable[[str], None] | None = None):
        self.store = Store(db, create=False)
        if trace is not None:
            self.store.db.conn.set_trace_callback(trace)
        self.cache = analysis.ResultCache(self.store)
        self.lock = threading.Lock()
        self._run_rows: dict[int, tuple] = {}  # run -> (its results, rows, keys, column widths)

    def close(self) -> None:
        with self.lock:
            self.store.close()

    def build(
        self,
        tab: str,
        run_ids: list[int],
        seq: int,
        stale: Callable[[], bool] = lambda: False,
        history: tuple[str, int] = ("", 0),
    ) -> Snapshot | None:
        """What ``tab`` shows; None when ``stale()`` says, once this build's turn comes, that a
        newer request has made it moot."""
        with self.lock:
            if stale():
                return None
            snap = Snapshot(tab, seq, list(run_ids))
            if tab == "history":
                snap.history = self._history(*history)
            else:
                self.cache.refresh(run_ids)
                snap.unanalysed = list(self.cache.unanalysed)
                if tab == "results":
                    snap.mean, snap.per_run = self._mean(run_ids), self._per_run(run_ids)
                elif tab == "plots":
                    for key in PLOT_METRICS:
                        snap.curves[key] = analysis.curves(self.cache, run_ids, list(METHODS), key)
                        snap.bands[key] = analysis.curve_bands(self.cache, run_ids, list(METHODS), key)
                elif tab == "compare":
                    snap.compare = self._compare(run_ids)
                    snap.ladder = analysis.ladder_rows(self.cache, run_ids, list(METHODS))
                    snap.words = analysis.word_rows(self.cache, run_ids)
                elif tab == "stability":
                    snap.stability = self._stability(run_ids)
            return snap

    def _mean(self, run_ids: list[int]) -> MethodRows:
        rows = analysis.mean_rows(self.cache, run_ids, list(METHODS))
        cells = [
            (
                r["model"],
                str(r["shots"]),
                r["scoring"],
                str(r["tasks"]),
                str(r["runs"]),
                f"{r['n_test']:,}",
                f"{r['chance_f1']:.3f}",
            )
            + metric_cells(r)
            for r in rows
        ]
        keys = [f"{r['model']}:{r['shots']}:{r['scoring']}:{r['limit']}:{r['method']}" for r in rows]
        return MethodRows(Rows.build(metric_columns(MEAN_LEAD), cells, keys), [r["method"] for r in rows])

    def _per_run(self, run_ids: list[int]) -> MethodRows:
        columns = metric_columns(PER_RUN_LEAD) + [Column("why —")]  # a method that cannot apply says why
        cells, keys, methods, widths = [], [], [], [0] * len(columns)
        for rid in run_ids:
            res = self.cache.get(rid)
            hit = self._run_rows.get(rid)
            if hit is None or hit[0] is not res:  # rows, keys and widths of a run change only with its results
                rows = [
                    (str(rid), r["model"], r["task"], str(r["shots"]), seed_label(r["seed"], r["order"]), r["status"])
                    + metric_cells(r)
                    + ((r["reason"] or "") if r["macro_f1"] is None else "",)
                    for r in analysis.per_run_rows(self.cache, [rid], list(METHODS))
                ]
                hit = self._run_rows[rid] = (res, rows, [f"{rid}:{m}" for m in METHODS], fit_widths(rows, len(columns)))
            cells += hit[1]
            keys += hit[2]
            methods += METHODS
            widths = [max(a, b) for a, b in zip(widths, hit[3])]
        return MethodRows(Rows.build(columns, cells, keys, widths), methods)

    def _history(self, query: str = "", sort: int = 0) -> Rows:
        """Every stored run, in sort order HISTORY_SORTS[sort], only those whose row holds
        every word of ``query`` (case-insensitive)."""
        runs = sorted(self.store.runs(), key=HISTORY_SORTS[sort % len(HISTORY_SORTS)][1])
        counts = self.store.score_counts([r["id"] for r in runs if r["status"] != "done"])
        sizes = self.store.test_sizes()
        words = query.lower().split()
        cells, keys = [], []
        for r in runs:
            n = r["n_items"] if r["status"] == "done" else counts.get(r["id"], 0)
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])) if r["created"] else ""
            row = (
                str(r["id"]),
                r["model_name"],
                base_name(r["task_name"]) + method_mark(r),
                words_of(r["task_name"]),
                str(r["shots"]),
                seed_label(r["seed"], r["demo_order"]),
                str(sizes.get(r["id"], "")),
                r["scoring"],
                r["status"],
                f"{n}/{r['n_items']}",
                f"{r['seconds'] or 0:.1f}",
                created,
            )
            if words and not all(w in " ".join(row).lower() for w in words):
                continue
            cells.append(row)
            keys.append(str(r["id"]))
        return Rows.build(HISTORY_COLUMNS, cells, keys)

    def _compare(self, run_ids: list[int]) -> MethodRows:
        models, rows = analysis.compare_rows(self.cache, run_ids, list(METHODS))
        cols = [Column("task"), Column("k", right=True), Column("method")]
        cols += [Column(f"{m[:18]} {METRICS[k].short}", right=True) for m in models for k in PLOT_METRICS]
        cells = [
            (r["task"], str(r["shots"]), r["method"], *[fmt_num(r[(m, k)]) for m in models for k in PLOT_METRICS])
            for r in rows
        ]
        keys = [f"{r['task']}:{r['shots']}:{r['method']}" for r in rows]
        return MethodRows(Rows.build(cols, cells, keys), [r["method"] for r in rows])

    def _stability(self, run_ids: list[int]) -> MethodRows:
        rows = analysis.stability_rows(self.cache, run_ids, list(METHODS))
        cols = [Column(c, right=c in ("k", "n")) for c in STABILITY_LEAD]
        cols += [Column(METRICS[k].short) for k in STABILITY_KEYS]
        cells = [
            (
                r["model"],
                r["task"],
                str(r["shots"]),
                r["across"],
                str(r["macro_f1"].n),
                r["method"],
                *[spread_cell(r[k]) for k in STABILITY_KEYS],
            )
            for r in rows
        ]
        keys = [f"{i}" for i in range(len(rows))]
        return MethodRows(Rows.build(cols, cells, keys), [r["method"] for r in rows], repeat_blank=5)
