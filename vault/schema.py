"""Schema set-up for the embedded default and the tests.

Real deployments run Alembic migrations (``crossvault db upgrade``); the embedded SQLite
default creates the tables directly on first start.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import SQLModel

from vault import audit, models  # noqa: F401  (registers the tables)


def create_all(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
    audit.ensure_head(engine)
