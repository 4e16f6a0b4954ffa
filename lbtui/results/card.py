"""A classifier card: everything needed to classify new inputs as one audited run and
method did, without the store or the task file (docs/CLASSIFY.md has the schema).

A card is JSON: the model's identity (file name, size, sha256; a server's URLs and
model), the task (name, version, input template), the prompt (format, definition,
demonstrations in order, chat template flag, the prefix's text and token ids), the
labels and their scored ids, the scoring mode, the method and its fitted calibration
(a prior, or a map's parameters), and the audit's numbers. ``check`` refuses, in one
line naming the file and field, a card of another schema version or one whose parts
do not fit together (a prior that is not a probability vector, labels that do not
match their ids)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..analysis.calibrations import METHODS
from ..backends.base import SCORING_MODES
from ..errors import UserError
from ..types import PromptFormat

CARD_VERSION = 1
KIND = "lbtui-classifier-card"
_FORMAT_KEYS = set(PromptFormat().as_dict())


def save(card: dict, path: Path) -> Path:
    """Write the card whole or not at all (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part{os.getpid()}")
    try:
        tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path: Path) -> dict:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("--card", f"no card at {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(str(path), f"not a JSON classifier card ({e})") from None
    check(doc, str(path))
    return doc


def _need(doc: dict, key: str, kind, where: str):
    if not isinstance(doc, dict) or key not in doc:
        raise UserError(f"{where}.{key}" if where else key, "is missing")
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UserError(f"{where}: {key}", f"must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def _probability_vector(values, k: int, where: str) -> None:
    if (
        not isinstance(values, list)
        or len(values) != k
        or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in values
        )
        or abs(sum(values) - 1.0) > 1e-6
    ):
        raise UserError(where, f"must be a probability vector of {k} positive numbers that sum to 1")


def check(doc, path: str) -> None:
    """Refuse a card this lbtui cannot classify with exactly as the audit did."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise UserError(path, f"not a classifier card (its 'kind' is not {KIND!r})")
    version = doc.get("version")
    if version != CARD_VERSION:
        raise UserError(f"{path}: version", f"card schema version {version!r}; this lbtui reads version {CARD_VERSION}")
    labels = _need(doc, "labels", list, path)
    if len(labels) < 2 or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise UserError(f"{path}: labels", "must be at least 2 distinct non-empty strings")
    label_ids = _need(doc, "label_ids", list, path)
    if len(label_ids) != len(labels) or not all(
        isinstance(ids, list) and ids and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids)
        for ids in label_ids
    ):
        raise UserError(f"{path}: label_ids", f"must hold one non-empty list of token ids per label ({len(labels)})")
    if _need(doc, "scoring", str, path) not in SCORING_MODES:
        raise UserError(f"{path}: scoring", f"must be one of {', '.join(SCORING_MODES)}")
    model = _need(doc, "model", dict, path)
    if not (isinstance(model.get("sha256"), str) or model.get("server")):
        raise UserError(f"{path}: model.sha256", "is missing")
    task = _need(doc, "task", dict, path)
    _need(task, "input_template", str, f"{path}: task")
    prompt = _need(doc, "prompt", dict, path)
    fmt = _need(prompt, "format", dict, f"{path}: prompt")
    if set(fmt) != _FORMAT_KEYS or not all(isinstance(v, str) for v in fmt.values()):
        raise UserError(f"{path}: prompt.format", f"must hold the strings {sorted(_FORMAT_KEYS)}")
    _need(prompt, "definition", str, f"{path}: prompt")
    _need(prompt, "chat_template", bool, f"{path}: prompt")
    _need(prompt, "prefix_ids", list, f"{path}: prompt")
    demos = _need(prompt, "demonstrations", list, f"{path}: prompt")
    for i, d in enumerate(demos):
        if not (isinstance(d, list) and len(d) == 2 and isinstance(d[0], str) and d[1] in labels):
            raise UserError(f"{path}: prompt.demonstrations[{i}]", "must be [input text, one of the labels]")
    method = _need(doc, "method", dict, path)
    name = _need(method, "name", str, f"{path}: method")
    if name not in METHODS:
        raise UserError(f"{path}: method.name", f"unknown method {name!r} ({', '.join(METHODS)})")
    cal = _need(method, "calibration", dict, f"{path}: method")
    if "prior" in cal:
        if name == "none":
            if cal["prior"] != [1.0] * len(labels):
                raise UserError(f"{path}: method.calibration.prior", "must be all ones for 'none'")
        else:
            _probability_vector(cal["prior"], len(labels), f"{path}: method.calibration.prior")
    elif cal.get("map") not in ("prototypical", "supervised") or not isinstance(cal.get("params"), dict):
        raise UserError(f"{path}: method.calibration", "must hold a 'prior' or a 'map' with its 'params'")
    else:
        _check_map(cal["map"], cal["params"], len(labels), f"{path}: method.calibration.params")


def _check_map(kind: str, params: dict, k: int, where: str) -> None:
    def numbers(key: str, shape: tuple[int, ...]):
        import numpy as np

        try:
            arr = np.asarray(params.get(key), dtype=np.float64)
        except (TypeError, ValueError):
            raise UserError(f"{where}.{key}", "must be numbers") from None
        if arr.shape != shape or not np.isfinite(arr).all():
            raise UserError(f"{where}.{key}", f"must be finite numbers of shape {shape}")
        return arr

    if kind == "supervised":
        numbers("scale", (k,))
        numbers("shift", (k,))
        return
    w = numbers("weights", (k,))
    if (w <= 0).any() or abs(w.sum() - 1) > 1e-6:
        raise UserError(f"{where}.weights", f"must be a probability vector of {k} positive numbers that sum to 1")
    numbers("means", (k, k))
    if (numbers("covariances", (k, k)) <= 0).any() or (numbers("precisions_cholesky", (k, k)) <= 0).any():
        raise UserError(f"{where}.covariances", "must be positive")
    order = params.get("label_of_cluster")
    if not isinstance(order, list) or sorted(order) != list(range(k)):
        raise UserError(f"{where}.label_of_cluster", f"must be a permutation of 0..{k - 1}")
