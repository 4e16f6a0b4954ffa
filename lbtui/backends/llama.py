"""llama.cpp backend (llama-cpp-python): exact scoring, one query at a time or in packs.

Two ways to lay queries into llama.cpp's KV cache, both giving the numbers of each
prompt evaluated whole (``score_naive``); ``batching`` picks one, by default per device:

- sequential (CPU): like a careful plain loop, the cache keeps what a prompt shares with
  the one before it (the instruction and demonstrations) and each query's own tokens are
  decoded as one small batch at the positions, and so in the KV cells, they would have
  alone. In full mode the first label's tokens ride with the query and each other label
  follows in one batch, dropped again after. Nothing is padded; only where a decode would
  be shorter than ``min_rows`` (see MIN_ROWS) are the query's last tokens evaluated
  again. On CPU a bigger batch hardly pays: measured on a
  2-core EPYC, 8 queries in 8 KV streams per decode were no faster than one at a time
  and, through another attention kernel, changed scores by up to 0.08 nats.
- packs (GPU, where batching pays): queries sharing a prefix form a pack; each gets a
  sequence copied from the prefix's sequence 0 of a unified cache (the cells are shared,
  not recomputed) and the whole pack, with every label branch in full mode, goes
  through one llama_decode. ``layout`` keeps every token in the KV-cell lane it would
  have alone, at the price of padding rows and re-evaluated tails.

Logits are requested only at the rows that are read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ModelError
from ..models.gguf import MAX_N_CTX, MIN_N_CTX, check_gguf, check_model_header, quiet_stderr, weights
from .base import Request, log_softmax_at
from .llama_common import check_api, cpu_features, offload, piece_of, tokenize_with
from .llama_probe import ExactnessProbe
from .layout import Want, align_down, common_prefix, query_rows, query_segments, rows_of


BATCHING = ("auto", "sequential", "packs")


class LlamaBackend(ExactnessProbe):
    # the build, its CPU kernels, offload and how queries were batched; never threads,
    # n_batch or n_ctx, which leave an exact score unchanged
    numbers_keys = ("backend", "llama_cpp_python", "numbers", "n_gpu_layers", "cpu_features")

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = 4096,
        n_gpu_layers: int = -1,
        n_threads: int | None = None,
        n_batch: int = 512,
        n_seq_max: int = 64,
        max_pack: int | None = None,
        batching: str = "auto",
        where: str = "--model",
    ):
        import llama_cpp

        check_api()
        check_gguf(path, where=where)
        check_model_header(path, where=where)  # what llama.cpp would abort on, in one line
        if not MIN_N_CTX <= n_ctx <= MAX_N_CTX:  # llama.cpp aborts the process, or wraps, outside these
            raise ModelError(f"{where} n_ctx", f"must be between {MIN_N_CTX} and {MAX_N_CTX}, got {n_ctx}")
        if batching not in BATCHING:
            raise ModelError(f"{where} batching", f"must be one of {', '.join(BATCHING)}, got {batching!r}")
        self._lc = lc = llama_cpp
        gpu = bool(lc.llama_supports_gpu_offload()) and n_gpu_layers != 0
        self.batching = batching if batching != "auto" else "packs" if gpu else "sequential"
        if self.batching == "sequential":
            n_seq_max = 1
        threads = n_threads or os.cpu_count() or 1
        self._model = self._ctx = self._batch = None
        self._load(path, where, n_ctx=n_ctx, n_batch=n_batch, n_seq_max=n_seq_max, threads=threads, gpu=n_gpu_layers)
        self.name = str(path)
        self.n_ctx = lc.llama_n_ctx(self._ctx)
        # llama.cpp lowers the batch to the context when the context is smaller; a decode of
        # more rows than it accepts aborts the process.
        self.n_batch = n_batch = min(n_batch, lc.llama_n_batch(self._ctx), lc.llama_n_ubatch(self._ctx))
        self.n_seq_max = n_seq_max
        self.n_vocab = self._model.n_vocab()
        eos = self._model.token_eos()
        self.eos = eos if eos >= 0 else None
        self.metadata = self._model.metadata()
        self.max_pack = max_pack
        # packs want a few full batches of typical queries; one at a time, progress every 8
        self.requests_per_call = max(8, n_batch // 8) if self.batching == "packs" else 8
        self.info = self._describe(threads, n_gpu_layers)
        self.tokens_evaluated = 0  # real tokens decoded
        self.pad_tokens = 0  # alignment rows decoded on top of them
        self.decode_seconds = 0.0
        self._batch = lc.llama_batch_init(n_batch, 0, n_seq_max)
        self._mem = lc.llama_get_memory(self._ctx)
        self._scratch = n_seq_max - 1  # the sequence that padding rows belong to
        self._cached: list[int] = []  # tokens held by sequence 0 (packs: a multiple of align long)
        self._measure_numbers()

    def _load(self, path: Path, where: str, *, n_ctx, n_batch, n_seq_max, threads, gpu) -> None:
        """The model and one context, set for exact numbers."""
        from llama_cpp._internals import LlamaModel

        lc = self._lc
        mp = lc.llama_model_default_params()
        mp.n_gpu_layers = gpu
        # Repacked CPU weights compute the last (rows % 4) rows of a batch with another
        # kernel, so a row's numbers would depend on the batch size; plain weights do not
        # (and were as fast here: Gemma 3 270M 295 vs 270 tokens/s, SmolLM2 166 vs 175).
        mp.use_extra_bufts = False
        cp = lc.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = n_ctx, n_batch, n_batch, n_seq_max
        cp.n_threads = cp.n_threads_batch = threads
        # Flash attention's CPU kernel splits work by batch shape, which would make a
        # query's scores depend on its pack; the plain path only on cell lanes (layout).
        cp.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cp.kv_unified = True  # one cache whose prefix cells every query sequence shares
        cp.swa_full = True  # sliding-window models (Gemma 3) must keep the prefix cells
        cp.no_perf = True
        try:
            with quiet_stderr():
                self._model = LlamaModel(path_model=str(path), params=mp, verbose=bool(os.environ.get("LBTUI_VERBOSE")))
                ctx = lc.llama_init_from_model(self._model.model, cp)
        except (ValueError, RuntimeError) as e:
            raise ModelError(where, f"llama.cpp could not load {path} ({e}); is the file complete?") from None
        if not ctx:
            self._model.close()
            raise ModelError(
                where, f"llama.cpp could not create a context for {path} (n_ctx {n_ctx}); try a smaller n_ctx"
            )
        self._ctx = ctx

    def _describe(self, threads: int, n_gpu_layers: int) -> dict:
        lc = self._lc
        return {
            "backend": "llama.cpp",
            "llama_cpp_python": lc.__version__,
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_threads": threads,
            "n_gpu_layers": n_gpu_layers,
            "batching": self.batching,
            "gpu_offload_supported": bool(lc.llama_supports_gpu_offload()),
            **offload(lc.llama_model_n_layer(self._model.model), n_gpu_layers),
            **weights(lc, self._model.model, self.metadata),
            "cpu_features": cpu_features(),
        }

    def _measure_numbers(self) -> None:
        """How exact this context can be (llama_probe.py), and what its numbers are."""
        self.min_rows = 1
        if self.batching == "packs":
            self.align, exact = self._measure_align()
            self.info.update(kv_align=self.align, exact_batching=exact)
        else:
            self.align = 1
            self.min_rows, exact = self._measure_min_rows()
            self.info.update(min_rows=self.min_rows)
        # What the numbers depend on beyond model and build: equal to whole-prompt
        # evaluation, or to this lane width's packs.
        self.info["numbers"] = (
            "whole-prompt"
            if exact
            else f"packs, {self.align}-cell lanes"
            if self.batching == "packs"
            else f"sequential, {self.min_rows} rows"
        )
        self.tokens_evaluated = self.pad_tokens = 0  # the probe is not the audit's work
        self.decode_seconds = 0.0

    # --- tokens ------------------------------------------------------------------------

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]:
        return tokenize_with(self._model, text, bos=bos, special=special)

    def piece(self, token: int) -> str:
        return piece_of(self._model, token)

    # --- decoding ----------------------------------------------------------------------

    def _decode(self, rows, on_logits) -> None:
        """Decode rows (token, position, sequence ids, want) in n_batch slices; padding
        rows (token None) go to the scratch sequence. ``on_logits(want, logits)`` is
        called for each wanted row while its logits are valid."""
        lc, b = self._lc, self._batch
        pad_pos = 0
        cuts = list(range(0, len(rows), self.n_batch)) + [len(rows)]
        if len(cuts) > 2 and cuts[-1] - cuts[-2] < self.min_rows:
            cuts[-2] = cuts[-1] - self.min_rows  # no short slice at the end (see MIN_ROWS)
        for lo, hi in zip(cuts, cuts[1:]):
            chunk = rows[lo:hi]
            b.n_tokens = len(chunk)
            wanted = []
            for i, (tok, pos, seqs, want) in enumerate(chunk):
                if tok is None:
                    tok, pos, seqs = 0, pad_pos, (self._scratch,)
                    pad_pos += 1
                b.token[i] = tok
                b.pos[i] = pos
                b.n_seq_id[i] = len(seqs)
                for j, s in enumerate(seqs):
                    b.seq_id[i][j] = s
                b.logits[i] = want is not None
                if want is not None:
                    wanted.append((i, want))
            t0 = time.perf_counter()
            rc = lc.llama_decode(self._ctx, b)
            self.decode_seconds += time.perf_counter() - t0
            if rc != 0:
                self._reset()
                raise RuntimeError(f"llama_decode failed with code {rc}")
            real = sum(1 for r in chunk if r[0] is not None)
            self.tokens_evaluated += real
            self.pad_tokens += len(chunk) - real
            for i, want in wanted:
                ptr = lc.llama_get_logits_ith(self._ctx, i)
                on_logits(want, np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)))

    def _reset(self) -> None:
        self._lc.llama_memory_clear(self._mem, True)
        self._cached = []

    def _set_prefix(self, tokens: Sequence[int]) -> None:
        """Make sequence 0 hold ``tokens`` (a multiple of align long), keeping what it shares."""
        keep = align_down(common_prefix(self._cached, tokens), self.align)
        self._lc.llama_memory_seq_rm(self._mem, 0, keep, -1)
        del self._cached[keep:]
        rest = list(tokens[keep:])
        if rest:
            self._decode([(t, keep + i, (0,), None) for i, t in enumerate(rest)], None)
            self._cached.extend(rest)

    # --- packing -----------------------------------------------------------------------

    def _fits(self, requests, members, prefix, mode) -> bool:
        rows = sum(
            query_rows(len(requests[i].prompt), [len(c) for c in requests[i].continuations], prefix, mode, self.align)
            for i in members
        )
        per = 1 if mode == "first-token" else len(requests[members[0]].continuations)
        return rows <= self.n_batch and len(members) * per <= self.n_seq_max - 2 and prefix + rows <= self.n_ctx

    def _next_pack(self, requests, i, mode) -> tuple[list[int], int]:
        """Requests i.. that share a prefix and fit one batch, and that prefix's length.
        A request joins unless its predecessor shares much more with it than the pack
        does (leave-one-out prompts share a demonstration more with their neighbour than
        with the pack's first; inputs that merely start with the same word join)."""
        a = self.align
        first = requests[i].prompt
        cap = align_down(len(first) - 1, a)
        members, prefix = [i], None
        limit = self.max_pack or len(requests)
        for j in range(i + 1, min(len(requests), i + limit)):
            p = requests[j].prompt
            shared = align_down(common_prefix(first, p), a)
            if shared + 2 * a < common_prefix(requests[j - 1].prompt, p):
                break  # it would lose more than a few tokens of reuse by joining
            new = min(shared, cap, align_down(len(p) - 1, a), shared if prefix is None else prefix)
            if not self._fits(requests, members + [j], new, mode):
                break
            members.append(j)
            prefix, cap = new, min(cap, align_down(len(p) - 1, a))
        if prefix is None:  # alone: keep what the next request (or the cache) can reuse
            nxt = requests[i + 1].prompt if i + 1 < len(requests) else self._cached
            prefix = min(cap, align_down(max(common_prefix(first, nxt), common_prefix(first, self._cached)), a))
        return members, prefix

    def score(self, requests: Sequence[Request], *, mode: str) -> np.ndarray:
        if not requests:
            return np.zeros((0, 0))
        K = len(requests[0].continuations)
        out = np.zeros((len(requests), K))
        if self.batching == "sequential":
            for i, req in enumerate(requests):
                out[i] = self._score_one(req, mode)
            return out
        i = 0
        while i < len(requests):
            members, prefix = self._next_pack(requests, i, mode)
            self._set_prefix(requests[i].prompt[:prefix])
            if len(members) == 1:
                self._score_alone(requests, i, prefix, mode, out)
            else:
                self._score_pack(requests, members, prefix, mode, out)
            i += len(members)
        return out

    def _score_one(self, req: Request, mode: str) -> np.ndarray:
        """One request after what the cache holds: its own tokens in one batch (in full mode
        with the first label's tokens but the last after them), then each other label's
        tokens but the last in one batch; label tokens are dropped again afterwards."""
        lc, prompt, n, conts = self._lc, req.prompt, len(req.prompt), req.continuations
        keep = max(0, min(common_prefix(self._cached, prompt), n - self.min_rows))
        lc.llama_memory_seq_rm(self._mem, 0, keep, -1)
        del self._cached[keep:]
        steps: list[list[float]] = [[] for _ in conts]  # per label, log p of each of its tokens

        def take(want: Want, logits: np.ndarray) -> None:
            if want.label is None:  # the query's last row: every label's first token
                for k, lp in enumerate(log_softmax_at(logits, [c[0] for c in conts])):
                    steps[k].append(float(lp))
            else:
                steps[want.label].append(float(log_softmax_at(logits, [conts[want.label][want.step]])[0]))

        rows = [(prompt[p], p, (0,), Want(0, None, 0) if p == n - 1 else None) for p in range(keep, n)]
        full = mode == "full"
        if full:
            rows += [(t, n + j, (0,), Want(0, 0, j + 1)) for j, t in enumerate(conts[0][:-1])]
        self._decode(rows, take)
        self._cached = list(prompt)
        if full and len(conts[0]) > 1:
            lc.llama_memory_seq_rm(self._mem, 0, n, -1)
        for k, cont in enumerate(conts[1:] if full else [], start=1):
            if len(cont) > 1:
                # the query's last tokens again where the label alone has too few rows
                back = max(0, min(n, self.min_rows - (len(cont) - 1)))
                lc.llama_memory_seq_rm(self._mem, 0, n - back, -1)
                rows = [(prompt[p], p, (0,), None) for p in range(n - back, n)]
                rows += [(t, n + j, (0,), Want(0, k, j + 1)) for j, t in enumerate(cont[:-1])]
                self._decode(rows, take)
                lc.llama_memory_seq_rm(self._mem, 0, n, -1)
        return np.array([float(np.mean(s)) if full else s[0] for s in steps])

    def _score_pack(self, requests, members, prefix, mode, out, labels=None) -> None:
        lc = self._lc
        segs, used, seq = [], [], 1
        for i in members:
            req = requests[i]
            n_branch = 1 if mode == "first-token" else len(labels if labels is not None else req.continuations)
            seqs = list(range(seq, seq + n_branch))
            seq += n_branch
            used.extend(seqs)
            segs.extend(
                query_segments(
                    i, req.prompt, req.continuations, prefix, seqs, mode=mode, labels=labels, align=self.align
                )
            )
        for s in used:
            lc.llama_memory_seq_cp(self._mem, 0, s, -1, -1)
        steps: dict[tuple[int, int], dict[int, float]] = {}  # (request, label) -> step -> log p

        def take(want: Want, logits: np.ndarray) -> None:
            conts = requests[want.req].continuations
            if mode == "first-token":
                out[want.req] = log_softmax_at(logits, [c[0] for c in conts])
                return
            labs = [want.label] if want.label is not None else list(labels if labels is not None else range(len(conts)))
            for lab, lp in zip(labs, log_softmax_at(logits, [conts[lab][want.step] for lab in labs])):
                steps.setdefault((want.req, lab), {})[want.step] = float(lp)

        try:
            self._decode(rows_of(segs), take)
        finally:
            for s in used + [self._scratch]:
                lc.llama_memory_seq_rm(self._mem, s, -1, -1)
        if mode == "full":
            for (r, lab), by_step in steps.items():
                out[r, lab] = float(np.mean([by_step[k] for k in sorted(by_step)]))

    def _score_alone(self, requests, i, prefix, mode, out) -> None:
        """One request; in full mode its labels are split into groups when they do not
        fit one batch's sequences or the context together."""
        if mode == "first-token" or self._fits(requests, [i], prefix, mode):
            self._score_pack(requests, [i], prefix, mode, out)
            return
        req = requests[i]
        n = len(req.prompt)
        group: list[int] = []
        for lab, cont in enumerate(req.continuations):
            grown = group + [lab]
            rows = query_rows(n, [len(req.continuations[g]) for g in grown], prefix, mode, self.align)
            if group and (len(grown) > self.n_seq_max - 2 or prefix + rows > self.n_ctx):
                self._score_pack(requests, [i], prefix, mode, out, labels=group)
                group = [lab]
            else:
                group = grown
        self._score_pack(requests, [i], prefix, mode, out, labels=group)

    # --- references and measurements ------------------------------------------------------

    def score_naive(self, request: Request, *, mode: str) -> np.ndarray:
        """The unbatched reference, as lm-evaluation-harness's GGUF backend scores: the
        prompt evaluated whole from an empty cache, once in first-token mode (its last
        logits give every label), once per (prompt, label) in full mode. Drops the warm
        prefix."""
        n = len(request.prompt)
        if mode == "first-token":
            self._reset()
            got_first: list[np.ndarray] = []
            self._decode(
                [(t, p, (0,), Want(0, None, 0) if p == n - 1 else None) for p, t in enumerate(request.prompt)],
                lambda want, logits: got_first.append(log_softmax_at(logits, [c[0] for c in request.continuations])),
            )
            self._reset()
            return got_first[0]
        row = []
        for cont in request.continuations:
            self._reset()
            toks = list(request.prompt) + list(cont)
            got: dict[int, float] = {}

            def take(want: Want, logits: np.ndarray, cont=cont) -> None:
                got[want.step] = float(log_softmax_at(logits, [cont[want.step]])[0])

            steps = 1 if mode == "first-token" else len(cont)
            self._decode(
                [
                    (t, p, (0,), Want(0, 0, p - n + 1) if n - 1 <= p < n - 1 + steps else None)
                    for p, t in enumerate(toks)
                ],
                take,
            )
            row.append(float(np.mean([got[k] for k in sorted(got)])))
        self._reset()
        return np.array(row)

    def raw_rate(self, n_tokens: int = 512, repeats: int = 3) -> float:
        """llama.cpp's own prompt-processing rate: tokens/s for one n_tokens batch from an
        empty cache, logits at its last row only (the best of ``repeats``)."""
        toks = [(i * 7919) % (self.n_vocab - 1) + 1 for i in range(n_tokens)]
        best = 0.0
        for _ in range(repeats):
            self._reset()
            t0 = time.perf_counter()
            self._decode(
                [(t, p, (0,), Want(0, 0, 0) if p == n_tokens - 1 else None) for p, t in enumerate(toks)],
                lambda w, lg: None,
            )
            best = max(best, n_tokens / (time.perf_counter() - t0))
        self._reset()
        return best

    def clear(self) -> None:
        self._reset()

    def close(self) -> None:
        lc = self._lc
        with quiet_stderr():  # llama.cpp logs buffer sizes as it frees them
            if self._batch is not None:
                lc.llama_batch_free(self._batch)
                self._batch = None
            if self._ctx is not None:
                lc.llama_free(self._ctx)
                self._ctx = None
            if self._model is not None:
                self._model.close()
                self._model = None
