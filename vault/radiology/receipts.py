"""What a radiology depositor is shown: its deposit's receipt (file names, sizes, digests,
states) — never anything about the person or their other records (R5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from vault.records.blob_content import BlobContent
from vault.store.radiology_tables import RadiologyDeposit, RadiologyFile


@dataclass(frozen=True)
class FileReceipt:
    name: str
    content_type: str
    category: str
    state: str
    size: int
    sha256: str | None = None
    upload_length: int | None = None


@dataclass(frozen=True)
class DepositReceipt:
    deposit_id: str
    state: str
    clinical_date: date
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    files: Sequence[FileReceipt]


@dataclass(frozen=True)
class UploadStatus:
    upload_id: str
    offset: int
    length: int


@dataclass(frozen=True)
class CollectionReport:
    abandoned_deposits: int
    removed_records: int
    removed_temporaries: int


@dataclass(frozen=True)
class DicomInstance:
    """One stored DICOM instance as found for a WADO-RS retrieval."""

    content: BlobContent
    metadata: dict[str, str]


def receipt_of(
    deposit: RadiologyDeposit, files: Sequence[RadiologyFile], digests: dict[str, str] | None
) -> DepositReceipt:
    return DepositReceipt(
        deposit_id=deposit.id,
        state=deposit.state,
        clinical_date=deposit.clinical_date,
        created_at=deposit.created_at,
        expires_at=deposit.expires_at,
        completed_at=deposit.completed_at,
        files=[
            FileReceipt(
                f.name,
                f.content_type,
                f.category,
                f.state,
                f.size,
                (digests or {}).get(f.id),
                f.upload_length,
            )
            for f in files
        ],
    )
