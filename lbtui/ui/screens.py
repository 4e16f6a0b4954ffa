"""Screens pushed over the main view: a run's drill-down, the prompt, help."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from ..analysis.calibrations import METHOD_NAMES, METHODS
from ..analysis.metrics import per_class
from ..report.render import PlainTable as PlainRich, seed_label
from ..report.views import ResultCache, run_detail, run_diagnosis
from .format import PlainTable, bar, num


class RunScreen(Screen):
    """Everything about one run under one calibration method."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("e", "toggle_errors", "Errors only"),
        Binding("p", "prompt", "Prompt"),
        Binding("d", "diagnose", "Where the bias comes from"),
        *[Binding(str(i + 1), f"method('{m}')", m.upper(), show=False) for i, m in enumerate(METHODS)],
        Binding("left,h", "cycle(-1)", "Prev method"),
        Binding("right,l", "cycle(1)", "Next method"),
        Binding("t", "try_it", "Try it"),
    ]

    def __init__(self, cache: ResultCache, run_id: int, method: str = "none"):
        super().__init__()
        self.cache = cache
        self.run_id = run_id
        self.method = method
        self.errors_only = False
        self.trier: TryIt | None = None
        self.detail = None  # the shown method's RunDetail, read and computed in a worker

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="detail"):
            yield Static(id="detail-head")
            with Horizontal(id="detail-top"):
                yield Static(id="classwise")
                yield Static(id="confusion")
                yield Static(id="distribution")
            yield PlainTable(id="examples", cursor_type="row", zebra_stripes=True)
            yield Input(
                placeholder="try it (t): type an input, Enter classifies it with the shown method"
                ' ({"field": ...} for a task of several fields)',
                id="try",
            )
            yield Static(id="try-out")
        yield Footer(compact=True)  # every key fits at 100 columns

    def on_mount(self) -> None:
        self.trier = TryIt(self.cache.store.path, self.run_id, getattr(self.app, "backend_factory", None))
        self.refresh_detail()
        self.query_one("#examples", DataTable).focus()

    def refresh_detail(self) -> None:
        """Read the run under the shown method in a worker (the store and the metrics are
        never touched on the UI thread), then lay it out."""
        self.load_detail(self.method)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load_detail(self, method: str) -> None:
        d = run_detail(self.cache, self.run_id, method)
        self.app.call_from_thread(self.show_detail, d)

    def show_detail(self, d) -> None:
        if d.method != self.method:  # a newer request is on its way
            return
        self.detail = d
        r = d.run
        seed = seed_label(r["seed"], r["demo_order"])
        self.title = f"run {r['id']}: {r['model_name']} on {r['task_name']}, k={r['shots']}, seed {seed}"
        self.query_one("#detail-head", Static).update(self._head(d))
        cw, conf, dist = self._class_tables(d)
        self.query_one("#classwise", Static).update(cw)
        self.query_one("#confusion", Static).update(conf)
        self.query_one("#distribution", Static).update(dist)
        self._fill_examples(d)

    def _head(self, d) -> Text:
        """The method, the run's settings and the headline metrics (or why there are none)."""
        r = d.run
        head = Text()
        head.append(f"Method: {self.method.upper()} ({METHOD_NAMES[self.method]})  ", style="bold")
        head.append(
            f"[1-{len(METHODS)} or ←/→ switch · e errors only · p prompt · d diagnose · Esc back]\n", style="dim"
        )
        head.append(
            f"scoring {r['scoring']} · status {r['status']} · demonstrations {', '.join(r['demo_ids']) or 'none'}\n"
        )
        if d.metrics is None:
            head.append(f"not available: {d.reason or 'no test scores yet'}", style="yellow")
        else:
            m = d.metrics
            head.append(
                f"accuracy {m.accuracy:.3f} · macro-F1 {m.macro_f1:.3f} · RSD {m.rsd:.3f}"
                f" · BiasScore {m.bias_score:.3f}"
            )
            if d.prior is not None:
                head.append("   prior p̂ = [" + ", ".join(f"{x:.2f}" for x in d.prior) + "]", style="dim")
        return head

    def _class_tables(self, d) -> tuple:
        """Per-class numbers, the confusion matrix and the predicted against gold shares."""
        labels = d.labels
        cw = PlainRich(title="Per class (precision, recall = class-wise accuracy, F1)", expand=True)
        cw.add_column("label")
        for head in ("prec", "recall", "F1", "n"):
            cw.add_column(head, justify="right")
        conf = PlainRich(title="Confusion (rows gold, columns predicted)", expand=True)
        conf.add_column("")
        for lab in labels:
            conf.add_column(lab[:10], justify="right")
        dist = PlainRich(title="Predicted (magenta) against gold (cyan) share", expand=True)
        dist.add_column("label")
        dist.add_column("share")
        if d.metrics is not None:
            m = d.metrics
            per = per_class(m.confusion)  # scikit-learn's precision_recall_fscore_support, from the confusion
            for j, lab in enumerate(labels):
                cw.add_row(
                    lab, num(per["precision"][j]), num(per["recall"][j]), num(per["f1"][j]), str(per["support"][j])
                )
                conf.add_row(lab[:10], *[str(int(x)) for x in m.confusion[j]])
                dist.add_row(
                    lab,
                    Text.assemble(
                        bar(m.predicted_share[j], style="magenta"),
                        f" {m.predicted_share[j]:.2f}\n",
                        bar(m.gold_share[j]),
                        f" {m.gold_share[j]:.2f}",
                    ),
                )
        return cw, conf, dist

    def _fill_examples(self, d) -> None:
        """The test examples (only the wrong ones with e), their gold, prediction and
        calibrated probabilities."""
        labels = d.labels
        table = self.query_one("#examples", DataTable)
        table.clear(columns=True)
        table.add_columns("id", "gold", "predicted", *[f"p({lab[:8]})" for lab in labels], "input")
        for ex in d.examples:
            if self.errors_only and ex["correct"]:
                continue
            style = "" if ex["correct"] else "red"
            table.add_row(
                ex["id"],
                ex["gold"] or "",
                Text(ex["pred"], style=style),
                *[num(p) for p in ex["probs"]],
                ex["text"][:120],
                key=ex["id"],
            )
        self.sub_title = f"{table.row_count} test examples shown" + (" (errors only)" if self.errors_only else "")

    def action_try_it(self) -> None:
        self.query_one("#try", Input).focus()

    @on(Input.Submitted, "#try")
    def _try_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.query_one("#try-out", Static).update(Text("classifying...", style="dim"))
            self.classify(event.value, self.method)

    @work(thread=True, exclusive=True, group="try-it", exit_on_error=False)
    def classify(self, text: str, method: str) -> None:
        """Score the typed input with the run's prompt (a worker: the model loads once per
        screen) and show each label's raw and calibrated probability."""
        line = self.trier.line(text, method)
        self.app.call_from_thread(self.query_one("#try-out", Static).update, line)

    def on_unmount(self) -> None:
        if self.trier is not None:
            self.trier.close()

    def action_toggle_errors(self) -> None:
        self.errors_only = not self.errors_only
        if self.detail is not None:  # the same examples, filtered: nothing to read again
            self.show_detail(self.detail)

    def action_method(self, method: str) -> None:
        self.method = method
        self.refresh_detail()

    def action_cycle(self, step: int) -> None:
        self.method = METHODS[(METHODS.index(self.method) + step) % len(METHODS)]
        self.refresh_detail()

    def action_prompt(self) -> None:
        """The prompt of the highlighted test example as the model read it: text, token ids
        and pieces, the KV-cache prefix, each label's scored tokens (lbtui prompt)."""
        d = self.detail
        if d is None:
            return
        table = self.query_one("#examples", DataTable)
        ex = None
        if table.row_count and d.examples:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            ex = next((e for e in d.examples if e["id"] == key), d.examples[0])
        self.show_prompt(d, ex)

    @work(thread=True, exclusive=True, group="detail-screen", exit_on_error=False)
    def show_prompt(self, d, ex) -> None:
        """Built in a worker: it reads the store and the model's vocabulary."""
        text = prompt_text(self.cache.store, d.run, ex, d.prompt)
        self.app.call_from_thread(self.app.push_screen, TextScreen(*text))

    def action_diagnose(self) -> None:
        self.show_diagnosis()

    @work(thread=True, exclusive=True, group="detail-screen", exit_on_error=False)
    def show_diagnosis(self) -> None:
        """Computed in a worker: it reads the run's scores and bootstraps."""
        from ..report.render import diagnosis_tables

        run, table, effects = run_diagnosis(self.cache, self.run_id)
        tables = diagnosis_tables(run, table, effects)
        self.app.call_from_thread(self.app.push_screen, DiagnosisScreen(tables))


