"""Label words: the same task with other verbalizers (``--verbalizers``), to see how much
of a model's label bias follows the words rather than the task.

A variant keeps every example, its gold class and the demonstrations; only the words
that name the classes change (in the demonstrations and in the scored continuations).
If a model prefers the same class whatever it is called, the bias follows the task; if
its preference moves with a word (say "A" or "positive"), it follows the words. The
task's definition text is kept as written, even where it names the original words.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from ..errors import UserError
from ..types import Task
from .rows import check_label_text


def parse(text: str) -> list[tuple[str, ...]]:
    """ "bad,good;A,B" -> [("bad", "good"), ("A", "B")]: one set a semicolon, words in the
    task's label order."""
    sets = []
    for part in text.split(";"):
        words = tuple(w.strip() for w in part.split(","))
        if not part.strip() or any(not w for w in words):
            raise UserError(
                "--verbalizers", f"empty word in {part!r}; write words in label order, sets separated by ';'"
            )
        for w in words:
            check_label_text(w, "--verbalizers")
        if len(set(words)) != len(words):
            raise UserError("--verbalizers", f"a word repeats in {part!r}")
        sets.append(words)
    return sets


def variant(task: Task, words: tuple[str, ...]) -> Task:
    blob = json.dumps([task.content_hash, list(words)]).encode()
    return dataclasses.replace(
        task, labels=tuple(words), name=f"{task.name}[{'/'.join(words)}]", content_hash=hashlib.sha256(blob).hexdigest()
    )


def expand(tasks: list[Task], sets: list[tuple[str, ...]]) -> list[Task]:
    """Each task, followed by its variant for every word set with as many words as it has
    labels. A set that fits no task is an error."""
    used = set()
    out = []
    for t in tasks:
        out.append(t)
        for i, words in enumerate(sets):
            if len(words) == t.k:
                out.append(variant(t, words))
                used.add(i)
    unused = [sets[i] for i in range(len(sets)) if i not in used]
    if unused:
        raise UserError(
            "--verbalizers",
            f"{','.join(unused[0])!r} has {len(unused[0])} words; no task has that many labels"
            f" ({', '.join(f'{t.name}: {t.k}' for t in tasks)})",
        )
    return out


def base_name(task_name: str) -> str:
    return task_name.split("[", 1)[0]


def words_of(task_name: str) -> str:
    """A label-word variant's words as typed ("bad,good"); "" for a task's own words."""
    return task_name[len(base_name(task_name)) :].strip("[]").replace("/", ",")


def word_rows(reports) -> list[dict]:
    """Per (model, base task, shots, seed) and word set: the uncalibrated predicted share of
    each class (in the task's class order), the class most predicted, BiasScore before
    and after BC, and whether the most-predicted class is the original words' one."""
    rows, first = [], {}
    # The original words first, so that "same class" compares each set with them.
    for rep in sorted(reports, key=lambda rep: "[" in rep.record["task_name"]):
        r, m = rep.record, rep.metrics
        key = (r["model_name"], base_name(r["task_name"]), r["shots"], r["seed"], r.get("demo_order") or 0)
        share = np.asarray(m["none"].predicted_share)
        top = int(share.argmax())
        first.setdefault(key, top)
        rows.append(
            {
                "model": key[0],
                "task": key[1],
                "shots": key[2],
                "seed": key[3],
                "order": key[4],
                "words": r["labels"],
                "predicted_share": [float(x) for x in share],
                "most_predicted_class": top,
                "bias_score_none": float(m["none"].bias_score),
                "bias_score_bc": None if m.get("bc") is None else float(m["bc"].bias_score),
                "same_class_as_original": top == first[key],
            }
        )
    return rows
