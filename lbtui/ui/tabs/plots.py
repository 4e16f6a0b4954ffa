"""Plots (F3): each paper metric against shots, one line per method, with the range across
seeds and orderings as a band; the highlighted run's label bars below (read by the app
in a worker: they follow the cursor)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static
from textual_plotext import PlotextPlot

from ...analysis.calibrations import METHODS
from ...analysis.metrics import PAPER
from ...report import views as analysis
from ..consts import RICH_COLORS, method_color
from ..format import METRIC_TITLES
from .base import BuildContext, Tab

PLOT_METRICS = PAPER


@dataclass
class Curves:
    curves: dict[str, dict[str, list]] = field(default_factory=dict)  # metric -> method -> (k, mean)
    bands: dict[str, dict[str, list]] = field(default_factory=dict)  # metric -> method -> (k, mean, min, max)


class PlotsTab(Tab):
    id, title, key = "plots", "Plots", "f3"
    command = ("Show plots", "Metrics against shots, one line per method")
    actions = ("cycle_plot_metric",)

    def compose(self) -> ComposeResult:
        yield Static(id="plot-legend")  # beside the plots, never over their lines
        with Horizontal(id="plot-row"):
            for key in PLOT_METRICS:
                yield PlotextPlot(id=f"plot-{key}")
        yield Static(id="label-bars")

    def build(self, ctx: BuildContext) -> Curves:
        out = Curves()
        for key in PLOT_METRICS:
            out.curves[key] = analysis.curves(ctx.cache, ctx.run_ids, list(METHODS), key)
            out.bands[key] = analysis.curve_bands(ctx.cache, ctx.run_ids, list(METHODS), key)
        return out

    def show(self, app, data: Curves, on: set[str]) -> None:
        methods = [m for m in METHODS if m in on]
        legend = Text()
        drawn = [m for m in methods if any(data.curves.get(key, {}).get(m) for key in PLOT_METRICS)]
        for m in drawn:
            color = method_color(m)
            legend.append("━━ ", style=RICH_COLORS.get(color, color)).append(f"{m.upper()}   ")
        if any(b[3] > b[2] for key in PLOT_METRICS for m in drawn for b in data.bands.get(key, {}).get(m, [])):
            legend.append("··· range across seeds and orderings", style="dim")
        app.query_one("#plot-legend", Static).update(legend)
        for key in PLOT_METRICS:
            widget = app.query_one(f"#plot-{key}", PlotextPlot)
            plt = widget.plt
            plt.clear_data()
            plt.clear_figure()
            plt.title(f"{METRIC_TITLES[key]} against shots")
            plt.xlabel("k")
            spread = data.bands.get(key, {})
            for m in methods:
                pts = data.curves.get(key, {}).get(m)
                if not pts:
                    continue
                color = method_color(m)
                plt.plot([p[0] for p in pts], [p[1] for p in pts], marker="dot", color=color)  # no legend inside
                band = [b for b in spread.get(m, []) if b[3] > b[2]]
                if band:  # several seeds or orderings: their range as a band of two faint lines
                    for j in (2, 3):
                        plt.plot([b[0] for b in band], [b[j] for b in band], marker="·", color=color)
            widget.refresh()
        app.draw_label_bars()
