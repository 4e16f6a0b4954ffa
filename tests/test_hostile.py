"""Hostile configs, stores and servers, round two (issue 24): each case from its repro."""

from __future__ import annotations

import http.server
import io
import json
import os
import threading
import time

import pytest

from lbtui import store as store_mod
from lbtui.cli import main
from lbtui.store import Store


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --- item 2: --db is a path, never a URI ------------------------------------------------


def test_a_db_that_reads_like_a_uri_is_a_file_of_that_name(tmp_path, fake_model, fake_factory, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "4", "--json"]
    assert main([*args, "--db", "file:v.db"], backend_factory=fake_factory) == 0
    assert (tmp_path / "file:v.db").is_file() and not (tmp_path / "v.db").exists()
    capsys.readouterr()
    assert main(["report", "--db", "file:v.db", "--json", "--resamples", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 1
    assert main([*args, "--db", "file:u.db?mode=memory"], backend_factory=fake_factory) == 0
    assert (tmp_path / "file:u.db?mode=memory").is_file()  # stored, not in memory


# --- item 3: a run left running by a pid that now belongs to someone else ------------------


def test_a_reused_pid_a_reboot_or_a_silent_hour_frees_a_run():
    me = os.getpid()
    live = store_mod.new_owner()
    assert store_mod.owner_alive(live, time.time())
    host, pid, nonce, boot, started = live.split(":")
    other_start = f"{host}:{pid}:{nonce}:{boot}:{int(started) + 1}"  # the pid, but a process started later
    assert not store_mod.owner_alive(other_start, time.time())
    assert not store_mod.owner_alive(f"{host}:{pid}:{nonce}:000000000000:{started}", time.time())  # another boot
    assert not store_mod.owner_alive(live, time.time() - 3 * 86400)  # three days without a commit
    assert store_mod.owner_alive(f"{host}:{me}:{nonce}", time.time())  # an owner written by an older lbtui


def test_waiting_is_said_on_a_stderr_that_is_not_a_terminal(capsys):
    from lbtui.report.render import ProgressBar

    with ProgressBar() as bar:
        bar.note("a note for people watching")
        bar.waiting("run 3 is being scored by another process; waiting for it to finish")
    err = capsys.readouterr().err
    assert "waiting for it to finish" in err and "a note for people" not in err


# --- item 4 and 13: servers that drip, flood or redirect ------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "drip"

    def log_message(self, *a):
        pass

    def _answer(self):
        if self.mode == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        elif self.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1:1/x")
            self.end_headers()
        elif self.mode == "list":
            body = b"[1, 2]"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def stand_in():
    servers = []

    def start(mode):
        handler = type("H", (_Handler,), {"mode": mode})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()


class _Counted:
    """A response whose reads are counted (bytes per read)."""

    def __init__(self, resp, got):
        self.resp, self.got = resp, got

    def read1(self, n):
        chunk = self.resp.read1(n)
        self.got.append(len(chunk))
        return chunk


def test_a_slow_drip_server_cannot_hold_a_request_past_its_timeout(stand_in):
    from lbtui.backends.http import read_answer
    import urllib.request

    url = stand_in("drip")  # 1,000 bytes at 5 a second: 200 s, were only each read timed
    got = []
    with pytest.raises(TimeoutError, match="within 1 s"):
        with urllib.request.urlopen(url + "/props", timeout=1) as resp:
            read_answer(_Counted(resp, got), deadline=time.monotonic() + 1, cap=1 << 20, timeout=1)
    assert 0 < sum(got) < 1000  # the deadline stopped it part way, not the end of the answer


def test_an_answer_past_its_cap_is_refused_before_it_is_all_read():
    from lbtui.backends.http import read_answer

    class Endless(io.RawIOBase):
        def read1(self, n):
            return b"x" * n

    with pytest.raises(ValueError, match="passed"):
        read_answer(Endless(), deadline=time.monotonic() + 10, cap=1 << 20, timeout=10)


def test_a_redirect_to_another_origin_is_not_followed(stand_in):
    from lbtui.backends.http import OPENER
    import urllib.error

    url = stand_in("redirect")
    with pytest.raises(urllib.error.HTTPError, match="another origin"):
        OPENER.open(url + "/v1/models", timeout=2)


# --- item 7: ids past what SQLite holds ----------------------------------------------------


@pytest.mark.parametrize("command", ["export", "report", "diagnose", "stability", "classify"])
def test_a_run_id_past_sqlite_s_range_is_a_usage_error(tmp_path, capsys, command):
    Store(tmp_path / "s.db").close()
    assert main([command, "--run", "99999999999999999999", "--db", str(tmp_path / "s.db")]) == 2
    assert "not a run id" in one_line(capsys)


# --- item 12: terminal and spreadsheet injection ---------------------------------------------


def test_a_note_with_escape_sequences_never_reaches_the_terminal(isolated_home, capsys):
    (isolated_home / "models.toml").write_text(
        '[models.evil]\npath = "x.gguf"\nnote = "a\\u001b]0;pwned\\u0007b\\u001b[2J"\n'
    )
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "a]0;pwnedb[2J" in out.replace("\n", "").replace(" ", "")


def test_exported_csv_cells_never_start_a_formula_and_a_partial_run_is_said(tmp_path, fake_model, fake_factory, capsys):
    db = tmp_path / "e.db"
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "4", "--db", str(db), "--json"],
            backend_factory=fake_factory,
        )
        == 0
    )
    s = Store(db)
    s.db.execute("UPDATE scores SET example_id = '=HYPERLINK(\"x\")' WHERE idx = 0 AND \"set\" = 'test'")
    s.db.execute("DELETE FROM scores WHERE \"set\" = 'bias'")
    s.update_run(1, status="cancelled")
    s.close()
    capsys.readouterr()
    assert main(["export", "--run", "1", "--db", str(db), "--format", "csv"]) == 0
    cap = capsys.readouterr()
    assert "'=HYPERLINK" in cap.out and "\n=HYPERLINK" not in cap.out and ",=HYPERLINK" not in cap.out
    assert "run 1 is cancelled" in cap.err and "only those are printed" in cap.err


