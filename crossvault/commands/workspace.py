"""``crossvault init`` (a deployment's one-time provisioning) and ``crossvault reset``
(start the embedded default afresh)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from vault.core.errors import VaultError

# What crossvault itself puts in a data dir: `reset` deletes a directory only if it
# holds one of these (so a mistyped CROSSVAULT_DATA_DIR never empties someone's home).
MARKERS = ("crossvault.db", "keyring.json", "blobs", "operator-secret")


def _fail(message: str) -> typer.Exit:
    print(f"crossvault: {message}", file=sys.stderr)
    return typer.Exit(2)


def init() -> None:
    """Provision a deployment once: migrate the schema and create the keyring.

    The keyring is created in the data dir. Refuses (exit 2) if a keyring already exists
    there or CROSSVAULT_KEYRING supplies one: a keyring is never replaced.
    """
    from vault.core.settings import Settings
    from vault.keys.keyring import KEYRING_FILENAME
    from vault.runtime.opening import provision

    try:
        settings = Settings()
    except VaultError as exc:
        raise _fail(str(exc)) from None
    if settings.keyring is not None:
        raise _fail("a keyring is supplied by CROSSVAULT_KEYRING: nothing to create")
    keyring = settings.data_dir / KEYRING_FILENAME
    if keyring.exists() or keyring.is_symlink():
        raise _fail(f"a keyring already exists at {keyring}: refusing to provision again")
    try:
        report = provision(settings)
    except VaultError as exc:
        raise _fail(str(exc)) from None
    print(report.describe())
    print(f"created the keyring at {keyring}: back it up (without it every record is lost)")


def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete the embedded data dir, after a confirmation, to start afresh.

    Deletes the SQLite database, keyring, blobs and generated operator secret. Refuses
    (exit 2) when DATABASE_URL is set: a deployment is never reset from here.
    """
    from vault.core.settings import Settings

    try:
        settings = Settings()
    except VaultError as exc:
        raise _fail(str(exc)) from None
    if settings.database_url is not None:
        raise _fail("DATABASE_URL is set: reset only clears the embedded SQLite data dir")
    data_dir = settings.data_dir
    if not data_dir.exists():
        print(f"nothing to clear: {data_dir} does not exist")
        return
    if not _is_crossvault_dir(data_dir):
        raise _fail(f"{data_dir} does not look like a crossvault data dir: not touched")
    if not yes and not typer.confirm(
        f"Delete {data_dir.resolve()} (database, keyring, blobs)? This cannot be undone"
    ):
        print("nothing deleted")
        raise typer.Exit(1)
    shutil.rmtree(data_dir)
    print(f"deleted {data_dir}; the next `crossvault serve` starts empty")


def _is_crossvault_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in MARKERS)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("reset")(reset)
