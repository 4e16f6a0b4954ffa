"""The example sets of one run (task, model, k, seed), as METHODS.md defines them."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from . import calibration
from .errors import TaskError
from .types import Example, Task

BIAS_SET_SIZE = 32
DEFAULT_LIMIT = 100


def rng(seed: int, purpose: str) -> np.random.Generator:
    """An independent, reproducible stream for each use of a run's seed."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


@dataclass(frozen=True)
class ExampleSets:
    demos: tuple[Example, ...]
    bias: tuple[Example, ...]
    test: tuple[Example, ...]
    cc: tuple[str, ...]  # content-free inputs
    dc: tuple[str, ...]  # random in-domain texts


def build(task: Task, *, shots: int, seed: int, limit: int = DEFAULT_LIMIT, n_bias: int = BIAS_SET_SIZE) -> ExampleSets:
    """k demonstrations drawn from the pool with the seed (in drawn order), a bias set of
    ``n_bias`` further pool examples, the first ``limit`` test examples (the same for every
    seed and k, so runs compare on the same inputs), and the calibration inputs."""
    if shots < 0:
        raise TaskError("--shots", f"must be >= 0, got {shots}")
    if limit < 1:
        raise TaskError("--limit", f"must be >= 1, got {limit}")
    if len(task.pool) < shots + n_bias:
        raise TaskError(
            f"{task.source}: pool",
            f"the demonstration pool has {len(task.pool)} examples; {shots} shots need at least {shots + n_bias}"
            f" ({shots} demonstrations + {n_bias} for the bias set)",
        )
    order = rng(seed, "demonstrations").permutation(len(task.pool))
    demos = tuple(task.pool[i] for i in order[:shots])
    rest = order[shots:]
    bias_idx = rng(seed, "bias-set").choice(rest, size=n_bias, replace=False)
    bias = tuple(task.pool[i] for i in bias_idx)
    test = task.test[:limit]
    dc = calibration.dc_texts([e.text for e in test], rng(seed, "domain-context"))
    return ExampleSets(demos=demos, bias=bias, test=test, cc=calibration.CONTENT_FREE, dc=tuple(dc))
