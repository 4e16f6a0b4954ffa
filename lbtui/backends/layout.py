"""Where each token of a batched scoring pass goes: pure functions, no llama.cpp.

llama.cpp's CPU kernels sum attention over KV cells in groups of ``align`` cells (the
SIMD width of the softmax and of the value product: 8 with AVX2, 16 with AVX-512; the
backend measures it at load), so a token's scores depend on how the cells it attends
to fall into those groups. Evaluating a prompt alone puts position p in cell p. To get
the same numbers when many prompts share one batch we keep that invariant modulo the
width: every group of ``align`` positions of a sequence sits in one group of cells,
position p in lane p % align. Because cells are filled in batch-row order from a group
boundary, that means: each segment of a sequence starts at a position that is a
multiple of ``align`` and is padded with rows of a scratch sequence to a multiple of
it. (Measured on SmolLM2 with AVX2: a query moved by 1-7 cells changes its label
log-probabilities by up to 0.1 nats; by 8, 16 or 32 cells, not at all. With AVX-512,
a move by 8 cells changes them by up to 0.26 nats.)

In full mode a label's tokens continue the query, so the group holding the query's
last tokens also holds the label's first tokens. Each label branch therefore takes
its own copy of the query's unaligned tail (at most align-1 tokens); everything
before the tail is evaluated once for all branches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

ALIGN = 8  # AVX2's width: the default where nothing was measured


def align_down(n: int, align: int = ALIGN) -> int:
    return n - n % align


def padded(n: int, align: int = ALIGN) -> int:
    return -(-n // align) * align


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True)
class Want:
    """A logits row to read: request ``req``, continuation ``label`` (None: every
    label's first token), ``step`` the index of the continuation token it predicts."""

    req: int
    label: int | None
    step: int


@dataclass
class Segment:
    """Consecutive positions of one or more sequences, decoded together."""

    start: int
    tokens: list[int]
    seqs: tuple[int, ...]
    align: int = ALIGN
    wants: dict[int, Want] = field(default_factory=dict)  # offset in tokens -> what it scores

    @property
    def rows(self) -> int:
        return padded(len(self.tokens), self.align)


def query_segments(
    req: int,
    prompt: Sequence[int],
    continuations: Sequence[Sequence[int]],
    prefix: int,
    seqs: Sequence[int],
    *,
    mode: str,
    labels: Sequence[int] | None = None,
    align: int = ALIGN,
) -> list[Segment]:
    """The segments scoring one request after a cached ``prefix`` (a multiple of ``align``
    shorter than the prompt). ``seqs`` gives one sequence id per scored branch: one in
    first-token mode, one per label in ``labels`` (default all) in full mode."""
    n = len(prompt)
    assert prefix % align == 0 and prefix < n, (prefix, n)
    if mode == "first-token":
        seg = Segment(prefix, list(prompt[prefix:]), (seqs[0],), align)
        seg.wants[n - 1 - prefix] = Want(req, None, 0)
        return [seg]
    labels = list(range(len(continuations))) if labels is None else list(labels)
    tail = align_down(n, align)  # the group boundary at or before the end of the prompt
    segs = []
    if tail > prefix:
        body = Segment(prefix, list(prompt[prefix:tail]), tuple(seqs[: len(labels)]), align)
        if tail == n:  # the prompt ends on a group boundary: the body predicts every first token
            body.wants[n - 1 - prefix] = Want(req, None, 0)
        segs.append(body)
    for b, (s, lab) in enumerate(zip(seqs, labels)):
        cont = continuations[lab]
        toks = list(prompt[tail:]) + list(cont[:-1])
        if not toks:
            continue
        seg = Segment(tail, toks, (s,), align)
        first = n - 1 - tail  # offset of the last prompt token in this segment
        if first >= 0 and b == 0:
            # Every branch computes the same logits after the prompt (same tokens, same
            # lanes); reading them once saves a vocabulary-sized output row per label.
            seg.wants[first] = Want(req, None, 0)
        for step in range(1, len(cont)):
            seg.wants[first + step] = Want(req, lab, step)
        segs.append(seg)
    return segs


def query_rows(prompt_len: int, cont_lens: Sequence[int], prefix: int, mode: str, align: int = ALIGN) -> int:
    """Batch rows (padding included) that ``query_segments`` will use."""
    if mode == "first-token":
        return padded(prompt_len - prefix, align)
    tail = align_down(prompt_len, align)
    rows = padded(tail - prefix, align) if tail > prefix else 0
    return rows + sum(padded(prompt_len - tail + c - 1, align) for c in cont_lens)


def rows_of(segments: Sequence[Segment]) -> list[tuple[int, int, tuple[int, ...], Want | None]]:
    """Flatten segments into batch rows (token, position, sequence ids, want); padding
    rows carry token None and are filled in by the backend with its scratch sequence."""
    out: list = []
    for seg in segments:
        for i, tok in enumerate(seg.tokens):
            out.append((tok, seg.start + i, seg.seqs, seg.wants.get(i)))
        out.extend([(None, 0, (), None)] * (seg.rows - len(seg.tokens)))
    return out
