"""Scoring backends: something that turns token ids into label log-probabilities.

A backend kind is one object: the models.toml keys it takes (with their types, which
models.parse checks), which entries it serves, and how it loads. The engine and the app
reach backends only through this registry and the Backend protocol (base.py); each
kind's module is imported only when a model of that kind is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..models.spec import ModelSpec
    from .base import Backend


SPEC_FIELDS = ("server", "n_gpu_layers", "n_threads")  # backend keys ModelSpec holds as fields, not in extra


@dataclass(frozen=True)
class BackendKind:
    name: str
    keys: dict[str, type | tuple]  # the models.toml keys only this kind takes, and their types
    serves: Callable[["ModelSpec"], bool]
    load: Callable[["ModelSpec", Path | None, str], "Backend"]
    ranges: dict = field(default_factory=dict)  # key -> (lowest, highest) allowed, or the allowed strings
    defaults: dict = field(default_factory=dict)  # key -> the value an entry without it gets (docs and load alike)

    def setting(self, spec: "ModelSpec", key: str):
        """An entry's value of one of this kind's keys, or its default."""
        value = getattr(spec, key) if key in SPEC_FIELDS else spec.extra.get(key)
        return self.defaults.get(key) if value is None else value


def _load_server(spec: "ModelSpec", path: Path | None, where: str) -> "Backend":
    from .server import ServerBackend

    get = lambda key: SERVER.setting(spec, key)  # noqa: E731
    return ServerBackend(
        spec.server,
        model=get("server_model"),
        tokenizer_path=path,
        n_ctx=spec.n_ctx,
        max_in_flight=get("max_in_flight"),
        per_server=get("per_server"),
        prompt_cache=get("prompt_cache"),
        retries=get("retries"),
        timeout=get("timeout"),
        allow_retokenize=get("allow_retokenize"),
        where=where,
    )


def _load_llama(spec: "ModelSpec", path: Path | None, where: str) -> "Backend":
    from ..models.gguf import check_gguf, check_model_header
    from .llama import LlamaBackend
    from .preflight import check_loads

    settings = {
        "n_ctx": spec.n_ctx,
        "n_gpu_layers": LLAMA.setting(spec, "n_gpu_layers"),
        "n_threads": LLAMA.setting(spec, "n_threads") or None,
        "batching": LLAMA.setting(spec, "batching"),
    }
    check_gguf(path, where=where)  # the header first: one line without a child process
    check_model_header(path, where=where)
    check_loads(path, settings, where=where)  # then a first load where an abort cannot end this process
    return LlamaBackend(path, **settings, where=where)


SERVER = BackendKind(
    "openai-completions",
    {
        "server": (str, list),
        "server_model": str,
        "max_in_flight": int,
        "per_server": int,
        "prompt_cache": bool,
        "retries": int,
        "timeout": (int, float),
        "allow_retokenize": bool,
    },
    lambda spec: bool(spec.server),
    _load_server,
    {"max_in_flight": (1, 1024), "per_server": (1, 64), "retries": (0, 20), "timeout": (0.1, 3600)},
    # max_in_flight None: servers x per_server
    {
        "server_model": None,
        "max_in_flight": None,
        "per_server": 1,
        "prompt_cache": False,
        "retries": 3,
        "timeout": 120,
        "allow_retokenize": False,
    },
)
LLAMA = BackendKind(
    "llama.cpp",
    {"n_gpu_layers": int, "n_threads": int, "batching": str},
    lambda spec: not spec.server,
    _load_llama,
    {"n_gpu_layers": (-1, 10_000), "n_threads": (0, 1024), "batching": ("auto", "sequential", "packs")},
    {"n_gpu_layers": -1, "n_threads": 0, "batching": "auto"},  # -1: every layer where the build can; 0: every core
)
KINDS: tuple[BackendKind, ...] = (SERVER, LLAMA)


def kind_of(spec: "ModelSpec") -> BackendKind:
    return next(k for k in KINDS if k.serves(spec))


def load_backend(spec: "ModelSpec", path: Path | None) -> "Backend":
    where = f"{spec.source}: models.{spec.name}" if spec.source else "--model"
    return kind_of(spec).load(spec, path, where)


def load_vocab(path: Path, *, n_ctx: int = 4096, where: str = "--model"):
    """A model's tokenizer alone (llama.cpp's vocab_only): for `lbtui prompt` and the app."""
    from .llama_common import Vocab

    return Vocab(path, n_ctx=n_ctx, where=where)


def build_info() -> dict:
    """What the installed llama.cpp build can do (GPU offload, threads, CPU features)."""
    from .llama_common import build_info as info

    return info()


def hardware_summary() -> str:
    from .llama_common import hardware_summary as summary

    return summary()
