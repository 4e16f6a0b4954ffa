"""Suites: named sets of task files, such as the paper's Super-NaturalInstructions
classification tasks, imported once from a local copy of the data set.

``import_sni`` reads SNI's tasks/*.json, keeps the tasks that the paper's rules select,
and writes each as an ordinary lbtui task file (TOML + JSONL, a seeded pool of 96 and a
test set) under the user data dir, with a suite.toml listing them. The suite is written
beside its final place and renamed, so an interrupted import leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomli_w

from .. import paths
from ..errors import TaskError, UserError

# The paper's selection rules (Reif and Schwartz 2024, from its extraction script; see
# docs/METHODS.md "Selecting the paper's tasks").
POOL = 96
MIN_INSTANCES = 396  # 96 for the pool + 300 for testing
MAX_LABELS = 49  # fewer than 50 distinct first outputs
MAX_MEAN_OUTPUTS = 2.0  # instances must average fewer than 2 outputs
TEST = 300
NAME_WORDS = ("classification", "detection", "answer_generation")
CATEGORY_WORDS = ("classification", "detection")
SUMMARY_WORDS = ("classification", "classify", "detect")
EXCLUDED = frozenset(
    {
        "task007_mctaco_answer_generation_transient_stationary",
        "task089_swap_words_verification",
        "task563_discofuse_answer_generation",
        "task646_answer_generation",
        "task342_winomt_classification_profession_pro",
        "task343_winomt_classification_profession_anti",
        "task218_rocstories_swap_order_answer_generation",
        "task1359_numer_sense_answer_generation",
        "task302_record_classification",
    }
)


@dataclass
class Selection:
    kept: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why


def suites_dir() -> Path:
    return paths.data_dir() / "suites"


def _outputs(inst: dict) -> list[str]:
    out = inst.get("output")
    if isinstance(out, str):
        return [out]
    return [o for o in out if isinstance(o, str)] if isinstance(out, list) else []


def _summary(doc: dict) -> str | None:
    """A task's one-line summary, where the local copy has one."""
    for key in ("Summary", "summary"):
        v = doc.get(key)
        if isinstance(v, list):
            v = " ".join(str(x) for x in v)
        if isinstance(v, str):
            return v
    return None


def is_candidate(doc: dict, name: str) -> bool:
    """A classification task by its name, its categories or its summary."""
    if any(w in name.lower() for w in NAME_WORDS):
        return True
    cats = " ".join(str(c) for c in doc.get("Categories") or []).lower()
    if any(w in cats for w in CATEGORY_WORDS):
        return True
    summary = (_summary(doc) or "").lower()
    return any(w in summary for w in SUMMARY_WORDS)


def check_task(doc: dict, *, exclude: set[str], name: str) -> str | None:
    """Why the paper's rules leave a task out, or None when it is kept."""
    if name in exclude:
        return "excluded by name"
    if name in EXCLUDED:
        return "one of the nine tasks the paper excludes"
    if "incorrect_answer" in name:
        return "an incorrect_answer task"
    if not is_candidate(doc, name):
        return "not a classification task (name, categories and summary name no classification or detection)"
    for key in ("Input_language", "Output_language"):
        if doc.get(key) != ["English"]:
            return f"{key} is {doc.get(key)!r}, not English only"
    inst = doc.get("Instances")
    if not isinstance(inst, list) or len(inst) < MIN_INSTANCES:
        return f"{len(inst) if isinstance(inst, list) else 0} instances, fewer than {MIN_INSTANCES}"
    outs = [_outputs(i) if isinstance(i, dict) else [] for i in inst]
    if any(not o for o in outs):
        return "an instance has no output"
    mean = float(np.mean([len(o) for o in outs]))
    if mean >= MAX_MEAN_OUTPUTS:
        return f"{mean:.2f} outputs an instance on average, not fewer than 2"
    labels = {o[0].strip() for o in outs}
    if len(labels) > MAX_LABELS:
        return f"{len(labels)} distinct outputs, not fewer than 50"
    if len(labels) < 2:
        return "fewer than 2 distinct outputs"
    if any(not lab for lab in labels):
        return "an empty output"
    return None


def _task_files(root: Path) -> list[Path]:
    folder = root / "tasks" if (root / "tasks").is_dir() else root
    files = sorted(p for p in folder.glob("*.json") if p.is_file())
    if not files:
        raise TaskError(str(root), "no Super-NaturalInstructions task files (expected tasks/*.json)")
    return files


def _definition(doc: dict, where: str) -> str:
    d = doc.get("Definition")
    if isinstance(d, list):
        d = " ".join(str(x) for x in d)
    if not isinstance(d, str) or not d.strip():
        raise TaskError(f"{where}: Definition", "must be a non-empty string")
    return d.strip()


