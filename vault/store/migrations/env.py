"""The Alembic environment.

crossvault runs migrations on a connection it opened itself (``vault.schema.upgrade``
puts it in ``config.attributes["connection"]``); no ``alembic.ini`` is read then. For
developers' ``alembic`` commands (see ``README.md``), the database is ``-x url=...``, else
``$DATABASE_URL``, else ``sqlalchemy.url`` from ``alembic.ini``.

Every upgrade runs in one transaction: on PostgreSQL it first takes an advisory lock, so
two ``crossvault db upgrade`` started together run one after the other (the second finds
the schema current); on SQLite the transaction starts ``BEGIN IMMEDIATE``, which
serialises them the same way.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, text
from sqlalchemy.types import TypeDecorator

from vault.core.settings import normalise_database_url
from vault.store.engine import make_engine
from vault.store.schema import model_metadata

MIGRATION_LOCK_ID = 0x63_72_6F_73_73_76  # "crossv": any constant shared by all upgraders

config = context.config
target_metadata = model_metadata()
if config.config_file_name is not None:  # a developer's `alembic` command
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write a column's storage type, not our Python-side decorator of it
    (``UTCDateTime`` → ``sa.DateTime()``, SQLModel's ``AutoString`` → ``sa.String(...)``):
    revision scripts must not import application code that may change after them."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl_instance!r}"
    return False


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        **options,
    )


def run_on(connection: Connection) -> None:
    _configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


def _developer_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("DATABASE_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: pass -x url=..., set DATABASE_URL or sqlalchemy.url")
    return normalise_database_url(url)


def main() -> None:
    if context.is_offline_mode():
        _configure(url=_developer_url(), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    engine = make_engine(_developer_url())
    try:
        with engine.connect() as connection:
            run_on(connection)
    finally:
        engine.dispose()


main()