class TryIt:
    """The drill-down's "try it" line: one classifier for the run (its model loaded on the
    first input, in a worker), each typed input scored through the run's prompt and kept
    in the store under its address; the shown method's calibration as the audit fitted it."""

    def __init__(self, db: Path, run_id: int, backend_factory=None):
        import threading

        self.db, self.run_id, self.backend_factory = db, run_id, backend_factory
        self.clf = None
        self._lock = threading.Lock()

    def line(self, text: str, method: str) -> Text:
        import json

        from ..errors import UserError
        from ..results import Results
        from ..results.classifier import Classifier

        value = text.strip()
        try:
            if value.startswith("{"):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as e:
                    raise UserError("try it", f"not a JSON object of fields ({e.msg})") from None
            with self._lock:
                if self.clf is None:
                    self.clf = Classifier.from_run(self.run_id, "none", self.db, backend_factory=self.backend_factory)
                raw = self.clf.raw_proba([value], ["try it"])
                calibrated = Results(self.clf.store).calibration(self.run_id, method)(raw)
        except UserError as e:  # said on the line, in the tool's words
            return Text(str(e), style="yellow")
        labels = self.clf.labels
        out = Text()
        out.append(f"{method.upper()}: {labels[int(calibrated[0].argmax())]}", style="bold")
        out.append(
            "   " + "  ".join(f"{lab} {q:.3f} (raw {p:.3f})" for lab, p, q in zip(labels, raw[0], calibrated[0]))
        )
        return out

    def close(self) -> None:
        with self._lock:
            if self.clf is not None:
                self.clf.close()
                self.clf = None


