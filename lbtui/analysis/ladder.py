"""Quantization ladders side by side: each variant of a model (``MODEL@TYPE``, written by
``lbtui quantize``) with its bits per weight and its label-bias metrics, against the
reference (the model itself when it was run, else its variant with the most bits).
Pure functions over per-run metrics and the backend facts stored with each run."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .metrics import Metrics
from .results import HEADLINE


def base_model(name: str) -> str:
    base, at, _ = name.rpartition("@")
    return base if at and base else name


def bits_per_weight(run: dict) -> float | None:
    params = run.get("params") or {}
    return params.get("bits_per_weight") if isinstance(params, dict) else None


def rows(entries: list[tuple[dict, dict[str, Metrics | None]]], methods) -> list[dict]:
    """Per (base model, shots, method), one row per variant in falling bits per weight:
    the mean over tasks (each the mean over its seeds) of each headline metric and its
    change against the reference. Only bases run in at least two variants appear."""
    # (base, shots) -> model -> task -> [metrics]
    cells: dict[tuple, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    bpw: dict[str, float | None] = {}
    for run, metrics in entries:
        name = run["model_name"]
        cells[(base_model(name), run["shots"])][name][run["task_name"]].append(metrics)
        bpw[name] = bits_per_weight(run) if bpw.get(name) is None else bpw[name]
    out = []
    for (base, shots), by_model in cells.items():
        if len(by_model) < 2:
            continue
        tasks = set.intersection(*(set(t) for t in by_model.values()))  # compare on the same tasks
        order = sorted(by_model, key=lambda n: (-(bpw[n] or 0.0), n))
        reference = base if base in by_model else order[0]
        for method in methods:
            means = {n: _mean(by_model[n], tasks, method) for n in order}
            for n in order:
                row = {
                    "base": base,
                    "shots": shots,
                    "method": method,
                    "model": n,
                    "reference": reference,
                    "bits_per_weight": bpw[n],
                    "tasks": len(tasks),
                }
                for key in HEADLINE:
                    v, ref = means[n].get(key), means[reference].get(key)
                    row[key] = v
                    row["d_" + key] = None if n == reference or v is None or ref is None else v - ref
                out.append(row)
    return out


def _mean(by_task: dict[str, list], tasks: set[str], method: str) -> dict[str, float]:
    out = {}
    for key in HEADLINE:
        per_task = []
        for t in tasks:
            vals = [getattr(m[method], key) for m in by_task[t] if m.get(method) is not None]
            if vals:
                per_task.append(float(np.mean(vals)))
        if len(per_task) == len(tasks) and tasks:
            out[key] = float(np.mean(per_task))
    return out
