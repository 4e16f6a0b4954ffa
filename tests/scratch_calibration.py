"""A calibration that exists only in tests: registered (LBTUI_SCRATCH_CALIBRATION=1, see
conftest.py) after the bundled ones, it proves that no table, test, plot or report keeps
its own list of methods: the whole suite passes with it (test_registry_scratch.py)."""

from lbtui.analysis.calibration import mean_prior
from lbtui.analysis.calibrations import Calibration, Method, NotApplicable
from lbtui.analysis.metrics import softmax


def fit(rs, earlier):
    """p̂: the mean p over the labelled bias set (its gold labels are not used)."""
    if len(rs.bias) == 0:
        raise NotApplicable("no bias set")
    return Calibration.from_prior(mean_prior(softmax(rs.bias)))


METHOD = Method("scratch", "scratch (tests only)", fit, "gray")