def prompt_text(store, run: dict, ex: dict | None, template: str) -> tuple[str, str]:
    """Title and body of the prompt view: the tokens where the model's vocabulary can be
    read, else the recorded prompt text."""
    from ..auditing.prompt_view import from_stored, render
    from ..backends import load_vocab
    from ..errors import UserError

    plain = ("Prompt (the query's input goes where {input} stands)", template)
    path = store.model_path(run["model_id"])
    if ex is None or not path:
        return plain
    try:
        vocab = load_vocab(Path(path))
    except UserError as e:
        return plain[0], f"{template}\n\n(tokens not shown: {e})"
    try:
        view = from_stored(run, vocab, ex["text"], ex["id"])
    finally:
        vocab.close()
    return f"Prompt of test example {ex['id']} as the model reads it", render(view)


class DiagnosisScreen(ModalScreen):
    """Priors side by side, majority and recency bias of one run (lbtui diagnose)."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close")]

    def __init__(self, parts: list):
        super().__init__()
        self.parts = parts

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="text-dialog"):
            for i, part in enumerate(self.parts):
                yield Static(part, id=f"diagnosis-{i}")
            yield Static(Text("Esc closes", style="dim"))


class TextScreen(ModalScreen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close")]

    def __init__(self, title: str, text: str):
        super().__init__()
        self.heading = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="text-dialog"):
            yield Static(Text(self.heading, style="bold"))
            yield Static(Text(self.text))
            yield Static(Text("Esc closes", style="dim"))


HELP = """\
lbtui audits a GGUF model for label bias: the preference of a few-shot prompted model
for some labels over others (Reif and Schwartz, NAACL 2024).

