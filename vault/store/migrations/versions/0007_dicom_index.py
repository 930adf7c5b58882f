"""the study index for QIDO-RS and WADO-RS metadata

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 07:00:00

``dicomstudypart``: per person and study (by blind index) and deposit, the viewer
attributes of the deposit's instances, sealed. A migration holds no keyring, so it cannot
seal anything: persons who already hold committed DICOM records are put in
``dicomindexbacklog`` instead, and their index is built from those records (their sealed
metadata and the head of each sealed file) the first time it is consulted
(:mod:`vault.radiology.study_index`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dicomstudypart",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("study_key", sa.String(length=64), nullable=False),
        sa.Column("deposit_id", sa.String(length=40), nullable=False),
        sa.Column("clinical_date", sa.Date(), nullable=False),
        sa.Column("depositor_institution_id", sa.String(length=80), nullable=False),
        sa.Column("document_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id", "study_key", "deposit_id", "clinical_date"),
    )
    op.create_index(
        "ix_dicomstudypart_person_date", "dicomstudypart", ["person_id", "clinical_date"]
    )
    op.create_table(
        "dicomindexbacklog",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.execute(
        "INSERT INTO dicomindexbacklog (person_id) SELECT DISTINCT person_id FROM record "
        "WHERE category = 'radiology_images' AND state = 'committed' "
        "AND blob_name IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("dicomindexbacklog")
    op.drop_index("ix_dicomstudypart_person_date", table_name="dicomstudypart")
    op.drop_table("dicomstudypart")
