"""Databases on a throw-away (or any) PostgreSQL server, by its admin URL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def _connect_admin(admin_url: str) -> psycopg.Connection[Any]:
    url = make_url(admin_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )


def create_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` on ``admin_url``'s server — empty, or a copy of
    ``template`` (which must have no open connections) — and return its URL."""
    with _connect_admin(admin_url) as conn:
        if template is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` if it exists, terminating any connection still open to it."""
    with _connect_admin(admin_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh, empty database ``t_<prefix>_<random>`` on ``admin_url``'s server, for
    fixtures that outlive one test; dropped afterwards."""
    name = f"t_{prefix}_{uuid.uuid4().hex[:12]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)
