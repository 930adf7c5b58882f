"""``unvalidated`` builds what pydantic's ``model_construct`` builds (it relies on how
pydantic lays an instance out, so this is the check that an upgrade did not change it),
and a listed record names every field of ``RecordPublic``."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.routes.records import public
from api.schemas import RecordPage, RecordPublic, unvalidated
from vault.records.reading import RecordView
from vault.store.tables import Record


def _record() -> Record:
    return Record(
        person_id="p1",
        id="r1",
        category="lab_report",
        source="ha",
        clinical_date=date(2025, 3, 4),
        depositor_institution_id=None,
        content_type="application/pdf",
        size=1234,
        digest="0" * 64,
        title_sealed=b"",
        created_at=datetime(2025, 3, 4, 5, 6, tzinfo=UTC),
    )


@pytest.mark.parametrize("title", ["Blood count 血常規", None])
def test_a_public_record_is_what_model_construct_builds(title: str | None) -> None:
    built = public(RecordView(_record(), title))
    assert set(built.__dict__) == set(RecordPublic.model_fields)  # every field named
    constructed = RecordPublic.model_construct(**built.__dict__)
    assert built == constructed
    assert built.model_fields_set == constructed.model_fields_set
    assert built.model_dump_json() == constructed.model_dump_json()
    assert built.damaged is (title is None)
    page = unvalidated(RecordPage, {"items": [built, built], "next_cursor": None})
    same = RecordPage.model_construct(items=[constructed, constructed], next_cursor=None)
    assert page.model_dump_json() == same.model_dump_json()
