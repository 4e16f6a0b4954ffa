"""Where a task file's rows come from: its [data] table's file(s) or Hugging Face source,
read into numbered rows per split (taskfile.py turns them into a task), and the typed
field reader both use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import TaskError
from .rows import nested_quantifier, read_rows


def resolve_path(folder: Path, value: str, *, where: str, allow_outside: bool, what: str = "the task's folder") -> Path:
    path = paths.real(folder / value, where)
    if not allow_outside and not path.is_relative_to(paths.real(folder, where)):
        raise TaskError(where, f"{value!r} is outside {what} (allow it with --allow-outside-paths)")
    return path


def get_field(table: dict, key: str, kind: type | tuple, where: str, default: Any = ...) -> Any:
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


def file_parts(data: dict, wd: str, *, folder: Path, data_dir: Path | None, allow_outside: bool) -> list[Part]:
    """Rows of one data file, or of a table of files by split name."""
    file = get_field(data, "file", (str, dict), wd)
    files = {None: file} if isinstance(file, str) else file
    pattern = get_field(data, "pattern", str, wd, None)
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
        data_path = resolve_path(
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


def _hf_local(name: str, source: str, wd: str, *, folder: Path, allow_outside: bool) -> Path:
    """Where an hf: source is on disk: a saved folder (a path obeys the same rule as data
    files), or a Hub name's place beside the task (which need not exist)."""
    # A path (absolute, ~, or with . or .. segments) is a saved folder and obeys the same
    # rule as data files; anything else must be a Hub name, never a path in disguise.
    as_path = name.startswith(("/", "~", "\\")) or any(seg in (".", "..") for seg in re.split(r"[/\\]", name))
    if as_path:
        local = resolve_path(folder, str(Path(name).expanduser()), where=f"{wd} source", allow_outside=allow_outside)
        if not local.is_dir():
            raise TaskError(f"{wd} source", f"{source!r}: no dataset folder at {local}")
    else:
        if not HUB_NAME.fullmatch(name):
            raise TaskError(f"{wd} source", f"{source!r}: not a Hugging Face dataset name (owner/name) nor a folder")
        local = resolve_path(folder, name, where=f"{wd} source", allow_outside=True)
        if local.is_dir() and not allow_outside and not local.is_relative_to(folder.resolve()):
            raise TaskError(
                f"{wd} source", f"{source!r} is outside the task's folder (allow it with --allow-outside-paths)"
            )
    return local


def hf_parts(data: dict, wd: str, *, folder: Path, label_field: str, allow_outside: bool = False) -> list[Part]:
    """Rows of a Hugging Face dataset: ``source = "hf:NAME"`` with ``config`` and ``split``
    (a name, or a table {pool name = hf split}). NAME is a folder written by save_to_disk
    (relative to the task file or --data-dir), or a dataset loaded by datasets.load_dataset,
    from its local cache when offline. ClassLabel values become their names."""
    source = get_field(data, "source", str, wd)
    if not source.startswith("hf:") or len(source) == 3:
        raise TaskError(f"{wd} source", f"{source!r}: write hf:NAME (a Hugging Face dataset)")
    name = source[3:]
    config = get_field(data, "config", str, wd, None)
    split = get_field(data, "split", (str, dict), wd, "train")
    splits = {None: split} if isinstance(split, str) else split
    try:
        import datasets
    except ImportError:
        raise TaskError(
            f"{wd} source", "Hugging Face datasets need the datasets library: pip install 'lbtui[hf]'"
        ) from None
    datasets.disable_progress_bars()  # stderr belongs to lbtui's own progress
    local = _hf_local(name, source, wd, folder=folder, allow_outside=allow_outside)
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
