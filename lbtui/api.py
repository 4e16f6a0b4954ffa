"""lbtui from Python (notebooks, scripts): the same engine and store as `lbtui run`, so a
run stored by one is reused by the other. See docs/PYTHON.md.

    import lbtui
    result = lbtui.audit(tasks="reviews", shots=[0, 4], limit=40, db="audit.db")
    result.frame()            # pandas: one row per run and calibration method
    result.scores(run_id)     # the raw per-label scores of a run, as arrays
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from .analysis.results import HEADLINE
from .results import Run
from .backends.base import DEFAULT_SCORING
from .types import RunScores


def _names(x: str | Iterable[str] | None, option: str) -> tuple[str, ...]:
    """A name or names, as the CLI's option takes them; anything else is the option's error."""
    from .errors import UserError

    if x is None:
        return ()
    if isinstance(x, (str, Path)):
        return (str(x),)
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (str, Path)) for v in x):
        return tuple(str(v) for v in x)
    raise UserError(option, f"give a name or a list of names, not {x!r}")


def _numbers(x: int | Iterable[int] | None, option: str) -> tuple[int, ...] | None:
    """Whole numbers (one, or a non-empty list), as the CLI's comma-separated option."""
    from .errors import UserError

    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if x is None:
        return None
    if whole(x):
        return (x,)
    if isinstance(x, (list, tuple)) and x and all(whole(v) for v in x):
        return tuple(x)
    raise UserError(option, f"give a whole number or a non-empty list of them, not {x!r}")


def _one(x: int | Iterable[int] | None, option: str, default: int) -> int:
    """The one whole number an option takes (as the CLI's); None is its default."""
    from .auditing.selection import one_number

    got = _numbers(x, option)
    return default if got is None else one_number(list(got), option)


class AuditResult:
    """The runs of one audit, read from its store."""

    def __init__(self, db: Path, runs: list[Run]):
        self.db = db
        self.runs = runs

    def rows(self) -> list[dict]:
        """One dict per run and method: the run's identity and the headline metrics."""
        out = []
        for r in self.runs:
            for method, m in r.metrics.items():
                row = {**r.identity(), "method": method}
                row.update({k: (None if m is None else float(getattr(m, k))) for k in HEADLINE})
                out.append(row)
        return out

    def frame(self):
        """``rows()`` as a pandas DataFrame (pandas is not a dependency of lbtui)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "AuditResult.frame() needs pandas (pip install pandas); rows() gives the same as dicts"
            ) from None
        return pd.DataFrame(self.rows())

    def scores(self, run_id: int) -> RunScores:
        """The raw per-label scores of a run (log-probabilities, shape (N, K) per set:
        test, bias, content-free, domain-context, leave-one-out) and the gold labels."""
        from .results import run_scores
        from .store import Store

        store = Store(self.db, readonly=True)
        try:
            return run_scores(store, run_id)
        finally:
            store.close()

    def verdict(self, *, resamples: int = 1000) -> list[dict]:
        """Each group's (model, task or the mean over tasks, shots, scoring) baselines and
        recommended calibration, chosen by the rule of docs/REPORTS.md: what `lbtui report
        --json` gives under "groups" for these runs."""
        from .report.summary import summarize
        from .results import Results
        from .store import Store

        store = Store(self.db, readonly=True)
        try:
            runs = [store.run(r.id) for r in self.runs]
            return [g.as_dict() for g in summarize(Results(store), runs, resamples=resamples).groups]
        finally:
            store.close()

    def __repr__(self) -> str:
        return f"AuditResult({len(self.runs)} runs in {self.db})"


def audit(
    models: str | Sequence[str] | None = None,
    tasks: str | Sequence[str] = "reviews",
    shots: int | Sequence[int] = (0, 4, 8),
    seeds: int = 1,
    *,
    orders: int = 1,
    limit: int = 100,
    scoring: str = DEFAULT_SCORING,
    label_words: str = "",
    db: str | Path | None = None,
    progress: bool = False,
) -> AuditResult:
    """Audit ``models`` (names from models.toml or .gguf paths; default: the default
    model) on ``tasks`` (bundled names or task files) at each of ``shots``, with ``seeds``
    draws of demonstrations and ``orders`` orderings of each; store every score in ``db``
    (default: the user's store, as `lbtui run`). Runs the store holds already are read,
    not evaluated again. Errors are lbtui.errors.UserError with the option's name."""
    from . import paths
    from .auditing.engine import audit_into
    from .results import Results
    from .auditing.examples import DEFAULT_LIMIT
    from .auditing.selection import DEFAULT_SHOTS, AuditRequest

    from .errors import UserError

    if not isinstance(label_words, str):
        raise UserError("--verbalizers", f"give label words as text ('bad,good;A,B'), not {label_words!r}")
    if db is not None and not isinstance(db, (str, Path)):
        raise UserError("--db", f"give a path, not {db!r}")

    request = AuditRequest(
        models=_names(models, "--model"),
        tasks=_names(tasks, "--task"),
        shots=_numbers(shots, "--shots") or DEFAULT_SHOTS,
        seeds=_one(seeds, "--seeds", 1),
        orders=_one(orders, "--orders", 1),
        limit=_one(limit, "--limit", DEFAULT_LIMIT),
        scoring=scoring,
        verbalizers=label_words,
    )
    plans = request.plans()
    path = Path(db) if db is not None else paths.default_db()
    if db is None:
        path.parent.mkdir(parents=True, exist_ok=True)  # the user's data folder; a given folder must exist (as the CLI)
    if progress:
        from .report.render import ProgressBar

        with ProgressBar() as bar:
            store, ids = audit_into(path, plans, progress=bar)
    else:
        store, ids = audit_into(path, plans)
    try:
        results = Results(store)
        runs = [results.report(rid) for rid in ids]
    finally:
        store.close()
    return AuditResult(path, runs)
