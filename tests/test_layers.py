"""The library's layers: analyses never reach up into presentation (views, render, plot, cli), and no
module imports another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "k2calc"
PRESENTATION = {"views", "render", "plot", "cli"}
ANALYSES = sorted(p for p in PACKAGE.rglob("*.py")
                  if p.stem not in PRESENTATION | {"__init__", "__main__", "api"})


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every `from .x import a, b` in the file, top level or inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append(((node.module or "").split(".")[-1], [a.name for a in node.names]))
    return found


@pytest.mark.parametrize("path", ANALYSES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_analysis_modules_do_not_import_presentation(path):
    assert not [m for m, _ in imports(path) if m in PRESENTATION]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_another_modules_private_names(path):
    assert not [(m, n) for m, names in imports(path) for n in names if n.startswith("_") and n != "__version__"]


FACES = {"cli", "api", "check"}


def relative_targets(path: Path) -> set[str]:
    """Top-level k2calc modules or packages a file imports relatively ("analysis", "arch", "config", ...)."""
    parts = path.relative_to(PACKAGE).parts[:-1]  # the file's package, below k2calc
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = list(parts[: len(parts) - (node.level - 1)]) if node.level > 1 else list(parts)
            target = base + (node.module.split(".") if node.module else [a.name for a in node.names][:1])
            found.add(target[0])
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "arch").glob("*.py")), ids=lambda p: p.name)
def test_the_architecture_layer_imports_no_analysis_face_or_presentation(path):
    assert not relative_targets(path) & ({"analysis"} | FACES | PRESENTATION)


@pytest.mark.parametrize("path", sorted((PACKAGE / "analysis").glob("*.py")), ids=lambda p: p.name)
def test_analyses_import_no_face(path):
    assert not relative_targets(path) & FACES
