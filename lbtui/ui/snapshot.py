"""What the visible tab shows, computed in a worker thread and handed to the UI whole.

A snapshot holds the tab's build (tabs/: every calibration method's rows, already
formatted as text), so that a calibration toggle only filters rows on the UI thread and
never waits for the store. The builder owns its own store connection and result cache;
one build runs at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..report import views as analysis
from ..store import Store
from .tabs import TABS, BuildContext


@dataclass
class Snapshot:
    tab: str
    seq: int
    run_ids: list[int]
    unanalysed: list[int] = field(default_factory=list)
    data: Any = None  # the tab's build (its Tab.build)


class SnapshotBuilder:
    """Builds snapshots from the store, in a worker thread: any registered tab's."""

    def __init__(self, db: Path, trace: Callable[[str], None] | None = None):
        self.store = Store(db, create=False)
        if trace is not None:
            self.store.db.conn.set_trace_callback(trace)
        self.cache = analysis.ResultCache(self.store)
        self.lock = threading.Lock()
        self.memo: dict[str, dict] = {}  # tab -> what it keeps between its builds

    def close(self) -> None:
        with self.lock:
            self.store.close()

    def build(
        self,
        tab: str,
        run_ids: list[int],
        seq: int,
        stale: Callable[[], bool] = lambda: False,
        history: tuple[str, int] = ("", 0),
    ) -> Snapshot | None:
        """What ``tab`` shows; None when ``stale()`` says, once this build's turn comes, that a
        newer request has made it moot."""
        with self.lock:
            if stale():
                return None
            snap = Snapshot(tab, seq, list(run_ids))
            view = TABS[tab]
            if view.analysed:
                self.cache.refresh(run_ids)
                snap.unanalysed = list(self.cache.unanalysed)
            ctx = BuildContext(self.store, self.cache, list(run_ids), history, self.memo.setdefault(tab, {}))
            snap.data = view.build(ctx)
            return snap
