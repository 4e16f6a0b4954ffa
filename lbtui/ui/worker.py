"""The bridge from the engine's scoring thread to the app: Messages only, no widgets."""

from __future__ import annotations

import dataclasses

from textual.message import Message

from ..auditing.engine import Note, RunHandle


class RunProgress(Message):
    """A run started, advanced or finished. Floods collapse: only the latest per run counts."""

    def __init__(self, handle: RunHandle, rate: float):
        super().__init__()
        self.handle = handle
        self.rate = rate

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, RunProgress)
            and message.handle.id == self.handle.id
            and self.handle.status == message.handle.status
        )


class EngineNote(Message):
    def __init__(self, text: str, kind: Note = Note.INFO):
        super().__init__()
        self.text = text
        self.kind = kind


class AppProgress:
    """The engine's Progress, posting copies of the run handle to the app."""

    def __init__(self, app):
        self.app = app

    def _post(self, run: RunHandle) -> None:
        self.app.post_message(RunProgress(dataclasses.replace(run), run.rate))

    def run_started(self, run: RunHandle) -> None:
        self._post(run)

    def advanced(self, run: RunHandle) -> None:
        self._post(run)

    def run_finished(self, run: RunHandle) -> None:
        self._post(run)

    def waiting(self, message: str) -> None:
        self.note(message)

    def note(self, message: str, kind: Note = Note.INFO) -> None:
        self.app.post_message(EngineNote(message, kind))
