"""Laying out the visible tab's newest snapshot on the UI thread (each tab lays out its
own: ui/tabs/), the plots' label bars and the progress line. Nothing here reads the store on the UI thread (the
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

from ..report.render import PlainTable as PlainRich, seed_label
from .format import bar, fmt_seconds
from .tabs import TABS


class Drawing:
    """Part of LbtuiApp (ui/app.py): its state lives on the app."""

    def show_snapshot(self) -> None:
        """Lay out the visible tab's newest snapshot under the calibrations toggled on."""
        tab = self.active_tab()
        snap = self.snapshots.get(tab)
        if snap is not None:
            TABS[tab].show(self, snap.data, set(self.methods()))

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
            f" ({escape(res.record['task_name'])}, k={res.record['shots']})"
        )
        t.add_column("label")
        methods = [m for m in methods if res.metrics.get(m) is not None]
        for m in methods:
            t.add_column(m.upper())
        for j, lab in enumerate(res.record["labels"]):
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
