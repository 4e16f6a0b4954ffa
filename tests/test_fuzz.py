"""Fuzzed inputs through the real command line: task files (TOML with JSONL, CSV and
pattern data, SNI JSON), models.toml entries and server answers. The property: each one
either works or is refused with exit 2 and one line on stderr; never a traceback, and a
refused input never leaves a score row.

CI runs LBTUI_FUZZ_EXAMPLES (default 40) examples a test; a longer run:
LBTUI_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_fuzz.py
"""

import json
import os
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from lbtui.backends.fake import FakeBackend
from lbtui.cli import main

EXAMPLES = int(os.environ.get("LBTUI_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

text = st.text(max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 400), text, st.floats(allow_nan=True))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(text, inner, max_size=3)), max_leaves=8)


def toml_value(v) -> str:
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def check(code: int, err: str, db: Path) -> None:
    errors = [line for line in err.splitlines() if line.startswith("lbtui: error:")]
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert len(errors) == 1, err
        if db.exists():
            with sqlite3.connect(db) as c:
                assert c.execute("SELECT count(*) FROM scores").fetchone()[0] == 0, err


def run(capsys, tmp: Path, task: Path, *extra: str, factory=lambda s, p: FakeBackend()) -> None:
    db = tmp / "fuzz.db"
    db.unlink(missing_ok=True)
    model = tmp / "fake.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    code = main(["run", "-m", str(model), "-t", str(task), "-k", "0", "--limit", "3", "--db", str(db), *extra],
                backend_factory=factory)
    check(code, capsys.readouterr().err, db)


def good_rows(n: int = 60) -> str:
    return "".join(json.dumps({"text": f"example {i}", "label": "a" if i % 2 else "b"}) + "\n" for i in range(n))


DATA_KEYS = ["file", "pattern", "input", "label_field", "id_field", "label_map", "source", "config", "split"]
TOP_KEYS = ["name", "version", "definition", "labels", "description"]


@FUZZ
@given(top=st.dictionaries(st.sampled_from(TOP_KEYS), values, max_size=5),
       data=st.dictionaries(st.sampled_from(DATA_KEYS), values, max_size=4),
       split=st.dictionaries(st.sampled_from(["pool", "field", "seed"]), values, max_size=2),
       prompt=st.dictionaries(st.sampled_from(["input_prefix", "output_prefix", "separator", "instruction"]), values,
                              max_size=2))
def test_fuzzed_task_files_load_or_are_one_line(tmp_path, capsys, top, data, split, prompt):
    (tmp_path / "d.jsonl").write_text(good_rows())
    base = {"name": "t", "definition": "Say a or b", "labels": ["a", "b"]}
    lines = [f"{k} = {toml_value(v)}" for k, v in {**base, **top}.items()]
    for table, body in (("data", {"file": "d.jsonl", **data}), ("split", split), ("prompt", prompt)):
        if body:
            lines += [f"[{table}]", *[f"{json.dumps(k)} = {toml_value(v)}" for k, v in body.items()]]
    task = tmp_path / "t.toml"
    task.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run(capsys, tmp_path, task)


@FUZZ
@given(raw=st.binary(max_size=600), suffix=st.sampled_from([".jsonl", ".csv", ".tsv"]),
       rows=st.lists(st.dictionaries(st.sampled_from(["text", "label", "id"]), values, max_size=3), max_size=40))
def test_fuzzed_data_files_load_or_are_one_line(tmp_path, capsys, raw, suffix, rows):
    path = tmp_path / f"d{suffix}"
    for content in (raw, "".join(json.dumps(r) + "\n" for r in rows).encode()):
        path.write_bytes(content)
        run(capsys, tmp_path, path, "--pool", "2")


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["Definition", "Instances", "Positive Examples", "Input_language",
                                            "Output_language", "Categories"]), values, max_size=6),
       instances=st.lists(st.dictionaries(st.sampled_from(["id", "input", "output"]), values, max_size=3), max_size=30))
def test_fuzzed_sni_files_load_or_are_one_line(tmp_path, capsys, doc, instances):
    path = tmp_path / "task001_fuzz.json"
    for body in (doc, {"Definition": ["Say a or b"], "Instances": instances}):
        path.write_text(json.dumps(body))
        run(capsys, tmp_path, path, "--pool", "2")


MODEL_KEYS = ["path", "package", "file", "repo", "revision", "sha256", "n_ctx", "chat_template", "note", "default",
              "server", "server_model", "max_in_flight", "n_gpu_layers", "n_threads", "allow_retokenize"]


@FUZZ
@given(entries=st.dictionaries(st.text(min_size=1, max_size=8), st.dictionaries(st.sampled_from(MODEL_KEYS), values,
                                                                                  max_size=4), max_size=3))
def test_fuzzed_models_toml_entries_list_or_are_one_line(tmp_path, capsys, monkeypatch, entries):
    home = tmp_path / "home"
    (home / "lbtui").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    lines = []
    for name, entry in entries.items():
        lines.append(f"[models.{json.dumps(name)}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    (home / "lbtui" / "models.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["models"])
    check(code, capsys.readouterr().err, tmp_path / "none.db")
    for name in list(entries)[:1]:
        db = tmp_path / "m.db"
        db.unlink(missing_ok=True)
        code = main(["run", "-m", name, "-t", "reviews", "-k", "0", "--limit", "3", "--scoring", "first-token",
                     "--db", str(db)], backend_factory=lambda s, p: FakeBackend())
        check(code, capsys.readouterr().err, db)


answers = st.one_of(
    values,
    st.fixed_dictionaries({"choices": st.lists(st.dictionaries(st.sampled_from(["text", "logprobs"]), values, max_size=2),
                                               max_size=2)}),
    st.fixed_dictionaries({"choices": st.just([{"text": "", "logprobs": None}]),
                           "usage": values}),
    st.builds(lambda v: {"choices": [{"text": "", "logprobs": {"tokens": ["x"], "token_logprobs": [v]}}]}, scalars),
)


@FUZZ
@given(answer=answers)
def test_fuzzed_server_answers_score_or_are_one_line(tmp_path, capsys, monkeypatch, answer):
    from test_server import FakeServer

    home = tmp_path / "home"
    (home / "lbtui").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    srv = FakeServer(delay=0, answer=lambda doc: answer)
    try:
        (home / "lbtui" / "models.toml").write_text(f'[models.s]\nserver = "{srv.url}"\nretries = 0\n')
        db = tmp_path / "s.db"
        db.unlink(missing_ok=True)
        code = main(["run", "-m", "s", "-t", "reviews", "-k", "0", "--limit", "3", "--scoring", "first-token",
                     "--db", str(db)])
        check(code, capsys.readouterr().err, db)
    finally:
        srv.close()
