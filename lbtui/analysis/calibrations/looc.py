"""Leave-one-out calibration (Reif and Schwartz 2024): p̂ from each demonstration scored
with the other k - 1 as its prompt, balanced over the gold labels present."""

from ..calibration import looc_prior
from ..metrics import softmax
from .base import Calibration, Method


METHOD = Method(
    "looc",
    "leave-one-out (Reif and Schwartz 2024)",
    lambda rs, earlier: Calibration.from_prior(looc_prior(softmax(rs.looc), rs.looc_gold)),
    "magenta",
    needs=("looc",),
)
