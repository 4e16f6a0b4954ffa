"""Cell formatting shared by the app's tables."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ..metrics import REGISTRY as METRICS
from ..render import as_text

# Whether a larger value is better (for colouring changes against "none"), and titles.
HIGHER_IS_BETTER = {name: m.higher_is_better for name, m in METRICS.items()}
METRIC_TITLES = {name: m.short for name, m in METRICS.items()}


def num(x: float | None) -> Text:
    return Text("—" if x is None or x != x else f"{x:.3f}", justify="right")


def change(x: float | None, key: str) -> Text:
    if x is None or x != x:
        return Text("", justify="right")
    good = (x > 0) == HIGHER_IS_BETTER[key]
    style = "dim" if abs(x) < 5e-4 else ("green" if good else "red")
    return Text(f"{x:+.3f}", style=style, justify="right")


def bar(share: float, width: int = 20, style: str = "cyan") -> Text:
    n = int(round(share * width))
    return Text("█" * n + "·" * (width - n), style=style)


class PlainTable(DataTable):
    """A DataTable whose text cells are shown as they are (render.as_text)."""

    def add_row(self, *cells, **kwargs):
        return super().add_row(*as_text(cells), **kwargs)
