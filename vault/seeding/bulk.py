"""Bulk seeding (``crossvault seed``): synthetic people and eHRs at volume, sealed exactly as
deposits are, written with PostgreSQL ``COPY`` (batched ``INSERT`` on SQLite).

Each person gets a fresh data key wrapped by the keyring (:meth:`DataKeys.create`'s
wrapping, with its AAD) and a sealed name; each record its title and body sealed with
that key under :func:`vault.records.sealed.field_aad` — the same AAD a deposit uses — and
the digest of its sealed body. Rows are built from the SQLModel tables' own columns and
bind processors, so the seeder follows the schema.

**Deterministic by seed**: ids, names, dates of birth, categories, clinical dates, titles
and contents of batch *n* all come from ``random.Random(f"{seed}/{n}")``, so they are the
same whatever the number of processes; the ciphertexts are not (fresh data keys and
random nonces, as sealing must).

**Processes (PostgreSQL).** With ``processes`` > 1 each worker process opens the vault
from the same settings and seals *and* copies whole batches over its own connection:
sealing is Python (one core per process) and PostgreSQL parses each ``COPY`` in its own
backend, so batches go side by side. On SQLite (one writer) one process seals while a
thread writes, as before.

**Audit**: seeded records are history imported into the vault (like the demo's), not
decisions taken by it, so no audit entry is written for them: every audit chain stays as
it was and ``crossvault audit verify`` still passes. A deposit through the API writes one
entry (its decision) to the person's chain; the bench and ``docs/scale-out.md`` count
audit volume from the API's rate, not from seeding.

Every seeded person's password is :data:`SEEDED_PASSWORD` (one argon2id hash computed
once: hashing per person would cost ~50 ms each); they exist for measurements only.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, func, select

from vault.core.settings import Settings
from vault.crypto import aad
from vault.crypto.aad import RecordField
from vault.crypto.envelope import SealingKey
from vault.crypto.passwords import hash_password
from vault.records.sealed import COMMITTED
from vault.runtime.opening import Vault
from vault.store.tables import Person, PersonDataKey, Record

SEEDED_PASSWORD = "seeded-person-password"
PERSONS_PER_BATCH = 1000
CATEGORIES = ("lab_report", "clinical_note", "medication", "encounter", "diagnosis_procedure")
INSTITUTIONS = ("ha", "hksh", "matilda")
FIRST_DAY = date(2010, 1, 1)


class DatabaseNotEmpty(Exception):
    """``seed`` into a database that already holds people, without ``--add``."""


@dataclass(frozen=True)
class SeedPlan:
    persons: int
    records_per_person: int
    seed: int = 0
    add: bool = False


@dataclass(frozen=True)
class SeedReport:
    persons: int
    records: int
    seconds: float
    backend: str

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Synthetic:
    """Row values for one batch of people: the persons, data keys and records."""

    persons: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    records: list[dict[str, Any]]


class _Maker:
    """Deterministic synthetic content, sealed with fresh keys."""

    def __init__(self, vault: Vault, plan: SeedPlan, now: datetime) -> None:
        self.vault, self.plan, self.now = vault, plan, now
        self.rng = random.Random(plan.seed)
        self.password_hash = hash_password(SEEDED_PASSWORD)
        self.version = vault.keys.kek.current_version

    def _id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def batch(self, index: int, persons: int) -> _Synthetic:
        """Batch ``index`` (its content depends on the seed and ``index`` only)."""
        self.rng = random.Random(f"{self.plan.seed}/{index}")
        made = _Synthetic([], [], [])
        for _ in range(persons):
            self._person(made)
        return made

    def _person(self, made: _Synthetic) -> None:
        pid = self._id()
        key = SealingKey.generate()
        _, wrapped = self.vault.keys.kek.wrap(key.raw(), aad=aad.data_key(pid, self.version))
        name = f"Seeded Person {self.rng.randrange(10**8):08d}"
        born = FIRST_DAY - timedelta(days=self.rng.randrange(365 * 90))
        made.persons.append(
            {
                **PERSON_DEFAULTS,
                "id": pid,
                "name_sealed": key.seal(name.encode(), aad=aad.person_name(pid)),
                "date_of_birth": born,
                "password_hash": self.password_hash,
                "joined_at": self.now,
                "created_at": self.now,
                "erased_at": None,
            }
        )
        made.keys.append(
            {
                **KEY_DEFAULTS,
                "person_id": pid,
                "key_version": self.version,
                "wrapped": wrapped,
                "created_at": self.now,
                "rewrapped_at": None,
            }
        )
        for _ in range(self.plan.records_per_person):
            made.records.append(self._record(key, pid))

    def _record(self, key: SealingKey, pid: str) -> dict[str, Any]:
        rng = self.rng
        rid, category = self._id(), rng.choice(CATEGORIES)
        clinical_date = FIRST_DAY + timedelta(days=rng.randrange(365 * 16))
        content = f"{category} {rng.randrange(10**6):06d}: synthetic eHR entry".encode()
        title = f"{category.replace('_', ' ').capitalize()} {rng.randrange(1000)}"

        record_aad = aad.record(pid, rid, category, clinical_date)  # as aad.record_field

        def sealed(plain: bytes, field: RecordField) -> bytes:
            return key.seal(plain, aad=record_aad + b"\x00" + field.encode())

        body = sealed(content, RecordField.BODY)
        return {
            **RECORD_DEFAULTS,
            "id": rid,
            "person_id": pid,
            "category": category,
            "source": "ehr",
            "clinical_date": clinical_date,
            "depositor_institution_id": rng.choice(INSTITUTIONS),
            "content_type": "text/plain",
            "size": len(content),
            "digest": hashlib.sha256(body).hexdigest(),
            "title_sealed": sealed(title.encode(), RecordField.TITLE),
            "body_sealed": body,
            "state": COMMITTED,
            "created_at": self.now,
        }


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _defaults(table: Table) -> dict[str, Any]:
    """Every column's scalar default (``None`` if it has none): the seeder fills in what
    it knows on top, so a column added later still gets a value."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        scalar = default is not None and getattr(default, "is_scalar", False)
        defaults[column.name] = getattr(default, "arg", None) if scalar else None
    return defaults


