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
from lbtui.models import COMMON_KEYS, backend_keys

EXAMPLES = int(os.environ.get("LBTUI_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

text = st.text(max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 400), text, st.floats(allow_nan=True))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)


def toml_value(v) -> str:
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, str):
        # JSON's surrogate pairs are not TOML escapes; DEL must be escaped in TOML, not in JSON
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
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
    code = main(
        ["run", "-m", str(model), "-t", str(task), "-k", "0", "--limit", "3", "--db", str(db), *extra],
        backend_factory=factory,
    )
    check(code, capsys.readouterr().err, db)


def good_rows(n: int = 60) -> str:
    return "".join(json.dumps({"text": f"example {i}", "label": "a" if i % 2 else "b"}) + "\n" for i in range(n))


DATA_KEYS = ["file", "pattern", "input", "label_field", "id_field", "label_map", "source", "config", "split"]
TOP_KEYS = ["name", "version", "definition", "labels", "description"]


@FUZZ
@given(
    top=st.dictionaries(st.sampled_from(TOP_KEYS), values, max_size=5),
    data=st.dictionaries(st.sampled_from(DATA_KEYS), values, max_size=4),
    split=st.dictionaries(st.sampled_from(["pool", "field", "seed"]), values, max_size=2),
    prompt=st.dictionaries(
        st.sampled_from(["input_prefix", "output_prefix", "separator", "instruction"]), values, max_size=2
    ),
)
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
@given(
    raw=st.binary(max_size=600),
    suffix=st.sampled_from([".jsonl", ".csv", ".tsv"]),
    rows=st.lists(st.dictionaries(st.sampled_from(["text", "label", "id"]), values, max_size=3), max_size=40),
)
def test_fuzzed_data_files_load_or_are_one_line(tmp_path, capsys, raw, suffix, rows):
    path = tmp_path / f"d{suffix}"
    for content in (raw, "".join(json.dumps(r) + "\n" for r in rows).encode()):
        path.write_bytes(content)
        run(capsys, tmp_path, path, "--pool", "2")


@FUZZ
@given(
    doc=st.dictionaries(
        st.sampled_from(
            ["Definition", "Instances", "Positive Examples", "Input_language", "Output_language", "Categories"]
        ),
        values,
        max_size=6,
    ),
    instances=st.lists(st.dictionaries(st.sampled_from(["id", "input", "output"]), values, max_size=3), max_size=30),
)
def test_fuzzed_sni_files_load_or_are_one_line(tmp_path, capsys, doc, instances):
    path = tmp_path / "task001_fuzz.json"
    for body in (doc, {"Definition": ["Say a or b"], "Instances": instances}):
        path.write_text(json.dumps(body))
        run(capsys, tmp_path, path, "--pool", "2")


# Every key a models.toml entry may have, from the registry (a hand list here went stale).
MODEL_KEYS = sorted(COMMON_KEYS | set(backend_keys()))


@FUZZ
@given(
    entries=st.dictionaries(
        st.text(min_size=1, max_size=8), st.dictionaries(st.sampled_from(MODEL_KEYS), values, max_size=4), max_size=3
    )
)
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
        code = main(
            [
                "run",
                "-m",
                name,
                "-t",
                "reviews",
                "-k",
                "0",
                "--limit",
                "3",
                "--scoring",
                "first-token",
                "--db",
                str(db),
            ],
            backend_factory=lambda s, p: FakeBackend(),
        )
        check(code, capsys.readouterr().err, db)


answers = st.one_of(
    values,
    st.fixed_dictionaries(
        {"choices": st.lists(st.dictionaries(st.sampled_from(["text", "logprobs"]), values, max_size=2), max_size=2)}
    ),
    st.fixed_dictionaries({"choices": st.just([{"text": "", "logprobs": None}]), "usage": values}),
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
        code = main(
            ["run", "-m", "s", "-t", "reviews", "-k", "0", "--limit", "3", "--scoring", "first-token", "--db", str(db)]
        )
        check(code, capsys.readouterr().err, db)
    finally:
        srv.close()


# --- models.toml numbers, store rows and Python API arguments (issue 24) --------------------

numbers = st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), text)
NUMBER_KEYS = ["n_ctx", "n_threads", "n_gpu_layers", "timeout", "retries", "per_server", "max_in_flight"]


