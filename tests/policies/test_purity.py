"""policies/ is pure: the standard library only, and no clock."""

from __future__ import annotations

import ast
import pkgutil
import sys
from pathlib import Path

import pytest

import policies

PACKAGE = Path(policies.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
CLOCK_CALLS = ("datetime.now", "date.today", "time.time", "utcnow", "monotonic", "perf_counter")


def module_name(path: Path) -> str:
    """``rules/person.py`` for ``policies/rules/person.py``."""
    return path.relative_to(PACKAGE).as_posix()


def dotted_name(path: Path) -> str:
    """``policies.rules`` for ``policies/rules/__init__.py``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_imports_only_the_standard_library_and_itself(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        where = f"{module_name(path)}: {module}"
        assert top == "policies" or top in sys.stdlib_module_names, where
        assert top not in {"time", "os", "socket", "random", "secrets"}, where


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_never_reads_the_clock(path: Path) -> None:
    text = path.read_text()
    for call in CLOCK_CALLS:
        assert call not in text, f"{module_name(path)} mentions {call}"


def test_the_grep_sees_every_module() -> None:
    """Every module of the package, in subpackages too, is checked."""
    names = {module_name(p) for p in SOURCES}
    importable = {m.name for m in pkgutil.walk_packages(policies.__path__, "policies.")}
    assert {dotted_name(p) for p in SOURCES} == {"policies", *importable}
    assert {
        "engine.py",
        "model.py",
        "policy.py",
        "policy_file.py",
        "policy_schema.py",
        "dates.py",
        "vocabulary.py",
        "rules/__init__.py",
        "rules/common.py",
        "rules/person.py",
        "rules/professional.py",
        "rules/provider.py",
        "rules/break_glass.py",
        "rules/cross_border.py",
        "rules/radiology.py",
        "rules/operator.py",
    } <= names
