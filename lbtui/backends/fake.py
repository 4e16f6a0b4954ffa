"""A deterministic stand-in for llama.cpp, for fast unit and UI tests only.

Tokens are hashed words. A label's score grows when the query mentions the label word
(so the fake model is informative) and falls with the label's position (so it is
biased toward the first labels, and calibration has something to correct).
"""

from __future__ import annotations

import re
import time
import zlib
from typing import Sequence

import numpy as np

from .base import Request

_WORD = re.compile(r"\s*\S+|\s+")


class FakeBackend:
    numbers_keys = ("backend", "bias")

    def __init__(self, *, n_ctx: int = 4096, delay: float = 0.0, bias: float = 0.8):
        self.name = "fake"
        self.n_ctx = n_ctx
        self.eos = 1
        self.metadata = {"general.name": "fake"}
        self.info = {"backend": "fake", "n_ctx": n_ctx, "bias": bias}
        self.tokens_evaluated = 0
        self.requests_per_call = 8
        self.delay = delay  # seconds per request, to let UI tests watch a run in progress
        self.bias = bias
        self._vocab: dict[int, str] = {}
        self._cached: tuple[int, ...] = ()

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]:
        ids = [0] if bos else []
        for piece in _WORD.findall(text):
            tid = 2 + zlib.crc32(piece.encode()) % 50_000
            self._vocab[tid] = piece.strip().lower().strip(".,!?")
            ids.append(tid)
        return ids

    def score(self, requests: Sequence[Request], *, mode: str) -> np.ndarray:
        rows = []
        for req in requests:
            if self.delay:
                time.sleep(self.delay)
            keep = 0
            while keep < min(len(self._cached), len(req.prompt)) and self._cached[keep] == req.prompt[keep]:
                keep += 1
            self.tokens_evaluated += len(req.prompt) - keep
            self._cached = req.prompt
            query_words = {self._vocab.get(t, "") for t in req.prompt[-24:]}
            noise_seed = zlib.crc32(np.asarray(req.prompt[-24:], dtype=np.int64).tobytes())
            noise = np.random.default_rng(noise_seed).normal(0, 0.6, len(req.continuations))
            row = []
            for j, cont in enumerate(req.continuations):
                hit = 1.5 if self._vocab.get(cont[0], "") in query_words else 0.0
                row.append(-1.0 - self.bias * j + hit + noise[j] - (0.1 * (len(cont) - 1) if mode == "full" else 0))
            # log-probabilities: the labels plus the rest of the vocabulary (mass e^0) sum to 1
            row = np.array(row)
            rows.append(row - np.logaddexp.reduce(np.append(row, 0.0)))
        return np.array(rows, dtype=np.float64).reshape(len(requests), -1)

    def clear(self) -> None:
        self._cached = ()

    def close(self) -> None:
        pass
