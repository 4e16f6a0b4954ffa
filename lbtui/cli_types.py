"""Argument types the command line's modules share (a value argparse refuses is a usage
error in one line, exit 2)."""

from __future__ import annotations

import argparse


def run_id(text: str) -> int:
    """A run id: a positive integer SQLite can hold (a longer one is a usage error, not an
    OverflowError)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text} is not a run id (1 and up)")
    return value
