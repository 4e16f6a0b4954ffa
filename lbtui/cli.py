"""The command line: ``lbtui`` opens the app; ``lbtui run|prompt|export|bench|tasks|models|...``
work headless. Results go to stdout, diagnostics and progress to stderr.

Exit codes: 0 success, 1 internal error, 2 bad input or usage (one line on stderr naming
the file and field or the option), 3 a ``report --fail-if`` condition holds, 130
interrupted (what was scored is kept).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable, Sequence

from . import cli_classify, models as model_registry, paths
from .cli_parser import build_parser
from .cli_read import cmd_diagnose, cmd_export, cmd_report, cmd_stability
from .auditing.selection import AuditRequest, data_options, split_names
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, Terminated, UserError
from .store import store_error
from .tasks import catalog


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

    entries = [(rep.record, rep.metrics) for rep in reports]
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


def cmd_prompt(a) -> int:
    from .auditing import prompt_view

    registry = model_registry.registry()
    spec = model_registry.resolve(a.model or model_registry.default_model(registry), registry)
    task = catalog.load(a.task, data_options(a))
    view = prompt_view.inspect(
        spec,
        task,
        shots=a.shots,
        seed=a.seed,
        order=a.order,
        set_name=a.set,
        index=a.index,
        example_id=a.example,
        scoring=a.scoring,
    )
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
        rows.append(
            {
                "name": name,
                "labels": list(t.labels),
                "n_pool": len(t.pool),
                "n_test": len(t.test),
                "version": t.version,
                "description": t.description,
                "file": str(path),
            }
        )
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
        rows.append(
            {
                "name": name,
                "default": name == default,
                "source": _model_source(spec),
                "n_ctx": spec.n_ctx,
                "n_gpu_layers": spec.n_gpu_layers,
                "n_threads": spec.n_threads,
                "chat_template": spec.chat_template,
                "threads": spec.n_threads or build["cpu_threads"],
                "gpu_offload_supported": build["gpu_offload_supported"],
                "gpu": "server"
                if spec.server
                else (
                    "no (CPU-only build)"
                    if not build["gpu_offload_supported"]
                    else "all layers"
                    if spec.n_gpu_layers < 0
                    else f"{spec.n_gpu_layers} layers"
                ),
                "note": spec.note,
                "registry": spec.source,
            }
        )
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print_rows(
            rows,
            ["name", "default", "source", "n_ctx", "gpu", "threads", "note"],
            title=f"Models (llama-cpp-python {build['llama_cpp_python']}, GPU offload"
            f" {'supported' if build['gpu_offload_supported'] else 'not in this build'},"
            f" {build['cpu_threads']} CPU threads)",
        )
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
            print(
                f"app over {result['runs']} runs: first table {result['first_table_s']:.2f} s; toggles median"
                f" {result['toggle_ms']['median']:.0f} ms, max {result['toggle_ms']['max']:.0f} ms; worst UI stall"
                f" {result['ui_stall_ms_max']:.0f} ms while scoring;"
                f" {result['queries_per_refresh']} SQL statements a refresh"
            )
        return EXIT_OK
    modes = split_names([a.modes]) if a.modes else list(bench.MODES)
    for m in modes:
        if m not in bench.MODES:
            raise UserError("--modes", f"unknown mode {m!r} ({', '.join(bench.MODES)})")
    if a.shots < 0 or a.limit < 1 or a.naive < 0:
        raise UserError("--shots/--limit/--naive", "shots and naive must be >= 0, limit >= 1")
    registry = model_registry.registry()
    names = split_names(a.model) or [model_registry.default_model(registry)]
    task = catalog.load(a.task, data_options(a))
    results = []
    for name in names:
        spec = model_registry.resolve(name, registry)
        if spec.server:
            raise UserError("--model", f"{name} is a server model; bench measures the local llama.cpp backend")
        if a.classify is not None:
            results += [classify_bench(spec, task, a, mode) for mode in modes]
            continue
        results.append(
            bench.run(
                spec,
                task,
                shots=a.shots,
                limit=a.limit,
                naive=a.naive,
                modes=modes,
                note=lambda m: print(f"lbtui bench: {m}", file=sys.stderr),
            )
        )
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
    return cb.run(
        spec,
        task,
        shots=a.shots,
        limit=a.limit,
        n=a.classify,
        mode=mode,
        note=lambda m: print(f"lbtui bench: {m}", file=sys.stderr),
    )


def cmd_quantize(a) -> int:
    from .models import quantize
    from .report.render import print_rows

    types = quantize.parse_types(a.types)
    spec = model_registry.resolve(a.model)
    variants = quantize.quantize(
        spec,
        types,
        out_dir=a.out_dir,
        threads=a.threads,
        force=a.force,
        note=lambda m: print(f"lbtui quantize: {m}", file=sys.stderr),
    )
    registry = quantize.register(variants, spec, a.registry)
    rows = [
        {
            "name": v.name,
            "type": v.type,
            "bits_per_weight": round(v.bits_per_weight, 3),
            "size_mb": round(v.size_bytes / 2**20, 1),
            "path": str(v.path),
            "written": v.written,
        }
        for v in variants
    ]
    if a.json:
        print(json.dumps({"model": spec.name, "registry": str(registry), "variants": rows}, indent=2))
    else:
        print_rows(
            rows,
            ["name", "type", "bits_per_weight", "size_mb", "written", "path"],
            title=f"Variants of {spec.name}, registered in {registry}",
        )
        names = ",".join([spec.name] + [v.name for v in variants])
        print(f"audit the ladder: lbtui run -m {names} -t all -k 8")
    return EXIT_OK


def cmd_import(a) -> int:
    from .tasks import suites

    exclude = set(split_names(a.exclude))
    target, sel = suites.import_sni(
        a.path,
        name=a.name,
        seed=a.seed,
        test=a.test,
        exclude=exclude,
        force=a.force,
        note=lambda m: print(f"lbtui import: {m}", file=sys.stderr),
    )
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
    return app_exit(app)


def app_exit(app) -> int:
    """The app's exit code: 143 with the usual line when a SIGTERM quit it (its audit was
    stopped and left resumable), else what it returned."""
    if app.terminated:
        print("lbtui: terminated (SIGTERM)" + _resume_hint(None), file=sys.stderr)
        return EXIT_TERMINATED
    return app.return_code or EXIT_OK


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


SCORES = {None, "run", "classify"}  # commands whose scores a rerun reuses (None: the app)


def _resume_hint(a) -> str:
    """What a stopped command leaves: a scoring command kept what it scored; one that only
    reads was just stopped."""
    if a is not None and getattr(a, "command", None) not in SCORES:
        return ""
    return "; what was scored is stored, run the same command to resume"


# The option that names what an error without a place is about (errors.UserError.subject).
SUBJECT_OPTIONS = {"store": "--db", "run": "--run"}


def cli_words(e: UserError) -> str:
    """One line in the CLI's words: the place, or the option of the error's subject."""
    where = e.where or SUBJECT_OPTIONS.get(e.subject or "")
    return f"{where}: {e.message}" if where else e.message


def main(argv: Sequence[str] | None = None, *, backend_factory: Callable | None = None) -> int:
    a = None
    try:
        a = build_parser().parse_args(argv)
        if a.command and threading.current_thread() is threading.main_thread():
            # A service manager's stop acts as ctrl+c, not a silent death (the app installs its
            # own, which quits it as ctrl+q does: ui/app.py).
            signal.signal(signal.SIGTERM, _on_sigterm)
        for name, where in model_registry.local_overrides():
            print(
                f"lbtui: note: {where} redefines the bundled model {name!r}; a models.toml in the current folder"
                " is trusted (it chooses the files and packages lbtui loads)",
                file=sys.stderr,
            )
        commands = {
            "run": lambda a: cmd_run(a, backend_factory),
            "export": cmd_export,
            "tasks": cmd_tasks,
            "models": cmd_models,
            "bench": cmd_bench,
            "report": cmd_report,
            "diagnose": cmd_diagnose,
            "import": cmd_import,
            "suites": cmd_suites,
            "stability": cmd_stability,
            "quantize": cmd_quantize,
            "prompt": cmd_prompt,
            "classify": lambda a: cli_classify.cmd_classify(a, backend_factory),
        }
        return commands.get(a.command, cmd_app)(a)
    except UserError as e:
        print(f"lbtui: error: {cli_words(e)}", file=sys.stderr)
        return e.exit_code
    except sqlite3.DatabaseError as e:  # a damaged page met by a query: the store, not lbtui, is broken
        err = store_error(e, Path(getattr(a, "db", None) or "the store"))
        print(f"lbtui: error: {cli_words(err)}", file=sys.stderr)
        return err.exit_code
    except Terminated:
        print("lbtui: terminated (SIGTERM)" + _resume_hint(a), file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("lbtui: interrupted" + _resume_hint(a), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception:
        traceback.print_exc()
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
