"""Supervised calibration (after Gundem et al. 2025): a per-class affine map of the
log-probabilities fitted on the demonstrations' leave-one-out outputs
(calibration_models.supervised)."""

from .. import calibration_models as cm
from ..metrics import softmax
from .base import Calibration, Method


METHOD = Method(
    "sc",
    "supervised (Gundem et al. 2025)",
    lambda rs, earlier: Calibration(cm.supervised(softmax(rs.looc), rs.looc_gold)),
    "yellow",
    kind="map",
    slow=True,
    needs=("looc",),
)
