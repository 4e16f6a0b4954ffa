"""lbtui classify and lbtui.Classifier: new inputs through an audited run's own prompt,
backend and fitted calibration (issue 26). The fake backend checks the plumbing fast;
the real SmolLM2 test checks exactness against the stored scores."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import FakeAudit
from lbtui import Classifier
from lbtui.analysis.calibrations import METHODS
from lbtui.analysis.metrics import softmax
from lbtui.auditing.engine import rebuild
from lbtui.backends.fake import FakeBackend
from lbtui.cli import main
from lbtui.results import Results
from lbtui.results import card as cards
from lbtui.store import Store


class Counting(FakeBackend):
    """The fake backend, counting the inputs it is asked to score."""

    scored = 0

    def score(self, requests, *, mode):
        Counting.scored += len(requests)
        return super().score(requests, mode=mode)


@pytest.fixture
def counting():
    Counting.scored = 0
    return lambda spec, path: Counting()


def audit(tmp_path, fake_model, task="reviews", shots=4, scoring="first-token", limit=40):
    """One finished fake-backend run (conftest.FakeAudit): its store's path, the store, its id."""
    setup = FakeAudit(tmp_path / "c.db", fake_model)
    engine = setup.engine()
    (rid,) = setup.run([task], [shots], engine=engine, limit=limit, scoring=scoring)
    engine.close()
    return setup.db, setup.store, rid


def run_inputs(store, rid):
    p = rebuild(store, rid)
    fields = [dict(ex.fields) for ex in p.sets.test]
    return fields, np.array([ex.label for ex in p.sets.test])


@pytest.mark.parametrize("scoring", ["first-token", "full"])
@pytest.mark.parametrize("task", ["reviews", "entailment"])
def test_classifying_the_runs_test_inputs_gives_the_runs_predictions_and_evaluates_nothing(
    tmp_path, fake_model, counting, scoring, task
):
    db, store, rid = audit(tmp_path, fake_model, task=task, scoring=scoring)
    rep = Results(store).report(rid)
    fields, gold = run_inputs(store, rid)
    applied = [m for m in METHODS if rep.metrics[m] is not None]
    assert {"none", "cc", "dc", "bc", "looc", "proca", "sc"} <= set(METHODS) and len(applied) >= 6
    for method in applied:
        with Classifier.from_run(rid, method, db, backend_factory=counting) as clf:
            inputs = [f["text"] for f in fields] if task == "reviews" else fields
            labels = clf.predict(inputs)
            assert clf.evaluated == 0
        pred = np.array([clf.labels.index(x) for x in labels])
        assert f1_score(gold, pred, average="macro") == pytest.approx(rep.metrics[method].macro_f1, abs=1e-12), method
        stored = rep.calibrations[method](softmax(Results(store).scores(rid).test))
        assert np.array_equal(pred, stored.argmax(axis=1)), method  # input by input, not only the score
    assert Counting.scored == 0


@pytest.mark.parametrize("scoring", ["first-token", "full"])
def test_a_saved_card_classifies_without_the_store_exactly_as_the_run(tmp_path, fake_model, counting, scoring):
    db, store, rid = audit(tmp_path, fake_model, scoring=scoring)
    rep = Results(store).report(rid)
    fields, gold = run_inputs(store, rid)
    texts = [f["text"] for f in fields]
    for method in [m for m in METHODS if rep.metrics[m] is not None]:
        with Classifier.from_run(rid, method, db, backend_factory=counting) as clf:
            want = clf.predict_proba(texts)
            clf.save(tmp_path / f"{method}.json")
        with Classifier.load(tmp_path / f"{method}.json", str(fake_model), backend_factory=counting) as again:
            got = again.predict_proba(texts)
            assert again.evaluated == len(set(texts))  # no store: every input evaluated
        assert np.array_equal(got, want), method
        assert f1_score(gold, got.argmax(axis=1), average="macro") == pytest.approx(
            rep.metrics[method].macro_f1, abs=1e-12
        )
    stored = Results(store).scores(rid).test
    with Classifier.load(tmp_path / "bc.json", str(fake_model), backend_factory=counting) as again:
        assert np.array_equal(again.scores(texts), stored)


def test_new_inputs_are_stored_under_their_address_and_never_scored_twice(tmp_path, fake_model, counting):
    db, store, rid = audit(tmp_path, fake_model)
    new = ["An absolute delight from start to finish", "Broke after two days, avoid"]
    with Classifier.from_run(rid, "bc", db, backend_factory=counting) as clf:
        first = clf.predict_proba(new)
        assert clf.evaluated == 2
    assert Counting.scored == 2
    with Classifier.from_run(rid, "bc", db, backend_factory=counting) as clf:
        assert np.array_equal(clf.predict_proba(new + new), first[[0, 1, 0, 1]])
        assert clf.evaluated == 0
    assert Counting.scored == 2


