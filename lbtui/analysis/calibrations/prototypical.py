"""Prototypical calibration (Han et al. 2022): a Gaussian mixture on the test inputs'
log-probabilities, clusters matched to labels (calibration_models.prototypical). Falls
back to BC, with a note, when the fit degenerates."""

from .. import calibration_models as cm
from ..calibration import NotApplicable
from ..metrics import softmax
from .base import Calibration, Method


def fit(rs, earlier: dict[str, Calibration]) -> Calibration:
    try:
        return Calibration(cm.prototypical(softmax(rs.test)))
    except cm.Degenerate as e:
        if "bc" in earlier:
            return Calibration.from_prior(earlier["bc"].prior, note=f"fell back to BC: {e}")
        raise NotApplicable(str(e)) from None


METHOD = Method(
    "proca", "prototypical (Han et al. 2022)", fit, "cyan", kind="map", slow=True, uses=("bc",), fallback="bc"
)
