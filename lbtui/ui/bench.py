"""`lbtui bench --app`: does the app stay instant over a store at the paper's scale?

It writes a throw-away store of N finished runs through the real Store (scores of
realistic shapes: 2-6 labels, 100 test, 32 bias, 3 content-free, 20 domain-context and k
leave-one-out inputs; k = 0, 4, 8 and seeds 0-2 over N / 9 tasks, so 2,511 runs are the
paper's 279 tasks), lets the finished runs' metrics be computed and stored as an audit
does when it ends, then opens the real app headless at 160x50 with every run shown and
measures, in one process:

- first_table_s: from starting the app to the per-run table drawn with every run;
- toggle_ms: key press to the per-run table drawn again, over 20 calibration toggles
  (median, max);
- ui_stall_ms_max: the worst lateness of a 10 ms timer while a fake audit streams
  scores into the same store;
- queries_per_refresh: SQL statements one refresh of the results tab runs (on the
  snapshot worker's connection, the only one a refresh uses).
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ..analysis.results import METHOD_VERSION
from ..backends.base import DEFAULT_SCORING
from ..store import LABELLED_SETS
from ..types import Example, Task


SIZE = (160, 50)
SHOTS = (0, 4, 8)
SEEDS = (0, 1, 2)
TEST, BIAS, CC, DC = 100, 32, 3, 20


def _task(i: int, k: int) -> Task:
    labels = tuple(f"label{j}" for j in range(k))
    pool = tuple(Example(f"t{i}-p{j}", f"pool text {j}", j % k) for j in range(96))
    test = tuple(Example(f"t{i}-x{j}", f"test text {j}", j % k) for j in range(TEST))
    digest = hashlib.sha256(f"bench-app-task-{i}-{k}".encode()).hexdigest()
    return Task(f"task{i:03d}", "1", "Classify the input.", labels, pool, test, f"bench:task{i:03d}", digest)


def write_store(path: Path, n_runs: int, *, seed: int = 0, note=lambda m: None) -> list[int]:
    """N finished runs with scores, through the real Store, and their metrics stored as a
    finished audit leaves them (analysis.analyse_finished)."""
    from ..report.views import analyse_finished
    from ..store import Store

    store = Store(path)
    g = np.random.default_rng(seed)
    model_id = store.upsert_model(name="bench-model", path=None, sha256="0" * 64, metadata=None)
    ids: list[int] = []
    i = 0
    t0 = time.perf_counter()
    while len(ids) < n_runs:
        k = 2 + i % 5
        task = _task(i, k)
        task_id = store.upsert_task(task)
        bias = g.normal(0, 1, k)  # the model's preference for some labels on this task
        for shots in SHOTS:
            for s in SEEDS:
                if len(ids) == n_runs:
                    break
                sizes = {"test": TEST, "bias": BIAS, "cc": CC, "dc": DC, "looc": shots if shots >= 2 else 0}
                rid = store.create_run(_run_record(f"bench-{i}-{shots}-{s}", model_id, task_id, task, shots, s, sizes))
                rows = _scored_rows(g, sizes, k, bias, shots)
                store.add_scores(rid, rows)
                store.update_run(rid, status="done", finished=time.time())
                analyse_finished(store, rid)
                ids.append(rid)
                if len(ids) % 100 == 0:
                    note(f"{len(ids)}/{n_runs} runs written and analysed ({time.perf_counter() - t0:.0f} s)")
        i += 1
    store.close()
    return ids


def _run_record(key: str, model_id: int, task_id: int, task: Task, shots: int, seed: int, sizes: dict) -> dict:
    """A bench run as the engine records one (current method version, default scoring)."""
    return {
        "key": key,
        "model_id": model_id,
        "task_id": task_id,
        "model_name": "bench-model",
        "task_name": task.name,
        "shots": shots,
        "seed": seed,
        "demo_order": 0,
        "scoring": DEFAULT_SCORING,
        "prompt_format": {},
        "prompt_prefix": "",
        "limit_": TEST,
        "n_bias": BIAS,
        "chat_template": 0,
        "labels": list(task.labels),
        "demo_ids": [],
        "params": {},
        "n_items": sum(sizes.values()),
        "method_version": METHOD_VERSION,
        "label_ids": [],
    }


def _scored_rows(g: np.random.Generator, sizes: dict, k: int, bias: np.ndarray, shots: int) -> list[dict]:
    """Every set's rows: log-probabilities leaning to the task's biased labels and, more
    with more shots, to the gold one."""
    rows = []
    for name, n in sizes.items():
        gold = np.arange(n) % k
        scores = g.normal(-2, 1, (n, k)) + bias + 1.5 * np.eye(k)[gold] * (shots + 2) / 10
        scores = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)  # log-probabilities, as stored
        rows += [
            {
                "set": name,
                "idx": j,
                "example_id": f"{name}-{j}",
                "text": f"{name} {j}",
                "gold": int(gold[j]) if name in LABELLED_SETS else None,
                "scores": scores[j],
            }
            for j in range(n)
        ]
    return rows


async def _measure(db: Path, run_ids: list[int]) -> dict:
    from ..backends.fake import FakeBackend
    from .app import make_app

    statements = [0]
    t_start = time.perf_counter()
    app = make_app(db=db, backend_factory=lambda s, p: FakeBackend(delay=0.002))
    app.sql_trace = lambda sql: statements.__setitem__(0, statements[0] + 1)  # the snapshot worker's connection
    async with app.run_test(size=SIZE) as pilot:
        app.show_runs(run_ids)
        table = app.query_one("#per-run")
        want = len(run_ids) * len(app.methods())
        while table.row_count < want or not table.drawn:
            await pilot.pause(0.005)
        first = time.perf_counter() - t_start
        # one refresh's SQL statements: a snapshot of the results tab, every run shown
        await app.views_settled()
        before = statements[0]
        app.dirty = True
        app.redraw()
        await app.views_settled()
        per_refresh = statements[0] - before
        # toggles: key press to the table drawn again with the other rows
        toggles = []
        for _ in range(20):
            drawn, t = table.drawn, time.perf_counter()
            app.simulate_key("2")  # as the terminal delivers it (the pilot's press also waits for idle)
            while table.drawn == drawn:
                await asyncio.sleep(0.001)
            toggles.append((time.perf_counter() - t) * 1000)
        # the UI thread's worst stall while a fake audit streams scores into the store
        late = [0.0]
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            late[0] = max(late[0], (now - last[0]) * 1000 - 10)
            last[0] = now

        app.query_one("#task-path").value = "reviews"
        app.query_one("#shots").value = "0,4"
        app.query_one("#limit").value = "60"
        timer = app.set_interval(0.01, tick)
        await pilot.press("ctrl+r")
        await app.workers_done()
        await app.views_settled()
        timer.stop()  # the app's exit (freeing what it held) is not a stall while scoring
        stall = late[0]
    return {
        "runs": len(run_ids),
        "first_table_s": round(first, 3),
        "toggle_ms": {"median": round(statistics.median(toggles), 1), "max": round(max(toggles), 1)},
        "ui_stall_ms_max": round(stall, 1),
        "queries_per_refresh": per_refresh,
    }


def run(n_runs: int = 2511, *, note=lambda m: None, folder: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        db = Path(tmp) / "bench-app.db"
        t0 = time.perf_counter()
        ids = write_store(db, n_runs, note=note)
        note(f"store written: {n_runs} runs in {time.perf_counter() - t0:.0f} s; opening the app")
        out = asyncio.run(_measure(db, ids))
        out["store_mb"] = round(db.stat().st_size / 2**20, 1)
        return out
