"""``Run``: one stored run as everything that reads runs gets it (the Python API, the
command line's JSON, the app's tables, the report): its stored record, its metrics under
every calibration method and why a method has none, and, once finished and analysed, the
calibrations those metrics came from. Frozen: a reader never changes what it was given."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis.calibrations import METHODS, Calibration
from ..analysis.metrics import Metrics
from ..store import RunRecord


@dataclass(frozen=True)
class Run:
    """A run and its metrics (None where a method cannot apply or has not yet: the reason
    in ``reasons``); ``n_scored`` how many of its inputs are scored."""

    record: RunRecord
    metrics: dict[str, Metrics | None]
    reasons: dict[str, str]
    calibrations: dict[str, Calibration] = field(default_factory=dict)  # a finished run's, as fitted
    n_scored: int = 0

    # Its identity, under the names the API and the JSON give them.
    @property
    def id(self) -> int:
        return self.record["id"]

    @property
    def model(self) -> str:
        return self.record["model_name"]

    @property
    def task(self) -> str:
        return self.record["task_name"]

    @property
    def shots(self) -> int:
        return self.record["shots"]

    @property
    def seed(self) -> int:
        return self.record["seed"]

    @property
    def order(self) -> int:
        return self.record["demo_order"]

    @property
    def scoring(self) -> str:
        return self.record["scoring"]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def n_test(self) -> int:
        """Test inputs its metrics are over (0 before any is scored)."""
        none = self.metrics.get("none")
        return int(none.confusion.sum()) if none is not None else 0

    def identity(self) -> dict:
        """What the run is, as one flat dict (the API's rows and the JSON's runs start so)."""
        return {
            "run_id": self.id,
            "model": self.model,
            "task": self.task,
            "shots": self.shots,
            "seed": self.seed,
            "order": self.order,
            "scoring": self.scoring,
            "n_test": self.n_test,
        }

    def as_dict(self, headline) -> dict:
        """The run as `lbtui run --json` gives it: identity, what it was scored with, and
        each method's headline metrics (``headline``: Metrics | None -> dict | None)."""
        r, who = self.record, self.identity()
        n_test = who.pop("n_test")
        return {
            **who,
            "labels": r["labels"],
            "method_version": r.get("method_version") or 1,
            "n_test": n_test,
            "n_bias": r["n_bias"],
            "inputs_evaluated": r.get("inputs_evaluated") or 0,
            "inputs_reused": r.get("inputs_reused") or 0,
            "params": r.get("params") or {},  # how the backend scored (batching, numbers, build, offload)
            "metrics": {m: headline(self.metrics.get(m)) for m in METHODS},
        }
