"""The real llama.cpp backend on the real bundled GGUF models."""

import json

import numpy as np
import pytest

from conftest import smollm2_path
from lbtui.tasks import catalog
from lbtui.auditing import examples
from lbtui.backends.base import Request
from lbtui.backends.llama import LlamaBackend
from lbtui.cli import main
from lbtui.errors import ModelError
from lbtui.models import registry
from lbtui.auditing.prompts import PromptBuilder, demo_pairs
from lbtui.store import Store

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def smol():
    """As lbtui loads it on a CPU: one query at a time."""
    b = LlamaBackend(smollm2_path(), n_ctx=2048)
    assert b.batching == "sequential"
    yield b
    b.close()


@pytest.fixture(scope="module")
def smol_packs():
    """The GPU's way (multi-sequence packs), forced on the CPU."""
    b = LlamaBackend(smollm2_path(), n_ctx=2048, batching="packs")
    yield b
    b.close()


@pytest.fixture(params=["sequential", "packs"])
def either(request, smol, smol_packs):
    return smol if request.param == "sequential" else smol_packs


def requests_for(backend, task_name, *, shots, n, full):
    task = catalog.load(task_name)
    sets = examples.build(task, shots=shots, seed=0, limit=n)
    pb = PromptBuilder(backend.tokenize, task.prompt, task.definition, task.labels, eos=backend.eos, full=full)
    demos = demo_pairs(sets.demos, task.labels)
    return [Request(e.prompt, e.labels) for e in (pb.encode(demos, ex.text) for ex in sets.test)]


@pytest.mark.parametrize("mode, task", [("first-token", "reviews"), ("full", "intents"), ("full", "emotions")])
def test_batched_scores_equal_whole_prompt_evaluation(either, mode, task):
    """One query at a time and packs of many queries (every label branch too, in full
    mode) give the numbers that evaluating each (prompt, label) whole from an empty cache
    gives, as the naive path of lm-evaluation-harness does; and the shared prefix is
    evaluated once."""
    b = either
    reqs = requests_for(b, task, shots=4, n=8 if mode == "first-token" else 5, full=mode == "full")
    b.clear()
    before = b.tokens_evaluated
    batched = b.score(reqs, mode=mode)
    batched_tokens = b.tokens_evaluated - before
    before = b.tokens_evaluated
    naive = np.array([b.score_naive(r, mode=mode) for r in reqs])
    naive_tokens = b.tokens_evaluated - before
    assert np.max(np.abs(batched - naive)) < 1e-3
    assert batched_tokens < naive_tokens / 3  # the shared prefix once, not once a prompt
    assert np.all(batched < 0)


def test_one_at_a_time_decodes_exactly_the_tokens_needed(smol):
    """Sequential scoring evaluates the trie of the prompts in their order (each prompt
    after what it shares with the one before) and each label's tokens but the last:
    no padding row, no copy; and its numbers are bit for bit those of whole prompts."""
    from lbtui.backends.layout import common_prefix

    for mode in ("first-token", "full"):
        reqs = requests_for(smol, "intents", shots=2, n=6, full=mode == "full")
        smol.clear()
        before, pad = smol.tokens_evaluated, smol.pad_tokens
        got = smol.score(reqs, mode=mode)
        held, want = (), 0
        for r in reqs:
            want += len(r.prompt) - min(common_prefix(held, r.prompt), len(r.prompt) - smol.min_rows)
            held = r.prompt
            if mode == "full":  # the first label after the query; each other one alone, with enough rows
                want += len(r.continuations[0]) - 1
                want += sum(max(len(c) - 1, smol.min_rows) for c in r.continuations[1:] if len(c) > 1)
        assert smol.tokens_evaluated - before == want and smol.pad_tokens == pad
        assert np.array_equal(got, np.array([smol.score_naive(r, mode=mode) for r in reqs]))
        # reversed, from a warm cache: the same numbers
        assert np.array_equal(smol.score(reqs[::-1], mode=mode)[::-1], got)


