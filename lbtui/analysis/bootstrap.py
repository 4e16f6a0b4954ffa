"""Bootstrap confidence intervals for the headline metrics: pure functions over arrays.

One resample draws the test set and the bias set of a run with replacement (each at
its own size) and recomputes every metric under every calibration from the run's raw
probabilities. A method whose registry entry has ``resample`` (BC: its prior is the
test set's mean) is re-estimated on each resample; the others come from inputs that are
not resampled (content-free, in-domain, leave-one-out) or are fitted once
(prototypical, supervised) and stay fixed: their intervals leave out the fit's own
variance. Methods compared on the same resamples give paired differences. Resample 0
of ``draws`` is never the identity; ``point`` is computed on
the data as it is, with the same code, so intervals and point estimates agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibrations import REGISTRY, Calibration
from .metrics import HEADLINE, softmax


KEYS = HEADLINE  # every registered metric; metrics_from_counts computes each (a test holds them equal)
UNDEFINED = "rsd_undefined"  # metrics_from_counts's flag (1.0) where RSD is degenerate on a resample
RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class RunProbs:
    """What a run's metrics depend on, as probabilities (N, K) over the K labels."""

    k: int
    test: np.ndarray
    test_gold: np.ndarray
    bias: np.ndarray
    bias_gold: np.ndarray
    calibrations: dict[str, Calibration]  # each method's calibration fitted on the data as it is
    reestimate: bool = True  # re-estimate on each resample where the method says how (BC)


def from_scores(rs) -> RunProbs:
    """Everything a results.RunScores's metrics depend on."""
    from .results import calibrators

    found, _ = calibrators(rs)
    return RunProbs(rs.k, softmax(rs.test), np.asarray(rs.test_gold), softmax(rs.bias), np.asarray(rs.bias_gold), found)


def draws(n: int, size: int, *, resamples: int, seed: int, stream: int) -> np.ndarray:
    """(resamples, size) indices into range(n), independent per stream."""
    rng = np.random.default_rng([seed, stream, n])
    return rng.integers(0, n, size=(resamples, size))


