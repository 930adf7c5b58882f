"""The database back-ends the suite runs against (selected with ``pytest --db=KIND``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Literal

import pytest

DatabaseKind = Literal["sqlite", "postgresql"]

DATABASE_KINDS: Final[tuple[DatabaseKind, ...]] = ("sqlite", "postgresql")
DEFAULT_DATABASE_KIND: Final[DatabaseKind] = "sqlite"


@contextmanager
def module_database(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, directory: Path, prefix: str
) -> Iterator[str]:
    """An empty database of the selected kind for a fixture wider than one test: a SQLite
    file in ``directory``, or a scratch PostgreSQL database dropped afterwards."""
    if db_kind == "sqlite":
        yield f"sqlite:///{directory}/crossvault.db"
        return
    from sim.postgres import scratch_database

    with scratch_database(request.getfixturevalue("postgres_server_url"), prefix) as url:
        yield url
