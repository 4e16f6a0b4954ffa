"""Dependencies point one way (docs/ARCHITECTURE.md): a test fails on an import that
points the wrong way, on llama_cpp or textual imported outside their layers, and on a
module reaching into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "lbtui"

# The layers, lowest first (docs/ARCHITECTURE.md). A module may import its own layer and
# the layers below it, never one above.
LAYERS = [
    ("types", "errors", "paths"),
    ("analysis",),  # pure functions over arrays: metrics, calibrations, results, bootstrap, ...
    ("store", "tasks", "models.gguf", "models.spec"),  # models.gguf: the GGUF file helpers every backend reads with;
    # models.spec: the ModelSpec record the backends take (models.toml parsing sits above the backends)
    ("backends",),
    ("models",),
    ("auditing",),  # engine, example sets, prompts, selection, prompt view, scoring bench
    ("results",),  # the read side: stored scores -> calibrations -> metrics -> draws; classifiers
    ("report",),  # what the interfaces show: lbtui report, the CLI's tables, the app's views
    ("ui",),
    (
        "cli",
        "cli_classify",
        "cli_parser",
        "cli_read",
        "cli_types",
        "__main__",
        "api",
    ),  # api: lbtui.audit() for Python, beside the command line
]
LEVEL = {part: i for i, layer in enumerate(LAYERS) for part in layer}
# Within a layer, these pairs never depend on each other.
APART = {("store", "tasks"), ("tasks", "store")}
# models reaches the backends' registry, never a backend's implementation.
BANNED = {"models": ("backends.llama", "backends.server")}


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        yield name, path, ast.parse(path.read_text())


def imported(name: str, tree: ast.AST, path: Path) -> list[tuple[str, int]]:
    """Every module (lbtui.* or outside) that module ``name`` imports, with its line."""
    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg if node.level == 1 else pkg[: len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                out += [(f"lbtui.{mod}".rstrip("."), node.lineno)]
                out += [(f"lbtui.{mod}.{a.name}".replace("lbtui..", "lbtui."), node.lineno) for a in node.names]
            else:
                out += [(node.module or "", node.lineno)]
    return out


LOW_MODULES = ("models.gguf", "models.spec")  # modules that sit below their package's layer


def top(name: str) -> str:
    """A module's layer name: its subpackage, or one of LOW_MODULES."""
    return next((low for low in LOW_MODULES if name == low or name.startswith(low + ".")), name.split(".")[0])


