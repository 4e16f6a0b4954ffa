"""The docs' shell examples that run in under a minute on the bundled model are run here
and their printed output compared with the page, line for line (#28): a page that shows
output the code no longer prints fails."""

import re
from pathlib import Path

import pytest

from lbtui.cli import main

ROOT = Path(__file__).resolve().parent.parent


def example(page: str, command: str) -> list[str]:
    """The output lines a page shows under ``$ COMMAND`` (up to the code block's end),
    without the lines that say in words what the page left out."""
    text = (ROOT / page).read_text()
    block = re.search(r"```\n\$ " + re.escape(command) + r"[^\n]*\n(.*?)```", text, re.S)
    assert block, f"{page} has no example of {command!r}"
    return [line.rstrip() for line in block.group(1).splitlines() if not line.startswith("(")]


@pytest.mark.model
@pytest.mark.slow
def test_the_readmes_run_example_prints_what_the_readme_shows(capsys):
    command = "lbtui run -t reviews -k 0,4 --limit 40 --scoring first-token"
    shown = example("README.md", command)
    assert main(command.split()[1:]) == 0
    out, err = capsys.readouterr()
    printed = [line.rstrip() for line in out.splitlines()]
    table = shown[: shown.index(next(s for s in shown if s.startswith("looc:")))]
    assert printed[: len(table)] == table  # the per-run table, verbatim
    assert "Mean across tasks and seeds" in printed[len(table)]  # the second table the page names
    notes = [s for s in shown if s.startswith(("looc:", "sc:"))]
    said = " ".join(err.split())  # stderr wraps at its console's width
    assert notes and all(line in said for line in notes), err
