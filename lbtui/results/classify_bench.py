"""`lbtui bench --classify N`: new inputs through ``Classifier.predict_proba`` against the
audit's own rate, in one process on one loaded model, so the figures are a ratio that
survives a noisy machine.

The audit (the engine, into a throw-away store) scores one run of the task at k shots;
then N of the task's test inputs that the run did not score (past its --limit) go
through the run's classifier in one call, each evaluated (none is in the store yet).
Both rates are inputs per second, for the same prompt and scoring mode; the audit's is
given whole and for its test phase alone (the test inputs, which share the full
prompt as classified inputs do; the leave-one-out prompts cost more a piece)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..auditing.engine import Engine, NullProgress
from ..auditing.planning import plan
from ..models import ModelSpec
from ..store import Store
from ..types import Task
from .classifier import Classifier


class _PhaseClock(NullProgress):
    """When each committed chunk of the audit ended, and from which phase: the test
    phase's own rate is the audit's rate for inputs like the ones classified."""

    def __init__(self):
        self.ticks: list[tuple[float, str, int]] = []

    def run_started(self, run) -> None:
        self.ticks.append((time.perf_counter(), "start", run.done))

    def advanced(self, run) -> None:
        self.ticks.append((time.perf_counter(), run.phase, run.done))

    def test_rate(self) -> float:
        before = [t for t in self.ticks if t[1] != "test"]
        test = [t for t in self.ticks if t[1] == "test"]
        start = max(t for t in before if t[0] < test[0][0])
        return (test[-1][2] - start[2]) / (test[-1][0] - start[0])


class _Borrowed:
    """The bench's backend lent to a classifier, which must not close it."""

    def __init__(self, backend):
        self._b = backend

    def __getattr__(self, name):
        return getattr(self._b, name)

    def close(self) -> None:
        pass


def run(spec: ModelSpec, task: Task, *, shots: int, limit: int, n: int, mode: str, note=lambda m: None) -> dict:
    from ..backends import load_backend
    from ..errors import UserError

    new = [dict(ex.fields) or ex.text for ex in task.test[limit : limit + n]]
    if len(new) < n:
        raise UserError(
            "--classify",
            f"{task.name} has {len(task.test)} test inputs: {n} new ones past --limit {limit}"
            f" need {limit + n}; lower --limit or --classify",
        )
    path = spec.locate()
    note(f"loading {spec.name}")
    backend = load_backend(spec, path)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.db"
            store = Store(db)
            (p,) = plan([spec], [task], [shots], [0], limit=limit, scoring=mode)
            note(f"{mode}: auditing {len(p.sets.test)} test examples and their calibration sets through the engine")
            backend.clear()
            clock = _PhaseClock()
            engine = Engine(store, backend_factory=lambda s, pth: backend, progress=clock, owns_backends=False)
            t0 = time.perf_counter()
            (run_id,) = engine.execute([p])
            audit_seconds = time.perf_counter() - t0
            engine.close()
            store.close()
            note(f"{mode}: classifying {n} new inputs with the run's BC calibration")
            with Classifier.from_run(run_id, "bc", db, backend_factory=lambda s, pth: _Borrowed(backend)) as clf:
                t0 = time.perf_counter()
                clf.predict_proba(new)
                seconds = time.perf_counter() - t0
                evaluated = clf.evaluated
        audit_rate = len(p.items) / audit_seconds
        test_rate = clock.test_rate()
        rate = n / seconds
        return {
            "model": spec.name,
            "task": task.name,
            "shots": shots,
            "mode": mode,
            "audit_inputs": len(p.items),
            "audit_seconds": round(audit_seconds, 2),
            "audit_inputs_per_s": round(audit_rate, 2),
            "audit_test_inputs_per_s": round(test_rate, 2),
            "classify_inputs": n,
            "classify_evaluated": evaluated,
            "classify_seconds": round(seconds, 2),
            "classify_inputs_per_s": round(rate, 2),
            "ratio_to_audit": round(rate / audit_rate, 3),
            "ratio_to_audit_test": round(rate / test_rate, 3),
        }
    finally:
        backend.close()
