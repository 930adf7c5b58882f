"""Counting failed guesses per client, and locking a client out for a while.

Guessable secrets (cross-border passcodes, restricted-access OTPs) are protected twice:

* **per secret** — the row holding the secret counts its own failures and is locked for
  good after :data:`MAX_SECRET_FAILURES` (``CrossBorderAuthorisation.locked_at``,
  ``RestrictedAccessRequest.locked_at``; see :mod:`vault.cross_border.sessions`,
  :mod:`vault.restricted.requests`);
* **per client** — a :class:`Throttle` counts failures per ``(scope, key)`` in
  :class:`~vault.store.tables.AttemptCounter` (e.g. per professional, per institution) and,
  at the limit, locks that key until ``locked_until``.

A client counter counts the failures within a window and starts afresh when its lock
ends; only where its limit says so (logins) does a success clear it. Every
update happens in the caller's transaction, so it commits together with the audit entry
of the failure it counts (and survives the refusal that follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from vault.core.errors import VaultError
from vault.store.statements import Prepared
from vault.store.tables import AttemptCounter

MAX_SECRET_FAILURES = 5
"""Failed guesses after which a code pair or an OTP request is locked for good."""


class LockedOut(VaultError):
    """Too many failed guesses. ``until``: when the client may try again; ``None`` when
    the secret itself is locked (the person must issue a new one)."""

    code = "locked_out"

    def __init__(self, until: datetime | None, detail: str) -> None:
        super().__init__(detail)
        self.until = until


@dataclass(frozen=True)
class Limit:
    """``failures`` failed attempts within ``window`` lock the key for ``lock_for``.

    ``growth``: each later lock of the same key lasts that many times longer (up to
    ``longest``). ``forgiven_by_success``: a success clears the count (a login: the count
    is of *consecutive* failures). Left ``False`` for code guessing, where a professional's
    own valid code pair must not wash away the wrong ones tried in between.
    """

    failures: int
    lock_for: timedelta
    window: timedelta | None = None  # None: as long as ``lock_for``
    growth: float = 1.0
    longest: timedelta | None = None
    forgiven_by_success: bool = False

    def __post_init__(self) -> None:
        if self.failures < 1 or self.lock_for <= timedelta(0) or self.growth < 1:
            raise ValueError("a limit needs at least one failure and a positive lock time")

    def lock_length(self, lockouts: int) -> timedelta:
        """How long the key's ``lockouts``-th earlier lock makes the next one last."""
        length = self.lock_for * (self.growth ** min(lockouts, 30))
        return min(length, self.longest) if self.longest is not None else length

    @property
    def counting_window(self) -> timedelta:
        return self.window if self.window is not None else self.lock_for


@dataclass(frozen=True)
class Throttle:
    """Failed attempts of one kind (``scope``), counted per key (e.g. a professional id)."""

    scope: str
    limit: Limit

    def locked_until(self, session: Session, key: str, now: datetime) -> datetime | None:
        """The end of the key's lock if it is locked at ``now``; else ``None``."""
        row = _COUNTER.first(session, self._keyed(key))
        locked_until: datetime | None = row[1] if row is not None else None
        if locked_until is None or locked_until <= now:
            return None
        return locked_until

    def fail(self, session: Session, key: str, now: datetime) -> datetime | None:
        """Count one failure. Returns the lock's end if this failure locked the key."""
        row = _counter_for_update(session, self.scope, key)
        ended = row.locked_until is not None and row.locked_until <= now
        stale = row.window_start is None or row.window_start + self.limit.counting_window <= now
        if ended or (row.locked_until is None and stale):
            row.failures, row.locked_until, row.window_start = 0, None, now  # start afresh
        row.failures += 1
        locked = None
        if row.locked_until is None and row.failures >= self.limit.failures:
            row.locked_until = locked = now + self.limit.lock_length(row.lockouts)
            row.lockouts += 1
        session.add(row)
        session.flush()
        return locked

    def succeed(self, session: Session, key: str, now: datetime) -> None:
        """A success forgives the key's failures and its earlier locks, if the limit says
        so (a lock still in force is left alone)."""
        if not self.limit.forgiven_by_success:
            return
        row = _COUNTER.first(session, self._keyed(key))
        if row is None:
            return
        failures, locked_until, lockouts = row
        if locked_until is not None and locked_until > now:
            return
        if failures or locked_until is not None or lockouts:
            forgiven = {"failures": 0, "locked_until": None, "lockouts": 0}
            _FORGIVE.run(session, {**self._keyed(key), **forgiven})

    def _keyed(self, key: str) -> dict[str, str]:
        return {"counter_scope": self.scope, "counter_key": key}

    def failures(self, session: Session, key: str) -> int:
        row = _COUNTER.first(session, self._keyed(key))
        return 0 if row is None else int(row[0])


# Read on every login and code guess (prepared: see vault.store.statements); the
# counter rows are written through the ORM only when a guess fails.
_KEYED = (
    col(AttemptCounter.scope) == bindparam("counter_scope"),
    col(AttemptCounter.key) == bindparam("counter_key"),
)
_COUNTER = Prepared(
    sa_select(
        col(AttemptCounter.failures), col(AttemptCounter.locked_until), col(AttemptCounter.lockouts)
    ).where(*_KEYED)
)
_FORGIVE = Prepared(update(AttemptCounter).where(*_KEYED))


def _counter_for_update(session: Session, scope: str, key: str) -> AttemptCounter:
    """The counter row, created if missing, locked for the rest of the transaction.

    ``INSERT … ON CONFLICT DO NOTHING`` then ``SELECT … FOR UPDATE``: two first failures
    racing on PostgreSQL both end up counting on the one row (SQLite serialises writers).
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.exec(
        insert(AttemptCounter)
        .values(scope=scope, key=key, failures=0, lockouts=0)
        .on_conflict_do_nothing(index_elements=["scope", "key"])
    )
    return session.exec(
        select(AttemptCounter)
        .where(AttemptCounter.scope == scope, AttemptCounter.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
