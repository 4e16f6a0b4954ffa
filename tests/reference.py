"""An independent implementation of METHODS.md's metrics, written from the text and not
from lbtui's code, to check what lbtui prints against what its exports imply."""

from __future__ import annotations

import math

from sklearn.metrics import f1_score


def softmax(row):
    m = max(row)
    e = [math.exp(x - m) for x in row]
    s = sum(e)
    return [x / s for x in e]


def calibrate(p, prior):
    q = [a / b for a, b in zip(p, prior)]
    s = sum(q)
    return [x / s for x in q]


def argmax(row):
    best = 0
    for j, x in enumerate(row):
        if x > row[best]:
            best = j
    return best


def metrics(test_p, test_gold, bias_p, bias_gold, k):
    pred = [argmax(p) for p in test_p]
    acc = sum(a == b for a, b in zip(pred, test_gold)) / len(test_gold)
    present = sorted(set(test_gold))
    f1 = f1_score(test_gold, pred, average="macro", labels=present, zero_division=0)
    per = []
    for lab in present:
        idx = [i for i, g in enumerate(test_gold) if g == lab]
        per.append(sum(pred[i] == lab for i in idx) / len(idx))
    mean = sum(per) / len(per)
    std = math.sqrt(sum((x - mean) ** 2 for x in per) / len(per))
    rsd = 0.0 if acc == 0 else std / acc
    means = []
    for lab in sorted(set(bias_gold)):
        rows = [p for p, g in zip(bias_p, bias_gold) if g == lab]
        means.append([sum(r[j] for r in rows) / len(rows) for j in range(k)])
    b = [sum(m[j] for m in means) / len(means) for j in range(k)]
    bias = 0.5 * sum(abs(x - 1 / k) for x in b)
    return {"accuracy": acc, "macro_f1": float(f1), "rsd": rsd, "bias_score": bias}


def all_methods(rows, labels):
    """rows: lbtui export --format jsonl records of one run."""
    k = len(labels)
    idx = {lab: i for i, lab in enumerate(labels)}
    by_set = {}
    for r in rows:
        by_set.setdefault(r["set"], []).append(r)
    probs = {s: [softmax([r["scores"][lab] for lab in labels]) for r in rs] for s, rs in by_set.items()}
    gold = {s: [idx[r["gold"]] if r["gold"] is not None else None for r in rs] for s, rs in by_set.items()}

    def mean(ps):
        return [sum(p[j] for p in ps) / len(ps) for j in range(k)]

    priors = {"none": [1.0] * k, "bc": mean(probs["test"])}
    if "cc" in probs:
        priors["cc"] = mean(probs["cc"])
    if "dc" in probs:
        priors["dc"] = mean(probs["dc"])
    if "looc" in probs and len(probs["looc"]) >= 2:
        per_label = []
        for lab in sorted(set(gold["looc"])):
            per_label.append(mean([p for p, g in zip(probs["looc"], gold["looc"]) if g == lab]))
        priors["looc"] = mean(per_label)
    out = {}
    for method, prior in priors.items():
        tp = [calibrate(p, prior) for p in probs["test"]]
        bp = [calibrate(p, prior) for p in probs["bias"]]
        out[method] = metrics(tp, gold["test"], bp, gold["bias"], k)
    return out
