"""Dependencies point one way (docs/ARCHITECTURE.md): a test fails on an import that
points the wrong way, on llama_cpp or textual imported outside their layers, and on a
module reaching into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "lbtui"

# module (dotted, below lbtui) -> the lbtui modules it must never import
PURE = ("metrics", "calibration", "calibration_models", "calibrations", "types", "errors", "results")
HIGHER = ("engine", "store", "ui", "cli", "analysis", "report", "report_format", "render", "bench", "bench_app",
          "prompt_view", "selection")
RULES = {
    **{p: HIGHER + ("backends", "models", "taskfile", "catalog") for p in PURE},
    "backends": HIGHER,
    "models": HIGHER + ("backends.llama", "backends.server"),
    "engine": ("ui", "cli", "analysis", "report", "render", "bench", "bench_app"),
    "store": HIGHER[2:] + ("engine",),
}


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
                base = (pkg if node.level == 1 else pkg[: len(pkg) - node.level + 1])
                mod = ".".join(base + ([node.module] if node.module else []))
                out += [(f"lbtui.{mod}".rstrip("."), node.lineno)]
                out += [(f"lbtui.{mod}.{a.name}".replace("lbtui..", "lbtui."), node.lineno) for a in node.names]
            else:
                out += [(node.module or "", node.lineno)]
    return out


def layer_of(name: str) -> str | None:
    for rule in sorted(RULES, key=len, reverse=True):
        if name == rule or name.startswith(rule + "."):
            return rule
    return None


@pytest.mark.parametrize("name, path, tree", list(modules()), ids=lambda x: x if isinstance(x, str) else "")
def test_imports_point_one_way(name, path, tree):
    for target, line in imported(name, tree, path):
        where = f"lbtui/{path.relative_to(PKG)}:{line} imports {target}"
        if target.split(".")[0] == "textual" or target.startswith("textual_plotext"):
            assert name.startswith("ui"), where + ": only lbtui/ui may import Textual"
        if target.split(".")[0] == "llama_cpp":
            assert name.startswith(("backends", "models")), where + ": llama_cpp belongs to lbtui/backends and lbtui/models"
        layer = layer_of(name)
        if layer and target.startswith("lbtui."):
            inner = target.removeprefix("lbtui.")
            for banned in RULES[layer]:
                assert not (inner == banned or inner.startswith(banned + ".")), where + f": {layer} must not depend on {banned}"


@pytest.mark.parametrize("name, path, tree", list(modules()), ids=lambda x: x if isinstance(x, str) else "")
def test_no_module_uses_another_modules_private_names(name, path, tree):
    modules_bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for a in node.names:
                assert not (a.name.startswith("_") and not a.name.startswith("__")), \
                    f"lbtui/{path.relative_to(PKG)}:{node.lineno} imports private {a.name} from {node.module}"
                modules_bound.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            modules_bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in modules_bound and node.value.id not in ("self", "cls")):
            if node.value.id in ("llama_cpp", "lc", "sys", "os"):  # third-party APIs with leading underscores
                continue
            raise AssertionError(f"lbtui/{path.relative_to(PKG)}:{node.lineno} uses {node.value.id}.{node.attr}")
