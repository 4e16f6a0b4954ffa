"""The messages the app's workers post to it."""

from __future__ import annotations

import functools

from textual.message import Message

from .snapshot import Snapshot


class AuditFinished(Message):
    """The audit worker's outcome: AuditDone, AuditCancelled or AuditFailed."""

    def __init__(self, run_ids: list[int]):
        super().__init__()
        self.run_ids = run_ids


class AuditDone(AuditFinished):
    pass


class AuditCancelled(AuditFinished):
    pass


class AuditFailed(AuditFinished):
    def __init__(self, run_ids: list[int], error: str):
        super().__init__(run_ids)
        self.error = error


class Analysed(Message):
    """The analysis worker stored the metrics of more finished runs."""


class SnapshotSkipped(Message):
    """A snapshot request overtaken by a newer one before its build began."""

    def __init__(self, seq: int):
        super().__init__()
        self.seq = seq


class VerdictReady(Message):
    """The verdict worker's answer for the shown runs of request ``seq``."""

    def __init__(self, seq: int, verdicts: list):
        super().__init__()
        self.seq = seq
        self.verdicts = verdicts


class SnapshotReady(Message):
    def __init__(self, snapshot: Snapshot):
        super().__init__()
        self.snapshot = snapshot


def while_open(handler):
    """For a handler that only shows a worker's answer: a worker can answer after quitting
    (ctrl+q, SIGTERM, a test's end) has begun to take the app's widgets down, and its
    answer is then dropped instead of looked for in widgets that are gone."""

    @functools.wraps(handler)
    def shown(self, msg):
        if self.is_running:
            handler(self, msg)

    return shown
