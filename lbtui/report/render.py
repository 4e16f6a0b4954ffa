"""Rich output for the CLI: result tables and JSON on stdout, progress on stderr."""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..analysis.calibrations import METHODS
from ..analysis.metrics import PAPER, REGISTRY as METRICS
from ..analysis.results import HEADLINE, finite_or_none, mean_headlines, method_mark
from ..errors import printable
from .reading import reading

COLUMN_NAMES = {name: m.title for name, m in METRICS.items()}


class ProgressBar:
    """The engine's Progress on stderr: one bar a run, with inputs/s and time left."""

    def __init__(self):
        self.console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} inputs/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[int, int] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._tasks:  # started lazily: a run that scores nothing prints no bar
            self._progress.stop()
        return False

    def run_started(self, run) -> None:
        if not self._tasks:
            self._progress.start()
        desc = f"run {run.id} {run.model} {run.task} k={run.shots} seed={seed_label(run.seed, run.order)}"
        self._tasks[run.id] = self._progress.add_task(desc, total=run.total, completed=run.done, rate=0.0)

    def advanced(self, run) -> None:
        self._progress.update(self._tasks[run.id], completed=run.done, rate=run.rate)

    def run_finished(self, run) -> None:
        if run.status != "done":
            self._progress.console.print(f"run {run.id}: {run.status}")

    def note(self, message: str, kind: str = "info") -> None:
        if kind == "warning":  # about the data: said on any stderr
            if self.console.is_terminal:
                self._progress.console.print(Text(f"lbtui: warning: {message}", style="yellow"))
            else:
                print(f"lbtui: warning: {message}", file=sys.stderr, flush=True)
            return
        # Notes are for people watching; scripts get a clean stderr (errors only).
        if self.console.is_terminal:
            self._progress.console.print(f"[dim]{message}[/dim]")

    def waiting(self, message: str) -> None:
        """What a run waits for, on any stderr: a script must never hang in silence."""
        if self.console.is_terminal:
            self._progress.console.print(Text(message, style="yellow"))
        else:
            print(f"lbtui: {message}", file=sys.stderr, flush=True)


def as_text(cells) -> list:
    """Text cells as written, not read as console markup: task names such as
    "reviews[bad/good]" keep their brackets, an example reading "[/b]" is no error;
    control characters are dropped (printable)."""
    return [Text(printable(c)) if isinstance(c, str) else c for c in cells]


class PlainTable(Table):
    """A rich Table whose text cells are shown as they are (as_text)."""

    def add_row(self, *cells, **kwargs):
        return super().add_row(*as_text(cells), **kwargs)


def seed_label(seed: int, order: int = 0) -> str:
    """A run's demonstrations: the seed, and which ordering of them when not the drawn one."""
    return f"{seed}" if not order else f"{seed} o{order}"


def _stdout_console() -> Console:
    """Wide enough for the metric tables even when stdout is a pipe (rich assumes 80)."""
    c = Console()
    return c if c.is_terminal else Console(width=140)


def _headline(m) -> dict | None:
    if m is None:
        return None
    return {k: finite_or_none(v) for k, v in m.headline().items()}


def metrics_json(reports: Sequence) -> dict:
    runs = [rep.as_dict(_headline) for rep in reports]  # results.Run
    summary = mean_headlines([rep.metrics for rep in reports])
    return {
        "runs": runs,
        "summary": {m: ({k: finite_or_none(v) for k, v in s.items()} if s else None) for m, s in summary.items()},
    }


def _fmt(x) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"


