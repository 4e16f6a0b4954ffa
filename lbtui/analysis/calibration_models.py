"""Calibrations that fit a model instead of estimating one prior: pure functions over arrays.

* Prototypical calibration (Han et al. 2022, "Prototypical Calibration for Few-shot
  Learning of Language Models"): a K-component Gaussian mixture fitted to the test
  inputs' log-probability vectors; each cluster is matched to one label by the Hungarian
  method (maximising the summed probability that the clusters' means give their labels),
  and q(x) is the mixture's posterior over clusters, read as labels.
* Supervised calibration (after Gundem et al. 2025, "Boosting In-Context Learning in LLMs
  Through the Lens of Classical Supervised Learning"): a per-class affine map of the
  log-probabilities, logit_l = a_l * log p_l(x) + b_l, q = softmax(logits), fitted by
  cross-entropy on the leave-one-out outputs of the demonstrations with an L2 penalty
  toward the identity (a = 1, b = 0). A scale per class moves the decision boundary's
  slope, not only its offset as a prior does.

Each fit returns a function from (..., N, K) probabilities to calibrated ones, so the
same fit applies to the test set and to the bias set. See docs/CALIBRATION.md.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .calibration import NotApplicable


EPS = 1e-12
SC_PENALTY = 1.0  # lambda of supervised calibration's pull toward the identity


class Degenerate(ValueError):
    """A fit that cannot be trusted (the caller falls back and says so)."""


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(p, dtype=np.float64), EPS, None))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


PARAMS = ("weights", "means", "covariances", "precisions_cholesky")  # a fitted mixture, as stored


@dataclass(frozen=True)
class Prototypical:
    """A fitted diagonal Gaussian mixture and the label of each cluster. Its posterior is
    computed here, with scikit-learn's own arithmetic (1.9; test_calibration_models holds
    it to predict_proba), so that applying a stored fit needs no scikit-learn: a report's
    worker processes never import it, and the numbers do not move with its version."""

    kind = "prototypical"  # its name in a stored calibration (Calibration.to_json)
    label_of_cluster: np.ndarray  # (K,) label index of each cluster
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K clusters, K) in log-probability space
    covariances: np.ndarray  # (K, K), diagonal: stored for the record, not used
    precisions_cholesky: np.ndarray  # (K, K)

    def to_json(self) -> dict:
        return {
            "label_of_cluster": [int(x) for x in self.label_of_cluster],
            **{name: np.asarray(getattr(self, name), dtype=np.float64).tolist() for name in PARAMS},
        }

    @classmethod
    def from_json(cls, d: dict) -> "Prototypical":
        """The fitted mixture rebuilt from its parameters: the map the audit used."""
        arrays = {name: np.asarray(d[name], dtype=np.float64) for name in PARAMS}
        return cls(np.asarray(d["label_of_cluster"], dtype=int), **arrays)

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        post = self.posterior(_log(p.reshape(-1, p.shape[-1])))  # (M, clusters)
        q = np.zeros_like(post)
        q[:, self.label_of_cluster] = post  # cluster c's posterior goes to its label
        return q.reshape(p.shape)

    def posterior(self, x: np.ndarray) -> np.ndarray:
        """Each cluster's posterior for each row of x (M, K): scikit-learn's predict_proba,
        step for step (_estimate_log_gaussian_prob "diag", its _logsumexp)."""
        chol = self.precisions_cholesky
        precisions = chol**2
        dist = (
            np.sum(self.means**2 * precisions, axis=1) - 2.0 * (x @ (self.means * precisions).T) + (x**2 @ precisions.T)
        )
        log_det = np.sum(np.log(chol), axis=1)
        weighted = -0.5 * (x.shape[1] * math.log(2 * math.pi) + dist) + log_det + np.log(self.weights)
        top = np.max(weighted, axis=1, keepdims=True)
        at_top = weighted == top
        rest = weighted.copy()
        rest[at_top] = -np.inf
        m = np.sum(at_top.astype(rest.dtype), axis=1, keepdims=True, dtype=rest.dtype)
        e = np.exp(rest - np.where(np.isfinite(top), top, 0))
        s = np.sum(e, axis=1, keepdims=True, dtype=e.dtype)
        s = np.where(s == 0, s, s / m)
        norm = np.squeeze(np.log1p(s) + np.log(m) + top, axis=1)
        with np.errstate(under="ignore"):
            return np.exp(weighted - norm[:, np.newaxis])


def prototypical(test_probs: np.ndarray, *, seed: int = 0) -> Prototypical:
    """Fit on the test set's probabilities (N, K). Raises Degenerate when the mixture does
    not converge or leaves a label without any test input assigned to it."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.mixture import GaussianMixture

    p = np.asarray(test_probs, dtype=np.float64)
    n, k = p.shape
    if n < 2 * k:
        raise NotApplicable(f"prototypical calibration needs at least {2 * k} test inputs, got {n}")
    x = _log(p)
    gmm = GaussianMixture(n_components=k, covariance_type="diag", reg_covar=1e-4, n_init=3, random_state=seed)
    with warnings.catch_warnings():  # degenerate fits are caught below, and said in one line
        warnings.simplefilter("ignore")
        gmm.fit(x)
    if not gmm.converged_:
        raise Degenerate("the Gaussian mixture did not converge")
    # Weight of (cluster, label): the probability the cluster's mean gives the label.
    weight = _softmax(gmm.means_)
    clusters, labels = linear_sum_assignment(-weight)
    label_of_cluster = np.empty(k, dtype=int)
    label_of_cluster[clusters] = labels
    assigned = np.bincount(gmm.predict(x), minlength=k)
    if (assigned == 0).any():
        raise Degenerate(f"{int((assigned == 0).sum())} of {k} clusters hold no test input")
    return Prototypical(label_of_cluster, *(np.asarray(getattr(gmm, n + "_"), dtype=np.float64) for n in PARAMS))


