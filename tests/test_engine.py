import json
import sqlite3
import threading

import numpy as np
import pytest

from lbtui.analysis.calibrations import METHODS
from lbtui.tasks import catalog
from lbtui.backends.fake import FakeBackend
from lbtui.auditing.engine import Engine
from lbtui.results import report, run_scores
from lbtui.errors import Cancelled, InvalidScores, PromptTooLong, UserError
from lbtui.models import ModelSpec
from lbtui.store import Store


class Counting(FakeBackend):
    created = 0

    def __init__(self, **kw):
        super().__init__(**kw)
        Counting.created += 1
        self.requests = 0

    def score(self, requests, *, mode):
        self.requests += len(requests)
        return super().score(requests, mode=mode)


@pytest.fixture
def spec(fake_model):
    return ModelSpec(name="fake", path=fake_model)


def test_run_stores_every_set_and_reports_all_methods(fake_audit):
    store = fake_audit.store
    task = catalog.load("emotions")
    (run_id,) = fake_audit.run([task], [4], limit=30)
    counts = dict(
        store.db.execute('SELECT "set", count(*) FROM scores WHERE run_id = ? GROUP BY "set"', [run_id]).fetchall()
    )
    assert counts == {"test": 30, "bias": 32, "cc": 3, "dc": 20, "looc": 4}
    rep = report(store, run_id)
    assert set(rep.metrics) == set(METHODS) and all(rep.metrics.values())
    run = store.run(run_id)
    assert run["status"] == "done" and len(run["demo_ids"]) == 4 and run["labels"] == list(task.labels)
    rs = run_scores(store, run_id)
    assert rs.test.shape == (30, 5)
    # the fake backend is biased toward the first label; calibration must move predictions
    assert not np.array_equal(rep.metrics["none"].predicted_share, rep.metrics["bc"].predicted_share)


def test_second_run_evaluates_nothing_and_loads_no_model(fake_audit):
    Counting.created = 0
    fake_audit.backend = Counting
    first = fake_audit.run(["reviews"], [0, 2], [0, 1], limit=10)
    assert Counting.created == 1
    assert fake_audit.run(["reviews"], [0, 2], [0, 1], limit=10) == first  # a new engine over the same store
    assert Counting.created == 1


def test_cancel_then_resume_scores_only_what_is_missing(tmp_path, spec):
    store = Store(tmp_path / "s.db")
    cancel = threading.Event()
    backend = Counting()

    class Stopper:
        def run_started(self, run):
            pass

        def run_finished(self, run):
            pass

        def note(self, m, kind=None):
            pass

        def advanced(self, run):
            if run.done >= 16:
                cancel.set()

    engine = Engine(store, backend_factory=lambda s, p: backend, progress=Stopper(), cancel=cancel)
    plans = engine.plan([spec], [catalog.load("reviews")], [4], [0], limit=40)
    with pytest.raises(Cancelled, match="^$"):  # a signal, not a message
        engine.execute(plans)
    run = store.runs()[0]
    assert run["status"] == "cancelled" and store.count_scores(run["id"]) == 16
    total = len(plans[0].items)
    fresh = Counting()
    resumed = Engine(store, backend_factory=lambda s, p: fresh)
    (rid,) = resumed.execute(resumed.plan([spec], [catalog.load("reviews")], [4], [0], limit=40))
    assert rid == run["id"] and fresh.requests == total - 16
    assert store.run(rid)["status"] == "done" and store.count_scores(rid) == total
    # same metrics as an uninterrupted run in another store
    other = Store(tmp_path / "o.db")
    e2 = Engine(other, backend_factory=lambda s, p: FakeBackend())
    (oid,) = e2.execute(e2.plan([spec], [catalog.load("reviews")], [4], [0], limit=40))
    a, b = report(store, rid).metrics, report(other, oid).metrics
    for m in a:
        assert a[m].headline() == b[m].headline()


def test_duplicate_scores_are_impossible(fake_audit):
    store = fake_audit.store
    (rid,) = fake_audit.run(limit=5)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        store.db.execute(
            'INSERT INTO scores (run_id, "set", idx, example_id, text, gold, scores)'
            " VALUES (?, 'test', 0, 'x', 'x', 0, '[0,0]')",
            [rid],
        )
    n = store.count_scores(rid)
    store.add_scores(rid, [{"set": "test", "idx": 0, "example_id": "x", "text": "x", "gold": 0, "scores": [0.0, 0.0]}])
    assert store.count_scores(rid) == n


def test_prompt_longer_than_context_writes_nothing(fake_audit):
    store = fake_audit.store
    fake_audit.backend = lambda: FakeBackend(n_ctx=60)
    with pytest.raises(PromptTooLong) as e:
        fake_audit.run(shots=[8], limit=5)
    assert (
        "more than n_ctx 60" in str(e.value)
        and "reviews.toml" in str(e.value)
        and "drop demonstrations" in str(e.value)
    )
    assert store.runs() == [] and store.db["scores"].count == 0