# --- item 6: models.toml numbers in range ---------------------------------------------------


@pytest.mark.parametrize(
    "line,key",
    [
        ("timeout = -1", "timeout"),
        ("timeout = inf", "timeout"),
        ("timeout = nan", "timeout"),
        ("timeout = 1e308", "timeout"),
        ("timeout = 0", "timeout"),
        ("per_server = 1000000000", "per_server"),
        ("per_server = 0", "per_server"),
        ("per_server = -5", "per_server"),
        ("max_in_flight = 0", "max_in_flight"),
        ("retries = -1", "retries"),
    ],
)
def test_server_numbers_out_of_range_are_one_line(tmp_path, line, key):
    from lbtui import models
    from lbtui.errors import ModelError

    (tmp_path / "models.toml").write_text(f'[models.s]\nserver = "http://127.0.0.1:1"\n{line}\n')
    with pytest.raises(ModelError) as e:
        models.parse(tmp_path / "models.toml")
    assert e.value.where.endswith(f"models.s.{key}") and "must be" in e.value.message


@pytest.mark.parametrize(
    "line,key",
    [
        ("n_threads = -3", "n_threads"),
        ("n_threads = 100000", "n_threads"),
        ("n_gpu_layers = -2", "n_gpu_layers"),
        ('batching = "fast"', "batching"),
    ],
)
def test_local_numbers_out_of_range_are_one_line(tmp_path, line, key):
    from lbtui import models
    from lbtui.errors import ModelError

    (tmp_path / "models.toml").write_text(f'[models.m]\npath = "m.gguf"\n{line}\n')
    with pytest.raises(ModelError) as e:
        models.parse(tmp_path / "models.toml")
    assert e.value.where.endswith(f"models.m.{key}")


# --- item 14: the Python API validates as the CLI does ----------------------------------------


