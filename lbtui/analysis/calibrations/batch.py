"""Batch calibration (Zhou et al. 2024): p̂ is the mean p over the test inputs themselves,
so a bootstrap resample of the test set re-estimates it."""

from ..calibration import mean_prior
from ..metrics import softmax
from .base import Calibration, Method


METHOD = Method(
    "bc",
    "batch (Zhou et al. 2024)",
    lambda rs, earlier: Calibration.from_prior(mean_prior(softmax(rs.test))),
    "orange",
    resample=lambda p, w: (w @ p) / w.sum(axis=1, keepdims=True),
)
