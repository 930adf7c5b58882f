"""The top-level ``--help``'s index of every command, sub-commands included (``db
current``, ``audit prove``, …): the panel above it shows only the groups."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape


def _names(command: Any, prefix: str) -> list[str]:
    """The full name of every command under ``command`` (a click command or group:
    typer's own click, whichever module that is), groups expanded."""
    if not hasattr(command, "list_commands"):
        return [prefix]
    context = command.context_class(command)
    found: list[str] = []
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is not None and not sub.hidden:
            found.extend(_names(sub, f"{prefix} {name}".strip()))
    return found


def command_index(app: typer.Typer) -> str:
    """One sentence naming every command of ``app`` (Rich markup escaped)."""
    names = ", ".join(_names(typer.main.get_command(app), ""))
    return escape(f"Every command: {names}. Run crossvault COMMAND --help for its options.")


def add_index(app: typer.Typer) -> None:
    """Show :func:`command_index` under the top-level help."""
    app.info.epilog = command_index(app)
