"""Past runs (F4): every stored run, filtered and sorted; its keys (add, remove, resume,
sort, filter) are the app's (ui/past_runs.py)."""

from __future__ import annotations

import time
from typing import Any, Callable

from textual.app import ComposeResult
from textual.widgets import Input, Static

from ...analysis.results import method_mark
from ...report.render import seed_label
from ...tasks.verbalizers import base_name, words_of
from ..rowtable import Column, RowTable, Rows
from ..tables import HistoryTable
from .base import BuildContext, Tab

HEADS = ("run", "model", "task", "words", "k", "seed", "test n", "scoring", "status", "scored", "seconds", "created")
COLUMNS = [Column(c, right=c in ("run", "k", "test n", "scored", "seconds")) for c in HEADS]
# Past runs' sort orders (s cycles them): a name and the key of a run record
SORTS: tuple[tuple[str, Callable[[dict], Any]], ...] = (
    ("newest", lambda r: -r["id"]),
    ("model", lambda r: (r["model_name"], r["task_name"], r["shots"], r["id"])),
    ("task", lambda r: (r["task_name"], r["model_name"], r["shots"], r["id"])),
    ("k", lambda r: (r["shots"], r["id"])),
    ("status", lambda r: (r["status"], -r["id"])),
)


class HistoryTab(Tab):
    id, title, key, focus = "history", "Past runs", "f4", "#history-table"
    command = ("Show past runs", "Every run in the store")
    analysed = False  # the store's run list, not the shown runs' results

    def compose(self) -> ComposeResult:
        yield Static(id="history-hint")
        yield Input(
            placeholder="filter: words every shown run holds (Enter applies, Escape clears)", id="history-filter"
        )
        yield HistoryTable(id="history-table")

    def build(self, ctx: BuildContext) -> Rows:
        """Every stored run, in sort order SORTS[sort], only those whose row holds every word
        of the filter (case-insensitive)."""
        query, sort = ctx.history
        runs = sorted(ctx.store.runs(), key=SORTS[sort % len(SORTS)][1])
        counts = ctx.store.score_counts([r["id"] for r in runs if r["status"] != "done"])
        sizes = ctx.store.test_sizes()
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
        return Rows.build(COLUMNS, cells, keys)

    def show(self, app, data: Rows, on: set[str]) -> None:
        app.query_one("#history-table", RowTable).show(data)


def scored_in_row(data: Rows, key: str) -> int:
    """How many of a run's inputs are scored, as its row in the table shows it."""
    row = data.rows[list(data.keys).index(key)]
    return int(row[HEADS.index("scored")].split("/")[0])
