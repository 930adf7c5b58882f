"""Tables of radiology deposits (R5): a deposit, and the files streamed into it.

A deposit is opened with a person's radiology authorisation code and stays ``open``
until it is ``completed`` (its records become visible, the authorisation is used) or
``abandoned`` (it expired first; its files and pending records are removed). Each file
becomes one ``pending`` :class:`~vault.store.tables.Record` as soon as it is stored; nothing of
a deposit is visible before ``complete``.

In clear, as for records: ids, states, sizes, content types and instants. The DICOM
attributes and the plaintext digests are sealed in the records' metadata; the deposit's
pinned DICOM PatientID is sealed with the person's data key.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, ForeignKeyConstraint, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from vault.store.types import UTCDateTime

OPEN = "open"
COMPLETED = "completed"
ABANDONED = "abandoned"
UPLOADING = "uploading"
STORED = "stored"


def _instant(nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class RadiologyDeposit(SQLModel, table=True):
    """One visit's study, deposited by one institution under one authorisation. Its id is
    a handle (:class:`~vault.store.tables.Handle`): the depositor holds nothing else."""

    __table_args__ = (
        ForeignKeyConstraint(
            ["person_id", "authorisation_id"],
            ["radiologyauthorisation.person_id", "radiologyauthorisation.id"],
        ),
    )

    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    authorisation_id: str = Field(index=True, max_length=40)
    institution_id: str = Field(max_length=80)
    professional_id: str = Field(max_length=40)
    clinical_date: date
    state: str = Field(default=OPEN, max_length=12, index=True)
    created_at: datetime = Field(sa_column=_instant())
    expires_at: datetime = Field(sa_column=_instant())
    completed_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    # The first DICOM file's PatientID, which every later file must repeat (sealed).
    patient_id_sealed: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )


class RadiologyFile(SQLModel, table=True):
    """A file of a deposit: ``uploading`` (a resumable upload in progress) or ``stored``
    (sealed in the blob store as the pending record ``record_id``)."""

    __table_args__ = (
        UniqueConstraint("person_id", "deposit_id", "name"),
        UniqueConstraint("person_id", "record_id"),
        ForeignKeyConstraint(
            ["person_id", "deposit_id"], ["radiologydeposit.person_id", "radiologydeposit.id"]
        ),
    )

    person_id: str = Field(primary_key=True, foreign_key="person.id", max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    deposit_id: str = Field(index=True, max_length=40)
    name: str = Field(max_length=120)
    content_type: str = Field(max_length=60)
    category: str = Field(max_length=40)
    record_id: str = Field(max_length=40)
    state: str = Field(default=UPLOADING, max_length=12)
    upload_length: int | None = None  # declared by a resumable upload
    size: int = 0  # plaintext bytes, once stored
    created_at: datetime = Field(sa_column=_instant())
    updated_at: datetime = Field(sa_column=_instant())


class DicomStudyPart(SQLModel, table=True):
    """What one completed deposit added to one of the person's studies, for QIDO-RS and
    WADO-RS metadata: the viewer attributes of its instances, sealed with the person's
    data key (AAD: person, study key, deposit). The study's UID is never in clear:
    ``study_key`` is its blind index (:func:`vault.crypto.blind.blind_index`). In clear,
    as on the records the part was built from: the clinical date and the depositor, so
    that a caller's visible set is an SQL predicate here too."""

    __table_args__ = (Index("ix_dicomstudypart_person_date", "person_id", "clinical_date"),)

    person_id: str = Field(foreign_key="person.id", primary_key=True, max_length=40)
    study_key: str = Field(primary_key=True, max_length=64)
    deposit_id: str = Field(primary_key=True, max_length=40)
    # Instances of one study and deposit with different clinical dates (files that
    # disagree on StudyDate) are separate parts: each is visible exactly as its records.
    clinical_date: date = Field(primary_key=True)
    depositor_institution_id: str = Field(max_length=80)
    document_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=_instant())


class DicomIndexBacklog(SQLModel, table=True):
    """Persons whose DICOM records predate the study index (filled by migration 0007):
    their index is built from those records the first time it is consulted."""

    person_id: str = Field(foreign_key="person.id", primary_key=True, max_length=40)
