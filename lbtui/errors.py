"""Errors that lbtui reports to a user, and the exit codes the CLI maps them to.

Every error a user can cause (a bad file, a bad option) is a ``UserError``:
one line that names the file and field, exit code 2. Anything else is a bug
and exits 1 with a traceback.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_GATE = 3  # lbtui report --fail-if: the condition holds
EXIT_STORE = 4  # the store cannot be used: locked, read-only, disk full, not a file
EXIT_INTERRUPTED = 130  # SIGINT (ctrl+c), as shells report it
EXIT_TERMINATED = 143  # SIGTERM


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without C0 and C1 control characters (tabs and newlines kept): a string
    from a file (a models.toml note, a task name, a store row) never drives the terminal."""
    return _CONTROL.sub("", text)


class UserError(Exception):
    """Bad input or usage. ``where`` names the file (and field), or the option."""

    exit_code = EXIT_USAGE
    # What an error without ``where`` is about ("store", "run"): the layers below the CLI
    # and the app do not speak option names; the CLI names its option for the subject
    # (cli.py), the app shows the message alone (it names the file or the run).
    subject: str | None = None

    def __init__(self, where: str | None, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self):
        # Pickled as it is, not through __init__ (subclasses take other arguments): an
        # error raised in a report's worker process reaches the CLI whole (results/pool.py).
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type, args: tuple, state: dict) -> Exception:
    err = Exception.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class TaskError(UserError):
    """A task file or data file that cannot be used."""


class ModelError(UserError):
    """A model that cannot be found, read or loaded."""


class InvalidScores(ModelError):
    """A backend answered with something that is not a log-probability (NaN, infinite,
    positive) or not one per label: nothing of the call is stored."""


class PromptTooLong(UserError):
    """A prompt that does not fit the model's context."""


class StorePathError(UserError):
    """A store path that cannot be used: no store there, its folder missing or not
    writable, not a file."""

    subject = "store"

    def __init__(self, message: str):
        super().__init__(None, message)


class StoreError(StorePathError):
    """The store cannot be read or written as asked: locked by another process, read-only,
    disk full, or not an lbtui store. Nothing half-written is left (transactions)."""

    exit_code = EXIT_STORE


class RunError(UserError):
    """A run that is not in the store, or cannot be used as asked (not finished, changed
    since it was scored)."""

    subject = "run"

    def __init__(self, message: str):
        super().__init__(None, message)


class Cancelled(Exception):
    """Scoring was cancelled by the user; what was scored is kept."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: handled as an interrupt (what was scored is kept, the run is marked
    interrupted), reported with its own exit code."""
