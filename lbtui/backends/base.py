"""The contract between the engine and a scoring backend.

A backend tokenizes text and scores requests. A request is a prompt (token ids) and
one continuation per label (token ids, the end-of-sequence id included in ``full``
mode). The engine keeps the order of requests so that consecutive ones share long
prefixes; a backend is free to reuse or batch inside ``score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

import numpy as np

Scoring = Literal["full", "first-token"]


@dataclass(frozen=True)
class ScoringMode:
    """A way to score a label (docs/METHODS.md): ``name`` as runs, the command line, cards
    and sessions say it; ``title`` the app's choice; ``whole``: every token of the label
    and then the end-of-sequence token are scored (the model must have one), else the
    label's first token only (labels must then differ in it)."""

    name: Scoring
    title: str
    whole: bool


# The scoring modes, the default first: everything that lists, checks or offers one reads here.
SCORING: dict[str, ScoringMode] = {
    m.name: m
    for m in (
        ScoringMode("full", "full (mean log-prob of label + EOS)", whole=True),
        ScoringMode("first-token", "first-token", whole=False),
    )
}
SCORING_MODES: tuple[Scoring, ...] = tuple(SCORING)
DEFAULT_SCORING: Scoring = SCORING_MODES[0]


@dataclass(frozen=True)
class Request:
    prompt: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]


class Backend(Protocol):
    name: str
    n_ctx: int
    eos: int | None
    info: dict  # what the run records about the backend (threads, offload, ...)
    # The keys of ``info`` a score's numbers depend on besides the model file and its request
    # (build, kernels, exactness, offload, a server's model): the content address is made of
    # them, so a backend that leaves one out would reuse another setting's scores.
    numbers_keys: tuple[str, ...]
    metadata: dict  # the model's GGUF metadata (chat template, name); {} where unknown
    requests_per_call: int  # how many requests ``score`` wants at once (the engine commits after each call)
    tokens_evaluated: int  # running count of tokens decoded, for speed reports

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]: ...

    def score(self, requests: Sequence[Request], *, mode: str) -> np.ndarray:
        """(len(requests), K) scores: ``first-token`` the log-probability of each
        continuation's first token after the prompt; ``full`` the mean log-probability
        of all of its tokens."""
        ...

    def clear(self) -> None:
        """Forget any cached state, so that the next request is evaluated from scratch."""
        ...

    def close(self) -> None: ...


def log_softmax_at(logits: np.ndarray, token_ids: Sequence[int]) -> np.ndarray:
    """log p(token) for the given ids from one position's vocabulary logits, in float64."""
    from scipy.special import logsumexp  # here, not at import: the store-only paths skip scipy

    x = np.asarray(logits, dtype=np.float64)
    return x[list(token_ids)] - logsumexp(x)
