"""Stability (F6): mean ± std [min, max] of each metric across demonstration seeds and
orderings."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from ...analysis.calibrations import METHODS
from ...analysis.metrics import REGISTRY as METRICS
from ...report import views as analysis
from ...report.render import STABILITY_KEYS, spread_cell
from ..rowtable import Column, RowTable, Rows
from .base import BuildContext, Tab
from .rows import MethodRows

LEAD = ("model", "task", "k", "across", "n", "method")
EMPTY = (
    "How findings vary across demonstrations: start an audit with Seeds > 1 (other demonstrations) or"
    " Orders > 1 (the same demonstrations reordered); finished runs show here as mean ± std [min, max]."
)


class StabilityTab(Tab):
    id, title, key, focus = "stability", "Stability", "f6", "#stability-table"

    def compose(self) -> ComposeResult:
        yield Static(id="stability-hint")
        yield RowTable(id="stability-table")

    def build(self, ctx: BuildContext) -> MethodRows:
        rows = analysis.stability_rows(ctx.cache, ctx.run_ids, list(METHODS))
        cols = [Column(c, right=c in ("k", "n")) for c in LEAD]
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

    def show(self, app, data: MethodRows, on: set[str]) -> None:
        rows = data.only(on)
        app.query_one("#stability-table", RowTable).show(rows)
        hint = "Mean ± std [min, max] across demonstration seeds and orderings." if rows.rows else EMPTY
        app.query_one("#stability-hint", Static).update(Text(hint, style="dim"))
