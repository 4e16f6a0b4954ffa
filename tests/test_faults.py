"""Audits survive faults and bad input, and lose nothing."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import smollm2_path
from lbtui.tasks import catalog
from lbtui.backends.fake import FakeBackend
from lbtui.cli import main
from lbtui.auditing.engine import Engine
from lbtui.results import report
from lbtui.errors import TaskError
from lbtui.models import ModelSpec
from lbtui.store import Store
from lbtui.tasks.taskfile import DataOptions, load_data_file, load_toml

GOOD_TASK = 'name = "t"\ndefinition = "Say a or b"\nlabels = ["a", "b"]\n[data]\nfile = "d.jsonl"\n'


def write_rows(path: Path, n: int = 150, extra: list[dict] | None = None) -> None:
    rows = [{"text": f"example {i}", "label": "a" if i % 3 else "b"} for i in range(n)] + (extra or [])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def bad_cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Each bad input of the issue: the arguments, and what the one line must say."""

    def task(name: str, body: str, rows=True, **kw) -> str:
        folder = tmp / name
        folder.mkdir()
        if rows:
            write_rows(folder / "d.jsonl", **kw)
        (folder / "t.toml").write_text(body)
        return str(folder / "t.toml")

    sni = tmp / "sni.json"
    sni.write_text(json.dumps({"Instances": [{"input": "x", "output": ["a"]}]}))
    latin = tmp / "latin.jsonl"
    latin.write_bytes(b'{"text": "caf\xe9", "label": "a"}\n')
    empty = task("empty", GOOD_TASK, rows=False)
    (tmp / "empty" / "d.jsonl").write_text("")
    notgguf = tmp / "m.gguf"
    notgguf.write_text("hello")
    readonly = tmp / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    return {
        "missing task file": (["-t", str(tmp / "nope.toml")], "task file not found"),
        "toml syntax": (["-t", task("syntax", 'name = "t"\nlabels = [')], "TOML syntax error"),
        "one label": (["-t", task("one", GOOD_TASK.replace('["a", "b"]', '["a"]'))], "at least 2 labels"),
        "duplicate labels": (["-t", task("dup", GOOD_TASK.replace('["a", "b"]', '["a", "a"]'))], "duplicate label"),
        "unknown label": (
            ["-t", task("unk", GOOD_TASK, extra=[{"text": "x", "label": "zzz"}])],
            "1 row(s) have a label not in the label set",
        ),
        "empty data": (["-t", empty], "no data rows"),
        "pool too small": (
            ["-t", task("small", GOOD_TASK + "[split]\npool = 20\n"), "-k", "4"],
            "4 shots need at least 36",
        ),
        "missing model": (["-t", "reviews", "-m", str(tmp / "missing.gguf")], "does not exist"),
        "not gguf": (["-t", "reviews", "-m", str(notgguf)], "is not a GGUF file"),
        "sni without definition": (["-t", str(sni)], "Definition: missing field"),
        "not utf-8": (["-t", str(latin)], "text is not UTF-8"),
        "unknown model": (["-t", "reviews", "-m", "no-such-model"], "known: gemma3-270m, smollm2-135m-instruct"),
        "unknown task": (["-t", "no-such-task"], "bundled: emotions"),
        "negative shots": (["-t", "reviews", "-k", "-2"], "--shots: must be >= 0"),
        "non-numeric shots": (["-t", "reviews", "-k", "a,b"], "--shots: 'a' is not a whole number"),
        "db in missing folder": (["-t", "reviews", "--db", str(tmp / "no" / "x.db")], "does not exist"),
        "db in read-only folder": (["-t", "reviews", "--db", str(readonly / "x.db")], "is not writable"),
    }


def test_each_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    db = tmp_path / "store.db"
    for name, (args, fragment) in bad_cases(tmp_path).items():
        argv = ["run", *args] if "--db" in args else ["run", *args, "--db", str(db)]
        if name == "db in read-only folder" and os.geteuid() == 0:
            continue  # root writes anywhere: test_a_read_only_folder_is_refused checks this case for root
        code = main(argv, backend_factory=lambda s, p: FakeBackend())
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert fragment in err, (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert not db.exists(), name


def test_prompt_too_long_and_shared_first_tokens_exit_2_with_nothing_written(tmp_path, capsys, fake_model):
    db = tmp_path / "s.db"
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "8", "--db", str(db)],
            backend_factory=lambda s, p: FakeBackend(n_ctx=80),
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "more than n_ctx 80" in err and "use fewer shots" in err and err.count("\n") == 1
    same_first = FakeBackend()
    words = same_first.tokenize  # both labels read as the same word
    same_first.tokenize = lambda text, bos=False, special=False: words(text.replace("negative", "positive"), bos=bos)
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--scoring", "first-token", "--db", str(db)],
            backend_factory=lambda s, p: same_first,
        )
        == 2
    )
    assert "share their first token" in capsys.readouterr().err
    assert Store(db).runs() == []


