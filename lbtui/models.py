"""The model registry: models.toml files naming GGUF models and how to load them.

The bundled models.toml comes first; a user's own models.toml (in the current folder,
then the user config dir) adds entries or overrides them by name. An entry gives either
``path`` (relative to its models.toml) or ``package`` (a Python package that ships the
GGUF as ``file``, or that assembles it with an ``assemble()`` function).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .errors import ModelError

DEFAULT_N_CTX = 4096


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path | None = None
    package: str | None = None
    file: str | None = None
    n_ctx: int = DEFAULT_N_CTX
    n_gpu_layers: int = -1  # every layer, where the llama.cpp build can offload
    n_threads: int = 0  # 0: every core
    chat_template: bool = False  # the paper scores raw prompts
    note: str = ""
    source: str = ""  # the models.toml it came from
    default: bool = False
    extra: dict = field(default_factory=dict)

    def locate(self) -> Path:
        """The GGUF file, assembling a packaged model into the cache on first use."""
        where = f"{self.source}: models.{self.name}" if self.source else "--model"
        if self.path is not None:
            return self.path
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(where, f"package {self.package!r} is not installed (pip install {self.package.replace('_', '-')})")
        folder = Path(list(spec.submodule_search_locations)[0])
        if self.file and (folder / self.file).is_file():
            return folder / self.file
        module = importlib.import_module(self.package)
        if not hasattr(module, "assemble"):
            raise ModelError(where, f"package {self.package!r} has no file {self.file!r}")
        target = paths.cache_dir() / "models" / (self.file or module.MODEL_NAME)
        if not target.is_file():
            # Assemble beside the target and rename, so an interrupted join never leaves a
            # truncated model where the next start would look.
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".part{os.getpid()}")
            try:
                module.assemble(tmp, overwrite=True)
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
        return target


_KEYS = {"path", "package", "file", "n_ctx", "n_gpu_layers", "n_threads", "chat_template", "note", "default"}


def parse(path: Path) -> dict[str, ModelSpec]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ModelError(str(path), f"TOML syntax error: {e}") from None
    except UnicodeDecodeError:
        raise ModelError(str(path), "text is not UTF-8") from None
    table = doc.get("models", {})
    if not isinstance(table, dict):
        raise ModelError(f"{path}: models", "must be a table of named models")
    out = {}
    for name, entry in table.items():
        where = f"{path}: models.{name}"
        if not isinstance(entry, dict):
            raise ModelError(where, "must be a table")
        unknown = set(entry) - _KEYS
        if unknown:
            raise ModelError(where, f"unknown field {sorted(unknown)[0]!r}")
        if ("path" in entry) == ("package" in entry):
            raise ModelError(where, "give exactly one of 'path' or 'package'")
        for key, kind in (("n_ctx", int), ("n_gpu_layers", int), ("n_threads", int), ("chat_template", bool)):
            if key in entry and (not isinstance(entry[key], kind) or (kind is int and isinstance(entry[key], bool))):
                raise ModelError(f"{where}.{key}", f"must be {'true or false' if kind is bool else 'an integer'}")
        if entry.get("n_ctx", DEFAULT_N_CTX) < 16:
            raise ModelError(f"{where}.n_ctx", "must be at least 16")
        model_path = None
        if "path" in entry:
            model_path = Path(os.path.expanduser(entry["path"]))
            if not model_path.is_absolute():
                model_path = (path.parent / model_path).resolve()
        out[name] = ModelSpec(
            name=name, path=model_path, package=entry.get("package"), file=entry.get("file"),
            n_ctx=entry.get("n_ctx", DEFAULT_N_CTX), n_gpu_layers=entry.get("n_gpu_layers", -1),
            n_threads=entry.get("n_threads", 0), chat_template=entry.get("chat_template", False),
            note=entry.get("note", ""), source=str(path), default=entry.get("default", False),
        )
    return out


def registry_files() -> list[Path]:
    """Bundled first, then the user config dir, then the current folder: later ones win."""
    candidates = [paths.bundled_models_file(), paths.config_dir() / "models.toml", Path.cwd() / "models.toml"]
    seen, out = set(), []
    for c in candidates:
        if c.is_file() and c.resolve() not in seen:
            seen.add(c.resolve())
            out.append(c)
    return out


def registry() -> dict[str, ModelSpec]:
    models: dict[str, ModelSpec] = {}
    for f in registry_files():
        models.update(parse(f))
    return models


def default_model(models: dict[str, ModelSpec]) -> str:
    for name, spec in models.items():
        if spec.default:
            return name
    if not models:
        raise ModelError("models.toml", "no models are registered")
    return next(iter(models))


def resolve(name_or_path: str, models: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """A registered name, or a path to a .gguf file."""
    models = registry() if models is None else models
    if name_or_path in models:
        return models[name_or_path]
    p = Path(os.path.expanduser(name_or_path))
    if p.suffix.lower() == ".gguf" or os.sep in name_or_path or p.exists():
        return ModelSpec(name=p.stem, path=p.resolve(), source="")
    known = ", ".join(sorted(models)) or "none"
    raise ModelError("--model", f"unknown model {name_or_path!r} (known: {known}; or give a path to a .gguf file)")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
