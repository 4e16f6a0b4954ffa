"""The lbtui terminal app. Scoring runs in one thread worker that owns the llama.cpp
context and only posts Messages; the app's handlers own the state. A timer asks, at a
steady rate and only when something changed, for a snapshot of the visible tab; a
worker builds it from the store (ui/snapshot.py) and the UI thread only lays it out."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from rich.console import Group
from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Button, Checkbox, Footer, Header, Input, Label, Select, SelectionList, Static, TabbedContent, TabPane,
)
from textual.worker import Worker, WorkerState, get_current_worker
from textual_plotext import PlotextPlot

from .. import models as model_registry, paths
from ..analysis.calibrations import METHODS
from ..auditing.engine import Engine, RunHandle
from ..auditing.selection import AuditRequest
from ..backends import hardware_summary
from ..errors import Cancelled, UserError
from ..report import verdict, views as analysis
from ..report.render import PlainTable as PlainRich, ladder_table, seed_label, words_table
from ..results import Results
from ..store import Store
from ..tasks import catalog
from ..tasks.taskfile import DataOptions
from .format import METRIC_TITLES, bar, fmt_seconds
from .rowtable import RowTable
from .screens import ExportScreen, HelpScreen, RunScreen
from .snapshot import HISTORY_SORTS, PLOT_METRICS, Snapshot, SnapshotBuilder
from .worker import AppProgress, EngineNote, RunProgress


REDRAW_SECONDS = 0.25
SESSION_KEY = "app_session"  # the store's meta row holding what the app showed and the form
DEFAULT_FORM = {"shots": "0,4,8", "seeds": "1", "orders": "1", "limit": "100", "scoring": "full", "verbalizers": ""}
# Shown runs past which the long-lived heap is frozen out of the garbage collector's full
# walks: at 2,511 runs one walk stalls the UI thread for 140 ms.
FREEZE_STEP = 200
SETUP_MIN_WIDTH = 120  # below it the setup form folds away by itself
ROW_CI_DELAY = 0.1  # seconds the per-run cursor rests before its row's intervals are computed
TAB_FOCUS = {"results": "#per-run", "history": "#history-table", "compare": "#compare-table", "stability": "#stability-table"}
PLOT_COLORS = ("blue", "red", "green", "orange", "magenta", "cyan", "yellow")  # one per method, band and line alike
RICH_COLORS = {"orange": "dark_orange"}  # plotext's colour names that Rich spells otherwise
TABS = Binding.Group("tabs")


def method_color(method: str) -> str:
    """A method's plot colour, kept when others are toggled (its line, band and legend)."""
    return PLOT_COLORS[METHODS.index(method) % len(PLOT_COLORS)]


class AuditFinished(Message):
    """The audit worker's outcome: AuditDone, AuditCancelled or AuditFailed."""

    def __init__(self, run_ids: list[int]):
        super().__init__()
        self.run_ids = run_ids


class AuditDone(AuditFinished):
    pass


class AuditCancelled(AuditFinished):
    pass


class AuditFailed(AuditFinished):
    def __init__(self, run_ids: list[int], error: str):
        super().__init__(run_ids)
        self.error = error


class Analysed(Message):
    """The analysis worker stored the metrics of more finished runs."""


class SnapshotSkipped(Message):
    """A snapshot request overtaken by a newer one before its build began."""

    def __init__(self, seq: int):
        super().__init__()
        self.seq = seq


class VerdictReady(Message):
    """The verdict worker's answer for the shown runs of request ``seq``."""

    def __init__(self, seq: int, verdicts: list):
        super().__init__()
        self.seq = seq
        self.verdicts = verdicts


class RunTable(RowTable):
    """The per-run table; its keys show in the footer while it has focus."""

    BINDINGS = [Binding("enter", "select", "Open run"), Binding("x", "app.remove_shown_run", "Remove run")]


