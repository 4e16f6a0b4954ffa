"""The SQLite store: models, tasks, runs and every raw per-label score.

Raw scores are what scoring keeps: any calibration can be applied afterwards ("score
once, calibrate forever"); a finished run's metrics are computed once from them and
cached (run_metrics) per analysis version. WAL mode and a busy timeout let the app read
while a CLI run writes; scores are committed in batches inside transactions, and (run,
set, idx) is unique, so an interrupted run resumes where it stopped and never scores an
input twice.

records: the rows as Python sees them; owners: who scores a run; tx: transactions and
SQLite's errors in words; schema: tables and their migration; core: the Store.
"""

from .core import Store
from .owners import HOST, STALE_LOCAL, STALE_SECONDS, new_owner, owner_alive
from .records import LABELLED_SETS, RUN_COLUMNS, SETS, Claim, RunRecord, RunStatus, ScoredSet, parse_scores
from .schema import SCHEMA_VERSION
from .tx import store_error, transaction

__all__ = [
    "HOST",
    "Claim",
    "LABELLED_SETS",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "SETS",
    "STALE_LOCAL",
    "STALE_SECONDS",
    "RunRecord",
    "RunStatus",
    "ScoredSet",
    "Store",
    "new_owner",
    "owner_alive",
    "parse_scores",
    "store_error",
    "transaction",
]
