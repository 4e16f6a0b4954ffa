"""SIGTERM to the app (a service manager's stop, `kill`) quits it as ctrl+q does: the
running audit stops after its current inputs, its run is left cancelled and resumable,
and lbtui exits 143 saying so. Before, the app died with its run left `running`."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lbtui.errors import StoreError
from lbtui.store import Store

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
from lbtui.backends.fake import FakeBackend
from lbtui.cli import app_exit, build_parser
from lbtui.ui.app import make_app

args = build_parser().parse_args(["-t", "reviews", "-k", "4", "--limit", "40", "--db", sys.argv[1]])
app = make_app(args, backend_factory=lambda s, p: FakeBackend(delay=0.05))
app.run(headless=True)
sys.exit(app_exit(app))
"""


def _has_scores(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        store = Store(db, readonly=True)
    except StoreError as e:  # the app has made the file but not yet its tables
        if "holds no lbtui store yet" in str(e):
            return False
        raise
    return any(store.count_scores(r["id"]) for r in store.runs())


def test_sigterm_quits_the_app_and_leaves_its_run_cancelled_and_resumable(tmp_path):
    db = tmp_path / "t.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(db)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the audit has stored some scores
            if _has_scores(db):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            raise AssertionError("the app stored no score in 120 s")
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        "lbtui: terminated (SIGTERM); what was scored is stored, run the same command to resume"
    )
    (run,) = Store(db, readonly=True).runs()
    assert run["status"] == "cancelled" and 0 < Store(db, readonly=True).count_scores(run["id"]) < run["n_items"]
