"""Records at rest: sealed on the way in, opened on the way out, listed by predicates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from tests.vault.conftest import NOW, lab_report, make_person
from vault.access import paging
from vault.access.paging import InvalidCursor
from vault.core.errors import DecryptionFailed, NotFound
from vault.records.listing import RecordFilter, find_visible, list_visible
from vault.records.sealed import PENDING, add_record, open_record
from vault.registry.persons import person_name
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.tables import Person, Record


def test_person_name_is_sealed_and_opens(vault: Vault) -> None:
    pid = make_person(vault, "Lee Siu Ming")
    with Session(vault.engine) as session:
        person = session.get(Person, pid)
        assert person is not None
        assert b"Lee Siu Ming" not in person.name_sealed
        assert person_name(session, vault.keys, person) == "Lee Siu Ming"


def test_record_round_trip(vault: Vault) -> None:
    pid = make_person(vault)
    with transaction(vault.engine) as session:
        stored = add_record(session, vault.keys, pid, lab_report(b"creatinine 88"), now=NOW)
    vault.keys.cache.clear()  # force an unwrap through the keyring
    with Session(vault.engine) as session:
        record = find_visible(session, pid, stored.id, RecordFilter())
        opened = open_record(session, vault.keys, record)
    assert (opened.title, opened.content) == ("Glycated haemoglobin", b"creatinine 88")
    assert record.size == len(b"creatinine 88")
    assert record.digest != "" and len(record.digest) == 64


@pytest.mark.parametrize(
    "column, value",
    [("person_id", "other"), ("category", "medication"), ("clinical_date", date(2020, 1, 1))],
)
def test_moved_or_relabelled_ciphertext_fails_to_open(
    vault: Vault, column: str, value: object
) -> None:
    pid = make_person(vault)
    other = make_person(vault, "Other Person")
    with transaction(vault.engine) as session:
        stored = add_record(session, vault.keys, pid, lab_report(), now=NOW)
    value = other if value == "other" else value
    with transaction(vault.engine) as session:
        session.execute(update(Record).where(col(Record.id) == stored.id).values({column: value}))
    owner = value if column == "person_id" else pid  # the key leads with the person
    with Session(vault.engine) as session:
        record = session.get(Record, (owner, stored.id))
        assert record is not None
        with pytest.raises(DecryptionFailed):
            open_record(session, vault.keys, record)


def test_ciphertext_copied_to_another_row_fails(vault: Vault) -> None:
    pid = make_person(vault)
    with transaction(vault.engine) as session:
        first = add_record(session, vault.keys, pid, lab_report(b"first"), now=NOW)
        second = add_record(session, vault.keys, pid, lab_report(b"second"), now=NOW)
    with transaction(vault.engine) as session:
        session.execute(
            update(Record).where(col(Record.id) == second.id).values(body_sealed=first.body_sealed)
        )
    with Session(vault.engine) as session:
        record = session.get(Record, (pid, second.id))
        assert record is not None
        with pytest.raises(DecryptionFailed):
            open_record(session, vault.keys, record)


def test_hidden_and_missing_records_are_the_same_not_found(vault: Vault) -> None:
    pid = make_person(vault)
    with transaction(vault.engine) as session:
        stored = add_record(session, vault.keys, pid, lab_report(), now=NOW)
    only_medication = RecordFilter(categories=frozenset({"medication"}))
    with Session(vault.engine) as session:
        with pytest.raises(NotFound) as hidden:
            find_visible(session, pid, stored.id, only_medication)
        with pytest.raises(NotFound) as missing:
            find_visible(session, pid, "0" * 32, RecordFilter())
    assert str(hidden.value) == str(missing.value)


def test_pending_records_are_invisible_to_every_filter(vault: Vault) -> None:
    pid = make_person(vault)
    with transaction(vault.engine) as session:
        pending = add_record(session, vault.keys, pid, lab_report(), now=NOW)
        # as a radiology deposit's records are until it completes
        session.execute(update(Record).where(col(Record.id) == pending.id).values(state=PENDING))
    with Session(vault.engine) as session:
        assert list_visible(session, pid, RecordFilter()).records == []
        with pytest.raises(NotFound):
            find_visible(session, pid, pending.id, RecordFilter())


def test_listing_applies_the_filter_in_sql_and_pages(vault: Vault) -> None:
    pid = make_person(vault)
    dates = [date(2019 + i // 3, 1 + i % 12, 1 + i) for i in range(12)]
    with transaction(vault.engine) as session:
        for i, clinical in enumerate(dates):
            category = "lab_report" if i % 2 else "medication"
            add_record(
                session,
                vault.keys,
                pid,
                replace(lab_report(), category=category, clinical_date=clinical),
                now=NOW,
            )
    window = RecordFilter(since=date(2020, 1, 1), categories=frozenset({"lab_report"}))
    expected = sorted(
        (d for i, d in enumerate(dates) if i % 2 and d >= date(2020, 1, 1)), reverse=True
    )
    seen: list[date] = []
    cursor = None
    with Session(vault.engine) as session:
        while True:
            page = list_visible(session, pid, window, limit=2, after=paging.date_and_id(cursor))
            seen.extend(r.clinical_date for r in page.records)
            assert all(r.category == "lab_report" for r in page.records)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == expected


def test_narrow_never_widens() -> None:
    base = RecordFilter(categories=frozenset({"lab_report"}), since=date(2023, 1, 1))
    narrowed = base.narrow(category="medication", since=date(2020, 1, 1))
    assert narrowed.categories == frozenset()
    assert narrowed.since == date(2023, 1, 1)


def test_a_malformed_cursor_is_the_one_cursor_error() -> None:
    with pytest.raises(InvalidCursor):
        paging.date_and_id("not-a-cursor!")


def test_filters_of_one_shape_reuse_a_statement_but_never_its_values(vault: Vault) -> None:
    """Page queries are compiled once per filter shape; every later filter of that shape
    must still be answered with its own values (categories, dates, depositor, cursor)."""
    pid = make_person(vault)
    made = []
    with transaction(vault.engine) as session:
        for i in range(12):
            new = replace(
                lab_report(),
                category=("lab_report", "medication", "radiology_report")[i % 3],
                clinical_date=date(2020 + i % 4, 1 + i, 1),
                depositor_institution_id=("ha", "hksh")[i % 2],
            )
            made.append(add_record(session, vault.keys, pid, new, now=NOW))
    filters = [
        RecordFilter(categories=frozenset({"lab_report"})),
        RecordFilter(categories=frozenset({"medication"})),
        RecordFilter(categories=frozenset({"medication", "radiology_report"})),
        RecordFilter(categories=frozenset({"lab_report", "medication"})),
        RecordFilter(categories=frozenset()),
        RecordFilter(since=date(2022, 1, 1)),
        RecordFilter(since=date(2021, 1, 1)),
        RecordFilter(since=date(2021, 1, 1), until=date(2022, 12, 31)),
        RecordFilter(since=date(2020, 1, 1), until=date(2021, 6, 30)),
        RecordFilter(depositor_institution_id="ha"),
        RecordFilter(depositor_institution_id="hksh"),
        RecordFilter(),
    ]
    with Session(vault.engine) as session:
        for visible in filters * 2:  # the second round meets only compiled statements
            expected = sorted(
                (r for r in made if _inside(r, visible)),
                key=lambda r: (r.clinical_date, r.id),
                reverse=True,
            )
            seen: list[str] = []
            cursor = None
            while True:
                after = paging.date_and_id(cursor)
                page = list_visible(session, pid, visible, limit=2, after=after)
                seen.extend(r.id for r in page.records)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert seen == [r.id for r in expected], visible


def _inside(record: Record, visible: RecordFilter) -> bool:
    return (
        (visible.categories is None or record.category in visible.categories)
        and (visible.sources is None or record.source in visible.sources)
        and (visible.since is None or record.clinical_date >= visible.since)
        and (visible.until is None or record.clinical_date <= visible.until)
        and (
            visible.depositor_institution_id is None
            or record.depositor_institution_id == visible.depositor_institution_id
        )
    )
