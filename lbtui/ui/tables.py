"""The app's two run tables, each with the keys its footer shows while it has focus."""

from __future__ import annotations

from textual.binding import Binding

from .rowtable import RowTable


class RunTable(RowTable):
    """The per-run table; its keys show in the footer while it has focus."""

    BINDINGS = [Binding("enter", "select", "Open run"), Binding("x", "app.remove_shown_run", "Remove run")]


class HistoryTable(RowTable):
    """Past runs; its keys show in the footer while it has focus."""

    BINDINGS = [
        Binding("enter", "select", "Open", show=False),  # the tab's hint says so; the footer is full
        Binding("a", "app.add_past_run", "Add"),
        Binding("A", "app.add_shown_past_runs", "Add all", show=False),  # A and X: the tab's hint names them
        Binding("x", "app.remove_past_run", "Remove"),
        Binding("X", "app.remove_shown_past_runs", "Remove all", show=False),
        Binding("u", "app.resume_past_run", "Resume"),
        Binding("s", "app.sort_history", "Sort"),
        Binding("slash", "app.filter_history", "Filter"),
    ]
