"""Loading tasks: lbtui's TOML task files and plain JSONL/CSV files (Super-NaturalInstructions
task JSON files: sni_file.py). Task files are data: nothing in them is executed, templates
only substitute named fields.

Every failure is a ``TaskError`` naming the file and field.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TaskError
from ..types import Example, PromptFormat, Task
from .sources import file_parts, get_field, hf_parts
from .rows import check_label_text, check_template, read_rows, read_text, render, template_fields


DEFAULT_POOL = 96  # the paper keeps 96 demonstration candidates a task


@dataclass(frozen=True)
class DataOptions:
    """How to read a plain data file (also the [data] table of a task file)."""

    text_field: str = "text"
    label_field: str = "label"
    id_field: str | None = None
    definition: str | None = None
    pool: int = DEFAULT_POOL
    split_seed: int = 0
    skip_unknown_labels: bool = False
    allow_outside: bool = False
    data_dir: Path | None = None  # where a task file's relative data paths point (default: its folder)
    allow_duplicates: bool = False  # score a run whose test inputs repeat one of its demonstrations' texts


# --- reading files -----------------------------------------------------------------


# --- turning rows into a task ----------------------------------------------------------


@dataclass(frozen=True)
class RowRules:
    """How a data row becomes an Example: the input template, the fields holding the label
    and the id, the task's labels, the data's label names mapped to them, and whether rows
    with another label are skipped (else refused)."""

    input_template: str
    label_field: str
    id_field: str | None
    labels: tuple[str, ...]
    label_map: dict[str, str]
    skip_unknown: bool


def _examples(rows: list[tuple[int, dict[str, Any]]], path: Path, rules: RowRules) -> list[Example]:
    input_template, label_field, id_field = rules.input_template, rules.label_field, rules.id_field
    labels, label_map = rules.labels, rules.label_map
    index = {lab: i for i, lab in enumerate(labels)}
    names = template_fields(input_template)
    out: list[Example] = []
    unknown: list[tuple[int, str]] = []
    seen_ids: set[str] = set()
    for line, row in rows:
        where = f"{path}:{line}"
        if label_field not in row or row[label_field] is None:
            raise TaskError(where, f"field {label_field!r} is missing")
        raw = str(row[label_field]).strip()
        label = label_map.get(raw, raw)
        if label not in index:
            unknown.append((line, raw))
            continue
        text = render(input_template, row, where=f"{where}: input").strip()
        if not text:
            raise TaskError(where, "input is empty")
        if id_field and id_field not in row:
            raise TaskError(where, f"field {id_field!r} is missing")
        ex_id = str(row[id_field]) if id_field else str(line)
        if ex_id in seen_ids:
            raise TaskError(where, f"duplicate id {ex_id!r} in field {id_field!r}")
        seen_ids.add(ex_id)
        fields = tuple((n, str(row[n]).strip()) for n in names)
        out.append(Example(ex_id, text, index[label], fields))
    if unknown and not rules.skip_unknown:
        line, raw = unknown[0]
        raise TaskError(
            f"{path}:{line}",
            f"{len(unknown)} row(s) have a label not in the label set {list(labels)}, first {raw!r}"
            " (skip them with --skip-unknown-labels)",
        )
    if not out:
        raise TaskError(str(path), "no usable examples")
    return out


def split(examples: list[Example], *, pool: int, seed: int, where: str) -> tuple[list[Example], list[Example]]:
    """A seeded demonstration pool of ``pool`` examples; the rest, in a seeded order, is the
    test set (a run takes its first --limit)."""
    if pool < 0:
        raise TaskError(where, "pool must be >= 0")
    if seed < 0:
        raise TaskError("--split-seed", f"must be >= 0, got {seed}")
    if len(examples) <= pool:
        raise TaskError(where, f"{len(examples)} examples leave no test set after a pool of {pool}")
    order = np.random.default_rng([seed, 0x5E1]).permutation(len(examples))
    return [examples[i] for i in order[:pool]], [examples[i] for i in order[pool:]]


def check_labels(labels: Any, where: str) -> tuple[str, ...]:
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise TaskError(where, "must be a list of strings")
    labels = [x.strip() for x in labels]
    if len(labels) < 2:
        raise TaskError(where, f"a task needs at least 2 labels, got {len(labels)}")
    if any(not x for x in labels):
        raise TaskError(where, "empty label")
    for x in labels:
        check_label_text(x, where)
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise TaskError(where, f"duplicate label(s): {', '.join(dupes)}")
    return tuple(labels)


def content_hash(task_fields: dict[str, Any]) -> str:
    """Hash of everything that can change a score: definition, labels, prompt, examples."""
    blob = json.dumps(task_fields, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def build_task(
    *,
    name: str,
    version: str,
    definition: str,
    labels: tuple[str, ...],
    pool: list[Example],
    test: list[Example],
    source: str,
    prompt: PromptFormat,
    description: str = "",
    input_template: str = "{text}",
) -> Task:
    fields = {
        "version": version,
        "definition": definition,
        "labels": list(labels),
        "prompt": prompt.as_dict(),
        "pool": [[e.id, e.text, e.label] for e in pool],
        "test": [[e.id, e.text, e.label] for e in test],
    }
    if len(template_fields(input_template)) > 1:  # domain-context inputs are built field by field
        fields["input"] = input_template
    return Task(
        name=name,
        version=version,
        definition=definition,
        labels=labels,
        pool=tuple(pool),
        test=tuple(test),
        source=source,
        content_hash=content_hash(fields),
        prompt=prompt,
        description=description,
        input_template=input_template,
    )


def load_toml(
    path: Path,
    *,
    skip_unknown_labels: bool = False,
    allow_outside: bool = False,
    data_dir: Path | None = None,
) -> Task:
    """A task file; see docs/TASKS.md for the format."""
    text = read_text(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TaskError(str(path), f"TOML syntax error: {e}") from None
    w = str(path)
    name = get_field(doc, "name", str, w, path.stem).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise TaskError(f"{w}: name", f"{name!r} is not a valid task name (letters, digits, . _ -)")
    version = str(get_field(doc, "version", (str, int), w, "1"))
    definition = get_field(doc, "definition", str, w).strip()
    if "labels" not in doc:
        raise TaskError(w, "missing field 'labels'")
    labels = check_labels(doc["labels"], f"{w}: labels")
    data = get_field(doc, "data", dict, w)
    wd = f"{w}: [data]"
    folder = data_dir or path.parent
    if data_dir is not None and not data_dir.is_dir():
        raise TaskError("--data-dir", f"{data_dir} is not a folder")
    rules = RowRules(
        input_template=get_field(data, "input", str, wd, "{text}"),
        label_field=get_field(data, "label_field", str, wd, "label"),
        id_field=get_field(data, "id_field", str, wd, None),
        labels=tuple(labels),
        label_map=_label_map(data, wd, labels),
        skip_unknown=skip_unknown_labels,
    )
    rows, examples, id_field = _read_data(
        data, wd, folder=folder, data_dir=data_dir, allow_outside=allow_outside, rules=rules
    )
    pool_ex, test_ex = _pool_and_test(get_field(doc, "split", dict, w, {}), f"{w}: [split]", rows, examples, id_field)
    prompt = _prompt(get_field(doc, "prompt", dict, w, {}), f"{w}: [prompt]")
    return build_task(
        name=name,
        version=version,
        definition=definition,
        labels=labels,
        pool=pool_ex,
        test=test_ex,
        source=str(path),
        prompt=prompt,
        description=get_field(doc, "description", str, w, ""),
        input_template=rules.input_template,
    )


def _label_map(data: dict, wd: str, labels: list[str]) -> dict[str, str]:
    """[data] label_map: the data's label names -> the task's labels."""
    label_map = {str(k): str(v) for k, v in get_field(data, "label_map", dict, wd, {}).items()}
    bad = sorted(set(label_map.values()) - set(labels))
    if bad:
        raise TaskError(f"{wd} label_map", f"maps to {bad[0]!r}, which is not in labels")
    return label_map


def _read_data(
    data: dict,
    wd: str,
    *,
    folder: Path,
    data_dir: Path | None,
    allow_outside: bool,
    rules: RowRules,
) -> tuple[list, list[Example], str | None]:
    """The [data] table's rows (line, row) and examples, from its file(s) or its Hugging
    Face source, and the id field (``_line`` when several splits are read without one)."""
    if ("file" in data) == ("source" in data):
        raise TaskError(wd, "give exactly one of 'file' (a data file) or 'source' (hf:NAME, a Hugging Face dataset)")
    if "source" in data:
        parts = hf_parts(data, wd, folder=folder, label_field=rules.label_field, allow_outside=allow_outside)
    else:
        parts = file_parts(data, wd, folder=folder, data_dir=data_dir, allow_outside=allow_outside)
    if len(parts) > 1 and rules.id_field is None:
        rules = replace(rules, id_field="_line")
    rows, examples = [], []
    for split_name, part_path, part in parts:
        if split_name is not None:
            # ids stay unique across splits: the split name prefixes the line number
            part = [(n, {**row, "split": split_name, "_line": f"{split_name}-{n}"}) for n, row in part]
        rows.extend(part)
        examples.extend(_examples(part, part_path, rules))
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise TaskError(f"{wd} id_field", f"id {dup!r} occurs in more than one file")
    return rows, examples, rules.id_field


def _pool_and_test(
    sp: dict, ws: str, rows: list, examples: list[Example], id_field: str | None
) -> tuple[list[Example], list[Example]]:
    """The [split] table: the demonstration pool and the test examples, drawn by seed or
    as a field of the data says."""
    pool = get_field(sp, "pool", int, ws, DEFAULT_POOL)
    seed = get_field(sp, "seed", int, ws, 0)
    field = get_field(sp, "field", str, ws, None)
    if field is None:
        return split(examples, pool=pool, seed=seed, where=f"{ws} pool")
    # The data says which rows may be demonstrations (e.g. a train split) and which are test.
    pool_value = get_field(sp, "pool_value", str, ws, "train")
    test_value = get_field(sp, "test_value", str, ws, "test")
    by_id = {e.id: e for e in examples}
    ids = [(str(row.get(field)), str(row[id_field]) if id_field else str(line)) for line, row in rows]
    pool_rows = [by_id[i] for v, i in ids if v == pool_value and i in by_id]
    test_rows = [by_id[i] for v, i in ids if v == test_value and i in by_id]
    if len(pool_rows) < pool:
        raise TaskError(
            f"{ws} pool", f"only {len(pool_rows)} rows have {field} = {pool_value!r}, fewer than pool = {pool}"
        )
    if not test_rows:
        raise TaskError(f"{ws} test_value", f"no rows have {field} = {test_value!r}")
    rng = np.random.default_rng([seed, 0x5E1])
    return (
        [pool_rows[i] for i in rng.permutation(len(pool_rows))[:pool]],
        [test_rows[i] for i in rng.permutation(len(test_rows))],
    )


def _prompt(table: dict, where: str) -> PromptFormat:
    if not table:
        return PromptFormat()
    default = PromptFormat()
    values = {}
    allowed = {"definition": {"definition"}, "demonstration": {"input", "label"}, "query": {"input"}}
    for key in ("definition", "demonstration", "query", "label_prefix"):
        values[key] = get_field(table, key, str, where, getattr(default, key))
        if key in allowed:
            check_template(values[key], allowed[key], where=f"{where} {key}")
    unknown = set(table) - set(values) - {"name"}
    if unknown:
        raise TaskError(where, f"unknown field {sorted(unknown)[0]!r}")
    return PromptFormat(name=get_field(table, "name", str, where, "custom"), **values)


def load_data_file(path: Path, opts: DataOptions) -> Task:
    """A plain JSONL/CSV file: labels are the sorted distinct values of the label field."""
    rows = read_rows(path)
    for line, row in rows:
        for f in (opts.text_field, opts.label_field):
            if f not in row or row[f] is None:
                raise TaskError(
                    f"{path}:{line}",
                    f"field {f!r} is missing (choose it with --{'text' if f == opts.text_field else 'label'}-field)",
                )
    labels = check_labels(
        sorted({str(row[opts.label_field]).strip() for _, row in rows}), f"{path}: field {opts.label_field!r}"
    )
    rules = RowRules("{" + opts.text_field + "}", opts.label_field, opts.id_field, tuple(labels), {}, False)
    examples = _examples(rows, path, rules)
    pool, test = split(examples, pool=opts.pool, seed=opts.split_seed, where=f"{path}: --pool")
    definition = opts.definition or f"Classify the input as one of: {', '.join(labels)}."
    return build_task(
        name=path.stem,
        version="1",
        definition=definition,
        labels=labels,
        pool=pool,
        test=test,
        source=str(path),
        prompt=PromptFormat(),
        input_template="{" + opts.text_field + "}",
    )
