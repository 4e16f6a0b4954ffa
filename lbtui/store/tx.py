"""SQLite's errors as what they mean for a user, and the write transaction every change
goes through."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from ..errors import StoreError


def store_error(e: sqlite3.Error, path: Path) -> StoreError:
    """SQLite's error as what it means for the user, in one line."""
    msg = str(e).lower()
    if "locked" in msg or "busy" in msg:
        what = f"{path} is locked by another process (it held a write lock for 30 s); try again when it finishes"
    elif "readonly" in msg or "read-only" in msg:
        what = f"{path} is read-only"
    elif "full" in msg or getattr(e, "sqlite_errorname", "") == "SQLITE_IOERR_WRITE":  # EFBIG, ENOSPC
        what = (
            f"{path} cannot be written: the disk is full or a file-size limit was reached ({e});"
            " what was committed is kept"
        )
    elif "disk i/o" in msg:
        gone = str(path) != ":memory:" and Path(path).exists() and not Path(f"{path}-wal").exists()
        what = (
            f"{path}: SQLite could not read or write the store's files ({e}): "
            + (
                "its -wal file was removed while the store was open"
                if gone
                else "was its -wal or -shm file removed while in use, or is the disk failing?"
            )
            + " What was committed is kept"
        )
    elif "unable to open" in msg:
        what = f"{path} cannot be opened (is its folder writable?)"
    elif "malformed" in msg:
        what = f"{path} is damaged ({e}); what it holds can be read back only in part (sqlite3 .recover)"
    elif "not a database" in msg or "encrypted" in msg:
        what = f"{path} is not an lbtui store ({e})"
    else:
        what = f"{path}: SQLite error: {e}"
    return StoreError(what)


@contextlib.contextmanager
def transaction(db, path: Path):
    """A write transaction taken at once (BEGIN IMMEDIATE), so two writers queue on the
    busy timeout instead of failing at commit; a failed body or commit rolls back, leaving
    nothing half-written."""
    conn = db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        raise store_error(e, path) from None
    try:
        yield db
    except BaseException as e:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        if isinstance(e, sqlite3.Error):
            raise store_error(e, path) from None
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise store_error(e, path) from None
