"""Domain-context calibration (Fei et al. 2023): p̂ is the mean p over 20 random in-domain
word strings (examples.domain_texts builds them, field by field for several fields)."""

from ..calibration import mean_prior
from ..metrics import softmax
from .base import Calibration, Method


METHOD = Method(
    "dc",
    "domain-context (Fei et al. 2023)",
    lambda rs, earlier: Calibration.from_prior(mean_prior(softmax(rs.dc))),
    "green",
    needs=("dc",),
)
