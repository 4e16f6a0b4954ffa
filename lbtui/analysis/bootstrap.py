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

import math
from dataclasses import dataclass, field

import numpy as np

from .calibrations import REGISTRY, Calibration
from .metrics import HEADLINE, softmax


KEYS = HEADLINE  # every registered metric; metrics_labels_first computes each (a test holds them equal)
UNDEFINED = "rsd_undefined"  # metrics_labels_first's flag (1.0) where RSD is degenerate on a resample
RESAMPLES = 1000
LEVEL = 0.95
COUNTS = np.float32  # one-hot predictions and draw counts: whole numbers, exact below 2**24
SETTLED = 1e-9  # relative margin by which an input's label wins under every resample's prior


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
    # (method, "test" or "bias") -> that set calibrated as fitted: applied once, however
    # often it is asked for (draws and the selection on the bias set share them)
    applied: dict = field(default_factory=dict, compare=False, repr=False)

    def calibrated(self, method: str, which: str) -> np.ndarray:
        """The test or bias set under ``method``'s calibration as fitted."""
        key = (method, which)
        if key not in self.applied:
            self.applied[key] = self.calibrations[method](self.test if which == "test" else self.bias)
        return self.applied[key]

    def on_bias(self) -> "RunProbs":
        """The bias set as both sets, each calibration as fitted (BC's prior is the test
        set's): what a recommendation is chosen on (analysis.choice)."""
        applied = {(m, w): self.calibrated(m, "bias") for m in self.calibrations for w in ("test", "bias")}
        return RunProbs(self.k, self.bias, self.bias_gold, self.bias, self.bias_gold, self.calibrations, False, applied)


def from_scores(rs) -> RunProbs:
    """Everything a results.RunScores's metrics depend on."""
    from .results import calibrators

    found, _ = calibrators(rs)
    return RunProbs(rs.k, softmax(rs.test), np.asarray(rs.test_gold), softmax(rs.bias), np.asarray(rs.bias_gold), found)


def draws(n: int, size: int, *, resamples: int, seed: int, stream: int) -> np.ndarray:
    """(resamples, size) indices into range(n), independent per stream."""
    rng = np.random.default_rng([seed, stream, n])
    return rng.integers(0, n, size=(resamples, size))


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
    # Labels first, a resample last: one bincount over (gold, predicted, resample).
    cell = (y_true * k + y_pred) * b + np.arange(b)[:, None]
    counts = np.bincount(cell.ravel(), minlength=k * k * b).reshape(k, k, b).astype(np.float64)
    # Label-balanced bias vector: each resample's per-gold-label sums of q, one weighted
    # bincount a label.
    gcell = (bias_gold * b + np.arange(b)[:, None]).ravel()
    per_label_n = np.bincount(gcell, minlength=k * b).reshape(k, b).astype(np.float64)  # (K gold, B)
    per_label_sum = np.stack(
        [np.bincount(gcell, weights=bias_q[..., j].ravel(), minlength=k * b).reshape(k, b) for j in range(k)], axis=1
    )  # (K gold, K, B)
    return metrics_labels_first(counts, per_label_n, per_label_sum, n)


def metrics_labels_first(c: np.ndarray, nb: np.ndarray, s: np.ndarray, n) -> dict[str, np.ndarray]:
    """Headline metrics of R resamples from their confusion counts (K gold, K predicted,
    R), their bias sets' gold label counts (K, R) and per-gold-label sums of calibrated q
    (K gold, K, R); n the test set's size (a number or (R,)). Laid out labels first, every
    step is a whole-array operation over R numbers, and a sum over the K labels adds them
    one label at a time (numpy's own order for so few terms). Every step is elementwise
    over R, so R is taken in blocks whose temporaries stay in the CPU's cache."""
    r = c.shape[-1]
    if r > BLOCK:
        parts = [
            metrics_labels_first(c[..., a : a + BLOCK], nb[..., a : a + BLOCK], s[..., a : a + BLOCK], _part(n, a))
            for a in range(0, r, BLOCK)
        ]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    k = c.shape[0]
    support = [_sum(c[g, j] for j in range(k)) for g in range(k)]  # gold counts, a label each
    predicted = [_sum(c[g, j] for g in range(k)) for j in range(k)]
    tp = [c[j, j] for j in range(k)]
    present = [x > 0 for x in support]
    right = _sum(tp)
    n_present = _sum(present)
    acc = right / n
    # Counts are whole numbers, and a label without gold inputs has no true positives: so
    # a quotient over max(count, 1) is 0 exactly where its count is 0, and such labels'
    # F1 and recall are 0 without masking.
    f1 = [2 * tp[j] / np.maximum(support[j] + predicted[j], 1) for j in range(k)]
    recall = [tp[j] / np.maximum(support[j], 1) for j in range(k)]
    macro = _sum(f1) / n_present
    mean_r = _sum(recall) / n_present
    std_r = np.sqrt(_sum(((recall[j] - mean_r) ** 2) * present[j] for j in range(k)) / n_present)
    rsd = np.where(acc > 0, std_r / np.where(acc > 0, acc, 1), 0.0)
    # BiasScore: label-balanced mean probability vector of the bias set, TV from uniform
    # (a gold label without drawn inputs has sums of 0, so it adds 0).
    count = [np.maximum(nb[g], 1) for g in range(k)]
    n_have = _sum(nb[g] > 0 for g in range(k))
    bvec = [_sum(s[g, j] / count[g] for g in range(k)) / n_have for j in range(k)]
    bias = 0.5 * _sum(np.abs(bvec[j] - 1.0 / k) for j in range(k))
    # RSD is degenerate where fewer answers are right than labels are present (accuracy 0
    # included, where the reference's rule makes it 0): counted, never read as unbiased.
    undefined = (right < n_present).astype(np.float64)
    return {"accuracy": acc, "macro_f1": macro, "rsd": rsd, "bias_score": bias, UNDEFINED: undefined}


