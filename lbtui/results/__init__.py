"""The read side: stored scores -> fitted calibrations -> metrics -> bootstrap draws.

Everything that shows or uses a finished audit (``lbtui report``, the app's views and
verdict, ``lbtui classify``, the Python API) reads through ``Results``; the engine
(lbtui/auditing) only writes.

Its names are imported on first use: a report's worker process (pool.py) imports this
package before it adopts its caller's calibration methods, which must come before any
module reads the method list."""

_PUBLIC = {"Results": "service", "report": "service", "run_scores": "service", "Run": "run"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        from importlib import import_module

        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
