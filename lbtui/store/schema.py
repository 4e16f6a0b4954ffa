"""The store's tables, created in one transaction; stores of earlier versions gain what
they lack; a store is checked before it is read."""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from ..errors import StoreError, printable
from .records import RUN_COLUMNS, RunStatus
from .tx import store_error, transaction

SCHEMA_VERSION = 1


def check_readable(store) -> None:
    try:
        tables = set(store.db.table_names())
        if "meta" not in tables or "runs" not in tables:
            raise StoreError("--db", f"{store.path} is not an lbtui store")
        if schema_version(store) > SCHEMA_VERSION:
            raise StoreError("--db", f"{store.path} was written by a newer lbtui (schema {schema_version(store)})")
        if not store.db.execute("SELECT 1 FROM meta WHERE key = 'scores_checked'").fetchone() and _invalid_scores(store):
            raise StoreError("--db", f"{store.path} holds invalid scores written by an older lbtui; any command"
                                     " that writes it (lbtui run) marks their runs failed so that they are scored again")
    except sqlite3.Error as e:
        raise store_error(e, store.path) from None


def schema_version(store) -> int:
    row = store.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return 0
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StoreError("--db", f"{store.path}: meta schema_version {printable(str(row[0]))[:40]!r} is not a whole"
                                 " number (the store was edited or damaged)") from None


def migrate(store) -> None:
    existing = set(store.db.table_names())  # a locked or foreign file fails here (store_error)
    if existing and "meta" not in existing:  # before anything (WAL included) changes the file
        raise StoreError("--db", f"{store.path} is a SQLite database of something else")
    if str(store.path) != ":memory:":
        store.db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the scoring writer
    if "meta" in existing:
        version = schema_version(store)
        if version > SCHEMA_VERSION:
            raise StoreError("--db", f"{store.path} was written by a newer lbtui (schema {version})")
        _add_missing_columns(store)
        _fail_invalid_scores(store)
        return
    with transaction(store.db, store.path) as db:  # every table or none; a concurrent creator waits here
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
        db["meta"].upsert({"key": "scores_checked", "value": "1"}, pk="key")  # every score is checked on entry
        db["models"].create(
            {"id": int, "name": str, "path": str, "sha256": str, "size": int, "metadata": str, "created": float},
            pk="id", if_not_exists=True,
        )
        db["models"].create_index(["sha256"], unique=True, if_not_exists=True)
        db["tasks"].create(
            {"id": int, "name": str, "version": str, "content_hash": str, "labels": str, "definition": str,
             "source": str, "n_pool": int, "n_test": int, "created": float},
            pk="id", if_not_exists=True,
        )
        db["tasks"].create_index(["content_hash"], unique=True, if_not_exists=True)
        db["runs"].create(
            RUN_COLUMNS,
            pk="id", foreign_keys=[("model_id", "models", "id"), ("task_id", "tasks", "id")],
            if_not_exists=True,
        )
        db["runs"].create_index(["key"], unique=True, if_not_exists=True)
        db["scores"].create(
            {"run_id": int, "set": str, "idx": int, "example_id": str, "text": str, "gold": int,
             "scores": str, "address": str},
            pk=("run_id", "set", "idx"), foreign_keys=[("run_id", "runs", "id")], if_not_exists=True,
        )
        _create_address_index(db)
        db["file_hashes"].create(
            {"path": str, "size": int, "mtime_ns": int, "sha256": str}, pk="path", if_not_exists=True
        )
        _create_metrics_table(db)
        _create_loose_table(db)


def _create_loose_table(db) -> None:
    # Scores of inputs outside any run (lbtui classify), by content address only: an
    # input classified before is read back, never evaluated again.
    db["loose_scores"].create({"address": str, "scores": str, "text": str, "created": float}, pk="address",
                              if_not_exists=True)


def _create_metrics_table(db) -> None:
    # Metrics of finished runs under every method, computed once (fitting ProCa and
    # SC is slow) and keyed by the analysis version that computed them.
    db["run_metrics"].create({"run_id": int, "version": str, "payload": str}, pk=("run_id", "version"),
                             foreign_keys=[("run_id", "runs", "id")], if_not_exists=True)


def _add_missing_columns(store) -> None:
    """Stores written by earlier development versions of schema 1 lack some run columns
    (ownership, heartbeat); add them, empty, rather than fail on the first query."""
    have = set(store.db["runs"].columns_dict)
    missing = {c: t for c, t in RUN_COLUMNS.items() if c not in have}
    no_address = "address" not in store.db["scores"].columns_dict
    tables = set(store.db.table_names())
    if missing or no_address or "run_metrics" not in tables or "loose_scores" not in tables:
        with transaction(store.db, store.path) as db:
            for col, kind in missing.items():
                db["runs"].add_column(col, kind)
            if no_address:  # scores stored before content addresses are simply never reused
                db["scores"].add_column("address", str)
                _create_address_index(db)
            _create_metrics_table(db)
            _create_loose_table(db)


def _create_address_index(db) -> None:
    db.execute("CREATE INDEX IF NOT EXISTS scores_address ON scores (address)")


def _fail_invalid_scores(store) -> None:
    """Older lbtui versions stored a server's NaN, infinite or positive log-probability
    as a score. Once per store: such rows are deleted and their runs marked failed, so
    that reports work and the same command scores them again."""
    if store.db.execute("SELECT 1 FROM meta WHERE key = 'scores_checked'").fetchone():
        return
    bad = _invalid_scores(store)
    with transaction(store.db, store.path) as db:
        for rid, st, idx in bad:
            db.execute('DELETE FROM scores WHERE run_id = ? AND "set" = ? AND idx = ?', [rid, st, idx])
        for rid in sorted({b[0] for b in bad}):
            db.execute("DELETE FROM run_metrics WHERE run_id = ?", [rid])
            db.execute("UPDATE runs SET status = ?, finished = NULL, error = ? WHERE id = ?",
                       [str(RunStatus.FAILED), "held scores that are not log-probabilities (NaN, infinite or"
                        " positive), removed; run the same command again to score them", rid])
        db["meta"].upsert({"key": "scores_checked", "value": "1"}, pk="key")


def _invalid_scores(store) -> list[tuple[int, str, int]]:
    # JSON lists of negative floats: a value not starting with '-' (NaN, Infinity, a
    # positive number, 0.0) is the only thing worth parsing.
    suspects = store.db.execute(
        """SELECT run_id, "set", idx, scores FROM scores WHERE scores GLOB '*[[ ][^-]*'""").fetchall()
    return [(rid, st, idx) for rid, st, idx, text in suspects
            if not all(np.isfinite(v) and v <= 0 for v in json.loads(text))]

