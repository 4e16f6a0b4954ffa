"""The plain loop `lbtui bench` compares against: what a careful user writes in 30 lines
with llama-cpp-python's high-level Llama class. Each prompt keeps in the cache what it
shares with the previous one (the instruction and demonstrations) and evaluates its own
tokens as one batch at the positions they would have alone, one query at a time, no
batching, no padding; in full mode each label's tokens one at a time after the query."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..models.gguf import quiet_stderr
from .base import Request, log_softmax_at
from .layout import common_prefix


def plain_loop(
    path: Path, requests: Sequence[Request], *, mode: str, n_ctx: int = 4096, n_threads: int | None = None
) -> tuple[float, np.ndarray]:
    """(seconds, scores) of the plain loop over ``requests``; the model load is not timed."""
    import llama_cpp.llama_cpp as low
    from llama_cpp import Llama

    default = low.llama_model_default_params

    def params():  # the model parameters lbtui's backend uses: no extra (repacked) buffer types
        p = default()
        p.use_extra_bufts = False
        return p

    low.llama_model_default_params = params  # the Llama class takes no such argument
    try:
        with quiet_stderr():
            llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count() or 1,
                n_batch=512,
                logits_all=False,
                verbose=False,
            )
    finally:
        low.llama_model_default_params = default
    try:
        n_vocab = llm.n_vocab()

        def last_logits() -> np.ndarray:
            return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,)).copy()

        rows = []
        t0 = time.perf_counter()
        llm.reset()
        held: tuple[int, ...] = ()  # the tokens in the cache: the previous prompt
        for r in requests:
            # Keep what this prompt shares with the previous one (the instruction and the
            # demonstrations, in the engine's order), and at least one token of its own.
            keep = min(common_prefix(held, r.prompt), len(r.prompt) - 1)
            llm.n_tokens = keep  # eval clears the KV cells past it
            llm.eval(list(r.prompt[keep:]))
            held = r.prompt
            first = last_logits()
            if mode == "first-token":
                rows.append(log_softmax_at(first, [c[0] for c in r.continuations]))
                continue
            base, row = llm.n_tokens, []
            for cont in r.continuations:
                llm.n_tokens = base
                lps = [log_softmax_at(first, [cont[0]])[0]]
                for j in range(1, len(cont)):
                    llm.eval([cont[j - 1]])
                    lps.append(log_softmax_at(last_logits(), [cont[j]])[0])
                row.append(float(np.mean(lps)))
            rows.append(np.array(row))
        return time.perf_counter() - t0, np.array(rows)
    finally:
        llm.close()
