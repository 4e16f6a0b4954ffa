"""The example sets of one run (task, model, k, seed), as docs/METHODS.md defines them.

The bias set is the last 32 examples of the task's pool, the same for every k, seed and
ordering (the reference's choice), so BiasScore against shots compares like with like.
Demonstrations are drawn with the seed from the rest of the pool."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from ..analysis import calibration
from ..errors import TaskError
from ..types import Example, Task


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


def domain_texts(task: Task, test: tuple[Example, ...], g: np.random.Generator) -> tuple[str, ...]:
    """DC's random in-domain inputs: field by field through the task's input template when
    it has several fields (premise and hypothesis), else over whole inputs."""
    from ..tasks.rows import render, template_fields

    names = template_fields(task.input_template)
    if len(names) < 2 or not all(e.fields for e in test):
        return tuple(calibration.dc_texts([e.text for e in test], g))
    columns = {name: [dict(e.fields)[name] for e in test] for name in names}
    return tuple(
        render(task.input_template, f, where=f"{task.source}: input").strip() for f in calibration.dc_fields(columns, g)
    )


def build(
    task: Task,
    *,
    shots: int,
    seed: int,
    limit: int = DEFAULT_LIMIT,
    n_bias: int = BIAS_SET_SIZE,
    order: int = 0,
) -> ExampleSets:
    """The bias set (the last ``n_bias`` pool examples), k demonstrations drawn with the
    seed from the rest of the pool (in drawn order, or in its ``order``-th ordering), the
    first ``limit`` test examples (the same for every seed and k, so runs compare on the
    same inputs), and the calibration inputs. Every ordering of a seed shares its
    demonstrations, bias set and domain texts: only the order of the demonstrations
    differs."""
    if shots < 0:
        raise TaskError("--shots", f"must be >= 0, got {shots}")
    if limit < 1:
        raise TaskError("--limit", f"must be >= 1, got {limit}")
    if len(task.pool) < shots + n_bias:
        raise TaskError(
            f"{task.source}: pool",
            f"the demonstration pool has {len(task.pool)} examples; {shots} shots need at least {shots + n_bias}"
            f" ({shots} demonstrations + the last {n_bias} as the bias set)",
        )
    if order < 0:
        raise TaskError("--orders", f"order must be >= 0, got {order}")
    perms = orderings(shots, seed, order + 1)
    if order >= len(perms):
        raise TaskError(
            "--orders", f"{shots} demonstrations have only {len(perms)} orderings; order {order} does not exist"
        )
    rest = len(task.pool) - n_bias
    bias = tuple(task.pool[rest:])
    picked = [task.pool[i] for i in rng(seed, "demonstrations").permutation(rest)[:shots]]
    demos = tuple(picked[i] for i in perms[order])
    test = task.test[:limit]
    dc = domain_texts(task, test, rng(seed, "domain-context"))
    return ExampleSets(demos=demos, bias=bias, test=test, cc=calibration.CONTENT_FREE, dc=dc)
