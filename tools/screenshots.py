"""Writes SVG screenshots of the app's main screens to docs/screenshots/, from a real
audit with the default model (SmolLM2):  python tools/screenshots.py [--db PATH]"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from textual.widgets import DataTable

from lbtui.cli import build_parser
from lbtui.ui.app import make_app

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


async def main(db: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    args = build_parser().parse_args(["-t", "reviews,tickets", "-k", "0,4,8", "--limit", "40", "--db", str(db)])
    app = make_app(args)
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(1.0)
        app.save_screenshot("results.svg", str(OUT))
        await pilot.press("f3")
        await pilot.pause(1.0)
        app.save_screenshot("plots.svg", str(OUT))
        await pilot.press("f2")
        table = app.query_one("#per-run", DataTable)
        table.focus()
        table.move_cursor(row=table.row_count - 5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        await pilot.press("4")
        await pilot.pause(0.5)
        app.save_screenshot("run-detail.svg", str(OUT))
        await pilot.press("d")
        await pilot.pause(0.5)
        app.save_screenshot("diagnosis.svg", str(OUT))
        await pilot.press("escape", "escape", "f4")
        await pilot.pause(0.5)
        app.save_screenshot("past-runs.svg", str(OUT))


if __name__ == "__main__":
    db = Path(sys.argv[sys.argv.index("--db") + 1]) if "--db" in sys.argv else Path(tempfile.mkdtemp()) / "shots.db"
    asyncio.run(main(db))
    print(f"wrote {OUT}")
