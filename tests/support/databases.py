"""The database back-ends the suite runs against (selected with ``pytest --db=KIND``)."""

from __future__ import annotations

from typing import Final, Literal

DatabaseKind = Literal["sqlite", "postgresql"]

DATABASE_KINDS: Final[tuple[DatabaseKind, ...]] = ("sqlite", "postgresql")
DEFAULT_DATABASE_KIND: Final[DatabaseKind] = "sqlite"
