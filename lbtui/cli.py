"""The command line: ``lbtui`` opens the app; ``lbtui run|prompt|export|bench|tasks|models|...``
work headless. Results go to stdout, diagnostics and progress to stderr.

Exit codes: 0 success, 1 internal error, 2 bad input or usage (one line on stderr naming
the file and field or the option), 3 a ``report --fail-if`` condition holds, 130
interrupted (what was scored is kept).
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sqlite3
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable, Sequence

from . import cli_classify, models as model_registry, paths
from .cli_types import run_id
from .auditing import examples
from .auditing.selection import AuditRequest, Selection, data_options, select, split_names
from .errors import EXIT_GATE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, Terminated, UserError
from .store import SETS, store_error
from .tasks import catalog
from .tasks.taskfile import DataOptions


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as every other usage error
        raise UserError(None, f"{self.prog}: {message} (see --help)")


def _add_selection(p: argparse.ArgumentParser, *, for_app: bool = False) -> None:
    p.add_argument("-m", "--model", action="append", help="model name from models.toml or a .gguf path (repeatable, or comma-separated)")
    p.add_argument("-t", "--task", action="append", help="bundled task name, 'all' for every bundled task, or a .toml/.jsonl/.csv/SNI .json file (repeatable)")
    p.add_argument("--suite", action="append", help="a registered suite (lbtui import sni): every task of it (repeatable)")
    p.add_argument("-k", "--shots", default=None if for_app else "0,4,8", help="numbers of demonstrations, comma-separated (default 0,4,8)")
    p.add_argument("--seeds", default=None if for_app else "1", help="number of demonstration seeds (seeds 0..N-1; default 1)")
    p.add_argument("--orders", default=None if for_app else "1", help="orderings of each seed's demonstrations (order 0 as drawn, then"
                                                                   " distinct permutations; default 1): how stable is the bias?")
    p.add_argument("--limit", type=str, default=None if for_app else str(examples.DEFAULT_LIMIT), help="test examples a task (default 100)")
    p.add_argument("--scoring", choices=["full", "first-token"], default=None if for_app else "full", help="label scoring (default full)")
    p.add_argument("--db", type=Path, help="SQLite store (default: $LBTUI_DB or the user data dir)")
    g = p.add_argument_group("plain data files and SNI files")
    g.add_argument("--text-field", default="text", help="input field of a .jsonl/.csv file (default text)")
    g.add_argument("--label-field", default="label", help="label field of a .jsonl/.csv file (default label)")
    g.add_argument("--id-field", default=None, help="example id field (default: the line number)")
    g.add_argument("--definition", default=None, help="task definition (instruction) for a plain data file")
    g.add_argument("--pool", type=int, default=96, help="demonstration pool size (default 96)")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the pool/test split (default 0)")
    g.add_argument("--skip-unknown-labels", action="store_true", help="drop data rows whose label is not in the task's label set")
    g.add_argument("--allow-outside-paths", action="store_true", help="let a task file name data outside its folder")
    g.add_argument("--data-dir", type=Path, help="resolve task files' data paths against this folder (where your copy of the data sets lives)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lbtui", description="Audit local GGUF language models for label bias (Reif and Schwartz, NAACL 2024).")
    _add_selection(p, for_app=True)
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    r = sub.add_parser("run", help="audit models on tasks headless and print metrics")
    _add_selection(r)
    r.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    r.add_argument("--verbalizers", help="also run each task with other label words, in label order, sets separated"
                                         " by ';' (e.g. 'bad,good;A,B'): does the bias follow the words or the task?")
    pr = sub.add_parser("prompt", help="show exactly what a run feeds the model for one input: text, token ids and"
                                       " pieces, the KV-cache prefix, each label's scored tokens (loads only the vocabulary)")
    pr.add_argument("-m", "--model", help="model name from models.toml or a .gguf path (a vocabulary-only GGUF will do)")
    pr.add_argument("-t", "--task", required=True, help="bundled task name or task file")
    pr.add_argument("-k", "--shots", type=int, default=0, help="demonstrations (default 0)")
    pr.add_argument("--seed", type=int, default=0, help="demonstration seed (default 0)")
    pr.add_argument("--order", type=int, default=0, help="ordering of the seed's demonstrations (default 0, as drawn)")
    pr.add_argument("--set", default="test", choices=SETS, help="which input set (default test)")
    which = pr.add_mutually_exclusive_group()
    which.add_argument("--index", type=int, help="position in the set (default 0)")
    which.add_argument("--example", help="example id")
    pr.add_argument("--scoring", choices=["full", "first-token"], default="full", help="label scoring (default full)")
    pr.add_argument("--json", action="store_true", help="print one JSON document")
    pr.add_argument("--data-dir", type=Path, help="resolve the task file's data paths against this folder")
    pr.add_argument("--allow-outside-paths", action="store_true", help="let a task file name data outside its folder")
    e = sub.add_parser("export", help="print every stored raw score of a run")
    e.add_argument("--run", type=run_id, required=True, help="run id")
    e.add_argument("--db", type=Path)
    e.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    b = sub.add_parser("bench", help="measure audit speed against llama.cpp's raw rate and the naive approach")
    b.add_argument("-m", "--model", action="append", help="model name or .gguf path (default: the default model)")
    b.add_argument("-t", "--task", default="reviews", help="bundled task or task file (default reviews)")
    b.add_argument("-k", "--shots", type=int, default=8, help="demonstrations (default 8)")
    b.add_argument("--limit", type=int, default=200, help="test examples (default 200)")
    b.add_argument("--naive", type=int, default=8, help="test examples scored the naive way (default 8; 0 skips)")
    b.add_argument("--modes", default="first-token,full", help="scoring modes to time (default first-token,full)")
    b.add_argument("--data-dir", type=Path, help="resolve the task file's data paths against this folder")
    b.add_argument("--allow-outside-paths", action="store_true", help="let a task file name data outside its folder")
    b.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    b.add_argument("--app", action="store_true", help="measure the app instead: first table, toggles, UI stalls and SQL"
                                                     " statements a refresh over a store of --runs finished runs")
    b.add_argument("--classify", type=int, metavar="N", help="measure lbtui classify instead: N new inputs (test inputs"
                                                             " past --limit) through the run's classifier, against the"
                                                             " audit's inputs/s, per --modes")
    b.add_argument("--runs", type=int, default=2511, help="with --app: finished runs in the throw-away store (default 2511,"
                                                          " the paper's 279 tasks x 3 shots x 3 seeds)")
    rp = sub.add_parser("report", help="metrics with bootstrap intervals over stored runs; gates for pipelines")
    rp.add_argument("--run", type=run_id, action="append", help="run id (repeatable; default: every finished run)")
    rp.add_argument("--suite", help="only the runs of this suite's tasks")
    rp.add_argument("--db", type=Path)
    rp.add_argument("--format", choices=["md", "csv", "json", "html"], default="md")
    rp.add_argument("--json", action="store_true", help="the same as --format json")
    rp.add_argument("-o", "--out", type=Path, help="write the report to this file (default stdout)")
    rp.add_argument("--plots", type=Path, help="also write the PNG plots (metric against shots) to this folder")
    rp.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    rp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    rp.add_argument("--against", default="none", help="the method differences are taken from (default none; e.g. bc, looc)")
    rp.add_argument("--fail-if", action="append", default=[], metavar="[METHOD:]METRIC>X",
                    help="exit 3 when the condition holds for any reported row, e.g. 'rsd>0.3', 'looc:macro_f1<0.5', '*:bias_score>0.2'")
    dg = sub.add_parser("diagnose", help="where a run's bias comes from: priors side by side, majority and recency bias")
    dg.add_argument("--run", type=run_id, action="append", required=True, help="run id (repeatable)")
    dg.add_argument("--db", type=Path)
    dg.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    dg.add_argument("--json", action="store_true")
    st = sub.add_parser("stability", help="how findings vary across demonstration seeds and orderings (run with --seeds/--orders)")
    st.add_argument("--run", type=run_id, action="append", help="run id (repeatable; default: every finished run)")
    st.add_argument("--suite", help="only the runs of this suite's tasks")
    st.add_argument("-m", "--model", action="append", help="only runs of these model names (repeatable, comma-separated)")
    st.add_argument("-t", "--task", action="append", help="only runs of these task names (repeatable, comma-separated)")
    st.add_argument("--db", type=Path)
    st.add_argument("--json", action="store_true")
    qz = sub.add_parser("quantize", help="write quantized variants of a model (llama.cpp's quantizer) and register them as MODEL@TYPE")
    qz.add_argument("model", help="model name from models.toml or a .gguf path")
    qz.add_argument("--types", required=True, help="comma-separated llama.cpp types, e.g. q8_0,q4_k_m,q2_k")
    qz.add_argument("--out-dir", type=Path, help="folder for the variants (default: the user data dir's models/)")
    qz.add_argument("--registry", type=Path, help="models.toml to register them in (default: the user config dir's)")
    qz.add_argument("--threads", type=int, default=0, help="quantizer threads (default: every core)")
    qz.add_argument("--force", action="store_true", help="write variants again even where the file exists")
    qz.add_argument("--json", action="store_true")
    im = sub.add_parser("import", help="import a data set as a suite of tasks")
    isub = im.add_subparsers(dest="source", parser_class=_Parser, required=True)
    sn = isub.add_parser("sni", help="Super-NaturalInstructions: the paper's classification tasks")
    sn.add_argument("path", type=Path, help="a local copy of Super-NaturalInstructions (its tasks/*.json)")
    sn.add_argument("--name", default="sni", help="suite name (default sni)")
    sn.add_argument("--seed", type=int, default=0, help="seed of each task's pool/test split (default 0)")
    sn.add_argument("--test", type=int, default=300, help="test examples kept a task (default 300; runs take --limit of them)")
    sn.add_argument("--exclude", action="append", default=[], help="task names to leave out (repeatable, comma-separated)")
    sn.add_argument("--force", action="store_true", help="replace an existing suite of that name")
    sn.add_argument("--json", action="store_true")
    cli_classify.add_parser(sub)
    su = sub.add_parser("suites", help="list registered suites")
    su.add_argument("--json", action="store_true")
    for name, helptext in (("tasks", "list bundled tasks"), ("models", "list registered models")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--json", action="store_true")
    return p


# --- helpers ---------------------------------------------------------------------------


def selection(a) -> Selection:
    return select(a.model, a.task, suites=a.suite, shots=a.shots, seeds=a.seeds, limit=a.limit, scoring=a.scoring,
                  data=data_options(a), orders=a.orders)


def open_store(db: Path | None):
    """The store of --db (default: the user's data folder) for commands that only read: an
    existing store, opened read-only, never created or altered (`run` writes through
    auditing.engine.audit_into)."""
    from .store import Store

    return Store(db or paths.default_db(), readonly=True)


# --- commands --------------------------------------------------------------------------


def cmd_run(a, backend_factory=None) -> int:
    from .auditing.engine import audit_into
    from .results import report
    from .report.render import ProgressBar, metrics_json, print_tables

    plans = AuditRequest.from_args(a).plans()
    path = a.db or paths.default_db()
    if a.db is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with ProgressBar() as progress:
        store, run_ids = audit_into(path, plans, progress=progress, backend_factory=backend_factory)
    reports = [report(store, rid) for rid in run_ids]
    store.close()  # everything below reads the reports; the WAL is checkpointed now, not at exit
    from .analysis import ladder, stability
    from .analysis.calibrations import METHODS

    entries = [(rep.run, rep.metrics) for rep in reports]
    spread = stability.spread_rows(entries, METHODS)
    rungs = ladder.rows(entries, METHODS)
    if a.json:
        for line in sorted({f"{m}: {why}" for rep in reports for m, why in rep.reasons.items()}):
            print(f"lbtui: {line}", file=sys.stderr)
        doc = metrics_json(reports)
        if a.verbalizers:
            from .tasks.verbalizers import word_rows

            doc["verbalizers"] = word_rows(reports)
        if spread:
            from .report.render import stability_json

            doc["stability"] = stability_json(spread)
        if rungs:
            doc["ladder"] = rungs
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_tables(reports)
        if spread:
            from .report.render import print_stability

            print_stability(spread)
        if rungs:
            from .report.render import print_ladder

            print_ladder(rungs)
        if a.verbalizers:
            from .report.render import print_words
            from .tasks.verbalizers import word_rows

            print_words(word_rows(reports))
    return EXIT_OK


def cmd_export(a) -> int:
    from .report.formats import safe_cell

    store = open_store(a.db)
    run = store.run(a.run)
    labels = run["labels"]
    rows = store.score_rows(a.run)
    if run["status"] != "done":
        print(f"lbtui export: run {a.run} is {run['status']}: {len(rows)} of {run['n_items']} inputs are scored, and"
              " only those are printed", file=sys.stderr)
    out = sys.stdout
    if a.format == "jsonl":
        for r in rows:
            scores = json.loads(r["scores"])
            out.write(json.dumps({
                "run_id": r["run_id"], "set": r["set"], "example_id": r["example_id"],
                "gold": None if r["gold"] is None else labels[r["gold"]],
                "scores": dict(zip(labels, scores)),
            }) + "\n")
    else:
        w = csv.writer(out)
        w.writerow(["run_id", "set", "idx", "example_id", "gold", "text"] + [f"score:{lab}" for lab in labels])
        for r in rows:
            gold = "" if r["gold"] is None else labels[r["gold"]]
            w.writerow([r["run_id"], r["set"], r["idx"], safe_cell(r["example_id"]), safe_cell(gold), safe_cell(r["text"])]
                       + [repr(x) for x in json.loads(r["scores"])])
    return EXIT_OK


def cmd_prompt(a) -> int:
    from .auditing import prompt_view

    registry = model_registry.registry()
    spec = model_registry.resolve(a.model or model_registry.default_model(registry), registry)
    task = catalog.load(a.task, DataOptions(data_dir=a.data_dir, allow_outside=a.allow_outside_paths))
    view = prompt_view.inspect(spec, task, shots=a.shots, seed=a.seed, order=a.order, set_name=a.set, index=a.index,
                               example_id=a.example, scoring=a.scoring)
    if a.json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
    else:
        print(prompt_view.render(view))
    return EXIT_OK


def cmd_tasks(a) -> int:
    from .report.render import print_rows

    rows = []
    for name, path in catalog.bundled().items():
        t = catalog.load(name)
        rows.append({"name": name, "labels": list(t.labels), "n_pool": len(t.pool), "n_test": len(t.test),
                     "version": t.version, "description": t.description, "file": str(path)})
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print_rows(rows, ["name", "labels", "n_pool", "n_test", "description"], title="Bundled tasks")
    return EXIT_OK


def _model_source(spec) -> str:
    if spec.server:
        return "server " + " ".join(spec.server)
    if spec.repo:
        return f"hf:{spec.repo}/{spec.file}" + (f"@{spec.revision}" if spec.revision else "")
    return str(spec.path) if spec.path else f"package {spec.package}"


def cmd_models(a) -> int:
    from .backends import build_info
    from .report.render import print_rows

    build = build_info()
    registry = model_registry.registry()
    default = model_registry.default_model(registry)
    rows = []
    for name, spec in registry.items():
        rows.append({
            "name": name, "default": name == default,
            "source": _model_source(spec), "n_ctx": spec.n_ctx,
            "n_gpu_layers": spec.n_gpu_layers, "n_threads": spec.n_threads, "chat_template": spec.chat_template,
            "threads": spec.n_threads or build["cpu_threads"], "gpu_offload_supported": build["gpu_offload_supported"],
            "gpu": "server" if spec.server else ("no (CPU-only build)" if not build["gpu_offload_supported"]
                                                 else "all layers" if spec.n_gpu_layers < 0 else f"{spec.n_gpu_layers} layers"),
            "note": spec.note, "registry": spec.source,
        })
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print_rows(rows, ["name", "default", "source", "n_ctx", "gpu", "threads", "note"],
                   title=f"Models (llama-cpp-python {build['llama_cpp_python']}, GPU offload"
                         f" {'supported' if build['gpu_offload_supported'] else 'not in this build'}, {build['cpu_threads']} CPU threads)")
    return EXIT_OK


def cmd_bench(a) -> int:
    from .auditing import bench
    from .report.render import print_bench, print_rows

    if a.app:
        from .ui import bench as bench_app

        if a.runs < 1:
            raise UserError("--runs", f"must be >= 1, got {a.runs}")
        result = bench_app.run(a.runs, note=lambda m: print(f"lbtui bench --app: {m}", file=sys.stderr))
        if a.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"app over {result['runs']} runs: first table {result['first_table_s']:.2f} s; toggles median"
                  f" {result['toggle_ms']['median']:.0f} ms, max {result['toggle_ms']['max']:.0f} ms; worst UI stall"
                  f" {result['ui_stall_ms_max']:.0f} ms while scoring; {result['queries_per_refresh']} SQL statements a refresh")
        return EXIT_OK
    modes = split_names([a.modes])
    for m in modes:
        if m not in bench.MODES:
            raise UserError("--modes", f"unknown mode {m!r} (first-token, full)")
    if a.shots < 0 or a.limit < 1 or a.naive < 0:
        raise UserError("--shots/--limit/--naive", "shots and naive must be >= 0, limit >= 1")
    registry = model_registry.registry()
    names = split_names(a.model) or [model_registry.default_model(registry)]
    task = catalog.load(a.task, DataOptions(data_dir=a.data_dir, allow_outside=a.allow_outside_paths))
    results = []
    for name in names:
        spec = model_registry.resolve(name, registry)
        if spec.server:
            raise UserError("--model", f"{name} is a server model; bench measures the local llama.cpp backend")
        if a.classify is not None:
            results += [classify_bench(spec, task, a, mode) for mode in modes]
            continue
        results.append(bench.run(spec, task, shots=a.shots, limit=a.limit, naive=a.naive, modes=modes,
                                 note=lambda m: print(f"lbtui bench: {m}", file=sys.stderr)))
    if a.json:
        one = len(results) == 1 and a.classify is None  # --classify: always a list, a row per model and mode
        json.dump(results[0] if one else results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif a.classify is not None:
        print_rows(results, list(results[0]), title="lbtui classify against the audit (inputs/s)")
    else:
        for r in results:
            print_bench(r)
    return EXIT_OK


def classify_bench(spec, task, a, mode: str) -> dict:
    from .results import classify_bench as cb

    if a.classify < 1:
        raise UserError("--classify", f"must be >= 1, got {a.classify}")
    return cb.run(spec, task, shots=a.shots, limit=a.limit, n=a.classify, mode=mode,
                  note=lambda m: print(f"lbtui bench: {m}", file=sys.stderr))


def cmd_report(a) -> int:
    from .report import formats as report_format, summary as report
    from .results import Results
    from .tasks import suites

    gates = [report.parse_gate(g) for g in a.fail_if]
    if a.resamples < 10:
        raise UserError("--resamples", "must be at least 10")
    if a.out:  # before the work, not after minutes of bootstrap
        paths.check_output_file(a.out, "--out")
    if a.plots:
        paths.check_output_folder(a.plots, "--plots")
    store = open_store(a.db)
    names = [p.stem for p in suites.task_files(a.suite)] if a.suite else None
    runs = report.select_runs(store, a.run, names)
    summary = report.summarize(Results(store), runs, resamples=a.resamples, seed=a.seed, against=a.against.lower())
    rows = summary.rows
    meta = {"runs": len(runs), "resamples": a.resamples, "seed": a.seed, "level": 0.95, "against": a.against.lower()}
    fmt = "json" if a.json else a.format
    text = report_format.render(summary, meta, fmt)
    if fmt == "html" and "No plots:" in text:
        print(f"lbtui report: {report_format.NO_PLOTS}; the tables are written", file=sys.stderr)
    if a.plots:
        for path in report_format.write_plots(rows, a.plots):
            print(f"lbtui report: wrote {path}", file=sys.stderr)
    if a.out:
        tmp = a.out.with_name(a.out.name + ".part")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(a.out)  # never a half-written report
        print(f"lbtui report: wrote {a.out}", file=sys.stderr)
    else:
        sys.stdout.write(text + "\n")
    tripped = [(g, r) for g in gates for r in g.hits(rows)]
    for g, r in tripped[:20]:
        print(f"lbtui: fail-if {g.text}: {r.model} {r.task} k={r.shots} {r.method} {r.metric} = {r.value:.3f}", file=sys.stderr)
    if len(tripped) > 20:
        print(f"lbtui: fail-if: {len(tripped) - 20} more rows", file=sys.stderr)
    return EXIT_GATE if tripped else EXIT_OK


def cmd_diagnose(a) -> int:
    from .analysis import diagnose
    from .results import run_scores
    from .results.service import not_done
    from .report.render import diagnosis_json, print_diagnosis

    store = open_store(a.db)
    out = []
    for rid in a.run:
        run = store.run(rid)
        if run["status"] != "done":
            raise UserError("--run", not_done(run))
        rs = run_scores(store, rid)
        out.append((run, diagnose.prior_table(rs), diagnose.demo_effects(rs, resamples=a.resamples)))
    if a.json:
        print(json.dumps([diagnosis_json(*x) for x in out], indent=2))
    else:
        for x in out:
            print_diagnosis(*x)
        print_pooled(store, [x[0] for x in out])
    return EXIT_OK


def print_pooled(store, runs: list[dict]) -> None:
    """With several runs of one model, task, k and scoring mode: the pooled reading."""
    from .report.reading import pooled
    from .results import Results

    results = Results(store)
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["model_name"], r["task_name"], r["shots"], r["scoring"]), []).append(r)
    for members in groups.values():
        if len(members) > 1:
            items = [(r, results.report(r["id"]).metrics) for r in members]
            print("\n".join(pooled(members[0]["labels"], items)))


def cmd_stability(a) -> int:
    from .analysis import stability
    from .analysis.calibrations import METHODS
    from .results import report
    from .report.render import print_stability, stability_json
    from .report.summary import select_runs
    from .tasks import suites

    store = open_store(a.db)
    names = [p.stem for p in suites.task_files(a.suite)] if a.suite else None
    if a.task:
        names = [n for n in split_names(a.task) if names is None or n in names]
    runs = select_runs(store, a.run, names)
    if a.model:
        wanted = set(split_names(a.model))
        runs = [r for r in runs if r["model_name"] in wanted]
    rows = stability.spread_rows([(r, report(store, r["id"]).metrics) for r in runs], METHODS)
    if not rows:
        raise UserError("--run", f"no group of these {len(runs)} runs varies in seed or ordering;"
                                 " run with --seeds N and/or --orders N first")
    if a.json:
        print(json.dumps(stability_json(rows), indent=2))
    else:
        print_stability(rows)
    return EXIT_OK


def cmd_quantize(a) -> int:
    from .models import quantize
    from .report.render import print_rows

    types = quantize.parse_types(a.types)
    spec = model_registry.resolve(a.model)
    variants = quantize.quantize(spec, types, out_dir=a.out_dir, threads=a.threads, force=a.force,
                                 note=lambda m: print(f"lbtui quantize: {m}", file=sys.stderr))
    registry = quantize.register(variants, spec, a.registry)
    rows = [{"name": v.name, "type": v.type, "bits_per_weight": round(v.bits_per_weight, 3), "size_mb": round(v.size_bytes / 2**20, 1),
             "path": str(v.path), "written": v.written} for v in variants]
    if a.json:
        print(json.dumps({"model": spec.name, "registry": str(registry), "variants": rows}, indent=2))
    else:
        print_rows(rows, ["name", "type", "bits_per_weight", "size_mb", "written", "path"], title=f"Variants of {spec.name}, registered in {registry}")
        names = ",".join([spec.name] + [v.name for v in variants])
        print(f"audit the ladder: lbtui run -m {names} -t all -k 8")
    return EXIT_OK


def cmd_import(a) -> int:
    from .tasks import suites

    exclude = set(split_names(a.exclude))
    target, sel = suites.import_sni(a.path, name=a.name, seed=a.seed, test=a.test, exclude=exclude, force=a.force,
                                    note=lambda m: print(f"lbtui import: {m}", file=sys.stderr))
    if a.json:
        print(json.dumps({"suite": a.name, "folder": str(target), "tasks": sel.kept, "skipped": sel.skipped}, indent=2))
    else:
        print(f"suite {a.name}: {len(sel.kept)} tasks in {target}")
        for t in sel.kept:
            print(f"  {t}")
        print(f"left out: {len(sel.skipped)} (lbtui import sni ... --json lists why)")
    return EXIT_OK


def cmd_suites(a) -> int:
    from .report.render import print_rows
    from .tasks import suites

    rows = [{"name": n, "tasks": len(suites.task_files(n)), "folder": str(p)} for n, p in suites.available().items()]
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print_rows(rows, ["name", "tasks", "folder"], title="Suites")
    return EXIT_OK


def cmd_app(a) -> int:
    if not split_names(a.model):  # the default model must be there before the app opens
        registry = model_registry.registry()
        model_registry.resolve(model_registry.default_model(registry), registry).check_installed()
    from .ui.app import make_app

    app = make_app(args=a)
    app.run()
    return app.return_code or EXIT_OK


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None, *, backend_factory: Callable | None = None) -> int:
    a = None
    try:
        a = build_parser().parse_args(argv)
        if a.command and threading.current_thread() is threading.main_thread():
            # A service manager's stop acts as ctrl+c, not a silent death (the app has its own).
            signal.signal(signal.SIGTERM, _on_sigterm)
        for name, where in model_registry.local_overrides():
            print(f"lbtui: note: {where} redefines the bundled model {name!r}; a models.toml in the current folder"
                  " is trusted (it chooses the files and packages lbtui loads)", file=sys.stderr)
        commands = {
            "run": lambda a: cmd_run(a, backend_factory), "export": cmd_export, "tasks": cmd_tasks,
            "models": cmd_models, "bench": cmd_bench, "report": cmd_report, "diagnose": cmd_diagnose,
            "import": cmd_import, "suites": cmd_suites, "stability": cmd_stability,
            "quantize": cmd_quantize, "prompt": cmd_prompt,
            "classify": lambda a: cli_classify.cmd_classify(a, backend_factory),
        }
        return commands.get(a.command, cmd_app)(a)
    except UserError as e:
        print(f"lbtui: error: {e}", file=sys.stderr)
        return e.exit_code
    except sqlite3.DatabaseError as e:  # a damaged page met by a query: the store, not lbtui, is broken
        err = store_error(e, Path(getattr(a, "db", None) or "the store"))
        print(f"lbtui: error: {err}", file=sys.stderr)
        return err.exit_code
    except Terminated:
        print("lbtui: terminated (SIGTERM); what was scored is stored, run the same command to resume", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("lbtui: interrupted; what was scored is stored, run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception:
        traceback.print_exc()
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
