"""A tab is one module: a tests-only tab registered by a fixture is composed by the app,
built by the snapshot worker (off the UI thread, with the shown runs' results) and laid
out by its own show, with no other list of tabs to edit (ARCHITECTURE's worked example)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from textual.widgets import Static

from lbtui.analysis.calibrations import METHODS
from lbtui.backends.fake import FakeBackend
from lbtui.cli import build_parser
from lbtui.ui import tabs
from lbtui.ui.app import make_app
from lbtui.ui.tabs import Tab


class RunCountTab(Tab):
    """How many runs are shown and how many of them are finished."""

    id, title = "scratch-count", "Count"
    command = ("Count runs", "How many runs are shown")

    def __init__(self):
        self.built_on: list[str] = []

    def compose(self):
        yield Static(id="scratch-count-text")

    def build(self, ctx):
        self.built_on.append(threading.current_thread().name)
        done = sum(1 for rid in ctx.run_ids if ctx.cache.get(rid).record["status"] == "done")
        return (len(ctx.run_ids), done)

    def show(self, app, data, on):
        app.query_one("#scratch-count-text", Static).update(f"{data[0]} runs, {data[1]} done, {len(on)} methods")


@pytest.fixture
def scratch_tab(monkeypatch):
    tab = RunCountTab()
    monkeypatch.setitem(tabs.TABS, tab.id, tab)
    return tab


def test_a_registered_tab_is_composed_built_in_a_worker_and_shown(tmp_path, scratch_tab):
    args = build_parser().parse_args(["-t", "reviews", "-k", "0", "--limit", "8", "--db", str(tmp_path / "t.db")])
    app = make_app(args, backend_factory=lambda s, p: FakeBackend())

    async def scenario():
        async with app.run_test(size=(160, 50)) as pilot:
            await app.workers_done()
            await app.views_settled()
            app.action_tab(scratch_tab.id)
            await pilot.pause()
            await app.views_settled()
            assert app.active_tab() == scratch_tab.id
            text = str(app.query_one("#scratch-count-text", Static).content)
            assert text == f"1 runs, 1 done, {len(METHODS)} methods"
            await pilot.press("1")  # a toggle lays the same build out again, without a new one
            await pilot.pause()
            text = str(app.query_one("#scratch-count-text", Static).content)
            assert text == f"1 runs, 1 done, {len(METHODS) - 1} methods"
            names = [c.title for c in app.get_system_commands(app.screen)]
            assert "Count runs" in names

    asyncio.run(scenario())
    assert scratch_tab.built_on and threading.main_thread().name not in scratch_tab.built_on
