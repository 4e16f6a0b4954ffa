"""The docs' shell examples that run in under a minute on the bundled model are run here
and their printed output compared with the page, line for line (#28): a page that shows
output the code no longer prints fails."""

import json
import re
from pathlib import Path

import pytest

from conftest import comparable
from lbtui.cli import main

ROOT = Path(__file__).resolve().parent.parent


def example(page: str, command: str) -> list[str]:
    """The output lines a page shows under ``$ COMMAND`` (up to the code block's end),
    without the lines that say in words what the page left out."""
    text = (ROOT / page).read_text()
    block = re.search(r"```\n\$ " + re.escape(command) + r"[^\n]*\n(.*?)```", text, re.S)
    assert block, f"{page} has no example of {command!r}"
    return [line.rstrip() for line in block.group(1).splitlines() if not line.startswith("(")]


@pytest.mark.model
@pytest.mark.slow
def test_the_readmes_run_example_prints_what_the_readme_shows(capsys):
    command = "lbtui run -t reviews -k 0,4 --limit 40 --scoring first-token"
    shown = example("README.md", command)
    assert main(command.split()[1:]) == 0
    out, err = capsys.readouterr()
    printed = [line.rstrip() for line in out.splitlines()]
    table = shown[: shown.index(next(s for s in shown if s.startswith("looc:")))]
    assert comparable(printed[: len(table)]) == comparable(table)  # the per-run table, verbatim on the pages' build
    assert "Mean across tasks and seeds" in printed[len(table)]  # the second table the page names
    notes = [s for s in shown if s.startswith(("looc:", "sc:"))]
    said = " ".join(err.split())  # stderr wraps at its console's width
    assert notes and all(line in said for line in notes), err


# --- docs/CLI.md's JSON output: each documented key list against the real output ---------


def documented(command: str) -> list[set[str]]:
    """The key sets docs/CLI.md's "JSON output" lists for ``lbtui COMMAND``, in order: the
    quoted names at the top level of each {...} of its bullet."""
    text = (ROOT / "docs" / "CLI.md").read_text()
    bullet = re.search(r"^- `lbtui " + re.escape(command) + r"`[^:\n]*:(.*?)(?=^- |^\n)", text, re.S | re.M)
    assert bullet, f"docs/CLI.md's JSON output has no entry for lbtui {command}"
    sets, depth, current = [], 0, None
    for token in re.findall(r'[{}\[\]]|"\w+"', bullet.group(1)):
        if token in "{[":
            depth += 1
            if token == "{" and depth == 1:
                current = set()
        elif token in "}]":
            depth -= 1
            if token == "}" and depth == 0:
                sets.append(current)
        elif depth == 1 and current is not None:
            current.add(token.strip('"'))
    return sets


def same_keys(objects: list[dict], keys: set[str], what: str) -> None:
    """Every object's keys are documented, and every documented key occurs in one of them."""
    seen = set().union(*(o.keys() for o in objects))
    assert seen <= keys, f"{what}: undocumented keys {seen - keys}"
    assert keys <= seen, f"{what}: documented keys the output lacks {keys - seen}"


