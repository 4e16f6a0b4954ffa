"""GGUF file helpers: refusing what is not a complete GGUF file, what llama.cpp says a
model's weights are, and keeping llama.cpp's C logging off the user's terminal."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..errors import ModelError

# llama.cpp aborts the process below this (it reserves outputs for 64 sequences) and
# wraps context sizes past 2^32; 2^24 tokens is beyond any GGUF model lbtui can load.
MIN_N_CTX, MAX_N_CTX = 256, 2**24


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


def weights(lc, model, metadata: dict) -> dict:
    """Parameters, tensor bytes, bits per weight and file type: what a quantization ladder
    compares."""
    n, size = int(lc.llama_model_n_params(model)), int(lc.llama_model_size(model))
    return {"n_params": n, "model_bytes": size, "bits_per_weight": round(size * 8 / n, 4) if n else None,
            "file_type": metadata.get("general.file_type")}


@contextlib.contextmanager
def quiet_stderr():
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
