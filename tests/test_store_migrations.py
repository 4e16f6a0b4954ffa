"""The store's numbered migrations: one list, each applied to a store of the version
before it (built by the migrations up to that version, holding a finished run), brings
it to the same tables as a new store and keeps what it held."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from conftest import FakeAudit

from lbtui.errors import StoreError
from lbtui.results import run_scores
from lbtui.store import Claim, Store
from lbtui.store.schema import LATER_RUN_COLUMNS, MIGRATIONS, SCHEMA_VERSION, migrate, schema_version


def _shape(path) -> dict:
    """Every table's columns and every index, as SQLite reports them."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        shape = {t: sorted((r[1], r[2], r[5]) for r in conn.execute(f"PRAGMA table_info('{t}')")) for t in tables}
        shape["indexes"] = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"))
        return shape
    finally:
        conn.close()


def _store_at(path, version: int) -> None:
    """A new store built by the migrations up to ``version`` only."""
    store = Store(path, create=False)
    migrate(store, to=version)
    assert schema_version(store) == version
    store.close()


def test_the_migrations_are_one_list_numbered_from_one():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert SCHEMA_VERSION == len(MIGRATIONS)


def test_a_new_store_is_at_the_last_version_and_equals_migrating_one_step_at_a_time(tmp_path):
    Store(tmp_path / "new.db").close()
    step = tmp_path / "steps.db"
    for m in MIGRATIONS:
        _store_at(step, m.version)
    assert _shape(tmp_path / "new.db") == _shape(step)
    assert schema_version(Store(tmp_path / "new.db")) == SCHEMA_VERSION


def test_version_one_is_the_first_schema_and_lacks_what_version_two_adds(tmp_path):
    _store_at(tmp_path / "v1.db", 1)
    shape = _shape(tmp_path / "v1.db")
    columns = {c[0] for c in shape["runs"]}
    assert not columns & set(LATER_RUN_COLUMNS)
    assert "address" not in {c[0] for c in shape["scores"]}
    assert "run_metrics" not in shape and "loose_scores" not in shape


def _fill(path) -> tuple[int, np.ndarray]:
    """A finished run of the fake backend in the store at ``path``."""
    model = path.parent / "fake.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    audit = FakeAudit(path, model)
    [rid] = audit.run(limit=4)
    held = run_scores(audit.store, rid).test.copy()
    audit.close()
    return rid, held


@pytest.mark.parametrize("target", [m.version for m in MIGRATIONS if m.version > 1])
def test_each_migration_from_the_version_before_keeps_what_the_store_held(tmp_path, target):
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    Store(new).close()
    rid, held = _fill(new)
    # the same store content at the version before: tables of that version, rows copied
    _store_at(old, target - 1)
    conn = sqlite3.connect(old)
    conn.execute("ATTACH ? AS new", [str(new)])
    for table in ("models", "tasks", "runs", "scores"):
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]
        quoted = ", ".join(f'"{c}"' for c in cols)
        conn.execute(f"INSERT INTO main.{table} ({quoted}) SELECT {quoted} FROM new.{table}")
    conn.commit()
    conn.close()
    store = Store(old)
    assert schema_version(store) == SCHEMA_VERSION
    assert store.run(rid)["status"] == "done"
    assert np.array_equal(run_scores(store, rid).test, held)
    store.close()
    assert _shape(old) == _shape(new)


def test_migration_three_fails_the_runs_holding_invalid_scores(tmp_path):
    path = tmp_path / "v2.db"
    rid, _ = _fill(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")  # written before migration 3
    conn.execute("""UPDATE scores SET scores = '[NaN, -1.0]' WHERE run_id = ? AND "set" = 'test' AND idx = 0""", [rid])
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="invalid scores written by an older lbtui"):
        Store(path, readonly=True)  # a read-only open cannot mend it: refused, not computed on
    store = Store(path)
    assert store.run(rid)["status"] == "failed"
    assert schema_version(store) == SCHEMA_VERSION


def test_a_store_of_a_newer_version_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "newer.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    conn.commit()
    conn.close()
    before = _shape(path)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=f"newer lbtui \\(schema {SCHEMA_VERSION + 1}\\)"):
            Store(path, readonly=readonly)
    assert _shape(path) == before


def test_claim_run_says_what_it_found(tmp_path):
    store = Store(tmp_path / "s.db")
    rid, _ = _fill(tmp_path / "s.db")
    assert store.claim_run(rid, "me") is Claim.DONE
    store.update_run(rid, status="pending")
    assert store.claim_run(rid, "me") is Claim.CLAIMED
    # another live owner's heartbeat (this process, now): busy for anyone else
    from lbtui.store import new_owner

    other = new_owner()
    store.update_run(rid, status="pending")
    assert store.claim_run(rid, other) is Claim.CLAIMED
    assert store.claim_run(rid, "me") is Claim.BUSY


def test_store_errors_name_no_option_and_the_cli_says_its_own(tmp_path, capsys):
    """The store speaks of files and runs; the CLI names its option (--db, --run), the
    app shows the message alone."""
    from pathlib import Path

    from lbtui.cli import main
    from lbtui.errors import RunError, StorePathError

    package = Path(__file__).resolve().parents[1] / "lbtui" / "store"
    assert [f.name for f in package.glob("*.py") if '"--' in f.read_text()] == []

    with pytest.raises(StorePathError) as e:
        Store(tmp_path / "no" / "x.db")
    assert e.value.where is None and str(e.value) == f"folder {tmp_path / 'no'} does not exist"
    store = Store(tmp_path / "s.db")
    with pytest.raises(RunError) as e:
        store.run(7)
    assert e.value.where is None and "--" not in str(e.value)
    assert main(["export", "--run", "7", "--db", str(tmp_path / "s.db")]) == 2
    assert capsys.readouterr().err.strip() == f"lbtui: error: --run: no run 7 in {tmp_path / 's.db'}"