def _calibrate(p: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """q = (p / p_hat) normalised; p (..., N, K), prior (..., K)."""
    q = p / prior[..., None, :]
    return q / q.sum(axis=-1, keepdims=True)


def metrics_batch(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    bias_q: np.ndarray,
    bias_gold: np.ndarray,
    k: int,
) -> dict[str, np.ndarray]:
    """Headline metrics of B prediction sets at once: y_true, y_pred (B, N); bias_q (B, M, K),
    bias_gold (B, M). The same definitions as metrics.py, whose F1 is scikit-learn's
    (tests hold them equal). Our own code for speed: a report draws 1,000 resamples per
    method and run, and f1_score's input checks alone cost about a millisecond a call;
    this computes all of them in a few array passes."""
    b, n = y_true.shape
    # Confusion counts of every resample at once: one bincount over (resample, gold, predicted).
    cell = (np.arange(b)[:, None] * k + y_true) * k + y_pred
    counts = np.bincount(cell.ravel(), minlength=b * k * k).reshape(b, k, k).astype(np.float64)
    # Label-balanced bias vector: each resample's per-gold-label sums of q, one weighted
    # bincount a label.
    gcell = (np.arange(b)[:, None] * k + bias_gold).ravel()
    per_label_n = np.bincount(gcell, minlength=b * k).reshape(b, k).astype(np.float64)  # (B, K gold)
    per_label_sum = np.stack(
        [np.bincount(gcell, weights=bias_q[..., j].ravel(), minlength=b * k) for j in range(k)], axis=-1
    ).reshape(b, k, k)  # (B, K gold, K)
    return metrics_from_counts(counts, per_label_n, per_label_sum, n)


def metrics_from_counts(
    counts: np.ndarray, per_label_n: np.ndarray, per_label_sum: np.ndarray, n
) -> dict[str, np.ndarray]:
    """Headline metrics from R resamples' confusion counts (R, K gold, K predicted), their
    bias sets' gold label counts (R, K) and per-gold-label sums of calibrated q (R, K, K);
    n the test set's size (a number or (R,)). Sums over the K labels are whole-array adds,
    one a label: numpy's own order for so few terms, without its loop a row."""
    k = counts.shape[-1]
    support = _sum(counts[:, :, j] for j in range(k))  # (R, K) gold counts
    predicted = _sum(counts[:, g, :] for g in range(k))
    tp = np.diagonal(counts, axis1=1, axis2=2)
    present = support > 0
    right = _sum(tp[:, j] for j in range(k))
    n_present = _sum(present[:, j] for j in range(k))
    acc = right / n
    denom = support + predicted
    f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    macro = _sum((f1 * present)[:, j] for j in range(k)) / n_present
    recall = np.where(present, tp / np.where(present, support, 1), 0.0)
    mean_r = _sum(recall[:, j] for j in range(k)) / n_present
    dev = ((recall - mean_r[:, None]) ** 2) * present
    std_r = np.sqrt(_sum(dev[:, j] for j in range(k)) / n_present)
    rsd = np.where(acc > 0, std_r / np.where(acc > 0, acc, 1), 0.0)
    # BiasScore: label-balanced mean probability vector of the bias set, TV from uniform.
    have = per_label_n > 0
    means = per_label_sum / np.where(have, per_label_n, 1)[..., None]
    bvec = _sum(means[:, g, :] * have[:, g, None] for g in range(k)) / _sum(have[:, g] for g in range(k))[:, None]
    bias = 0.5 * _sum(np.abs(bvec[:, j] - 1.0 / k) for j in range(k))
    # RSD is degenerate where fewer answers are right than labels are present (accuracy 0
    # included, where the reference's rule makes it 0): counted, never read as unbiased.
    undefined = (right < n_present).astype(np.float64)
    return {"accuracy": acc, "macro_f1": macro, "rsd": rsd, "bias_score": bias, UNDEFINED: undefined}


def _sum(parts) -> np.ndarray:
    """The arrays added left to right, as float64."""
    parts = iter(parts)
    out = np.array(next(parts), dtype=np.float64)
    for x in parts:
        out += x
    return out


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, size) drawn indices -> (B, n): how often each input is in each resample."""
    b = len(idx)
    return np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _by_gold(w: np.ndarray, gold: np.ndarray, x: np.ndarray, k: int, f: int) -> np.ndarray:
    """Per resample, gold label and method, the drawn inputs' sum of x: w (B, N) how often
    each input is drawn, gold (N,), x (N, F*K) the F methods' rows side by side ->
    (B, F, K gold, K). One product per gold label, over that label's inputs only."""
    out = np.zeros((len(w), k, f * k))
    for g in range(k):
        mine = np.flatnonzero(gold == g)
        if len(mine):
            out[:, g] = w[:, mine] @ x[mine]
    return out.reshape(len(w), k, f, k).transpose(0, 2, 1, 3)