@pytest.mark.parametrize(
    "kwargs,option",
    [
        ({"shots": "0,4"}, "--shots"),
        ({"shots": 4.0}, "--shots"),
        ({"shots": []}, "--shots"),
        ({"models": 123}, "--model"),
        ({"tasks": 5}, "--task"),
        ({"seeds": 2.5}, "--seeds"),
        ({"orders": "x"}, "--orders"),
        ({"label_words": 5}, "--verbalizers"),
        ({"db": 123}, "--db"),
        ({"limit": "10"}, "--limit"),
    ],
)
def test_wrong_types_in_the_python_api_are_user_errors_naming_the_option(tmp_path, kwargs, option):
    import lbtui
    from lbtui.errors import UserError

    with pytest.raises(UserError) as e:
        lbtui.audit(**{"tasks": "reviews", "db": tmp_path / "x.db", **kwargs})
    assert e.value.where == option
    assert not (tmp_path / "x.db").exists()


def test_the_python_api_creates_no_folders_for_its_store(tmp_path):
    import lbtui
    from lbtui.errors import UserError

    with pytest.raises(UserError) as e:
        lbtui.audit(tasks="reviews", db=tmp_path / "nonexistent" / "dir" / "x.db")
    assert e.value.subject == "store" and not (tmp_path / "nonexistent").exists()


# --- items 7, 10 and 15: task files ----------------------------------------------------------


def _sni(tmp_path, **doc):
    base = {
        "Definition": ["Say yes or no."],
        "Positive Examples": [],
        "Instances": [{"id": f"i{j}", "input": f"text {j}", "output": ["yes" if j % 2 else "no"]} for j in range(140)],
    }
    base.update(doc)
    path = tmp_path / "task.json"
    path.write_text(json.dumps(base))
    return path


@pytest.mark.parametrize(
    "edit,where,what",
    [
        ({"Positive Examples": 5}, "Positive Examples", "must be a list"),
        ({"Positive Examples": True}, "Positive Examples", "must be a list"),
    ],
)
def test_sni_odd_fields_are_one_line(tmp_path, edit, where, what):
    from lbtui.errors import TaskError
    from lbtui.tasks.sni_file import load_sni

    with pytest.raises(TaskError) as e:
        load_sni(_sni(tmp_path, **edit))
    assert e.value.where.endswith(where) and what in e.value.message


def test_sni_refuses_empty_inputs_and_duplicate_ids_as_jsonl_does(tmp_path):
    from lbtui.errors import TaskError
    from lbtui.tasks.sni_file import load_sni

    rows = [{"id": f"i{j}", "input": f"text {j}", "output": ["yes" if j % 2 else "no"]} for j in range(140)]
    rows[7]["input"] = "   "
    with pytest.raises(TaskError, match="input is empty") as e:
        load_sni(_sni(tmp_path, Instances=rows))
    assert e.value.where.endswith("Instances[7].input")
    rows[7]["input"], rows[9]["id"] = "fine", "i3"
    with pytest.raises(TaskError, match="duplicate id 'i3'"):
        load_sni(_sni(tmp_path, Instances=rows))


@pytest.mark.parametrize("label", ["no\u00a0way", "👨\u200d👩\u200d👧", "\u200fשלום", "a\u200bb"])
def test_labels_with_format_characters_that_are_text_are_accepted(label):
    from lbtui.tasks.rows import check_label_text

    check_label_text(label, "labels")


@pytest.mark.parametrize("label", ["a\x1bb", "a\x85b", "a\x07"])
def test_labels_with_controls_are_refused(label):
    from lbtui.errors import TaskError
    from lbtui.tasks.rows import check_label_text

    with pytest.raises(TaskError, match="control character"):
        check_label_text(label, "labels")


# --- item 11: what a killed import or quantize left behind -------------------------------------


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_imports_temporaries_are_removed_by_the_next_and_never_listed(isolated_home, tmp_path):
    from lbtui import paths
    from lbtui.tasks import suites

    dead, live = _dead_pid(), os.getpid()
    d = suites.suites_dir()
    d.mkdir(parents=True)
    for name in (f".sni.{dead}.abcd1234", f".sni.old{dead}", f".sni.{live}.efgh5678"):
        (d / name).mkdir()
        (d / name / "suite.toml").write_text('name = "x"\ntasks = []\n')
    assert suites.available() == {}  # hidden folders are never suites
    gone = [p for pattern in suites.STALE for p in paths.remove_stale(d, pattern)]
    assert sorted(p.name for p in gone) == sorted([f".sni.{dead}.abcd1234", f".sni.old{dead}"])
    assert (d / f".sni.{live}.efgh5678").is_dir()  # a live process's work is left alone


