"""Results (F2): the verdict, the mean over tasks per model and shots, and one row per run
and method."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from ...analysis.calibrations import METHODS
from ...report import views as analysis
from ...report.render import seed_label
from ..rowtable import Column, RowTable, Rows, fit_widths
from ..tables import RunTable
from .base import BuildContext, Tab
from .rows import MethodRows, metric_cells, metric_columns

PER_RUN_LEAD = ("run", "model", "task", "k", "seed", "status")
MEAN_LEAD = ("model", "k", "scoring", "tasks", "runs", "test n", "chance F1")


@dataclass(frozen=True)
class ResultsRows:
    mean: MethodRows
    per_run: MethodRows


class ResultsTab(Tab):
    id, title, key, focus = "results", "Results", "f2", "#per-run"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="verdict-box"):  # focusable: every group's verdict scrolls into view
            yield Static(id="verdict")
        yield Label("Mean across tasks (and seeds), per model and shots", classes="table-title")
        yield RowTable(id="mean")
        yield Label("Per run (enter opens a run)", classes="table-title")
        yield RunTable(id="per-run")
        yield Static(id="row-ci")

    def build(self, ctx: BuildContext) -> ResultsRows:
        return ResultsRows(self._mean(ctx), self._per_run(ctx))

    def show(self, app, data: ResultsRows, on: set[str]) -> None:
        mean = app.query_one("#mean", RowTable)
        # As tall as every method's rows (at most 14 lines): a toggle never re-lays out the screen.
        height = min(len(data.mean.methods) + 1, 14)
        if mean.styles.height is None or mean.styles.height.value != height:
            mean.styles.height = height
        mean.show(data.mean.only(on))
        app.query_one("#per-run", RowTable).show(data.per_run.only(on))

    def _mean(self, ctx: BuildContext) -> MethodRows:
        rows = analysis.mean_rows(ctx.cache, ctx.run_ids, list(METHODS))
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

    def _per_run(self, ctx: BuildContext) -> MethodRows:
        """Formatted rows, keys and widths are kept per run (``ctx.memo``) and made again
        only when that run's results change."""
        columns = metric_columns(PER_RUN_LEAD) + [Column("why —")]  # a method that cannot apply says why
        cells, keys, methods, widths = [], [], [], [0] * len(columns)
        for rid in ctx.run_ids:
            res = ctx.cache.get(rid)
            hit = ctx.memo.get(rid)
            if hit is None or hit[0] is not res:
                rows = [
                    (str(rid), r["model"], r["task"], str(r["shots"]), seed_label(r["seed"], r["order"]), r["status"])
                    + metric_cells(r)
                    + ((r["reason"] or "") if r["macro_f1"] is None else "",)
                    for r in analysis.per_run_rows(ctx.cache, [rid], list(METHODS))
                ]
                hit = ctx.memo[rid] = (res, rows, [f"{rid}:{m}" for m in METHODS], fit_widths(rows, len(columns)))
            cells += hit[1]
            keys += hit[2]
            methods += METHODS
            widths = [max(a, b) for a, b in zip(widths, hit[3])]
        return MethodRows(Rows.build(columns, cells, keys, widths), methods)
