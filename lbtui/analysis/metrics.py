"""Label-bias metrics of docs/METHODS.md as pure functions over arrays.

Conventions follow scikit-learn's: data positional, options keyword-only.
``y_true`` and ``y_pred`` are integer label indices in ``range(n_labels)``;
``probs`` is an (N, K) array of label probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the K label scores: scipy.special.softmax's steps, so its
    numbers bit for bit (a test holds them equal), without importing scipy: a report's
    worker processes read stored runs with numpy alone."""
    x = np.asarray(scores, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def predict(probs: np.ndarray) -> np.ndarray:
    """argmax per row; ties go to the earlier label (numpy's argmax does that)."""
    return np.asarray(probs).argmax(axis=-1)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def gold_labels(y_true: np.ndarray) -> np.ndarray:
    """The sorted distinct gold labels: the labels every per-class metric averages over."""
    return np.unique(np.asarray(y_true))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the labels present in gold; a predicted label absent from gold
    only counts as a miss: scikit-learn's f1_score(average='macro', labels=sorted gold
    labels, zero_division=0)."""
    from sklearn.metrics import f1_score

    labels = gold_labels(y_true)
    if labels.size == 0:
        return float("nan")
    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), labels=labels, average="macro", zero_division=0))


def classwise_accuracy(y_true: np.ndarray, y_pred: np.ndarray, *, n_labels: int) -> np.ndarray:
    """Recall of each label; NaN for labels absent from gold."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = np.full(n_labels, np.nan)
    for lab in gold_labels(y_true):
        mask = y_true == lab
        out[lab] = np.mean(y_pred[mask] == lab)
    return out


def rsd(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Relative standard deviation of class-wise accuracy: population std (ddof 0) of the
    accuracy of each gold label, divided by overall accuracy; 0 when accuracy is 0."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    acc = accuracy(y_true, y_pred)
    if not acc or np.isnan(acc):
        return 0.0 if acc == 0 else float("nan")
    per = [np.mean(y_pred[y_true == lab] == lab) for lab in gold_labels(y_true)]
    return float(np.std(per, ddof=0) / acc)


def bias_score(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Total-variation distance from uniform of the label-balanced mean probability vector:
    b = mean over gold labels present of (mean p of the examples with that label);
    BiasScore = 0.5 * sum_j |b_j - 1/K|."""
    probs, y_true = np.asarray(probs, dtype=np.float64), np.asarray(y_true)
    if probs.shape[0] == 0:
        return float("nan")
    k = probs.shape[1]
    b = np.mean([probs[y_true == lab].mean(axis=0) for lab in gold_labels(y_true)], axis=0)
    return float(0.5 * np.abs(b - 1.0 / k).sum())


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, *, n_labels: int) -> np.ndarray:
    """Counts, rows gold, columns predicted, over all K labels (scikit-learn's)."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:  # scikit-learn refuses empty input
        return np.zeros((n_labels, n_labels), dtype=np.int64)
    return sk_confusion(y_true, y_pred, labels=np.arange(n_labels)).astype(np.int64)


def per_class(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Each label's precision, recall, F1 and support from a confusion matrix (rows gold,
    columns predicted): scikit-learn's precision_recall_fscore_support(zero_division=0)
    on the predictions behind it (a test holds them equal)."""
    c = np.asarray(confusion, dtype=np.float64)
    tp, predicted, support = np.diag(c), c.sum(axis=0), c.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def distribution(y: np.ndarray, *, n_labels: int) -> np.ndarray:
    """Share of each label among ``y``."""
    y = np.asarray(y)
    if y.size == 0:
        return np.zeros(n_labels)
    return np.bincount(y, minlength=n_labels) / y.size


@dataclass(frozen=True)
class Metrics:
    """Everything shown for one set of predictions under one calibration."""

    accuracy: float
    macro_f1: float
    rsd: float
    bias_score: float
    classwise_accuracy: np.ndarray
    confusion: np.ndarray
    predicted_share: np.ndarray
    gold_share: np.ndarray

    def headline(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in REGISTRY}

    def to_json(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, d: dict) -> "Metrics":
        return cls(**{k: (np.asarray(v) if isinstance(v, list) else v) for k, v in d.items()})


def evaluate(test_probs: np.ndarray, test_gold: np.ndarray, bias_probs: np.ndarray, bias_gold: np.ndarray) -> Metrics:
    """All metrics of one run: accuracy, macro-F1 and RSD on the test set, BiasScore on the
    bias set."""
    test_probs = np.asarray(test_probs, dtype=np.float64)
    k = test_probs.shape[1]
    y_pred = predict(test_probs)
    return Metrics(
        **{name: m.compute(y_pred, test_gold, bias_probs, bias_gold) for name, m in REGISTRY.items()},
        classwise_accuracy=classwise_accuracy(test_gold, y_pred, n_labels=k),
        confusion=confusion_matrix(test_gold, y_pred, n_labels=k),
        predicted_share=distribution(y_pred, n_labels=k),
        gold_share=distribution(test_gold, n_labels=k),
    )


# --- the registry: one object a headline metric ------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A headline metric: every table, report, gate, plot and the bootstrap read it here.

    ``fn(test_pred, test_gold, bias_probs, bias_gold)`` computes it for one run;
    ``paper`` marks the three the paper reports (the plots and compact views show those);
    ``aliases`` are what `lbtui report --fail-if` accepts for it. A new metric also needs
    a field in ``Metrics`` and its vectorised form in bootstrap.metrics_labels_first (a test
    checks that every registered metric has one)."""

    name: str
    title: str  # column title in the CLI's tables and the report
    short: str  # the app's narrow column title
    higher_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]
    paper: bool = True
    aliases: tuple[str, ...] = ()

    def compute(self, test_pred, test_gold, bias_probs, bias_gold) -> float:
        return float(self.fn(test_pred, test_gold, bias_probs, bias_gold))


REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "accuracy", "Accuracy", "Acc", True, lambda yp, yt, qb, gb: accuracy(yt, yp), paper=False, aliases=("acc",)
        ),
        Metric(
            "macro_f1",
            "Macro-F1",
            "Macro-F1",
            True,
            lambda yp, yt, qb, gb: macro_f1(yt, yp),
            aliases=("macro-f1", "f1"),
        ),
        Metric("rsd", "RSD", "RSD", False, lambda yp, yt, qb, gb: rsd(yt, yp)),
        Metric(
            "bias_score",
            "BiasScore",
            "BiasScore",
            False,
            lambda yp, yt, qb, gb: bias_score(qb, gb) if len(gb) else float("nan"),
            aliases=("biasscore", "bias"),
        ),
    )
}
HEADLINE: tuple[str, ...] = tuple(REGISTRY)
PAPER: tuple[str, ...] = tuple(n for n, m in REGISTRY.items() if m.paper)  # macro-F1, RSD, BiasScore