def type_only(tree: ast.AST) -> set[int]:
    """Lines of imports under `if TYPE_CHECKING:` (annotations, not dependencies)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            lines |= {
                n.lineno for stmt in node.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))
            }
    return lines


@pytest.mark.parametrize("name, path, tree", list(modules()), ids=lambda x: x if isinstance(x, str) else "")
def test_imports_point_one_way(name, path, tree):
    for target, line in imported(name, tree, path):
        where = f"lbtui/{path.relative_to(PKG)}:{line} imports {target}"
        if target.split(".")[0] == "textual" or target.startswith("textual_plotext"):
            assert top(name) == "ui", where + ": only lbtui/ui may import Textual"
        if target.split(".")[0] == "llama_cpp":
            assert name.startswith(("backends", "models")), (
                where + ": llama_cpp belongs to lbtui/backends and lbtui/models"
            )
        if target.startswith("lbtui.") and name and line not in type_only(tree):
            inner = target.removeprefix("lbtui.")
            if top(inner) not in LEVEL:  # a name imported from the package itself (from lbtui import x)
                continue
            mine, theirs = top(name), top(inner)
            assert LEVEL[theirs] <= LEVEL[mine], where + f": {mine} must not depend on {theirs} (a higher layer)"
            assert (mine, theirs) not in APART, where + f": {mine} and {theirs} are independent"
            for banned in BANNED.get(mine, ()):
                assert not (inner == banned or inner.startswith(banned + ".")), (
                    where + f": {mine} must not use {banned}"
                )


@pytest.mark.parametrize("name, path, tree", list(modules()), ids=lambda x: x if isinstance(x, str) else "")
def test_no_module_uses_another_modules_private_names(name, path, tree):
    modules_bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for a in node.names:
                assert not (a.name.startswith("_") and not a.name.startswith("__")), (
                    f"lbtui/{path.relative_to(PKG)}:{node.lineno} imports private {a.name} from {node.module}"
                )
                modules_bound.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            modules_bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules_bound
            and node.value.id not in ("self", "cls")
        ):
            if node.value.id in ("llama_cpp", "lc", "sys", "os"):  # third-party APIs with leading underscores
                continue
            raise AssertionError(f"lbtui/{path.relative_to(PKG)}:{node.lineno} uses {node.value.id}.{node.attr}")


MAX_LINES = 500  # a module past this is a room to split (#25)


@pytest.mark.parametrize("name, path, tree", list(modules()), ids=lambda x: x if isinstance(x, str) else "")
def test_no_module_is_over_500_lines(name, path, tree):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"lbtui/{path.relative_to(PKG)} has {n} lines; split it by concern"


MAX_FUNCTION = 60  # lines of a function or method, decorators and docstring included
# Functions still over MAX_FUNCTION, with their length now: none may grow and none may be
# added; one brought under the limit must leave this list. None is left.
LONG_FUNCTIONS: dict[str, int] = {}


def test_no_function_grows_past_60_lines():
    found = {}
    for _, path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - min([node.lineno, *(d.lineno for d in node.decorator_list)]) + 1
                if n > MAX_FUNCTION:
                    found[f"{path.relative_to(PKG)}:{node.name}"] = n
    grown = {k: (LONG_FUNCTIONS.get(k), n) for k, n in found.items() if n > LONG_FUNCTIONS.get(k, MAX_FUNCTION)}
    assert not grown, f"functions over {MAX_FUNCTION} lines (listed, now): {grown}; split them by concern"
    gone = sorted(set(LONG_FUNCTIONS) - set(found))
    assert not gone, f"{gone} are now within {MAX_FUNCTION} lines: take them out of LONG_FUNCTIONS"


def edges(name: str, tree: ast.AST, path: Path, known: set[str]) -> set[str]:
    """The lbtui modules that module ``name`` imports anywhere (type-only and function-level
    imports too): ``from .x import y`` counts as module x.y when that is a module, else x."""
    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else [])
            elif (node.module or "").split(".")[0] == "lbtui":
                base = node.module.split(".")[1:]
            else:
                continue
            for a in node.names:
                sub = ".".join(base + [a.name])
                out.add(sub if sub in known else ".".join(base))
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix("lbtui.") for a in node.names if a.name.startswith("lbtui.")}
    return {m for m in out if m in known and m != name}


def test_no_circle_between_modules():
    """No two modules import each other, directly or round a loop, not even for type hints
    or inside a function: a circle is two rooms that cannot be read apart (#25)."""
    mods = list(modules())
    known = {name for name, _, _ in mods}
    graph = {name: edges(name, tree, path, known) for name, path, tree in mods}
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for v in graph:
        if v not in index:
            visit(v)
    assert circles == [], f"modules in a circle: {circles}"


# A string equal to a scoring mode's name that is not one (SQLite's "disk full").
NOT_A_MODE = {"store.tx"}


def test_scoring_modes_are_named_only_by_their_registry_and_the_backends():
    """The modes are listed once (backends/base.py SCORING): the command line's choices,
    the app's form, sessions, cards, defaults and the engine's rules read it; only the
    backends, which implement the modes, compare against a name."""
    from lbtui.backends.base import SCORING_MODES

    found = [
        f"{name}:{node.lineno} {node.value!r}"
        for name, path, tree in modules()
        if not name.startswith("backends") and name not in NOT_A_MODE
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in SCORING_MODES
    ]
    assert not found, f"scoring modes named outside their registry: {found}"
