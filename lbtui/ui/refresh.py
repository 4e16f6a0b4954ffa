"""Keeping the visible tab current: a timer asks, only when something changed (here or in
another process), for a snapshot that a worker builds from the store; finished runs'
metrics are computed once in another worker; the long-lived heap is frozen out of the
garbage collector's walks."""

from __future__ import annotations

import asyncio
import time

from textual import work
from textual.css.query import NoMatches
from textual.worker import WorkerCancelled, WorkerState, get_current_worker

from ..errors import UserError
from ..report import views as analysis
from ..store import Store
from .messages import Analysed, SnapshotReady, SnapshotSkipped, while_open
from . import heap
from .consts import FREEZE_STEP


class Refresh:
    """Part of LbtuiApp (ui/app.py): its state lives on the app."""

    def redraw(self) -> None:
        """Draw the progress lines, and ask a worker for a fresh snapshot of the visible tab
        when something changed (scores came in, a run finished, the shown runs changed)."""
        if self.views is None:
            return
        self._notice_other_writers()
        if not self.dirty:
            return
        tab = self.active_tab()
        if tab is None:  # a tick while the app closes
            return
        self.dirty = False
        try:
            self.draw_progress()
        except NoMatches:  # a tick that lands while the app tears its widgets down
            return
        self.requested += 1
        self.build_snapshot(tab, list(self.view_runs), self.requested)

    def _notice_other_writers(self) -> None:
        """Past runs and the shown runs follow writes by other processes (`lbtui run` in
        another terminal, a second app): SQLite's data_version changes when another
        connection commits, a cheap check each tick."""
        try:
            version = self.store.data_version()
        except UserError:  # a store locked for longer than the busy timeout: look again next tick
            return
        if version == self.data_version:
            return
        self.data_version = version
        self.dirty = True
        # Only shown runs not known finished are asked after (a finished run stays so), and
        # not this app's own (their progress messages bring their verdict): while the app's
        # audit commits, nothing is queried.
        waiting = [rid for rid in self.view_runs if rid not in self.done_shown and rid not in self.live]
        if waiting:
            self.check_finished(waiting)

    @work(thread=True, exclusive=True, exit_on_error=False, group="writers")
    def check_finished(self, waiting: list[int]) -> None:
        """Which of the shown runs finished in another process (read off the UI thread)."""
        finished = {rid for rid, status in self.store.statuses(waiting).items() if status == "done"}
        if finished:
            self.call_from_thread(self._finished_elsewhere, finished)

    def _finished_elsewhere(self, finished: set[int]) -> None:
        """A shown run finished elsewhere: its verdict is due."""
        self.done_shown |= finished
        self.refresh_verdict(force=True)

    @work(thread=True, exit_on_error=False, group="snapshot")
    def build_snapshot(self, tab: str, run_ids: list[int], seq: int) -> None:
        """Compute what ``tab`` shows from the store, off the UI thread. Builds queue on the
        builder's lock; one overtaken by a newer request while it waited does nothing (not
        cancelled: a cancelled worker fails whoever waits for the app's workers)."""
        with heap.quiet_build():
            snap = self.views.build(
                tab, run_ids, seq, stale=lambda: seq < self.requested, history=(self.history_filter, self.history_sort)
            )
        self.post_message(SnapshotReady(snap) if snap is not None else SnapshotSkipped(seq))

    def on_snapshot_skipped(self, msg: SnapshotSkipped) -> None:
        self.shown = max(self.shown, msg.seq)
        self.start_due_verdict()

    @while_open
    def on_snapshot_ready(self, msg: SnapshotReady) -> None:
        snap = msg.snapshot
        self.snapshots[snap.tab] = snap
        self.shown = max(self.shown, snap.seq)
        if snap.unanalysed and not any(w.group == "analyse" and w.is_running for w in self.workers):
            self.analyse(snap.unanalysed)
        if snap.tab == self.active_tab():
            self.show_snapshot()
        self.start_due_verdict()  # once the table is laid out
        if len(snap.run_ids) >= self.frozen_at + FREEZE_STEP:
            self.frozen_at = len(snap.run_ids)
            self.freeze_pending = True
            self.call_after_refresh(self._freeze_heap)

    @work(thread=True, exit_on_error=False, group="analyse")
    def analyse(self, run_ids: list[int]) -> None:
        """Compute and store the metrics of finished runs that have none yet (once per run;
        ProCa's mixtures and SC's fits are slow), telling the app every half second."""
        worker = get_current_worker()
        store = Store(self.db_path)
        last = time.monotonic()
        try:
            for rid in run_ids:
                if worker.is_cancelled:
                    return
                with heap.quiet_build():
                    analysis.analyse_finished(store, rid)
                if time.monotonic() - last > 0.5:
                    self.post_message(Analysed())
                    last = time.monotonic()
        finally:
            store.close()
            self.post_message(Analysed())

    def on_analysed(self, msg: Analysed) -> None:
        self.dirty = True

    def _freeze_heap(self) -> None:
        """Results and snapshots of many runs live for the session; a full collection would
        walk all of them (a UI stall). Collect everything once now (cycles frozen by earlier
        builds included), then keep what lives out of later walks; what it frees later is
        still freed by reference counting."""
        heap.collect_all()
        self.freeze_pending = False

    async def views_settled(self, timeout: float = 60) -> None:
        """Wait until the visible tab shows the store as it is now: no change waiting for a
        snapshot, no snapshot or analysis being computed (tests and `lbtui bench --app`)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            busy = any(w.group in ("snapshot", "analyse") and not w.is_finished for w in self.workers)
            if not busy and not self.dirty and self.shown == self.requested and not self.freeze_pending:
                return
            if self.dirty and not busy:
                self.redraw()
            await asyncio.sleep(0.01)
        raise TimeoutError("the app's views did not settle")

    async def workers_done(self, timeout: float = 600) -> None:
        """Wait until no worker runs and no verdict waits for its table, those started
        meanwhile included (a finished one's message can start the next: a snapshot, a
        verdict), for tests and `lbtui bench --app`; TimeoutError naming them at the
        deadline. As Textual's wait_for_complete, except that a worker a newer one of its
        exclusive group cancelled was superseded, not failed: it is waited past
        (wait_for_complete raises for it). A worker that failed still raises."""
        end = time.monotonic() + timeout
        while (running := [w for w in self.workers if not w.is_finished and w.state != WorkerState.PENDING]) or (
            self.verdict_due is not None and self.is_running
        ):
            if not running:  # a verdict waits for its snapshot, which the next tick asks for
                if time.monotonic() > end:
                    raise TimeoutError(f"a verdict still waited for its table after {timeout:g} s")
                await asyncio.sleep(0.01)
                continue
            for worker in running:
                try:
                    await asyncio.wait_for(worker.wait(), max(end - time.monotonic(), 0.001))
                except WorkerCancelled:
                    pass
                except asyncio.TimeoutError:
                    raise TimeoutError(f"workers still running after {timeout:g} s: {running}") from None
