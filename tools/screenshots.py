"""Writes SVG screenshots of the app's main screens to docs/screenshots/, from a real
audit with the default model (SmolLM2):  python tools/screenshots.py [--db PATH]

Two audits, as a practitioner would run them: reviews and tickets at k = 0, 4, 8; then
reviews again with the label words bad,good and two orderings of its demonstrations
(for Compare and Stability)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from textual.widgets import Input

from lbtui.cli import build_parser
from lbtui.ui.app import make_app
from lbtui.ui.rowtable import RowTable

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


async def settle(app, pilot, seconds: float = 1.0) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause(seconds)
    await app.views_settled()


async def main(db: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    args = build_parser().parse_args(["-t", "reviews,tickets", "-k", "0,4,8", "--limit", "40", "--db", str(db)])
    app = make_app(args)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot, 3.0)
        app.save_screenshot("results.svg", str(OUT))
        await pilot.press("f3")
        await settle(app, pilot)
        app.save_screenshot("plots.svg", str(OUT))
        await pilot.press("f2")
        table = app.query_one("#per-run", RowTable)
        table.focus()
        table.cursor = table.row_count - 5
        await pilot.press("enter")
        await pilot.pause(0.5)
        await pilot.press("4")
        await pilot.pause(0.5)
        app.save_screenshot("run-detail.svg", str(OUT))
        await pilot.press("d")
        await pilot.pause(0.5)
        app.save_screenshot("diagnosis.svg", str(OUT))
        await pilot.press("escape", "escape")
        # the second audit: label words and orderings of the same demonstrations
        app.query_one("#shots", Input).value = "4"
        app.query_one("#orders", Input).value = "2"
        app.query_one("#verbalizers", Input).value = "bad,good"
        app.query_one("#limit", Input).value = "40"
        await pilot.press("ctrl+r")
        await settle(app, pilot, 2.0)
        await pilot.press("f5")
        await settle(app, pilot)
        app.save_screenshot("compare.svg", str(OUT))
        await pilot.press("f6")
        await settle(app, pilot)
        app.save_screenshot("stability.svg", str(OUT))
        await pilot.press("f4")
        await settle(app, pilot)
        app.save_screenshot("past-runs.svg", str(OUT))


if __name__ == "__main__":
    db = Path(sys.argv[sys.argv.index("--db") + 1]) if "--db" in sys.argv else Path(tempfile.mkdtemp()) / "shots.db"
    asyncio.run(main(db))
    print(f"wrote {OUT}")
