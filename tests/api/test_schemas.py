"""``unvalidated`` builds what pydantic's ``model_construct`` builds (it relies on how
pydantic lays an instance out, so this is the check that an upgrade did not change it),
and a listed record names every field of ``RecordPublic``."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.routes.me import access_log, notifications
from api.routes.me.schemas import AccessLogEntry, NotificationPublic
from api.routes.records import public
from api.schemas import RecordPage, RecordPublic, unvalidated
from vault.account.pages import LoggedDecision, Notice
from vault.account.profile import NotificationView
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


def test_an_access_log_entry_and_a_notification_are_what_model_construct_builds() -> None:
    at = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    decision = LoggedDecision(
        *(7, at, "citizen", "p1", None, None, "p1", "read_record", "r1", True, "owner"),
        *(None, "q1", "0" * 64, "1" * 64),
    )
    entry = access_log._entry(decision)
    assert set(entry.__dict__) == set(AccessLogEntry.model_fields)
    validated = AccessLogEntry.model_validate(entry.__dict__)
    assert entry == validated and entry.model_dump_json() == validated.model_dump_json()
    notice = Notice("p1", "n1", at, "sms", "read_content", "hk_professional", "d1", "ha", 7, None)
    shown = notifications._notice(NotificationView(notice, "123456"))
    assert set(shown.__dict__) == set(NotificationPublic.model_fields)
    again = NotificationPublic.model_validate(shown.__dict__)
    assert shown == again and shown.model_dump_json() == again.model_dump_json()
