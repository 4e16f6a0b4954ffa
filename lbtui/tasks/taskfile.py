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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..errors import TaskError
from ..types import Example, PromptFormat, Task
from .rows import check_label_text, check_template, nested_quantifier, read_rows, read_text, render, template_fields


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


def _examples(
    rows: list[tuple[int, dict[str, Any]]],
    *,
    path: Path,
    input_template: str,
    label_field: str,
    id_field: str | None,
    labels: tuple[str, ...],
    label_map: dict[str, str],
    skip_unknown: bool,
) -> list[Example]:
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
    if unknown and not skip_unknown:
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


def _resolve(folder: Path, value: str, *, where: str, allow_outside: bool, what: str = "the task's folder") -> Path:
    path = paths.real(folder / value, where)
    if not allow_outside and not path.is_relative_to(paths.real(folder, where)):
        raise TaskError(where, f"{value!r} is outside {what} (allow it with --allow-outside-paths)")
    return path


def _get(table: dict, key: str, kind: type | tuple, where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise TaskError(where, f"missing field {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise TaskError(f"{where}.{key}" if where.endswith("]") else where, f"field {key!r} must be {names}")
    return value


Part = tuple[str | None, Path, list[tuple[int, dict[str, Any]]]]  # (split name, where, numbered rows)


def _file_parts(data: dict, wd: str, *, folder: Path, data_dir: Path | None, allow_outside: bool) -> list[Part]:
    """Rows of one data file, or of a table of files by split name."""
    file = _get(data, "file", (str, dict), wd)
    files = {None: file} if isinstance(file, str) else file
    pattern = _get(data, "pattern", str, wd, None)
    if pattern is not None:
        try:
            pattern = re.compile(pattern)
        except re.error as e:
            raise TaskError(f"{wd} pattern", f"invalid regular expression: {e}") from None
        if not pattern.groupindex:
            raise TaskError(f"{wd} pattern", "needs named groups, e.g. (?P<label>\\S+) (?P<text>.*)")
        if nested_quantifier(pattern.pattern):
            raise TaskError(
                f"{wd} pattern",
                "a repeated group that itself repeats, like (a+)+, can take"
                " exponential time on one line; write it without the nesting",
            )
    parts = []
    for split_name, value in files.items():
        if not isinstance(value, str):
            raise TaskError(f"{wd} file.{split_name}", "must be a path")
        data_path = _resolve(
            folder,
            value,
            where=f"{wd} file",
            allow_outside=allow_outside,
            what=f"--data-dir {data_dir}" if data_dir else "the task's folder",
        )
        try:
            parts.append((split_name, data_path, read_rows(data_path, pattern=pattern, where=wd)))
        except TaskError as e:
            if e.message == "file not found":
                raise TaskError(f"{wd} file", f"data file {data_path} not found") from None
            raise
    return parts


HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def _hf_parts(data: dict, wd: str, *, folder: Path, label_field: str, allow_outside: bool = False) -> list[Part]:
    """Rows of a Hugging Face dataset: ``source = "hf:NAME"`` with ``config`` and ``split``
    (a name, or a table {pool name = hf split}). NAME is a folder written by save_to_disk
    (relative to the task file or --data-dir), or a dataset loaded by datasets.load_dataset,
    from its local cache when offline. ClassLabel values become their names."""
    source = _get(data, "source", str, wd)
    if not source.startswith("hf:") or len(source) == 3:
        raise TaskError(f"{wd} source", f"{source!r}: write hf:NAME (a Hugging Face dataset)")
    name = source[3:]
    config = _get(data, "config", str, wd, None)
    split = _get(data, "split", (str, dict), wd, "train")
    splits = {None: split} if isinstance(split, str) else split
    try:
        import datasets
    except ImportError:
        raise TaskError(
            f"{wd} source", "Hugging Face datasets need the datasets library: pip install 'lbtui[hf]'"
        ) from None
    datasets.disable_progress_bars()  # stderr belongs to lbtui's own progress
    # A path (absolute, ~, or with . or .. segments) is a saved folder and obeys the same
    # rule as data files; anything else must be a Hub name, never a path in disguise.
    as_path = name.startswith(("/", "~", "\\")) or any(seg in (".", "..") for seg in re.split(r"[/\\]", name))
    if as_path:
        local = _resolve(folder, str(Path(name).expanduser()), where=f"{wd} source", allow_outside=allow_outside)
        if not local.is_dir():
            raise TaskError(f"{wd} source", f"{source!r}: no dataset folder at {local}")
    else:
        if not HUB_NAME.fullmatch(name):
            raise TaskError(f"{wd} source", f"{source!r}: not a Hugging Face dataset name (owner/name) nor a folder")
        local = _resolve(folder, name, where=f"{wd} source", allow_outside=True)
        if local.is_dir() and not allow_outside and not local.is_relative_to(folder.resolve()):
            raise TaskError(
                f"{wd} source", f"{source!r} is outside the task's folder (allow it with --allow-outside-paths)"
            )
    loaded = {}
    for split_name, hf_split in splits.items():
        if not isinstance(hf_split, str):
            raise TaskError(f"{wd} split.{split_name}", "must be a split name")
        where = f"{wd} source {source!r} split {hf_split!r}"
        try:
            if local.is_dir() and ((local / "dataset_dict.json").is_file() or (local / "state.json").is_file()):
                ds = datasets.load_from_disk(str(local))
                ds = ds[hf_split] if isinstance(ds, datasets.DatasetDict) else ds
            else:  # a folder of data files, or a Hub name; never trust_remote_code (a dataset script is code)
                ds = datasets.load_dataset(str(local) if local.is_dir() else name, config, split=hf_split)
        except TaskError:
            raise
        except KeyError:
            raise TaskError(where, "no such split in the saved dataset") from None
        except Exception as e:  # network, cache and format failures all end here
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise TaskError(
                where, f"cannot load it from the Hub or the local cache ({type(e).__name__}: {first})"
            ) from None
        feature = ds.features.get(label_field)
        names = getattr(feature, "names", None)
        rows = []
        for n, row in enumerate(ds, 1):
            row = dict(row)
            if names is not None and isinstance(row.get(label_field), int) and 0 <= row[label_field] < len(names):
                row[label_field] = names[row[label_field]]
            rows.append((n, row))
        if not rows:
            raise TaskError(where, "no rows")
        loaded[split_name] = (split_name, Path(f"{source}[{hf_split}]"), rows)
    return list(loaded.values())


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
    name = _get(doc, "name", str, w, path.stem).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise TaskError(f"{w}: name", f"{name!r} is not a valid task name (letters, digits, . _ -)")
    version = str(_get(doc, "version", (str, int), w, "1"))
    definition = _get(doc, "definition", str, w).strip()
    if "labels" not in doc:
        raise TaskError(w, "missing field 'labels'")
    labels = check_labels(doc["labels"], f"{w}: labels")
    data = _get(doc, "data", dict, w)
    wd = f"{w}: [data]"
    folder = data_dir or path.parent
    if data_dir is not None and not data_dir.is_dir():
        raise TaskError("--data-dir", f"{data_dir} is not a folder")
    input_template = _get(data, "input", str, wd, "{text}")
    label_field = _get(data, "label_field", str, wd, "label")
    id_field = _get(data, "id_field", str, wd, None)
    label_map = {str(k): str(v) for k, v in _get(data, "label_map", dict, wd, {}).items()}
    bad = sorted(set(label_map.values()) - set(labels))
    if bad:
        raise TaskError(f"{wd} label_map", f"maps to {bad[0]!r}, which is not in labels")
    if ("file" in data) == ("source" in data):
        raise TaskError(wd, "give exactly one of 'file' (a data file) or 'source' (hf:NAME, a Hugging Face dataset)")
    if "source" in data:
        parts = _hf_parts(data, wd, folder=folder, label_field=label_field, allow_outside=allow_outside)
    else:
        parts = _file_parts(data, wd, folder=folder, data_dir=data_dir, allow_outside=allow_outside)
    if len(parts) > 1 and id_field is None:
        id_field = "_line"
    rows, examples = [], []
    for split_name, part_path, part in parts:
        if split_name is not None:
            # ids stay unique across splits: the split name prefixes the line number
            part = [(n, {**row, "split": split_name, "_line": f"{split_name}-{n}"}) for n, row in part]
        rows.extend(part)
        examples.extend(
            _examples(
                part,
                path=part_path,
                input_template=input_template,
                label_field=label_field,
                id_field=id_field,
                labels=labels,
                label_map=label_map,
                skip_unknown=skip_unknown_labels,
            )
        )
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise TaskError(f"{wd} id_field", f"id {dup!r} occurs in more than one file")
    sp = _get(doc, "split", dict, w, {})
    ws = f"{w}: [split]"
    pool = _get(sp, "pool", int, ws, DEFAULT_POOL)
    seed = _get(sp, "seed", int, ws, 0)
    field = _get(sp, "field", str, ws, None)
    if field is None:
        pool_ex, test_ex = split(examples, pool=pool, seed=seed, where=f"{ws} pool")
    else:
        # The data says which rows may be demonstrations (e.g. a train split) and which are test.
        pool_value = _get(sp, "pool_value", str, ws, "train")
        test_value = _get(sp, "test_value", str, ws, "test")
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
        pool_ex = [pool_rows[i] for i in rng.permutation(len(pool_rows))[:pool]]
        test_ex = [test_rows[i] for i in rng.permutation(len(test_rows))]
    prompt = _prompt(_get(doc, "prompt", dict, w, {}), f"{w}: [prompt]")
    return build_task(
        name=name,
        version=version,
        definition=definition,
        labels=labels,
        pool=pool_ex,
        test=test_ex,
        source=str(path),
        prompt=prompt,
        description=_get(doc, "description", str, w, ""),
        input_template=input_template,
    )


def _prompt(table: dict, where: str) -> PromptFormat:
    if not table:
        return PromptFormat()
    default = PromptFormat()
    values = {}
    allowed = {"definition": {"definition"}, "demonstration": {"input", "label"}, "query": {"input"}}
    for key in ("definition", "demonstration", "query", "label_prefix"):
        values[key] = _get(table, key, str, where, getattr(default, key))
        if key in allowed:
            check_template(values[key], allowed[key], where=f"{where} {key}")
    unknown = set(table) - set(values) - {"name"}
    if unknown:
        raise TaskError(where, f"unknown field {sorted(unknown)[0]!r}")
    return PromptFormat(name=_get(table, "name", str, where, "custom"), **values)


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
    examples = _examples(
        rows,
        path=path,
        input_template="{" + opts.text_field + "}",
        label_field=opts.label_field,
        id_field=opts.id_field,
        labels=labels,
        label_map={},
        skip_unknown=False,
    )
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
