"""Finding tasks by name or path: bundled task files, task TOML files, plain data
files and Super-NaturalInstructions JSON files."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..errors import TaskError
from ..types import Task
from .sni_file import load_sni
from .taskfile import DataOptions, load_data_file, load_toml


def bundled() -> dict[str, Path]:
    """Bundled task names and their files."""
    folder = paths.bundled_tasks_dir()
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def load(spec: str, opts: DataOptions | None = None) -> Task:
    """A bundled task name, or a path to a .toml task, a .jsonl/.csv data file or an SNI .json."""
    opts = opts or DataOptions()
    known = bundled()
    if spec in known:
        return load_toml(known[spec], skip_unknown_labels=opts.skip_unknown_labels)
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".jsonl", ".ndjson", ".csv", ".tsv", ".json"):
        names = ", ".join(known) or "none"
        raise TaskError(
            "--task", f"unknown task {spec!r} (bundled: {names}; or a .toml, .jsonl, .csv or SNI .json file)"
        )
    if not path.exists():
        raise TaskError(str(path), "task file not found")
    if suffix == ".toml":
        return load_toml(
            path,
            skip_unknown_labels=opts.skip_unknown_labels,
            allow_outside=opts.allow_outside,
            data_dir=opts.data_dir,
        )
    if suffix == ".json":
        return load_sni(path, pool=opts.pool, seed=opts.split_seed, skip_unknown_labels=opts.skip_unknown_labels)
    return load_data_file(path, opts)