def test_a_score_does_not_depend_on_its_pack_or_the_warm_cache(smol_packs):
    smol = smol_packs
    reqs = requests_for(smol, "intents", shots=2, n=6, full=True)
    smol.clear()
    together = smol.score(reqs, mode="full")
    smol.max_pack = 1  # one query per batch, prefix reused from the cache
    try:
        alone = smol.score(reqs[::-1], mode="full")[::-1]
    finally:
        smol.max_pack = None
    assert np.array_equal(together, alone)
    # A second call with the same demonstrations finds the prefix warm.
    before = smol.tokens_evaluated
    again = smol.score(reqs[:3], mode="full")
    assert np.array_equal(again, together[:3])
    # at most: each query's own tokens, plus per label branch a copied tail (< align) and its label
    own = sum(len(r.prompt) - len(smol._cached) for r in reqs[:3])
    branches = sum(smol.align - 1 + len(c) for c in reqs[0].continuations)
    evaluated = smol.tokens_evaluated - before
    assert evaluated <= own + 3 * branches and evaluated < sum(len(r.prompt) for r in reqs[:3])


def test_both_ways_give_the_same_numbers_and_share_stored_scores(smol, smol_packs):
    from lbtui.auditing.engine import numbers_key

    reqs = requests_for(smol, "reviews", shots=2, n=6, full=True)
    smol.clear()
    smol_packs.clear()
    assert np.array_equal(smol.score(reqs, mode="full"), smol_packs.score(reqs, mode="full"))
    assert smol.info["numbers"] == smol_packs.info["numbers"] == "whole-prompt"
    assert numbers_key("sha", smol) == numbers_key("sha", smol_packs)


def test_an_unknown_batching_is_one_line_naming_the_entry():
    with pytest.raises(ModelError, match=r"models.x batching: must be one of auto, sequential, packs, got 'fast'"):
        LlamaBackend(smollm2_path(), batching="fast", where="models.toml: models.x")


def test_full_mode_scores_are_mean_token_log_probs(smol):
    """Score one two-token label by hand through the prefix cache and compare."""
    (req,) = requests_for(smol, "intents", shots=0, n=1, full=True)
    cont = req.continuations[0]
    by_hand = []
    for i in range(len(cont)):
        smol.clear()
        r = Request(req.prompt + cont[:i], (cont[i : i + 1],))
        by_hand.append(smol.score([r], mode="first-token")[0, 0])
    smol.clear()
    assert smol.score([Request(req.prompt, (cont,))], mode="full")[0, 0] == pytest.approx(np.mean(by_hand), abs=1e-3)


def test_truncated_gguf_is_a_clear_error(tmp_path, capsys):
    whole = smollm2_path().read_bytes()
    bad = tmp_path / "cut.gguf"
    for cut, said in (
        (200_000, "the GGUF header is damaged or truncated"),  # inside the vocabulary: lbtui's check
        (len(whole) - 1_000_000, "could not load"),
    ):  # inside the weights: llama.cpp's
        bad.write_bytes(whole[:cut])
        with pytest.raises(ModelError, match=said):
            LlamaBackend(bad)
        assert (
            main(["run", "-m", str(bad), "-t", "reviews", "-k", "0", "--limit", "2", "--db", str(tmp_path / "x.db")])
            == 2
        )
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and not (tmp_path / "x.db").exists()


