"""Hugging Face datasets as task sources (the optional datasets library), offline."""

import json

import pytest

from lbtui.tasks import catalog
from lbtui.cli import main
from lbtui.errors import TaskError

datasets = pytest.importorskip("datasets")

WORDS = {"negative": ["dull", "bad", "boring"], "positive": ["fine", "good", "lovely"]}


def rows(n, offset=0):
    out = {"sentence": [], "label": [], "idx": []}
    for i in range(n):
        lab = i % 2
        out["sentence"].append(f"A {WORDS['positive' if lab else 'negative'][i % 3]} film, number {i + offset}")
        out["label"].append(lab)
        out["idx"].append(i + offset)
    return out


def write_task(folder, data_lines):
    (folder / "t.toml").write_text(
        "\n".join(
            [
                'name = "hf-sentiment"',
                'definition = "Classify the sentiment of the review"',
                'labels = ["negative", "positive"]',
                "",
                "[data]",
                *data_lines,
                "",
            ]
        )
    )
    return folder / "t.toml"


@pytest.fixture
def saved(tmp_path):
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
            "idx": datasets.Value("int32"),
        }
    )
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(rows(140), features=features),
            "validation": datasets.Dataset.from_dict(rows(60, 1000), features=features),
        }
    )
    dd.save_to_disk(str(tmp_path / "sst2_saved"))
    return tmp_path


def test_a_dataset_saved_to_disk_with_class_labels(saved):
    path = write_task(
        saved,
        [
            'source = "hf:sst2_saved"',
            'split = { train = "train", test = "validation" }',
            'input = "{sentence}"',
            'id_field = "idx"',
            '\n[split]\nfield = "split"\npool = 96',
        ],
    )
    task = catalog.load(str(path))
    assert task.labels == ("negative", "positive")
    assert len(task.pool) == 96 and len(task.test) == 60
    assert all(int(e.id) >= 1000 for e in task.test)  # test examples come from the validation split
    first = next(e for e in task.test if e.id == "1001")
    assert first.text == "A good film, number 1001" and task.labels[first.label] == "positive"


def test_one_split_and_a_run_on_it(saved, capsys, fake_model, fake_factory, tmp_path):
    path = write_task(saved, ['source = "hf:sst2_saved"', 'split = "train"', 'input = "Review: {sentence}"'])
    task = catalog.load(str(path))
    assert len(task.pool) + len(task.test) == 140 and task.test[0].text.startswith("Review: A ")
    code = main(
        [
            "run",
            "-m",
            str(fake_model),
            "-t",
            str(path),
            "-k",
            "4",
            "--limit",
            "10",
            "--db",
            str(tmp_path / "h.db"),
            "--json",
        ],
        backend_factory=fake_factory,
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["runs"][0]["task"] == "hf-sentiment"


def test_load_dataset_reads_a_local_data_folder_offline(tmp_path):
    """A name that is not a saved dataset goes through datasets.load_dataset (here a folder
    of JSON lines, which the library turns into a cached dataset without any network)."""
    folder = tmp_path / "reviews_json"
    folder.mkdir()
    r = rows(130)
    with (folder / "train.jsonl").open("w") as f:
        for s, lab, i in zip(r["sentence"], r["label"], r["idx"]):
            f.write(json.dumps({"text": s, "label": ["negative", "positive"][lab], "id": i}) + "\n")
    path = write_task(tmp_path, [f'source = "hf:{folder}"', 'split = "train"', 'id_field = "id"'])
    task = catalog.load(str(path))
    assert len(task.pool) == 96 and len(task.test) == 34


def test_unknown_dataset_offline_is_a_clear_error(tmp_path, capsys):
    path = write_task(tmp_path, ['source = "hf:lbtui-tests/no-such-dataset"', 'config = "plain"', 'split = "test"'])
    with pytest.raises(TaskError) as e:
        catalog.load(str(path))
    msg = str(e.value)
    assert (
        str(path) in msg
        and "hf:lbtui-tests/no-such-dataset" in msg
        and "cannot load it from the Hub or the local cache" in msg
    )
    assert "\n" not in msg
    assert main(["run", "-t", str(path)]) == 2


@pytest.mark.parametrize(
    "lines, fragment",
    [
        (['source = "sst2"'], "write hf:NAME"),
        (['source = "hf:x"', 'file = "x.jsonl"'], "exactly one of 'file'"),
        (['source = "hf:saved"', 'split = "nosplit"'], "no such split"),
    ],
)
def test_bad_sources(saved, lines, fragment):
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows(10))}).save_to_disk(str(saved / "saved"))
    path = write_task(saved, lines)
    with pytest.raises(TaskError) as e:
        catalog.load(str(path))
    assert fragment in str(e.value)


@pytest.mark.parametrize("source", ["hf:../outside_ds", "hf:{abs}", "hf:./../outside_ds", "hf:~/../outside_ds"])
def test_a_source_outside_the_task_folder_is_refused(tmp_path, monkeypatch, source):
    """hf: sources obey the data-path rule: nothing outside the task's folder without
    --allow-outside-paths, whether relative, absolute or through ~."""
    outside = tmp_path / "outside_ds"
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "idx": datasets.Value("int32"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
        }
    )
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows(130), features=features)}).save_to_disk(str(outside))
    inner = tmp_path / "tasks"
    inner.mkdir()
    path = write_task(inner, [f'source = "{source.format(abs=outside)}"', 'split = "train"', 'input = "{sentence}"'])
    if source.startswith("hf:~"):
        monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.. is tmp_path, outside tasks/
    with pytest.raises(TaskError, match=r"outside the task's folder \(allow it with --allow-outside-paths\)"):
        catalog.load(str(path))
    if "~" not in source:
        from lbtui.tasks.taskfile import DataOptions

        assert len(catalog.load(str(path), DataOptions(allow_outside=True)).test) == 34


@pytest.mark.parametrize("name", ["hf:a b", "hf:x/y/z", "hf:-x", "hf:x\\..\\y"])
def test_a_source_that_is_neither_a_name_nor_a_folder_is_refused(tmp_path, name):
    path = write_task(tmp_path, [f'source = "{name}"'.replace("\\", "\\\\"), 'split = "train"'])
    with pytest.raises(TaskError, match="not a Hugging Face dataset name|outside the task's folder|no dataset folder"):
        catalog.load(str(path))