def printed_json(capsys, argv, **kw):
    assert main(argv, **kw) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_md_lists_the_keys_of_every_json_output(capsys, tmp_path, fake_model, fake_factory):
    db = str(tmp_path / "j.db")
    run = printed_json(
        capsys,
        [
            "run",
            "-m",
            str(fake_model),
            "-t",
            "reviews",
            "-k",
            "0,4",
            "--seeds",
            "2",
            "--orders",
            "2",
            "--limit",
            "12",
            "--db",
            db,
            "--json",
        ],
        backend_factory=fake_factory,
    )
    top, each_run = documented("run --json")
    same_keys([run], top - {"verbalizers", "ladder"}, "run --json")  # those two need other options
    same_keys(run["runs"], each_run, "run --json's runs")
    same_keys(printed_json(capsys, ["models", "--json"]), documented("models --json")[0], "models --json")
    same_keys(printed_json(capsys, ["tasks", "--json"]), documented("tasks --json")[0], "tasks --json")
    imported = printed_json(capsys, ["import", "sni", str(ROOT / "tests" / "data" / "sni"), "--name", "toy", "--json"])
    same_keys([imported], documented("import sni --json")[0], "import sni --json")
    same_keys(printed_json(capsys, ["suites", "--json"]), documented("suites --json")[0], "suites --json")
    report = printed_json(capsys, ["report", "--db", db, "--format", "json", "--resamples", "20"])
    top, row, group = documented("report --format json")
    same_keys([report], top, "report")
    same_keys(report["rows"], row, "report's rows")
    same_keys(report["groups"], group, "report's groups")
    diagnosed = printed_json(capsys, ["diagnose", "--db", db, "--json", "--resamples", "20"])
    same_keys(diagnosed, documented("diagnose --json")[0], "diagnose --json")
    spread = printed_json(capsys, ["stability", "--db", db, "--json"])
    same_keys(spread, documented("stability --json")[0], "stability --json")
    assert main(["export", "--db", db, "--run", "1", "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    shown = re.search(
        r"`lbtui export --format csv`: the columns (.*?), then", (ROOT / "docs" / "CLI.md").read_text(), re.S
    )
    assert header == re.findall(r"`([\w:]+)`", shown.group(1)) + [
        f"score:{label}" for label in run["runs"][0]["labels"]
    ]


@pytest.mark.slow
def test_cli_md_lists_the_keys_of_bench_app(capsys, tmp_path):
    doc = printed_json(capsys, ["bench", "--app", "--runs", "12", "--json"])
    same_keys([doc], documented("bench --app --json")[0], "bench --app --json")


def shown_in(printed: list[str], line: str) -> bool:
    """A page's line is printed: verbatim, or, where the page cut it short with "...", as
    the start of a printed line (each cell the page keeps)."""
    if line.endswith("| ..."):
        return any(p.startswith(line[: -len("...")]) for p in printed)
    return line in printed


@pytest.mark.model
@pytest.mark.slow
def test_reports_md_verdict_example_prints_what_the_page_shows(capsys):
    text = (ROOT / "docs" / "REPORTS.md").read_text()
    block = re.search(r"```\n\$ (lbtui run -t tickets[^\n]*)\n\$ lbtui report\n(.*?)```", text, re.S)
    assert block, "docs/REPORTS.md's verdict example moved"
    assert main(block.group(1).split()[1:]) == 0
    capsys.readouterr()
    assert main(["report"]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    lines = [line.rstrip() for line in block.group(2).splitlines() if line.strip()]
    assert len(lines) >= 8
    printed, lines = comparable(printed, integers=True, chosen=True), comparable(lines, integers=True, chosen=True)
    missing = [line for line in lines if not shown_in(printed, line)]
    assert not missing, "\n".join(missing)


@pytest.mark.model
@pytest.mark.slow
def test_tasks_md_suite_example_prints_what_the_page_shows(capsys):
    shown = example("docs/TASKS.md", "lbtui import sni tests/data/sni --name toy")
    imported = shown[: next(i for i, line in enumerate(shown) if line.startswith("$ "))]
    assert main(["import", "sni", str(ROOT / "tests" / "data" / "sni"), "--name", "toy"]) == 0
    out = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert out[0].startswith("suite toy: 2 tasks in ") and out[1:] == imported[1:]
    command = next(line for line in shown if line.startswith("$ lbtui run")).split("#")[0].split()[1:]
    assert main(command[1:]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    table = shown[shown.index(next(line for line in shown if "Mean across tasks and seeds" in line)) :]
    start = next(i for i, line in enumerate(printed) if "Mean across tasks and seeds" in line)
    assert comparable([line.strip() for line in printed[start : start + len(table)]]) == comparable(
        [line.strip() for line in table]
    )


@pytest.mark.model
def test_cli_md_lists_the_keys_of_prompt_and_export(capsys, tmp_path, fake_model, fake_factory):
    doc = printed_json(capsys, ["prompt", "-t", "reviews", "-k", "2", "--json"])  # the bundled model's vocabulary
    text = (ROOT / "docs" / "CLI.md").read_text()
    shown = re.search(r"`--json` prints `(\{\"model\".*?)`\. `--index", text, re.S).group(1)
    top = set(re.findall(r'"(\w+)"', shown.split('"labels": [')[0])) | {"labels"}
    label = set(re.findall(r'"(\w+)"', shown.split('"labels": [')[1]))
    same_keys([doc], top, "prompt --json")
    same_keys(doc["labels"], label, "prompt --json's labels")
    db = str(tmp_path / "e.db")
    assert (
        main(
            ["run", "-m", str(fake_model), "-t", "reviews", "-k", "0", "--limit", "4", "--db", db],
            backend_factory=fake_factory,
        )
        == 0
    )
    capsys.readouterr()
    assert main(["export", "--db", db, "--run", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    shown = re.search(r"`export --format jsonl` prints one line per scored input:\n`(\{.*?\})`", text, re.S).group(1)
    keys = re.findall(r'"(\w+)"', re.sub(r':\s*(?:"\w+"\|?)+', "", shown))  # the keys, not the set names
    same_keys(rows, set(keys), "export's JSON lines")
