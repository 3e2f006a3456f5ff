"""The front ends parse and print: they reach the database, the models and the image
decoders only through the use cases (README, Architecture; docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "facedb"
FRONT_ENDS = ("cli", "api")
BELOW = ("facedb.store", "facedb.vision", "facedb.media", "facedb.evaluation")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, lazy imports inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_front_end_imports_nothing_below_the_use_cases(front_end: str) -> None:
    files = sorted((PACKAGE / front_end).rglob("*.py"))
    assert files, f"no front end at facedb/{front_end}"
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {module}"
        for path in files
        for line, module in _imports(path)
        if any(module == b or module.startswith(b + ".") for b in BELOW)
    ]
    assert not wrong, "front ends import below the use cases:\n" + "\n".join(wrong)


def test_the_check_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from facedb.store.gallery import Match\n    return Match\n")
    assert (2, "facedb.store.gallery") in _imports(module)
