"""One tab of the app: the widgets it composes, what it builds in the snapshot worker and
how it lays that out on the UI thread. The app and the snapshot worker iterate the
registry (tabs/__init__.py) and never name a tab."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult

if TYPE_CHECKING:  # types only: the builder's cache and store
    from ...report.views import ResultCache
    from ...store import Store


@dataclass
class BuildContext:
    """What a tab's build reads, in the snapshot worker: the store, the shown runs' results
    (refreshed before the build when the tab is ``analysed``), the Past runs filter and
    sort, and a memo the tab keeps between its builds (e.g. formatted rows per run)."""

    store: "Store"
    cache: "ResultCache"
    run_ids: list[int]
    history: tuple[str, int] = ("", 0)
    memo: dict = field(default_factory=dict)


class Tab:
    """A tab. A subclass sets the class attributes and overrides the three methods."""

    id: str = ""  # the TabPane's id: the name snapshots, sessions and ``action_tab`` use
    title: str = ""  # its label
    key: str = ""  # its function key ("" for none)
    focus: str | None = None  # the widget whose keys work as soon as the tab opens
    command: tuple[str, str] | None = None  # its command-palette entry (name, help)
    actions: tuple[str, ...] = ()  # app actions that mean something only on this tab (footer)
    analysed: bool = True  # its build reads the shown runs' results (not only the store)

    def compose(self) -> ComposeResult:
        """The widgets inside the tab's pane, composed once with the app."""
        raise NotImplementedError

    def build(self, ctx: BuildContext) -> Any:
        """What the tab shows, from the store, in the snapshot worker: never on the UI
        thread. Hold text and numbers only; widgets are the UI thread's."""
        raise NotImplementedError

    def show(self, app, data: Any, on: set[str]) -> None:
        """Lay ``data`` (this tab's newest build) out under the calibrations toggled ``on``,
        on the UI thread: no store read, no fit."""
        raise NotImplementedError
