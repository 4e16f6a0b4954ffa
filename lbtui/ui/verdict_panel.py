"""The verdict over the shown runs and the highlighted row's intervals: `lbtui report`'s
computation in worker threads, through the app's one Results service."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.css.query import NoMatches
from textual.widgets import (
    Static,
)

from ..report import verdict
from .rowtable import RowTable
from .messages import VerdictReady, while_open
from .consts import ROW_CI_DELAY
from . import heap


class VerdictPanel:
    """Part of LbtuiApp (ui/app.py): its state lives on the app."""

    def refresh_verdict(self, force: bool = False) -> None:
        """Ask for the verdict over the shown runs when they changed, or (``force``) when one
        of them finished."""
        key = tuple(self.view_runs)
        if self.store is None or (key == self.verdict_for and not force):
            return
        self.verdict_for = key
        self.verdict_seq += 1
        if self.view_runs:
            self.query_one("#verdict", Static).update(
                Text("Verdict: computing 95% bootstrap intervals...", style="dim")
            )
        # The table first: the verdict's bootstrap holds the GIL for seconds and would slow
        # the snapshot worker building the table of the same runs, so it starts once that
        # snapshot (asked for now, or at the next tick when a change waits) is shown.
        self.verdict_due = (list(self.view_runs), self.verdict_seq, self.requested + int(self.dirty))
        self.start_due_verdict()
        if force:
            self._request_row_ci()  # a run that finished has intervals now

    def start_due_verdict(self) -> None:
        """Start the verdict asked for last, once the snapshot it waits for is shown."""
        due = self.verdict_due
        if due is None or self.shown < due[2] or not self.is_running:
            return
        self.verdict_due = None
        self.compute_verdict(due[0], due[1])

    @work(thread=True, exit_on_error=False, group="verdict")
    def compute_verdict(self, run_ids: list[int], seq: int) -> None:
        """The same bootstrap as `lbtui report`, off the UI thread, through the app's Results."""
        with heap.quiet_build():
            got = verdict.build(self.results, run_ids)
        self.post_message(VerdictReady(seq, got))

    @while_open
    def on_verdict_ready(self, msg: VerdictReady) -> None:
        if msg.seq != self.verdict_seq:
            return  # overtaken by a newer request
        text = Text()
        if not msg.verdicts:
            text.append(
                "Verdict: appears once a run is finished (reorderings and label-word variants have their own views).",
                style="dim",
            )
        for v in msg.verdicts:
            head, *lines = verdict.describe(v)
            text.append(head + "\n", style="bold")
            for line in lines:
                rec = v.group.recommendation if v.group else None
                warn = line.startswith("  recommended") and rec is not None and rec.reading != "better"
                text.append(line + "\n", style="yellow" if warn else "")
        text.append(
            "[95% bootstrap intervals · within noise: the change's interval holds 0 · small: under"
            f" {verdict.SMALL} test · RSD, BiasScore: 0 is unbiased, except RSD marked † or undefined"
            " (fewer right answers than labels) · at chance: the macro-F1 interval reaches a guesser's]",
            style="dim",
        )
        self.query_one("#verdict", Static).update(text)

    def _request_row_ci(self) -> None:
        try:
            key = self.query_one("#per-run", RowTable).cursor_key
        except NoMatches:  # closing
            return
        if key:
            run_id, method = key.split(":")
            self.show_row_ci(int(run_id), method)

    @work(exclusive=True, exit_on_error=False, group="row-ci")
    async def show_row_ci(self, run_id: int, method: str) -> None:
        """The highlighted row's intervals: `lbtui report --run ID`'s bootstrap (drawn once a
        run, in the verdict's cache) in a thread. Each request cancels the one before, so
        while the cursor keeps moving nothing is computed; only where it stops."""
        await asyncio.sleep(ROW_CI_DELAY)
        text = await asyncio.to_thread(self._row_ci_text, run_id, method)
        try:
            self.query_one("#row-ci", Static).update(Text(text + "  [95% intervals; Δ against none]", style="dim"))
        except NoMatches:  # an answer that arrives while the app is closing
            pass

    def _row_ci_text(self, run_id: int, method: str) -> str:
        run = self.results.run(run_id)
        rows = verdict.run_rows(self.results, run_id, method) if run["status"] == "done" else []
        return verdict.describe_run(run, method, rows)
