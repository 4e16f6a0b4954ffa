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


@dataclass(frozen=True)
class BackendKind:
    name: str
    keys: dict[str, type | tuple]  # the models.toml keys only this kind takes, and their types
    serves: Callable[["ModelSpec"], bool]
    load: Callable[["ModelSpec", Path | None, str], "Backend"]
    ranges: dict = field(default_factory=dict)  # key -> (lowest, highest) allowed, or the allowed strings


def _load_server(spec: "ModelSpec", path: Path | None, where: str) -> "Backend":
    from .server import ServerBackend

    x = spec.extra
    return ServerBackend(
        spec.server, model=x.get("server_model"), tokenizer_path=path, n_ctx=spec.n_ctx,
        max_in_flight=x.get("max_in_flight"), per_server=x.get("per_server", 1), prompt_cache=x.get("prompt_cache", False),
        retries=x.get("retries", 3), timeout=x.get("timeout", 120),
        allow_retokenize=x.get("allow_retokenize", False), where=where,
    )


def _load_llama(spec: "ModelSpec", path: Path | None, where: str) -> "Backend":
    from ..models.gguf import check_gguf, check_model_header
    from .llama import LlamaBackend
    from .preflight import check_loads

    settings = {"n_ctx": spec.n_ctx, "n_gpu_layers": spec.n_gpu_layers, "n_threads": spec.n_threads or None,
                "batching": spec.extra.get("batching", "auto")}
    check_gguf(path, where=where)  # the header first: one line without a child process
    check_model_header(path, where=where)
    check_loads(path, settings, where=where)  # then a first load where an abort cannot end this process
    return LlamaBackend(path, **settings, where=where)


KINDS: tuple[BackendKind, ...] = (
    BackendKind("openai-completions", {"server": (str, list), "server_model": str, "max_in_flight": int, "per_server": int,
                                       "prompt_cache": bool, "retries": int, "timeout": (int, float), "allow_retokenize": bool},
                lambda spec: bool(spec.server), _load_server,
                {"max_in_flight": (1, 1024), "per_server": (1, 64), "retries": (0, 20), "timeout": (0.1, 3600)}),
    BackendKind("llama.cpp", {"n_gpu_layers": int, "n_threads": int, "batching": str}, lambda spec: not spec.server, _load_llama,
                {"n_gpu_layers": (-1, 10_000), "n_threads": (0, 1024), "batching": ("auto", "sequential", "packs")}),
)


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