def test_bc_is_fixed_by_default_and_estimated_from_the_batch_when_asked(tmp_path, fake_model, counting):
    db, store, rid = audit(tmp_path, fake_model)
    texts = [f["text"] for f in run_inputs(store, rid)[0]]
    with Classifier.from_run(rid, "bc", db, backend_factory=counting) as clf:
        alone = clf.predict_proba(texts[:1])
        assert np.array_equal(clf.predict_proba(texts)[:1], alone)  # the same alone or in a batch
    with Classifier.from_run(rid, "bc", db, bc_prior="batch", backend_factory=counting) as clf:
        raw = clf.raw_proba(texts)
        prior = raw.mean(axis=0)
        want = (raw / prior) / (raw / prior).sum(axis=1, keepdims=True)
        assert np.allclose(clf.predict_proba(texts), want, atol=1e-15)
        with pytest.raises(Exception, match="at least 16 inputs"):
            clf.predict_proba(texts[:3])


def test_the_cli_prints_one_line_an_input_in_input_order(tmp_path, fake_model, counting, capsys):
    db, store, rid = audit(tmp_path, fake_model)
    rows = [{"id": "a", "text": "Great value", "label": "negative", "extra": 1}, {"text": "Terrible"}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(
        ["classify", "--run", str(rid), "--method", "dc", "--db", str(db), "--input", str(tmp_path / "in.jsonl")],
        backend_factory=counting,
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 2
    got = [json.loads(x) for x in out]
    assert [g["id"] for g in got] == ["a", "2"]
    labels = store.run(rid)["labels"]
    for g in got:
        assert list(g["probs"]) == labels and list(g["raw"]) == labels
        assert sum(g["probs"].values()) == pytest.approx(1) and g["label"] == max(g["probs"], key=g["probs"].get)
    with Classifier.from_run(rid, "dc", db, backend_factory=counting) as clf:
        assert clf.predict(["Great value", "Terrible"]) == [g["label"] for g in got]


def test_the_cli_reads_standard_input_and_writes_csv(tmp_path, fake_model, counting, capsys, monkeypatch):
    db, store, rid = audit(tmp_path, fake_model)
    monkeypatch.setattr("sys.stdin", io.StringIO('{"id": "=1+1", "text": "fine"}\n\n{"text": "awful"}\n'))
    assert main(["classify", "--run", str(rid), "--db", str(db), "--format", "csv"], backend_factory=counting) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("id,label,p_") and len(lines) == 3
    assert lines[1].startswith("'=1+1,")  # a spreadsheet never runs it


def one_line_error(capsys) -> str:
    cap = capsys.readouterr()
    assert cap.out == ""  # nothing half-written
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    return lines[0]


@pytest.mark.parametrize(
    "rows,where,what",
    [
        ([{"text": "ok"}, {"txt": "no field"}], "in.jsonl:2: text", "field is missing"),
        ([{"text": "   "}], "in.jsonl:1: text", "input is empty"),
        ([{"text": "word " * 5000}], "in.jsonl:1", "more than n_ctx"),
    ],
)
def test_bad_rows_are_one_line_naming_file_row_and_field(tmp_path, fake_model, counting, capsys, rows, where, what):
    db, store, rid = audit(tmp_path, fake_model)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(
        ["classify", "--run", str(rid), "--db", str(db), "--input", str(tmp_path / "in.jsonl")],
        backend_factory=counting,
    )
    line = one_line_error(capsys)
    assert code == 2 and where in line and what in line
    assert Counting.scored == 0


def test_a_method_that_does_not_apply_is_refused_with_the_tables_reason(tmp_path, fake_model, counting, capsys):
    db, store, rid = audit(tmp_path, fake_model, shots=0)
    code = main(
        ["classify", "--run", str(rid), "--method", "looc", "--db", str(db), "--input", "-"], backend_factory=counting
    )
    assert code == 2
    assert (
        one_line_error(capsys)
        == f"lbtui: error: --method: looc does not apply to run {rid}: " + Results(store).report(rid).reasons["looc"]
    )


def _card(tmp_path, fake_model, counting) -> tuple[dict, str]:
    db, store, rid = audit(tmp_path, fake_model)
    with Classifier.from_run(rid, "bc", db, backend_factory=counting) as clf:
        clf.save(tmp_path / "card.json")
    return json.loads((tmp_path / "card.json").read_text()), str(tmp_path / "card.json")


@pytest.mark.parametrize(
    "edit,field",
    [
        (lambda c: c.update(version=99), "version"),
        (lambda c: c["method"]["calibration"].update(prior=[0.9, 0.3]), "method.calibration.prior"),
        (lambda c: c["method"]["calibration"].update(prior=[float("nan"), 1.0]), "method.calibration.prior"),
        (lambda c: c.update(labels=["negative"]), "labels"),
        (lambda c: c["label_ids"].append([5]), "label_ids"),
        (lambda c: c["method"].update(name="magic"), "method.name"),
        (lambda c: c["prompt"]["demonstrations"].append(["x", "maybe"]), "prompt.demonstrations[4]"),
    ],
)
def test_a_tampered_or_foreign_card_is_refused_in_one_line(tmp_path, fake_model, counting, capsys, edit, field):
    card, path = _card(tmp_path, fake_model, counting)
    edit(card)
    (tmp_path / "card.json").write_text(json.dumps(card))
    code = main(["classify", "--card", path, "--model", str(fake_model), "--input", "-"], backend_factory=counting)
    line = one_line_error(capsys)
    assert code == 2 and f"{path}: {field}" in line, line


def test_a_card_refuses_another_model_file(tmp_path, fake_model, counting, capsys, monkeypatch):
    card, path = _card(tmp_path, fake_model, counting)
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(61))
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "fine"}\n'))
    assert main(["classify", "--card", path, "--model", str(other), "--input", "-"], backend_factory=counting) == 2
    assert "is not the model the card" in one_line_error(capsys)
    assert cards.load(tmp_path / "card.json")["model"]["sha256"] == card["model"]["sha256"]


