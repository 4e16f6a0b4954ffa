"""The commands that only read a store: export, report, diagnose, stability. Each opens
the store read-only and reads through lbtui.results."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from . import paths
from .auditing.selection import split_names
from .errors import EXIT_GATE, EXIT_OK, UserError


def open_store(db: Path | None):
    """The store of --db (default: the user's data folder) for commands that only read: an
    existing store, opened read-only, never created or altered (`run` writes through
    auditing.engine.audit_into)."""
    from .store import Store

    return Store(db or paths.default_db(), readonly=True)


def _task_name(value: str) -> str:
    """A task selector as the store names the task: a task TOML file's `name` (else its
    stem), a data file's stem, or the name as given."""
    path = Path(value)
    if path.suffix == ".toml" and path.is_file():
        import tomllib

        try:
            name = tomllib.loads(path.read_text(encoding="utf-8")).get("name")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            name = None
        return name.strip() if isinstance(name, str) and name.strip() else path.stem
    return path.stem if path.suffix in (".jsonl", ".csv", ".tsv", ".ndjson", ".json") else value


def select_stored(store, a) -> list[dict]:
    """The finished runs the selectors choose (cli_parser.add_run_selectors): --run ids or
    every finished run, then each selector given narrows them; one that leaves nothing is
    refused naming it and what the runs before it held."""
    from .report.summary import select_runs
    from .tasks import suites

    names = [p.stem for p in suites.task_files(a.suite)] if a.suite else None
    runs = select_runs(store, a.run, names)
    shots = None
    if a.shots:
        try:
            shots = [int(x) for x in split_names(a.shots)]
        except ValueError:
            raise UserError("-k", f"give numbers of demonstrations, e.g. 0,4,8, not {a.shots!r}") from None
    checks = (
        (
            "-m",
            "model",
            "model_name",
            [Path(m).stem if m.endswith(".gguf") else m for m in split_names(a.model)] or None,
        ),
        ("-t", "task", "task_name", [_task_name(t) for t in split_names(a.task)] or None),
        ("-k", "shots", "shots", shots),
        ("--seeds", "seed", "seed", list(range(a.seeds)) if a.seeds else None),
        ("--scoring", "scoring", "scoring", [a.scoring] if a.scoring else None),
    )
    for option, what, key, wanted in checks:
        if wanted is None:
            continue
        kept = [r for r in runs if r[key] in wanted]
        if not kept:
            held = ", ".join(sorted({str(r[key]) for r in runs}, key=lambda x: (len(x), x)))
            raise UserError(
                option,
                f"no finished run of {what} {', '.join(map(str, wanted))} among the {len(runs)}"
                f" selected in {store.path}; they hold {what} {held}",
            )
        runs = kept
    return runs


def cmd_export(a) -> int:
    from .report.formats import safe_cell

    store = open_store(a.db)
    run = store.run(a.run)
    labels = run["labels"]
    rows = store.score_rows(a.run)
    if run["status"] != "done":
        print(
            f"lbtui export: run {a.run} is {run['status']}: {len(rows)} of {run['n_items']} inputs are scored, and"
            " only those are printed",
            file=sys.stderr,
        )
    out = sys.stdout
    if a.format == "jsonl":
        for r in rows:
            scores = json.loads(r["scores"])
            out.write(
                json.dumps(
                    {
                        "run_id": r["run_id"],
                        "set": r["set"],
                        "example_id": r["example_id"],
                        "gold": None if r["gold"] is None else labels[r["gold"]],
                        "scores": dict(zip(labels, scores)),
                    }
                )
                + "\n"
            )
    else:
        w = csv.writer(out)
        w.writerow(["run_id", "set", "idx", "example_id", "gold", "text"] + [f"score:{lab}" for lab in labels])
        for r in rows:
            gold = "" if r["gold"] is None else labels[r["gold"]]
            w.writerow(
                [r["run_id"], r["set"], r["idx"], safe_cell(r["example_id"]), safe_cell(gold), safe_cell(r["text"])]
                + [repr(x) for x in json.loads(r["scores"])]
            )
    return EXIT_OK


def cmd_report(a) -> int:
    from .report import formats as report_format, summary as report
    from .report.gates import parse_gate
    from .results import Results, pool

    gates = [parse_gate(g) for g in a.fail_if]
    if a.resamples < 10:
        raise UserError("--resamples", "must be at least 10")
    if a.out:  # before the work, not after minutes of bootstrap
        paths.check_output_file(a.out, "--out")
    if a.plots:
        paths.check_output_folder(a.plots, "--plots")
    if a.jobs is not None and a.jobs < 1:
        raise UserError("--jobs", "must be at least 1")
    store = open_store(a.db)
    runs = select_stored(store, a)
    jobs = a.jobs or pool.auto_jobs(len(runs))
    summary = report.summarize(
        Results(store), runs, resamples=a.resamples, seed=a.seed, against=a.against.lower(), jobs=jobs
    )
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
        print(
            f"lbtui: fail-if {g.text}: {r.model} {r.task} k={r.shots} {r.method} {r.metric} = {r.value:.3f}",
            file=sys.stderr,
        )
    if len(tripped) > 20:
        print(f"lbtui: fail-if: {len(tripped) - 20} more rows", file=sys.stderr)
    return EXIT_GATE if tripped else EXIT_OK


def cmd_diagnose(a) -> int:
    from .analysis import diagnose
    from .results import run_scores
    from .report.render import diagnosis_json, print_diagnosis

    store = open_store(a.db)
    out = []
    for run in select_stored(store, a):
        rs = run_scores(store, run["id"])
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

    store = open_store(a.db)
    runs = select_stored(store, a)
    rows = stability.spread_rows([(r, report(store, r["id"]).metrics) for r in runs], METHODS)
    if not rows:
        raise UserError(
            "--run",
            f"no group of these {len(runs)} runs varies in seed or ordering;"
            " run with --seeds N and/or --orders N first",
        )
    if a.json:
        print(json.dumps(stability_json(rows), indent=2))
    else:
        print_stability(rows)
    return EXIT_OK