def test_first_token_mode_refuses_shared_first_tokens(tmp_path, spec, monkeypatch):
    store = Store(tmp_path / "s.db")
    fb = FakeBackend()
    words = fb.tokenize  # a vocabulary in which both labels read as the same word
    monkeypatch.setattr(
        fb, "tokenize", lambda text, bos=False, special=False: words(text.replace("negative", "positive"), bos=bos)
    )
    engine = Engine(store, backend_factory=lambda s, p: fb)
    with pytest.raises(UserError, match="share their first token"):
        engine.execute(engine.plan([spec], [catalog.load("reviews")], [0], [0], limit=5, scoring="first-token"))


def test_bad_options():
    engine = Engine(Store(":memory:"))
    with pytest.raises(UserError, match="--scoring"):
        engine.plan([], [], [0], [0], scoring="sum")


def test_full_mode_is_refused_without_an_end_token(fake_audit):
    """A backend with no end token (a server entry without a local GGUF) cannot score
    the paper's full mode: one line, nothing written, first-token still works."""
    store = fake_audit.store
    fb = FakeBackend()
    fb.eos = None
    fake_audit.backend = lambda: fb
    with pytest.raises(UserError, match="full scoring needs it: use --scoring first-token"):
        fake_audit.run(limit=5, scoring="full")
    assert store.runs() == []
    (rid,) = fake_audit.run(limit=5, scoring="first-token")
    assert store.run(rid)["status"] == "done"


def test_resume_rebuilds_a_run_from_the_store(tmp_path, spec):
    """A cancelled run of a task file read with --data-dir, under other label words and in
    its second ordering, is finished as it was planned; a changed task file is refused."""
    import json

    from lbtui.tasks import verbalizers
    from lbtui.tasks.taskfile import DataOptions

    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.jsonl").write_text(
        "".join(
            json.dumps(
                {"id": str(i), "text": f"item {i} is {'good' if i % 2 else 'bad'}", "label": ["neg", "pos"][i % 2]}
            )
            + "\n"
            for i in range(140)
        )
    )
    task_file = tmp_path / "t.toml"
    task_file.write_text(
        'name = "t"\ndefinition = "Classify"\nlabels = ["neg", "pos"]\n[data]\nfile = "rows.jsonl"\nid_field = "id"\n'
    )
    opts = DataOptions(data_dir=data)
    (task,) = verbalizers.expand([catalog.load(str(task_file), opts)], [("bad", "good")])[1:]
    store = Store(tmp_path / "r.db")
    engine = Engine(store, backend_factory=lambda s, p: FakeBackend())
    plans = engine.plan([spec], [task], [4], [0], limit=10, orders=2, data=opts)
    rid = engine.execute([plans[1]])[0]
    store.db.execute("DELETE FROM scores WHERE run_id = ? AND idx >= 3", [rid])
    store.update_run(rid, status="cancelled")
    assert engine.resume(rid) == rid
    run = store.run(rid)
    assert run["status"] == "done" and run["demo_order"] == 1 and run["task_name"] == "t[bad/good]"
    assert store.count_scores(rid) == run["n_items"] and len(store.runs()) == 1
    (task_file.parent / "data" / "rows.jsonl").write_text("")  # the data changed since
    store.update_run(rid, status="cancelled")
    with pytest.raises(UserError, match=r"data/rows.jsonl: no data rows"):  # the task is read again, as stored
        engine.resume(rid)


def test_run_record_names_every_column_of_the_runs_table(fake_audit):
    """The typed record and the schema cannot drift apart; a stored run has exactly its keys."""
    from lbtui.store import RUN_COLUMNS, RunRecord

    assert list(RunRecord.__annotations__) == list(RUN_COLUMNS)
    [rid] = fake_audit.run(limit=4)
    assert set(fake_audit.store.run(rid)) == set(RunRecord.__annotations__)


class Poisoned(FakeBackend):
    """Answers one NaN per call, as a faulty server or a broken build might."""

    def score(self, requests, *, mode):
        out = np.array(super().score(requests, mode=mode), dtype=float)
        out[0, -1] = np.nan
        return out


def test_an_invalid_score_fails_the_run_and_nothing_of_the_call_is_stored(fake_audit):
    fake_audit.backend = Poisoned
    with pytest.raises(InvalidScores, match=r"model fake: a log-probability of nan for label 'positive' of input"):
        fake_audit.run(limit=4)
    assert fake_audit.store.count_scores(1) == 0 and fake_audit.store.run(1)["status"] == "failed"


