"""One data key per person, stored wrapped by the keyring's current version.

The wrap's AAD binds the key to its person and keyring version, so a wrapped key copied
to another person's row (or relabelled with another version) fails to unwrap. Unwrapped
keys live in a small, bounded, short-lived cache (:class:`DataKeyCache`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from vault.core.errors import PersonErased
from vault.crypto import aad
from vault.crypto.envelope import SealingKey
from vault.keys.keyring import KeyEncryptionKeys
from vault.store.statements import Prepared
from vault.store.tables import PersonDataKey

DEFAULT_CACHE_SIZE = 1024
DEFAULT_CACHE_TTL_SECONDS = 60.0


class DataKeyCache:
    """A bounded LRU of unwrapped keys whose entries expire after ``ttl_seconds``."""

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_CACHE_SIZE,
        ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[tuple[str, int], tuple[float, SealingKey]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, person_id: str, version: int) -> SealingKey | None:
        with self._lock:
            entry = self._entries.get((person_id, version))
            if entry is None:
                return None
            if self._clock() >= entry[0]:
                del self._entries[(person_id, version)]
                return None
            self._entries.move_to_end((person_id, version))
            return entry[1]

    def put(self, person_id: str, version: int, key: SealingKey) -> None:
        with self._lock:
            self._entries[(person_id, version)] = (self._clock() + self._ttl, key)
            self._entries.move_to_end((person_id, version))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget(self, person_id: str) -> None:
        with self._lock:
            for cached in [k for k in self._entries if k[0] == person_id]:
                del self._entries[cached]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class DataKeys:
    """Creates, unwraps, re-wraps and destroys persons' data keys."""

    def __init__(self, kek: KeyEncryptionKeys, cache: DataKeyCache | None = None) -> None:
        self.kek = kek
        self.cache = cache or DataKeyCache()

    def create(self, session: Session, person_id: str, *, now: datetime) -> SealingKey:
        key = SealingKey.generate()
        version = self.kek.current_version
        while True:  # the AAD names the version: if a rotation landed in between, wrap again
            used, wrapped = self.kek.wrap(key.raw(), aad=aad.data_key(person_id, version))
            if used == version:
                break
            version = used
        session.add(
            PersonDataKey(person_id=person_id, key_version=version, wrapped=wrapped, created_at=now)
        )
        self.cache.put(person_id, version, key)
        return key

    def get(self, session: Session, person_id: str) -> SealingKey:
        """The person's key; :class:`PersonErased` if it was destroyed."""
        row = _WRAPPED_KEY.first(session, {"person": person_id})
        if row is None:
            raise PersonErased(f"person {person_id} has no data key")
        version, wrapped = row
        cached = self.cache.get(person_id, version)
        if cached is not None:
            return cached
        raw = self.kek.unwrap(version, wrapped, aad=aad.data_key(person_id, version))
        key = SealingKey(raw)
        self.cache.put(person_id, version, key)
        return key

    def rewrap(self, row: PersonDataKey, *, now: datetime) -> None:
        """Re-wrap one key under the current keyring version (rotation's unit of work)."""
        old = row.key_version
        raw = self.kek.unwrap(old, row.wrapped, aad=aad.data_key(row.person_id, old))
        new_version = self.kek.current_version
        _, row.wrapped = self.kek.wrap(raw, aad=aad.data_key(row.person_id, new_version))
        row.key_version = new_version
        row.rewrapped_at = now
        self.cache.forget(row.person_id)

    def destroy(self, session: Session, person_id: str) -> None:
        row = session.get(PersonDataKey, person_id)
        if row is not None:
            session.delete(row)
        self.cache.forget(person_id)


_WRAPPED_KEY = Prepared(
    sa_select(col(PersonDataKey.key_version), col(PersonDataKey.wrapped)).where(
        col(PersonDataKey.person_id) == bindparam("person")
    )
)
