"""The SQLite store: models, tasks, runs and every raw per-label score.

Metrics are never stored: they are recomputed from the raw scores, so any calibration
can be applied afterwards ("score once, calibrate forever"). WAL mode and a busy
timeout let the app read while a CLI run writes; scores are committed in batches inside
transactions, and (run, set, idx) is unique, so an interrupted run resumes where it
stopped and never scores an input twice.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterable, TypedDict

import numpy as np
import sqlite_utils

from . import paths
from .errors import StoreError, UserError, printable


SCHEMA_VERSION = 1
RUN_COLUMNS = {
    "id": int, "key": str, "model_id": int, "task_id": int, "model_name": str, "task_name": str,
    "shots": int, "seed": int, "demo_order": int, "scoring": str, "prompt_format": str, "prompt_prefix": str,
    "limit_": int, "n_bias": int, "chat_template": int, "labels": str, "demo_ids": str,
    "params": str, "status": str, "error": str, "owner": str, "heartbeat": float, "n_items": int, "created": float,
    "started": float, "finished": float, "seconds": float, "tokens_evaluated": int, "method_version": int,
    "label_ids": str, "data_options": str, "inputs_evaluated": int, "inputs_reused": int,
}
SETS = ("test", "bias", "cc", "dc", "looc")
LABELLED_SETS = ("test", "bias", "looc")


class RunRecord(TypedDict):
    """A stored run as the store returns it: the runs table's columns (RUN_COLUMNS), with
    the JSON ones decoded."""

    id: int
    key: str
    model_id: int
    task_id: int
    model_name: str
    task_name: str
    shots: int
    seed: int
    demo_order: int  # which ordering of the seed's demonstrations; 0: as drawn
    scoring: str  # backends.base.Scoring
    prompt_format: dict
    prompt_prefix: str
    limit_: int
    n_bias: int
    chat_template: int
    labels: list[str]
    demo_ids: list[str]
    params: dict
    status: str  # a RunStatus
    error: str | None
    owner: str | None
    heartbeat: float | None
    n_items: int
    created: float
    started: float | None
    finished: float | None
    seconds: float | None
    tokens_evaluated: int | None
    method_version: int
    label_ids: list[list[int]] | None
    data_options: dict | None
    inputs_evaluated: int | None  # inputs this run sent to the backend
    inputs_reused: int | None  # inputs whose scores another run had stored (same content address)


class RunStatus(StrEnum):
    """Where a run stands; stored as its text, so it compares equal to it."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class ScoredSet:
    """The rows of one set of one run, in idx order."""

    example_ids: list[str]
    texts: list[str]
    gold: np.ndarray  # -1 where unlabelled
    scores: np.ndarray  # (N, K) raw scores s_j before softmax


