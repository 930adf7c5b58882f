"""Finding PostgreSQL's server binaries (``initdb`` and ``postgres``) and their version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")


class PostgresHarnessError(RuntimeError):
    """The throw-away PostgreSQL server could not be found, started or used."""


@dataclass(frozen=True)
class PostgresBinaries:
    bindir: Path
    version: tuple[int, ...]  # e.g. (15, 18)

    @property
    def initdb(self) -> Path:
        return self.bindir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bindir / "postgres"

    @property
    def major(self) -> int:
        return self.version[0]


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


def _version_key(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return ()


def _probe_version(postgres: Path) -> tuple[int, ...]:
    result = subprocess.run(
        [str(postgres), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "postgres (PostgreSQL) 17beta1"
    match = re.search(r"\)\s*(\d+)(?:\.(\d+))?", result.stdout)
    if result.returncode != 0 or match is None:
        raise PostgresHarnessError(
            f"could not determine the version of {postgres}: {result.stdout}{result.stderr}"
        )
    return tuple(int(group) for group in match.groups() if group is not None)


def find_postgres_binaries() -> PostgresBinaries:
    """Locate a directory holding matching ``initdb`` and ``postgres`` executables."""
    candidates: list[Path] = []
    override = os.environ.get("CROSSVAULT_PG_BINDIR")
    if override:
        if not _has_binaries(Path(override)):
            raise PostgresHarnessError(
                f"CROSSVAULT_PG_BINDIR={override} does not contain executable "
                "'initdb' and 'postgres'"
            )
        candidates.append(Path(override))
    on_path = shutil.which("initdb")
    if on_path is not None:
        # initdb runs the postgres binary of its own (real) directory, so keep them together.
        candidates.append(Path(on_path).resolve().parent)
    if DEBIAN_PG_ROOT.is_dir():
        versions = sorted(
            (p for p in DEBIAN_PG_ROOT.iterdir() if _version_key(p.name)),
            key=lambda p: _version_key(p.name),
            reverse=True,
        )
        candidates.extend(p / "bin" for p in versions)
    for bindir in candidates:
        if _has_binaries(bindir):
            return PostgresBinaries(bindir, _probe_version(bindir / "postgres"))
    raise PostgresHarnessError(
        "PostgreSQL server binaries not found: need 'initdb' and 'postgres' in the same "
        f"directory, looked at $CROSSVAULT_PG_BINDIR, PATH and {DEBIAN_PG_ROOT}/*/bin "
        f"(checked: {', '.join(map(str, candidates)) or 'nothing'}). "
        "Install them (Debian: apt-get install postgresql-15) or run with --db=sqlite."
    )
