"""Writing a report's rows as Markdown, CSV, JSON or HTML (with PNG plots of each metric
against shots; matplotlib is an optional extra: ``pip install lbtui[report]``)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections import defaultdict
from pathlib import Path

from .. import paths
from ..analysis.bootstrap import KEYS, LEVEL
from ..analysis.calibrations import METHODS
from ..analysis.metrics import PAPER
from ..errors import UserError
from ..analysis.choice import RULE
from .summary import MEAN_TASK, METRIC_LABELS, Group, Row, Summary


FORMATS = ("md", "csv", "json", "html")
SHOWN = PAPER


def _ci(v: float | None, lo: float | None, hi: float | None, signed: bool = False) -> str:
    if v is None:
        return ""
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def _cell(r: Row, group: Group | None = None) -> str:
    """Value [interval], then (min–max over seeds and orderings) where there are several,
    then its marks: "at chance" for a macro-F1 interval that reaches the better guesser,
    † for a degenerate RSD and the share of resamples where it is undefined."""
    text = _ci(r.value, r.lo, r.hi) if r.lo == r.lo else f"{r.value:.3f} [undefined]"
    if r.degenerate:
        text = text.replace(" [", "† [", 1)
    if r.spread_min == r.spread_min:
        text += f" ({r.spread_min:.3f}–{r.spread_max:.3f})"
    if r.undefined == r.undefined and r.undefined > 0:
        text += f", undefined in {r.undefined:.0%} of resamples"
    if group is not None and group.at_chance(r):
        text += " at chance"
    return text


def baseline_line(g: Group) -> str:
    c, m = g.baselines["chance"], g.baselines["majority"]
    return (
        f"chance (uniform guess): accuracy {c['accuracy']:.3f}, macro-F1 {c['macro_f1']:.3f}; majority"
        f" class: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}"
    )


def recommendation_line(g: Group) -> str:
    """The group's recommendation in one line, as the verdict says it."""
    r = g.recommendation
    if r is None:
        return "no recommendation (no bias-set scores)"
    text = f"{r.method} {r.value:.3f} [{r.lo:.3f}, {r.hi:.3f}] (chosen on the {r.chosen_on})"
    if r.runner_up is not None:
        text += (
            f"; runner-up {r.runner_up}, Δ macro-F1 {r.difference:+.3f} [{r.interval[0]:+.3f}, {r.interval[1]:+.3f}]"
        )
    if r.best_f1:
        text += f"; {r.best_f1} has the best macro-F1 but a higher BiasScore than none"
    return f"{text}: {r.reading}"


def _notes(summary: Summary, model: str, shots: int, scoring: str) -> list[str]:
    """Per group of a table: baselines, recommendation, the recommended method's per-class
    numbers and the marks, in Markdown."""
    lines = []
    for g in summary.groups:
        if (g.model, g.shots, g.scoring) != (model, shots, scoring):
            continue
        lines += [f"**{g.task}**: {baseline_line(g)}.", "", f"- recommended: {recommendation_line(g)}"]
        if g.per_class:
            lines.append(
                f"- {g.recommendation.method} per class (precision / recall / F1, support): "
                + "; ".join(
                    f"{lab} {v['precision']:.3f} / {v['recall']:.3f} / {v['f1']:.3f} ({v['support']})"
                    for lab, v in g.per_class.items()
                )
            )
        lines += [f"- {m}" for m in g.marks]
        lines.append("")
    return lines


def _runs_cell(r: Row) -> str:
    return str(r.seeds) if r.orders <= 1 else f"{r.seeds}×{r.orders}"


