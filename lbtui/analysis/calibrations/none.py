"""No calibration: p̂ is uniform, q = p."""

import numpy as np

from .base import Calibration, Method


METHOD = Method("none", "uncalibrated", lambda rs, earlier: Calibration.from_prior(np.ones(rs.k)), "blue")