def print_tables(reports: Sequence, console: Console | None = None) -> None:
    console = console or _stdout_console()
    t = PlainTable(title="Label bias per run (accuracy, macro-F1, RSD on the test set; BiasScore on the bias set)")
    for col in ("run", "model", "task", "k", "seed", "method") + tuple(COLUMN_NAMES.values()):
        t.add_column(col, justify="right" if col in COLUMN_NAMES.values() or col in ("run", "k", "seed") else "left")
    for rep in reports:
        r = rep.record
        for i, m in enumerate(METHODS):
            h = _headline(rep.metrics.get(m))
            vals = [_fmt(h[k]) if h else "n/a" for k in HEADLINE]
            first = i == 0
            t.add_row(
                str(r["id"]) if first else "",
                r["model_name"] if first else "",
                r["task_name"] + method_mark(r) if first else "",
                str(r["shots"]) if first else "",
                seed_label(r["seed"], r["demo_order"]) if first else "",
                m,
                *vals,
                end_section=i == len(METHODS) - 1,
            )
    console.print(t)
    # The paper's view: for each model and k, the mean over tasks (and seeds).
    groups = defaultdict(list)
    for rep in reports:
        groups[(rep.model, rep.shots)].append(rep.metrics)
    s = PlainTable(title="Mean across tasks and seeds")
    for col in ("model", "k", "method") + tuple(COLUMN_NAMES.values()):
        s.add_column(col)
    for (model, k), group in groups.items():
        means = mean_headlines(group)
        for i, m in enumerate(METHODS):
            h = means[m]
            s.add_row(
                model if i == 0 else "",
                str(k) if i == 0 else "",
                m,
                *[_fmt(h[key]) if h else "n/a" for key in HEADLINE],
                end_section=i == len(METHODS) - 1,
            )
    console.print(s)
    reasons = {f"{m}: {why}" for rep in reports for m, why in rep.reasons.items()}
    for line in sorted(reasons):
        Console(stderr=True).print(f"[dim]{line}[/dim]")


def print_rows(rows: list[dict], columns: list[str], *, title: str) -> None:
    t = PlainTable(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[", ".join(r[c]) if isinstance(r[c], list) else str(r[c]) for c in columns])
    _stdout_console().print(t)


def print_bench(r: dict) -> None:
    """The `lbtui bench` table: each mode against llama.cpp's raw rate, the plain loop and
    the naive way."""
    t = PlainTable(
        title=f"{escape(r['model'])} · {escape(r['task'])} · k={r['shots']} · n_ctx {r['n_ctx']}"
        f" · {r['n_threads']} threads · "
        f"raw {r['raw_tokens_per_s']:.0f} tokens/s"
    )
    for c in (
        "mode",
        "inputs",
        "tokens needed",
        "rows decoded",
        "pad rows",
        "seconds",
        "inputs/s",
        "effective tokens/s",
        "× raw",
        "÷ plain",
        "× naive",
    ):
        t.add_column(c, justify="left" if c == "mode" else "right")
    for mode, m in r["modes"].items():
        t.add_row(
            mode,
            str(m["inputs"]),
            str(m["tokens_needed"]),
            str(m["rows_decoded"]),
            str(m["pad_rows"]),
            f"{m['seconds']:.1f}",
            f"{m['examples_per_s']:.2f}",
            f"{m['tokens_per_s']:.0f}",
            f"{m['ratio_to_raw']:.2f}",
            f"{m['ratio_to_plain']:.2f}" if "ratio_to_plain" in m else "-",
            f"{m['speedup_vs_naive']:.1f}" if "speedup_vs_naive" in m else "-",
        )
    console = _stdout_console()
    console.print(t)
    for mode, m in r["modes"].items():
        console.print(
            f"{mode}: × raw {m['ratio_to_raw']:.2f} = layout {m['layout_efficiency']:.2f} (tokens needed per row)"
            f" × decode {m['decode_efficiency']:.2f} (rows/s vs raw) × {m['decode_share']:.2f} (time in llama_decode)"
        )
        if "plain_seconds" in m:
            console.print(
                f"{mode}: the plain loop took {m['plain_seconds']:.1f} s (÷ plain {m['ratio_to_plain']:.2f}; below 1 is"
                f" faster); its scores differ from lbtui's by at most {m['plain_max_abs_diff']:.2g}"
            )
        elif "plain_error" in m:
            console.print(f"{mode}: {m['plain_error']}")
    console.print(
        f"peak RSS {r['peak_rss_mb']:.0f} MB (model file {r['model_file_mb']:.0f} MB + 400 = {r['rss_limit_mb']:.0f})"
    )


