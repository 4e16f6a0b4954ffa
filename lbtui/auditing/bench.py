"""`lbtui bench`: how close an audit gets to llama.cpp's own speed, in one process.

Everything is measured in the same process, one after another, so the figures are
ratios that survive a noisy machine: (a) llama.cpp's raw prompt-processing rate,
(b) the real engine auditing one run into a throw-away store, in first-token and in
full mode, (c) the plain loop (backends/plain.py: the shared prefix once, then one
query at a time with llama-cpp-python's Llama class) on the same inputs, (d) the naive
way, as lm-evaluation-harness scores, on a few test examples (each input's prompt
evaluated whole from an empty cache: once in first-token mode, once per label in full
mode), (e) the process's peak resident memory.

"Tokens needed" is what any method must evaluate: the distinct token prefixes of the
run's prompts (the shared definition and demonstrations once), plus in full mode each
label's tokens but the last. The effective rate is tokens needed / wall time. Its
ratio to the raw rate splits into three factors that the JSON reports: the layout's
(tokens needed per row decoded: copies of unaligned tails and padding rows cost rows,
see backends/layout.py), llama_decode's (rows per second against the raw rate: longer
contexts and more logits rows cost more) and the share of wall time spent decoding.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..backends.base import SCORING, SCORING_MODES, Request
from ..backends.layout import common_prefix
from ..models import ModelSpec
from ..store import Store
from ..types import Task
from .engine import Engine, NullProgress
from .planning import plan


MODES = SCORING_MODES[::-1]  # the cheaper mode first


def distinct_tokens(sequences: Sequence[Sequence[int]]) -> int:
    """Nodes of the token trie of ``sequences``: what evaluating them with perfect
    prefix sharing costs."""
    ordered = sorted(tuple(s) for s in sequences)
    total, prev = 0, ()
    for s in ordered:
        total += len(s) - common_prefix(prev, s)
        prev = s
    return total


def tokens_needed(requests: Sequence[Request], mode: str) -> int:
    if not SCORING[mode].whole:
        return distinct_tokens([r.prompt for r in requests])
    return distinct_tokens([r.prompt + tuple(c[:-1]) for r in requests for c in r.continuations])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run(
    spec: ModelSpec,
    task: Task,
    *,
    shots: int = 8,
    limit: int = 200,
    seed: int = 0,
    naive: int = 8,
    modes: Sequence[str] = MODES,
    note=lambda message: None,
    plain: bool = True,
) -> dict:
    from ..backends import load_backend

    path = spec.locate()
    note(f"loading {spec.name}")
    backend = load_backend(spec, path)
    try:
        note("raw prompt processing: 512 tokens from an empty cache")
        raw = backend.raw_rate(512)
        out: dict = {
            "model": spec.name,
            "model_file_mb": round(path.stat().st_size / 2**20, 1),
            "task": task.name,
            "shots": shots,
            "n_ctx": backend.n_ctx,
            "n_threads": backend.info.get("n_threads"),
            "raw_tokens_per_s": round(raw, 1),
            "modes": {},
        }
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.db")
            for mode in modes:
                (p,) = plan([spec], [task], [shots], [seed], limit=limit, scoring=mode)
                note(f"{mode}: auditing {len(p.sets.test)} test examples and their calibration sets through the engine")
                m, run_id, seconds = _timed_audit(store, backend, p, raw)
                out["modes"][mode] = m
                reqs = [it.request for it in p.items]  # as the engine prepared them
                if plain:
                    note(f"{mode}: the plain loop on the same {len(reqs)} inputs")
                    _against_plain(m, path, backend, reqs, mode, seconds, _stored(store, run_id, p.items), note)
                if naive:
                    naive_rate = _naive_rate(backend, reqs, p, naive, mode, note)
                    m["naive_examples_per_s"] = round(naive_rate, 3)
                    m["speedup_vs_naive"] = round(len(reqs) / seconds / naive_rate, 1)
            store.close()
        out["peak_rss_mb"] = round(peak_rss_mb(), 1)
        out["rss_limit_mb"] = round(out["model_file_mb"] + 400, 1)
        return out
    finally:
        backend.close()


def _timed_audit(store: Store, backend, p, raw: float) -> tuple[dict, int, float]:
    """Audit plan ``p`` through the real engine on our backend: its figures, run id and
    seconds. The profile: ratio_to_raw = layout x decode x share of wall time in llama_decode."""
    mode = p.scoring
    backend.clear()
    before = (backend.tokens_evaluated, backend.pad_tokens, backend.decode_seconds)
    engine = Engine(store, backend_factory=lambda s, pth: backend, progress=NullProgress(), owns_backends=False)
    t0 = time.perf_counter()
    (run_id,) = engine.execute([p])
    seconds = time.perf_counter() - t0
    engine.close()  # the backend stays open: it is ours
    reqs = [it.request for it in p.items]
    needed = tokens_needed(reqs, mode)
    rate = needed / seconds
    m = {
        "inputs": len(reqs),
        "tokens_needed": needed,
        "tokens_evaluated": backend.tokens_evaluated - before[0],
        "pad_rows": backend.pad_tokens - before[1],
        "decode_seconds": round(backend.decode_seconds - before[2], 2),
        "seconds": round(seconds, 2),
        "examples_per_s": round(len(reqs) / seconds, 2),
        "tokens_per_s": round(rate, 1),
        "ratio_to_raw": round(rate / raw, 3),
    }
    rows = m["rows_decoded"] = m["tokens_evaluated"] + m["pad_rows"]
    m["layout_efficiency"] = round(needed / rows, 3)  # needed tokens / rows decoded
    m["decode_efficiency"] = round(rows / m["decode_seconds"] / raw, 3)  # rows/s vs raw
    m["decode_share"] = round(m["decode_seconds"] / seconds, 3)
    return m, run_id, seconds


def _against_plain(m: dict, path, backend, reqs, mode: str, seconds: float, mine: np.ndarray, note) -> None:
    """The plain llama-cpp-python loop on the same inputs: its time and its largest score
    difference from ours, into ``m`` (or why it could not run)."""
    got = _plain_apart(path, reqs, mode=mode, n_ctx=backend.n_ctx, n_threads=backend.info.get("n_threads"))
    if isinstance(got, str):
        m["plain_error"] = got
        note(f"{mode}: {got}")
        return
    plain_seconds, plain_scores = got
    m["plain_seconds"] = round(plain_seconds, 2)
    m["ratio_to_plain"] = round(seconds / plain_seconds, 3)  # below 1: faster than the plain loop
    m["plain_max_abs_diff"] = float(np.max(np.abs(mine - plain_scores)))


def _plain_apart(path, reqs, **kw):
    """The plain loop in a child process: it drives llama-cpp-python's high-level Llama
    class, which some builds crash in (a segmentation fault in Llama.eval, seen with a
    fresh 0.3.36 build); then the bench reports that instead of dying with it. (seconds,
    scores), or the reason there are none."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from ..backends.plain import plain_loop

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(plain_loop, path, list(reqs), **kw).result()
        except BrokenProcessPool:
            return (
                "the plain loop crashed inside llama-cpp-python (its high-level Llama.eval); this build gives no"
                " plain figures"
            )


def _stored(store: Store, run_id: int, items) -> np.ndarray:
    """The run's stored scores in the order of its items."""
    got = {(r["set"], r["idx"]): json.loads(r["scores"]) for r in store.score_rows(run_id)}
    return np.array([got[(it.set, it.idx)] for it in items])


def _naive_rate(backend, reqs, p, n, mode, note) -> float:
    """Examples per second when each input's prompt is evaluated whole from an empty cache
    (once per label in full mode)."""
    test = [r for r, it in zip(reqs, p.items) if it.set == "test"][:n]
    note(f"naive ({mode}): {len(test)} test examples, each prompt evaluated whole")
    t0 = time.perf_counter()
    for r in test:
        backend.score_naive(r, mode=mode)
    return len(test) / (time.perf_counter() - t0)
