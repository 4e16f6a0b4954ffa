"""llama.cpp backend (llama-cpp-python), with the KV cache of a shared prefix reused.

The high-level ``Llama`` loads the model and tokenizes; decoding goes through our own
``llama_batch`` so logits are requested only at the positions that are read (never
``logits_all``, which costs n_ctx x vocabulary floats). The cache holds one sequence:
each prompt keeps the longest prefix it shares with what is cached and evaluates the
rest, so a run's definition and demonstrations are evaluated once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ModelError
from .base import Request, log_softmax_at


def check_gguf(path: Path, *, where: str) -> None:
    """Refuse a missing, non-GGUF or obviously truncated file before llama.cpp sees it."""
    if not path.exists():
        raise ModelError(where, f"model file {path} does not exist")
    if not path.is_file():
        raise ModelError(where, f"{path} is not a file")
    with path.open("rb") as f:
        head = f.read(24)
    if head[:4] != b"GGUF":
        raise ModelError(where, f"{path} is not a GGUF file (it does not start with 'GGUF')")
    if len(head) < 24:
        raise ModelError(where, f"{path} is truncated ({path.stat().st_size} bytes)")


@contextlib.contextmanager
def _quiet_stderr():
    """llama.cpp logs model loading to fd 2 from C; keep the user's terminal for our output
    unless LBTUI_VERBOSE is set."""
    if os.environ.get("LBTUI_VERBOSE"):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LlamaBackend:
    def __init__(
        self, path: Path, *, n_ctx: int = 4096, n_gpu_layers: int = -1, n_threads: int | None = None,
        n_batch: int = 512, reuse_prefix: bool = True, where: str = "--model",
    ):
        import llama_cpp

        check_gguf(path, where=where)
        self._lc = llama_cpp
        threads = n_threads or os.cpu_count() or 1
        try:
            with _quiet_stderr():
                self.llm = llama_cpp.Llama(
                    model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, n_threads=threads,
                    n_threads_batch=threads, n_batch=n_batch, n_ubatch=n_batch, logits_all=False,
                    verbose=bool(os.environ.get("LBTUI_VERBOSE")),
                )
        except (ValueError, RuntimeError) as e:
            raise ModelError(where, f"llama.cpp could not load {path} ({e}); is the file complete?") from None
        self.name = str(path)
        self.n_ctx = self.llm.n_ctx()
        self.n_batch = self.llm.n_batch
        self.n_vocab = self.llm.n_vocab()
        eos = self.llm.token_eos()
        self.eos = eos if eos >= 0 else None
        self.reuse_prefix = reuse_prefix
        self.metadata = dict(self.llm.metadata)
        self.info = {
            "backend": "llama.cpp",
            "llama_cpp_python": llama_cpp.__version__,
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_threads": threads,
            "n_gpu_layers": n_gpu_layers,
            "gpu_offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
        }
        self.tokens_evaluated = 0
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._mem = llama_cpp.llama_get_memory(self.llm.ctx)
        self._cached: list[int] = []  # tokens whose KV is in sequence 0
        self._last_logits: np.ndarray | None = None  # logits after the last cached token

    # --- tokens ------------------------------------------------------------------------

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]:
        if not text:
            return []
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=special)

    # --- decoding ----------------------------------------------------------------------

    def _decode(self, tokens: Sequence[int], start: int, want: Sequence[bool]) -> list[np.ndarray]:
        """Decode ``tokens`` at positions start.. in sequence 0; return the logits of the
        positions where ``want`` is true, in order."""
        lc, b = self._lc, self._batch
        out: list[np.ndarray] = []
        for lo in range(0, len(tokens), self.n_batch):
            chunk = tokens[lo : lo + self.n_batch]
            b.n_tokens = len(chunk)
            for i, tok in enumerate(chunk):
                b.token[i] = tok
                b.pos[i] = start + lo + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = 0
                b.logits[i] = bool(want[lo + i])
            rc = lc.llama_decode(self.llm.ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with code {rc}")
            self.tokens_evaluated += len(chunk)
            for i in range(len(chunk)):
                if want[lo + i]:
                    ptr = lc.llama_get_logits_ith(self.llm.ctx, i)
                    out.append(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy())
        return out

    def _truncate(self, n: int) -> None:
        self._lc.llama_memory_seq_rm(self._mem, 0, n, -1)
        del self._cached[n:]

    def _eval_prompt(self, prompt: Sequence[int]) -> np.ndarray:
        """Make ``prompt`` the cached sequence and return the logits after its last token."""
        if not prompt:
            raise ValueError("empty prompt")
        keep = 0
        if self.reuse_prefix:
            limit = min(len(self._cached), len(prompt))
            while keep < limit and self._cached[keep] == prompt[keep]:
                keep += 1
            if keep == len(prompt) == len(self._cached) and self._last_logits is not None:
                return self._last_logits
            keep = min(keep, len(prompt) - 1)  # the last token is decoded again for its logits
        self._truncate(keep)
        rest = list(prompt[keep:])
        (logits,) = self._decode(rest, keep, [False] * (len(rest) - 1) + [True])
        self._cached.extend(rest)
        self._last_logits = logits
        return logits

    def score(self, requests: Sequence[Request], *, mode: str) -> np.ndarray:
        rows = []
        for req in requests:
            logits = self._eval_prompt(req.prompt)
            if mode == "first-token":
                rows.append(log_softmax_at(logits, [c[0] for c in req.continuations]))
                continue
            n = len(req.prompt)
            row = []
            for cont in req.continuations:
                lp = [log_softmax_at(logits, [cont[0]])[0]]
                if len(cont) > 1:
                    # Logits after each continuation token but the last score the next one.
                    feed = list(cont[:-1])
                    for pos_logits, nxt in zip(self._decode(feed, n, [True] * len(feed)), cont[1:]):
                        lp.append(log_softmax_at(pos_logits, [nxt])[0])
                    self._lc.llama_memory_seq_rm(self._mem, 0, n, -1)
                row.append(float(np.mean(lp)))
            rows.append(np.array(row))
        return np.array(rows, dtype=np.float64).reshape(len(requests), -1)

    def clear(self) -> None:
        self._truncate(0)
        self._last_logits = None

    def close(self) -> None:
        if self._batch is not None:
            self._lc.llama_batch_free(self._batch)
            self._batch = None
        self.llm.close()


def hardware_summary() -> str:
    """One line on what this llama.cpp build can do, for headers and `lbtui models`."""
    try:
        import llama_cpp
    except ImportError:  # pragma: no cover - it is a core dependency
        return "llama.cpp not installed"
    gpu = "GPU offload available" if llama_cpp.llama_supports_gpu_offload() else "CPU only (no GPU offload in this build)"
    return f"llama.cpp {llama_cpp.__version__} · {gpu} · {os.cpu_count()} cores"
