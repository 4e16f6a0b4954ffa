"""lbtui: audit local GGUF language models for label bias (Reif and Schwartz, NAACL 2024).

From Python: ``lbtui.audit(...)`` (lbtui/api.py, docs/PYTHON.md). Imported on first use,
so that ``import lbtui`` stays cheap for the command line."""


def __getattr__(name: str):
    if name in ("audit", "AuditResult", "Run"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'lbtui' has no attribute {name!r}")
