"""QIDO-RS search and WADO-RS metadata (R1, R2, R3): answered from the person's study
index (:mod:`vault.radiology.study_index`), never by decrypting their image records.

Each request is one audited decision, as reads are: a search is ``LIST_RECORDS`` of the
person, metadata is ``READ_CONTENT`` of their radiology images (what WADO-RS retrieval
asks). The decision's visible set, narrowed to images in the Personal Folder, becomes SQL
predicates on the index, so a part the caller may not see is neither opened nor counted.
A study (or series, or instance) that is hidden and one that does not exist are the same
:class:`NotFound` (R10), after the same work: one indexed lookup by blind index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from policies.dates import hk_date
from policies.model import Decision, RecordRef
from policies.vocabulary import Action, Category, Source
from vault.access.judge import Ask, Caller
from vault.access.usecase import not_found
from vault.core.errors import NotFound
from vault.crypto.envelope import SealingKey
from vault.radiology import qido
from vault.radiology.base import DepositService
from vault.radiology.qido import Instance, SearchQuery
from vault.radiology.study_index import backfill, open_part, study_key, visible_parts
from vault.records.listing import visible_filter
from vault.store.radiology_tables import DicomStudyPart

Found = tuple[list[DicomStudyPart], SealingKey]


class StudySearch(DepositService):
    def search(
        self,
        caller: Caller,
        person_id: str,
        query: SearchQuery,
        study_uid: str | None = None,
        series_uid: str | None = None,
    ) -> list[dict[str, Any]]:
        """QIDO-RS at ``query.level``: the person's studies, a study's series, or a
        series' instances (``study_uid``/``series_uid`` name the study and series)."""
        ask = Ask(Action.LIST_RECORDS, person_id, resource_id=_resource(study_uid))
        instances = self._instances(caller, ask, study_uid)
        if series_uid is not None:
            instances = _only(instances, "SeriesInstanceUID", series_uid)
        return qido.answer(query, instances)

    def metadata(
        self,
        caller: Caller,
        person_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_uid: str | None = None,
    ) -> list[dict[str, Any]]:
        """WADO-RS metadata of a study, one of its series, or one instance."""
        ref = RecordRef(
            Category.RADIOLOGY_IMAGES, Source.PERSONAL_FOLDER, hk_date(self.judge.now())
        )
        ask = Ask(Action.READ_CONTENT, person_id, record=ref, resource_id=_resource(study_uid))
        instances = self._instances(caller, ask, study_uid)
        if series_uid is not None:
            instances = _only(instances, "SeriesInstanceUID", series_uid)
        if sop_uid is not None:
            instances = _only(instances, "SOPInstanceUID", sop_uid)
        return qido.metadata(instances)

    def _instances(self, caller: Caller, ask: Ask, study_uid: str | None) -> list[Instance]:
        """The visible instances (of one study, or all), opened after the commit."""
        person_id = ask.person_id
        assert person_id is not None

        def find(session: Session, decision: Decision, now: datetime) -> Found:
            backfill(session, self.vault, person_id, now)
            visible = visible_filter(decision.obligations).narrow(
                category=Category.RADIOLOGY_IMAGES, source=Source.PERSONAL_FOLDER
            )
            key = self.vault.keys.get(session, person_id)
            wanted = None if study_uid is None else study_key(key, person_id, study_uid)
            parts = visible_parts(session, person_id, visible, wanted)
            if study_uid is not None and not parts:
                raise NotFound("no such study")
            return parts, key

        parts, key = self.decide_then(caller, ask, find, refuse=not_found, savepoint=False)
        return _distinct([i for part in parts for i in open_part(key, part)])


def _resource(study_uid: str | None) -> str | None:
    return None if study_uid is None else study_uid[:80]


def _only(instances: list[Instance], keyword: str, uid: str) -> list[Instance]:
    kept = [i for i in instances if uid in (i.get(keyword) or [])]
    if not kept:
        raise NotFound("no such study")
    return kept


def _distinct(instances: list[Instance]) -> list[Instance]:
    """One entry per SOP instance (the first deposited, should one come twice)."""
    seen: dict[str, Instance] = {}
    for instance in instances:
        seen.setdefault(str((instance.get("SOPInstanceUID") or [""])[0]), instance)
    return list(seen.values())
