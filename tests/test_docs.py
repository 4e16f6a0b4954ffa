"""The README and docs/: every link resolves inside the repository (files and #anchors),
the README stays a front page, and no text points at folders a user's clone lacks."""

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
    for name in ("METHODS", "CLI", "APP", "SPEED", "MODELS", "TASKS", "CALIBRATION", "REPORTS", "STORE", "ARCHITECTURE",
                 "PYTHON", "CLASSIFY"):
        assert f"(docs/{name}.md)" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_text_names_the_development_machine(page):
    text = page.read_text()
    assert "../shared" not in text
    assert not re.search(r"\b(this machine|on this session|measured here)\b", text, re.I)
