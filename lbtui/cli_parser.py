"""The command line's parser: every subcommand and its options (cli.py runs them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import cli_classify
from .auditing import examples
from .cli_types import run_id
from .errors import UserError
from .backends.base import DEFAULT_SCORING, SCORING_MODES
from .store import SETS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as every other usage error
        raise UserError(None, f"{self.prog}: {message} (see --help)")


def _add_selection(p: argparse.ArgumentParser, *, for_app: bool = False) -> None:
    p.add_argument(
        "-m",
        "--model",
        action="append",
        help="model name from models.toml or a .gguf path (repeatable, or comma-separated)",
    )
    p.add_argument(
        "-t",
        "--task",
        action="append",
        help="bundled task name, 'all' for every bundled task, or a .toml/.jsonl/.csv/SNI .json file (repeatable)",
    )
    p.add_argument(
        "--suite", action="append", help="a registered suite (lbtui import sni): every task of it (repeatable)"
    )
    p.add_argument(
        "-k",
        "--shots",
        default=None if for_app else "0,4,8",
        help="numbers of demonstrations, comma-separated (default 0,4,8)",
    )
    p.add_argument(
        "--seeds", default=None if for_app else "1", help="number of demonstration seeds (seeds 0..N-1; default 1)"
    )
    p.add_argument(
        "--orders",
        default=None if for_app else "1",
        help="orderings of each seed's demonstrations (order 0 as drawn, then"
        " distinct permutations; default 1): how stable is the bias?",
    )
    p.add_argument(
        "--limit",
        type=str,
        default=None if for_app else str(examples.DEFAULT_LIMIT),
        help="test examples a task (default 100)",
    )
    p.add_argument(
        "--scoring",
        choices=SCORING_MODES,
        default=None if for_app else DEFAULT_SCORING,
        help=f"label scoring (default {DEFAULT_SCORING})",
    )
    p.add_argument("--db", type=Path, help="SQLite store (default: $LBTUI_DB or the user data dir)")
    add_data_options(p)


def add_run_selectors(p: argparse.ArgumentParser) -> None:
    """Which stored runs a reading command takes: the one definition of the selectors
    (report, diagnose, stability); each narrows the finished runs, and one that matches
    nothing says which and what the store holds."""
    p.add_argument("--run", type=run_id, action="append", help="run id (repeatable; default: every finished run)")
    p.add_argument("--suite", help="only the runs of this suite's tasks")
    p.add_argument(
        "-m",
        "--model",
        action="append",
        help="only runs of these models: names or .gguf paths (repeatable, comma-separated)",
    )
    p.add_argument(
        "-t",
        "--task",
        action="append",
        help="only runs of these tasks: names or task files (repeatable, comma-separated)",
    )
    p.add_argument("-k", "--shots", help="only runs with these numbers of demonstrations, comma-separated")
    p.add_argument("--seeds", type=int, help="only runs of demonstration seeds 0..N-1")
    p.add_argument("--scoring", choices=SCORING_MODES, help="only runs of this scoring mode")
    p.add_argument("--db", type=Path)


# Every command that loads a task takes these (a test walks the parser to hold it).
DATA_OPTIONS = (
    "--text-field",
    "--label-field",
    "--id-field",
    "--definition",
    "--pool",
    "--split-seed",
    "--skip-unknown-labels",
    "--allow-outside-paths",
    "--data-dir",
    "--allow-duplicates",
)


def add_data_options(p: argparse.ArgumentParser) -> None:
    """How a task file's data is read: the one definition of DATA_OPTIONS."""
    g = p.add_argument_group("plain data files and SNI files")
    g.add_argument("--text-field", default="text", help="input field of a .jsonl/.csv file (default text)")
    g.add_argument("--label-field", default="label", help="label field of a .jsonl/.csv file (default label)")
    g.add_argument("--id-field", default=None, help="example id field (default: the line number)")
    g.add_argument("--definition", default=None, help="task definition (instruction) for a plain data file")
    g.add_argument("--pool", type=int, default=96, help="demonstration pool size (default 96)")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the pool/test split (default 0)")
    g.add_argument(
        "--skip-unknown-labels", action="store_true", help="drop data rows whose label is not in the task's label set"
    )
    g.add_argument("--allow-outside-paths", action="store_true", help="let a task file name data outside its folder")
    g.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="score runs whose test inputs repeat a"
        " demonstration's text (refused by default: the"
        " prompt would hold the answer)",
    )
    g.add_argument(
        "--data-dir",
        type=Path,
        help="resolve task files' data paths against this folder (where your copy of the data sets lives)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lbtui", description="Audit local GGUF language models for label bias (Reif and Schwartz, NAACL 2024)."
    )
    _add_selection(p, for_app=True)
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    for add in (_add_run_and_prompt, _add_export_and_bench, _add_readers, _add_the_rest):
        add(sub)  # in this order: --help lists the subcommands so
    return p


