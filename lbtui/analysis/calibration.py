"""Calibration methods of docs/METHODS.md as pure functions.

Each method estimates a prior p_hat (a K-vector) from the model's own outputs;
``apply`` rescales q = softmax(log p - log p_hat). Inputs are probability arrays
(already softmaxed over the K labels). The methods themselves, one object each, are in
lbtui/analysis/calibrations.
"""

from __future__ import annotations

import numpy as np


# Inputs put in the query slot for contextual calibration, in this order.
CONTENT_FREE = ("N/A", "", "[MASK]")
DC_SAMPLES = 20


class NotApplicable(ValueError):
    """A method that cannot apply to this run (e.g. LOOC with fewer than 2 demonstrations)."""


def apply(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """q(x) = (p(x) / p_hat) / sum_j (p_j(x) / p_hat_j)."""
    q = np.asarray(probs, dtype=np.float64) / np.asarray(prior, dtype=np.float64)
    return q / q.sum(axis=-1, keepdims=True)


def uniform_prior(k: int) -> np.ndarray:
    return np.ones(k)


def mean_prior(probs: np.ndarray) -> np.ndarray:
    """CC, DC and BC: the mean of p over their extra inputs (content-free, in-domain
    random texts, or the test inputs themselves)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise NotApplicable("no outputs to estimate the prior from")
    return probs.mean(axis=0)


def looc_prior(probs: np.ndarray, demo_gold: np.ndarray) -> np.ndarray:
    """LOOC: the mean over the gold labels present among the demonstrations of the mean p of
    the held-out demonstrations with that label. ``probs[j]`` is the output for demonstration
    j's input under the prompt without demonstration j."""
    probs, demo_gold = np.asarray(probs, dtype=np.float64), np.asarray(demo_gold)
    if probs.shape[0] < 2:
        raise NotApplicable("LOOC needs at least 2 demonstrations")
    return np.mean([probs[demo_gold == lab].mean(axis=0) for lab in np.unique(demo_gold)], axis=0)


def dc_fields(columns: dict[str, list[str]], rng: np.random.Generator, *, n: int = DC_SAMPLES) -> list[dict[str, str]]:
    """Domain-context inputs, field by field: for each field (in the given order) a text of
    ceil(mean word count of that field's values) words drawn without replacement from the
    bag of its lower-cased, whitespace-split words. A single field is the plain rule
    over whole inputs. Returns one {field: text} per sample."""
    bags, lengths = {}, {}
    for name, values in columns.items():
        bag = [w for text in values for w in text.lower().split()]
        if not bag:
            raise NotApplicable(f"the test inputs have no words to sample in field {name!r}")
        length = int(np.ceil(np.mean([len(t.split()) for t in values])))
        bags[name], lengths[name] = bag, min(max(length, 1), len(bag))
    out = []
    for _ in range(n):
        out.append(
            {
                name: " ".join(bag[i] for i in rng.choice(len(bag), size=lengths[name], replace=False))
                for name, bag in bags.items()
            }
        )
    return out


def dc_texts(test_inputs: list[str], rng: np.random.Generator, *, n: int = DC_SAMPLES) -> list[str]:
    """Domain-context inputs of single-field inputs (see ``dc_fields``)."""
    return [d["text"] for d in dc_fields({"text": list(test_inputs)}, rng, n=n)]
