"""audit chain head: the single row appenders lock (``vault.audit``)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:30:00

Data, not schema, so it is kept apart from the generated table definitions: the chain
starts empty, its tip at the genesis hash (64 zeros, ``vault.audit.GENESIS_HASH``; spelt
out here because a revision must not change when application code does).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64

audithead = sa.table(
    "audithead",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("entry_hash", sa.String(64)),
)


def upgrade() -> None:
    op.bulk_insert(audithead, [{"id": 1, "seq": 0, "entry_hash": GENESIS_HASH}])


def downgrade() -> None:
    op.execute(audithead.delete().where(audithead.c.id == 1))
