"""Demo data for ``CROSSVAULT_DEMO=1`` (``make run``): a few people, professionals at
HA, a private hospital and HKU-Shenzhen Hospital, institution credentials, and HA records
spread over five years. Idempotent: seeding twice changes nothing.

The demo's passwords and client secrets are fixed and documented (README) so the curl
walkthrough can be pasted as is. They exist only in demo mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from vault.crypto.passwords import hash_password
from vault.records.sealed import NewRecord, add_record
from vault.registry.institutions import (
    ADMIN,
    CLIENT,
    NewCredential,
    NewProfessional,
    add_professional,
    store_credential,
)
from vault.registry.persons import NewPerson, create_person
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.tables import InstitutionCredential, Person, Professional


@dataclass(frozen=True)
class DemoPerson:
    id: str
    name: str
    date_of_birth: date
    password: str


@dataclass(frozen=True)
class DemoProfessional:
    id: str
    institution_id: str
    name: str
    profession: str


PEOPLE = (
    DemoPerson("demo-chan", "Chan Tai Man", date(1951, 3, 14), "demo-password-chan"),
    DemoPerson("demo-lee", "Lee Mei Ling", date(1986, 9, 2), "demo-password-lee"),
    DemoPerson("demo-lee-junior", "Lee Ka Ho", date(2016, 1, 20), "demo-password-junior"),
)
PROFESSIONALS = (
    DemoProfessional("demo-ha-doctor", "ha", "Dr Wong Siu Ling", "doctor"),
    DemoProfessional("demo-hksh-doctor", "hksh", "Dr Ho Chi Keung", "doctor"),
    DemoProfessional("demo-hksh-nurse", "hksh", "Nurse Lam Wing Sze", "nurse"),
    DemoProfessional("demo-hkusz-doctor", "hku_sz", "Dr Zhang Wei", "doctor"),
    DemoProfessional("demo-clifford-doctor", "guangdong_clifford", "Dr Li Na", "doctor"),
)
ONBOARDED = ("ha", "hksh", "hku_sz", "guangdong_clifford")
# The institutions' client credentials (their professionals' tokens) and, because the
# seeded institutions are already onboarded, their admin clients (R9: an institution
# manages its own staff).
CREDENTIALS = {iid: (f"demo-{iid}", f"demo-secret-{iid}") for iid in ONBOARDED}
ADMIN_CREDENTIALS = {iid: (f"demo-admin-{iid}", f"demo-admin-secret-{iid}") for iid in ONBOARDED}
HA_RECORDS = (  # (category, clinical date, title, content)
    (
        "diagnosis_procedure",
        date(2021, 4, 12),
        "Type 2 diabetes mellitus",
        "E11.9, diet-controlled",
    ),
    ("lab_report", date(2021, 4, 12), "Glycated haemoglobin", "HbA1c 7.2%"),
    ("medication", date(2022, 1, 5), "Metformin 500 mg", "500 mg twice daily with meals"),
    ("encounter", date(2022, 11, 28), "Diabetic clinic follow-up", "Seen at Queen Mary GOPC"),
    ("lab_report", date(2023, 6, 19), "Lipid profile", "LDL-C 2.9 mmol/L"),
    ("radiology_report", date(2024, 2, 29), "Chest X-ray", "No active lung lesion"),
    ("allergy", date(2024, 8, 3), "Penicillin allergy", "Urticaria after amoxicillin (2024)"),
    ("clinical_note", date(2025, 3, 17), "Discharge summary", "Admitted for cellulitis, 5 days"),
    ("lab_report", date(2025, 10, 2), "Glycated haemoglobin", "HbA1c 6.4%"),
)


def seed(vault: Vault, *, now: datetime) -> bool:
    """Seed the demo once; returns False when it was already there."""
    with Session(vault.engine) as session:
        if session.get(Person, PEOPLE[0].id) is not None:
            return False
    hashes = {p.id: hash_password(p.password) for p in PEOPLE}  # argon2id before the lock
    credentials = [
        NewCredential.made(iid, kind, client_id, secret)[0]
        for kind, table in ((CLIENT, CREDENTIALS), (ADMIN, ADMIN_CREDENTIALS))
        for iid, (client_id, secret) in table.items()
    ]
    with transaction(vault.engine) as session:
        for p in PEOPLE:
            new = NewPerson(p.name, p.date_of_birth, joined=True, person_id=p.id)
            create_person(session, vault.keys, new, password_hash=hashes[p.id], now=now)
        for credential in credentials:
            if session.get(InstitutionCredential, credential.client_id) is None:
                store_credential(session, credential, now=now)
        for d in PROFESSIONALS:
            if session.get(Professional, d.id) is None:
                new_professional = NewProfessional(d.name, d.profession, d.id)
                add_professional(session, d.institution_id, new_professional, now=now)
        _seed_records(session, vault, now)
    return True


def _seed_records(session: Session, vault: Vault, now: datetime) -> None:
    for category, clinical, title, content in HA_RECORDS:
        add_record(
            session,
            vault.keys,
            PEOPLE[0].id,
            NewRecord(
                category=category,
                source="ehr",
                clinical_date=clinical,
                title=title,
                content=content.encode(),
                content_type="text/plain",
                depositor_institution_id="ha",
                depositor_professional_id="demo-ha-doctor",
            ),
            now=now,
        )
