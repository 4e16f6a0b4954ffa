"""The app's settings that its parts share (refresh rate, layout thresholds, colours)."""

from __future__ import annotations

from textual.binding import Binding

from ..analysis.calibrations import REGISTRY
from ..backends.base import DEFAULT_SCORING

REDRAW_SECONDS = 0.25
SESSION_KEY = "app_session"  # the store's meta row holding what the app showed and the form
DEFAULT_FORM = {
    "shots": "0,4,8",
    "seeds": "1",
    "orders": "1",
    "limit": "100",
    "scoring": DEFAULT_SCORING,
    "verbalizers": "",
}
# Shown runs past which the long-lived heap is frozen out of the garbage collector's full
# walks: at 2,511 runs one walk stalls the UI thread for 140 ms.
FREEZE_STEP = 200
SETUP_MIN_WIDTH = 120  # below it the setup form folds away by itself
ROW_CI_DELAY = 0.1  # seconds the per-run cursor rests before its row's intervals are computed
RICH_COLORS = {
    "orange": "dark_orange",
    "gray": "grey50",
    "blue+": "bright_blue",
    "red+": "bright_red",
    "green+": "bright_green",
    "cyan+": "bright_cyan",
    "magenta+": "bright_magenta",
}  # plotext's names, in Rich's words
TAB_KEYS = Binding.Group("tabs")
AUDIT_GAP = 120.0  # seconds between one run's end and the next one's start within one audit


def method_color(method: str) -> str:
    """A method's plot colour (its registry entry's own), kept when others are toggled: its
    line, band and legend."""
    return REGISTRY[method].color