class Store:
    def __init__(self, path: Path | str, *, create: bool = True, readonly: bool = False):
        """A store at ``path``: created (schema included) unless it exists. ``readonly``
        (export, report, diagnose, stability): an existing lbtui store, opened read-only;
        nothing is created or altered."""
        self.path = Path(path)
        self.readonly = readonly
        memory = str(path) == ":memory:"
        if not memory:
            if self.path.exists() and not self.path.is_file():
                raise UserError("--db", f"{self.path} is not a file")
            parent = paths.real(self.path, "--db").parent
            if readonly and not self.path.exists():
                raise UserError("--db", f"no store at {self.path}")
            if not parent.is_dir():
                raise UserError("--db", f"folder {parent} does not exist")
            if not readonly and not self.path.exists() and not os.access(parent, os.W_OK):
                raise UserError("--db", f"folder {parent} is not writable")
            if not readonly and self.path.exists() and not os.access(self.path, os.W_OK):
                raise StoreError("--db", f"{self.path} is read-only (commands that only read it open it read-only)")
        try:
            if readonly:
                uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False, isolation_level=None)
            else:
                # An absolute path: SQLite builds that read "file:..." as a URI never see one.
                where = str(path) if memory else str(self.path.resolve())
                conn = sqlite3.connect(where, uri=False, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise store_error(e, self.path) from None
        self.db = sqlite_utils.Database(conn)
        if readonly:
            self._check_readable()
        elif create:
            try:
                self._migrate()
            except sqlite3.Error as e:
                raise store_error(e, self.path) from None

    def _check_readable(self) -> None:
        try:
            tables = set(self.db.table_names())
            if "meta" not in tables or "runs" not in tables:
                raise StoreError("--db", f"{self.path} is not an lbtui store")
            if self._schema_version() > SCHEMA_VERSION:
                raise StoreError("--db", f"{self.path} was written by a newer lbtui (schema {self._schema_version()})")
            if not self.db.execute("SELECT 1 FROM meta WHERE key = 'scores_checked'").fetchone() and self._invalid_scores():
                raise StoreError("--db", f"{self.path} holds invalid scores written by an older lbtui; any command"
                                         " that writes it (lbtui run) marks their runs failed so that they are scored again")
        except sqlite3.Error as e:
            raise store_error(e, self.path) from None

    # --- schema ------------------------------------------------------------------------

    def _schema_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            return 0
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise StoreError("--db", f"{self.path}: meta schema_version {printable(str(row[0]))[:40]!r} is not a whole"
                                     " number (the store was edited or damaged)") from None

    def _migrate(self) -> None:
        existing = set(self.db.table_names())  # a locked or foreign file fails here (store_error)
        if existing and "meta" not in existing:  # before anything (WAL included) changes the file
            raise StoreError("--db", f"{self.path} is a SQLite database of something else")
        if str(self.path) != ":memory:":
            self.db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the scoring writer
        if "meta" in existing:
            version = self._schema_version()
            if version > SCHEMA_VERSION:
                raise StoreError("--db", f"{self.path} was written by a newer lbtui (schema {version})")
            self._add_missing_columns()
            self._fail_invalid_scores()
            return
        with self._tx() as db:  # every table or none; a concurrent creator waits here
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
            self._create_address_index(db)
            db["file_hashes"].create(
                {"path": str, "size": int, "mtime_ns": int, "sha256": str}, pk="path", if_not_exists=True
            )
            self._create_metrics_table(db)
            self._create_loose_table(db)

    @staticmethod
    def _create_loose_table(db) -> None:
        # Scores of inputs outside any run (lbtui classify), by content address only: an
        # input classified before is read back, never evaluated again.
        db["loose_scores"].create({"address": str, "scores": str, "text": str, "created": float}, pk="address",
                                  if_not_exists=True)

    @staticmethod
    def _create_metrics_table(db) -> None:
        # Metrics of finished runs under every method, computed once (fitting ProCa and
        # SC is slow) and keyed by the analysis version that computed them.
        db["run_metrics"].create({"run_id": int, "version": str, "payload": str}, pk=("run_id", "version"),
                                 foreign_keys=[("run_id", "runs", "id")], if_not_exists=True)

    def _add_missing_columns(self) -> None:
        """Stores written by earlier development versions of schema 1 lack some run columns
        (ownership, heartbeat); add them, empty, rather than fail on the first query."""
        have = set(self.db["runs"].columns_dict)
        missing = {c: t for c, t in RUN_COLUMNS.items() if c not in have}
        no_address = "address" not in self.db["scores"].columns_dict
        tables = set(self.db.table_names())
        if missing or no_address or "run_metrics" not in tables or "loose_scores" not in tables:
            with self._tx() as db:
                for col, kind in missing.items():
                    db["runs"].add_column(col, kind)
                if no_address:  # scores stored before content addresses are simply never reused
                    db["scores"].add_column("address", str)
                    self._create_address_index(db)
                self._create_metrics_table(db)
                self._create_loose_table(db)

    @staticmethod
    def _create_address_index(db) -> None:
        db.execute("CREATE INDEX IF NOT EXISTS scores_address ON scores (address)")

    def _fail_invalid_scores(self) -> None:
        """Older lbtui versions stored a server's NaN, infinite or positive log-probability
        as a score. Once per store: such rows are deleted and their runs marked failed, so
        that reports work and the same command scores them again."""
        if self.db.execute("SELECT 1 FROM meta WHERE key = 'scores_checked'").fetchone():
            return
        bad = self._invalid_scores()
        with self._tx() as db:
            for rid, st, idx in bad:
                db.execute('DELETE FROM scores WHERE run_id = ? AND "set" = ? AND idx = ?', [rid, st, idx])
            for rid in sorted({b[0] for b in bad}):
                db.execute("DELETE FROM run_metrics WHERE run_id = ?", [rid])
                db.execute("UPDATE runs SET status = ?, finished = NULL, error = ? WHERE id = ?",
                           [str(RunStatus.FAILED), "held scores that are not log-probabilities (NaN, infinite or"
                            " positive), removed; run the same command again to score them", rid])
            db["meta"].upsert({"key": "scores_checked", "value": "1"}, pk="key")

    def _invalid_scores(self) -> list[tuple[int, str, int]]:
        # JSON lists of negative floats: a value not starting with '-' (NaN, Infinity, a
        # positive number, 0.0) is the only thing worth parsing.
        suspects = self.db.execute(
            """SELECT run_id, "set", idx, scores FROM scores WHERE scores GLOB '*[[ ][^-]*'""").fetchall()
        return [(rid, st, idx) for rid, st, idx, text in suspects
                if not all(np.isfinite(v) and v <= 0 for v in json.loads(text))]

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db["meta"].upsert({"key": key, "value": value}, pk="key")

    def remove(self) -> None:
        """Close and delete this store's files (a store created by a command that was then
        refused, holding nothing)."""
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        self.db.conn.close()

    def _tx(self):
        """A write transaction taken at once (BEGIN IMMEDIATE), so two writers queue on the
        busy timeout instead of failing at commit."""
        store = self

        class _T:
            def __enter__(self):
                try:
                    store.db.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as e:
                    raise store_error(e, store.path) from None
                return store.db

            def __exit__(self, et, ev, tb):
                if et is None:
                    try:
                        store.db.conn.execute("COMMIT")
                        return False
                    except sqlite3.Error as e:
                        ev = e
                try:  # a failed commit or body leaves nothing half-written
                    store.db.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(ev, sqlite3.Error):
                    raise store_error(ev, store.path) from None
                return False

        return _T()

    # --- models and tasks --------------------------------------------------------------

    def cached_sha256(self, path: Path, compute) -> str:
        st = path.stat()
        row = self.db.execute(
            "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
            [str(path), st.st_size, st.st_mtime_ns],
        ).fetchone()
        if row:
            return row[0]
        digest = compute(path)
        with self._tx() as db:
            db["file_hashes"].upsert(
                {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}, pk="path"
            )
        return digest

    def upsert_model(self, *, name: str, path: Path | None, sha256: str, metadata: dict | None) -> int:
        with self._tx() as db:
            row = db.execute("SELECT id, metadata FROM models WHERE sha256 = ?", [sha256]).fetchone()
            if row:
                if metadata and not row[1]:
                    db["models"].update(row[0], {"metadata": json.dumps(metadata)})
                return row[0]
            return db["models"].insert(
                {"name": name, "path": str(path) if path else None, "sha256": sha256, "size": path.stat().st_size if path else None,
                 "metadata": json.dumps(metadata) if metadata else None, "created": _now()}
            ).last_pk

    def upsert_task(self, task) -> int:
        with self._tx() as db:
            row = db.execute("SELECT id FROM tasks WHERE content_hash = ?", [task.content_hash]).fetchone()
            if row:
                return row[0]
            return db["tasks"].insert(
                {"name": task.name, "version": task.version, "content_hash": task.content_hash,
                 "labels": json.dumps(list(task.labels)), "definition": task.definition, "source": task.source,
                 "n_pool": len(task.pool), "n_test": len(task.test), "created": _now()}
            ).last_pk

    # --- runs --------------------------------------------------------------------------

    def find_run(self, key: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE key = ?", [key]))
        return _decode_run(rows[0]) if rows else None

    def create_run(self, fields: dict[str, Any]) -> int:
        """Insert a run, or return the existing one with the same key (another process may
        have created it meanwhile)."""
        row = dict(fields)
        for key in ("labels", "demo_ids", "params", "prompt_format", "label_ids", "data_options"):
            row[key] = json.dumps(row.get(key))
        row.setdefault("status", "pending")
        row["created"] = _now()
        with self._tx() as db:
            found = db.execute("SELECT id FROM runs WHERE key = ?", [row["key"]]).fetchone()
            if found:
                return found[0]
            return db["runs"].insert(row).last_pk

    def claim_run(self, run_id: int, owner: str) -> str:
        """Take a run for scoring: 'claimed', 'done' (nothing to score), or 'busy' when
        another live process is scoring it (two processes never score the same inputs)."""
        with self._tx() as db:
            status, holder, beat = db.execute(
                "SELECT status, owner, heartbeat FROM runs WHERE id = ?", [run_id]
            ).fetchone()
            if status == "done":
                return "done"
            if status == "running" and holder and holder != owner and owner_alive(holder, beat):
                return "busy"
            db.execute(
                "UPDATE runs SET status = 'running', owner = ?, heartbeat = ?, error = NULL WHERE id = ?",
                [owner, _now(), run_id],
            )
            return "claimed"

    def update_run(self, run_id: int, **fields: Any) -> None:
        if "params" in fields:
            fields["params"] = json.dumps(fields["params"])
        with self._tx() as db:
            db["runs"].update(run_id, fields)

    def run(self, run_id: int) -> RunRecord:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise UserError("--run", f"no run {run_id} in {self.path}")
        return _decode_run(rows[0])

    def runs(self, *, status: str | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        return [_decode_run(r) for r in self.db.query(sql, [status] if status else [])]

    def test_sizes(self) -> dict[int, int]:
        """Each run's number of test examples: its --limit, or its task's test set where smaller."""
        sql = ("SELECT runs.id, CASE WHEN runs.limit_ > 0 AND runs.limit_ < tasks.n_test THEN runs.limit_"
               " ELSE tasks.n_test END FROM runs JOIN tasks ON tasks.id = runs.task_id")
        return dict(self.db.execute(sql).fetchall())

    def task_origin(self, task_id: int) -> tuple[str, str]:
        """The file a stored task was read from, and its content hash then."""
        return tuple(self.db.execute("SELECT source, content_hash FROM tasks WHERE id = ?", [task_id]).fetchone())

    def model_path(self, model_id: int) -> str | None:
        row = self.db.execute("SELECT path FROM models WHERE id = ?", [model_id]).fetchone()
        return row[0] if row else None

    def statuses(self, run_ids: list[int]) -> dict[int, str]:
        """Each known run's status, in one query."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        return dict(self.db.execute(f"SELECT id, status FROM runs WHERE id IN ({marks})", list(run_ids)).fetchall())

    def data_version(self) -> int:
        """SQLite's counter of commits by other connections (this one's own do not change it)."""
        try:
            return self.db.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as e:
            raise store_error(e, self.path) from None

    def run_states(self, run_ids: list[int], known: dict[int, RunRecord] | None = None) -> dict[int, tuple[RunRecord, int]]:
        """Each run and its number of stored scores, in one to three queries whatever the
        number of runs (a finished run holds all its items). Runs in ``known`` whose status
        has not changed are not read again."""
        if not run_ids:
            return {}
        known = known or {}
        status = self.statuses(run_ids)
        runs = {rid: known[rid] for rid, st in status.items() if rid in known and known[rid]["status"] == st}
        fresh = [rid for rid in status if rid not in runs]
        if fresh:
            cur = self.db.execute(f"SELECT * FROM runs WHERE id IN ({','.join('?' * len(fresh))})", fresh)
            cols = [d[0] for d in cur.description]
            runs.update((run["id"], run) for run in (_decode_run(dict(zip(cols, r))) for r in cur.fetchall()))
        counts = self.score_counts([rid for rid, r in runs.items() if r["status"] != "done"])
        return {rid: (r, r["n_items"] if r["status"] == "done" else counts.get(rid, 0)) for rid, r in runs.items()}

    def score_counts(self, run_ids: list[int]) -> dict[int, int]:
        """Stored scores of each of these runs, in one query (runs with none are left out)."""
        if not run_ids:
            return {}
        q = f"SELECT run_id, count(*) FROM scores WHERE run_id IN ({','.join('?' * len(run_ids))}) GROUP BY run_id"
        return dict(self.db.execute(q, list(run_ids)).fetchall())

    def cached_metrics(self, run_ids: list[int], version: str) -> dict[int, dict]:
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        rows = self.db.execute(f"SELECT run_id, payload FROM run_metrics WHERE version = ? AND run_id IN ({marks})",
                               [version, *run_ids]).fetchall()
        return {rid: json.loads(p) for rid, p in rows}

    def put_metrics(self, run_id: int, version: str, payload: dict) -> None:
        with self._tx() as db:
            db["run_metrics"].upsert({"run_id": run_id, "version": version, "payload": json.dumps(payload)},
                                     pk=("run_id", "version"))

    # --- scores ------------------------------------------------------------------------

    def scores_at(self, addresses: list[str]) -> dict[str, list[float]]:
        """Stored scores by content address (whichever run stored them), for the addresses
        given: the same model, backend numbers, prompt ids, label ids and scoring mode."""
        out: dict[str, list[float]] = {}
        tables = ["scores"] + (["loose_scores"] if self.db["loose_scores"].exists() else [])
        for lo in range(0, len(addresses), 500):
            chunk = addresses[lo : lo + 500]
            for table in tables:
                q = f"SELECT address, scores FROM {table} WHERE address IN ({','.join('?' * len(chunk))})"
                for a, text in self.db.execute(q, chunk).fetchall():
                    got = parse_scores(text)
                    if got is not None:  # a damaged row is scored again, never reused
                        out[a] = got
        return out

    def add_loose_scores(self, rows: Iterable[dict]) -> None:
        """Commit scores of inputs outside any run (address, scores, text) atomically; an
        address already stored is kept as it is."""
        payload = [{"address": r["address"], "scores": json.dumps([float(x) for x in r["scores"]]), "text": r["text"],
                    "created": _now()} for r in rows]
        with self._tx() as db:
            db["loose_scores"].insert_all(payload, pk="address", ignore=True)

    def scored_keys(self, run_id: int) -> set[tuple[str, int]]:
        return {(s, i) for s, i in self.db.execute('SELECT "set", idx FROM scores WHERE run_id = ?', [run_id])}

    def add_scores(self, run_id: int, rows: Iterable[dict], *, tokens: int | None = None) -> None:
        """Commit one batch of scored inputs (and the run's token count) atomically.
        Rows already present are kept as they are."""
        payload = [
            {"run_id": run_id, "set": r["set"], "idx": r["idx"], "example_id": r["example_id"], "text": r["text"],
             "gold": r["gold"], "scores": json.dumps([float(x) for x in r["scores"]]), "address": r.get("address")}
            for r in rows
        ]
        with self._tx() as db:
            db["scores"].insert_all(payload, ignore=True)
            db.execute(
                "UPDATE runs SET tokens_evaluated = coalesce(?, tokens_evaluated), heartbeat = ? WHERE id = ?",
                [tokens, _now(), run_id],
            )

    def count_scores(self, run_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM scores WHERE run_id = ?", [run_id]).fetchone()[0]

    def scored_set(self, run_id: int, name: str) -> ScoredSet:
        """One set's stored rows, checked as they are read (an edited or damaged store is
        refused in one line naming the run and row, never computed on)."""
        rows = self.db.execute(
            'SELECT idx, example_id, text, gold, scores FROM scores WHERE run_id = ? AND "set" = ? ORDER BY idx',
            [run_id, name],
        ).fetchall()
        k = len(self.run(run_id)["labels"])
        return ScoredSet(
            example_ids=[r[1] for r in rows], texts=[r[2] for r in rows],
            gold=self._checked_gold(run_id, name, rows, k, col=3),
            scores=self._checked_scores(run_id, name, rows, k, col=4),
        )

    def _checked_scores(self, run_id: int, name: str, rows: list, k: int, col: int) -> np.ndarray:
        """(N, K) log-probabilities: one vectorised check, then row by row only to name a bad one."""
        if not rows:
            return np.zeros((0, k))
        try:
            scores = np.array([json.loads(r[col]) for r in rows], dtype=np.float64).reshape(len(rows), -1)
            if scores.shape == (len(rows), k) and np.isfinite(scores).all() and (scores <= 0).all():
                return scores
        except (TypeError, ValueError):
            pass
        for r in rows:
            got = parse_scores(r[col])
            if got is None or len(got) != k:
                raise self._damaged(run_id, name, r[0], f"scores {printable(str(r[col]))[:40]!r} are not {k}"
                                                         " log-probabilities (finite numbers, at most 0)")
        raise AssertionError("unreachable: some row failed the vectorised check")

    def _checked_gold(self, run_id: int, name: str, rows: list, k: int, col: int) -> np.ndarray:
        # test, bias and leave-one-out inputs carry their label; content-free and domain texts none
        labelled = name in LABELLED_SETS
        gold = [-1 if r[col] is None else r[col] for r in rows]
        for r, g in zip(rows, gold):
            if not (type(g) is int and (0 if labelled else -1) <= g < (k if labelled else 0)):
                what = "one of the run's" if labelled else "none, as for every text of this set, not one of its"
                raise self._damaged(run_id, name, r[0], f"gold label {printable(str(r[col]))[:20]!r} is not {what}"
                                                         f" {k} labels")
        return np.array(gold, dtype=np.int64)

    def _damaged(self, run_id: int, name: str, idx, what: str) -> StoreError:
        return StoreError("--db", f"{self.path}: run {run_id}, {name} row {idx}: {what}; the store was edited or"
                                  " damaged (score the run again in another store)")

    def check_done(self, run: RunRecord) -> None:
        """A finished run holds every input it planned; fewer means rows were lost."""
        if run["status"] != RunStatus.DONE or not run.get("n_items"):
            return
        held = self.count_scores(run["id"])
        if held != run["n_items"]:
            raise StoreError("--db", f"{self.path}: run {run['id']} is marked done but holds {held} of its"
                                     f" {run['n_items']} scores; the store was edited or damaged (score the run"
                                     " again in another store)")

    def score_rows(self, run_id: int) -> list[dict]:
        """Every stored row of a run (test, bias, cc, dc, looc), each checked as scored_set checks."""
        rows = list(self.db.query(
            'SELECT run_id, "set", idx, example_id, text, gold, scores FROM scores WHERE run_id = ? '
            "ORDER BY CASE \"set\" WHEN 'test' THEN 0 WHEN 'bias' THEN 1 WHEN 'cc' THEN 2 WHEN 'dc' THEN 3 ELSE 4 END, idx",
            [run_id],
        ))
        k = len(self.run(run_id)["labels"])
        for r in rows:
            cells = (r["idx"], r["gold"], r["scores"])
            self._checked_gold(run_id, r["set"], [cells], k, col=1)
            self._checked_scores(run_id, r["set"], [cells], k, col=2)
        return rows


def parse_scores(text) -> list[float] | None:
    """A stored score row as a list of log-probabilities (finite, at most 0), else None."""
    try:
        got = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(got, list) or not got:
        return None
    if not all(type(x) in (int, float) and math.isfinite(x) and x <= 0 for x in got):
        return None
    return [float(x) for x in got]


STALE_SECONDS = 120  # a run whose holder on another host was silent this long is free again
HOST = socket.gethostname()


STALE_LOCAL = 3600.0  # a run whose holder on this host has not committed for an hour is free again


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace(":", "")[:12]
    except OSError:
        return ""


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), "" where /proc does not say:
    with the boot id it tells a live holder from another process that got its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def new_owner() -> str:
    """Who is scoring: host, process, a nonce (two engines in one process differ), the boot
    and the process's start."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}:{_boot_id()}:{_started(os.getpid())}"


def owner_alive(owner: str, heartbeat: float | None) -> bool:
    """On this host, ask the OS whether the holder's process lives (a SIGKILLed run is
    free at once); elsewhere, trust a recent heartbeat."""
    host, pid, _, boot, started, *_ = owner.split(":") + ["", "", "", "", ""]
    if host == HOST and pid.isdigit():
        if heartbeat is not None and _now() - heartbeat > STALE_LOCAL:
            return False  # silent for an hour: not scoring, whatever holds its pid now
        if boot and boot != _boot_id():
            return False  # the machine has restarted since
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not started or started == _started(int(pid))  # another process got the pid
    return heartbeat is not None and _now() - heartbeat < STALE_SECONDS


def store_error(e: sqlite3.Error, path: Path) -> StoreError:
    """SQLite's error as what it means for the user, in one line."""
    msg = str(e).lower()
    if "locked" in msg or "busy" in msg:
        what = f"{path} is locked by another process (it held a write lock for 30 s); try again when it finishes"
    elif "readonly" in msg or "read-only" in msg:
        what = f"{path} is read-only"
    elif "full" in msg:
        what = f"{path} cannot be written: the disk is full or a file-size limit was reached ({e}); what was committed is kept"
    elif "disk i/o" in msg:
        what = (f"{path}: SQLite could not read or write the store's files ({e}): was its -wal or -shm file removed"
                " while in use, or is the disk failing? What was committed is kept")
    elif "unable to open" in msg:
        what = f"{path} cannot be opened (is its folder writable?)"
    elif "malformed" in msg:
        what = f"{path} is damaged ({e}); what it holds can be read back only in part (sqlite3 .recover)"
    elif "not a database" in msg or "encrypted" in msg:
        what = f"{path} is not an lbtui store ({e})"
    else:
        what = f"{path}: SQLite error: {e}"
    return StoreError("--db", what)


def _decode_run(row: dict) -> RunRecord:
    row = dict(row)
    for key in ("labels", "demo_ids", "params", "prompt_format", "label_ids", "data_options"):
        if row.get(key):
            try:
                row[key] = json.loads(row[key])
            except (TypeError, ValueError):
                raise StoreError("--db", f"run {row.get('id')}: its {key} {printable(str(row[key]))[:40]!r} are not"
                                         " JSON; the store was edited or damaged") from None
    labels = row.get("labels")
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
        raise StoreError("--db", f"run {row.get('id')}: its labels {printable(str(labels))[:40]!r} are not a list of"
                                 " two or more names; the store was edited or damaged")
    row["demo_order"] = row.get("demo_order") or 0  # runs stored before orderings existed: drawn order
    row["method_version"] = row.get("method_version") or 1  # runs stored before the column: version 1
    return row