@FUZZ
@given(server=st.booleans(), entry=st.dictionaries(st.sampled_from(NUMBER_KEYS), numbers, min_size=1, max_size=4))
def test_fuzzed_models_toml_numbers_parse_in_range_or_are_one_line(tmp_path, server, entry):
    """Whatever numbers an entry holds, parsing either refuses one naming its key or gives
    a spec whose every number lies in the key's range."""
    import math

    from lbtui import models
    from lbtui.errors import ModelError

    head = 'server = "http://127.0.0.1:1"' if server else 'path = "m.gguf"'
    body = "\n".join(f"{k} = {toml_value(v)}" for k, v in entry.items())
    (tmp_path / "models.toml").write_text(f"[models.m]\n{head}\n{body}\n")
    try:
        models.parse(tmp_path / "models.toml")
    except ModelError as e:
        assert "\n" not in str(e) and any(e.where.endswith(f"models.m.{k}") for k in entry), str(e)
        return
    ranges = {**models._ranges(), "n_ctx": (models.MIN_N_CTX, models.MAX_N_CTX)}
    for k, v in entry.items():
        if k in ranges:  # a key of the other kind of entry is ignored or refused above
            lo, hi = ranges[k]
            assert not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi, (
                k,
                v,
            )


_PRISTINE: dict = {}


def _pristine_store(tmp: Path) -> tuple[Path, int]:
    """A store with one finished run (made once; each example edits a copy)."""
    if not _PRISTINE:
        db, model = tmp / "pristine.db", tmp / "fake.gguf"
        model.write_bytes(b"GGUF" + bytes(64))
        assert (
            main(
                ["run", "-m", str(model), "-t", "reviews", "-k", "2", "--limit", "6", "--db", str(db), "--json"],
                backend_factory=lambda s, p: FakeBackend(),
            )
            == 0
        )
        with sqlite3.connect(db) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _PRISTINE.update(bytes=db.read_bytes(), run=c.execute("SELECT id FROM runs").fetchone()[0])
    return _PRISTINE["bytes"], _PRISTINE["run"]


row_values = st.one_of(
    values.map(json.dumps), st.text(max_size=20), st.integers(-10, 10), st.none(), st.floats(allow_nan=True)
)


@FUZZ
@given(
    column=st.sampled_from(["scores", "gold", "labels", "example_id", "text"]),
    value=row_values,
    which=st.sampled_from(["test", "bias", "looc", "cc"]),
    command=st.sampled_from(["report", "export", "diagnose"]),
)
def test_fuzzed_store_rows_read_or_are_exit_4_in_one_line(tmp_path_factory, capsys, column, value, which, command):
    """An edited row of a finished run: every reading command works (the edit was valid)
    or refuses in one line with exit 4; never a traceback or a number computed on it."""
    pristine, run_id = _pristine_store(tmp_path_factory.getbasetemp())
    db = tmp_path_factory.mktemp("row") / "s.db"
    db.write_bytes(pristine)
    with sqlite3.connect(db) as c:
        if column == "labels":
            c.execute("UPDATE runs SET labels = ? WHERE id = ?", [value, run_id])
        else:
            c.execute(
                f'UPDATE scores SET "{column}" = ? WHERE run_id = ? AND "set" = ? AND idx = 0', [value, run_id, which]
            )
    capsys.readouterr()
    argv = {
        "report": ["report", "--resamples", "20"],
        "export": ["export", "--run", str(run_id)],
        "diagnose": ["diagnose", "--run", str(run_id), "--resamples", "20"],
    }[command]
    code = main([*argv, "--db", str(db)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and code in (0, 4), (code, err)
    if code == 4:
        assert len(err.strip().splitlines()) == 1 and f"run {run_id}" in err, err


API_ARGS = ["models", "tasks", "shots", "seeds", "orders", "limit", "scoring", "label_words", "db"]


@FUZZ
@given(kwargs=st.dictionaries(st.sampled_from(API_ARGS), values, max_size=3))
def test_fuzzed_python_api_arguments_plan_or_are_a_user_error_naming_the_option(tmp_path, monkeypatch, kwargs):
    """lbtui.audit with any arguments either plans runs (scoring is stopped here) or raises
    UserError naming an option; nothing else, and no store is made by a refusal."""
    import lbtui
    from lbtui.auditing import engine
    from lbtui.errors import UserError

    class Planned(Exception):
        pass

    def stop(path, plans, **_):
        assert plans
        raise Planned

    monkeypatch.setattr(engine, "audit_into", stop)
    kwargs = {"db": tmp_path / "api.db", **kwargs}
    try:
        lbtui.audit(**kwargs)
    except Planned:
        return
    except UserError as e:
        assert e.where and "\n" not in str(e), str(e)
        if isinstance(kwargs["db"], (str, Path)) and str(kwargs["db"]) == str(tmp_path / "api.db"):
            assert not (tmp_path / "api.db").exists()