Setup (left):  Tab moves between fields; Space toggles a model or task.
  ctrl+r        start the audit with what is selected
  ctrl+x        stop the running audit after its current few inputs (what was scored
                is kept; Past runs u resumes it). Escape only goes back.

Results:
  {method_keys:<13} toggle the calibrations {methods}
  up/down, pgup/pgdn, home/end   move through the rows (every shown run is in the table)
  x             take the highlighted run out of the results (the store keeps it)
  enter         open the selected run: class-wise accuracy, confusion, examples, prompt,
                d: where its bias comes from (priors side by side, majority, recency),
                t: try it, classify a typed input with the shown method
  {tab_keys:<13} tabs: {tabs}
  m             plots: all three metrics, then macro-F1, RSD or BiasScore alone, full width
                (with several seeds or orderings, dotted lines in the line's colour
                bound the range across them)
  Stability     mean ± std [min, max] of each metric across seeds (other demonstrations)
                and orderings (the same ones reordered; Orders in the setup form)

Past runs:
  enter         open a run      a   add it to the results view      u   resume it
  x             take it out of the results      A, X   add or take out every shown run
  /             filter (words every shown run holds)      s   sort

Everywhere:
  ctrl+b        hide or show the setup form (it folds away by itself under 120 columns)
  ctrl+e        export the shown runs' report: m Markdown, c CSV, h HTML (it asks)
  ctrl+p        command palette      ?   this help      ctrl+q   quit

Metrics (docs/METHODS.md):
  Macro-F1    0 to 1, higher is better: the mean F1 over the gold labels.
  RSD         0 or more, lower is better: the std. deviation of class-wise accuracy over
              accuracy; 0 when every label is predicted equally well, above 1 when the
              accuracies spread more than their mean (one label takes nearly everything).
              † or "undefined": fewer answers are right than labels (RSD's 0 means
              nothing there).
  BiasScore   0 to 1 - 1/K, lower is better: how far the mean predicted distribution on the
              bias set is from uniform (total variation).
  Δ           the change against no calibration: green better, red worse under the
              metric's direction. "—": the method cannot apply; the last column says why.
  Verdict     "recommended": the calibration the rule chose on the bias set (better, tied,
              at chance or goals disagree against its runner-up; docs/REPORTS.md);
              chance and majority: guessers that never read the input. 95% bootstrap
              intervals (over seeds too where there are several); "within noise": the
              change's interval holds 0; "small": under 100 test examples. The line
              under the per-run table gives the highlighted row's intervals the same way.
"""


def help_text() -> str:
    """HELP with the calibrations' and the tabs' keys filled in from their registries."""
    from ..analysis.calibrations import REGISTRY
    from .tabs import TABS

    keyed = [t for t in TABS.values() if t.key]
    return HELP.format(
        method_keys=f"1 ... {len(REGISTRY)}",
        methods=", ".join(m.short for m in REGISTRY.values()),
        tab_keys=f"{keyed[0].key} ... {keyed[-1].key}",
        tabs=", ".join(t.title.lower() for t in keyed),
    )


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="text-dialog"):
            yield Static(Text("lbtui: keys", style="bold"))
            yield Static(Text(help_text()))


EXPORT_FORMATS = {
    "m": ("md", "Markdown"),
    "c": ("csv", "CSV"),
    "h": ("html", "HTML (tables, and plots with matplotlib)"),
}


class ExportScreen(ModalScreen[str | None]):
    """ctrl+e: which format the shown runs' report is written in."""

    BINDINGS = [
        *[Binding(key, f"pick('{fmt}')", name) for key, (fmt, name) in EXPORT_FORMATS.items()],
        Binding("escape,q", "pick('')", "Cancel"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="export-dialog"):
            yield Static(Text("Write the shown runs' report (beside the store) as", style="bold"))
            yield Static(
                Text("\n".join(f"  {key}  {name}" for key, (_, name) in EXPORT_FORMATS.items()) + "\n  Esc  cancel")
            )

    def action_pick(self, fmt: str) -> None:
        self.dismiss(fmt or None)