def test_a_killed_quantizes_part_files_are_removed_not_a_live_ones(tmp_path):
    from lbtui import paths

    dead = _dead_pid()
    (tmp_path / f"m-q4_0.gguf.part{dead}").write_bytes(b"x" * 10)
    (tmp_path / f"m-q8_0.gguf.part{os.getpid()}").write_bytes(b"x")
    paths.remove_stale(tmp_path, r".+\.gguf\.part(?P<pid>\d+)")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m-q8_0.gguf.part{os.getpid()}"]


# --- item 8: store rows are checked where they are read -------------------------------------


def _done_store(tmp_path, fake_model, fake_factory, capsys) -> tuple:
    db = tmp_path / "d.db"
    assert (
        main(
            [
                "run",
                "-m",
                str(fake_model),
                "-t",
                "reviews",
                "-k",
                "0",
                "--limit",
                "4",
                "--seeds",
                "2",
                "--db",
                str(db),
                "--json",
            ],
            backend_factory=fake_factory,
        )
        == 0
    )
    capsys.readouterr()
    store = Store(db)
    run = min(r["id"] for r in store.runs())  # seeds 0 and 1: stability reads both
    store.close()
    return db, run


def _edit(db, sql: str, *args) -> None:
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


# The commands that read score rows (stability reads the metrics kept when the run finished).
READERS = [["report", "--resamples", "20"], ["export", "--run", "{run}"], ["diagnose", "--run", "{run}"]]


@pytest.mark.parametrize(
    "scores", ["garbage", "[-1.0]", "[NaN, -1.0]", "[-Infinity, -1.0]", "[0.5, -1.0]", '["a", -1.0]', "{}", "null"]
)
@pytest.mark.parametrize("argv", READERS, ids=lambda a: a[0])
def test_a_damaged_score_row_is_exit_4_naming_the_run_and_row(tmp_path, fake_model, fake_factory, capsys, scores, argv):
    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    _edit(db, "UPDATE scores SET scores = ? WHERE run_id = ? AND \"set\" = 'test' AND idx = 2", scores, run)
    argv = [a.format(run=run) for a in argv]
    assert main([*argv, "--db", str(db)]) == 4
    line = one_line(capsys)
    assert f"run {run}" in line and "test row 2" in line and "Traceback" not in line


def test_two_damaged_score_rows_that_would_parse_as_two_arrays_together_are_refused(
    tmp_path, fake_model, fake_factory, capsys
):
    """Rows are parsed joined for speed: row 2 ends inside a second array that row 3 closes,
    so the joined text holds the right number of arrays of the right length; still refused,
    naming row 2."""
    from lbtui.store import Store

    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    store = Store(db)
    k = len(store.run(run)["labels"])
    store.close()
    rest = ", ".join(["-1.0"] * (k - 1))
    _edit(
        db,
        "UPDATE scores SET scores = ? WHERE run_id = ? AND \"set\" = 'test' AND idx = 2",
        f"[{rest}, -1.0], [{rest}",
        run,
    )
    _edit(db, "UPDATE scores SET scores = ? WHERE run_id = ? AND \"set\" = 'test' AND idx = 3", "-0.5]", run)
    assert main(["report", "--resamples", "20", "--db", str(db)]) == 4
    line = one_line(capsys)
    assert f"run {run}" in line and "test row 2" in line and "Traceback" not in line


@pytest.mark.parametrize("gold", [7, -3])
def test_a_gold_label_out_of_range_is_exit_4(tmp_path, fake_model, fake_factory, capsys, gold):
    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    _edit(db, "UPDATE scores SET gold = ? WHERE run_id = ? AND \"set\" = 'test' AND idx = 1", gold, run)
    assert main(["report", "--resamples", "20", "--db", str(db)]) == 4
    line = one_line(capsys)
    assert f"run {run}" in line and "test row 1" in line and "gold" in line


