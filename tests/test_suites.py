"""lbtui import sni and --suite, on the small SNI-format folder in tests/data/sni
(written by tests/data/sni/make.py)."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from lbtui.tasks import catalog, suites
from lbtui.cli import main

SNI = Path(__file__).parent / "data" / "sni"


def imported(capsys, *extra):
    code = main(["import", "sni", str(SNI), "--name", "toy", "--json", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_the_papers_rules_select_the_tasks(capsys):
    doc = imported(capsys)
    assert doc["tasks"] == ["task001_toy_sentiment", "task002_toy_topic"]
    why = doc["skipped"]
    assert "fewer than 396" in why["task003_too_small"]
    assert "not English" in why["task004_not_english"]
    assert "400 distinct outputs" in why["task005_generation"]
    assert "2.00 outputs an instance on average" in why["task006_two_outputs"]
    assert "not a classification task" in why["task007_toy_question_answering"]
    assert "incorrect_answer" in why["task008_toy_incorrect_answer_classification"]
    assert "nine tasks the paper excludes" in why["task302_record_classification"]


def test_the_summary_rule_is_skipped_with_a_note_when_no_file_has_one(capsys, tmp_path):
    copy = tmp_path / "sni" / "tasks"
    copy.mkdir(parents=True)
    for name in ("task001_toy_sentiment", "task002_toy_topic"):
        doc = json.loads((SNI / "tasks" / f"{name}.json").read_text())
        doc.pop("Summary", None)
        (copy / f"{name}.json").write_text(json.dumps(doc))
    assert main(["import", "sni", str(copy.parent), "--name", "nosum", "--json"]) == 0
    out = capsys.readouterr()
    assert out.err.count("summary rule was not applied") == 1
    doc = json.loads(out.out)
    assert (
        doc["tasks"] == ["task002_toy_topic"] and "not a classification task" in doc["skipped"]["task001_toy_sentiment"]
    )


def test_each_task_gets_a_pool_of_96_and_a_seeded_test_set(capsys):
    imported(capsys)
    files = suites.task_files("toy")
    assert [f.stem for f in files] == ["task001_toy_sentiment", "task002_toy_topic"]
    sentiment = catalog.load(str(files[0]))
    assert sentiment.labels == ("Negative", "Positive")
    assert len(sentiment.pool) == 96 and len(sentiment.test) == 300  # 420 instances: 96 + 300 kept
    assert not {e.id for e in sentiment.pool} & {e.id for e in sentiment.test}
    assert sentiment.definition == "Classify the review as Positive or Negative"
    topic = catalog.load(str(files[1]))
    assert topic.labels == ("Politics", "Science", "Sports") and len(topic.test) == 300
    # The same seed gives the same split; another seed another one.
    main(["import", "sni", str(SNI), "--name", "again"])
    main(["import", "sni", str(SNI), "--name", "other", "--seed", "1"])
    capsys.readouterr()
    again = catalog.load(str(suites.task_files("again")[0]))
    other = catalog.load(str(suites.task_files("other")[0]))
    assert again.content_hash == sentiment.content_hash
    assert {e.id for e in other.pool} != {e.id for e in sentiment.pool}


def test_run_a_suite_with_its_mean_and_report_it(capsys, tmp_path, fake_model, fake_factory):
    imported(capsys)
    db = tmp_path / "s.db"
    code = main(
        ["run", "-m", str(fake_model), "--suite", "toy", "-k", "0,4", "--limit", "12", "--db", str(db), "--json"],
        backend_factory=fake_factory,
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert sorted({r["task"] for r in doc["runs"]}) == ["task001_toy_sentiment", "task002_toy_topic"]
    four = [r for r in doc["runs"] if r["shots"] == 4]
    # `run` prints the mean across the suite's tasks, as the paper reports them.
    assert doc["summary"]["none"]["macro_f1"] == pytest.approx(
        np.mean([r["metrics"]["none"]["macro_f1"] for r in doc["runs"]])
    )
    assert main(["report", "--db", str(db), "--suite", "toy", "--format", "json", "--resamples", "50"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    mean = [
        r
        for r in rows
        if r["task"] == "mean" and r["shots"] == 4 and r["method"] == "none" and r["metric"] == "macro_f1"
    ]
    assert mean[0]["value"] == pytest.approx(np.mean([r["metrics"]["none"]["macro_f1"] for r in four]))
    assert main(["suites", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0] == {
        "name": "toy",
        "tasks": 2,
        "folder": str(suites.suites_dir() / "toy"),
    }


def test_suite_toml_lists_what_was_left_out(capsys):
    imported(capsys)
    doc = tomllib.loads((suites.suites_dir() / "toy" / "suite.toml").read_text())
    assert doc["name"] == "toy" and doc["seed"] == 0 and len(doc["skipped"]) == 7


def test_exclude_by_name(capsys):
    doc = imported(capsys, "--exclude", "task002_toy_topic")
    assert doc["tasks"] == ["task001_toy_sentiment"] and doc["skipped"]["task002_toy_topic"] == "excluded by name"


def test_bad_imports_are_one_line_errors_and_leave_nothing(capsys, tmp_path):
    assert main(["import", "sni", str(tmp_path / "nope")]) == 2
    assert "folder not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "tasks").mkdir(parents=True)
    assert main(["import", "sni", str(empty)]) == 2
    assert "no Super-NaturalInstructions task files" in capsys.readouterr().err
    broken = tmp_path / "broken" / "tasks"
    broken.mkdir(parents=True)
    (broken / "task001_x.json").write_text((SNI / "tasks" / "task001_toy_sentiment.json").read_text())
    (broken / "task002_y.json").write_text("{not json")
    assert main(["import", "sni", str(broken.parent), "--name", "b"]) == 2
    err = capsys.readouterr().err
    assert "task002_y.json" in err and "JSON" in err and err.count("\n") == 1
    assert "b" not in suites.available() and not [p for p in suites.suites_dir().iterdir() if p.name.startswith(".")]
    imported(capsys)
    assert main(["import", "sni", str(SNI), "--name", "toy"]) == 2
    assert "exists" in capsys.readouterr().err
    assert imported(capsys, "--force")["tasks"]
    assert main(["run", "--suite", "nosuch"]) == 2
    assert "no suite 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize("name", [".", "..", ".hidden", "a/b"])
def test_a_suite_name_that_is_a_path_is_refused_before_anything_moves(capsys, name):
    imported(capsys)  # a suite that must survive
    before = sorted(p.name for p in suites.suites_dir().iterdir())
    assert main(["import", "sni", str(SNI), "--name", name, "--force"]) == 2
    err = capsys.readouterr().err
    assert f"--name: {name!r} is not a valid suite name" in err and err.count("\n") == 1
    assert sorted(p.name for p in suites.suites_dir().iterdir()) == before and "toy" in suites.available()


def test_a_negative_seed_is_refused(capsys):
    assert main(["import", "sni", str(SNI), "--name", "neg", "--seed", "-1"]) == 2
    assert "--seed: must be >= 0, got -1" in capsys.readouterr().err