def test_audit_a_bundled_task_end_to_end(tmp_path, capsys):
    db = tmp_path / "real.db"
    argv = ["run", "-t", "reviews", "-k", "4", "--limit", "20", "--db", str(db), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    (run,) = doc["runs"]
    assert run["model"] == "smollm2-135m-instruct" and run["n_test"] == 20 and run["scoring"] == "full"
    assert run["params"]["batching"] == "sequential" and run["params"]["numbers"] == "whole-prompt"  # a CPU build
    assert all(run["metrics"][m] is not None for m in ("none", "cc", "dc", "bc", "looc"))
    store = Store(db)
    counts = dict(store.db.execute('SELECT "set", count(*) FROM scores GROUP BY "set"').fetchall())
    assert counts == {"test": 20, "bias": 32, "cc": 3, "dc": 20, "looc": 4}
    model = next(iter(store.db["models"].rows))
    assert len(model["sha256"]) == 64 and "general.name" in json.loads(model["metadata"])
    stored = store.run(run["run_id"])
    assert stored["status"] == "done" and stored["tokens_evaluated"] > 0 and stored["params"]["backend"] == "llama.cpp"
    # calibration changes predictions
    from lbtui.results import report

    rep = report(store, run["run_id"])
    shares = {m: tuple(rep.metrics[m].predicted_share) for m in ("none", "cc", "dc", "bc", "looc")}
    assert len(set(shares.values())) > 1
    # an independent implementation of docs/METHODS.md, from the exported raw scores, agrees
    from reference import all_methods

    assert main(["export", "--run", str(run["run_id"]), "--db", str(db)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ref = all_methods(rows, run["labels"])
    for m in ("none", "cc", "dc", "bc", "looc"):
        for key, value in run["metrics"][m].items():
            assert value == pytest.approx(ref[m][key], abs=1e-9), (m, key)
    # the same command again evaluates nothing
    tokens = stored["tokens_evaluated"]
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again == doc and store.run(run["run_id"])["tokens_evaluated"] == tokens


@pytest.mark.parametrize("batching", ["sequential", "packs"])
def test_gemma_base_model_batched_equals_whole_prompt(batching):
    """Gemma 3 270M, the base model (sliding-window attention, BOS, 262k vocabulary)."""
    spec = registry()["gemma3-270m"]
    b = LlamaBackend(spec.locate(), n_ctx=1024, batching=batching)
    try:
        assert b.tokenize("x", bos=True)[0] != b.tokenize("x")[0]
        for mode in ("full", "first-token"):
            reqs = requests_for(b, "headlines", shots=2, n=5, full=mode == "full")
            batched = b.score(reqs, mode=mode)
            naive = np.array([b.score_naive(r, mode=mode) for r in reqs])
            assert np.max(np.abs(batched - naive)) < 1e-3  # first-token: one pass a prompt gives every label
            assert np.all(np.isfinite(batched)) and np.all(batched < 0)
    finally:
        b.close()


def test_bench_reports_every_figure_against_the_raw_rate(capsys):
    argv = ["bench", "-t", "reviews", "-k", "2", "--limit", "6", "--naive", "1", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == "smollm2-135m-instruct" and doc["raw_tokens_per_s"] > 0
    assert set(doc["modes"]) == {"first-token", "full"}
    for mode, m in doc["modes"].items():
        assert m["inputs"] == 6 + 32 + 3 + 20 + 2  # test, bias, content-free, domain-context, leave-one-out
        # nothing cheaper than the trie of the prompts exists; padding and copies stay small
        assert 0 < m["tokens_needed"] <= m["tokens_evaluated"] < 2 * m["tokens_needed"]
        assert m["tokens_per_s"] == pytest.approx(m["tokens_needed"] / m["seconds"], rel=0.02)
        assert m["ratio_to_raw"] == pytest.approx(m["tokens_per_s"] / doc["raw_tokens_per_s"], rel=0.02)
        assert m["rows_decoded"] == m["tokens_evaluated"] + m["pad_rows"] >= m["tokens_needed"]
        if "plain_error" in m:  # a llama-cpp-python build whose high-level Llama.eval crashes: said, not fatal
            assert "crashed inside llama-cpp-python" in m["plain_error"] and "plain_seconds" not in m
            continue
        assert m["ratio_to_plain"] == pytest.approx(m["seconds"] / m["plain_seconds"], rel=0.02)
        if mode == "first-token":  # the same inputs, in the cells they have alone: the same numbers
            assert m["plain_max_abs_diff"] == 0
        # (full mode: the plain loop re-evaluates each label where llama.cpp finds a free KV cell,
        # not where the label sits alone, and its numbers move with that cell's lane)
    assert doc["peak_rss_mb"] > doc["model_file_mb"] > 50


def test_tokens_needed_is_the_trie_of_the_prompts():
    from lbtui.auditing.bench import distinct_tokens, tokens_needed

    assert distinct_tokens([(1, 2, 3), (1, 2, 4), (1, 5), (1, 2, 3)]) == 5
    reqs = [Request((1, 2, 3), ((7, 9), (8, 9))), Request((1, 2, 4), ((7, 9), (8, 9)))]
    assert tokens_needed(reqs, "first-token") == 4
    assert tokens_needed(reqs, "full") == 4 + 4  # each prompt's two label tokens (the last is never fed)


def test_offload_counts():
    from lbtui.backends.llama_common import offload

    assert offload(30, -1, supported=False) == {"n_layer": 30, "layers_offloaded": 0, "layers_total": 31}
    assert offload(30, -1, supported=True)["layers_offloaded"] == 31
    assert offload(30, 12, supported=True)["layers_offloaded"] == 12
    assert offload(30, 99, supported=True)["layers_offloaded"] == 31


def test_the_kv_group_width_is_measured_from_the_build(smol_packs):
    """The width in which packs must keep a token's KV-cell lane: the width in which this
    build sums attention over KV cells, 16 on an AVX-512 build, 8 on AVX2. Measured at
    load, and recorded with every run with the CPU features."""
    smol = smol_packs
    info = smol.info
    assert info["exact_batching"] is True and info["kv_align"] == smol.align
    if "AVX512" in info["cpu_features"]:
        assert smol.align == 16
    elif "AVX2" in info["cpu_features"]:
        assert smol.align == 8
    # a move by the measured width leaves the logits as they are; by half of it, not
    probe = [int(t) for t in np.random.default_rng(7).integers(1, 40_000, 48)]
    assert np.array_equal(smol._probe(probe, 0), smol._probe(probe, smol.align))
    assert np.array_equal(smol._probe(probe, 0), smol._probe(probe, 3 * smol.align))
    assert not np.array_equal(smol._probe(probe, 0), smol._probe(probe, smol.align // 2))


@pytest.mark.model
def test_backend_records_hardware(smol):
    """What the run stores: threads, layers and how many went to a GPU (none on a CPU build)."""
    import llama_cpp

    info = smol.info
    assert info["n_layer"] == 30 and info["layers_total"] == 31  # SmolLM2-135M has 30 blocks
    assert info["layers_offloaded"] == (31 if llama_cpp.llama_supports_gpu_offload() else 0)
    assert info["n_threads"] >= 1


def test_a_small_context_lowers_the_batch_instead_of_aborting(smol):
    """llama.cpp lowers n_batch to a small n_ctx; lbtui never decodes more rows than it
    accepts (before: GGML_ASSERT n_tokens_all <= n_batch killed the process). In a child
    process, since the failure is an abort."""
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from lbtui.backends.llama import LlamaBackend\n"
        "from lbtui.backends.base import Request\n"
        "from pathlib import Path\n"
        "b = LlamaBackend(Path(sys.argv[1]), n_ctx=256, batching='packs')\n"
        "ids = tuple(b.tokenize('Classify the review. ' * 20, bos=True))[:200]\n"
        "reqs = [Request(ids + (i + 100,), ((300,), (301,))) for i in range(40)]\n"
        "print(json.dumps({'n_batch': b.n_batch, 'scores': b.score(reqs, mode='first-token').tolist()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(smollm2_path())], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-500:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["n_batch"] <= 256
    ids = tuple(smol.tokenize("Classify the review. " * 20, bos=True))[:200]
    want = smol.score([Request(ids + (i + 100,), ((300,), (301,))) for i in range(40)], mode="first-token")
    assert np.array_equal(np.array(got["scores"]), want)


@pytest.mark.parametrize("n_ctx", [16, 128, 4294967360])
def test_a_context_size_llama_cpp_cannot_take_is_refused_in_one_line(n_ctx):
    with pytest.raises(ModelError, match=r"n_ctx: must be between 256 and 16777216"):
        LlamaBackend(smollm2_path(), n_ctx=n_ctx)


def test_a_llama_cpp_python_without_the_api_is_one_line_naming_its_version(monkeypatch):
    import llama_cpp

    from lbtui.backends import llama_common as llama

    monkeypatch.setattr(llama, "_API_CHECKED", False)
    monkeypatch.delattr(llama_cpp, "llama_memory_seq_cp")
    monkeypatch.setattr(llama_cpp, "__version__", "0.3.16")
    with pytest.raises(
        ModelError,
        match=r"llama-cpp-python: version 0\.3\.16 lacks llama_memory_seq_cp; lbtui needs"
        r" llama-cpp-python>=0\.3\.36,<0\.4",
    ):
        llama.check_api()
    monkeypatch.undo()
    llama._API_CHECKED = False
    llama.check_api()  # the installed one has it all
