"""What a method's numbers must beat: two guessers that never read the input, on the
same test labels. Pure functions over gold label arrays.

* chance: a uniform random guesser. Its expected accuracy is 1/K; its macro-F1 is
  taken from the expected counts (TP_c = n pi_c / K, FP_c = n (1 - pi_c) / K,
  FN_c = n pi_c (1 - 1/K)), F1_c = 2 pi_c / (K pi_c + 1), averaged over the labels
  present in gold as every macro-F1 here is.
* majority: always the most frequent gold label (the first on a tie). Accuracy is its
  share; macro-F1 is its F1, 2 pi / (pi + 1), over the labels present (the others score
  0), which is scikit-learn's f1_score on those predictions (a test holds them equal).
"""

from __future__ import annotations

import numpy as np


def shares(gold: np.ndarray, k: int) -> np.ndarray:
    gold = np.asarray(gold)
    return np.bincount(gold, minlength=k) / len(gold)


def chance(gold: np.ndarray, k: int) -> dict[str, float]:
    return chance_of(shares(gold, k))


def chance_of(pi: np.ndarray) -> dict[str, float]:
    """The uniform guesser's numbers from the gold shares (K = their length)."""
    pi = np.asarray(pi, dtype=np.float64)
    k = len(pi)
    present = pi > 0
    f1 = 2 * pi[present] / (k * pi[present] + 1)
    return {"accuracy": 1.0 / k, "macro_f1": float(f1.mean())}


def majority(gold: np.ndarray, k: int) -> dict[str, float]:
    return majority_of(shares(gold, k))


def majority_of(pi: np.ndarray) -> dict[str, float]:
    pi = np.asarray(pi, dtype=np.float64)
    top = float(pi.max())
    return {"accuracy": top, "macro_f1": float(2 * top / (top + 1) / (pi > 0).sum())}


def both(gold: np.ndarray, k: int) -> dict[str, dict[str, float]]:
    return {"chance": chance(gold, k), "majority": majority(gold, k)}


def of_shares(pi: np.ndarray) -> dict[str, dict[str, float]]:
    return {"chance": chance_of(pi), "majority": majority_of(pi)}


def better(b: dict[str, dict[str, float]], metric: str = "macro_f1") -> float:
    """The higher of the two guessers on ``metric``: what "at chance" compares with."""
    return max(b["chance"][metric], b["majority"][metric])


def mean(items: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Baselines of a mean over tasks: each guesser's metrics averaged without weights,
    as the tasks' metrics are."""
    return {g: {m: float(np.mean([it[g][m] for it in items])) for m in items[0][g]} for g in items[0]}