class HistoryTable(RowTable):
    """Past runs; its keys show in the footer while it has focus."""

    BINDINGS = [
        Binding("enter", "select", "Open", show=False),  # the tab's hint says so; the footer is full
        Binding("a", "app.add_past_run", "Add"),
        Binding("A", "app.add_shown_past_runs", "Add all", show=False),  # A and X: the tab's hint names them
        Binding("x", "app.remove_past_run", "Remove"),
        Binding("X", "app.remove_shown_past_runs", "Remove all", show=False),
        Binding("u", "app.resume_past_run", "Resume"),
        Binding("s", "app.sort_history", "Sort"),
        Binding("slash", "app.filter_history", "Filter"),
    ]


class SnapshotReady(Message):
    def __init__(self, snapshot: Snapshot):
        super().__init__()
        self.snapshot = snapshot


class LbtuiApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "lbtui: label bias audit"

    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+x", "cancel", "Stop audit", priority=True),  # Escape only ever goes back
        *[Binding(str(i + 1), f"toggle_method('{m}')", f"{m.upper()}", show=False) for i, m in enumerate(METHODS)],
        # The tab bar names the tabs; the footer groups their keys so the focused view's fit.
        Binding("f2", "tab('results')", "Results", group=TABS),
        Binding("f3", "tab('plots')", "Plots", group=TABS),
        Binding("f4", "tab('history')", "Past runs", group=TABS),
        Binding("f5", "tab('compare')", "Compare", group=TABS),
        Binding("f6", "tab('stability')", "Stability", group=TABS),
        Binding("m", "cycle_plot_metric", "Plot metric"),  # shown on the Plots tab only (check_action)
        Binding("ctrl+b", "toggle_setup", "Setup", priority=True),
        Binding("ctrl+e", "export_view", "Export", priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self, *, db: Path, models: list[str] | None = None, tasks: list[str] | None = None, shots: str = "0,4,8",
        seeds: str = "1", limit: str = "100", scoring: str = "full", autostart: bool = False, orders: str = "1",
        backend_factory: Callable | None = None, data: DataOptions | None = None,
    ):
        super().__init__()
        self.db_path = db
        self.preset = {"models": models or [], "tasks": tasks or [], "shots": shots, "seeds": seeds, "limit": limit, "scoring": scoring,
                       "orders": orders}
        self.autostart = autostart
        self.data = data or DataOptions()  # --data-dir, --text-field ... from the command line
        self.backend_factory = backend_factory
        self.store: Store | None = None
        self.cache: analysis.ResultCache | None = None
        self.view_runs: list[int] = []
        self.methods_on = {m: True for m in METHODS}
        self.live: dict[int, tuple[RunHandle, float]] = {}
        self.cancel_event = threading.Event()
        self.dirty = True
        self.plot_metric = 0
        self.history_filter, self.history_sort = "", 0  # Past runs: / filters, s sorts
        self.verdict_for: tuple | None = None  # the shown runs the verdict was asked for
        self.setup_hidden_by_user = False
        self.verdict_seq = 0
        self.results: Results | None = None  # the read side for the verdict, row intervals and exports (workers)
        self.running = False
        self.highlighted_run: int | None = None
        self.views: SnapshotBuilder | None = None
        self.sql_trace: Callable[[str], None] | None = None  # the snapshot builder's SQL, for `lbtui bench --app`
        self.snapshots: dict[str, Snapshot] = {}  # the newest of each tab
        self.requested = 0  # snapshots asked for, and the newest shown (a sequence number)
        self.shown = 0
        self.frozen_at = 0  # shown runs when the heap was last frozen
        self.freeze_pending = False
        self.stored_notes = 0  # runs of this audit found complete in the store
        self.data_version: int | None = None  # the store's, when last looked: another process's writes change it
        self.done_shown: set[int] = set()  # shown runs that were finished then

    # --- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        registry = model_registry.registry()
        default = model_registry.default_model(registry)
        chosen_models = self.preset["models"] or [default]
        chosen_tasks = self.preset["tasks"]
        bundled = list(catalog.bundled())
        yield Header()
        with Horizontal():
            with VerticalScroll(id="setup"):
                yield Label("Models", classes="field-title")
                yield SelectionList[str](*[(n, n, n in chosen_models) for n in registry], id="models")
                yield Input(", ".join(m for m in chosen_models if m not in registry), placeholder="or a .gguf path", id="model-path")
                yield Label("Tasks", classes="field-title")
                yield SelectionList[str](*[(n, n, n in chosen_tasks) for n in bundled], id="tasks")
                yield Input(", ".join(t for t in chosen_tasks if t not in bundled), placeholder="or task files (.toml .jsonl .csv SNI .json)", id="task-path")
                yield Label("Shots (comma-separated)", classes="field-title")
                yield Input(self.preset["shots"], id="shots")
                with Horizontal(classes="pair"):
                    with Vertical():
                        yield Label("Seeds", classes="field-title")
                        yield Input(self.preset["seeds"], id="seeds")
                    with Vertical():
                        yield Label("Orders", classes="field-title")
                        yield Input(self.preset["orders"], id="orders")
                    with Vertical():
                        yield Label("Test size", classes="field-title")
                        yield Input(self.preset["limit"], id="limit")
                yield Label("Other label words (optional)", classes="field-title")
                yield Input("", placeholder="in label order; sets by ';' e.g. bad,good;A,B", id="verbalizers")
                yield Label("Scoring", classes="field-title")
                yield Select([("full (mean log-prob of label + EOS)", "full"), ("first-token", "first-token")],
                             value=self.preset["scoring"], allow_blank=False, id="scoring")
                yield Button("Start audit (ctrl+r)", id="start", variant="success")
            with Vertical(id="main"):
                with Horizontal(id="methods"):
                    yield Label("Calibrations:", id="methods-title")
                    for i, m in enumerate(METHODS):
                        yield Checkbox(f"{i + 1} {m.upper()}", True, id=f"m-{m}")
                yield Static(id="progress")
                with TabbedContent(id="tabs"):
                    with TabPane("Results", id="results"):
                        with VerticalScroll(id="verdict-box"):  # focusable: every group's verdict scrolls into view
                            yield Static(id="verdict")
                        yield Label("Mean across tasks (and seeds), per model and shots", classes="table-title")
                        yield RowTable(id="mean")
                        yield Label("Per run (enter opens a run)", classes="table-title")
                        yield RunTable(id="per-run")
                        yield Static(id="row-ci")
                    with TabPane("Plots", id="plots"):
                        yield Static(id="plot-legend")  # beside the plots, never over their lines
                        with Horizontal(id="plot-row"):
                            for key in PLOT_METRICS:
                                yield PlotextPlot(id=f"plot-{key}")
                        yield Static(id="label-bars")
                    with TabPane("Past runs", id="history"):
                        yield Static(id="history-hint")
                        yield Input(placeholder="filter: words every shown run holds (Enter applies, Escape clears)",
                                    id="history-filter")
                        yield HistoryTable(id="history-table")
                    with TabPane("Compare", id="compare"):
                        yield Label("Models side by side on the same tasks (mean over seeds)", classes="table-title")
                        yield RowTable(id="compare-table")
                        with VerticalScroll(id="compare-more"):  # ladder and label words, scrolled together
                            yield Static(id="ladder-table")
                            yield Static(id="words-table")
                    with TabPane("Stability", id="stability"):
                        yield Static(id="stability-hint")
                        yield RowTable(id="stability-table")
        yield Footer(compact=True, show_command_palette=False)  # the focused view's keys fit 100 columns; ? names ctrl+p

    def on_mount(self) -> None:
        self.sub_title = f"{hardware_summary()} · {self.db_path}"
        try:
            self.store = Store(self.db_path)
        except UserError as e:
            self.notify(str(e), severity="error", timeout=30)
            return
        self.cache = analysis.ResultCache(self.store)  # the drill-down's and the label bars'
        self.results = Results(Store(self.db_path, readonly=True))
        self.views = SnapshotBuilder(self.db_path, trace=self.sql_trace)
        self.set_interval(REDRAW_SECONDS, self.redraw)
        self._history_changed()
        if self.autostart:
            self.action_start()
        else:
            self.restore_session()

    # --- sessions: what was shown and asked for comes back with the store ---------------

    FORM = ("shots", "seeds", "orders", "limit", "verbalizers")

    def save_session(self) -> None:
        if self.store is None:
            return
        form = {f: self.query_one(f"#{f}", Input).value for f in self.FORM}
        form["scoring"] = self.query_one("#scoring", Select).value
        doc = {"runs": self.view_runs[-20_000:], "form": form, "methods": self.methods()}
        try:
            self.store.set_meta(SESSION_KEY, json.dumps(doc))
        except UserError:  # a locked or read-only store: the session is not worth an error
            pass

    def restore_session(self) -> None:
        """The runs the app showed and the form as it was when this store was last used,
        unless the command line asked for something."""
        raw = self.store.get_meta(SESSION_KEY)
        if not raw:
            self.show_latest_audit()
            return
        doc = json.loads(raw)
        for m in METHODS:  # the calibration toggles as they were
            if "methods" in doc and (m in doc["methods"]) != self.methods_on[m]:
                self.query_one(f"#m-{m}", Checkbox).value = m in doc["methods"]
        form = doc.get("form", {})
        for f in self.FORM:
            if f in form and self.preset.get(f, "") == DEFAULT_FORM.get(f, ""):
                self.query_one(f"#{f}", Input).value = str(form[f])
        if form.get("scoring") in ("full", "first-token") and self.preset["scoring"] == DEFAULT_FORM["scoring"]:
            self.query_one("#scoring", Select).value = form["scoring"]
        known = set(self.store.run_states(list(doc.get("runs", []))))  # runs deleted since are left out
        runs = [r for r in doc.get("runs", []) if r in known]
        if runs:
            self.show_runs(runs)
            self.notify(f"{len(runs)} run(s) of your last session on this store are shown; Past runs (F4) lists all.",
                        timeout=6)

    def show_latest_audit(self) -> None:
        """A store written by `lbtui run` or lbtui.audit() has no app session: show its latest
        audit (the newest run and the runs scored one after another before it)."""
        runs = latest_audit(self.store.runs())
        if runs:
            self.show_runs([r["id"] for r in runs])
            self.notify(f"the store's latest audit ({len(runs)} run(s)) is shown; Past runs (F4) lists all.", timeout=6)

    # --- starting and cancelling ------------------------------------------------------

    def _request(self) -> AuditRequest:
        models = list(self.query_one("#models", SelectionList).selected)
        models += [p.strip() for p in self.query_one("#model-path", Input).value.split(",") if p.strip()]
        tasks = list(self.query_one("#tasks", SelectionList).selected)
        tasks += [p.strip() for p in self.query_one("#task-path", Input).value.split(",") if p.strip()]
        return AuditRequest(
            models=tuple(models), tasks=tuple(tasks), shots=self.query_one("#shots", Input).value,
            seeds=self.query_one("#seeds", Input).value, limit=self.query_one("#limit", Input).value,
            orders=self.query_one("#orders", Input).value, scoring=self.query_one("#scoring", Select).value,
            verbalizers=self.query_one("#verbalizers", Input).value.strip(), data=self.data,
        )

    def action_start(self, request: AuditRequest | None = None) -> None:
        if self.store is None:
            return
        if self.running:
            self.notify("An audit is running; ctrl+x stops it.", severity="warning")
            return
        request = request or self._request()
        self.cancel_event.clear()
        self.running = True
        self.refresh_bindings()
        self.query_one("#start", Button).disabled = True
        self.audit(request)

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

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

    def on_unmount(self) -> None:
        if self.views is not None:
            self.views.close()
        if self.results is not None:
            self.results.close()
        if self.frozen_at:
            gc.unfreeze()  # what this app kept alive may be collected again

    @work(thread=True, exit_on_error=False, group="snapshot")
    def build_snapshot(self, tab: str, run_ids: list[int], seq: int) -> None:
        """Compute what ``tab`` shows from the store, off the UI thread. Builds queue on the
        builder's lock; one overtaken by a newer request while it waited does nothing (not
        cancelled: a cancelled worker fails whoever waits for the app's workers)."""
        snap = self.views.build(tab, run_ids, seq, stale=lambda: seq < self.requested,
                                history=(self.history_filter, self.history_sort))
        self.post_message(SnapshotReady(snap) if snap is not None else SnapshotSkipped(seq))

    def on_snapshot_skipped(self, msg: SnapshotSkipped) -> None:
        self.shown = max(self.shown, msg.seq)

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
                analysis.analyse_finished(store, rid)
                if time.monotonic() - last > 0.5:
                    self.post_message(Analysed())
                    last = time.monotonic()
        finally:
            store.close()
            self.post_message(Analysed())

    def on_analysed(self, msg: Analysed) -> None:
        self.dirty = True

    # --- export: the shown runs' report, as `lbtui report` writes it ---------------------

    def notify(self, message: str, *, markup: bool = False, **kw) -> None:
        """Notices show their text as written (a message may hold [brackets], such as
        'lbtui[report]', that Textual's markup would swallow)."""
        super().notify(message, markup=markup, **kw)

    def action_export_view(self, fmt: str | None = None) -> None:
        """ctrl+e asks for the format; the palette's commands name it."""
        if self.store is None:
            return
        if fmt is None:
            self.push_screen(ExportScreen(), lambda picked: picked and self.action_export_view(picked))
            return
        self.notify(f"Writing the report of the shown runs ({fmt})...", timeout=3)
        self.export_report(list(self.view_runs), fmt)

    @work(thread=True, exit_on_error=False, group="export")
    def export_report(self, run_ids: list[int], fmt: str) -> None:
        from ..report.formats import write_report

        try:
            out = write_report(self.results, run_ids, fmt, self.db_path.resolve().parent)
        except UserError as e:
            self.call_from_thread(self.notify, form_words(str(e)), title="Cannot export", severity="error", timeout=15)
            return
        from ..report.formats import NO_PLOTS

        if fmt == "html" and "No plots:" in out.read_text(encoding="utf-8"):
            self.call_from_thread(self.notify, f"wrote {out} without plots: {NO_PLOTS}", title="Exported", timeout=20)
            return
        self.call_from_thread(self.notify, f"wrote {out}", title="Exported", timeout=15)

    # --- the verdict: best method per model and shots, with bootstrap intervals ----------

    def refresh_verdict(self, force: bool = False) -> None:
        """Ask for the verdict over the shown runs when they changed, or (``force``) when one
        of them finished."""
        key = tuple(self.view_runs)
        if self.store is None or (key == self.verdict_for and not force):
            return
        self.verdict_for = key
        self.verdict_seq += 1
        if self.view_runs:
            self.query_one("#verdict", Static).update(Text("Verdict: computing 95% bootstrap intervals...", style="dim"))
        self.compute_verdict(list(self.view_runs), self.verdict_seq)
        if force:
            self._request_row_ci()  # a run that finished has intervals now

    @work(thread=True, exit_on_error=False, group="verdict")
    def compute_verdict(self, run_ids: list[int], seq: int) -> None:
        """The same bootstrap as `lbtui report`, off the UI thread, through the app's Results."""
        got = verdict.build(self.results, run_ids)
        self.post_message(VerdictReady(seq, got))

    def on_verdict_ready(self, msg: VerdictReady) -> None:
        if msg.seq != self.verdict_seq:
            return  # overtaken by a newer request
        text = Text()
        if not msg.verdicts:
            text.append("Verdict: appears once a run is finished (reorderings and label-word variants have their own"
                        " views).", style="dim")
        for v in msg.verdicts:
            head, *lines = verdict.describe(v)
            text.append(head + "\n", style="bold")
            for line in lines:
                rec = v.group.recommendation if v.group else None
                warn = line.startswith("  recommended") and rec is not None and rec.reading != "better"
                text.append(line + "\n", style="yellow" if warn else "")
        text.append("[95% bootstrap intervals · within noise: the change's interval holds 0 · small: under"
                    f" {verdict.SMALL} test · RSD, BiasScore: 0 is unbiased, except RSD marked † or undefined"
                    " (fewer right answers than labels) · at chance: the macro-F1 interval reaches a guesser's]",
                    style="dim")
        self.query_one("#verdict", Static).update(text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "audit" and event.state == WorkerState.ERROR:
            self._audit_over()
            err = event.worker.error
            self.notify(f"Internal error: {type(err).__name__}: {err}", severity="error", timeout=30)

    def _audit_finished(self, msg: AuditFinished) -> None:
        self._audit_over()
        self.call_after_refresh(self.save_session)
        if self.stored_notes:
            self.notify(f"{self.stored_notes} run(s) were stored already: shown from the store, nothing evaluated.", timeout=6)
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
        if msg.text.endswith("is stored; nothing to evaluate"):  # one summary at the end, not a notice per run
            self.stored_notes += 1
            return
        self.notify(msg.text, timeout=4)

    # --- toggles and navigation --------------------------------------------------------

    def action_toggle_method(self, method: str) -> None:
        box = self.query_one(f"#m-{method}", Checkbox)
        box.value = not box.value

    @on(Checkbox.Changed)
    def _method_changed(self, event: Checkbox.Changed) -> None:
        method = event.checkbox.id.removeprefix("m-")
        self.methods_on[method] = event.value
        self.show_snapshot()  # the snapshot holds every method's rows: nothing to recompute
        self.call_after_refresh(self.save_session)  # the toggles survive a relaunch

    def methods(self) -> list[str]:
        return [m for m in METHODS if self.methods_on[m]]

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        focus = TAB_FOCUS.get(tab)  # each tab's main table, so its keys work at once
        if focus:
            self.query_one(focus).focus()
        else:  # plots: out of the form, so that m reaches the app
            self.set_focus(None)

    def action_cycle_plot_metric(self) -> None:
        """Plots: all metrics side by side, then each one alone at full width."""
        self.plot_metric = (self.plot_metric + 1) % (len(PLOT_METRICS) + 1)
        shown = PLOT_METRICS if self.plot_metric == 0 else (PLOT_METRICS[self.plot_metric - 1],)
        for key in PLOT_METRICS:
            self.query_one(f"#plot-{key}", PlotextPlot).display = key in shown

    def action_toggle_setup(self) -> None:
        """Hide or show the setup form: the tables get its 36 columns (small terminals)."""
        self.setup_hidden_by_user = self.query_one("#setup").display
        self._show_setup(not self.setup_hidden_by_user)

    def _show_setup(self, show: bool) -> None:
        setup = self.query_one("#setup")
        setup.display = show
        if not show and self.focused is not None and setup in self.focused.ancestors_with_self:
            self.action_tab(self.query_one("#tabs", TabbedContent).active)

    def on_resize(self, event) -> None:
        """Under SETUP_MIN_WIDTH columns the setup form folds away by itself (ctrl+b brings it
        back); wider again, it returns unless it was hidden by hand."""
        if self.store is None:
            return
        self._show_setup(event.size.width >= SETUP_MIN_WIDTH and not self.setup_hidden_by_user)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit; a running audit first stops after its current few inputs and marks its run
        cancelled (resumable), with "stopping..." on screen meanwhile."""
        if self.running:
            self.action_cancel()
            for w in [w for w in self.workers if w.group == "audit"]:
                try:
                    await w.wait()
                except Exception:  # its failure is reported by the store's run status
                    pass
        self.exit()

    @on(RowTable.RowSelected, "#per-run")
    def _open_run(self, event: RowTable.RowSelected) -> None:
        run_id, method = event.key.split(":")
        self.push_screen(RunScreen(self.cache, int(run_id), method))

    @on(RowTable.RowHighlighted, "#per-run")
    def _highlight_run(self, event: RowTable.RowHighlighted) -> None:
        if event.key:
            self.highlighted_run = int(event.key.split(":")[0])
            self._request_row_ci()

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

    @on(RowTable.RowSelected, "#history-table")
    def _open_past_run(self, event: RowTable.RowSelected) -> None:
        run_id = int(event.key)
        if self.cache.get(run_id).n_scored == 0:
            self.notify(f"run {run_id} has no scores yet", severity="warning")
            return
        self.push_screen(RunScreen(self.cache, run_id))

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
            self.notify("no shown run in the results" if len(run_ids) != 1 else f"run {run_ids[0]} is not in the results")
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
        self.query_one("#history-hint", Static).update(Text(
            hint + " · enter opens a run; a adds it to the results, A every shown run; x removes it, X every shown run;"
            " u resumes", style="dim"))
        self.dirty = True

    @on(Input.Submitted, "#history-filter")
    def _filter_history(self, event: Input.Submitted) -> None:
        self.history_filter = event.value.strip()
        self._history_changed()
        self.query_one("#history-table", RowTable).focus()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Keys that only mean something in one state stay out of the footer elsewhere: the
        footer shows the focused view's keys and these."""
        if action == "cycle_plot_metric":
            return self.active_tab() == "plots"
        if action == "cancel":
            return self.running
        return True

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

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Start audit", "Score the selected models and tasks", self.action_start)
        yield SystemCommand("Cancel audit", "Stop after the current batch, keeping what was scored", self.action_cancel)
        for m in METHODS:
            yield SystemCommand(f"Toggle {m.upper()}", f"Show or hide calibration {m}", lambda m=m: self.action_toggle_method(m))
        yield SystemCommand("Show plots", "Metrics against shots, one line per method", lambda: self.action_tab("plots"))
        yield SystemCommand("Show past runs", "Every run in the store", lambda: self.action_tab("history"))
        yield SystemCommand("Compare models", "Models side by side on the same tasks", lambda: self.action_tab("compare"))
        for fmt, name in (("md", "Markdown"), ("csv", "CSV"), ("html", "HTML")):
            yield SystemCommand(f"Export report as {name}", "The shown runs' report, beside the store",
                                lambda fmt=fmt: self.action_export_view(fmt))
        yield SystemCommand("Key bindings", "Help", self.action_help)

    # --- drawing -----------------------------------------------------------------------

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
        done = {rid for rid, status in self.store.statuses(self.view_runs).items() if status == "done"}
        if done != self.done_shown:  # a shown run finished elsewhere: its verdict is due
            self.done_shown = done
            self.refresh_verdict(force=True)

    def on_snapshot_ready(self, msg: SnapshotReady) -> None:
        snap = msg.snapshot
        self.snapshots[snap.tab] = snap
        self.shown = max(self.shown, snap.seq)
        if snap.unanalysed and not any(w.group == "analyse" and w.is_running for w in self.workers):
            self.analyse(snap.unanalysed)
        if snap.tab == self.active_tab():
            self.show_snapshot()
        if len(snap.run_ids) >= self.frozen_at + FREEZE_STEP:
            self.frozen_at = len(snap.run_ids)
            self.freeze_pending = True
            self.call_after_refresh(self._freeze_heap)

    def _freeze_heap(self) -> None:
        """Results and snapshots of many runs live for the session; a full collection would
        walk all of them (a UI stall). Collect once now, then keep them out of later walks;
        what they free is still freed by reference counting."""
        gc.collect()
        gc.freeze()
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

    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        self.refresh_bindings()  # m belongs to the Plots tab
        self.show_snapshot()  # the last one of this tab at once, a fresh one soon after
        self.dirty = True
        self.redraw()

    def active_tab(self) -> str | None:
        """The visible tab; None while the app closes (a snapshot may arrive then)."""
        try:
            return self.query_one("#tabs", TabbedContent).active
        except NoMatches:
            return None

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
            self.query_one("#stability-hint", Static).update(Text(
                "Mean ± std [min, max] across demonstration seeds and orderings." if rows.rows else
                "How findings vary across demonstrations: start an audit with Seeds > 1 (other demonstrations) or"
                " Orders > 1 (the same demonstrations reordered); finished runs show here as mean ± std [min, max].",
                style="dim"))

    def draw_progress(self) -> None:
        if not self.live:
            self.query_one("#progress", Static).update(Text("No audit running. Choose models and tasks, then ctrl+r.", style="dim"))
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
                head.append(f" · audit {audit.done}/{audit.total} inputs"
                            + (f", about {fmt_seconds(left)} left" if left is not None else ", estimating...")
                            + " · ctrl+x stops", style="dim")
        t = PlainRich.grid(padding=(0, 1))
        for handle, rate in handles[-5:]:
            left = (handle.total - handle.done) / rate if rate > 0 else None
            eta = fmt_seconds(left) + " left" if left is not None and handle.status == "running" else handle.status
            t.add_row(f"run {handle.id} {handle.task} k={handle.shots} s{seed_label(handle.seed, handle.order)}",
                      bar(handle.done / max(handle.total, 1), 20, "green"), f"{handle.done}/{handle.total}",
                      f"{rate:.1f}/s", eta)
        self.query_one("#progress", Static).update(Group(head, t) if head else t)

    def show_runs(self, run_ids: list[int]) -> None:
        """Show these stored runs in the tables, and ask for them now."""
        self.view_runs = list(run_ids)
        self.dirty = True
        self.redraw()
        self.refresh_verdict()

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
                plt.plot([p[0] for p in pts], [p[1] for p in pts], marker="dot", color=color)  # no label: no legend inside
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
        res = self.cache.get(run_id)
        t = PlainRich(title=f"Predicted (magenta) against gold (cyan) share, run {run_id} ({escape(res.run['task_name'])}, k={res.run['shots']})")
        t.add_column("label")
        methods = [m for m in self.methods() if res.metrics.get(m) is not None]
        for m in methods:
            t.add_column(m.upper())
        for j, lab in enumerate(res.run["labels"]):
            cells = []
            for m in methods:
                met = res.metrics[m]
                cells.append(Text.assemble(bar(met.predicted_share[j], 12, "magenta"), f" {met.predicted_share[j]:.2f}\n",
                                           bar(met.gold_share[j], 12, "cyan"), f" {met.gold_share[j]:.2f}"))
            t.add_row(lab, *cells)
        target.update(t)

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


# The setup form's names for the options an error may name (errors speak the CLI's words).
FORM_FIELDS = {"--shots": "Shots", "--seeds": "Seeds", "--orders": "Orders", "--limit": "Test size",
               "--verbalizers": "Other label words", "--task": "Tasks", "--model": "Models", "--scoring": "Scoring"}


def form_words(message: str) -> str:
    for option, field in FORM_FIELDS.items():
        message = re.sub(rf"(?<![\w-]){re.escape(option)}(?![\w-])", field, message)
    return message


AUDIT_GAP = 120.0  # seconds between one run's end and the next one's start within one audit


def latest_audit(runs: list[dict]) -> list[dict]:
    """The newest run and those before it that ran one after another (each created within
    AUDIT_GAP of the previous one's end), oldest first: the store's latest audit."""
    ordered = sorted(runs, key=lambda r: r["id"], reverse=True)
    out = ordered[:1]
    for before in ordered[1:]:
        end = before.get("finished") or before.get("heartbeat") or before.get("created") or 0
        if (out[-1].get("created") or 0) - end > AUDIT_GAP:
            break
        out.append(before)
    return out[::-1]


def make_app(args=None, *, db: Path | None = None, backend_factory: Callable | None = None) -> LbtuiApp:
    """The app, from parsed CLI arguments (``lbtui [--model M --task T ...]``) or defaults.
    With a task given, the audit starts at once."""
    from ..auditing.selection import data_options, split_names

    models = split_names(getattr(args, "model", None))
    tasks = split_names(getattr(args, "task", None))
    if getattr(args, "suite", None):
        from ..tasks.suites import task_files

        tasks += [str(p) for name in split_names(args.suite) for p in task_files(name)]
    tasks = [t for name in tasks for t in (list(catalog.bundled()) if name == "all" else [name])]
    db = db or getattr(args, "db", None) or paths.default_db()
    if db.parent and not db.parent.exists() and db == paths.default_db():
        db.parent.mkdir(parents=True, exist_ok=True)
    return LbtuiApp(
        db=db, models=models, tasks=tasks or ["reviews"],
        **{f: getattr(args, f, None) or DEFAULT_FORM[f] for f in ("shots", "seeds", "orders", "limit", "scoring")},
        autostart=bool(tasks), backend_factory=backend_factory, data=data_options(args) if args is not None else None,
    )
