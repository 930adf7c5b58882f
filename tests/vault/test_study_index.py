"""The study index is visible exactly as the records it was built from: for any visible
set a decision can produce (categories, sources, a date window, a depositor), the parts a
search opens are those whose records the same set shows — never one more (a hidden study
opened or counted), never one fewer. A property test against the records' own SQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from policies.vocabulary import Category, Source
from tests.vault.conftest import make_person
from vault.radiology.study_index import visible_parts
from vault.records.listing import RecordFilter
from vault.records.sealed import COMMITTED
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.radiology_tables import DicomStudyPart
from vault.store.tables import Record

DEPOSITORS = ("hku_sz", "sz_new_frontier", "zs_chen_xinghai")
FIRST = date(2023, 1, 1)
CATEGORIES = st.frozensets(st.sampled_from([str(c) for c in Category]), max_size=4)
SOURCES = st.frozensets(st.sampled_from([str(s) for s in Source]), max_size=2)
DAYS = st.dates(min_value=FIRST - timedelta(days=30), max_value=FIRST + timedelta(days=400))
FILTERS = st.builds(
    RecordFilter,
    categories=st.none() | CATEGORIES,
    sources=st.none() | SOURCES,
    since=st.none() | DAYS,
    until=st.none() | DAYS,
    depositor_institution_id=st.none() | st.sampled_from(DEPOSITORS),
)


def _fill(vault: Vault, person_id: str) -> None:
    """Thirty deposits' parts, each beside the image record it was built from."""
    pick = random.Random(17)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with transaction(vault.engine) as session:
        for n in range(30):
            day = FIRST + timedelta(days=pick.randrange(365))
            depositor = pick.choice(DEPOSITORS)
            session.add(
                Record(
                    id=f"r{n}",
                    person_id=person_id,
                    category=str(Category.RADIOLOGY_IMAGES),
                    source=str(Source.PERSONAL_FOLDER),
                    clinical_date=day,
                    depositor_institution_id=depositor,
                    content_type="application/dicom",
                    size=1,
                    digest="",
                    title_sealed=b"-",
                    blob_name=f"b{n}",
                    state=COMMITTED,
                    created_at=now,
                )
            )
            session.add(
                DicomStudyPart(
                    person_id=person_id,
                    study_key=f"{n:064x}",
                    deposit_id=f"r{n}",  # the part of record rN
                    clinical_date=day,
                    depositor_institution_id=depositor,
                    document_sealed=b"-",
                    created_at=now,
                )
            )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(visible=FILTERS)
def test_parts_are_visible_exactly_as_their_records(vault: Vault, visible: RecordFilter) -> None:
    person_id = _person(vault)
    with Session(vault.engine) as session:
        records = session.exec(
            select(Record.id).where(
                Record.person_id == person_id,
                col(Record.blob_name).is_not(None),
                *visible.predicates(),
            )
        ).all()
        parts = [p.deposit_id for p in visible_parts(session, person_id, visible)]
    assert sorted(parts) == sorted(records)


_PEOPLE: dict[int, str] = {}


def _person(vault: Vault) -> str:
    """One filled person per vault (hypothesis reuses the function's fixture)."""
    if id(vault) not in _PEOPLE:
        _PEOPLE[id(vault)] = make_person(vault)
        _fill(vault, _PEOPLE[id(vault)])
    return _PEOPLE[id(vault)]
