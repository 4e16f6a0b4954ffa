"""The read side: stored scores -> fitted calibrations -> metrics -> bootstrap draws.

Everything that shows or uses a finished audit (``lbtui report``, the app's views and
verdict, ``lbtui classify``, the Python API) reads through ``Results``; the engine
(lbtui/auditing) only writes."""

from .run import Run
from .service import Results, report, run_scores

__all__ = ["Results", "Run", "report", "run_scores"]
