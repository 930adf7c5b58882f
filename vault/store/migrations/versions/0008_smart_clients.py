"""SMART Backend Services clients and the client assertions' replay store

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02 07:00:00

``smartclient``: an institution's SMART client and the public JWK set it registered;
``clientassertionuse``: each accepted client assertion's ``jti`` until its ``exp`` (a
second use is a replay).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "smartclient",
        sa.Column("client_id", sa.String(length=60), nullable=False),
        sa.Column("institution_id", sa.String(length=80), nullable=False),
        sa.Column("jwks", sa.String(length=20000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_index(
        op.f("ix_smartclient_institution_id"), "smartclient", ["institution_id"], unique=False
    )
    op.create_table(
        "clientassertionuse",
        sa.Column("client_id", sa.String(length=60), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
    )


def downgrade() -> None:
    op.drop_table("clientassertionuse")
    op.drop_index(op.f("ix_smartclient_institution_id"), table_name="smartclient")
    op.drop_table("smartclient")
