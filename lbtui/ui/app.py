"""The lbtui terminal app. Scoring runs in one thread worker that owns the llama.cpp
context and only posts Messages; the app's handlers own the state. A timer asks, at a
steady rate and only when something changed, for a snapshot of the visible tab; a
worker builds it from the store (ui/snapshot.py) and the UI thread only lays it out."""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
from pathlib import Path
from typing import Callable, Iterable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.worker import WorkerCancelled, WorkerFailed
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    Select,
    SelectionList,
    Static,
    TabbedContent,
    TabPane,
)
from textual_plotext import PlotextPlot

from .. import models as model_registry, paths
from ..analysis.calibrations import METHODS
from ..auditing.engine import RunHandle
from ..backends import hardware_summary
from ..backends.base import DEFAULT_SCORING, SCORING
from ..errors import UserError
from ..report import views as analysis
from ..results import Results
from ..store import Store
from ..tasks import catalog
from ..tasks.taskfile import DataOptions
from .rowtable import RowTable
from .screens import ExportScreen, HelpScreen, RunScreen
from .snapshot import Snapshot, SnapshotBuilder
from .tabs import PLOT_METRICS, TABS
from .tabs.history import scored_in_row
from .audit_control import AuditControl, form_words
from .consts import DEFAULT_FORM, REDRAW_SECONDS, SETUP_MIN_WIDTH, TAB_KEYS
from .drawing import Drawing
from .past_runs import PastRuns
from .refresh import Refresh
from .session import Sessions
from .verdict_panel import VerdictPanel


