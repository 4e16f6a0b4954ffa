"""End to end on a SentencePiece model family (Llama 1/2, Mistral v0.1): a tiny
random-weight Llama GGUF written here with the `gguf` package around llama.cpp's Llama
SentencePiece vocabulary. It loads and evaluates in llama.cpp like any model, so an audit
runs through it, and its stored label ids and scores can be checked against the
reference tokenization and whole-prompt evaluation.

The vocabulary file lives in the shared folder beside the project; without it the test
builds the same model around a small SentencePiece vocabulary of its own, so it runs in
every CI run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from lbtui.cli import main
from lbtui.store import Store

pytestmark = pytest.mark.model

SPM_VOCAB = ROOT.parent / "shared" / "vocab" / "ggml-vocab-llama-spm.gguf"
N_EMBD, N_HEAD, N_LAYER, N_FF = 64, 4, 2, 128


def _own_vocab() -> dict:
    """A SentencePiece vocabulary written here: special tokens, the 256 byte pieces, and
    '▁'-prefixed pieces for the words of the bundled reviews task, scored so that longer
    pieces win (llama.cpp's SPM tokenizer merges by score)."""
    words = sorted(
        {
            w
            for line in (ROOT / "tasks" / "reviews.jsonl").read_text().split()
            for w in [line.strip('",{}:').lower()]
            if w.isalpha()
        }
        | {"negative", "positive", "input", "output"}
    )
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    pieces = {"▁"} | {c for w in words for c in w} | {c for c in ".,:!?'\n"}
    for w in words:
        for i in range(1, len(w) + 1):
            pieces.add("▁" + w[:i])
            pieces.add(w[:i])
    pieces |= {"In", "Input", "Out", "Output", "▁In", "▁Out", "▁Input", "▁Output"}
    for p in sorted(pieces, key=lambda p: (len(p), p)):
        tokens.append(p)
        types.append(1)
    scores = [0.0] * 259 + [float(len(t)) for t in tokens[259:]]
    return {"tokens": tokens, "scores": scores, "types": types}


def _vocab() -> dict:
    if not SPM_VOCAB.exists():
        return _own_vocab()
    import gguf

    r = gguf.GGUFReader(str(SPM_VOCAB))
    f = r.fields
    return {
        "tokens": f["tokenizer.ggml.tokens"].contents(),
        "scores": f["tokenizer.ggml.scores"].contents(),
        "types": f["tokenizer.ggml.token_type"].contents(),
    }


def write_tiny_llama(
    path: Path,
    vocab: dict,
    seed: int = 0,
    *,
    name: str | bytes = "tiny-llama-spm",
    block_count: int = N_LAYER,
    head_count_kv: int = N_HEAD,
    tensors: bool = True,
) -> Path:
    """A 2-block Llama with random weights and the given SentencePiece vocabulary."""
    import gguf

    n_vocab = len(vocab["tokens"])
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_string("general.name", name)  # bytes are written as they are (tests of damaged files)
    w.add_block_count(block_count)
    w.add_context_length(2048)
    w.add_embedding_length(N_EMBD)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(head_count_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_file_type(0)  # all F32
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(vocab["tokens"])
    w.add_token_scores(vocab["scores"])
    w.add_token_types(vocab["types"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    g = np.random.default_rng(seed)

    def t(*shape):
        return (g.standard_normal(shape) * 0.5).astype(np.float32)

    if tensors:  # without: a vocabulary-only file
        w.add_tensor("token_embd.weight", t(n_vocab, N_EMBD))
    for i in range(N_LAYER if tensors else 0):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{i}.{part}.weight", t(N_EMBD, N_EMBD) / 4)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", t(N_FF, N_EMBD) / 4)
        w.add_tensor(f"blk.{i}.ffn_up.weight", t(N_FF, N_EMBD) / 4)
        w.add_tensor(f"blk.{i}.ffn_down.weight", t(N_EMBD, N_FF) / 4)
    if tensors:
        w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor("output.weight", t(n_vocab, N_EMBD))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def tiny_spm(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("spm") / "tiny-llama-spm.gguf", _vocab())


@pytest.mark.parametrize("scoring", ["first-token", "full"])
def test_audit_through_a_sentencepiece_model_scores_the_references_tokens(tiny_spm, tmp_path, capsys, scoring):
    import llama_cpp

    from lbtui.tasks import catalog
    from lbtui.backends.llama import LlamaBackend
    from lbtui.auditing.planning import plan, prepare
    from lbtui.models import resolve

    db = tmp_path / "spm.db"
    code = main(
        [
            "run",
            "-m",
            str(tiny_spm),
            "-t",
            "reviews",
            "-k",
            "4",
            "--limit",
            "6",
            "--scoring",
            scoring,
            "--db",
            str(db),
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err  # first-token mode was refused here when parts were tokenized apart
    (run,) = json.loads(out.out)["runs"]
    stored = Store(db).run(run["run_id"])
    assert stored["method_version"] == 2

    # The stored label ids are the reference's: the tokens after the prompt's in
    # tokenize(prompt + " " + label), by llama-cpp-python's own high-level tokenizer.
    ref = llama_cpp.Llama(str(tiny_spm), vocab_only=True, verbose=False)
    spec = resolve(str(tiny_spm))
    (p,) = plan([spec], [catalog.load("reviews")], [4], [0], limit=6, scoring=scoring)
    backend = LlamaBackend(tiny_spm, n_ctx=2048)
    try:
        prepare(p, backend)
        test = [it for it in p.items if it.set == "test"]
        text = test[0].prompt_text
        n = len(ref.tokenize(text.encode(), add_bos=True))
        expected = [
            ref.tokenize((text + " " + lab).encode(), add_bos=True)[n:]
            + ([ref.token_eos()] if scoring == "full" else [])
            for lab in ("negative", "positive")
        ]
        assert stored["label_ids"] == [expected]
        assert all(len(ids) == 1 + (scoring == "full") for ids in expected)  # "▁negative", not "▁", "▁negative"
        # The stored scores equal evaluating each (prompt, label) whole from an empty cache.
        scores = Store(db).scored_set(run["run_id"], "test").scores.reshape(-1, 2)
        naive = np.array([backend.score_naive(it.request, mode=scoring) for it in test])
        assert np.max(np.abs(scores - naive)) < 1e-3
        assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    finally:
        backend.close()