def diagnosis_json(run: dict, table: dict, effects: dict) -> dict:
    labels = run["labels"]
    vec = lambda v: dict(zip(labels, (round(float(x), 6) for x in v)))  # noqa: E731
    doc = {
        "run_id": run["id"],
        "model": run["model_name"],
        "task": run["task_name"],
        "shots": run["shots"],
        "seed": run["seed"],
        "labels": labels,
        "uniform": vec(table["uniform"]),
        "gold": vec(table["gold"]),
        "priors": {
            m: {"p": vec(v["p"]), "tv_uniform": v["tv_uniform"], "tv_gold": v["tv_gold"]}
            for m, v in table["priors"].items()
        },
        "predicted": vec(table["predicted"]),
        "not_applicable": table["reasons"],
        "reading": reading(labels, table, effects),
    }
    if "reason" in effects:
        doc["demonstrations"] = {"reason": effects["reason"]}
    else:
        doc["demonstrations"] = {
            "labels": [labels[i] for i in effects["demonstration_labels"]],
            "majority": [labels[i] for i in effects["majority"]],
            "last": labels[effects["last"][0]],
            "methods": {
                m: {
                    kind: {"rate": f.rate, "expected": f.expected, "excess": f.excess, "ci95": [f.lo, f.hi]}
                    for kind, f in d.items()
                }
                for m, d in effects["methods"].items()
            },
        }
    return doc


def diagnosis_tables(run: dict, table: dict, effects: dict) -> list:
    """Rich renderables of `lbtui diagnose` (the CLI prints them, the app shows them): the
    plain-language reading first, then the tables it reads."""
    labels = run["labels"]
    said = Text("What this says\n", style="bold")
    for line in reading(labels, table, effects):
        said.append(f"• {line}\n", style="")
    t = PlainTable(
        title=f"Run {run['id']}: {escape(run['model_name'])} on {escape(run['task_name'])}, k={run['shots']},"
        f" seed {seed_label(run['seed'], run['demo_order'])}:"
        " priors the calibrations estimate"
    )
    for c in ["prior", *labels, "TV to uniform", "TV to gold"]:
        t.add_column(c, justify="left" if c == "prior" else "right")
    t.add_row("uniform", *[_fmt(x) for x in table["uniform"]], "", "")
    t.add_row("gold (test set)", *[_fmt(x) for x in table["gold"]], "", "")
    t.add_row("predicted (none)", *[_fmt(x) for x in table["predicted"]], "", "", end_section=True)
    for m, v in table["priors"].items():
        t.add_row(m, *[_fmt(x) for x in v["p"]], _fmt(v["tv_uniform"]), _fmt(v["tv_gold"]))
    if "reason" in effects:
        return [said, t, f"majority and recency bias: {effects['reason']}"]
    demo = escape(", ".join(labels[i] for i in effects["demonstration_labels"]))
    majority = escape(", ".join(labels[i] for i in effects["majority"]))
    e = PlainTable(
        title=f"Predictions following the demonstrations ({demo}): majority {majority},"
        f" last {escape(labels[effects['last'][0]])}; excess over the gold share, 95% interval"
    )
    for c in ("method", "majority rate", "gold share", "excess", "recency rate", "gold share ", "excess "):
        e.add_column(c, justify="right")
    for m, d in effects["methods"].items():
        mj, rc = d["majority"], d["recency"]
        e.add_row(
            m,
            _fmt(mj.rate),
            _fmt(mj.expected),
            f"{mj.excess:+.3f} [{mj.lo:+.3f}, {mj.hi:+.3f}]",
            _fmt(rc.rate),
            _fmt(rc.expected),
            f"{rc.excess:+.3f} [{rc.lo:+.3f}, {rc.hi:+.3f}]",
        )
    return [said, t, e]


def print_diagnosis(run: dict, table: dict, effects: dict) -> None:
    console = _stdout_console()
    for item in diagnosis_tables(run, table, effects):
        console.print(item)


# --- stability across seeds and orderings ----------------------------------------------

STABILITY_KEYS = PAPER


def stability_json(rows: list[dict]) -> list[dict]:
    return [
        {**{k: v for k, v in r.items() if k not in HEADLINE}, **{k: r[k].as_dict() for k in HEADLINE}} for r in rows
    ]


def spread_cell(s) -> str:
    if not s.n:
        return "n/a"
    sd = "" if s.std != s.std else f" ± {s.std:.3f}"
    return f"{s.mean:.3f}{sd} [{s.min:.3f}, {s.max:.3f}]"


