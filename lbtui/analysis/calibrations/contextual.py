"""Contextual calibration (Zhao et al. 2021, "Calibrate Before Use"): p̂ is the mean p
over the content-free inputs "N/A", "" and "[MASK]" put in the query slot."""

from ..calibration import mean_prior
from ..metrics import softmax
from .base import Calibration, Method


METHOD = Method(
    "cc",
    "contextual (Zhao et al. 2021)",
    lambda rs, earlier: Calibration.from_prior(mean_prior(softmax(rs.cc))),
    "red",
    needs=("cc",),
)
