"""What a calibration method is: one object the tables, reports, bootstrap, diagnosis,
drill-down and toggles all read (see docs/ARCHITECTURE.md for adding one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...types import RunScores
from ..calibration import NotApplicable, apply


__all__ = ["KINDS", "PALETTE", "Calibration", "Method", "NotApplicable", "Scores"]

Scores = RunScores  # the raw (N, K) scores of one run's sets


@dataclass(frozen=True)
class Calibration:
    """One run's fitted calibration: a map from (..., N, K) probabilities to calibrated
    ones. A prior method keeps its p̂ (shown in the drill-down and diagnosis) and applies
    q = p / p̂ normalised; a fitted method keeps its model (``map``: a callable with
    ``to_json``). ``note`` says something a reader must know (a fallback). ``to_json``
    and ``from_json`` give exactly the same map back (floats round-trip), so a stored
    calibration classifies new inputs as the audit's metrics did."""

    map: Callable[[np.ndarray], np.ndarray] | None = None
    prior: np.ndarray | None = None
    note: str | None = None

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        if self.prior is not None:
            return apply(probs, self.prior)
        return self.map(probs)

    @classmethod
    def from_prior(cls, prior: np.ndarray, note: str | None = None) -> "Calibration":
        return cls(None, np.asarray(prior, dtype=np.float64), note)

    def to_json(self) -> dict:
        out: dict = {"note": self.note}
        if self.prior is not None:
            out["prior"] = [float(x) for x in self.prior]
        else:
            out["map"] = self.map.kind
            out["params"] = self.map.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict) -> "Calibration":
        if d.get("prior") is not None:
            return cls.from_prior(np.asarray(d["prior"], dtype=np.float64), d.get("note"))
        return cls(_Stored(d["map"], d["params"]), None, d.get("note"))


class _Stored:
    """A fitted map read back from its parameters, rebuilt on first use: reading a
    finished run's metrics never imports scikit-learn or SciPy (`lbtui run` on a stored
    run answers without them)."""

    def __init__(self, kind: str, params: dict):
        self.kind, self._params, self._map = kind, params, None

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        if self._map is None:
            from .. import calibration_models as cm

            self._map = cm.MAPS[self.kind].from_json(self._params)
        return self._map(probs)

    def to_json(self) -> dict:
        return self._params


KINDS = ("prior", "map")  # what a method's fit returns: a prior p̂, or a fitted map
# Plot colours a method may take: plotext's names, each of which the app also draws in
# Rich (ui/consts.RICH_COLORS spells the ones Rich names otherwise).
PALETTE = (
    "blue",
    "red",
    "green",
    "orange",
    "magenta",
    "cyan",
    "yellow",
    "white",
    "gray",
    "blue+",
    "red+",
    "green+",
    "cyan+",
    "magenta+",
)


@dataclass(frozen=True)
class Method:
    """A calibration method.

    ``fit(scores, earlier)`` returns the run's Calibration or raises NotApplicable with the
    reason; ``earlier`` holds the calibrations of the methods before it in the registry.
    ``kind`` says what fit returns: "prior" (a p̂ over the labels) or "map" (a fitted
    callable with ``kind``/``to_json``); ``fallback`` names an earlier method whose prior a
    map method may return instead, with a note (ProCa falls back to BC). ``check`` holds
    fit to its kind. ``slow`` is the cost, a separate matter: a slow method is fitted once
    a run is complete, off the UI thread. ``needs`` names the scored input sets it reads
    besides the test and bias sets (each must be produced by examples.build and the
    engine). ``uses`` names earlier methods whose calibrations ``fit`` may read.
    ``resample(p, w)`` re-estimates the prior on B bootstrap resamples of the test set:
    its probabilities p (N, K) and how often each input is drawn in each resample w
    (B, N) -> (B, K); None holds the fitted calibration fixed across resamples.
    ``color`` is its plot colour (a plotext name), its own in the registry."""

    name: str
    title: str
    fit: Callable[[Scores, dict[str, Calibration]], Calibration]
    color: str
    kind: str = "prior"
    slow: bool = False
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    fallback: str | None = None
    resample: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    @property
    def short(self) -> str:
        return self.name.upper()

    def check(self, c: Calibration, k: int) -> Calibration:
        """The calibration ``fit`` returned, if it is what this method's kind says (a
        programming error otherwise: a prior method without a prior would show p̂ = nan)."""
        if c.prior is not None:
            ok = (self.kind == "prior" or (self.fallback is not None and c.note)) and c.map is None
            if ok and (c.prior.shape != (k,) or not np.all(np.isfinite(c.prior)) or np.any(c.prior <= 0)):
                raise ValueError(
                    f"calibration {self.name!r}: its prior must be {k} finite positive numbers, got {c.prior!r}"
                )
        else:
            ok = self.kind == "map" and callable(c.map) and hasattr(c.map, "kind") and hasattr(c.map, "to_json")
        if not ok:
            got = "a prior" if c.prior is not None else "a map" if c.map is not None else "nothing"
            raise TypeError(
                f"calibration {self.name!r} is of kind {self.kind!r} but its fit returned {got}"
                + (" without a note saying it fell back" if c.prior is not None and self.fallback else "")
            )
        return c