class LbtuiApp(AuditControl, Refresh, VerdictPanel, PastRuns, Sessions, Drawing, App):
    CSS_PATH = "app.tcss"
    TITLE = "lbtui: label bias audit"

    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+x", "cancel", "Stop audit", priority=True),  # Escape only ever goes back
        *[Binding(str(i + 1), f"toggle_method('{m}')", f"{m.upper()}", show=False) for i, m in enumerate(METHODS)],
        # The tab bar names the tabs; the footer groups their keys so the focused view's fit.
        *[Binding(t.key, f"tab('{t.id}')", t.title, group=TAB_KEYS) for t in TABS.values() if t.key],
        Binding("m", "cycle_plot_metric", "Plot metric"),  # shown on the Plots tab only (Tab.actions)
        Binding("ctrl+b", "toggle_setup", "Setup", priority=True),
        Binding("ctrl+e", "export_view", "Export", priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        *,
        db: Path,
        models: list[str] | None = None,
        tasks: list[str] | None = None,
        shots: str = "0,4,8",
        seeds: str = "1",
        limit: str = "100",
        scoring: str = DEFAULT_SCORING,
        autostart: bool = False,
        orders: str = "1",
        backend_factory: Callable | None = None,
        data: DataOptions | None = None,
    ):
        super().__init__()
        self.db_path = db
        self.preset = {
            "models": models or [],
            "tasks": tasks or [],
            "shots": shots,
            "seeds": seeds,
            "limit": limit,
            "scoring": scoring,
            "orders": orders,
        }
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
        self.verdict_due: tuple | None = None  # (runs, verdict seq, snapshot seq it waits for)
        self.results: Results | None = None  # the read side for the verdict, row intervals and exports (workers)
        self.running = False
        self.highlighted_run: int | None = None
        self.views: SnapshotBuilder | None = None
        self.sql_trace: Callable[[str], None] | None = None  # the snapshot builder's SQL, for `lbtui bench --app`
        self.snapshots: dict[str, Snapshot] = {}  # the newest of each tab
        self.requested = 0  # snapshots asked for, and the newest shown (a sequence number)
        self.shown = 0
        self.frozen_at = 0  # shown runs when the heap was last frozen
        self.terminated = False  # quit on SIGTERM (lbtui exits 143)
        self.freeze_pending = False
        self.stored_notes = 0  # runs of this audit found complete in the store
        self.data_version: int | None = None  # the store's, when last looked: another process's writes change it
        self.done_shown: set[int] = set()  # shown runs that were finished then
        self.label_bars_key: tuple | None = None  # what the plots' label bars show

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
                yield Input(
                    ", ".join(m for m in chosen_models if m not in registry),
                    placeholder="or a .gguf path",
                    id="model-path",
                )
                yield Label("Tasks", classes="field-title")
                yield SelectionList[str](*[(n, n, n in chosen_tasks) for n in bundled], id="tasks")
                yield Input(
                    ", ".join(t for t in chosen_tasks if t not in bundled),
                    placeholder="or task files (.toml .jsonl .csv SNI .json)",
                    id="task-path",
                )
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
                yield Select(
                    [(m.title, m.name) for m in SCORING.values()],
                    value=self.preset["scoring"],
                    allow_blank=False,
                    id="scoring",
                )
                yield Button("Start audit (ctrl+r)", id="start", variant="success")
            with Vertical(id="main"):
                with Horizontal(id="methods"):
                    yield Label("Calibrations:", id="methods-title")
                    for i, m in enumerate(METHODS):
                        yield Checkbox(f"{i + 1} {m.upper()}", True, id=f"m-{m}")
                yield Static(id="progress")
                with TabbedContent(id="tabs"):
                    for tab in TABS.values():
                        with TabPane(tab.title, id=tab.id):
                            yield from tab.compose()
        yield Footer(
            compact=True, show_command_palette=False
        )  # the focused view's keys fit 100 columns; ? names ctrl+p

    def on_mount(self) -> None:
        self.sub_title = f"{hardware_summary()} · {self.db_path}"
        if threading.current_thread() is threading.main_thread():
            # A service manager's stop (SIGTERM) quits as ctrl+q does: a running audit stops
            # after its current few inputs and its run is left cancelled, resumable.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._on_sigterm)
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

    # --- starting and cancelling ------------------------------------------------------

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    def _on_sigterm(self) -> None:
        self.terminated = True
        self.call_later(self.action_quit)

    def on_unmount(self) -> None:
        if threading.current_thread() is threading.main_thread():
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        if self.views is not None:
            self.views.close()
        if self.results is not None:
            self.results.close()
        if self.frozen_at:
            gc.unfreeze()  # what this app kept alive may be collected again

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
        focus = TABS[tab].focus  # each tab's main table, so its keys work at once
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
                except (WorkerFailed, WorkerCancelled):  # said already (on_worker_state_changed); quit all the same
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

    @on(RowTable.RowSelected, "#history-table")
    def _open_past_run(self, event: RowTable.RowSelected) -> None:
        run_id = int(event.key)
        if scored_in_row(event.table.data, event.key) == 0:  # the row says it: no read on the UI thread
            self.notify(f"run {run_id} has no scores yet", severity="warning")
            return
        self.push_screen(RunScreen(self.cache, run_id))

    @on(Input.Submitted, "#history-filter")
    def _filter_history(self, event: Input.Submitted) -> None:
        self.history_filter = event.value.strip()
        self._history_changed()
        self.query_one("#history-table", RowTable).focus()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Keys that only mean something in one state stay out of the footer elsewhere: the
        footer shows the focused view's keys and these."""
        tab_actions = {a for t in TABS.values() for a in t.actions}
        if action in tab_actions:
            active = self.active_tab()
            return active is not None and action in TABS[active].actions
        if action == "cancel":
            return self.running
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Start audit", "Score the selected models and tasks", self.action_start)
        yield SystemCommand("Cancel audit", "Stop after the current batch, keeping what was scored", self.action_cancel)
        for m in METHODS:
            yield SystemCommand(
                f"Toggle {m.upper()}", f"Show or hide calibration {m}", lambda m=m: self.action_toggle_method(m)
            )
        for tab in TABS.values():
            if tab.command:
                yield SystemCommand(*tab.command, lambda t=tab.id: self.action_tab(t))
        for fmt, name in (("md", "Markdown"), ("csv", "CSV"), ("html", "HTML")):
            yield SystemCommand(
                f"Export report as {name}",
                "The shown runs' report, beside the store",
                lambda fmt=fmt: self.action_export_view(fmt),
            )
        yield SystemCommand("Key bindings", "Help", self.action_help)

    # --- drawing -----------------------------------------------------------------------

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

    def show_runs(self, run_ids: list[int]) -> None:
        """Show these stored runs in the tables, and ask for them now."""
        self.view_runs = list(run_ids)
        self.dirty = True
        self.redraw()
        self.refresh_verdict()


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
        db=db,
        models=models,
        tasks=tasks or ["reviews"],
        **{f: getattr(args, f, None) or DEFAULT_FORM[f] for f in ("shots", "seeds", "orders", "limit", "scoring")},
        autostart=bool(tasks),
        backend_factory=backend_factory,
        data=data_options(args) if args is not None else None,
    )
