"""The example sets of one run (task, model, k, seed), as METHODS.md defines them."""

from __future__ import annotations

import math
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


def orderings(shots: int, seed: int, n: int) -> list[tuple[int, ...]]:
    """The first ``n`` orderings of a seed's k demonstrations: order 0 is the drawn order,
    then distinct permutations from the seed's own stream (fewer when k! < n). Drawn one by
    one, so order j is the same whatever ``n`` asks for."""
    out = [tuple(range(shots))]
    cap = math.factorial(shots)
    g = rng(seed, "orderings")
    while len(out) < min(n, cap):
        perm = tuple(int(i) for i in g.permutation(shots))
        if perm not in out:
            out.append(perm)
    return out


def build(
    task: Task, *, shots: int, seed: int, limit: int = DEFAULT_LIMIT, n_bias: int = BIAS_SET_SIZE, order: int = 0,
) -> ExampleSets:
    """k demonstrations drawn from the pool with the seed (in drawn order, or in its
    ``order``-th ordering), a bias set of ``n_bias`` further pool examples, the first
    ``limit`` test examples (the same for every seed and k, so runs compare on the same
    inputs), and the calibration inputs. Every ordering of a seed shares its demonstrations,
    bias set and domain texts: only the order of the demonstrations differs."""
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
    pool_order = rng(seed, "demonstrations").permutation(len(task.pool))
    if order < 0:
        raise TaskError("--orders", f"order must be >= 0, got {order}")
    perms = orderings(shots, seed, order + 1)
    if order >= len(perms):
        raise TaskError("--orders", f"{shots} demonstrations have only {len(perms)} orderings; order {order} does not exist")
    picked = [task.pool[i] for i in pool_order[:shots]]
    demos = tuple(picked[i] for i in perms[order])
    rest = pool_order[shots:]
    bias_idx = rng(seed, "bias-set").choice(rest, size=n_bias, replace=False)
    bias = tuple(task.pool[i] for i in bias_idx)
    test = task.test[:limit]
    dc = calibration.dc_texts([e.text for e in test], rng(seed, "domain-context"))
    return ExampleSets(demos=demos, bias=bias, test=test, cc=calibration.CONTENT_FREE, dc=tuple(dc))
