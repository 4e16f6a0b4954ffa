"""Compare (F5): models side by side on the same tasks, the quantization ladder of a
model's variants and the runs under other label words."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from ...analysis.calibrations import METHODS
from ...analysis.metrics import PAPER, REGISTRY as METRICS
from ...report import views as analysis
from ...report.render import ladder_table, words_table
from ..format import fmt_num
from ..rowtable import Column, RowTable, Rows
from .base import BuildContext, Tab
from .rows import MethodRows


@dataclass(frozen=True)
class Comparison:
    table: MethodRows
    ladder: list[dict]
    words: list[dict]


class CompareTab(Tab):
    id, title, key, focus = "compare", "Compare", "f5", "#compare-table"
    command = ("Compare models", "Models side by side on the same tasks")

    def compose(self) -> ComposeResult:
        yield Label("Models side by side on the same tasks (mean over seeds)", classes="table-title")
        yield RowTable(id="compare-table")
        with VerticalScroll(id="compare-more"):  # ladder and label words, scrolled together
            yield Static(id="ladder-table")
            yield Static(id="words-table")

    def build(self, ctx: BuildContext) -> Comparison:
        models, rows = analysis.compare_rows(ctx.cache, ctx.run_ids, list(METHODS))
        cols = [Column("task"), Column("k", right=True), Column("method")]
        cols += [Column(f"{m[:18]} {METRICS[k].short}", right=True) for m in models for k in PAPER]
        cells = [
            (r["task"], str(r["shots"]), r["method"], *[fmt_num(r[(m, k)]) for m in models for k in PAPER])
            for r in rows
        ]
        keys = [f"{r['task']}:{r['shots']}:{r['method']}" for r in rows]
        return Comparison(
            MethodRows(Rows.build(cols, cells, keys), [r["method"] for r in rows]),
            analysis.ladder_rows(ctx.cache, ctx.run_ids, list(METHODS)),
            analysis.word_rows(ctx.cache, ctx.run_ids),
        )

    def show(self, app, data: Comparison, on: set[str]) -> None:
        methods = [m for m in METHODS if m in on]
        app.query_one("#compare-table", RowTable).show(data.table.only(on))
        ladder = app.query_one("#ladder-table", Static)
        ladder.display = bool(data.ladder)  # only when variants of one model (MODEL@TYPE) were run
        if data.ladder:
            ladder.update(ladder_table(data.ladder, methods))
        target = app.query_one("#words-table", Static)
        target.display = bool(data.words)  # only when tasks ran under other label words
        if data.words:
            target.update(words_table(data.words))
