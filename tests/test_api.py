"""lbtui.audit(): the worked example of docs/PYTHON.md runs as written, on the real model,
and shares its store with the command line."""

import json
import re
from pathlib import Path

import pytest

from lbtui.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "PYTHON.md"


def example() -> str:
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    return code


@pytest.mark.model
def test_the_worked_example_runs_and_the_cli_reuses_its_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(example(), str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("AuditResult(2 runs in audit.db)")
    assert " shots method  macro_f1   rsd  bias_score" in out and "(40, 2) (32, 2)" in out
    assert "'looc': 'LOOC needs at least 2 demonstrations'" in out
    # the command line finds the same runs stored: nothing to evaluate, no new run
    from lbtui.store import Store

    before = {r["id"]: r["tokens_evaluated"] for r in Store(Path("audit.db")).runs()}
    argv = [
        "run",
        "-t",
        "reviews",
        "-k",
        "0,4",
        "--limit",
        "40",
        "--scoring",
        "first-token",
        "--db",
        "audit.db",
        "--json",
    ]
    assert main(argv) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    import lbtui

    again = lbtui.audit(tasks="reviews", shots=[0, 4], limit=40, scoring="first-token", db="audit.db")
    assert [r["run_id"] for r in runs] == [r.id for r in again.runs]
    assert {r["id"]: r["tokens_evaluated"] for r in Store(Path("audit.db")).runs()} == before
    first = again.rows()[0]
    assert first["method"] == "none" and first["macro_f1"] == pytest.approx(runs[0]["metrics"]["none"]["macro_f1"])


def test_bad_arguments_are_user_errors_naming_the_option(tmp_path):
    import lbtui
    from lbtui.errors import UserError

    with pytest.raises(UserError) as e:
        lbtui.audit(tasks="reviews", shots=[-1], db=tmp_path / "x.db")
    assert e.value.where == "--shots"
    with pytest.raises(UserError) as e:
        lbtui.audit(tasks="no-such-task", db=tmp_path / "x.db")
    assert e.value.where in ("--task", "-t")


@pytest.mark.parametrize(
    "kwargs, where, said",
    [
        ({"limit": [10, 20]}, "--limit", "give one number: the count of test examples a task"),
        ({"seeds": [1, 2]}, "--seeds", "give one number: the count of seeds"),
        ({"orders": 0}, "--orders", "must be >= 1, got 0"),
        ({"seeds": "2"}, "--seeds", "give a whole number or a non-empty list of them, not '2'"),
        ({"scoring": "loud"}, "--scoring", "must be one of"),
    ],
)
def test_the_api_passes_numbers_as_numbers_and_each_is_checked_naming_its_option(tmp_path, kwargs, where, said):
    """audit() builds a typed request (no numbers formatted as text to be parsed back);
    what the CLI refuses, it refuses in the same words, before any store is written."""
    import lbtui
    from lbtui.errors import UserError

    with pytest.raises(UserError) as e:
        lbtui.audit(tasks="reviews", db=tmp_path / "x.db", **kwargs)
    assert e.value.where == where and said in str(e.value)
    assert not (tmp_path / "x.db").exists()


def test_a_request_typed_as_text_is_the_request_built_from_numbers():
    from lbtui.auditing.selection import AuditRequest
    from lbtui.errors import UserError

    typed = AuditRequest.from_text(shots="0, 4", seeds="2", orders="", limit=None, scoring=None, tasks=("reviews",))
    assert typed == AuditRequest(tasks=("reviews",), shots=(0, 4), seeds=2)
    assert AuditRequest.from_text(shots="", seeds=None, orders=None, limit="", scoring="") == AuditRequest()
    with pytest.raises(UserError, match="--limit: give one number"):
        AuditRequest.from_text(shots=None, seeds=None, orders=None, limit="10,20", scoring=None)
    with pytest.raises(UserError, match="--shots: 'x' is not a whole number"):
        AuditRequest.from_text(shots="0,x", seeds=None, orders=None, limit=None, scoring=None)


def test_dir_and_help_list_the_public_api():
    """Tab completion in a notebook (dir) names the public API without importing the heavy
    modules behind it (the command line keeps a cheap `import lbtui`); help() shows it."""
    import subprocess
    import sys

    code = (
        "import sys, lbtui, pydoc\n"
        "names = dir(lbtui)\n"
        "cheap = 'lbtui.api' not in sys.modules\n"
        "text = pydoc.render_doc(lbtui, renderer=pydoc.plaintext)\n"
        "print(all(n in names for n in ('audit', 'AuditResult', 'Run', 'Classifier')), cheap,"
        " 'Classifier' in text and 'audit(' in text)\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert got.stdout.split() == ["True", "True", "True"], got.stdout + got.stderr