def stability_table(rows: list[dict], methods=METHODS) -> Table:
    """Mean ± std [min, max] of each metric, per group, method and way the runs vary (the
    app shows this same table)."""
    t = PlainTable(title="Stability: mean ± std \\[min, max] across demonstration seeds and orderings")
    for col in ("model", "task", "k", "across", "n", "method") + tuple(COLUMN_NAMES[k] for k in STABILITY_KEYS):
        t.add_column(col, justify="right" if col in ("k", "n") else "left")
    last = None
    shown = [r for r in rows if r["method"] in methods]
    for i, r in enumerate(shown):
        head = (r["model"], r["task"], r["shots"], r["across"])
        new = head != last
        last = head
        nxt = shown[i + 1] if i + 1 < len(shown) else None
        end = nxt is None or (nxt["model"], nxt["task"], nxt["shots"], nxt["across"]) != head
        t.add_row(
            r["model"] if new else "",
            r["task"] if new else "",
            str(r["shots"]) if new else "",
            r["across"] if new else "",
            str(r["macro_f1"].n) if new else "",
            r["method"],
            *[spread_cell(r[k]) for k in STABILITY_KEYS],
            end_section=end,
        )
    return t


def print_stability(rows: list[dict]) -> None:
    _stdout_console().print(stability_table(rows))


# --- quantization ladders ----------------------------------------------------------------


def _with_delta(v, d) -> str:
    if v is None or v != v:
        return "—"
    return f"{v:.3f}" if d is None or d != d else f"{v:.3f} ({d:+.3f})"


def ladder_table(rows: list[dict], methods=METHODS) -> Table:
    """Variants of a model by falling bits per weight, each metric with its change against
    the reference in parentheses (the app shows this same table)."""
    t = PlainTable(title="Quantization ladder: mean over tasks, change against the reference in parentheses")
    for col in ("model", "k", "method", "variant", "bits/weight") + tuple(COLUMN_NAMES[k] for k in STABILITY_KEYS):
        t.add_column(col, justify="right" if col in ("k", "bits/weight") else "left")
    shown = [r for r in rows if r["method"] in methods]
    for i, r in enumerate(shown):
        head = (r["base"], r["shots"], r["method"])
        prev = shown[i - 1] if i else None
        new = prev is None or (prev["base"], prev["shots"], prev["method"]) != head
        nxt = shown[i + 1] if i + 1 < len(shown) else None
        end = nxt is None or (nxt["base"], nxt["shots"], nxt["method"]) != head
        bpw = "—" if r["bits_per_weight"] is None else f"{r['bits_per_weight']:.2f}"
        variant = r["model"] + (" (reference)" if r["model"] == r["reference"] else "")
        t.add_row(
            r["base"] if new else "",
            str(r["shots"]) if new else "",
            r["method"] if new else "",
            variant,
            bpw,
            *[_with_delta(r[k], r["d_" + k]) for k in STABILITY_KEYS],
            end_section=end,
        )
    return t


def print_ladder(rows: list[dict]) -> None:
    _stdout_console().print(ladder_table(rows))


# --- label words ---------------------------------------------------------------------------


def words_table(rows: list[dict]) -> Table:
    """Each task under each set of label words (lbtui.tasks.verbalizers.word_rows): where the
    uncalibrated predictions go (the app shows this same table)."""
    t = PlainTable(title="Label words: uncalibrated predicted share of each class (task order)")
    for col in (
        "model",
        "task",
        "k",
        "seed",
        "words",
        "predicted share",
        "most predicted",
        "BiasScore none",
        "BiasScore BC",
        "same class as original",
    ):
        t.add_column(col)
    for w in rows:
        top = w["most_predicted_class"]
        t.add_row(
            w["model"],
            w["task"],
            str(w["shots"]),
            seed_label(w["seed"], w.get("order", 0)),
            "/".join(w["words"]),
            " ".join(f"{x:.2f}" for x in w["predicted_share"]),
            f"{top} ({w['words'][top]})",
            _fmt(w["bias_score_none"]),
            _fmt(w["bias_score_bc"]),
            "yes" if w["same_class_as_original"] else "no",
        )
    return t


def print_words(rows: list[dict]) -> None:
    _stdout_console().print(words_table(rows))
