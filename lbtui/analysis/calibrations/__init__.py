"""The calibration methods lbtui computes, in table order: one module each. Everything
that lists, toggles, fits, resamples or explains a method iterates ``REGISTRY``.

To add a method: write a module here with a ``METHOD`` (see base.Method), add it to
``_MODULES`` and give it a test (docs/ARCHITECTURE.md has a worked example)."""

from __future__ import annotations

from . import batch, contextual, domain, looc, none, prototypical, supervised
from .base import Calibration, Method, NotApplicable, Scores


_MODULES = (none, contextual, domain, batch, looc, prototypical, supervised)
REGISTRY: dict[str, Method] = {m.METHOD.name: m.METHOD for m in _MODULES}
METHODS: tuple[str, ...] = tuple(REGISTRY)
FITTED: tuple[str, ...] = tuple(n for n, m in REGISTRY.items() if m.fitted)
METHOD_NAMES: dict[str, str] = {n: m.title for n, m in REGISTRY.items()}

__all__ = ["Calibration", "FITTED", "METHODS", "METHOD_NAMES", "Method", "NotApplicable", "REGISTRY", "fit_all"]


def fit_all(rs: Scores, methods=METHODS) -> tuple[dict[str, Calibration], dict[str, str]]:
    """Each requested method's calibration of one run (and those it builds on), and a note
    for each: why it does not apply, or what a reader must know (a fallback)."""
    wanted = set(methods)
    fit = set(wanted)
    for name in reversed(METHODS):  # and what they build on (earlier in the registry)
        if name in fit:
            fit |= set(REGISTRY[name].uses)
    done: dict[str, Calibration] = {}
    notes: dict[str, str] = {}
    for name, method in REGISTRY.items():
        if name not in fit:
            continue
        try:
            done[name] = method.fit(rs, done)
        except NotApplicable as e:
            notes[name] = str(e)
            continue
        if done[name].note:
            notes[name] = done[name].note
    return ({n: c for n, c in done.items() if n in wanted}, {n: r for n, r in notes.items() if n in wanted})
