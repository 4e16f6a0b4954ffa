"""Starting, stopping and following an audit: the request from the form, the scoring
worker (it owns the llama.cpp context and only posts messages) and what its messages
change."""

from __future__ import annotations

import re

from textual import work
from textual.widgets import (
    Button,
    Input,
    Select,
    SelectionList,
)
from textual.worker import Worker, WorkerState

from ..auditing.engine import Engine, Note
from ..auditing.selection import AuditRequest
from ..errors import Cancelled, UserError
from ..report import views as analysis
from ..store import Store
from .worker import AppProgress, EngineNote, RunProgress
from .messages import (
    AuditCancelled,
    AuditDone,
    AuditFailed,
    AuditFinished,
)


class AuditControl:
    """Part of LbtuiApp (ui/app.py): its state lives on the app."""

    def _request(self) -> AuditRequest:
        models = list(self.query_one("#models", SelectionList).selected)
        models += [p.strip() for p in self.query_one("#model-path", Input).value.split(",") if p.strip()]
        tasks = list(self.query_one("#tasks", SelectionList).selected)
        tasks += [p.strip() for p in self.query_one("#task-path", Input).value.split(",") if p.strip()]
        return AuditRequest.from_text(
            models=tuple(models),
            tasks=tuple(tasks),
            shots=self.query_one("#shots", Input).value,
            seeds=self.query_one("#seeds", Input).value,
            limit=self.query_one("#limit", Input).value,
            orders=self.query_one("#orders", Input).value,
            scoring=self.query_one("#scoring", Select).value,
            verbalizers=self.query_one("#verbalizers", Input).value.strip(),
            data=self.data,
        )

    def action_start(self, request: AuditRequest | None = None) -> None:
        if self.store is None:
            return
        if self.running:
            self.notify("An audit is running; ctrl+x stops it.", severity="warning")
            return
        try:
            request = request or self._request()
        except UserError as e:  # a field that is not a number: said at once, nothing started
            self.notify(form_words(str(e)), title="Cannot start", severity="error", timeout=30)
            return
        self.cancel_event.clear()
        self.running = True
        self.refresh_bindings()
        self.query_one("#start", Button).disabled = True
        self.audit(request)

    def action_cancel(self) -> None:
        if self.running and not self.cancel_event.is_set():
            self.cancel_event.set()
            self.draw_progress()  # "stopping..." at once, not at the next snapshot
            self.notify("Stopping after the current few inputs; what was scored is kept.")

    @work(thread=True, exclusive=True, exit_on_error=False, group="audit")
    def audit(self, request: AuditRequest) -> None:
        """The scoring thread: its own store connection; owns the llama.cpp context."""
        store = Store(self.db_path)
        engine = None
        ids: list[int] = []
        try:
            kwargs = {"backend_factory": self.backend_factory} if self.backend_factory else {}
            engine = Engine(store, progress=AppProgress(self), cancel=self.cancel_event, **kwargs)
            if request.resume is not None:  # one stored run, rebuilt from what the store holds
                ids = [engine.resume(request.resume)]
            else:
                ids = engine.execute(request.plans())
            for rid in ids:  # every method's metrics, fitted ones included, off the UI thread
                if store.run(rid)["status"] == "done" and not store.cached_metrics([rid], analysis.analysis_version()):
                    analysis.analyse_finished(store, rid)
            self.post_message(AuditDone(ids))
        except Cancelled:
            self.post_message(AuditCancelled(ids))
        except UserError as e:
            self.post_message(AuditFailed(ids, str(e)))
        finally:
            if engine is not None:
                engine.close()
            store.close()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "audit" and event.state == WorkerState.ERROR:
            self._audit_over()
            err = event.worker.error
            self.notify(f"Internal error: {type(err).__name__}: {err}", severity="error", timeout=30)

    def _audit_finished(self, msg: AuditFinished) -> None:
        self._audit_over()
        self.call_after_refresh(self.save_session)
        if self.stored_notes:
            self.notify(
                f"{self.stored_notes} run(s) were stored already: shown from the store, nothing evaluated.", timeout=6
            )
            self.stored_notes = 0
        for rid in msg.run_ids:
            if rid not in self.view_runs:
                self.view_runs.append(rid)
        self.dirty = True
        self.refresh_verdict(force=True)

    def on_audit_done(self, msg: AuditDone) -> None:
        self._audit_finished(msg)
        self.notify(f"Audit done: {len(msg.run_ids)} run(s).")

    def on_audit_cancelled(self, msg: AuditCancelled) -> None:
        self._audit_finished(msg)
        self.notify("Audit cancelled. Resume it from Past runs (u) or start it again.", severity="warning")

    def on_audit_failed(self, msg: AuditFailed) -> None:
        self._audit_finished(msg)
        self.notify(form_words(msg.error), title="Cannot start", severity="error", timeout=30)

    def _audit_over(self) -> None:
        self.running = False
        self.refresh_bindings()
        self.query_one("#start", Button).disabled = False

    def on_run_progress(self, msg: RunProgress) -> None:
        self.live[msg.handle.id] = (msg.handle, msg.rate)
        if msg.handle.id not in self.view_runs:
            self.view_runs.append(msg.handle.id)
        self.dirty = True
        if msg.handle.status == "done":
            self.refresh_verdict(force=True)

    def on_engine_note(self, msg: EngineNote) -> None:
        if msg.kind == Note.STORED:  # one summary at the end, not a notice per run
            self.stored_notes += 1
            return
        if msg.kind == Note.WARNING:  # about the data: it stays until read
            self.notify(msg.text, title="Data", severity="warning", timeout=20)
            return
        self.notify(msg.text, timeout=4)


# The setup form's names for the options an error may name (errors speak the CLI's words).
FORM_FIELDS = {
    "--shots": "Shots",
    "--seeds": "Seeds",
    "--orders": "Orders",
    "--limit": "Test size",
    "--verbalizers": "Other label words",
    "--task": "Tasks",
    "--model": "Models",
    "--scoring": "Scoring",
}


def form_words(message: str) -> str:
    for option, field in FORM_FIELDS.items():
        message = re.sub(rf"(?<![\w-]){re.escape(option)}(?![\w-])", field, message)
    return message