def _tables(rows: list[Row]) -> dict[tuple, dict[tuple, dict[str, Row]]]:
    """{(model, shots, scoring): {(task, method): {metric: row}}} in report order."""
    out: dict[tuple, dict[tuple, dict[str, Row]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        out[(r.model, r.shots, r.scoring)][(r.task, r.method)][r.metric] = r
    return out


def _header(meta: dict) -> list[str]:
    return [
        f"{meta['runs']} runs; {int(LEVEL * 100)}% percentile bootstrap intervals over {meta['resamples']} resamples"
        f" of each test and bias set (seed {meta['seed']}); differences are paired with"
        f" {'uncalibrated (none)' if meta.get('against', 'none') == 'none' else meta['against'].upper()} on the"
        " same resamples. A task's value is the mean over its seeds (seeds×orderings where demonstrations were"
        " reordered), with their min–max in parentheses when there are several; 'mean' averages the tasks.",
    ]


def markdown(summary: Summary, meta: dict) -> str:
    lines = ["# lbtui report", "", *_header(meta), "", f"Recommendation rule: {RULE}.", ""]
    for (model, shots, scoring), table in _tables(summary.rows).items():
        lines += [f"## {model}, {shots} shots, {scoring} scoring", ""]
        cols = (
            ["task", "method", "seeds", "n_test"]
            + [METRIC_LABELS[k] for k in SHOWN]
            + [f"Δ {METRIC_LABELS[k]} vs {meta.get('against', 'none')}" for k in SHOWN]
        )
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for (task, method), by in table.items():
            first = next(iter(by.values()))
            g = summary.group(model, task, shots, scoring)
            cells = [task, method, _runs_cell(first), str(first.n_test)]
            cells += [_cell(by[k], g) for k in SHOWN]
            cells += [_ci(by[k].diff, by[k].diff_lo, by[k].diff_hi, signed=True) for k in SHOWN]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += _notes(summary, model, shots, scoring)
    return "\n".join(lines)


def to_csv(summary: Summary) -> str:
    """One line per row; text cells formula-safe (safe_cell), baselines as columns."""
    buf = io.StringIO()
    rows = summary.rows
    fields = (list(rows[0].as_dict()) + ["chance_macro_f1", "majority_macro_f1"]) if rows else []
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        d = {k: (safe_cell(v) if isinstance(v, str) else v) for k, v in r.as_dict().items()}
        d["runs"] = " ".join(map(str, r.runs))
        g = summary.group(r.model, r.task, r.shots, r.scoring)
        if g is not None:
            d["chance_macro_f1"], d["majority_macro_f1"] = (
                g.baselines["chance"]["macro_f1"],
                g.baselines["majority"]["macro_f1"],
            )
        w.writerow(d)
    return buf.getvalue()


def to_json(summary: Summary, meta: dict) -> str:
    return json.dumps(
        {
            **meta,
            "rule": RULE,
            "rows": [r.as_dict() for r in summary.rows],
            "groups": [g.as_dict() for g in summary.groups],
        },
        indent=2,
    )


# --- plots ---------------------------------------------------------------------------------


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--format html", "plots need matplotlib: pip install 'lbtui[report]' (or matplotlib)") from None
    return plt


def plots(rows: list[Row]) -> dict[str, bytes]:
    """One PNG per (model, scoring, task shown): macro-F1, RSD and BiasScore against shots,
    a line per method with its bootstrap interval as a band or, where several seeds or
    orderings were run, their range as the band and the interval as bars. With several
    tasks, the mean over tasks."""
    plt = _pyplot()
    by: dict[tuple, list[Row]] = defaultdict(list)
    tasks_of = defaultdict(set)
    for r in rows:
        tasks_of[(r.model, r.scoring)].add(r.task)
    for r in rows:
        shown = MEAN_TASK if MEAN_TASK in tasks_of[(r.model, r.scoring)] else r.task
        if r.task == shown:
            by[(r.model, r.scoring, r.task)].append(r)
    out = {}
    for (model, scoring, task), group in by.items():
        fig, axes = plt.subplots(1, len(SHOWN), figsize=(4.2 * len(SHOWN), 3.4), dpi=100)
        for ax, metric in zip(axes, SHOWN):
            for method in METHODS:
                pts = sorted((r.shots, r.value, r.lo, r.hi) for r in group if r.metric == metric and r.method == method)
                if not pts:
                    continue
                x = [p[0] for p in pts]
                spread = {
                    r.shots: (r.spread_min, r.spread_max)
                    for r in group
                    if r.metric == metric and r.method == method and r.spread_min == r.spread_min
                }
                if spread:  # several seeds or orderings: their range is the band, the interval a bar
                    y = [p[1] for p in pts]
                    (line,) = ax.plot(x, y, marker="o", lw=1.2, label=method)
                    # The interval as it is: it need not hold the mean of the seeds' values
                    # (a skewed metric's two-level interval can lie above or below it).
                    ax.vlines(x, [p[2] for p in pts], [p[3] for p in pts], color=line.get_color(), lw=1.2)
                    lo = [spread.get(k, (v, v))[0] for k, v in zip(x, y)]
                    hi = [spread.get(k, (v, v))[1] for k, v in zip(x, y)]
                    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
                else:
                    (line,) = ax.plot(x, [p[1] for p in pts], marker="o", label=method)
                    ax.fill_between(x, [p[2] for p in pts], [p[3] for p in pts], color=line.get_color(), alpha=0.15)
            ax.set_title(METRIC_LABELS[metric])
            ax.set_xlabel("shots")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        varied = any(r.spread_min == r.spread_min for r in group)
        fig.suptitle(
            f"{model}: {task} ({scoring}); "
            + (
                f"band: range over seeds and orderings, bars: {int(LEVEL * 100)}% bootstrap interval"
                if varied
                else f"band: {int(LEVEL * 100)}% bootstrap interval"
            ),
            fontsize=10,
        )
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        out[f"{model}-{task}-{scoring}.png".replace("/", "_")] = buf.getvalue()
    return out


NO_PLOTS = "plots need matplotlib: pip install 'lbtui[report]' (or matplotlib) and write the report again"


def to_html(summary: Summary, meta: dict) -> str:
    """The tables, the plots where matplotlib is installed (else the file says how to add
    them, and the tables are all there)."""
    esc = html.escape
    rows = summary.rows
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>lbtui report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2){text-align:left}"
        "img{max-width:100%}</style></head><body>",
        "<h1>lbtui report</h1>",
        *(f"<p>{esc(x)}</p>" for x in _header(meta)),
        f"<p>Recommendation rule: {esc(RULE)}.</p>",
    ]
    try:
        pictures = plots(rows)
    except UserError:
        pictures = {}
        parts.append(f"<p><strong>No plots:</strong> {esc(NO_PLOTS)}.</p>")
    for name, png in pictures.items():
        data = base64.b64encode(png).decode()
        parts.append(
            f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{esc(name)}</figcaption></figure>"
        )
    for (model, shots, scoring), table in _tables(rows).items():
        parts.append(f"<h2>{esc(model)}, {shots} shots, {esc(scoring)} scoring</h2><table><tr>")
        heads = (
            ["task", "method", "seeds", "n_test"]
            + [METRIC_LABELS[k] for k in KEYS]
            + [f"Δ {METRIC_LABELS[k]} vs {meta.get('against', 'none')}" for k in KEYS]
        )
        parts.append("".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr>")
        for (task, method), by in table.items():
            first = next(iter(by.values()))
            g = summary.group(model, task, shots, scoring)
            cells = [task, method, _runs_cell(first), first.n_test]
            cells += [_cell(by[k], g) for k in KEYS]
            cells += [_ci(by[k].diff, by[k].diff_lo, by[k].diff_hi, signed=True) for k in KEYS]
            parts.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
        notes = _notes(summary, model, shots, scoring)
        parts.append(
            "<div>" + "".join(f"<p>{esc(x.lstrip('- ').replace('**', ''))}</p>" for x in notes if x) + "</div>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet never runs as a formula: text starting with = + - @ (or a
    tab or carriage return) gets a leading apostrophe (OWASP's advice)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render(summary: Summary, meta: dict, fmt: str) -> str:
    if fmt == "md":
        return markdown(summary, meta)
    if fmt == "csv":
        return to_csv(summary)
    if fmt == "json":
        return to_json(summary, meta)
    if fmt == "html":
        return to_html(summary, meta)
    raise UserError("--format", f"unknown format {fmt!r} ({', '.join(FORMATS)})")


def write_plots(rows: list[Row], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, png in plots(rows).items():
        path = paths.within(folder, name, "--plots")
        path.write_bytes(png)
        out.append(path)
    return out


def write_report(results, run_ids: list[int], fmt: str, folder: Path, *, resamples: int = 1000) -> Path:
    """The report of the finished runs among ``run_ids`` written to a new file in ``folder``
    (what the app's ctrl+e does): complete or not at all. ``results``: the app's service,
    so that runs it has drawn already are not resampled again."""
    import time

    from .summary import summarize

    runs = [r for r in (results.run(i) for i in run_ids) if r["status"] == "done"]
    if not runs:
        raise UserError("export", "no finished run is shown; finish or add one first")
    meta = {"runs": len(runs), "resamples": resamples, "seed": 0, "level": 0.95, "against": "none"}
    text = render(summarize(results, runs, resamples=resamples), meta, fmt)
    out = paths.within(folder, f"lbtui-report-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}", "export")
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(out)
    return out
