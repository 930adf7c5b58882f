"""One mapping from domain error to HTTP answer (api/errors.py): every error the vault
raises on purpose has its row, and no route catches a domain error to answer it itself."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import vault
from api import errors
from vault.access.throttles import LockedOut
from vault.core.errors import VaultError

ROUTES = Path(errors.__file__).parent / "routes"
# Raised only at start-up or inside the vault, never answered over HTTP.
NEVER_ANSWERED = {"SchemaError", "DatabaseUnreachable", "ConfigurationError", "TornUpload"}


def vault_errors() -> list[type[VaultError]]:
    for module in pkgutil.walk_packages(vault.__path__, "vault."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    found: list[type[VaultError]] = []
    pending: list[type[VaultError]] = [VaultError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return [k for k in found if k is not VaultError]


@pytest.mark.parametrize("kind", vault_errors(), ids=lambda k: k.__name__)
def test_every_domain_error_has_its_answer(kind: type[VaultError]) -> None:
    if kind.__name__ in NEVER_ANSWERED:
        return
    assert any(base in errors.ANSWERS for base in kind.__mro__ if base is not VaultError), kind


def _answers_it_itself(handler: ast.ExceptHandler) -> bool:
    """Builds a problem, or raises something else than the error it caught."""
    for node in ast.walk(handler):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Problem":
            return True
        if isinstance(node, ast.Raise) and node.exc is not None:
            return True
    return False


def test_no_route_answers_a_domain_error_itself() -> None:
    """Routes may clean up after a domain error (and re-raise it), never answer it."""
    caught = []
    for path in sorted(ROUTES.rglob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vault")
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                if names & (imported | {"VaultError"}) and _answers_it_itself(node):
                    caught.append(f"{path.name}:{node.lineno}")
    assert caught == []


def test_every_lock_out_is_423_with_retry_after_while_it_lasts() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    for_a_while = errors.problem_for(LockedOut(now + timedelta(seconds=90), "later"), now)
    for_good = errors.problem_for(LockedOut(None, "for good"), now)
    assert (for_a_while.status, for_a_while.code) == (423, "locked_out")
    assert for_a_while.headers == {"Retry-After": "90"}
    assert (for_good.status, for_good.code, for_good.headers) == (423, "locked_out", None)