def import_sni(
    root: Path,
    *,
    name: str = "sni",
    seed: int = 0,
    test: int = TEST,
    exclude: set[str] = frozenset(),
    force: bool = False,
    note=lambda m: None,
) -> tuple[Path, Selection]:
    """Select SNI tasks by the paper's rules and register them as suite ``name``."""
    target = _target(root, name, seed, force)
    sel = Selection()
    summaries = 0
    suites_dir().mkdir(parents=True, exist_ok=True)
    for pattern in STALE:
        paths.remove_stale(suites_dir(), pattern)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}.", dir=suites_dir()))
    try:
        for path in _task_files(root):
            task = path.stem
            raw, doc = _read_task(path)
            summaries += _summary(doc) is not None
            why = check_task(doc, exclude=exclude, name=task)
            if why:
                sel.skipped[task] = why
                continue
            _write_task(tmp, task, doc, raw, path, seed=seed, test=test)
            sel.kept.append(task)
        if not summaries:
            note(
                "this copy's task files carry no one-line summaries; the summary rule was not applied"
                " (names and categories were)"
            )
        if not sel.kept:
            raise TaskError(
                str(root),
                f"no task meets the rules ({len(sel.skipped)} read; e.g. {next(iter(sel.skipped.items()), ('', ''))})",
            )
        suite = {
            "name": name,
            "source": str(root.resolve()),
            "seed": seed,
            "created": int(time.time()),
            "tasks": list(sel.kept),
            "skipped": dict(sel.skipped),
        }
        (tmp / "suite.toml").write_text(tomli_w.dumps(suite), encoding="utf-8")
        _put_in_place(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    note(f"suite {name}: {len(sel.kept)} tasks kept, {len(sel.skipped)} left out ({target})")
    return target, sel


def _target(root: Path, name: str, seed: int, force: bool) -> Path:
    """The suite's folder, once the request is checked (one line naming the option)."""
    if not root.exists():
        raise TaskError(str(root), "folder not found")
    if seed < 0:
        raise UserError("--seed", f"must be >= 0, got {seed}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):  # never ".", ".." or a hidden folder
        raise UserError("--name", f"{name!r} is not a valid suite name (letters, digits, . _ -)")
    target = paths.within(suites_dir(), name, "--name")
    if target.exists() and not force:
        raise UserError("--name", f"suite {name!r} exists ({target}); choose another --name or pass --force")
    return target


def _read_task(path: Path) -> tuple[bytes, dict]:
    """An SNI task file's bytes and its JSON object (one line naming the file otherwise)."""
    try:
        raw = path.read_bytes()
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TaskError(str(path), f"not valid UTF-8 JSON ({e})") from None
    if not isinstance(doc, dict):
        raise TaskError(str(path), "not a Super-NaturalInstructions task (expected a JSON object)")
    return raw, doc


def _put_in_place(tmp: Path, target: Path) -> None:
    """The finished suite folder renamed into place; an old one with its name is replaced
    whole (moved aside first, removed after)."""
    if target.exists():
        old = target.with_name(f".{target.name}.old{os.getpid()}")
        target.replace(old)
        tmp.replace(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.replace(target)


def _write_task(folder: Path, task: str, doc: dict, raw: bytes, path: Path, *, seed: int, test: int) -> None:
    definition = _definition(doc, str(path))
    instances = doc["Instances"]
    labels = sorted({_outputs(i)[0].strip() for i in instances})
    # A fixed seed and the task name give each task its own reproducible split.
    order = np.random.default_rng([seed, int(hashlib.sha256(task.encode()).hexdigest()[:8], 16)]).permutation(
        len(instances)
    )
    rows = []
    for rank, i in enumerate(order[: POOL + test]):
        inst = instances[i]
        text = inst.get("input")
        if not isinstance(text, str) or not text.strip():
            raise TaskError(f"{path}: Instances[{i}].input", "must be a non-empty string")
        rows.append(
            {
                "id": str(inst.get("id", f"{task}-{i}")),
                "text": text.strip(),
                "label": _outputs(inst)[0].strip(),
                "split": "pool" if rank < POOL else "test",
            }
        )
    with paths.within(folder, f"{task}.jsonl", str(path)).open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    version = hashlib.sha256(raw).hexdigest()[:12]
    cats = doc.get("Categories") or []
    doc = {
        "name": task,
        "version": "sni-" + version,
        "description": "Super-NaturalInstructions: " + ", ".join(map(str, cats)),
        "definition": definition,
        "labels": labels,
        "data": {"file": task + ".jsonl", "id_field": "id"},
        "split": {"field": "split", "pool_value": "pool", "test_value": "test", "pool": POOL, "seed": seed},
    }
    text = f"# Imported from {json.dumps(str(path), ensure_ascii=False)[1:-1]} by lbtui import sni (seed {seed}).\n"
    paths.within(folder, f"{task}.toml", str(path)).write_text(text + tomli_w.dumps(doc), encoding="utf-8")


# A killed import's leftovers: its temporary folder (.NAME.PID.xxxxxxxx, tempfile's 8
# characters) and the suite it was replacing (.NAME.oldPID); the next import removes them.
STALE = (r"\.[A-Za-z0-9_.-]+?\.(?P<pid>\d+)\.[a-z0-9_]{8}", r"\.[A-Za-z0-9_.-]+\.old(?P<pid>\d+)")


def available() -> dict[str, Path]:
    d = suites_dir()
    return (
        {p.name: p for p in sorted(d.iterdir()) if not p.name.startswith(".") and (p / "suite.toml").is_file()}
        if d.is_dir()
        else {}
    )


def task_files(name: str) -> list[Path]:
    """The task files of a registered suite, in order."""
    found = available()
    if name not in found:
        raise UserError(
            "--suite",
            f"no suite {name!r} (registered: {', '.join(found) or 'none'}; import one with lbtui import sni PATH)",
        )
    doc = tomllib.loads((found[name] / "suite.toml").read_text(encoding="utf-8"))
    return [found[name] / f"{t}.toml" for t in doc.get("tasks", [])]