def test_labels_that_are_not_json_are_exit_4(tmp_path, fake_model, fake_factory, capsys):
    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    _edit(db, "UPDATE runs SET labels = ? WHERE id = ?", "[bad, good", run)
    for argv in (["report"], ["export", "--run", str(run)], ["stability"]):
        assert main([*argv, "--db", str(db)]) == 4
        line = one_line(capsys)
        assert f"run {run}" in line and "labels" in line


def test_a_done_run_missing_rows_is_refused_not_reported_on_fewer(tmp_path, fake_model, fake_factory, capsys):
    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    _edit(db, "DELETE FROM scores WHERE run_id = ? AND \"set\" = 'test' AND idx >= 2", run)
    assert main(["report", "--resamples", "20", "--db", str(db)]) == 4
    line = one_line(capsys)
    assert f"run {run}" in line and "done" in line and "of its" in line


def test_a_schema_version_that_is_not_a_number_is_exit_4(tmp_path, fake_model, fake_factory, capsys):
    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    _edit(db, "UPDATE meta SET value = '1.5' WHERE key = 'schema_version'")
    assert main(["report", "--db", str(db)]) == 4
    assert "schema_version" in one_line(capsys)
    assert main(["run", "-m", str(fake_model), "-t", "reviews", "--db", str(db)], backend_factory=fake_factory) == 4
    assert "schema_version" in one_line(capsys)


def test_a_damaged_page_is_exit_4_not_a_traceback(tmp_path, fake_model, fake_factory, capsys):
    import sqlite3

    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    try:
        leaves = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'scores' AND pagetype = 'leaf'")]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")
    finally:
        conn.close()
    with open(db, "r+b") as f:  # the pages of scores overwritten past their headers
        for page in leaves:
            f.seek((page - 1) * 4096 + 8)
            f.write(b"\xff" * 4000)
    for argv in (["report"], ["export", "--run", str(run)], ["diagnose", "--run", str(run)]):
        assert main([*argv, "--db", str(db)]) == 4, argv
        line = one_line(capsys)
        assert str(db) in line and "is damaged" in line


def test_a_damaged_row_is_scored_again_never_reused_by_another_run(tmp_path, fake_model, fake_factory, capsys):
    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    # at k = 0 both seeds' prompts are the same: both rows of that address
    _edit(
        db,
        "UPDATE scores SET scores = '[0.5, -1.0]' WHERE address = (SELECT address FROM scores WHERE run_id = ?"
        " AND \"set\" = 'test' AND idx = 2)",
        run,
    )
    argv = ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "6", "--db", str(db), "--json"]
    assert main(argv, backend_factory=fake_factory) == 0  # its first 4 test inputs are the first run's
    store = Store(db)
    new = max(r["id"] for r in store.runs())
    test = store.scored_set(new, "test")
    assert len(test.scores) == 6 and (test.scores <= 0).all()


# --- item 9: a chat template too long for n_ctx is refused before the prompts are tokenized --


def test_a_chat_template_longer_than_the_context_is_refused_up_front(tmp_path, fake_model):
    from lbtui.auditing import planning as eng
    from lbtui.backends.fake import FakeBackend
    from lbtui.errors import PromptTooLong
    from lbtui.models import ModelSpec
    from lbtui.tasks import catalog

    backend = FakeBackend()
    backend.metadata = {"tokenizer.chat_template": "{{ lipsum(n=999) }}{{ messages[0].content }}"}
    calls = []
    tokenize = backend.tokenize
    backend.tokenize = lambda text, **kw: calls.append(len(text)) or tokenize(text, **kw)
    spec = ModelSpec(name="chatty", path=fake_model, chat_template=True)
    (plan,) = eng.plan([spec], [catalog.load("reviews")], [4], [0], limit=50)
    with pytest.raises(
        PromptTooLong,
        match=r"no prompt fits: without demonstrations or input it needs \d+ tokens.*chat"
        r" template adds [\d,]+ characters",
    ):
        eng.prepare(plan, backend)
    assert sum(n > 100_000 for n in calls) <= 3  # the bare prompt's parts, not the 100-odd prompts of the run


