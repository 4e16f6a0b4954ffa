"""The model registry: models.toml files naming GGUF models and how to load them.

The bundled models.toml comes first; a user's own models.toml (in the current folder,
then the user config dir) adds entries or overrides them by name. An entry gives one of
``path`` (relative to its models.toml), ``package`` (a Python package that ships the
GGUF as ``file``, or that assembles it with an ``assemble()`` function) or ``repo`` (a
Hugging Face Hub repository holding the GGUF ``file``, fetched with huggingface_hub into
its cache when online and read from that cache offline), or ``server`` (base URLs of
OpenAI-compatible completion servers; see backends/server.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from .. import paths
from ..backends import KINDS, SPEC_FIELDS
from ..errors import ModelError
from .gguf import MAX_N_CTX, MIN_N_CTX
from .spec import (  # noqa: F401  (the registry's public names)
    DEFAULT_N_CTX,
    ModelSpec,
    check_package_fields,
    check_repo_file,
    declared_sha256,
    package_folder,
    sha256_file,
)

# Keys every entry may have; each backend kind adds its own (lbtui.backends.KINDS).
COMMON_KEYS = {
    "path",
    "package",
    "file",
    "repo",
    "revision",
    "sha256",
    "n_ctx",
    "chat_template",
    "note",
    "default",
    "quantized_from",
    "quant_type",
}


def backend_keys() -> dict[str, type | tuple]:
    """The keys the backend kinds declare, with their types."""
    return {key: kind for k in KINDS for key, kind in k.keys.items()}


def _ranges() -> dict[str, tuple]:
    return {key: r for k in KINDS for key, r in k.ranges.items()}


def check_ranges(entry: dict, where: str) -> None:
    """Every number in its range (finite), every word among its choices: one line naming
    the key, never a traceback or a silent change later."""
    import math

    for key, allowed in _ranges().items():
        if key not in entry:
            continue
        value = entry[key]
        if isinstance(allowed[0], str):
            if value not in allowed:
                raise ModelError(f"{where}.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
        elif not (isinstance(value, (int, float)) and math.isfinite(value) and allowed[0] <= value <= allowed[1]):
            raise ModelError(f"{where}.{key}", f"must be a number from {allowed[0]} to {allowed[1]}, got {value!r}")


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
        servers = _checked(entry, where)
        out[name] = _spec(name, entry, servers, path, where)
    return out


def _checked(entry: Any, where: str) -> list[str]:
    """One models.toml entry checked field by field (one line naming the first wrong one);
    its server URLs."""
    if not isinstance(entry, dict):
        raise ModelError(where, "must be a table")
    unknown = set(entry) - COMMON_KEYS - set(backend_keys())
    if unknown:
        raise ModelError(where, f"unknown field {sorted(unknown)[0]!r}")
    given = [k for k in ("path", "package", "repo", "server") if k in entry]
    if len(given) != 1 and not (given == ["path", "server"] or given == ["package", "server"]):
        raise ModelError(
            where,
            "give exactly one of 'path', 'package', 'repo' or 'server' (a server may add a local 'path' or"
            " 'package' for its tokenizer)",
        )
    if "repo" in entry and not isinstance(entry.get("file"), str):
        raise ModelError(f"{where}.file", "a model from the Hub needs 'file', the GGUF's name in the repository")
    for key in (
        "repo",
        "revision",
        "sha256",
        "file",
        "package",
        "path",
        "server_model",
        "quantized_from",
        "quant_type",
    ):
        if key in entry and not isinstance(entry[key], str):
            raise ModelError(f"{where}.{key}", "must be a string")
    if "package" in entry:
        check_package_fields(entry["package"], entry.get("file"), where)
    if "repo" in entry:
        check_repo_file(entry["file"], where)
    servers = entry.get("server", [])
    servers = [servers] if isinstance(servers, str) else servers
    if (
        not isinstance(servers, list)
        or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in servers)
        or ("server" in entry and not servers)
    ):
        raise ModelError(f"{where}.server", "must be a base URL or a list of them (http://host:port)")
    typed = {
        "n_ctx": int,
        "chat_template": bool,
        **{k: v for k, v in backend_keys().items() if v not in (str, (str, list))},
    }
    for key, kind in typed.items():
        if key in entry and (not isinstance(entry[key], kind) or (kind is not bool and isinstance(entry[key], bool))):
            raise ModelError(f"{where}.{key}", f"must be {'true or false' if kind is bool else 'a number'}")
    check_ranges(entry, where)
    if not MIN_N_CTX <= entry.get("n_ctx", DEFAULT_N_CTX) <= MAX_N_CTX:
        raise ModelError(f"{where}.n_ctx", f"must be between {MIN_N_CTX} and {MAX_N_CTX}, got {entry['n_ctx']}")
    return servers


def _spec(name: str, entry: dict, servers: list[str], path: Path, where: str) -> ModelSpec:
    """A checked entry as a ModelSpec (a relative path is the registry file's neighbour)."""
    model_path = None
    if "path" in entry:
        model_path = Path(os.path.expanduser(entry["path"]))
        if not model_path.is_absolute():
            model_path = paths.real(path.parent / model_path, f"{where}.path")
    return ModelSpec(
        name=name,
        path=model_path,
        package=entry.get("package"),
        file=entry.get("file"),
        repo=entry.get("repo"),
        revision=entry.get("revision"),
        sha256=entry.get("sha256"),
        server=tuple(servers),
        extra={
            k: entry[k]
            for k in (*backend_keys(), "quantized_from", "quant_type")
            if k in entry and k not in SPEC_FIELDS
        },
        n_ctx=entry.get("n_ctx", DEFAULT_N_CTX),
        n_gpu_layers=entry.get("n_gpu_layers", -1),
        n_threads=entry.get("n_threads", 0),
        chat_template=entry.get("chat_template", False),
        note=entry.get("note", ""),
        source=str(path),
        default=entry.get("default", False),
    )


def registry_files() -> list[Path]:
    """Bundled first, then the user config dir, then the current folder: later ones win."""
    candidates = [paths.bundled_models_file(), paths.config_dir() / "models.toml", Path.cwd() / "models.toml"]
    seen, out = set(), []
    for c in candidates:
        if c.is_file() and c.resolve() not in seen:
            seen.add(c.resolve())
            out.append(c)
    return out


def local_overrides() -> list[tuple[str, Path]]:
    """Bundled model names that a models.toml in the current folder redefines. Such a file
    is trusted input (it names what is loaded, and packages that may run code), so the
    command line says so whenever one takes over a bundled name."""
    here = Path.cwd() / "models.toml"
    if not here.is_file() or here.resolve() == paths.bundled_models_file().resolve():
        return []
    try:
        local = parse(here)
        bundled = parse(paths.bundled_models_file())
    except ModelError:
        return []  # the command that reads the registry says what is wrong with it
    return [(name, here) for name in local if name in bundled]


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
        return ModelSpec(name=p.stem, path=paths.real(p, "--model"), source="")
    known = ", ".join(sorted(models)) or "none"
    base, at, qtype = name_or_path.rpartition("@")
    if at and base:
        raise ModelError(
            "--model",
            f"no variant {name_or_path!r} is registered; write it first with lbtui quantize {base} --types {qtype}",
        )
    raise ModelError("--model", f"unknown model {name_or_path!r} (known: {known}; or give a path to a .gguf file)")


def identity(spec: ModelSpec, file_sha: str | None) -> str:
    """What the store and run keys know a model by: the GGUF's sha256 for a local model; for
    a server, a digest of the servers, the model id and the local GGUF named (if any), so
    that a server's scores never stand in for a local run's or another server's."""
    if not spec.server:
        return file_sha
    blob = json.dumps({"server": sorted(spec.server), "model": spec.extra.get("server_model"), "gguf": file_sha})
    return hashlib.sha256(blob.encode()).hexdigest()
