"""What every use of llama-cpp-python in lbtui shares: the check that the installed
release has the API lbtui needs, what the build can do (CPU features, GPU offload), and
tokenizing with a model, including a vocabulary-only load (Vocab) for `lbtui prompt`."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ModelError
from ..models.gguf import check_gguf, quiet_stderr

TESTED = ">=0.3.36,<0.4"  # the llama-cpp-python releases lbtui is tested with (pyproject.toml)
_API_CHECKED = False


def check_api() -> None:
    """Refuse, in one line naming the installed version, a llama-cpp-python without the
    (partly private, recent) API this backend uses. Checked once per process."""
    global _API_CHECKED
    if _API_CHECKED:
        return
    import llama_cpp

    missing = [
        name
        for name in (
            "LLAMA_FLASH_ATTN_TYPE_DISABLED",
            "llama_get_memory",
            "llama_memory_clear",
            "llama_memory_seq_rm",
            "llama_memory_seq_cp",
            "llama_n_ubatch",
            "llama_init_from_model",
            "llama_print_system_info",
            "llama_supports_gpu_offload",
        )
        if not hasattr(llama_cpp, name)
    ]
    try:
        import llama_cpp._internals as internals
    except ImportError:
        internals = None
    if not hasattr(internals, "LlamaModel"):
        missing.append("_internals.LlamaModel")
    if not missing:
        cp, mp = llama_cpp.llama_context_default_params(), llama_cpp.llama_model_default_params()
        missing += [
            f"context parameter {f}"
            for f in ("kv_unified", "swa_full", "flash_attn_type", "n_seq_max")
            if not hasattr(cp, f)
        ]
        missing += [f"model parameter {f}" for f in ("use_extra_bufts", "vocab_only") if not hasattr(mp, f)]
    if missing:
        version = getattr(llama_cpp, "__version__", "unknown")
        raise ModelError(
            "llama-cpp-python",
            f"version {version} lacks {', '.join(missing)}; lbtui needs"
            f" llama-cpp-python{TESTED} (pip install 'llama-cpp-python{TESTED}')",
        )
    _API_CHECKED = True


def cpu_features() -> list[str]:
    """The CPU features this llama.cpp build uses (llama_print_system_info's "X = 1"): a
    wheel from pip's cache may have been built for another CPU than this one."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    return sorted({m.strip() for m in re.findall(r"([A-Za-z0-9_]+) = 1", info)})


def build_info() -> dict:
    """What this llama.cpp build can do, for `lbtui models` and the app's header."""
    import llama_cpp

    return {
        "llama_cpp_python": llama_cpp.__version__,
        "gpu_offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
        "cpu_threads": os.cpu_count() or 1,
        "cpu_features": cpu_features(),
    }


def offload(n_layer: int, n_gpu_layers: int, supported: bool | None = None) -> dict:
    """Layers llama.cpp puts on the GPU: none on a CPU-only build; else n_gpu_layers of the
    n_layer blocks plus the output layer (-1: all of them)."""
    if supported is None:
        import llama_cpp

        supported = bool(llama_cpp.llama_supports_gpu_offload())
    total = n_layer + 1
    done = 0 if not supported else total if n_gpu_layers < 0 else min(n_gpu_layers, total)
    return {"n_layer": n_layer, "layers_offloaded": done, "layers_total": total}


def hardware_summary() -> str:
    """One line on what this llama.cpp build can do, for the app's header."""
    b = build_info()
    gpu = "GPU offload available" if b["gpu_offload_supported"] else "CPU only (no GPU offload in this build)"
    return f"llama.cpp {b['llama_cpp_python']} · {gpu} · {b['cpu_threads']} threads"


def tokenize_with(model, text: str, *, bos: bool, special: bool) -> list[int]:
    """llama.cpp's tokenizer; BOS only where the model's vocabulary asks for one."""
    if not text:
        bos_id = model.token_bos()
        return [bos_id] if bos and bos_id >= 0 and model.add_bos_token() else []
    return model.tokenize(text.encode("utf-8"), add_bos=bos, special=special)


def piece_of(model, token: int, *, special: bool = True) -> str:
    """A token's text, special tokens as written unless ``special`` is false
    (llama-cpp-python hands back its buffer, NUL padding included)."""
    return model.token_to_piece(token, special=special).rstrip(b"\0").decode("utf-8", errors="replace")


class Vocab:
    """A model's tokenizer alone (llama.cpp's vocab_only): loads in milliseconds, also from
    a vocabulary-only GGUF, for `lbtui prompt` and the app's prompt view."""

    def __init__(self, path: Path, *, n_ctx: int = 4096, where: str = "--model"):
        import llama_cpp

        check_api()
        from llama_cpp._internals import LlamaModel

        check_gguf(path, where=where)
        mp = llama_cpp.llama_model_default_params()
        mp.vocab_only = True
        try:
            with quiet_stderr():
                self._model = LlamaModel(path_model=str(path), params=mp, verbose=bool(os.environ.get("LBTUI_VERBOSE")))
        except (ValueError, RuntimeError) as e:
            raise ModelError(where, f"llama.cpp could not read the vocabulary of {path} ({e})") from None
        self.name = str(path)
        self.n_ctx = n_ctx
        self.metadata = self._model.metadata()
        self.n_vocab = self._model.n_vocab()
        eos, bos = self._model.token_eos(), self._model.token_bos()
        self.eos = eos if eos >= 0 else None
        self.bos = bos if bos >= 0 else None
        self.bos_ids = [bos] if self._model.add_bos_token() and bos >= 0 else []  # what tokenize(bos=True) adds
        self.info = {"backend": "llama.cpp (vocabulary only)"}

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]:
        return tokenize_with(self._model, text, bos=bos, special=special)

    def piece(self, token: int, *, special: bool = True) -> str:
        return piece_of(self._model, token, special=special)

    def close(self) -> None:
        if self._model is not None:
            with quiet_stderr():
                self._model.close()
            self._model = None