# --- crash safety with the real model ------------------------------------------------------


def lbtui(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lbtui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def count_scores(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT count(*) FROM scores").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def run_counts(db: Path) -> dict[int, tuple[str, int]]:
    """Each run's status and stored scores, read without taking any lock the writer needs."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            q = "SELECT r.id, r.status, count(s.idx) FROM runs r LEFT JOIN scores s ON s.run_id = r.id GROUP BY r.id"
            return {rid: (st, n) for rid, st, n in c.execute(q).fetchall()}
    except sqlite3.OperationalError:
        return {}


def kill_when(proc: subprocess.Popen, db: Path, ready, deadline: float = 600) -> dict[int, tuple[str, int]]:
    """SIGKILL the process as soon as ``ready(counts)`` holds (or it exits); the counts then.
    Past ``deadline`` seconds the process is killed and the test fails."""
    end = time.monotonic() + deadline
    while proc.poll() is None and not ready(run_counts(db)):
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"the condition never held within {deadline:g} s: {run_counts(db)}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return run_counts(db)


@pytest.mark.model
def test_sigkill_at_two_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Two runs of 135 and 139 inputs, 64 committed a call: killed after the first run's
    first committed call, then (resumed) after the second run's first committed call;
    each kill leaves a partial run. The resume ends where an uninterrupted run does."""
    args = ["run", "-t", "reviews", "-k", "0,4", "--limit", "80", "--scoring", "first-token", "--json"]
    killed = tmp_path / "killed.db"
    first = kill_when(lbtui(*args, "--db", str(killed)), killed, lambda c: c.get(1, ("", 0))[1] > 0)
    assert first[1][0] == "running" and 0 < first[1][1] < 135 and 2 not in first  # run 1 partial
    second = kill_when(lbtui(*args, "--db", str(killed)), killed, lambda c: c.get(2, ("", 0))[1] > 0)
    assert second[1] == ("done", 135) and second[2][0] == "running" and 0 < second[2][1] < 139  # run 2 partial
    with sqlite3.connect(killed) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    resumed = lbtui(*args, "--db", str(killed))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    clean = lbtui(*args, "--db", str(tmp_path / "clean.db"))
    clean_out, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err
    a, b = json.loads(out), json.loads(clean_out)
    for ra, rb in zip(a["runs"], b["runs"]):
        assert ra["metrics"] == rb["metrics"]  # the same numbers, not close ones: a score depends on its prompt only
    with sqlite3.connect(killed) as c1, sqlite3.connect(tmp_path / "clean.db") as c2:
        q = 'SELECT run_id, "set", idx, scores FROM scores ORDER BY 1, 2, 3'
        assert c1.execute(q).fetchall() == c2.execute(q).fetchall()


def test_the_heartbeat_is_written_with_every_committed_call(tmp_path, fake_model):
    """A live run's owner proves it is alive at each commit; a stale heartbeat is what lets
    another process take over a run whose owner died."""
    store = Store(tmp_path / "h.db")
    beats = []

    class Watch:
        def run_started(self, run):
            pass

        def advanced(self, run):
            beats.append((run.done, store.run(run.id)["heartbeat"]))

        def run_finished(self, run):
            pass

        def note(self, message, kind=None):
            pass

    engine = Engine(store, backend_factory=lambda s, p: FakeBackend(delay=0.002), progress=Watch())
    engine.execute(
        engine.plan([ModelSpec(name="fake", path=fake_model)], [catalog.load("reviews")], [4], [0], limit=24)
    )
    assert len(beats) >= 5 and [d for d, _ in beats] == sorted({d for d, _ in beats})  # one per committed call
    assert all(later > earlier for (_, earlier), (_, later) in zip(beats, beats[1:]))


# --- two writers -------------------------------------------------------------------------


def test_two_engines_on_one_store_never_score_the_same_input(tmp_path, fake_model):
    db = tmp_path / "shared.db"
    Store(db).close()
    spec = ModelSpec(name="fake", path=fake_model)
    task = catalog.load("emotions")
    requests = []
    results = {}

    class Slow(FakeBackend):
        def score(self, reqs, *, mode):
            requests.append(len(reqs))
            return super().score(reqs, mode=mode)

    def worker(name):
        store = Store(db)
        engine = Engine(store, backend_factory=lambda s, p: Slow(delay=0.01))
        results[name] = engine.execute(engine.plan([spec], [task], [4], [0], limit=30))
        store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    store = Store(db)
    (run,) = store.runs()
    assert results["a"] == results["b"] == [run["id"]]
    assert run["status"] == "done" and sum(requests) == run["n_items"] == store.count_scores(run["id"])
    assert report(store, run["id"]).metrics["looc"] is not None


# --- untrusted input ------------------------------------------------------------------------

toml_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
toml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    return '""'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=toml_text,
    fields=st.dictionaries(
        st.sampled_from(["name", "version", "definition", "labels", "data", "split", "prompt", "description"]),
        toml_values,
        max_size=6,
    ),
)
def test_task_loader_only_raises_task_error(tmp_path, raw, fields):
    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    write_rows(folder / "d.jsonl")
    for body in (raw, "\n".join(f"{k} = {_toml_value(v)}" for k, v in fields.items() if v is not None)):
        (folder / "t.toml").write_text(body, encoding="utf-8")
        try:
            load_toml(folder / "t.toml")
        except TaskError:
            pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=400),
    suffix=st.sampled_from([".jsonl", ".csv"]),
    rows=st.lists(st.dictionaries(st.sampled_from(["text", "label", "id"]), toml_values, max_size=3), max_size=30),
)
def test_data_loader_only_raises_task_error(tmp_path, data, suffix, rows):
    path = tmp_path / f"d{suffix}"
    for content in (data, "".join(json.dumps(r) + "\n" for r in rows).encode()):
        path.write_bytes(content)
        try:
            load_data_file(path, DataOptions(pool=2))
        except TaskError:
            pass


