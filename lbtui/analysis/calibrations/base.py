"""What a calibration method is: one object the tables, reports, bootstrap, diagnosis,
drill-down and toggles all read (see docs/ARCHITECTURE.md for adding one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...types import RunScores
from ..calibration import NotApplicable, apply


__all__ = ["Calibration", "Method", "NotApplicable", "Scores"]

Scores = RunScores  # the raw (N, K) scores of one run's sets


@dataclass(frozen=True)
class Calibration:
    """One run's fitted calibration: a map from (..., N, K) probabilities to calibrated
    ones. Prior methods keep their p̂ (shown in the drill-down and diagnosis); ``note``
    says something a reader must know (a fallback)."""

    map: Callable[[np.ndarray], np.ndarray]
    prior: np.ndarray | None = None
    note: str | None = None

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        return self.map(probs)

    @classmethod
    def from_prior(cls, prior: np.ndarray, note: str | None = None) -> "Calibration":
        prior = np.asarray(prior, dtype=np.float64)
        return cls(lambda p: apply(p, prior), prior, note)


@dataclass(frozen=True)
class Method:
    """A calibration method.

    ``fit(scores, earlier)`` returns the run's Calibration or raises NotApplicable with the
    reason; ``earlier`` holds the calibrations of the methods before it in the registry
    (ProCa falls back to BC's). ``needs`` names the scored input sets it reads besides
    the test and bias sets (each must be produced by examples.build and the engine).
    ``uses`` names earlier methods whose calibrations ``fit`` may read. ``resample(p)``
    re-estimates the prior on a bootstrap resample of the test set's probabilities
    (B, N, K) -> (B, K); None holds the fitted calibration fixed across resamples.
    ``fitted`` marks a fitted map rather than a prior: slower, so the app fits it once a
    run is complete."""

    name: str
    title: str
    fit: Callable[[Scores, dict[str, Calibration]], Calibration]
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    resample: Callable[[np.ndarray], np.ndarray] | None = None
    fitted: bool = False

    @property
    def short(self) -> str:
        return self.name.upper()
