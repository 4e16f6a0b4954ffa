"""lbtui: audit local GGUF language models for label bias (Reif and Schwartz, NAACL 2024).

From Python (imported on first use, so that ``import lbtui`` stays cheap for the command
line):

* ``lbtui.audit(...)``: audit models on tasks; returns an ``AuditResult`` of ``Run`` s
  (lbtui/api.py, docs/PYTHON.md).
* ``lbtui.Classifier``: classify new inputs with an audited run's prompt and calibration
  (``Classifier.from_run``, ``Classifier.load``; docs/CLASSIFY.md).
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("lbtui")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

_PUBLIC = {"audit": "api", "AuditResult": "api", "Run": "results", "Classifier": "results.classifier"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        from importlib import import_module

        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'lbtui' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
