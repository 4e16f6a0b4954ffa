"""The store's one class: models, tasks, runs and every raw per-label score, read and
written through one connection."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Iterable

import numpy as np


def _sqlite_utils():
    """sqlite-utils imports pandas on its own import when pandas is installed, only to map
    pandas' Timestamp in inserts, which lbtui never makes: half of lbtui's start (0.24 of
    0.48 s), in every command and every report worker. Hide pandas from that one import;
    afterwards ``import pandas`` works as usual (AuditResult.frame() uses it). The one
    trace: in a process where lbtui imported sqlite-utils first, sqlite-utils maps no
    pandas Timestamp column type for its other users."""
    hide = "pandas" not in sys.modules
    if hide:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # import pandas raises ImportError
    try:
        import sqlite_utils
    finally:
        if hide and sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _sqlite_utils()

from ..errors import RunError, StoreError, StorePathError, printable
from .owners import now, owner_alive
from .records import LABELLED_SETS, SETS, Claim, RunRecord, RunStatus, ScoredSet, decode_run, parse_scores
from .schema import check_readable, migrate
from .tx import store_error, transaction


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
                raise StorePathError(f"{self.path} is not a file")
            try:
                parent = self.path.resolve().parent
            except (RuntimeError, OSError) as e:  # a loop of symbolic links
                raise StorePathError(f"{self.path} cannot be followed: a loop of symbolic links ({e})") from None
            if readonly and not self.path.exists():
                raise StorePathError(f"no store at {self.path}")
            if not parent.is_dir():
                raise StorePathError(f"folder {parent} does not exist")
            if not readonly and not self.path.exists() and not os.access(parent, os.W_OK):
                raise StorePathError(f"folder {parent} is not writable")
            if not readonly and self.path.exists() and not os.access(self.path, os.W_OK):
                raise StoreError(f"{self.path} is read-only (commands that only read it open it read-only)")
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
            check_readable(self)
        elif create:
            try:
                migrate(self)
            except sqlite3.Error as e:
                raise store_error(e, self.path) from None

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

    def _tx(self):
        return transaction(self.db, self.path)

    def close(self) -> None:
        self.db.conn.close()

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
            return (
                db["models"]
                .insert(
                    {
                        "name": name,
                        "path": str(path) if path else None,
                        "sha256": sha256,
                        "size": path.stat().st_size if path else None,
                        "metadata": json.dumps(metadata) if metadata else None,
                        "created": now(),
                    }
                )
                .last_pk
            )

    def upsert_task(self, task) -> int:
        with self._tx() as db:
            row = db.execute("SELECT id FROM tasks WHERE content_hash = ?", [task.content_hash]).fetchone()
            if row:
                return row[0]
            return (
                db["tasks"]
                .insert(
                    {
                        "name": task.name,
                        "version": task.version,
                        "content_hash": task.content_hash,
                        "labels": json.dumps(list(task.labels)),
                        "definition": task.definition,
                        "source": task.source,
                        "n_pool": len(task.pool),
                        "n_test": len(task.test),
                        "created": now(),
                    }
                )
                .last_pk
            )

    # --- runs --------------------------------------------------------------------------

    def find_run(self, key: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE key = ?", [key]))
        return decode_run(rows[0]) if rows else None

    def create_run(self, fields: dict[str, Any]) -> int:
        """Insert a run, or return the existing one with the same key (another process may
        have created it meanwhile)."""
        row = dict(fields)
        for key in ("labels", "demo_ids", "params", "prompt_format", "label_ids", "data_options"):
            row[key] = json.dumps(row.get(key))
        row.setdefault("status", "pending")
        row["created"] = now()
        with self._tx() as db:
            found = db.execute("SELECT id FROM runs WHERE key = ?", [row["key"]]).fetchone()
            if found:
                return found[0]
            return db["runs"].insert(row).last_pk

    def claim_run(self, run_id: int, owner: str) -> Claim:
        """Take a run for scoring; BUSY while another live process scores it (two
        processes never score the same inputs)."""
        with self._tx() as db:
            status, holder, beat = db.execute(
                "SELECT status, owner, heartbeat FROM runs WHERE id = ?", [run_id]
            ).fetchone()
            if status == "done":
                return Claim.DONE
            if status == "running" and holder and holder != owner and owner_alive(holder, beat):
                return Claim.BUSY
            db.execute(
                "UPDATE runs SET status = 'running', owner = ?, heartbeat = ?, error = NULL WHERE id = ?",
                [owner, now(), run_id],
            )
            return Claim.CLAIMED

    def update_run(self, run_id: int, **fields: Any) -> None:
        if "params" in fields:
            fields["params"] = json.dumps(fields["params"])
        with self._tx() as db:
            db["runs"].update(run_id, fields)

    def run(self, run_id: int) -> RunRecord:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise RunError(f"no run {run_id} in {self.path}")
        return decode_run(rows[0])

    def runs(self, *, status: str | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        return [decode_run(r) for r in self.db.query(sql, [status] if status else [])]

    def test_sizes(self) -> dict[int, int]:
        """Each run's number of test examples: its --limit, or its task's test set where smaller."""
        sql = (
            "SELECT runs.id, CASE WHEN runs.limit_ > 0 AND runs.limit_ < tasks.n_test THEN runs.limit_"
            " ELSE tasks.n_test END FROM runs JOIN tasks ON tasks.id = runs.task_id"
        )
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

    def run_states(
        self, run_ids: list[int], known: dict[int, RunRecord] | None = None
    ) -> dict[int, tuple[RunRecord, int]]:
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
            runs.update((run["id"], run) for run in (decode_run(dict(zip(cols, r))) for r in cur.fetchall()))
        counts = self.score_counts([rid for rid, r in runs.items() if r["status"] != "done"])
        return {rid: (r, r["n_items"] if r["status"] == "done" else counts.get(rid, 0)) for rid, r in runs.items()}

    def score_counts(self, run_ids: list[int]) -> dict[int, int]:
        """Stored scores of each of these runs, in one query (runs with none are left out)."""
        if not run_ids:
            return {}
        q = f"SELECT run_id, count(*) FROM scores WHERE run_id IN ({','.join('?' * len(run_ids))}) GROUP BY run_id"
        return dict(self.db.execute(q, list(run_ids)).fetchall())

    def cached_metrics(self, run_ids: list[int], version: str, *, calibrations: bool = True) -> dict[int, dict]:
        """Each run's stored metrics payload; without its fitted calibrations when the caller
        shows only the metrics (SQLite drops them: a third of a payload, left unparsed)."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        query = f"SELECT run_id, {{}} FROM run_metrics WHERE version = ? AND run_id IN ({marks})"
        try:
            payload = "payload" if calibrations else "json_remove(payload, '$.calibrations')"
            rows = self.db.execute(query.format(payload), [version, *run_ids]).fetchall()
        except sqlite3.OperationalError:  # a payload that is not JSON: read whole, and fail as a whole one does
            rows = self.db.execute(query.format("payload"), [version, *run_ids]).fetchall()
        return {rid: json.loads(p) for rid, p in rows}

    def put_metrics(self, run_id: int, version: str, payload: dict) -> None:
        with self._tx() as db:
            db["run_metrics"].upsert(
                {"run_id": run_id, "version": version, "payload": json.dumps(payload)}, pk=("run_id", "version")
            )

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
        payload = [
            {
                "address": r["address"],
                "scores": json.dumps([float(x) for x in r["scores"]]),
                "text": r["text"],
                "created": now(),
            }
            for r in rows
        ]
        with self._tx() as db:
            db["loose_scores"].insert_all(payload, pk="address", ignore=True)

    def scored_keys(self, run_id: int) -> set[tuple[str, int]]:
        return {(s, i) for s, i in self.db.execute('SELECT "set", idx FROM scores WHERE run_id = ?', [run_id])}

    def add_scores(self, run_id: int, rows: Iterable[dict], *, tokens: int | None = None) -> None:
        """Commit one batch of scored inputs (and the run's token count) atomically.
        Rows already present are kept as they are."""
        payload = [
            {
                "run_id": run_id,
                "set": r["set"],
                "idx": r["idx"],
                "example_id": r["example_id"],
                "text": r["text"],
                "gold": r["gold"],
                "scores": json.dumps([float(x) for x in r["scores"]]),
                "address": r.get("address"),
            }
            for r in rows
        ]
        with self._tx() as db:
            db["scores"].insert_all(payload, ignore=True)
            db.execute(
                "UPDATE runs SET tokens_evaluated = coalesce(?, tokens_evaluated), heartbeat = ? WHERE id = ?",
                [tokens, now(), run_id],
            )

    def count_scores(self, run_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM scores WHERE run_id = ?", [run_id]).fetchone()[0]

    def scored_set(self, run_id: int, name: str, k: int | None = None) -> ScoredSet:
        """One set's stored rows, checked as they are read (an edited or damaged store is
        refused in one line naming the run and row, never computed on). ``k``: the run's
        number of labels, when the caller has the run (else it is read)."""
        rows = self.db.execute(
            'SELECT idx, example_id, text, gold, scores FROM scores WHERE run_id = ? AND "set" = ? ORDER BY idx',
            [run_id, name],
        ).fetchall()
        k = k if k is not None else len(self.run(run_id)["labels"])
        return ScoredSet(
            example_ids=[r[1] for r in rows],
            texts=[r[2] for r in rows],
            gold=self._checked_gold(run_id, name, rows, k, col=3),
            scores=self._checked_scores(run_id, name, rows, k, col=4),
        )

    def set_scores(self, run_id: int, k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every set's gold labels and (N, K) scores of a run (what its metrics need), read
        in one query without the texts, each row checked as ``scored_set`` checks it."""
        rows = self.db.execute(
            'SELECT "set", idx, gold, scores FROM scores WHERE run_id = ? ORDER BY "set", idx', [run_id]
        ).fetchall()
        by_set: dict[str, list] = {name: [] for name in SETS}
        for r in rows:
            if r[0] in by_set:
                by_set[r[0]].append(r[1:])
        return {
            name: (self._checked_gold(run_id, name, got, k, col=1), self._checked_scores(run_id, name, got, k, col=2))
            for name, got in by_set.items()
        }

    def _checked_scores(self, run_id: int, name: str, rows: list, k: int, col: int) -> np.ndarray:
        """(N, K) log-probabilities: one vectorised check, then row by row only to name a bad one."""
        if not rows:
            return np.zeros((0, k))
        try:
            scores = np.array(_parse_rows([r[col] for r in rows]), dtype=np.float64).reshape(len(rows), -1)
            if scores.shape == (len(rows), k) and np.isfinite(scores).all() and (scores <= 0).all():
                return scores
        except (TypeError, ValueError):
            pass
        for r in rows:
            got = parse_scores(r[col])
            if got is None or len(got) != k:
                raise self._damaged(
                    run_id,
                    name,
                    r[0],
                    f"scores {printable(str(r[col]))[:40]!r} are not {k} log-probabilities (finite numbers, at most 0)",
                )
        raise AssertionError("unreachable: some row failed the vectorised check")

    def _checked_gold(self, run_id: int, name: str, rows: list, k: int, col: int) -> np.ndarray:
        # test, bias and leave-one-out inputs carry their label; content-free and domain texts none
        labelled = name in LABELLED_SETS
        gold = [-1 if r[col] is None else r[col] for r in rows]
        for r, g in zip(rows, gold):
            if not (type(g) is int and (0 if labelled else -1) <= g < (k if labelled else 0)):
                what = "one of the run's" if labelled else "none, as for every text of this set, not one of its"
                raise self._damaged(
                    run_id, name, r[0], f"gold label {printable(str(r[col]))[:20]!r} is not {what} {k} labels"
                )
        return np.array(gold, dtype=np.int64)

    def _damaged(self, run_id: int, name: str, idx, what: str) -> StoreError:
        return StoreError(
            f"{self.path}: run {run_id}, {name} row {idx}: {what}; the store was edited or"
            " damaged (score the run again in another store)"
        )

    def check_done(self, run: RunRecord, held: int) -> None:
        """A finished run holds every input it planned (``held``: the rows read of it);
        fewer means rows were lost."""
        if run["status"] != RunStatus.DONE or not run.get("n_items"):
            return
        if held != run["n_items"]:
            raise StoreError(
                f"{self.path}: run {run['id']} is marked done but holds {held} of its"
                f" {run['n_items']} scores; the store was edited or damaged (score the run"
                " again in another store)"
            )

    def score_rows(self, run_id: int) -> list[dict]:
        """Every stored row of a run (test, bias, cc, dc, looc), each checked as scored_set checks."""
        rows = list(
            self.db.query(
                'SELECT run_id, "set", idx, example_id, text, gold, scores FROM scores WHERE run_id = ? '
                "ORDER BY CASE \"set\" WHEN 'test' THEN 0 WHEN 'bias' THEN 1 WHEN 'cc' THEN 2 WHEN 'dc' THEN 3"
                " ELSE 4 END, idx",
                [run_id],
            )
        )
        k = len(self.run(run_id)["labels"])
        for r in rows:
            cells = (r["idx"], r["gold"], r["scores"])
            self._checked_gold(run_id, r["set"], [cells], k, col=1)
            self._checked_scores(run_id, r["set"], [cells], k, col=2)
        return rows


def _parse_rows(texts: list) -> list:
    """Stored score rows (each a JSON array) parsed in one call: joined, once each row is
    seen to be exactly one bracketed array (it opens and closes one, and the rows hold no
    other bracket), so a damaged row can never pair with its neighbour into two arrays
    that pass; anything else is parsed row by row (and a bad row is named)."""
    joined = ",".join(texts)
    if joined.count("[") == joined.count("]") == len(texts) and all(t[:1] == "[" and t[-1:] == "]" for t in texts):
        return json.loads("[" + joined + "]")
    return [json.loads(t) for t in texts]
