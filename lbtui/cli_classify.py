"""``lbtui classify``: new inputs through an audited run's prompt and calibration
(lbtui/results/classifier.py), from a run in the store or from a saved card.

Input rows are JSONL or CSV (``-``: standard input, one JSON object a line) holding the
task's input fields and an optional ``id``; other fields are ignored. Every row is read
and checked before anything is scored or printed, so a bad row prints nothing but its
one-line error (exit 2)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from .cli_types import run_id
from .errors import EXIT_OK, UserError

FORMATS = ("jsonl", "csv", "table")


def add_parser(sub) -> None:
    c = sub.add_parser(
        "classify", help="classify new inputs with the prompt and calibration of an audited run (or of a saved card)"
    )
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=run_id, help="a finished run's id")
    src.add_argument("--card", type=Path, help="a classifier card written by --save")
    c.add_argument("--method", default=None, help="calibration method with --run (default bc); a card names its own")
    c.add_argument("--model", "-m", help="with --card: the model (name or .gguf path); its sha256 must be the card's")
    c.add_argument(
        "--db",
        type=Path,
        help="store (default: $LBTUI_DB or the user data dir); with --card, optional:"
        " scores are then read from and kept in it",
    )
    c.add_argument(
        "--input",
        "-i",
        default=None,
        help="JSONL or CSV file of inputs, or - for standard input (default -, or nothing with --save)",
    )
    c.add_argument("--format", choices=FORMATS, default="jsonl", help="output (default jsonl)")
    c.add_argument(
        "--bc-prior",
        choices=("test", "batch"),
        default="test",
        help="BC's prior: the run's test inputs (default; fixed), or the given batch (at least 16 inputs)",
    )
    c.add_argument("--save", type=Path, help="write the classifier card (JSON) to this file")


def read_inputs(source: str) -> tuple[list[dict], list[str], list[str]]:
    """Rows, their ids (given, else the row number) and their names for messages."""
    from .tasks.rows import jsonl_rows, read_rows

    if source == "-":
        where = "<stdin>"
        rows = jsonl_rows(sys.stdin.read(), where)
    else:
        path = Path(source)
        if not path.is_file():
            raise UserError("--input", f"no file {path}")
        rows = read_rows(path)
        where = str(path)
    if not rows:
        raise UserError(where, "no input rows")
    ids = [str(row["id"]) if row.get("id") is not None else str(i) for i, (_, row) in enumerate(rows, 1)]
    return [row for _, row in rows], ids, [f"{where}:{n}" for n, _ in rows]


def cmd_classify(a: argparse.Namespace, backend_factory=None) -> int:
    from . import paths
    from .results.classifier import Classifier

    if a.save:
        paths.check_output_file(a.save, "--save")
    preflight(a)  # a wrong run, method or card is refused before standard input is read
    source = a.input if a.input is not None else (None if a.save else "-")
    rows = ids = names = None
    if source is not None:
        rows, ids, names = read_inputs(source)  # every row read before the model loads
    if a.run is not None:
        if a.model:
            raise UserError("--model", "a run brings its own model; --model goes with --card")
        clf = Classifier.from_run(a.run, a.method or "bc", a.db, bc_prior=a.bc_prior, backend_factory=backend_factory)
    else:
        if not a.model:
            raise UserError("--model", "a card needs the model to classify with: --model NAME or a .gguf path")
        if a.method:
            raise UserError("--method", "a card holds its own method; --method goes with --run")
        clf = Classifier.load(a.card, a.model, db=a.db, bc_prior=a.bc_prior, backend_factory=backend_factory)
    with clf:
        out = None
        if rows is not None:
            raw = clf.raw_proba(rows, names)
            if a.bc_prior == "batch":
                print(
                    f"lbtui classify: BC's prior estimated from these {len(rows)} inputs, not the run's test set",
                    file=sys.stderr,
                )
            out = (raw, clf.calibrate(raw))
        if a.save:
            clf.save(a.save)
            print(f"lbtui classify: wrote {a.save}", file=sys.stderr)
        if out is not None:
            write(ids, clf.labels, *out, fmt=a.format)
    return EXIT_OK


def preflight(a: argparse.Namespace) -> None:
    from . import paths
    from .results import Results, card as cards
    from .store import Store

    if a.run is None:
        cards.load(a.card)
        return
    db = a.db or paths.default_db()
    if not db.is_file():
        raise UserError("--db", f"no store at {db}")
    store = Store(db)  # writable, as classify needs it: a calibration fitted here is kept, not fitted again
    try:
        Results(store).calibration(a.run, a.method or "bc")
    finally:
        store.close()


def records(ids: list[str], labels, raw, probs) -> list[dict]:
    return [
        {
            "id": i,
            "label": labels[int(q.argmax())],
            "probs": dict(zip(labels, map(float, q))),
            "raw": dict(zip(labels, map(float, r))),
        }
        for i, r, q in zip(ids, raw, probs)
    ]


def write(ids: list[str], labels, raw, probs, *, fmt: str) -> None:
    recs = records(ids, labels, raw, probs)
    if fmt == "jsonl":
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))
    elif fmt == "csv":
        from .report.formats import safe_cell

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["id", "label", *(f"p_{lab}" for lab in labels), *(f"raw_{lab}" for lab in labels)])
        for r in recs:
            w.writerow(
                [
                    safe_cell(r["id"]),
                    safe_cell(r["label"]),
                    *(f"{r['probs'][lab]:.6f}" for lab in labels),
                    *(f"{r['raw'][lab]:.6f}" for lab in labels),
                ]
            )
    else:
        from .report.render import print_rows

        table = [
            {
                "id": r["id"],
                "label": r["label"],
                **{f"p({lab})": f"{r['probs'][lab]:.3f}" for lab in labels},
                **{f"raw({lab})": f"{r['raw'][lab]:.3f}" for lab in labels},
            }
            for r in recs
        ]
        print_rows(table, list(table[0]), title="Classified")