def test_store_from_an_earlier_version_gains_its_missing_columns(tmp_path):
    """A schema-1 store written before runs had owner/heartbeat/n_items columns opens and
    takes a run instead of failing with 'no such column'."""
    import sqlite3

    from lbtui.store import RUN_COLUMNS, Store

    db = tmp_path / "old.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    cols = ", ".join(c for c in RUN_COLUMNS if c not in ("owner", "heartbeat", "n_items"))
    conn.executescript(
        f"CREATE TABLE runs_old AS SELECT {cols} FROM runs; DROP TABLE runs; ALTER TABLE runs_old RENAME TO runs;"
        " UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    conn.close()
    store = Store(db)
    assert {"owner", "heartbeat", "n_items"} <= set(store.db["runs"].columns_dict)


def test_sigterm_marks_the_run_interrupted_exits_143_and_the_rerun_resumes_it(tmp_path):
    """SIGTERM (a service manager's stop) acts as ctrl+c: one line, exit 143, the run
    "interrupted"; the same command then finishes it with the scores of an uninterrupted run."""
    code = (
        "import sys\n"
        "from lbtui.backends.fake import FakeBackend\n"
        "from lbtui.cli import main\n"
        "sys.exit(main(sys.argv[1:], backend_factory=lambda s, p: FakeBackend(delay=0.02)))\n"
    )
    db = tmp_path / "t.db"
    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    args = ["run", "-m", str(model), "-t", "reviews", "-k", "4", "--limit", "40", "--json", "--db", str(db)]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    while count_scores(db) < 8 and proc.poll() is None:  # the first committed call
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        "lbtui: terminated (SIGTERM); what was scored is stored, run the same command to resume"
    )
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    assert 8 <= count_scores(db) < 119
    resumed = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    clean = subprocess.run(
        [sys.executable, "-c", code, *args[:-1], str(tmp_path / "clean.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0 and clean.returncode == 0, resumed.stderr + clean.stderr
    assert json.loads(resumed.stdout)["runs"][0]["metrics"] == json.loads(clean.stdout)["runs"][0]["metrics"]


# --- stores that cannot be used as asked ------------------------------------------------


def _hold_exclusive(db: Path, ready: threading.Event, release: threading.Event, wal: bool) -> None:
    c = sqlite3.connect(db, isolation_level=None)
    if not wal:
        c.execute("PRAGMA journal_mode = DELETE")
    c.execute("BEGIN EXCLUSIVE")
    ready.set()
    release.wait(60)
    c.execute("ROLLBACK")
    c.close()


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback"])
def test_a_locked_store_is_named_as_locked(tmp_path, capsys, monkeypatch, fake_model, wal):
    db = tmp_path / "l.db"
    Store(db).close()
    if not wal:
        sqlite3.connect(db).execute("PRAGMA journal_mode = DELETE").fetchone()
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_exclusive, args=(db, ready, release, wal))
    holder.start()
    ready.wait(10)
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **{**k, "timeout": 0.2}))
    try:
        code = main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "4", "--db", str(db)],
            backend_factory=lambda s, p: FakeBackend(),
        )
    finally:
        release.set()
        holder.join()
    err = capsys.readouterr().err
    assert code == 4 and f"--db: {db} is locked by another process" in err and err.count("\n") == 1, err


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path, capsys):
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE notes (x)")
    before = db.read_bytes()
    assert main(["run", "-t", "reviews", "--db", str(db)]) == 4
    assert "is a SQLite database of something else" in capsys.readouterr().err
    assert main(["report", "--db", str(db)]) == 4
    assert "is not an lbtui store" in capsys.readouterr().err
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()  # an empty file: SQLite makes it on connect
    assert main(["report", "--db", str(empty)]) == 4 and empty.stat().st_size == 0  # no lbtui tables written into it
    # what a reader sees while another command is creating the store: not "not a store"
    assert "holds no lbtui store yet" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_db_that_is_not_a_file(tmp_path, capsys):
    assert main(["run", "-t", "reviews", "--db", "/dev/null"]) == 2
    assert "--db: /dev/null is not a file" in capsys.readouterr().err
    assert not Path("/dev/null-journal").exists()
    assert main(["report", "--db", str(tmp_path)]) == 2
    assert f"--db: {tmp_path} is not a file" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["export", "--run", "1"], ["report"], ["diagnose", "--run", "1"], ["stability"]])
