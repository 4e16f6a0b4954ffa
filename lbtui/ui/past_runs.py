"""The Past runs tab's keys: add runs to the results or take them out, resume one, sort
and filter the list (the table itself comes from the snapshot worker)."""

from __future__ import annotations


from rich.text import Text
from textual.widgets import (
    Input,
    Static,
)

from ..auditing.selection import AuditRequest
from .rowtable import RowTable
from .tabs.history import SORTS as HISTORY_SORTS


class PastRuns:
    """Part of LbtuiApp (ui/app.py): its state lives on the app."""

    def _history_run(self) -> dict | None:
        key = self.query_one("#history-table", RowTable).cursor_key
        return self.store.run(int(key)) if key is not None else None

    def action_add_past_run(self) -> None:
        run = self._history_run()
        if run and run["id"] not in self.view_runs:
            self.view_runs.append(run["id"])
            self.dirty = True
            self.refresh_verdict()
            self.save_session()
            self.notify(f"run {run['id']} added to the results")

    def action_resume_past_run(self) -> None:
        run = self._history_run()
        if not run:
            return
        if run["status"] == "done":
            self.notify(f"run {run['id']} is complete", severity="information")
            return
        self.action_start(AuditRequest(resume=run["id"]))

    def action_add_shown_past_runs(self) -> None:
        keys = self.query_one("#history-table", RowTable).keys()
        new = [int(k) for k in keys if int(k) not in self.view_runs]
        self.view_runs.extend(new)
        self.dirty = True
        self.refresh_verdict()
        self.save_session()
        self.notify(f"{len(new)} run(s) added to the results" if new else "every shown run is in the results already")

    def _remove_from_results(self, run_ids: list[int]) -> None:
        """Take runs out of the Results tab (and the verdict, plots, exports); the store keeps them."""
        gone = [r for r in run_ids if r in self.view_runs]
        if not gone:
            self.notify(
                "no shown run in the results" if len(run_ids) != 1 else f"run {run_ids[0]} is not in the results"
            )
            return
        self.view_runs = [r for r in self.view_runs if r not in set(gone)]
        self.dirty = True
        self.refresh_verdict()
        self.save_session()
        self.notify(f"{len(gone)} run(s) removed from the results (the store keeps them; Past runs can add them back)")

    def action_remove_shown_run(self) -> None:
        key = self.query_one("#per-run", RowTable).cursor_key
        if key is not None:
            self._remove_from_results([int(key.split(":")[0])])

    def action_remove_past_run(self) -> None:
        run = self._history_run()
        if run:
            self._remove_from_results([run["id"]])

    def action_remove_shown_past_runs(self) -> None:
        self._remove_from_results([int(k) for k in self.query_one("#history-table", RowTable).keys()])

    def _history_changed(self) -> None:
        name = HISTORY_SORTS[self.history_sort % len(HISTORY_SORTS)][0]
        hint = f"sorted by {name} (s sorts) · / filters" + (f": {self.history_filter!r}" if self.history_filter else "")
        self.query_one("#history-hint", Static).update(
            Text(
                hint
                + " · enter opens a run; a adds it to the results, A every shown run; x removes it, X every shown run;"
                " u resumes",
                style="dim",
            )
        )
        self.dirty = True

    def action_filter_history(self) -> None:
        self.query_one("#history-filter", Input).focus()

    def on_key(self, event) -> None:
        # Escape in the past-runs filter clears it and goes back to the table.
        if self.focused is self.query_one("#history-filter", Input) and event.key == "escape":
            self.query_one("#history-filter", Input).value = ""
            self.history_filter = ""
            self._history_changed()
            self.query_one("#history-table", RowTable).focus()
            event.stop()

    def action_sort_history(self) -> None:
        self.history_sort = (self.history_sort + 1) % len(HISTORY_SORTS)
        self._history_changed()