def test_save_writes_a_card_with_the_audits_numbers(tmp_path, fake_model, counting, capsys):
    db, store, rid = audit(tmp_path, fake_model)
    assert (
        main(
            ["classify", "--run", str(rid), "--method", "sc", "--db", str(db), "--save", str(tmp_path / "sc.json")],
            backend_factory=counting,
        )
        == 0
    )
    card = cards.load(tmp_path / "sc.json")
    rows = {
        r.metric: r
        for r in __import__("lbtui.report.verdict", fromlist=["run_rows"]).run_rows(Results(store), rid, "sc")
    }
    for metric in ("macro_f1", "rsd", "bias_score"):
        got = card["audit"][metric]
        assert (got["value"], got["lo"], got["hi"]) == (rows[metric].value, rows[metric].lo, rows[metric].hi)
    assert card["method"]["calibration"]["map"] == "supervised"
    assert card["prompt"]["prefix_text"] == store.run(rid)["prompt_prefix"]
    assert not list(tmp_path.glob(".sc.json.part*"))


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("scoring", ["first-token", "full"])
def test_smollm2_classifies_its_own_test_inputs_exactly_from_the_store_and_from_a_card(tmp_path, scoring):
    from tests.conftest import smollm2_path

    if not smollm2_path().is_file():
        pytest.skip("SmolLM2 (the models extra) is not installed")
    db = tmp_path / "s.db"
    assert (
        main(["run", "-t", "reviews", "-k", "2", "--limit", "12", "--scoring", scoring, "--db", str(db), "--json"]) == 0
    )
    store = Store(db)
    (run,) = store.runs(status="done")
    rep = Results(store).report(run["id"])
    fields, gold = run_inputs(store, run["id"])
    texts = [f["text"] for f in fields]
    for method in ("none", "bc", "looc"):
        with Classifier.from_run(run["id"], method, db) as clf:
            pred = [clf.labels.index(x) for x in clf.predict(texts)]
            assert clf.evaluated == 0
            clf.save(tmp_path / "card.json")
        assert f1_score(gold, pred, average="macro") == pytest.approx(rep.metrics[method].macro_f1, abs=1e-12)
    with Classifier.load(tmp_path / "card.json", "smollm2-135m-instruct") as fresh:
        got = fresh.scores(texts)
        assert fresh.evaluated == len(texts)
    assert np.array_equal(got, Results(store).scores(run["id"]).test)  # bit for bit, from whole prompts


@pytest.mark.model
def test_bench_classify_times_new_inputs_beside_the_audit(capsys):
    from tests.conftest import smollm2_path

    if not smollm2_path().is_file():
        pytest.skip("SmolLM2 (the models extra) is not installed")
    assert (
        main(
            ["bench", "--classify", "4", "-t", "reviews", "-k", "2", "--limit", "8", "--modes", "first-token", "--json"]
        )
        == 0
    )
    (got,) = json.loads(capsys.readouterr().out)
    assert got["mode"] == "first-token" and got["classify_inputs"] == got["classify_evaluated"] == 4
    assert got["audit_inputs_per_s"] > 0 and got["ratio_to_audit_test"] == pytest.approx(
        got["classify_inputs_per_s"] / got["audit_test_inputs_per_s"], rel=0.02
    )
