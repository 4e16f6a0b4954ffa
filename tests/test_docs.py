"""The README and docs/: every link resolves inside the repository (files and #anchors),
the README stays a front page, and no text points at folders a user's clone lacks."""

import dataclasses
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    body = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"(?m)^#+\s+(.*)$", body)}


def links(page: Path) -> list[str]:
    body = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code is not a link
    return LINK.findall(body)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves_inside_the_repository(page):
    for target in links(page):
        if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
            assert page.name != "README.md", f"README links outside the repository: {target}"
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert dest.exists(), f"{page.name}: {target} does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.name}: no heading #{anchor} in {dest.name}"


def test_the_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 10_500
    first = re.findall(r"```\n(.*?)\n```", text, re.S)[:2]
    assert first[0].startswith("python3 -m venv .venv") and "lbtui --task all" in first[0]
    assert "python -m pytest" in first[1]
    for name in (
        "METHODS",
        "CLI",
        "APP",
        "SPEED",
        "MODELS",
        "TASKS",
        "CALIBRATION",
        "REPORTS",
        "STORE",
        "ARCHITECTURE",
        "PYTHON",
        "CLASSIFY",
    ):
        assert f"(docs/{name}.md)" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_text_names_the_development_machine(page):
    text = page.read_text()
    assert "../shared" not in text
    assert not re.search(r"\b(this machine|on this session|measured here)\b", text, re.I)


def _options(parser, path=()):
    """(command path, the option strings of one argument) for every argument of every
    subcommand of ``parser``, walked through argparse's own structure."""
    import argparse

    for action in parser._actions:  # argparse keeps no public list of a parser's arguments
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif action.option_strings and "--help" not in action.option_strings:
            yield " ".join(path), tuple(action.option_strings)


def _synopsis() -> dict[str, str]:
    """docs/CLI.md's synopsis block: each command's lines (continuation lines included), with
    the shared groups DATA OPTIONS and SELECTORS spelt out as the page's bullets list them."""
    text = (ROOT / "docs" / "CLI.md").read_text()
    block = re.search(r"```\n(lbtui .*?)```", text, re.S).group(1)
    out: dict[str, str] = {}
    command = None
    for line in block.splitlines():
        if line.startswith("lbtui"):
            words = [w for w in line.split()[1:] if re.fullmatch(r"[a-z][a-z-]*", w)][:2]
            command = " ".join(words[:2] if words[:1] == ["import"] else words[:1])
        out[command] = out.get(command, "") + " " + line
    data = re.search(r"takes the same data options, defined\s+once: (.*?)\. ", text, re.S).group(1)
    selectors = re.search(r"SELECTORS choose stored runs .*?: (.*?)\. Each narrows", text, re.S).group(1)
    return {c: s.replace("DATA OPTIONS", data).replace("SELECTORS", selectors) for c, s in out.items()}


def test_cli_md_names_every_option_of_every_command():
    """A new option, or a new command, fails here until docs/CLI.md's synopsis shows it."""
    from lbtui.cli_parser import build_parser

    synopsis = _synopsis()
    missing = []
    for command, strings in _options(build_parser()):
        line = synopsis.get(command)
        if line is None:
            missing.append(f"lbtui {command} (no synopsis line)")
        elif not any(re.search(re.escape(s) + r"(?![\w-])", line) for s in strings):
            missing.append(f"lbtui {command} {'/'.join(strings)}")
    assert not missing, "docs/CLI.md's synopsis lacks: " + "; ".join(sorted(set(missing)))


def test_every_models_toml_key_is_documented_with_its_default():
    """Every key models.parse takes appears in docs/MODELS.md and in the bundled
    models.toml's comment; a value the comment shows for a key with a default is that
    default (the backends' declared defaults and ModelSpec's fields), except `default = true`,
    which shows how an entry becomes the default model."""
    import tomllib

    from lbtui import models
    from lbtui.backends import KINDS
    from lbtui.models.spec import ModelSpec

    keys = models.COMMON_KEYS | set(models.backend_keys())
    page = (ROOT / "docs" / "MODELS.md").read_text()
    comment = "\n".join(line for line in (ROOT / "models.toml").read_text().splitlines() if line.startswith("#"))
    shown = dict(re.findall(r"(?m)^#\s+(\w+) = (.+?)(?:\s{2,}|$)", comment))
    defaults = {f.name: f.default for f in dataclasses.fields(ModelSpec) if f.default is not dataclasses.MISSING}
    for kind in KINDS:
        for key, value in kind.defaults.items():
            assert defaults.get(key, value) == value, f"{key}: ModelSpec's default and {kind.name}'s differ"
            defaults[key] = value
    for key in sorted(keys):
        assert re.search(rf"`{key}\b|^#?\s*{key} = ", page, re.M), f"docs/MODELS.md does not name {key}"
        assert key in shown, f"the bundled models.toml's comment does not show {key}"
        value = tomllib.loads(f"v = {shown[key]}")["v"]
        if defaults.get(key) not in (None, "", ()) and key != "default":  # `default = true` shows how to set it
            assert value == defaults[key], (
                f"the bundled models.toml shows {key} = {shown[key]}, the default is {defaults[key]!r}"
            )
    assert set(shown) <= keys, f"the comment shows keys the code does not take: {set(shown) - keys}"
