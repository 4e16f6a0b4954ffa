"""Table rows shared by the tabs: the headline metric columns and rows of every
calibration method that a toggle filters on the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from ...analysis.metrics import REGISTRY as METRICS
from ...analysis.results import HEADLINE
from ..format import change_style, fmt_change, fmt_num
from ..rowtable import Column, Rows

RIGHT = ("run", "k", "tasks", "runs", "test n", "seed", "n", "chance F1")  # numeric lead columns


def metric_columns(lead: tuple[str, ...]) -> list[Column]:
    cols = [Column(c, right=c in RIGHT) for c in lead] + [Column("method")]
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
