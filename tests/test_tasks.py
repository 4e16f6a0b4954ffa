import json
from collections import Counter

import pytest

from lbtui.tasks import catalog
from lbtui.errors import TaskError
from lbtui.tasks.rows import render
from lbtui.tasks.sni_file import load_sni
from lbtui.tasks.taskfile import DataOptions, load_data_file, load_toml


def test_bundled_tasks_meet_the_brief():
    tasks = {name: catalog.load(name) for name in catalog.bundled()}
    assert len(tasks) >= 6
    imbalanced = multi_token = 0
    for name, t in tasks.items():
        examples = t.pool + t.test
        assert len(examples) >= 200, name
        assert 2 <= t.k <= 6, name
        counts = Counter(e.label for e in examples)
        assert set(counts) == set(range(t.k)), name
        imbalanced += max(counts.values()) >= 3 * min(counts.values())
        multi_token += any(" " in lab for lab in t.labels)
        assert len({e.id for e in examples}) == len(examples)
    assert imbalanced >= 1 and multi_token >= 1


def test_split_is_seeded_and_disjoint():
    t1, t2 = catalog.load("reviews"), catalog.load("reviews")
    assert [e.id for e in t1.test] == [e.id for e in t2.test]
    assert not {e.id for e in t1.pool} & {e.id for e in t1.test}
    assert len(t1.pool) == 96
    assert t1.content_hash == t2.content_hash


def write_task(tmp_path, body: str, data: list[dict] | None = None, name="t.toml"):
    if data is not None:
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    path = tmp_path / name
    path.write_text(body)
    return path


ROWS = [{"text": f"example {i}", "label": "a" if i % 3 else "b"} for i in range(150)]
GOOD = 'name = "t"\ndefinition = "Say a or b"\nlabels = ["a", "b"]\n[data]\nfile = "d.jsonl"\n'


def test_minimal_task_file(tmp_path):
    t = load_toml(write_task(tmp_path, GOOD, ROWS))
    assert t.labels == ("a", "b") and len(t.pool) == 96 and len(t.test) == 54


def test_label_map_and_template(tmp_path):
    rows = [{"q": f"x{i}", "c": "ctx", "y": i % 2} for i in range(140)]
    body = (
        'name = "m"\ndefinition = "d"\nlabels = ["no", "yes"]\n[data]\nfile = "d.jsonl"\n'
        'input = "{c}: {q} {{literal}}"\n'
        'label_field = "y"\n[data.label_map]\n"0" = "no"\n"1" = "yes"\n'
    )
    t = load_toml(write_task(tmp_path, body, rows))
    ex = (t.pool + t.test)[0]
    assert ex.text.startswith("ctx: x") and ex.text.endswith("{literal}")


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('name = "t"\ndefinition = "d"\nlabels = ["a"]\n[data]\nfile = "d.jsonl"\n', "at least 2 labels"),
        ('name = "t"\ndefinition = "d"\nlabels = ["a", "a"]\n[data]\nfile = "d.jsonl"\n', "duplicate label"),
        ('name = "t"\ndefinition = "d"\nlabels = ["a", "b"\n', "TOML syntax error"),
        ('name = "t"\nlabels = ["a", "b"]\n[data]\nfile = "d.jsonl"\n', "missing field 'definition'"),
        (
            'name = "t"\ndefinition = "d"\nlabels = ["a", "b"]\n[data]\nfile = "../d.jsonl"\n',
            "outside the task's folder",
        ),
        ('name = "t"\ndefinition = "d"\nlabels = ["a", "b"]\n[data]\nfile = "d.jsonl"\ninput = "{nope}"\n', "{nope}"),
        (
            'name = "t"\ndefinition = "d"\nlabels = ["a", "b"]\n[data]\nfile = "d.jsonl"\ninput = "{text.__class__}"\n',
            "unbalanced brace",
        ),
        ('name = "t"\ndefinition = "d"\nlabels = ["a", "b"]\n[data]\nfile = "missing.jsonl"\n', "not found"),
        (
            'name = "t"\ndefinition = "d"\nlabels = ["a", "b"]\n[data]\nfile = "d.jsonl"\n[split]\npool = 500\n',
            "no test set",
        ),
    ],
)
def test_broken_task_files_name_the_problem(tmp_path, body, fragment):
    with pytest.raises(TaskError) as e:
        load_toml(write_task(tmp_path, body, ROWS))
    assert fragment in str(e.value)
    assert str(tmp_path) in str(e.value)