def test_commands_that_only_read_never_create_or_alter_a_store(tmp_path, capsys, command, fake_model):
    missing = tmp_path / "typo.db"
    assert main([*command, "--db", str(missing)]) == 2
    assert "no store at" in capsys.readouterr().err and not missing.exists()
    db = tmp_path / "s.db"
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "4", "--db", str(db)],
            backend_factory=lambda s, p: FakeBackend(),
        )
        == 0
    )
    capsys.readouterr()
    os.chmod(db, 0o444)  # root may still write; what matters is that lbtui does not try
    before = db.read_bytes()
    main([*command, "--db", str(db)])
    assert db.read_bytes() == before


def test_a_model_refused_at_load_leaves_no_new_store(tmp_path, capsys):
    truncated = tmp_path / "t.gguf"  # cut inside the weights: the header checks pass, llama.cpp refuses it
    whole = smollm2_path().read_bytes()
    truncated.write_bytes(whole[: len(whole) - 1_000_000])
    db = tmp_path / "new.db"
    assert main(["run", "-m", str(truncated), "-t", "reviews", "-k", "0", "--limit", "4", "--db", str(db)]) == 2
    assert "could not load" in capsys.readouterr().err and not db.exists()


def test_disk_full_is_one_line_and_the_resume_is_identical(tmp_path):
    """A file-size limit (ulimit -f) stops the store's writes part-way: one line, exit 4,
    the store sound; without the limit the same command finishes the run."""
    import resource

    code = (
        "import sys\n"
        "from lbtui.backends.fake import FakeBackend\n"
        "from lbtui.cli import main\n"
        "sys.exit(main(sys.argv[1:], backend_factory=lambda s, p: FakeBackend()))\n"
    )
    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    args = ["run", "-m", str(model), "-t", "reviews", "-k", "4", "--limit", "60", "--json"]
    db = tmp_path / "full.db"
    Store(db).close()
    limit = db.stat().st_size + 40_000  # room for the run's row and a few committed calls, not for all

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(
        [sys.executable, "-c", code, *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )
    errors = [line for line in full.stderr.splitlines() if line.startswith("lbtui: error:")]
    assert full.returncode == 4 and len(errors) == 1, full.stderr[-800:]
    assert "the disk is full or a file-size limit was reached" in errors[0] and "Traceback" not in full.stderr
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    resumed = subprocess.run(
        [sys.executable, "-c", code, *args, "--db", str(db)], capture_output=True, text=True, timeout=120
    )
    clean = subprocess.run(
        [sys.executable, "-c", code, *args, "--db", str(tmp_path / "clean.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0 and clean.returncode == 0, resumed.stderr[-800:]
    assert json.loads(resumed.stdout)["runs"][0]["metrics"] == json.loads(clean.stdout)["runs"][0]["metrics"]


def test_a_read_only_folder_is_refused(tmp_path, capsys, monkeypatch):
    """As an ordinary user the folder's mode decides; as root (CI) os.access says yes to
    everything, so the folder is made unwritable to lbtui's check instead."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: False if Path(p) == folder and mode & os.W_OK else real(p, mode)
        )
    assert main(["run", "-t", "reviews", "--db", str(folder / "x.db")]) == 2
    assert f"--db: folder {folder} is not writable" in capsys.readouterr().err
    assert not (folder / "x.db").exists()