def test_invalid_scores_stored_by_an_older_version_fail_their_run_and_are_scored_again(tmp_path, spec):
    path = tmp_path / "old.db"
    store = Store(path)
    engine = Engine(store, backend_factory=lambda s, p: FakeBackend())
    plans = lambda: engine.plan([spec], [catalog.load("reviews")], [0], [0], limit=4)  # noqa: E731
    [rid] = engine.execute(plans())
    n = store.count_scores(rid)
    before = run_scores(store, rid).test.copy()
    # what an older lbtui stored from a server answering NaN and +5.0, and called done
    store.db.execute(
        """UPDATE scores SET scores = '[NaN, -1.0]' WHERE run_id = ? AND "set" = 'test' AND idx = 0""", [rid]
    )
    store.db.execute(
        """UPDATE scores SET scores = '[-0.5, 5.0]' WHERE run_id = ? AND "set" = 'bias' AND idx = 3""", [rid]
    )
    store.db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")  # before migration 3
    store.close()
    store = Store(path)
    run = store.run(rid)
    assert run["status"] == "failed" and "run the same command again" in run["error"]
    assert store.count_scores(rid) == n - 2
    engine = Engine(store, backend_factory=lambda s, p: FakeBackend())
    assert engine.execute(plans()) == [rid]  # the same run, finished, not a new one
    assert store.run(rid)["status"] == "done" and store.count_scores(rid) == n
    assert np.array_equal(run_scores(store, rid).test, before)


def test_a_larger_limit_evaluates_only_the_new_inputs(tmp_path, spec):
    """Scores are content-addressed (model, backend numbers, prompt ids, label ids, mode):
    --limit 20 after --limit 10 evaluates the 10 new test inputs and the domain-context
    strings (DC samples its words from the test inputs, so they change with the limit),
    and reuses the bias, content-free and leave-one-out scores and the first 10 test
    inputs; the numbers equal a fresh run's."""
    store = Store(tmp_path / "a.db")
    backend = Counting()
    engine = Engine(store, backend_factory=lambda s, p: backend)
    task = catalog.load("reviews")
    [small] = engine.execute(engine.plan([spec], [task], [4], [0], limit=10))
    first = backend.requests
    [large] = engine.execute(engine.plan([spec], [task], [4], [0], limit=20))
    assert large != small and backend.requests - first == 10 + 20
    fresh_store = Store(tmp_path / "b.db")
    [fresh] = Engine(fresh_store, backend_factory=lambda s, p: FakeBackend()).execute(
        Engine(fresh_store).plan([spec], [task], [4], [0], limit=20)
    )
    a, b = run_scores(store, large), run_scores(fresh_store, fresh)
    for name in ("test", "bias", "cc", "dc", "looc"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # another seed draws other demonstrations: other prompts, nothing to reuse for them
    before = backend.requests
    [other] = engine.execute(engine.plan([spec], [task], [4], [1], limit=10))
    assert backend.requests - before > 10 + 32


def test_k0_runs_of_other_seeds_share_all_but_their_domain_texts_and_say_what_they_reused(
    tmp_path, spec, capsys, fake_model
):
    from lbtui.cli import main

    db = str(tmp_path / "k0.db")
    args = ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "10", "--json", "--db", db]
    backend = Counting()
    assert main([*args], backend_factory=lambda s, p: backend) == 0
    one = json.loads(capsys.readouterr().out)["runs"][0]
    assert (one["inputs_evaluated"], one["inputs_reused"]) == (10 + 32 + 3 + 20, 0)
    before = backend.requests
    assert main([*args, "--seeds", "2"], backend_factory=lambda s, p: backend) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert backend.requests - before == 20  # seed 1: its DC strings only
    assert (runs[1]["inputs_evaluated"], runs[1]["inputs_reused"]) == (20, 10 + 32 + 3)


def test_evaluation_order_keeps_the_phases_and_walks_each_sets_prompt_trie():
    """Set by set as planned; within a set, prompts sorted by ids, so that the rows a
    prefix-keeping backend evaluates (each prompt's tokens past what it shares with the
    previous one) equal the nodes of the set's prompt trie."""
    from lbtui.auditing.engine import Item, evaluation_order

    prompts = {
        "cc": [(1, 2, 3)],
        "test": [(1, 2, 9, 4), (1, 2, 5, 6), (1, 2, 9, 7), (1, 2, 5, 8)],
        "looc": [(1, 3, 2), (1, 2, 3, 4)],
    }
    items = [Item(s, i, f"{s}{i}", "", 0, q, ((1,),)) for s, qs in prompts.items() for i, q in enumerate(qs)]
    got = evaluation_order(items)
    assert [it.set for it in got] == ["cc", "test", "test", "test", "test", "looc", "looc"]
    assert [it.prompt for it in got if it.set == "test"] == [(1, 2, 5, 6), (1, 2, 5, 8), (1, 2, 9, 4), (1, 2, 9, 7)]

    def rows(order):
        total, prev = 0, ()
        for q in order:
            shared = next((n for n, (a, b) in enumerate(zip(prev, q)) if a != b), min(len(prev), len(q)))
            total, prev = total + len(q) - shared, q
        return total

    test = [it.prompt for it in got if it.set == "test"]
    trie = {q[:i] for q in test for i in range(1, len(q) + 1)}
    assert rows(test) == len(trie) == 8 < rows(prompts["test"])  # 8 nodes; planned order evaluates 10
