"""Reading a task's data: text files (UTF-8, one line naming the file when not), JSONL
and CSV/TSV rows, regex patterns (nested repetition refused: it backtracks without end),
templates that only substitute named fields, and label texts."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from ..errors import TaskError

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{|\}")


def render(template: str, fields: dict[str, Any], *, where: str) -> str:
    """Substitute ``{name}`` with fields[name]; ``{{`` and ``}}`` are literal braces.
    Deliberately not str.format: no attribute or index access."""

    def sub(m: re.Match) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        name = m.group(1)
        if name is None:
            raise TaskError(where, f"unbalanced brace in template {template!r}")
        if name not in fields:
            raise TaskError(
                where, f"template field {{{name}}} is not in the data (fields: {', '.join(sorted(fields))})"
            )
        return str(fields[name])

    return _FIELD.sub(sub, template)


def template_fields(template: str) -> list[str]:
    """The field names a template substitutes, in order of first appearance."""
    names: list[str] = []
    for m in _FIELD.finditer(template):
        if m.group(1) and m.group(1) not in names:
            names.append(m.group(1))
    return names


def check_template(template: str, allowed: set[str], *, where: str) -> None:
    render(template, {name: "" for name in allowed}, where=where)


def read_text(path: Path, *, where: str | None = None) -> str:
    where = where or str(path)
    if not path.exists():
        raise TaskError(where, "file not found")
    if not path.is_file():
        raise TaskError(where, "not a file")
    try:
        return path.read_bytes().decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise TaskError(f"{path}:{line}", "text is not UTF-8") from None


def jsonl_rows(text: str, where: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; one line naming ``where:line`` for a
    line that is not a JSON object."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise TaskError(f"{where}:{n}", f"invalid JSON: {e.msg}") from None
        if not isinstance(row, dict):
            raise TaskError(f"{where}:{n}", "each line must be a JSON object")
        rows.append((n, row))
    return rows


def read_rows(path: Path, *, pattern: re.Pattern | None = None, where: str = "") -> list[tuple[int, dict[str, Any]]]:
    """Rows of a JSONL or CSV file, or of a text file one example a line whose fields are
    the named groups of ``pattern``, with their 1-based line numbers."""
    text = read_text(path)
    suffix = path.suffix.lower()
    rows: list[tuple[int, dict[str, Any]]] = []
    if pattern is not None:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            m = pattern.fullmatch(line.rstrip("\r"))
            if not m:
                raise TaskError(f"{path}:{n}", f"line does not match {where} pattern {pattern.pattern!r}")
            rows.append((n, m.groupdict()))
    elif suffix in (".jsonl", ".ndjson"):
        rows = jsonl_rows(text, str(path))
    elif suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            for row in reader:
                if None in row:
                    raise TaskError(f"{path}:{reader.line_num}", "row has more fields than the header")
                rows.append((reader.line_num, dict(row)))
        except csv.Error as e:
            raise TaskError(f"{path}:{reader.line_num}", f"invalid CSV: {e}") from None
    else:
        raise TaskError(str(path), "data file must be .jsonl or .csv (or give [data] pattern for one example a line)")
    if not rows:
        raise TaskError(str(path), "no data rows")
    return rows


def nested_quantifier(pattern: str) -> bool:
    """Whether a regular expression repeats a group that itself holds a repetition, as in
    (a+)+ or (x*y)*: Python's engine backtracks exponentially on such patterns, and a task
    file is not trusted to avoid them."""
    holds = [False]  # per open group: does it hold a repetition?
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 2 if pattern[i + 1 : i + 2] == "]" or pattern[i + 1 : i + 3] == "^]" else 1
            continue
        elif c == "(":
            holds.append(False)
        elif c == ")" and len(holds) > 1:
            inner = holds.pop()
            repeated = pattern[i + 1 : i + 2] in ("+", "*") or re.match(r"\{\d*,", pattern[i + 1 :]) is not None
            if inner and repeated:
                return True
            holds[-1] = holds[-1] or inner or repeated
        elif c in "+*" or (c == "{" and re.match(r"\{\d*,\d*\}", pattern[i:])):
            holds[-1] = True
        i += 1
    return False


def check_label_text(label: str, where: str) -> None:
    """A label is one line of printable text: it is written into prompts, titles and CSV
    headers, where a newline or a control character would garble them."""
    # C0 and C1 controls only: format characters that are part of text (a non-breaking
    # space, a zero-width joiner in an emoji, a right-to-left mark) are fine.
    bad = next((c for c in label if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F), None)
    if bad is not None:
        raise TaskError(
            where,
            f"label {label!r} holds {'a line break' if bad in chr(10) + chr(13) else 'a control character'}"
            f" ({bad!r}); a label is one line of text",
        )
