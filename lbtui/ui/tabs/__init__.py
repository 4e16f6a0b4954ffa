"""The app's tabs, one class a tab (see base.Tab): each composes its widgets, builds what it
shows in the snapshot worker and lays that out on the UI thread. ``TABS`` is the one list
of them: the app composes, binds and offers them, and the snapshot worker builds them, by
iterating it; adding a tab is one module here and its line below."""

from __future__ import annotations

from .base import BuildContext, Tab
from .compare import CompareTab
from .history import HistoryTab
from .plots import PLOT_METRICS, PlotsTab
from .results import ResultsTab
from .rows import MethodRows
from .stability import StabilityTab

TABS: dict[str, Tab] = {t.id: t for t in (ResultsTab(), PlotsTab(), HistoryTab(), CompareTab(), StabilityTab())}

__all__ = ["TABS", "BuildContext", "MethodRows", "PLOT_METRICS", "Tab"]
