"""docs/CLASSIFY.md's worked example runs as written, on the real model, in an empty
folder: each `$ command` of its shell blocks, then its Python block, and the printed
output is held to the page's (line ends stripped, every number to 3 decimals; a block
may show only the first lines of a longer output, as the page says where it does)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "CLASSIFY.md"
NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def steps(body: str) -> list[tuple[str, list[str]]]:
    """A shell block's commands, each with the output lines the page shows for it."""
    out: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def normal(line: str) -> str:
    return NUMBER.sub(lambda m: f"{float(m.group(0)):.3f}", line.rstrip())


def same(shown: list[str], printed: str, what: str) -> None:
    """The page's lines printed (each number to 3 decimals; masked on a llama.cpp build
    other than the page's: conftest.comparable)."""
    from conftest import comparable

    got = comparable([normal(x) for x in printed.splitlines()])
    want = comparable([normal(x) for x in shown])
    assert got[: len(want)] == want, (
        f"{what}: the page shows\n" + "\n".join(want) + "\nbut it printed\n" + "\n".join(got)
    )


@pytest.mark.model
@pytest.mark.slow
def test_the_worked_example_runs_as_the_page_shows(tmp_path):
    from tests.conftest import smollm2_path

    if not smollm2_path().is_file():
        pytest.skip("SmolLM2 (the models extra) is not installed")
    env = {**os.environ, "COLUMNS": "160", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    found = blocks(DOC.read_text(encoding="utf-8"))
    ran = 0
    for i, (lang, body) in enumerate(found):
        if lang == "python":
            (tmp_path / "example.py").write_text(body)
            done = subprocess.run(
                [sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stderr
            same(found[i + 1][1].splitlines(), done.stdout, "the Python block")
            ran += 1
            continue
        for command, shown in steps(body):
            if command.startswith("cat "):  # the page shows a file: make it
                (tmp_path / command.split()[1]).write_text("\n".join(shown) + "\n")
                continue
            done = subprocess.run(
                command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, f"{command}: {done.stderr}"
            same(shown, done.stdout, command)
            ran += 1
    assert ran == 4  # the audit, two classifications, the Python block
    assert (tmp_path / "tickets-dc.json").is_file()
