"""How exact a llama.cpp context's numbers can be, measured when it loads: the KV-cell
group width that moving a sequence must respect (packs), and the fewest rows a decode may
have (sequential). Measured, not assumed: a wheel may have been compiled for another CPU,
and GPU kernels differ again."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .layout import Want

# Probes of random tokens: a move by a wrong width changed the logits of most such
# sequences by 0.3-1 nats (SmolLM2, AVX-512), but left a few unchanged, so several are tried.
PROBE_LENGTHS = (40, 52, 64)
WIDTHS = (8, 16, 32, 64)  # KV-cell group widths to try, smallest first
# A decode of few rows takes other CPU kernels than a longer one (a vector dot product
# below two rows, and per quantization type other tiles), and they sum in another order:
# measured on a 2-core EPYC, a last decode of 1 row changed SmolLM2's logits by up to 0.5,
# of 1-7 rows Gemma 3's by up to 1.7, of 8 or more neither. Sequential scoring therefore
# never decodes fewer rows than the smallest exact count, measured at load.
# The check is statistical (some sequences agree even at a wrong count), hence four
# probes; one row is never tried: there llama.cpp always takes its vector kernel.
MIN_ROWS = (2, 4, 8, 16)  # candidates, smallest first


class ExactnessProbe:
    """Mixed into LlamaBackend: the probes decode through its cache (``_decode``,
    ``_reset``), before the audit's first query."""

    n_vocab: int

    def _probe(self, tokens: Sequence[int], shift: int) -> np.ndarray:
        """The logits after ``tokens`` evaluated alone, their cells moved by ``shift``."""
        got: list[np.ndarray] = []
        self._reset()
        rows = [(None, 0, (), None)] * shift + [
            (t, p, (0,), Want(0, 0, 0) if p == len(tokens) - 1 else None) for p, t in enumerate(tokens)
        ]
        self._decode(rows, lambda w, lg: got.append(lg.copy()))
        self._reset()
        return got[0]

    def _measure_align(self) -> tuple[int, bool]:
        """The smallest move of a sequence's KV cells that leaves its logits bit for bit
        unchanged: the width of the groups in which this build sums attention (8 with AVX2,
        16 with AVX-512). Measured, not assumed, because a wheel may have been compiled for
        another CPU and GPU kernels differ again. False when no width is exact (batched
        scores then differ slightly from whole-prompt evaluation)."""
        g = np.random.default_rng(0)
        probes = [[int(t) for t in g.integers(1, self.n_vocab, n)] for n in PROBE_LENGTHS]
        refs = [self._probe(p, 0) for p in probes]
        for width in WIDTHS:
            if all(np.array_equal(self._probe(p, width), ref) for p, ref in zip(probes, refs)):
                return width, True
        return WIDTHS[-1], False

    def _split(self, tokens: Sequence[int], tail: int) -> np.ndarray:
        """The logits after ``tokens``, their last ``tail`` decoded after the rest."""
        got: list[np.ndarray] = []
        self._reset()
        n = len(tokens)
        self._decode([(t, p, (0,), None) for p, t in enumerate(tokens[: n - tail])], None)
        self._decode(
            [(tokens[p], p, (0,), Want(0, 0, 0) if p == n - 1 else None) for p in range(n - tail, n)],
            lambda w, lg: got.append(lg.copy()),
        )
        self._reset()
        return got[0]

    def _measure_min_rows(self) -> tuple[int, bool]:
        """The fewest rows a decode after cached tokens may have and still give the logits
        of the whole prompt evaluated at once (see MIN_ROWS). False when none up to 16
        does."""
        g = np.random.default_rng(1)
        probes = [[int(t) for t in g.integers(1, self.n_vocab, n)] for n in (33, 40, 47, 54)]
        refs = [self._probe(p, 0) for p in probes]
        for m in MIN_ROWS:
            if all(
                np.array_equal(self._split(p, tail), ref) for p, ref in zip(probes, refs) for tail in (m, m + 1, m + 3)
            ):
                return m, True
        return MIN_ROWS[-1], False
