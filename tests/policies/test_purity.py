"""policies/ is pure: the standard library only, and no clock."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import policies

PACKAGE = Path(policies.__file__).parent
SOURCES = sorted(PACKAGE.glob("*.py"))
CLOCK_CALLS = ("datetime.now", "date.today", "time.time", "utcnow", "monotonic", "perf_counter")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_imports_only_the_standard_library_and_itself(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        assert top == "policies" or top in sys.stdlib_module_names, f"{path.name}: {module}"
        assert top not in {"time", "os", "socket", "random", "secrets"}, f"{path.name}: {module}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_never_reads_the_clock(path: Path) -> None:
    text = path.read_text()
    for call in CLOCK_CALLS:
        assert call not in text, f"{path.name} mentions {call}"


def test_the_grep_sees_every_module() -> None:
    names = {p.name for p in SOURCES}
    assert {"engine.py", "model.py", "policy_file.py", "dates.py", "vocabulary.py"} <= names
