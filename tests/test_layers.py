"""The layers of the house (docs/architecture.md), enforced on every import.

Lower never imports higher, and folders of one layer never import each other: ``policies``
imports nothing of ours, ``vault`` never imports ``api``, ``sim`` or an HTTP framework, and
no module-level import cycle exists anywhere. Imports inside functions count for the
layers (they still couple the code), not for cycles (they run after loading).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("policies", "vault", "api", "sim", "crossvault")

# Lowest first. A module may import its own folder and any folder of a lower layer; folders
# of one layer are peers and never import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("policies",),
    ("vault", "vault.core"),
    ("vault.crypto",),
    ("vault.store",),
    ("vault.keys",),
    ("vault.runtime",),
    ("vault.audit",),
    ("vault.access",),
    ("vault.records", "vault.registry"),
    (
        "vault.account",
        "vault.sharing",
        "vault.cross_border",
        "vault.restricted",
        "vault.radiology",
        "vault.emergency",
    ),
    ("vault.seeding",),
    ("api",),
    ("sim",),
    ("crossvault",),
)
HTTP_FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "httpx", "jinja2")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted (absolute)
    line: int
    top_level: bool  # at module level (including under ``if TYPE_CHECKING``)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(n) for n in _module_level(tree)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, id(node) in top)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            for alias in node.names:  # ``from vault.access import paging`` names a module
                yield Import(module, f"{target}.{alias.name}", node.lineno, id(node) in top)


def _module_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Statements that run when the module loads (not inside a def or a class body's def)."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def folder_of(module: str) -> str | None:
    """The most specific layer folder holding ``module``."""
    best = None
    for layer in LAYERS:
        for folder in layer:
            if (module == folder or module.startswith(folder + ".")) and (
                best is None or len(folder) > len(best)
            ):
                best = folder
    return best


def rank_of(folder: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if folder in layer)


def ours(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


ALL_IMPORTS = [i for path in sources() for i in imports_of(path)]


def test_every_module_lives_in_a_layer() -> None:
    homeless = [module_name(p) for p in sources() if folder_of(module_name(p)) is None]
    assert homeless == []


def _against_the_layers(i: Import) -> bool:
    if not ours(i.target):
        return False
    mine, theirs = folder_of(i.module), folder_of(i.target)
    assert mine is not None and theirs is not None
    if mine == theirs or i.target == "vault":
        return False
    return rank_of(theirs) >= rank_of(mine)


def test_no_import_runs_against_the_layers() -> None:
    offenders = [
        f"{i.module}:{i.line} imports {i.target}" for i in ALL_IMPORTS if _against_the_layers(i)
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["policies", "vault"])
def test_the_core_never_imports_http(package: str) -> None:
    offenders = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in ALL_IMPORTS
        if i.module.split(".")[0] == package and i.target.split(".")[0] in HTTP_FRAMEWORKS
    ]
    assert offenders == []


def _known(target: str, modules: set[str]) -> str | None:
    """The module ``target`` names (``from pkg import name`` may name a module or not)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in colour and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)) is not None:
            return found
    return None


def test_no_module_level_import_cycle() -> None:
    modules = {module_name(p) for p in sources()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for i in ALL_IMPORTS:
        target = _known(i.target, modules) if ours(i.target) else None
        own_package = target is not None and i.module.startswith(target + ".")
        if i.top_level and target is not None and target != i.module and not own_package:
            graph[i.module].add(target)  # (a module importing its package's __init__: none)
    assert _cycle(graph) is None


def test_the_checks_can_fail() -> None:
    """The rules see a violation when there is one (a guard against a vacuous walk)."""
    assert _against_the_layers(Import("vault.store.audit", "api.errors.Problem", 1, True))
    assert _against_the_layers(Import("vault.sharing.consents", "vault.radiology.rows", 1, True))
    assert not _against_the_layers(Import("api.app", "vault.store.engine", 1, True))
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert len(ALL_IMPORTS) > 500