# --- items 5, 7 and 10: GGUF headers llama.cpp would abort on or misreport ------------------


def _tiny(tmp_path, file: str, **header):
    from test_spm_model import _own_vocab, write_tiny_llama

    return write_tiny_llama(tmp_path / file, _own_vocab(), **header)


@pytest.mark.parametrize(
    "header, said",
    [
        ({"block_count": 2**31 - 1}, "llama.block_count = 2147483647 is outside 1..4096"),
        ({"block_count": 3}, "llama.block_count = 3 but the file holds the tensors of 2 blocks"),
        ({"head_count_kv": 3}, "head_count (4) is not a multiple of head_count_kv (3)"),
        ({"name": b"tiny\xff\xfe"}, "GGUF field general.name is not UTF-8 text"),
        ({"tensors": False}, "holds no weights (no tensors): a vocabulary-only GGUF"),
    ],
    ids=["block-count-2^31", "block-count-vs-tensors", "heads", "name-not-utf8", "vocab-only"],
)
def test_a_gguf_header_llama_cpp_would_abort_on_is_one_line_and_leaves_no_store(tmp_path, capsys, header, said):
    gguf = _tiny(tmp_path, "bad.gguf", **header)
    db = tmp_path / "s.db"
    assert main(["run", "-m", str(gguf), "-t", "reviews", "-k", "0", "--limit", "4", "--db", str(db)]) == 2
    line = one_line(capsys)
    assert str(gguf) in line and said in line and "is the file complete" not in line
    assert not db.exists()