def test_unknown_labels_are_counted_and_can_be_skipped(tmp_path):
    rows = ROWS + [{"text": "odd", "label": "c"}, {"text": "odder", "label": "c"}]
    path = write_task(tmp_path, GOOD, rows)
    with pytest.raises(TaskError) as e:
        load_toml(path)
    assert "2 row(s)" in str(e.value) and "d.jsonl:151" in str(e.value)
    assert len(load_toml(path, skip_unknown_labels=True).test) == 54


def test_non_utf8_data(tmp_path):
    path = write_task(tmp_path, GOOD, ROWS)
    (tmp_path / "d.jsonl").write_bytes((tmp_path / "d.jsonl").read_bytes() + b'{"text": "\xff", "label": "a"}\n')
    with pytest.raises(TaskError, match="not UTF-8"):
        load_toml(path)


def test_plain_csv_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "sentence,sentiment\n" + "".join(f'"text {i}, more",{"pos" if i % 2 else "neg"}\n' for i in range(130))
    )
    t = load_data_file(path, DataOptions(text_field="sentence", label_field="sentiment"))
    assert t.labels == ("neg", "pos") and len(t.pool) == 96 and len(t.test) == 34
    assert t.definition.startswith("Classify the input")
    with pytest.raises(TaskError, match="field 'text' is missing"):
        load_data_file(path, DataOptions())


def test_sni_file(tmp_path):
    doc = {
        "Definition": ["Decide whether the statement is true or false"],
        "Positive Examples": [{"input": "Water is wet.", "output": "True", "explanation": "-"}],
        "Instances": [
            {"id": f"i{i}", "input": f"Statement {i}", "output": ["True" if i % 2 else "False"]} for i in range(140)
        ],
    }
    path = tmp_path / "task001_x.json"
    path.write_text(json.dumps(doc))
    t = load_sni(path)
    assert t.labels == ("False", "True")
    assert t.pool[0].text == "Water is wet." and len(t.pool) == 96
    assert len(t.test) == 140 - 95
    del doc["Definition"]
    path.write_text(json.dumps(doc))
    with pytest.raises(TaskError, match="Definition"):
        load_sni(path)


def test_render_has_no_attribute_access():
    with pytest.raises(TaskError, match=r"w: unbalanced brace in template '\{x.__class__\}'"):
        render("{x.__class__}", {"x": 1}, where="w")
    assert render("{a}-{{b}}", {"a": 1}, where="w") == "1-{b}"


def test_unknown_task_lists_bundled_names():
    with pytest.raises(TaskError) as e:
        catalog.load("nonexistent")
    assert "reviews" in str(e.value)


def test_split_by_a_field_of_the_data(tmp_path):
    rows = [
        {"text": f"t{i}", "label": "a" if i % 2 else "b", "part": "train" if i < 120 else "test"} for i in range(160)
    ]
    body = GOOD + '[split]\npool = 100\nfield = "part"\n'
    with pytest.raises(TaskError, match="only 0 rows have part = 'dev'"):
        load_toml(write_task(tmp_path, body + 'pool_value = "dev"\n', rows))
    t = load_toml(write_task(tmp_path, body, rows))
    assert len(t.pool) == 100 and len(t.test) == 40
    assert all(int(e.text[1:]) < 120 for e in t.pool) and all(int(e.text[1:]) >= 120 for e in t.test)


