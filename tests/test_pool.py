"""A report's bootstrap over worker processes (results/pool.py, `lbtui report --jobs`): the
same rows and groups as in one process, errors raised there reach the caller whole, and
the CLI's option is checked."""

from __future__ import annotations

import math
import os
import pickle
import platform
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lbtui import errors
from lbtui.cli import main
from lbtui.report import summary
from lbtui.results import Results, pool
from lbtui.store import Store
from lbtui.ui.bench import write_store


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    db = tmp_path_factory.mktemp("pool") / "pool.db"
    write_store(db, 27, seed=1)  # three tasks, k = 0, 4, 8, three seeds
    return db


def _same(a, b) -> bool:
    """Field by field, NaN equal to NaN."""
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if not (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))):
            return False
    return True


def test_worker_processes_give_the_rows_and_groups_of_one_process(store_path):
    store = Store(store_path, readonly=True)
    runs = store.runs(status="done")
    alone = summary.summarize(Results(store), runs, resamples=50, against="bc")
    spread = summary.summarize(Results(store), runs, resamples=50, against="bc", jobs=2)
    assert len({r.task for r in alone.rows}) == 4  # three tasks and their mean: several chunks
    assert len(spread.rows) == len(alone.rows) and len(spread.groups) == len(alone.groups)
    assert all(_same(a, b) for a, b in zip(alone.rows, spread.rows))
    assert all(_same(a, b) for a, b in zip(alone.groups, spread.groups))


def test_an_error_in_a_worker_is_raised_in_the_caller_as_it_was_raised_there(tmp_path):
    db = tmp_path / "bad.db"
    ids = write_store(db, 18, seed=2)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE scores SET scores = 'garbage' WHERE run_id = ? AND \"set\" = 'test' AND idx = 2", [ids[-1]])
    conn.commit()
    conn.close()
    store = Store(db, readonly=True)
    runs = store.runs(status="done")
    with pytest.raises(errors.StoreError) as alone:
        summary.summarize(Results(store), runs, resamples=20)
    with pytest.raises(errors.StoreError) as spread:
        summary.summarize(Results(store), runs, resamples=20, jobs=2)
    assert str(spread.value) == str(alone.value) and f"run {ids[-1]}" in str(alone.value)
    assert spread.value.exit_code == errors.EXIT_STORE


@pytest.mark.parametrize(
    "err",
    [
        errors.UserError("--jobs", "must be at least 1"),
        errors.TaskError("tasks/x.toml: labels", "is empty"),
        errors.StoreError("run 3: test row 2 is not a list of numbers"),
        errors.RunError("no run 9 in lbtui.db"),
    ],
)
def test_lbtui_errors_survive_pickling_whole(err):
    """What a worker process sends back: the class, the line and the option or file named."""
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)
    assert (back.where, back.message, back.exit_code) == (err.where, err.message, err.exit_code)


def test_cli_jobs_gives_the_same_report_and_is_checked(store_path, capsys):
    assert main(["report", "--db", str(store_path), "--resamples", "30", "--jobs", "1"]) == 0
    one = capsys.readouterr().out
    assert main(["report", "--db", str(store_path), "--resamples", "30", "--jobs", "2"]) == 0
    assert capsys.readouterr().out == one and "| none |" in one
    assert main(["report", "--db", str(store_path), "--jobs", "0"]) == errors.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs" in err[0] and "at least 1" in err[0]


def test_workers_are_used_for_large_reports_only():
    assert pool.auto_jobs(pool.MIN_RUNS - 1) == 1
    assert pool.auto_jobs(pool.MIN_RUNS) == pool.cpus() >= 1


def test_a_worker_adopts_the_methods_its_caller_registered(monkeypatch):
    """calibrations.adopt registers what the worker lacks, in order, and skips what it has."""
    from lbtui.analysis import calibrations

    got = []
    monkeypatch.setattr(calibrations, "register", got.append)
    have = calibrations.REGISTRY["none"]
    new = calibrations.Method("extra_one", "extra", lambda rs, e: None, "gray")
    calibrations.adopt([have, new])
    assert got == [new]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the processes' state from /proc")
def test_ctrl_c_stops_the_workers_and_says_one_line(store_path):
    """ctrl+c reaches every process of the terminal's group: the workers ignore it, the
    command stops them and exits 130 with one line, and no worker is left running."""
    import os
    import signal
    import subprocess
    import sys
    import time

    argv = [sys.executable, "-m", "lbtui", "report", "--db", str(store_path), "--resamples", "100000", "--jobs", "2"]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not _workers_ready(proc.pid):
        assert time.monotonic() < deadline and proc.poll() is None, "no worker started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == errors.EXIT_INTERRUPTED
    assert err.strip().splitlines() == ["lbtui: interrupted"]
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid):
        assert time.monotonic() < deadline, "a worker outlived the command"
        time.sleep(0.1)


def _workers_ready(pid: int) -> bool:
    """Two workers and multiprocessing's resource tracker run, each ignoring SIGINT (a
    worker's first step; before it, the interpreter is still starting)."""
    kids = _children(pid)
    return len(kids) >= 3 and all(_ignores_sigint(k) for k in kids)


def _ignores_sigint(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(mask & (1 << (2 - 1)))  # SIGINT is signal 2


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _group_alive(pgid: int) -> bool:
    import os

    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _churn() -> int:
    """Page faults of a batch's arrays allocated and freed five more times after the
    first, as a report worker allocates and frees them."""
    import resource

    import numpy as np

    faults = []
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones(14 << 17) for _ in range(3)]  # 3 x 14 MB
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del arrays
    return sum(faults[1:])


def _churn_in_worker(results, chunk) -> int:
    return _churn()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_a_worker_reuses_freed_arrays_memory_instead_of_faulting_in_fresh_pages(store_path):
    code = "import test_pool; print(test_pool._churn())"
    alone = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    by_default = int(alone.stdout)
    assert by_default > 1000  # glibc gave the freed 42 MB back and faults fresh pages in each time
    (in_worker,) = pool.map_chunks(Store(store_path, readonly=True), _churn_in_worker, [None], jobs=1)
    assert in_worker < by_default / 20