def test_the_abort_repro_in_a_child_process_is_one_line(tmp_path):
    """Before the check, llama.cpp aborted the whole process here (exit 134, no message)."""
    import subprocess
    import sys

    gguf = _tiny(tmp_path, "huge.gguf", block_count=2**31 - 1)
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "lbtui",
            "run",
            "-m",
            str(gguf),
            "-t",
            "reviews",
            "-k",
            "0",
            "--limit",
            "4",
            "--db",
            str(tmp_path / "s.db"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert got.returncode == 2 and got.stderr.count("\n") == 1 and "block_count" in got.stderr, got.stderr
    assert not (tmp_path / "s.db").exists()


def test_a_sound_tiny_model_still_passes_the_header_check(tmp_path):
    from lbtui.models.gguf import check_model_header

    h = check_model_header(_tiny(tmp_path, "ok.gguf"), where="-m")
    assert h.meta["llama.block_count"] == 2 and "blk.1.ffn_down.weight" in h.tensors


@pytest.mark.parametrize("cut", [10, 30, 200, 2000])
def test_a_truncated_header_is_one_line(tmp_path, cut):
    from lbtui.errors import ModelError
    from lbtui.models.gguf import check_model_header

    whole = _tiny(tmp_path, "ok.gguf").read_bytes()
    part = tmp_path / "cut.gguf"
    part.write_bytes(whole[:cut])
    with pytest.raises(ModelError, match="the GGUF header is damaged or truncated"):
        check_model_header(part, where="-m")


# --- item 7: symbolic link loops ---------------------------------------------------------


def test_a_symlink_loop_as_model_or_in_a_models_toml_is_one_line(tmp_path, isolated_home, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "x.gguf").symlink_to("x.gguf")
    for model in ("x.gguf", str(tmp_path / "a")):
        code = main(["run", "-m", model, "-t", "reviews", "-k", "0", "--limit", "2", "--db", str(tmp_path / "s.db")])
        line = one_line(capsys)
        assert code == 2 and "--model" in line and "loop of symbolic links" in line, line
    assert not (tmp_path / "s.db").exists()
    (tmp_path / "models.toml").write_text('[models.m]\npath = "a"\n')
    assert main(["models"]) == 2  # the folder's models.toml names the loop: `lbtui models` says where
    line = one_line(capsys)
    assert "models.m.path" in line and "loop of symbolic links" in line


def test_a_symlink_loop_as_the_store_is_one_line(tmp_path, capsys):
    (tmp_path / "s.db").symlink_to("s.db")
    assert main(["report", "--db", str(tmp_path / "s.db")]) in (2, 4)
    assert "Traceback" not in one_line(capsys)


# --- item 7: a port that is not an HTTP server ---------------------------------------------


@pytest.fixture
def banner_port():
    """A TCP port that greets with an SSH banner over two lines, as sshd does."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.settimeout(2)
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            try:
                conn.recv(1 << 16)  # the request, then sshd's complaint
                conn.sendall(b"Protocol mismatch.\r\n")
            except OSError:
                pass
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    srv.close()


@pytest.mark.parametrize("model", [None, "named"], ids=["asks-v1-models", "server_model"])
def test_a_port_that_is_not_http_is_named_in_one_line(banner_port, model):
    from lbtui.backends.server import ServerBackend, ServerError

    with pytest.raises(ServerError) as got:
        ServerBackend([banner_port], model=model, retries=0, timeout=2)
    text = str(got.value)
    assert "\n" not in text and "not HTTP" in text and "SSH-2.0" in text, text


# --- item 10: messages that name the right cause --------------------------------------------


def test_a_run_another_process_scores_is_said_as_such_not_resume(tmp_path, fake_model, fake_factory, capsys):
    db, run = _done_store(tmp_path, fake_model, fake_factory, capsys)
    _edit(
        db,
        "UPDATE runs SET status = 'running', owner = ?, heartbeat = ? WHERE id = ?",
        store_mod.new_owner(),
        time.time(),
        run,
    )  # this live process holds it
    for argv in (["report", "--run", str(run)], ["diagnose", "--run", str(run)]):
        assert main([*argv, "--db", str(db)]) == 2
        line = one_line(capsys)
        assert "being scored by another process" in line and "run it again" not in line
    _edit(db, "UPDATE runs SET status = 'cancelled', owner = NULL WHERE id = ?", run)
    assert main(["report", "--run", str(run), "--db", str(db)]) == 2
    assert "is cancelled, not done; run it again to resume" in one_line(capsys)


def test_a_disk_io_error_is_not_called_a_full_disk():
    import sqlite3

    from pathlib import Path

    said = str(store_mod.store_error(sqlite3.OperationalError("disk I/O error"), Path("s.db")))
    assert "disk is full" not in said and "-wal" in said
    said = str(store_mod.store_error(sqlite3.OperationalError("database or disk is full"), Path("s.db")))
    assert "the disk is full" in said


# --- item 5: what llama.cpp still aborts on ends a child, not the command -------------------


def test_a_model_whose_first_load_ends_the_process_is_one_line_and_leaves_no_store(
    tmp_path, isolated_home, capsys, monkeypatch
):
    """The child of the first load dies as llama.cpp's abort would end it (a file the header
    checks pass); the command says so in one line, exit 2, and removes the store it made.
    The next file that loads is remembered: no second child for it."""
    import subprocess

    from lbtui.backends import preflight

    gguf = _tiny(tmp_path, "ok.gguf")
    real_run, children = subprocess.run, []

    def run(cmd, **kw):
        children.append(cmd)
        if os.environ.get("ABORT_CHILD"):  # the child's own code, ended as an abort ends it
            cmd = [cmd[0], "-c", "import os; os.abort()"]
        return real_run(cmd, **kw)

    monkeypatch.setattr(preflight.subprocess, "run", run)
    db = tmp_path / "s.db"
    argv = [
        "run",
        "-m",
        str(gguf),
        "-t",
        "reviews",
        "-k",
        "0",
        "--limit",
        "2",
        "--scoring",
        "first-token",
        "--db",
        str(db),
    ]
    monkeypatch.setenv("ABORT_CHILD", "1")
    assert main(argv) == 2
    line = one_line(capsys)
    assert "llama.cpp ended the process loading" in line and "SIGABRT" in line and str(gguf) in line
    assert not db.exists() and len(children) == 1
    monkeypatch.delenv("ABORT_CHILD")
    assert main(argv) == 0  # the real child loads it; then the audit runs
    assert len(children) == 2
    capsys.readouterr()
    assert main([*argv[:-1], str(tmp_path / "t.db")]) == 0
    assert len(children) == 2  # remembered: loaded once in a child, never again