BLOCK = 8192  # resamples a block: a block's arrays are 64 kB (timed on 2-core Xeon: 15% faster than whole)


def _part(n, at: int):
    return n if np.ndim(n) == 0 else n[at : at + BLOCK]


def _sum(parts) -> np.ndarray:
    """The arrays added left to right, as float64 (a new array: the parts are left as they are)."""
    parts = iter(parts)
    first = next(parts)
    second = next(parts, None)
    if second is None:
        return np.array(first, dtype=np.float64)
    out = np.add(first, second, dtype=np.float64)
    for x in parts:
        out += x
    return out


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, size) drawn indices -> (B, n): how often each input is in each resample."""
    b = len(idx)
    return np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _by_gold(dest: np.ndarray, cols: list[int], w: np.ndarray, gold: np.ndarray, x: np.ndarray) -> None:
    """Per gold label, method column and resample, the drawn inputs' sum of x, written
    into dest (K gold, K, columns, B): w (B, N) how often each input is drawn, gold (N,),
    x (N, F*K) the F columns' rows side by side. One product per gold label, over that
    label's inputs only (a label without inputs keeps dest's zeros)."""
    k, f, b = dest.shape[1], len(cols), len(w)
    for g in range(k):
        mine = np.flatnonzero(gold == g)
        if len(mine):
            dest[g][:, cols] = (w[:, mine] @ x[mine]).reshape(b, f, k).transpose(2, 1, 0)


def _exact(n: int) -> type:
    """The dtype that holds whole numbers up to ``n`` exactly: float32 (half the memory
    and twice the speed of float64's products) below 2**24."""
    return COUNTS if n < 2**24 else np.float64


def _counted(dest: np.ndarray, cols: list[int], w: np.ndarray, gold: np.ndarray, preds: list[np.ndarray]) -> None:
    """``_by_gold`` of one-hot predictions (N, K) each: whole numbers up to the test set's
    size, so exact in ``_exact``'s dtype."""
    exact = _exact(len(gold))
    _by_gold(dest, cols, w.astype(exact), gold, np.concatenate(preds, axis=1, dtype=exact))


def _argmax_ratio(p: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """argmax over labels of p / prior (p (N, K), prior (B, K)): the label BC predicts under
    each resample's prior (normalising a row divides it by one positive number, so it
    keeps the argmax), as (top (N,), unsettled (U,), pred (B, U)): input i's label is
    top[i] under every prior unless i is in unsettled, whose labels pred gives.

    Most inputs are settled: their label t wins under every resample's prior, because
    p_t > p_j * max over resamples of prior_t / prior_j for every other label j, by a
    margin (1e-9, far above the quotients' rounding), so the exact quotients p / prior,
    and their rounded values, put it first each time. Only the others are computed a
    resample at a time."""
    n = len(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        top = (p / prior[0]).argmax(axis=1)  # the label under the first resample's prior
        most = (prior[:, :, None] / prior[:, None, :]).max(axis=0)  # (K, K): [t, j] the most prior_t / prior_j
        rivals = p * most[top]  # (N, K): what p_t must beat for each j
    rivals[np.arange(n), top] = -np.inf
    unsettled = np.flatnonzero(~(p[np.arange(n), top] > rivals.max(axis=1) * (1 + SETTLED)))
    return top, unsettled, _argmax_each(p[unsettled], prior)


def _argmax_each(p: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """argmax over labels of p / prior for every (resample, input): a pass a label over
    (B, N) instead of numpy's argmax along a short last axis (a loop a row); strictly
    greater keeps the first of equal maxima, as argmax does."""
    best = p[:, 0][None, :] / prior[:, :1]
    pred = np.zeros(best.shape, dtype=np.intp)
    q, better = np.empty_like(best), np.empty(best.shape, dtype=bool)
    for j in range(1, p.shape[1]):
        np.divide(p[:, j][None, :], prior[:, j : j + 1], out=q)
        np.greater(q, best, out=better)
        np.putmask(pred, better, j)
        np.maximum(best, q, out=best)
    return pred


def _calibrated_sums(p: np.ndarray, gold: np.ndarray, prior: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Per resample and gold label, the drawn inputs' sum of q = (p / prior) normalised:
    p (M, K), prior (B, K), w (B, M) how often each is drawn -> (K gold, K, B). With
    z = sum_j p_j / prior_j (one product), q_j = p_j / (prior_j z), so a label's sum is
    (1 / prior_j) times a product over that label's inputs; never the (B, M, K) array."""
    inv = 1.0 / prior  # (B, K)
    scaled = w / (inv @ p.T)  # (B, M): how often drawn, over z
    out = np.zeros((k, k, len(w)))  # labels first: (K gold, K, B)
    for g in range(k):
        mine = np.flatnonzero(gold == g)
        if len(mine):
            out[g] = ((scaled[:, mine] @ p[mine]) * inv).T
    return out


def _reestimated(rp: RunProbs, prior: np.ndarray, wt: np.ndarray, wb: np.ndarray) -> tuple:
    """A method re-estimated on each resample (BC), its prior (B, K): the settled test
    inputs' labels one-hot (N, K; zero rows for the others), the unsettled inputs' test
    counts (K gold, K, B) and the bias set's per-label sums (K gold, K, B)."""
    k, b = rp.k, len(wt)
    top, unsettled, pred = _argmax_ratio(rp.test, prior)
    settled = np.eye(k, dtype=COUNTS)[top]
    settled[unsettled] = 0
    cell = (rp.test_gold[unsettled][None, :] * k + pred) * b + np.arange(b)[:, None]
    counts = np.bincount(cell.ravel(), weights=wt[:, unsettled].ravel(), minlength=k * k * b).reshape(k, k, b)
    return settled, counts, _calibrated_sums(rp.bias, rp.bias_gold, prior, wb, k)


def evaluate_many(
    rps: list[RunProbs], methods, wt: np.ndarray, wb: np.ndarray
) -> list[dict[str, dict[str, np.ndarray]]]:
    """Metrics of each method on B resamples, given as how often each test input (wt,
    (B, N)) and bias input (wb, (B, M)) is drawn, of runs that share their resamples (one
    label count, one test set's gold labels, bias sets of one size), in one pass: per run
    {method: {key: (B,)}}.

    Every input is calibrated once, never once per draw: a calibration that stays fixed
    across resamples (a prior from inputs that are not resampled, a fitted map) is applied
    to the inputs as they are, and each resample's confusion counts and per-label sums are
    its inputs' weighted by how often each was drawn: every such method of every run in
    one matrix product a gold label for the test set (integer counts, so exact), and one
    a run for its bias set. One re-estimated on each resample (BC) gets a prior a resample.
    Batching runs changes no number: each (resample, run, method) is computed as alone."""
    k, b = rps[0].k, len(wt)
    gold = rps[0].test_gold
    if any(rp.k != k or not np.array_equal(rp.test_gold, gold) for rp in rps):
        raise ValueError("evaluate_many: runs of one label count and one test set only")
    order = [(i, m) for i, rp in enumerate(rps) for m in methods if rp.calibrations.get(m) is not None]
    out: list[dict] = [{} for _ in rps]
    if not order:
        return out
    # Labels first, a column a (run, method), a resample last: (K, K, F, B); counts _exact.
    f = len(order)
    counts, sums, label_n = np.zeros((k, k, f, b), _exact(len(gold))), np.zeros((k, k, f, b)), np.empty((k, f, b))
    fixed_cols, fixed_preds = [], []  # test counts of every run's fixed predictions, done together
    late = []  # (column, counts) of BC's unsettled inputs, added to its settled ones' counts
    col = 0
    for i, rp in enumerate(rps):
        n_bias = (wb @ np.eye(k)[rp.bias_gold]).T  # (K, B) its bias set's gold label counts
        mine, probs = [], []
        while col < f and order[col][0] == i:
            meth = order[col][1]
            label_n[:, col] = n_bias
            refit = REGISTRY[meth].resample if rp.reestimate else None
            if refit is None:
                mine.append(col)
                fixed_cols.append(col)
                fixed_preds.append(np.eye(k, dtype=COUNTS)[rp.calibrated(meth, "test").argmax(axis=-1)])  # (N, K)
                probs.append(rp.calibrated(meth, "bias"))  # (M, K)
            else:
                settled, unsettled_counts, sums[:, :, col] = _reestimated(rp, refit(rp.test, wt), wt, wb)
                fixed_cols.append(col)  # its settled inputs' labels are fixed: counted with the fixed methods'
                fixed_preds.append(settled)
                late.append((col, unsettled_counts))
            col += 1
        if mine:
            _by_gold(sums, mine, wb, rp.bias_gold, np.concatenate(probs, axis=1))
    if fixed_cols:
        _counted(counts, fixed_cols, wt, gold, fixed_preds)
    for col, unsettled_counts in late:  # integer counts: exact in any order
        counts[:, :, col] += unsettled_counts
    # Every (run, method)'s metrics in one pass over (columns x B) confusion matrices.
    got = metrics_labels_first(
        counts.reshape(k, k, f * b), label_n.reshape(k, f * b), sums.reshape(k, k, f * b), np.tile(wt.sum(axis=1), f)
    )
    for col, (i, meth) in enumerate(order):
        out[i][meth] = {key: v.reshape(f, b)[col] for key, v in got.items()}
    return out


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
    return point_and_resample_many([rp], methods, resamples=resamples, seed=seed, stream=stream)[0]


def point_and_resample_many(
    rps: list[RunProbs], methods, *, resamples: int = RESAMPLES, seed: int = 0, stream: int = 0
):
    """``point_and_resample`` of runs that share their resamples (see ``evaluate_many``):
    the same draws, made once; per run (point values, resamples)."""
    n, m = len(rps[0].test), len(rps[0].bias)
    if any(len(rp.test) != n or len(rp.bias) != m for rp in rps):
        raise ValueError("point_and_resample_many: runs of one test and bias set size only")
    wt, wb = np.ones((1, n)), np.ones((1, m))
    if resamples:
        ti = draws(n, n, resamples=resamples, seed=seed, stream=2 * stream)
        bi = draws(m, m, resamples=resamples, seed=seed, stream=2 * stream + 1)
        wt, wb = np.concatenate([wt, _weights(ti, n)]), np.concatenate([wb, _weights(bi, m)])
    out = []
    for got in evaluate_many(rps, methods, wt, wb):
        pt = {meth: {key: float(v[0]) for key, v in d.items()} for meth, d in got.items()}
        out.append((pt, {meth: {key: v[1:] for key, v in d.items()} for meth, d in got.items()}))
    return out


def interval(samples: np.ndarray, level: float = LEVEL, keep: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (NaN-free samples assumed), over the
    resamples ``keep`` marks (all by default; NaN when none is kept)."""
    samples = np.asarray(samples) if keep is None else np.asarray(samples)[keep]
    if samples.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def intervals(samples: list[np.ndarray], keeps: list[np.ndarray | None], level: float = LEVEL) -> list[tuple]:
    """``interval`` of each samples and keep, in one percentile call per count of kept
    resamples (all of them, for most): percentiles along an axis are each row's own, so
    the numbers are those of one call each."""
    out: list[tuple] = [(math.nan, math.nan)] * len(samples)  # where nothing is kept
    by_count: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, (x, keep) in enumerate(zip(samples, keeps)):
        kept = np.asarray(x) if keep is None else np.asarray(x)[keep]
        if kept.size:
            by_count.setdefault(kept.size, []).append((i, kept))
    for rows in by_count.values():
        lo, hi = np.percentile(np.stack([x for _, x in rows]), [50 * (1 - level), 50 * (1 + level)], axis=1)
        for j, (i, _) in enumerate(rows):
            out[i] = (float(lo[j]), float(hi[j]))
    return out


def two_level(samples, *, seed: int, stream: int) -> np.ndarray:
    """A group's resamples over its runs (seeds and orderings) and, within each, their
    examples: resample b draws the group's runs with replacement and averages their own
    resample b (runs of one task share their test draws). One run: its resamples as they
    are. The draws depend only on (seed, stream, runs), so every method and metric of a
    group is resampled the same way and differences stay paired. (..., runs, B) -> (..., B):
    any leading axes (methods, metrics) are resampled alike in one pass."""
    s = np.asarray(samples, dtype=np.float64)
    m, b = s.shape[-2:]
    if m == 1:
        return s[..., 0, :]
    pick = np.random.default_rng([seed, stream, m, 2]).integers(0, m, size=(b, m))
    return s[..., pick, np.arange(b)[:, None]].mean(axis=-1)
