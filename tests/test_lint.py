"""The linter's rules (pyproject.toml [tool.ruff]) hold for the package and the tests."""

import shutil
import subprocess

import pytest

from conftest import ROOT

CODE = ["lbtui", "tests", "benchmarks", "tools", "setup.py"]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(ROOT / ".venv" / "bin")) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' brings it)")
    got = subprocess.run(
        [ruff, "check", "lbtui", "tests", "benchmarks", "tools"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-1000:]
