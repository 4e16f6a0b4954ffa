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
    from lbtui.backends.server import read_answer
    import urllib.request

    url = stand_in("drip")  # 1,000 bytes at 5 a second: 200 s, were only each read timed
    got = []
    with pytest.raises(TimeoutError, match="within 1 s"):
        with urllib.request.urlopen(url + "/props", timeout=1) as resp:
            read_answer(_Counted(resp, got), deadline=time.monotonic() + 1, cap=1 << 20, timeout=1)
    assert 0 < sum(got) < 1000  # the deadline stopped it part way, not the end of the answer


def test_an_answer_past_its_cap_is_refused_before_it_is_all_read():
    from lbtui.backends.server import read_answer

    class Endless(io.RawIOBase):
        def read1(self, n):
            return b"x" * n

    with pytest.raises(ValueError, match="passed"):
        read_answer(Endless(), deadline=time.monotonic() + 10, cap=1 << 20, timeout=10)


def test_a_redirect_to_another_origin_is_not_followed(stand_in):
    from lbtui.backends.server import _OPENER
    import urllib.error

    url = stand_in("redirect")
    with pytest.raises(urllib.error.HTTPError, match="another origin"):
        _OPENER.open(url + "/v1/models", timeout=2)


# --- item 7: ids past what SQLite holds ----------------------------------------------------


@pytest.mark.parametrize("command", ["export", "report", "diagnose", "stability", "classify"])
def test_a_run_id_past_sqlite_s_range_is_a_usage_error(tmp_path, capsys, command):
    Store(tmp_path / "s.db").close()
    assert main([command, "--run", "99999999999999999999", "--db", str(tmp_path / "s.db")]) == 2
    assert "not a run id" in one_line(capsys)


# --- item 12: terminal and spreadsheet injection ---------------------------------------------


def test_a_note_with_escape_sequences_never_reaches_the_terminal(isolated_home, capsys):
    (isolated_home / "models.toml").write_text('[models.evil]\npath = "x.gguf"\nnote = "a\\u001b]0;pwned\\u0007b\\u001b[2J"\n')
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "a]0;pwnedb[2J" in out.replace("\n", "").replace(" ", "")


def test_exported_csv_cells_never_start_a_formula_and_a_partial_run_is_said(tmp_path, fake_model, fake_factory, capsys):
    db = tmp_path / "e.db"
    assert main(["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "4", "--db", str(db), "--json"],
                backend_factory=fake_factory) == 0
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


@pytest.mark.parametrize("line,key", [
    ("timeout = -1", "timeout"), ("timeout = inf", "timeout"), ("timeout = nan", "timeout"), ("timeout = 1e308", "timeout"),
    ("timeout = 0", "timeout"), ("per_server = 1000000000", "per_server"), ("per_server = 0", "per_server"),
    ("per_server = -5", "per_server"), ("max_in_flight = 0", "max_in_flight"), ("retries = -1", "retries"),
])
def test_server_numbers_out_of_range_are_one_line(tmp_path, line, key):
    from lbtui import models
    from lbtui.errors import ModelError

    (tmp_path / "models.toml").write_text(f'[models.s]\nserver = "http://127.0.0.1:1"\n{line}\n')
    with pytest.raises(ModelError) as e:
        models.parse(tmp_path / "models.toml")
    assert e.value.where.endswith(f"models.s.{key}") and "must be" in e.value.message


@pytest.mark.parametrize("line,key", [("n_threads = -3", "n_threads"), ("n_threads = 100000", "n_threads"),
                                      ("n_gpu_layers = -2", "n_gpu_layers"), ('batching = "fast"', "batching")])
def test_local_numbers_out_of_range_are_one_line(tmp_path, line, key):
    from lbtui import models
    from lbtui.errors import ModelError

    (tmp_path / "models.toml").write_text(f'[models.m]\npath = "m.gguf"\n{line}\n')
    with pytest.raises(ModelError) as e:
        models.parse(tmp_path / "models.toml")
    assert e.value.where.endswith(f"models.m.{key}")


# --- item 14: the Python API validates as the CLI does ----------------------------------------


@pytest.mark.parametrize("kwargs,option", [
    ({"shots": "0,4"}, "--shots"), ({"shots": 4.0}, "--shots"), ({"shots": []}, "--shots"),
    ({"models": 123}, "--model"), ({"tasks": 5}, "--task"), ({"seeds": 2.5}, "--seeds"), ({"orders": "x"}, "--orders"),
    ({"label_words": 5}, "--verbalizers"), ({"db": 123}, "--db"), ({"limit": "10"}, "--limit"),
])
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
    assert e.value.where == "--db" and not (tmp_path / "nonexistent").exists()


# --- items 7, 10 and 15: task files ----------------------------------------------------------


def _sni(tmp_path, **doc):
    base = {"Definition": ["Say yes or no."], "Positive Examples": [],
            "Instances": [{"id": f"i{j}", "input": f"text {j}", "output": ["yes" if j % 2 else "no"]} for j in range(140)]}
    base.update(doc)
    path = tmp_path / "task.json"
    path.write_text(json.dumps(base))
    return path


@pytest.mark.parametrize("edit,where,what", [
    ({"Positive Examples": 5}, "Positive Examples", "must be a list"),
    ({"Positive Examples": True}, "Positive Examples", "must be a list"),
])
def test_sni_odd_fields_are_one_line(tmp_path, edit, where, what):
    from lbtui.errors import TaskError
    from lbtui.tasks.taskfile import load_sni

    with pytest.raises(TaskError) as e:
        load_sni(_sni(tmp_path, **edit))
    assert e.value.where.endswith(where) and what in e.value.message


def test_sni_refuses_empty_inputs_and_duplicate_ids_as_jsonl_does(tmp_path):
    from lbtui.errors import TaskError
    from lbtui.tasks.taskfile import load_sni

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
    from lbtui.tasks.taskfile import check_label_text

    check_label_text(label, "labels")


@pytest.mark.parametrize("label", ["a\x1bb", "a\x85b", "a\x07"])
def test_labels_with_controls_are_refused(label):
    from lbtui.errors import TaskError
    from lbtui.tasks.taskfile import check_label_text

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