def evaluate_weights(rp: RunProbs, methods, wt: np.ndarray, wb: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Metrics of each method on B resamples given as how often each test input (wt, (B, N))
    and bias input (wb, (B, M)) is drawn: {method: {key: (B,)}}.

    Every input is calibrated once, never once per draw: a calibration that stays fixed
    across resamples (a prior from inputs that are not resampled, a fitted map) is applied
    to the inputs as they are, and each resample's confusion counts and per-label sums are
    its inputs' weighted by how often each was drawn, every such method in one matrix
    product a gold label (integer counts, so exact). One re-estimated on each resample
    (BC) gets a prior a resample and is applied to each input under each prior."""
    k, b = rp.k, len(wt)
    gold_b = np.eye(k)[rp.bias_gold]  # (M, K)
    names, counts, label_sums, fixed, preds, probs = [], [], [], [], [], []
    for meth in methods:
        c = rp.calibrations.get(meth)
        if c is None:
            continue
        refit = REGISTRY[meth].resample if rp.reestimate else None
        if refit is None:
            fixed.append(meth)
            preds.append(np.eye(k)[c(rp.test).argmax(axis=-1)])  # (N, K) one-hot
            probs.append(c(rp.bias))  # (M, K)
            continue
        prior = refit(rp.test, wt)  # (B, K)
        # argmax of p / prior: normalising each row divides it by one positive number
        pred = (rp.test[None] / prior[:, None, :]).argmax(axis=-1)  # (B, N)
        cell = (np.arange(b)[:, None] * k + rp.test_gold) * k + pred
        names.append(meth)
        counts.append(np.bincount(cell.ravel(), weights=wt.ravel(), minlength=b * k * k).reshape(b, 1, k, k))
        drawn_q = wb[:, :, None] * _calibrate(rp.bias, prior)  # (B, M, K)
        label_sums.append(np.stack([drawn_q[:, rp.bias_gold == g].sum(axis=1) for g in range(k)], axis=1)[:, None])
    if fixed:
        names += fixed
        counts.append(_by_gold(wt, rp.test_gold, np.concatenate(preds, axis=1), k, len(fixed)))
        label_sums.append(_by_gold(wb, rp.bias_gold, np.concatenate(probs, axis=1), k, len(fixed)))
    if not names:
        return {}
    # Every method's metrics in one pass over (B x methods) confusion matrices.
    f = len(names)
    per_label_n = np.repeat(wb @ gold_b, f, axis=0)  # (B * F, K)
    size = np.repeat(wt.sum(axis=1), f)  # each the test set's size
    got = metrics_from_counts(
        np.concatenate(counts, axis=1).reshape(b * f, k, k),
        per_label_n,
        np.concatenate(label_sums, axis=1).reshape(b * f, k, k),
        size,
    )
    by = {meth: {key: v.reshape(b, f)[:, j] for key, v in got.items()} for j, meth in enumerate(names)}
    return {meth: by[meth] for meth in methods if meth in by}


def point(rp: RunProbs, methods) -> dict[str, dict[str, float]]:
    """Metrics on the data as it is (no resampling)."""
    return point_and_resample(rp, methods, resamples=0)[0]


def resample(rp: RunProbs, methods, *, resamples: int = RESAMPLES, seed: int = 0, stream: int = 0):
    """{method: {key: (resamples,)}} on seeded resamples of the test and bias sets. Runs that
    share a test set size and seed get the same test draws (paired across methods)."""
    return point_and_resample(rp, methods, resamples=resamples, seed=seed, stream=stream)[1]


def point_and_resample(rp: RunProbs, methods, *, resamples: int = RESAMPLES, seed: int = 0, stream: int = 0):
    """``point`` and ``resample`` in one pass: the data as it is is one more resample (every
    input drawn once), so each calibration is applied to the inputs once for both."""
    n, m = len(rp.test), len(rp.bias)
    wt, wb = np.ones((1, n)), np.ones((1, m))
    if resamples:
        ti = draws(n, n, resamples=resamples, seed=seed, stream=2 * stream)
        bi = draws(m, m, resamples=resamples, seed=seed, stream=2 * stream + 1)
        wt, wb = np.concatenate([wt, _weights(ti, n)]), np.concatenate([wb, _weights(bi, m)])
    got = evaluate_weights(rp, methods, wt, wb)
    pt = {meth: {key: float(v[0]) for key, v in d.items()} for meth, d in got.items()}
    return pt, {meth: {key: v[1:] for key, v in d.items()} for meth, d in got.items()}


def interval(samples: np.ndarray, level: float = LEVEL, keep: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (NaN-free samples assumed), over the
    resamples ``keep`` marks (all by default; NaN when none is kept)."""
    samples = np.asarray(samples) if keep is None else np.asarray(samples)[keep]
    if samples.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def two_level(samples: list[np.ndarray], *, seed: int, stream: int) -> np.ndarray:
    """A group's resamples over its runs (seeds and orderings) and, within each, their
    examples: resample b draws len(samples) runs with replacement and averages their own
    resample b (runs of one task share their test draws). One run: its resamples as they
    are. The draws depend only on (seed, stream, runs), so every method and metric of a
    group is resampled the same way and differences stay paired. (M, B) -> (B,)."""
    s = np.stack([np.asarray(x, dtype=np.float64) for x in samples])
    m, b = s.shape
    if m == 1:
        return s[0]
    pick = np.random.default_rng([seed, stream, m, 2]).integers(0, m, size=(b, m))
    return s[pick, np.arange(b)[:, None]].mean(axis=1)
