"""Laying out a tab's newest snapshot on the UI thread: tables, plots, label bars, the
compare tab and the progress line. Nothing here reads the store on the UI thread (the
label bars, which follow the cursor, are read in a worker)."""

from __future__ import annotations


from rich.console import Group
from rich.markup import escape
from rich.text import Text
from textual import work
from textual.css.query import NoMatches
from textual.widgets import (
    Static,
)
from textual_plotext import PlotextPlot

from ..report.render import PlainTable as PlainRich, ladder_table, seed_label, words_table
from .format import METRIC_TITLES, bar, fmt_seconds

STABILITY_EMPTY = (
    "How findings vary across demonstrations: start an audit with Seeds > 1 (other demonstrations) or"
    " Orders > 1 (the same demonstrations reordered); finished runs show here as mean ± std [min, max]."
)
from .rowtable import RowTable
from .snapshot import PLOT_METRICS, Snapshot
from .consts import RICH_COLORS, method_color


class Drawing:
    """Part of LbtuiApp (ui/app.py): its state lives on the app."""

    def show_snapshot(self) -> None:
        """Lay out the visible tab's newest snapshot under the calibrations toggled on."""
        tab = self.active_tab()
        snap = self.snapshots.get(tab)
        if snap is None:
            return
        on = set(self.methods())
        if tab == "results":
            mean = self.query_one("#mean", RowTable)
            # As tall as every method's rows (at most 14 lines): a toggle never re-lays out the screen.
            height = min(len(snap.mean.methods) + 1, 14)
            if mean.styles.height is None or mean.styles.height.value != height:
                mean.styles.height = height
            mean.show(snap.mean.only(on))
            self.query_one("#per-run", RowTable).show(snap.per_run.only(on))
        elif tab == "plots":
            self.draw_plots(snap)
            self.draw_label_bars()
        elif tab == "history":
            self.query_one("#history-table", RowTable).show(snap.history)
        elif tab == "compare":
            self.draw_compare(snap)
        elif tab == "stability":
            rows = snap.stability.only(on)
            self.query_one("#stability-table", RowTable).show(rows)
            self.query_one("#stability-hint", Static).update(
                Text(
                    "Mean ± std [min, max] across demonstration seeds and orderings." if rows.rows else STABILITY_EMPTY,
                    style="dim",
                )
            )

    def draw_progress(self) -> None:
        if not self.live:
            self.query_one("#progress", Static).update(
                Text("No audit running. Choose models and tasks, then ctrl+r.", style="dim")
            )
            return
        handles = list(self.live.values())
        current = next((h for h, _ in reversed(handles) if h.status == "running"), handles[-1][0])
        head = Text()
        if self.running and self.cancel_event.is_set():
            head.append("stopping... after the current few inputs; what was scored is kept", style="bold yellow")
        elif self.running:
            head.append(f"run {current.index} of {current.count}", style="bold")
            if current.phase:
                head.append(f" · {current.phase}")
            audit = current.audit
            if audit is not None and audit.total:
                left = audit.seconds_left()
                head.append(
                    f" · audit {audit.done}/{audit.total} inputs"
                    + (f", about {fmt_seconds(left)} left" if left is not None else ", estimating...")
                    + " · ctrl+x stops",
                    style="dim",
                )
        t = PlainRich.grid(padding=(0, 1))
        for handle, rate in handles[-5:]:
            left = (handle.total - handle.done) / rate if rate > 0 else None
            eta = fmt_seconds(left) + " left" if left is not None and handle.status == "running" else handle.status
            t.add_row(
                f"run {handle.id} {handle.task} k={handle.shots} s{seed_label(handle.seed, handle.order)}",
                bar(handle.done / max(handle.total, 1), 20, "green"),
                f"{handle.done}/{handle.total}",
                f"{rate:.1f}/s",
                eta,
            )
        self.query_one("#progress", Static).update(Group(head, t) if head else t)

    def draw_plots(self, snap: Snapshot) -> None:
        methods = self.methods()
        legend = Text()
        drawn = [m for m in methods if any(snap.curves.get(key, {}).get(m) for key in PLOT_METRICS)]
        for m in drawn:
            color = method_color(m)
            legend.append("━━ ", style=RICH_COLORS.get(color, color)).append(f"{m.upper()}   ")
        if any(b[3] > b[2] for key in PLOT_METRICS for m in drawn for b in snap.bands.get(key, {}).get(m, [])):
            legend.append("··· range across seeds and orderings", style="dim")
        self.query_one("#plot-legend", Static).update(legend)
        for key in PLOT_METRICS:
            widget = self.query_one(f"#plot-{key}", PlotextPlot)
            plt = widget.plt
            plt.clear_data()
            plt.clear_figure()
            plt.title(f"{METRIC_TITLES[key]} against shots")
            plt.xlabel("k")
            spread = snap.bands.get(key, {})
            for m in methods:
                pts = snap.curves.get(key, {}).get(m)
                if not pts:
                    continue
                color = method_color(m)
                plt.plot(
                    [p[0] for p in pts], [p[1] for p in pts], marker="dot", color=color
                )  # no label: no legend inside
                band = [b for b in spread.get(m, []) if b[3] > b[2]]
                if band:  # several seeds or orderings: their range as a band of two faint lines
                    for j in (2, 3):
                        plt.plot([b[0] for b in band], [b[j] for b in band], marker="·", color=color)
            widget.refresh()

    def draw_label_bars(self) -> None:
        run_id = self.highlighted_run or (self.view_runs[0] if self.view_runs else None)
        try:
            target = self.query_one("#label-bars", Static)
        except NoMatches:  # a highlight event that arrives while the app is closing
            return
        if run_id is None:
            target.update(Text("Per-label shares appear here once a run has scores.", style="dim"))
            return
        # Each snapshot lands here: read again only when the run, the methods or what is
        # known of the run changed, or while this app scores it (a worker each snapshot of
        # an audit stalled the UI by some 25 ms at 2,511 runs).
        handle = self.live.get(run_id)
        status = handle[0].status if handle else None  # this app's own audit: the run's state
        key = (run_id, tuple(self.methods()), run_id in self.done_shown, status)
        if status == "running":
            key = None  # scoring: read at every snapshot, and once more when it ends
        elif key == self.label_bars_key:
            return
        self.label_bars_key = key
        self.load_label_bars(run_id, self.methods())

    @work(thread=True, exclusive=True, group="label-bars", exit_on_error=False)
    def load_label_bars(self, run_id: int, methods: list[str]) -> None:
        """The highlighted run's bars, read from its results in a worker (the one part of
        a tab that is not in its snapshot: it follows the cursor), then shown."""
        res = self.cache.get(run_id)
        t = PlainRich(
            title=f"Predicted (magenta) against gold (cyan) share, run {run_id}"
            f" ({escape(res.run['task_name'])}, k={res.run['shots']})"
        )
        t.add_column("label")
        methods = [m for m in methods if res.metrics.get(m) is not None]
        for m in methods:
            t.add_column(m.upper())
        for j, lab in enumerate(res.run["labels"]):
            cells = []
            for m in methods:
                met = res.metrics[m]
                cells.append(
                    Text.assemble(
                        bar(met.predicted_share[j], 12, "magenta"),
                        f" {met.predicted_share[j]:.2f}\n",
                        bar(met.gold_share[j], 12, "cyan"),
                        f" {met.gold_share[j]:.2f}",
                    )
                )
            t.add_row(lab, *cells)
        self.call_from_thread(self._show_label_bars, t)

    def _show_label_bars(self, table) -> None:
        try:
            self.query_one("#label-bars", Static).update(table)
        except NoMatches:  # closing
            pass

    def draw_compare(self, snap: Snapshot) -> None:
        methods = self.methods()
        self.query_one("#compare-table", RowTable).show(snap.compare.only(set(methods)))
        ladder = self.query_one("#ladder-table", Static)
        ladder.display = bool(snap.ladder)  # only when variants of one model (MODEL@TYPE) were run
        if snap.ladder:
            ladder.update(ladder_table(snap.ladder, methods))
        target = self.query_one("#words-table", Static)
        target.display = bool(snap.words)  # only when tasks ran under other label words
        if snap.words:
            target.update(words_table(snap.words))
