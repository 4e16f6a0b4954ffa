"""The store's schema as numbered migrations, applied in one transaction; a store is
checked before it is read."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import StoreError, printable
from .records import RUN_COLUMNS, RunStatus
from .tx import store_error, transaction

# Run columns the first schema lacked (lbtui's first commit); migration 2 adds them.
LATER_RUN_COLUMNS = (
    "demo_order",
    "owner",
    "heartbeat",
    "method_version",
    "label_ids",
    "data_options",
    "inputs_evaluated",
    "inputs_reused",
)


@dataclass(frozen=True)
class Migration:
    version: int  # the store's schema_version once this has run
    what: str
    apply: Callable  # (sqlite_utils.Database) -> None, inside the migrating transaction


def _v1_tables(db) -> None:
    """The tables as the first lbtui wrote them."""
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["models"].create(
        {"id": int, "name": str, "path": str, "sha256": str, "size": int, "metadata": str, "created": float},
        pk="id",
        if_not_exists=True,
    )
    db["models"].create_index(["sha256"], unique=True, if_not_exists=True)
    db["tasks"].create(
        {
            "id": int,
            "name": str,
            "version": str,
            "content_hash": str,
            "labels": str,
            "definition": str,
            "source": str,
            "n_pool": int,
            "n_test": int,
            "created": float,
        },
        pk="id",
        if_not_exists=True,
    )
    db["tasks"].create_index(["content_hash"], unique=True, if_not_exists=True)
    db["runs"].create(
        {c: t for c, t in RUN_COLUMNS.items() if c not in LATER_RUN_COLUMNS},
        pk="id",
        foreign_keys=[("model_id", "models", "id"), ("task_id", "tasks", "id")],
        if_not_exists=True,
    )
    db["runs"].create_index(["key"], unique=True, if_not_exists=True)
    db["scores"].create(
        {"run_id": int, "set": str, "idx": int, "example_id": str, "text": str, "gold": int, "scores": str},
        pk=("run_id", "set", "idx"),
        foreign_keys=[("run_id", "runs", "id")],
        if_not_exists=True,
    )
    db["file_hashes"].create({"path": str, "size": int, "mtime_ns": int, "sha256": str}, pk="path", if_not_exists=True)


def _v2_columns(db) -> None:
    """What stores of schema 1 lack (its development versions differ): the later run
    columns, added empty; content addresses (scores stored without one are never
    reused); kept metrics; loose scores."""
    have = set(db["runs"].columns_dict)
    for col, kind in RUN_COLUMNS.items():
        if col not in have:
            db["runs"].add_column(col, kind)
    if "address" not in db["scores"].columns_dict:
        db["scores"].add_column("address", str)
    db.execute("CREATE INDEX IF NOT EXISTS scores_address ON scores (address)")
    _create_metrics_table(db)
    _create_loose_table(db)


def _v3_invalid_scores(db) -> None:
    """Older lbtui versions stored a server's NaN, infinite or positive log-probability
    as a score: such rows are deleted and their runs marked failed, so that reports work
    and the same command scores them again."""
    bad = _invalid_scores(db)
    for rid, st, idx in bad:
        db.execute('DELETE FROM scores WHERE run_id = ? AND "set" = ? AND idx = ?', [rid, st, idx])
    for rid in sorted({b[0] for b in bad}):
        db.execute("DELETE FROM run_metrics WHERE run_id = ?", [rid])
        db.execute(
            "UPDATE runs SET status = ?, finished = NULL, error = ? WHERE id = ?",
            [
                str(RunStatus.FAILED),
                "held scores that are not log-probabilities (NaN, infinite or"
                " positive), removed; run the same command again to score them",
                rid,
            ],
        )
    db.execute("DELETE FROM meta WHERE key = 'scores_checked'")  # schema 1's mark of this check


# One list, in order: a store at version v gets every migration after v. Each is tested
# from the version before (tests/test_store_migrations.py).
MIGRATIONS = (
    Migration(1, "tables", _v1_tables),
    Migration(2, "later run columns, content addresses, kept metrics, loose scores", _v2_columns),
    Migration(3, "scores that are not log-probabilities removed, their runs failed", _v3_invalid_scores),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def check_readable(store) -> None:
    """A store opened read-only cannot be migrated: refuse what only a migration mends."""
    try:
        tables = set(store.db.table_names())
        if not tables:  # SQLite makes the file before a writer's first transaction creates the tables
            raise StoreError(
                f"{store.path} holds no lbtui store yet (an empty database: being created, or never written)"
            )
        if "meta" not in tables or "runs" not in tables:
            raise StoreError(f"{store.path} is not an lbtui store")
        version = _version_at_most_ours(store)
        if version < 3 and not _checked_by_schema_1(store) and _invalid_scores(store.db):
            raise StoreError(
                f"{store.path} holds invalid scores written by an older lbtui; any command"
                " that writes it (lbtui run) marks their runs failed so that they are scored again"
            )
    except sqlite3.Error as e:
        raise store_error(e, store.path) from None


def _checked_by_schema_1(store) -> bool:
    return store.db.execute("SELECT 1 FROM meta WHERE key = 'scores_checked'").fetchone() is not None


def schema_version(store) -> int:
    """The store's version; 0 for a file without lbtui's tables yet."""
    if "meta" not in store.db.table_names():
        return 0
    row = store.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return 0
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StoreError(
            f"{store.path}: meta schema_version {printable(str(row[0]))[:40]!r} is not a whole"
            " number (the store was edited or damaged)"
        ) from None


def _version_at_most_ours(store) -> int:
    version = schema_version(store)
    if version > SCHEMA_VERSION:
        raise StoreError(f"{store.path} was written by a newer lbtui (schema {version})")
    return version


def migrate(store, *, to: int = SCHEMA_VERSION) -> None:
    """Bring the store to schema ``to``: every pending migration and the new version in
    one transaction, so that a store is at one version or the next, never between."""
    existing = set(store.db.table_names())  # a locked or foreign file fails here (store_error)
    if existing and "meta" not in existing:  # before anything (WAL included) changes the file
        raise StoreError(f"{store.path} is a SQLite database of something else")
    if str(store.path) != ":memory:":
        store.db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the scoring writer
    if _version_at_most_ours(store) >= to:
        return  # no write lock for a store that is up to date
    with transaction(store.db, store.path) as db:  # a concurrent migrator waits here, then finds it done
        version = _version_at_most_ours(store)
        for m in MIGRATIONS:
            if version < m.version <= to:
                m.apply(db)
        if version < to:
            db["meta"].upsert({"key": "schema_version", "value": str(to)}, pk="key")


def _create_loose_table(db) -> None:
    # Scores of inputs outside any run (lbtui classify), by content address only: an
    # input classified before is read back, never evaluated again.
    db["loose_scores"].create(
        {"address": str, "scores": str, "text": str, "created": float}, pk="address", if_not_exists=True
    )


def _create_metrics_table(db) -> None:
    # Metrics of finished runs under every method, computed once (fitting ProCa and
    # SC is slow) and keyed by the analysis version that computed them.
    db["run_metrics"].create(
        {"run_id": int, "version": str, "payload": str},
        pk=("run_id", "version"),
        foreign_keys=[("run_id", "runs", "id")],
        if_not_exists=True,
    )


def _invalid_scores(db) -> list[tuple[int, str, int]]:
    # JSON lists of negative floats: a value not starting with '-' (NaN, Infinity, a
    # positive number, 0.0) is the only thing worth parsing.
    suspects = db.execute("""SELECT run_id, "set", idx, scores FROM scores WHERE scores GLOB '*[[ ][^-]*'""").fetchall()
    return [
        (rid, st, idx)
        for rid, st, idx, text in suspects
        if not all(np.isfinite(v) and v <= 0 for v in json.loads(text))
    ]