@dataclass(frozen=True)
class Supervised:
    kind = "supervised"
    scale: np.ndarray  # (K,) a_l
    shift: np.ndarray  # (K,) b_l

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        return _softmax(self.scale * _log(probs) + self.shift)

    def to_json(self) -> dict:
        return {"scale": [float(x) for x in self.scale], "shift": [float(x) for x in self.shift]}

    @classmethod
    def from_json(cls, d: dict) -> "Supervised":
        return cls(np.asarray(d["scale"], dtype=np.float64), np.asarray(d["shift"], dtype=np.float64))


def supervised(demo_probs: np.ndarray, demo_gold: np.ndarray, *, penalty: float = SC_PENALTY) -> Supervised:
    """Fit a, b on the leave-one-out outputs (k, K) and the demonstrations' labels:
    minimise mean_i CE(softmax(a * log p_i + b), y_i) + penalty * (|a - 1|^2 + |b|^2) / k."""
    from scipy.optimize import minimize

    p = np.asarray(demo_probs, dtype=np.float64)
    y = np.asarray(demo_gold, dtype=int)
    if p.shape[0] < 2:
        raise NotApplicable("supervised calibration needs the leave-one-out outputs of at least 2 demonstrations")
    n, k = p.shape
    z = _log(p)
    onehot = np.eye(k)[y]

    def loss(theta):
        a, b = theta[:k], theta[k:]
        q = _softmax(a * z + b)
        ce = -np.sum(onehot * np.log(np.clip(q, EPS, None))) / n
        reg = penalty * (np.sum((a - 1) ** 2) + np.sum(b**2)) / n
        g = (q - onehot) / n  # d CE / d logits
        grad_a = np.sum(g * z, axis=0) + 2 * penalty * (a - 1) / n
        grad_b = np.sum(g, axis=0) + 2 * penalty * b / n
        return ce + reg, np.concatenate([grad_a, grad_b])

    res = minimize(loss, np.concatenate([np.ones(k), np.zeros(k)]), jac=True, method="L-BFGS-B")
    return Supervised(res.x[:k], res.x[k:])


Calibrator = Callable[[np.ndarray], np.ndarray]
MAPS = {"prototypical": Prototypical, "supervised": Supervised}  # what Calibration.from_json rebuilds
