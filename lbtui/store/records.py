"""What the store holds, as Python sees it: the runs table's columns and typed record,
the sets of a run, a run's status, and the decoding and checking of stored rows."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TypedDict

import numpy as np

from ..errors import StoreError, printable

RUN_COLUMNS = {
    "id": int,
    "key": str,
    "model_id": int,
    "task_id": int,
    "model_name": str,
    "task_name": str,
    "shots": int,
    "seed": int,
    "demo_order": int,
    "scoring": str,
    "prompt_format": str,
    "prompt_prefix": str,
    "limit_": int,
    "n_bias": int,
    "chat_template": int,
    "labels": str,
    "demo_ids": str,
    "params": str,
    "status": str,
    "error": str,
    "owner": str,
    "heartbeat": float,
    "n_items": int,
    "created": float,
    "started": float,
    "finished": float,
    "seconds": float,
    "tokens_evaluated": int,
    "method_version": int,
    "label_ids": str,
    "data_options": str,
    "inputs_evaluated": int,
    "inputs_reused": int,
}
SETS = ("test", "bias", "cc", "dc", "looc")
LABELLED_SETS = ("test", "bias", "looc")


class RunRecord(TypedDict):
    """A stored run as the store returns it: the runs table's columns (RUN_COLUMNS), with
    the JSON ones decoded."""

    id: int
    key: str
    model_id: int
    task_id: int
    model_name: str
    task_name: str
    shots: int
    seed: int
    demo_order: int  # which ordering of the seed's demonstrations; 0: as drawn
    scoring: str  # backends.base.Scoring
    prompt_format: dict
    prompt_prefix: str
    limit_: int
    n_bias: int
    chat_template: int
    labels: list[str]
    demo_ids: list[str]
    params: dict
    status: str  # a RunStatus
    error: str | None
    owner: str | None
    heartbeat: float | None
    n_items: int
    created: float
    started: float | None
    finished: float | None
    seconds: float | None
    tokens_evaluated: int | None
    method_version: int
    label_ids: list[list[int]] | None
    data_options: dict | None
    inputs_evaluated: int | None  # inputs this run sent to the backend
    inputs_reused: int | None  # inputs whose scores another run had stored (same content address)


class RunStatus(StrEnum):
    """Where a run stands; stored as its text, so it compares equal to it."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class Claim(Enum):
    """What taking a run for scoring found (Store.claim_run)."""

    CLAIMED = "claimed"  # this process scores it now
    DONE = "done"  # nothing left to score
    BUSY = "busy"  # another live process is scoring it


@dataclass(frozen=True)
class ScoredSet:
    """The rows of one set of one run, in idx order."""

    example_ids: list[str]
    texts: list[str]
    gold: np.ndarray  # -1 where unlabelled
    scores: np.ndarray  # (N, K) raw scores s_j before softmax


def parse_scores(text) -> list[float] | None:
    """A stored score row as a list of log-probabilities (finite, at most 0), else None."""
    try:
        got = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(got, list) or not got:
        return None
    if not all(type(x) in (int, float) and math.isfinite(x) and x <= 0 for x in got):
        return None
    return [float(x) for x in got]


def decode_run(row: dict) -> RunRecord:
    row = dict(row)
    for key in ("labels", "demo_ids", "params", "prompt_format", "label_ids", "data_options"):
        if row.get(key):
            try:
                row[key] = json.loads(row[key])
            except (TypeError, ValueError):
                raise StoreError(
                    f"run {row.get('id')}: its {key} {printable(str(row[key]))[:40]!r} are not"
                    " JSON; the store was edited or damaged"
                ) from None
    labels = row.get("labels")
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
        raise StoreError(
            f"run {row.get('id')}: its labels {printable(str(labels))[:40]!r} are not a list of"
            " two or more names; the store was edited or damaged"
        )
    row["demo_order"] = row.get("demo_order") or 0  # runs stored before orderings existed: drawn order
    row["method_version"] = row.get("method_version") or 1  # runs stored before the column: version 1
    return row
