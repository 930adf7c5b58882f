"""Reading radiology studies back as DICOM instances (WADO-RS), for the person and Hong
Kong providers whose consent covers the Personal Folder: one audited ``READ_CONTENT``
decision about the study, then the visible instances streamed from their sealed blobs."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from policies.dates import hk_date
from policies.model import Decision, RecordRef
from policies.vocabulary import Action, Category, Source
from vault.access.judge import Ask, Caller
from vault.access.usecase import not_found
from vault.core.errors import NotFound
from vault.radiology.base import DepositService
from vault.radiology.receipts import DicomInstance
from vault.radiology.rows import matching
from vault.records.blob_content import open_blob_record
from vault.store.tables import Record

Found = tuple[list[tuple[Record, dict[str, str]]], bytes]


class Instances(DepositService):
    def find_instances(
        self,
        caller: Caller,
        person_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_uid: str | None = None,
    ) -> list[DicomInstance]:
        """The person's visible DICOM instances of a study (WADO-RS), after one audited
        ``READ_CONTENT`` decision about the study; :class:`NotFound` if there are none or
        the caller may not see them (R10)."""
        wanted = {
            "study_instance_uid": study_uid,
            "series_instance_uid": series_uid,
            "sop_instance_uid": sop_uid,
        }

        def ask(session: Session) -> Ask:
            ref = RecordRef(
                Category.RADIOLOGY_IMAGES, Source.PERSONAL_FOLDER, hk_date(self.judge.now())
            )
            return Ask(Action.READ_CONTENT, person_id, record=ref, resource_id=study_uid[:80])

        def find(session: Session, decision: Decision, now: datetime) -> Found:
            found = matching(session, self.vault, person_id, decision, wanted)
            if not found:
                raise NotFound("no such study")
            return found, self.vault.keys.get(session, person_id).raw()

        found, data_key = self.decide_then(caller, ask, find, refuse=not_found, savepoint=False)
        return [
            DicomInstance(
                open_blob_record(self.vault, r, data_key=data_key, chunk_size=self.chunk_size),
                metadata,
            )
            for r, metadata in found
        ]
