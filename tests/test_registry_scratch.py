"""No second lists (#25): with a tests-only calibration registered after the bundled ones
(tests/scratch_calibration.py, registered by conftest.py under LBTUI_SCRATCH_CALIBRATION),
the suite's tests that need no real model pass unchanged. A table, plot colour, count or
test that keeps its own list of methods fails here."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("LBTUI_SCRATCH_CALIBRATION")), reason="this is the run it starts")
def test_the_suite_passes_with_a_scratch_calibration_registered(tmp_path):
    env = {**os.environ, "LBTUI_SCRATCH_CALIBRATION": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-m",
            "not model",
            "--basetemp",
            str(tmp_path / "t"),
            "tests",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    tail = "\n".join(done.stdout.splitlines()[-30:])
    assert done.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail


def test_the_scratch_method_is_registered_when_asked():
    """The run above means something only if the method is really there: a process with
    the variable set lists it after the bundled ones, with its own colour."""
    code = (
        "import sys; sys.path.insert(0, 'tests'); import conftest\n"
        "from lbtui.analysis.calibrations import METHODS, REGISTRY\n"
        "print(','.join(METHODS), REGISTRY['scratch'].color)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LBTUI_SCRATCH_CALIBRATION": "1"},
    )
    assert out.stdout.split() == ["none,cc,dc,bc,looc,proca,sc,scratch", "gray"], out.stderr
