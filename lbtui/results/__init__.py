"""The read side: stored scores -> fitted calibrations -> metrics -> bootstrap draws.

Everything that shows or uses a finished audit (``lbtui report``, the app's views and
verdict, ``lbtui classify``, the Python API) reads through ``Results``; the engine
(lbtui/auditing) only writes."""

from .service import Results, RunReport, report, run_scores

__all__ = ["Results", "RunReport", "report", "run_scores"]