RECORD_DEFAULTS = _defaults(_table(Record))
PERSON_DEFAULTS = _defaults(_table(Person))
KEY_DEFAULTS = _defaults(_table(PersonDataKey))


def seed(
    vault: Vault,
    plan: SeedPlan,
    *,
    progress: Callable[[int], None] | None = None,
    processes: int = 1,
    settings: Settings | None = None,
) -> SeedReport:
    """Fill the vault's database per ``plan``; ``progress(records)`` after each batch.
    On PostgreSQL with ``processes`` > 1 and the ``settings`` the vault was opened with,
    worker processes seal and copy side by side. Raises :class:`DatabaseNotEmpty` if
    people exist and ``plan.add`` is false."""
    engine = vault.engine
    refuse_if_not_empty(engine, plan)
    now = datetime.now(UTC)
    began = time.perf_counter()
    backend = "sqlite" if _sqlite(engine) else "postgresql"
    if processes > 1 and settings is not None and not _sqlite(engine):
        records = _seed_in_processes(settings, plan, now, processes, progress)
    else:
        records = _seed_here(vault, plan, now, progress)
    return SeedReport(plan.persons, records, time.perf_counter() - began, backend)


def _seed_here(
    vault: Vault, plan: SeedPlan, now: datetime, progress: Callable[[int], None] | None
) -> int:
    """One process: this thread seals, a writer thread writes the batch before."""
    engine = vault.engine
    maker = _Maker(vault, plan, now)
    write = _insert_batch if _sqlite(engine) else _copy_batch
    records = 0
    # Two stages overlap: while one thread writes a batch (the database parses and stores
    # it in its own process; the driver waits on the socket without the GIL), this one
    # seals the next. Batches are made in order by one maker, so the output is unchanged.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-writer") as writer:
        written: tuple[Future[None], int] | None = None
        for index, size in enumerate(_batches(plan.persons)):
            made = maker.batch(index, size)
            if written is not None:
                records += _finished(written, progress)
            written = (writer.submit(write, engine, made), len(made.records))
        if written is not None:
            records += _finished(written, progress)
    return records


