"""Loading a Super-NaturalInstructions task JSON file as a task. Every failure is a
``TaskError`` naming the file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import TaskError
from ..types import Example, PromptFormat, Task
from .rows import read_text
from .taskfile import DEFAULT_POOL, build_task, check_labels, split


def load_sni(path: Path, *, pool: int = DEFAULT_POOL, seed: int = 0, skip_unknown_labels: bool = False) -> Task:
    """A Super-NaturalInstructions task JSON: Definition, Positive Examples, Instances.
    Labels are the distinct first outputs of the instances, sorted. The pool holds the
    positive examples whose output is a label, then seeded instances up to ``pool``."""
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TaskError(str(path), f"invalid JSON: {e.msg} (line {e.lineno})") from None
    if not isinstance(doc, dict):
        raise TaskError(str(path), "not a Super-NaturalInstructions task (expected a JSON object)")
    for key in ("Definition", "Instances"):
        if key not in doc:
            raise TaskError(f"{path}: {key}", "missing field")
    definition = doc["Definition"]
    if isinstance(definition, list):
        definition = " ".join(str(d) for d in definition)
    if not isinstance(definition, str) or not definition.strip():
        raise TaskError(f"{path}: Definition", "must be a non-empty string")
    instances = doc["Instances"]
    if not isinstance(instances, list) or not instances:
        raise TaskError(f"{path}: Instances", "must be a non-empty list")
    outputs = [_first_output(it, f"{path}: Instances[{i}]") for i, it in enumerate(instances)]
    labels = check_labels(sorted(set(outputs)), f"{path}: Instances output")
    index = {lab: i for i, lab in enumerate(labels)}
    examples = _examples(path, instances, outputs, index)
    positive_list = doc.get("Positive Examples") or []
    if not isinstance(positive_list, list):
        raise TaskError(f"{path}: Positive Examples", f"must be a list of examples, got {type(positive_list).__name__}")
    positives = []
    for i, it in enumerate(positive_list):
        out = _first_output(it, f"{path}: Positive Examples[{i}]")
        if out in index:
            positives.append(Example(f"positive-{i}", it["input"].strip(), index[out]))
    n_from_instances = max(pool - len(positives), 0)
    pool_ex, test_ex = split(examples, pool=n_from_instances, seed=seed, where=f"{path}: Instances")
    return build_task(
        name=path.stem,
        version="1",
        definition=definition.strip(),
        labels=labels,
        pool=positives[:pool] + pool_ex,
        test=test_ex,
        source=str(path),
        prompt=PromptFormat(),
    )


def _first_output(item: Any, where: str) -> str:
    """An SNI item's first output (its label), checked with its input."""
    out = item.get("output") if isinstance(item, dict) else None
    if isinstance(out, list):
        out = out[0] if out else None
    if not isinstance(out, str) or not isinstance(item.get("input"), str):
        raise TaskError(where, "each item needs a string 'input' and an 'output'")
    return out.strip()


def _examples(path: Path, instances: list, outputs: list[str], index: dict[str, int]) -> list[Example]:
    """The instances as examples, by the rules JSONL and CSV rows follow (non-empty input,
    unique id)."""
    examples, seen = [], set()
    for i, (it, out) in enumerate(zip(instances, outputs)):
        ex_id = str(it.get("id", f"instance-{i}"))
        if not it["input"].strip():
            raise TaskError(f"{path}: Instances[{i}].input", "input is empty")
        if ex_id in seen:
            raise TaskError(f"{path}: Instances[{i}].id", f"duplicate id {ex_id!r}")
        seen.add(ex_id)
        examples.append(Example(ex_id, it["input"].strip(), index[out]))
    return examples