def test_missing_id_field_is_a_task_error(tmp_path):
    rows = [{"text": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(140)]
    with pytest.raises(TaskError, match="field 'id' is missing"):
        load_toml(write_task(tmp_path, GOOD + 'id_field = "id"\n', rows))


def test_line_files_by_split_resolved_against_a_data_dir(tmp_path):
    """The public data sets' own formats: one example a line, a file per split, data kept
    outside the project and named with --data-dir."""
    data = tmp_path / "data" / "sst"
    data.mkdir(parents=True)
    (data / "train.txt").write_text("".join(f"{i % 2} train sentence {i}\n" for i in range(12)))
    (data / "test.txt").write_text("1 a fine film\n0 a dull film\n\n1 great\n")
    task_dir = tmp_path / "tasks"
    task_dir.mkdir()
    (task_dir / "sst.toml").write_text(
        'definition = "d"\nlabels = ["negative", "positive"]\n'
        '[data]\nfile = { train = "sst/train.txt", test = "sst/test.txt" }\n'
        "pattern = '(?P<label>[01]) (?P<text>.+)'\n"
        '[data.label_map]\n"0" = "negative"\n"1" = "positive"\n[split]\nfield = "split"\npool = 4\n'
    )
    t = load_toml(task_dir / "sst.toml", data_dir=tmp_path / "data")
    assert len(t.pool) == 4 and all(e.id.startswith("train-") for e in t.pool)
    assert sorted((e.text, e.label) for e in t.test) == [("a dull film", 0), ("a fine film", 1), ("great", 1)]
    assert {e.id for e in t.test} == {"test-1", "test-2", "test-4"}
    with pytest.raises(TaskError, match="train.txt not found"):
        load_toml(task_dir / "sst.toml")  # without --data-dir the paths are the task's folder's
    (data / "test.txt").write_text("1 ok\nbroken line\n")
    with pytest.raises(TaskError) as e:
        load_toml(task_dir / "sst.toml", data_dir=tmp_path / "data")
    assert str(e.value).startswith(f"{data / 'test.txt'}:2") and "pattern" in str(e.value)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('[data]\nfile = "a.txt"\npattern = "(broken"\n', "invalid regular expression"),
        ('[data]\nfile = "a.txt"\npattern = ".+"\n', "named groups"),
        ("[data]\nfile = { train = 3 }\n", "must be a path"),
    ],
)
def test_broken_line_formats_name_the_field(tmp_path, body, fragment):
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / "t.toml").write_text('definition = "d"\nlabels = ["a", "b"]\n' + body)
    with pytest.raises(TaskError, match=fragment) as e:
        load_toml(tmp_path / "t.toml")
    assert "[data]" in str(e.value)


SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not on this machine")
@pytest.mark.parametrize(
    "name, n_labels, n_test", [("sst2", 2, 1821), ("agnews", 4, 7504), ("trec", 6, 500), ("rte", 2, 277)]
)
def test_benchmark_task_files_read_the_public_data(name, n_labels, n_test):
    path = __import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks" / "tasks" / f"{name}.toml"
    t = catalog.load(str(path), DataOptions(data_dir=SHARED))
    assert len(t.labels) == n_labels and len(t.pool) == 96 and len(t.test) == n_test
    assert len(Counter(e.label for e in t.test)) == n_labels


def test_a_csv_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    """Excel's "CSV UTF-8" starts with EF BB BF; the first column is still "text"."""
    body = "text,label\n" + "".join(f"review {i},{'pos' if i % 2 else 'neg'}\n" for i in range(130))
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_text(body, encoding="utf-8")
    bom.write_bytes(b"\xef\xbb\xbf" + body.encode())
    a, b = load_data_file(plain, DataOptions()), load_data_file(bom, DataOptions())
    assert a.labels == b.labels == ("neg", "pos") and [e.text for e in a.test] == [e.text for e in b.test]


def test_a_negative_split_seed_is_one_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"r {i},{'p' if i % 2 else 'n'}\n" for i in range(130)))
    with pytest.raises(TaskError, match=r"--split-seed: must be >= 0, got -3"):
        load_data_file(path, DataOptions(split_seed=-3))


@pytest.mark.parametrize(
    "label, what", [("a\\nb", "a line break"), ("a\\rb", "a line break"), ("a\\u0007b", "a control character")]
)
def test_a_label_is_one_line_of_text(tmp_path, label, what):
    (tmp_path / "d.jsonl").write_text("")
    path = tmp_path / "t.toml"
    path.write_text(f'name = "t"\ndefinition = "d"\nlabels = ["{label}", "b"]\n[data]\nfile = "d.jsonl"\n')
    with pytest.raises(TaskError, match=f"{path}: labels: label .* holds {what}"):
        catalog.load(str(path))


@pytest.mark.parametrize(
    "pattern", [r"(?P<text>(a+)+)(?P<label>b)", r"(?P<text>(x*y)*) (?P<label>\w+)", r"(?P<text>(a{2,})*)(?P<label>b)"]
)
def test_a_pattern_that_backtracks_exponentially_is_refused(tmp_path, pattern):
    (tmp_path / "d.txt").write_text("a" * 40 + "\n")
    (tmp_path / "t.toml").write_text(
        f'name = "t"\ndefinition = "d"\nlabels = ["a", "b"]\n[data]\nfile = "d.txt"\npattern = \'{pattern}\'\n'
    )
    with pytest.raises(TaskError, match=r"\[data\] pattern: a repeated group that itself repeats"):
        catalog.load(str(tmp_path / "t.toml"))
