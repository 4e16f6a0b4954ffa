"""The calibration methods lbtui computes, in table order: one module each. Everything
that lists, toggles, fits, resamples, colours or explains a method iterates ``REGISTRY``.

To add a method: write a module here with a ``METHOD`` (see base.Method), add it to
``_MODULES`` and give it a test (docs/ARCHITECTURE.md has a worked example). Tests
register a scratch method with ``register`` to prove nothing else keeps its own list."""

from __future__ import annotations

import sys

from . import batch, contextual, domain, looc, none, prototypical, supervised
from .base import KINDS, PALETTE, Calibration, Method, NotApplicable, Scores


REGISTRY: dict[str, Method] = {}
METHODS: tuple[str, ...] = ()
SLOW: tuple[str, ...] = ()  # fitted once a run is complete, off the UI thread
METHOD_NAMES: dict[str, str] = {}

__all__ = [
    "Calibration",
    "METHODS",
    "METHOD_NAMES",
    "Method",
    "NotApplicable",
    "REGISTRY",
    "SLOW",
    "added",
    "adopt",
    "fit_all",
    "register",
]


def register(method: Method) -> None:
    """Add a method after those registered so far. Its name, colour and declarations are
    checked; it must come before any module of lbtui has read the method lists (they
    are read once, on import), and a module that already has raises."""
    global METHODS, SLOW, METHOD_NAMES
    if method.name in REGISTRY or not method.name.isidentifier() or method.name != method.name.lower():
        raise ValueError(f"calibration name {method.name!r} is taken or not a lowercase identifier")
    if method.kind not in KINDS:
        raise ValueError(f"calibration {method.name!r}: kind {method.kind!r} is not one of {KINDS}")
    if method.color not in PALETTE:
        raise ValueError(f"calibration {method.name!r}: colour {method.color!r} is not one of {', '.join(PALETTE)}")
    if method.color in {m.color for m in REGISTRY.values()}:
        raise ValueError(f"calibration {method.name!r}: colour {method.color!r} is another method's")
    for earlier in (*method.uses, *([method.fallback] if method.fallback else [])):
        if earlier not in REGISTRY:
            raise ValueError(f"calibration {method.name!r} builds on {earlier!r}, which is not registered before it")
    if method.fallback and method.fallback not in method.uses:
        raise ValueError(f"calibration {method.name!r}: its fallback {method.fallback!r} must be among its uses")
    readers = [
        name
        for name, mod in list(sys.modules.items())
        if mod is not None and name != __name__ and METHODS and getattr(mod, "METHODS", None) is METHODS
    ]
    if readers:
        raise RuntimeError(
            f"register {method.name!r} before importing {', '.join(sorted(readers))}:"
            " they read the method list on import"
        )
    REGISTRY[method.name] = method
    METHODS = tuple(REGISTRY)
    SLOW = tuple(n for n, m in REGISTRY.items() if m.slow)
    METHOD_NAMES = {n: m.title for n, m in REGISTRY.items()}


_MODULES = (none, contextual, domain, batch, looc, prototypical, supervised)  # table order
for _module in _MODULES:
    register(_module.METHOD)
BUNDLED = tuple(REGISTRY)  # the methods every process has: registered on import


def added() -> list[Method]:
    """The methods registered after the bundled ones, in order (a worker process adopts them)."""
    return [m for n, m in REGISTRY.items() if n not in BUNDLED]


def adopt(methods: list[Method]) -> None:
    """Register those of ``methods`` not registered here, in order: a worker process
    (results/pool.py) starts with the bundled methods and adopts the ones its parent added,
    before anything in it reads the method lists."""
    for method in methods:
        if method.name not in REGISTRY:
            register(method)


def fit_all(rs: Scores, methods=None) -> tuple[dict[str, Calibration], dict[str, str]]:
    """Each requested method's calibration of one run (and those it builds on; default
    every registered method), and a note for each: why it does not apply, or what a reader
    must know (a fallback)."""
    wanted = set(METHODS if methods is None else methods)
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
            done[name] = method.check(method.fit(rs, done), rs.k)
        except NotApplicable as e:
            notes[name] = str(e)
            continue
        if done[name].note:
            notes[name] = done[name].note
    return ({n: c for n, c in done.items() if n in wanted}, {n: r for n, r in notes.items() if n in wanted})