def _seed_in_processes(
    settings: Settings,
    plan: SeedPlan,
    now: datetime,
    processes: int,
    progress: Callable[[int], None] | None,
) -> int:
    """Worker processes each seal and copy whole batches (see the module docstring)."""
    context = multiprocessing.get_context("spawn")  # nothing of this process is shared
    records = 0
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_open_worker, initargs=(settings, plan, now)
    ) as pool:
        batches = [
            pool.submit(_seal_and_copy, n, size) for n, size in enumerate(_batches(plan.persons))
        ]
        for done in as_completed(batches):
            made = done.result()
            records += made
            if progress is not None:
                progress(made)
    return records


_WORKER: list[_Maker] = []  # the worker process's maker (over its own vault)


def _open_worker(settings: Settings, plan: SeedPlan, now: datetime) -> None:
    vault = Vault.open(settings)
    atexit.register(vault.close)
    _WORKER.append(_Maker(vault, plan, now))


def _seal_and_copy(index: int, size: int) -> int:
    maker = _WORKER[0]
    made = maker.batch(index, size)
    _copy_batch(maker.vault.engine, made)
    return len(made.records)


def _finished(written: tuple[Future[None], int], progress: Callable[[int], None] | None) -> int:
    """Wait for a batch's write (its error, if any, is raised here); its record count."""
    future, records = written
    future.result()
    if progress is not None:
        progress(records)
    return records


def refuse_if_not_empty(engine: Engine, plan: SeedPlan) -> None:
    """:class:`DatabaseNotEmpty` if people exist and ``plan.add`` is false."""
    with engine.connect() as connection:
        existing = connection.execute(select(func.count()).select_from(_table(Person))).scalar()
    if existing and not plan.add:
        raise DatabaseNotEmpty(f"the database already holds {existing} person(s)")


def _sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _batches(total: int) -> Iterator[int]:
    left = total
    while left > 0:
        size = min(PERSONS_PER_BATCH, left)
        yield size
        left -= size


def _tables(made: _Synthetic) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The batch's rows by table, in foreign-key order."""
    return [
        (_table(Person), made.persons),
        (_table(PersonDataKey), made.keys),
        (_table(Record), made.records),
    ]


def _driver_rows(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> Iterator[list[Any]]:
    """Each row as the driver takes it: through every column's bind processor, as an
    ``INSERT`` through SQLAlchemy would convert it."""
    columns = list(table.columns)
    processors = [c.type.bind_processor(engine.dialect) for c in columns]
    for row in rows:
        yield [
            p(row.get(c.name)) if p is not None else row.get(c.name)
            for p, c in zip(processors, columns, strict=True)
        ]


def _insert_batch(engine: Engine, made: _Synthetic) -> None:
    """SQLite: one ``executemany`` per table, one transaction per batch."""
    with engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for table, rows in _tables(made):
            names = ", ".join(f'"{c.name}"' for c in table.columns)
            marks = ", ".join("?" for _ in table.columns)
            statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
            cursor.executemany(statement, _driver_rows(engine, table, rows))


def _copy_batch(engine: Engine, made: _Synthetic) -> None:
    """PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3), one transaction per batch."""
    with engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for table, rows in _tables(made):
            names = ", ".join(f'"{c.name}"' for c in table.columns)
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for values in _driver_rows(engine, table, rows):
                    copy.write_row(values)
