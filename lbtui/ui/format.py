"""Cell formatting shared by the app's tables."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.widgets import DataTable

from ..analysis.metrics import REGISTRY as METRICS
from ..report.render import as_text


METRIC_TITLES = {name: m.short for name, m in METRICS.items()}


def fmt_num(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"


def fmt_change(x: float | None) -> str:
    return "" if x is None or x != x else f"{x:+.3f}"


def num(x: float | None) -> Text:
    return Text(fmt_num(x), justify="right")


def change_style(key: str) -> Callable[[str], str]:
    """A change's colour from its text: green when better under the metric's direction,
    dim when it rounds to nothing."""
    higher = METRICS[key].higher_is_better

    def style(cell: str) -> str:
        if not cell:
            return ""
        x = float(cell)
        return "dim" if abs(x) < 5e-4 else ("green" if (x > 0) == higher else "red")

    return style


def bar(share: float, width: int = 20, style: str = "cyan") -> Text:
    n = int(round(share * width))
    return Text("█" * n + "·" * (width - n), style=style)


class PlainTable(DataTable):
    """A DataTable whose text cells are shown as they are (render.as_text)."""

    def add_row(self, *cells, **kwargs):
        return super().add_row(*as_text(cells), **kwargs)


def fmt_seconds(s: float | None) -> str:
    """A time left as people read it: 45s, 3m 05s, 1h 12m."""
    if s is None:
        return "—"
    s = max(0, round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"