def _add_run_and_prompt(sub) -> None:
    r = sub.add_parser("run", help="audit models on tasks headless and print metrics")
    _add_selection(r)
    r.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    r.add_argument(
        "--verbalizers",
        help="also run each task with other label words, in label order, sets separated"
        " by ';' (e.g. 'bad,good;A,B'): does the bias follow the words or the task?",
    )
    pr = sub.add_parser(
        "prompt",
        help="show exactly what a run feeds the model for one input: text, token ids and"
        " pieces, the KV-cache prefix, each label's scored tokens (loads only the vocabulary)",
    )
    pr.add_argument(
        "-m", "--model", help="model name from models.toml or a .gguf path (a vocabulary-only GGUF will do)"
    )
    pr.add_argument("-t", "--task", required=True, help="bundled task name or task file")
    pr.add_argument("-k", "--shots", type=int, default=0, help="demonstrations (default 0)")
    pr.add_argument("--seed", type=int, default=0, help="demonstration seed (default 0)")
    pr.add_argument("--order", type=int, default=0, help="ordering of the seed's demonstrations (default 0, as drawn)")
    pr.add_argument("--set", default="test", choices=SETS, help="which input set (default test)")
    which = pr.add_mutually_exclusive_group()
    which.add_argument("--index", type=int, help="position in the set (default 0)")
    which.add_argument("--example", help="example id")
    pr.add_argument(
        "--scoring", choices=SCORING_MODES, default=DEFAULT_SCORING, help=f"label scoring (default {DEFAULT_SCORING})"
    )
    pr.add_argument("--json", action="store_true", help="print one JSON document")
    add_data_options(pr)


def _add_export_and_bench(sub) -> None:
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
    b.add_argument("--modes", help=f"scoring modes to time, comma-separated (default all: {', '.join(SCORING_MODES)})")
    add_data_options(b)
    b.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    b.add_argument(
        "--app",
        action="store_true",
        help="measure the app instead: first table, toggles, UI stalls and SQL"
        " statements a refresh over a store of --runs finished runs",
    )
    b.add_argument(
        "--classify",
        type=int,
        metavar="N",
        help="measure lbtui classify instead: N new inputs (test inputs"
        " past --limit) through the run's classifier, against the"
        " audit's inputs/s, per --modes",
    )
    b.add_argument(
        "--runs",
        type=int,
        default=2511,
        help="with --app: finished runs in the throw-away store (default 2511,"
        " the paper's 279 tasks x 3 shots x 3 seeds)",
    )


def _add_readers(sub) -> None:
    """report, diagnose, stability: they read the store only."""
    rp = sub.add_parser("report", help="metrics with bootstrap intervals over stored runs; gates for pipelines")
    add_run_selectors(rp)
    rp.add_argument("--format", choices=["md", "csv", "json", "html"], default="md")
    rp.add_argument("--json", action="store_true", help="the same as --format json")
    rp.add_argument("-o", "--out", type=Path, help="write the report to this file (default stdout)")
    rp.add_argument("--plots", type=Path, help="also write the PNG plots (metric against shots) to this folder")
    rp.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    rp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    rp.add_argument(
        "--jobs",
        type=int,
        help="worker processes for the bootstrap (default: every CPU from 256 runs, else 1: this process)",
    )
    rp.add_argument(
        "--against", default="none", help="the method differences are taken from (default none; e.g. bc, looc)"
    )
    rp.add_argument(
        "--fail-if",
        action="append",
        default=[],
        metavar="[METHOD:]METRIC>X",
        help="exit 3 when the condition holds for any reported row, e.g. 'rsd>0.3', 'looc:macro_f1<0.5',"
        " '*:bias_score>0.2'",
    )
    dg = sub.add_parser(
        "diagnose", help="where a run's bias comes from: priors side by side, majority and recency bias"
    )
    add_run_selectors(dg)
    dg.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    dg.add_argument("--json", action="store_true")
    st = sub.add_parser(
        "stability", help="how findings vary across demonstration seeds and orderings (run with --seeds/--orders)"
    )
    add_run_selectors(st)
    st.add_argument("--json", action="store_true")


def _add_the_rest(sub) -> None:
    """quantize, import, classify and the listings."""
    qz = sub.add_parser(
        "quantize", help="write quantized variants of a model (llama.cpp's quantizer) and register them as MODEL@TYPE"
    )
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
    sn.add_argument(
        "--test", type=int, default=300, help="test examples kept a task (default 300; runs take --limit of them)"
    )
    sn.add_argument(
        "--exclude", action="append", default=[], help="task names to leave out (repeatable, comma-separated)"
    )
    sn.add_argument("--force", action="store_true", help="replace an existing suite of that name")
    sn.add_argument("--json", action="store_true")
    cli_classify.add_parser(sub)
    su = sub.add_parser("suites", help="list registered suites")
    su.add_argument("--json", action="store_true")
    for name, helptext in (("tasks", "list bundled tasks"), ("models", "list registered models")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--json", action="store_true")
