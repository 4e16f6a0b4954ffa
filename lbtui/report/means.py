"""Means over a report's items: ``mean_of`` for point values and selections, and the
means over tasks of task groups' two-level resamples, summed where the groups were made.

A chunk of task groups (a few tasks, drawn together; in a worker process, or in this one)
sends back, for each mean it feeds, one sum a method over its own groups (``chunk_sums``)
instead of every group's (methods x keys x resamples) arrays: the mean over tasks is the
chunks' sums added in chunk order, over the task count (``mean_of_sums``). That is a
fixed order of additions, the same with any number of workers; it is not numpy's one
pass over every task's arrays, so a mean row's resamples may differ from that one in their
last bits (never in a shown digit: tests/test_fixed_store.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis import bootstrap as bs

SAMPLE_KEYS = (*bs.KEYS, bs.UNDEFINED)  # what a group's two-level resamples hold, a method


def common(items: list[dict]) -> list[str]:
    """The methods (keys) every item has, in the first item's order (registry order: a
    recommendation's ties go to the earlier method)."""
    return [m for m in items[0] if all(m in it for it in items[1:])] if items else []


def mean_of(items: list[dict], keys=SAMPLE_KEYS) -> dict:
    """Mean over items of {method: {key: x}}, for the methods every item has (``common``)."""
    out: dict = {}
    for m in common(items):  # one array a method (keys, items[, B]): each key's mean as np.mean of its own list
        have = [key for key in keys if key in items[0][m]]
        means = np.array([[it[m][key] for it in items] for key in have], dtype=np.float64).mean(axis=1) if have else []
        out[m] = dict(zip(have, means))
    return out


@dataclass(frozen=True)
class ChunkSum:
    """One chunk's share of a mean over tasks: how many task groups it adds, the methods
    all of them have (in its first group's order) and, a method, their resamples' sum
    (SAMPLE_KEYS, B) in the chunk's order."""

    groups: int
    sums: dict[str, np.ndarray]


def chunk_sums(samples: list[dict]) -> ChunkSum:
    """``ChunkSum`` of a chunk's task groups' two-level resamples {method: {key: (B,)}}."""
    sums = {m: np.array([[s[m][key] for s in samples] for key in SAMPLE_KEYS]).sum(axis=1) for m in common(samples)}
    return ChunkSum(len(samples), sums)


def mean_of_sums(parts: list[ChunkSum]) -> dict:
    """The mean over tasks {method: {key: (B,)}} of chunks' sums, in chunk order, for the
    methods every chunk has."""
    n = sum(p.groups for p in parts)
    out = {}
    for m in common([p.sums for p in parts]):
        total = parts[0].sums[m]
        for p in parts[1:]:
            total = total + p.sums[m]
        out[m] = dict(zip(SAMPLE_KEYS, total / n))
    return out
