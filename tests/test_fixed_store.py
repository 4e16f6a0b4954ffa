"""The numbers the report and the app show over one fixed store, held to a copy written
before the read side's speed-ups: a change that only makes them faster must leave every
shown digit as it was. LBTUI_WRITE_GOLDEN=1 writes the copies again (only for a change
that is meant to move the numbers, with the reason in its commit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbtui.cli import main
from lbtui.ui.bench import write_store
from lbtui.ui.snapshot import SnapshotBuilder

GOLDEN = Path(__file__).parent / "data" / "golden"
RUNS = 36  # every k of the bench store's first tasks: 2 to 6 labels, k = 0, 4, 8, three seeds
# The methods the copies were written with: another registered method (the tests' scratch
# calibration) adds rows and may be recommended, so the copies do not apply to it.
WRITTEN_WITH = ("none", "cc", "dc", "bc", "looc", "proca", "sc")


@pytest.fixture(autouse=True)
def bundled_methods_only():
    from lbtui.analysis.calibrations import METHODS

    if tuple(METHODS) != WRITTEN_WITH:
        pytest.skip(f"the copies hold the numbers of {', '.join(WRITTEN_WITH)}; registered now: {', '.join(METHODS)}")


@pytest.fixture(scope="module")
def fixed_store(tmp_path_factory) -> tuple[Path, list[int]]:
    db = tmp_path_factory.mktemp("fixed") / "fixed.db"
    return db, write_store(db, RUNS, seed=0)


def _held(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LBTUI_WRITE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see this module's docstring"


def test_the_report_over_a_fixed_store_is_unchanged(fixed_store, capsys):
    db, _ = fixed_store
    assert main(["report", "--db", str(db), "--format", "md"]) == 0
    _held("report.md", capsys.readouterr().out)


def test_the_apps_tables_over_a_fixed_store_are_unchanged(fixed_store):
    db, ids = fixed_store
    views = SnapshotBuilder(db)
    try:
        lines = []
        for tab in ("results", "compare", "stability"):
            data = views.build(tab, ids, 0).data
            tables = {"results": lambda: (data.mean, data.per_run), "compare": lambda: (data.table,)}.get(
                tab, lambda: (data,)
            )()
            for table in tables:
                lines += [" | ".join(row) for row in table.rows.rows]
    finally:
        views.close()
    assert len(lines) > RUNS
    _held("app_tables.txt", "\n".join(lines) + "\n")
