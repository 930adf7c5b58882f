"""The person's own account (R1), for the person or a caregiver acting for them (R2):
the profile, the access log and the notifications — plus :class:`AccountUseCase`, the
decide-then-act pattern the consent and caregiver use-cases share.

Every use-case runs one transaction: decide → audit → act → commit, and raises only after
the commit, so a refusal is in the audit log too. Two kinds of refusal:

* the caller may not act for this person at all (not the person, no active delegation, an
  unknown or erased person): :class:`~vault.core.errors.NotFound`, the same as for a person who
  does not exist — a would-be caregiver learns nothing about anyone's account (R10);
* the person (or their caregiver) may not do *this*: :class:`AccountDenied`, carrying the
  policy's reason — it is about their own account, so they may be told why.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from policies.model import Decision
from policies.vocabulary import Action, Reason
from vault.access.judge import Ask, Caller, Judge
from vault.core.errors import Denied, NotFound, VaultError
from vault.crypto import aad
from vault.registry.persons import person_name
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.tables import AuditEntry, Notification, Person

T = TypeVar("T")
MAX_PAGE = 200

# Denials meaning "you may not act for this person at all": answered like a missing person.
_INVISIBLE = frozenset(
    {
        Reason.UNKNOWN_PERSON,
        Reason.NOT_OWNER,
        Reason.NO_DELEGATION,
        Reason.DELEGATION_REVOKED,
        Reason.DELEGATION_EXPIRED,
    }
)


class AccountDenied(Denied):
    """The policy refused an action on the caller's own account (or their cared-for
    person's). ``reason`` is about that account, so the API may show it."""

    def __init__(self, action: Action, reason: Reason) -> None:
        super().__init__(str(action))
        self.reason = reason


class AccountConflict(VaultError):
    """The action does not fit the current state (e.g. renewing a revoked consent)."""

    code = "conflict"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AccountInvalid(VaultError):
    """The request names something unusable (e.g. an unknown caregiver)."""

    code = "invalid"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def refusal(action: Action, decision: Decision) -> VaultError:
    """The error for a denied ``decision`` (see the module docstring)."""
    if decision.reason in _INVISIBLE:
        return NotFound("no such person")
    return AccountDenied(action, decision.reason)


class AccountUseCase:
    """Base of the account use-cases: holds the judge; :meth:`run` is decide-then-act."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.vault: Vault = judge.vault
        self.policy = judge.policy

    def run(
        self,
        caller: Caller,
        ask: Ask | Callable[[Session], Ask],
        work: Callable[[Session, datetime], T],
    ) -> T:
        """Decide ``ask`` (or the ask built from what the session holds), audit it, and if
        allowed run ``work(session, now)`` — all in one transaction. A :class:`VaultError`
        from ``work`` undoes only ``work`` (a savepoint): the decision stays audited, and
        the error is raised after the commit, as is a refusal."""
        now = self.judge.now()
        outcome: tuple[T] | VaultError | None = None
        with transaction(self.vault.engine) as session:
            question = ask if isinstance(ask, Ask) else ask(session)
            decision = self.judge.decide(session, caller, question, now)
            if decision.allowed:
                try:
                    with session.begin_nested():
                        outcome = (work(session, now),)
                except VaultError as exc:
                    outcome = exc
        if isinstance(outcome, VaultError):
            raise outcome
        if outcome is None:
            raise refusal(question.action, decision)
        return outcome[0]


# --- paging ------------------------------------------------------------------------------


class InvalidCursor(VaultError):
    """A ``cursor`` that is not a ``next_cursor`` this server gave out."""

    code = "invalid_cursor"


def encode_cursor(*parts: str | int) -> str:
    raw = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_parts(cursor: str) -> list[object]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception:
        raise InvalidCursor("malformed cursor") from None
    if not isinstance(parts, list):
        raise InvalidCursor("malformed cursor")
    return parts


def seq_cursor(cursor: str | None) -> int | None:
    """The audit ``seq`` a :func:`encode_cursor` ``(seq)`` cursor continues before."""
    if cursor is None:
        return None
    parts = _cursor_parts(cursor)
    if len(parts) != 1 or not isinstance(parts[0], int) or isinstance(parts[0], bool):
        raise InvalidCursor("malformed cursor")
    return parts[0]


def instant_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The ``(at, id)`` a :func:`encode_cursor` ``(at, id)`` cursor continues before."""
    if cursor is None:
        return None
    parts = _cursor_parts(cursor)
    if len(parts) != 2 or not all(isinstance(p, str) for p in parts):
        raise InvalidCursor("malformed cursor")
    try:
        at = datetime.fromisoformat(str(parts[0]))
    except ValueError:
        raise InvalidCursor("malformed cursor") from None
    if at.tzinfo is None:
        raise InvalidCursor("malformed cursor")
    return at, str(parts[1])


# --- the profile, the access log, the notifications --------------------------------------


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    date_of_birth: date
    joined: bool


@dataclass(frozen=True)
class AccessLogPage:
    entries: Sequence[AuditEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class NotificationView:
    notification: Notification
    detail: str | None  # e.g. an OTP: opened with the person's key, shown only to them


@dataclass(frozen=True)
class NotificationPage:
    items: Sequence[NotificationView]
    next_cursor: str | None


class Account(AccountUseCase):
    def profile(self, caller: Caller, person_id: str) -> Profile:
        def work(session: Session, now: datetime) -> Profile:
            person = session.get(Person, person_id)
            if person is None:
                raise NotFound("no such person")
            joined = person.joined_at is not None and person.joined_at <= now
            name = person_name(session, self.vault.keys, person)
            return Profile(person.id, name, person.date_of_birth, joined)

        return self.run(caller, Ask(Action.READ_PROFILE, person_id), work)

    def access_log(
        self, caller: Caller, person_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> AccessLogPage:
        """Every audited decision about the person, newest first, keyset-paged by ``seq``."""
        before = seq_cursor(cursor)
        limit = max(1, min(limit, MAX_PAGE))

        def work(session: Session, now: datetime) -> AccessLogPage:
            query = select(AuditEntry).where(AuditEntry.person_id == person_id)
            if before is not None:
                query = query.where(col(AuditEntry.seq) < before)
            rows = session.exec(query.order_by(col(AuditEntry.seq).desc()).limit(limit + 1))
            entries = list(rows)
            more = len(entries) > limit
            page = entries[:limit]
            return AccessLogPage(page, encode_cursor(page[-1].seq) if more else None)

        return self.run(caller, Ask(Action.READ_ACCESS_LOG, person_id), work)

    def notifications(
        self, caller: Caller, person_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> NotificationPage:
        """The person's notifications, newest first; sealed details opened for them."""
        after = instant_cursor(cursor)
        limit = max(1, min(limit, MAX_PAGE))

        def work(session: Session, now: datetime) -> NotificationPage:
            query = select(Notification).where(Notification.person_id == person_id)
            if after is not None:
                at, ident = after
                query = query.where(
                    or_(
                        col(Notification.at) < at,
                        and_(col(Notification.at) == at, col(Notification.id) < ident),
                    )
                )
            order = (col(Notification.at).desc(), col(Notification.id).desc())
            rows = list(session.exec(query.order_by(*order).limit(limit + 1)))
            more = len(rows) > limit
            page = rows[:limit]
            items = [NotificationView(n, self._detail(session, n)) for n in page]
            last = page[-1] if more else None
            cursor_out = encode_cursor(last.at.isoformat(), last.id) if last else None
            return NotificationPage(items, cursor_out)

        return self.run(caller, Ask(Action.READ_NOTIFICATIONS, person_id), work)

    def _detail(self, session: Session, notification: Notification) -> str | None:
        if notification.detail_sealed is None:
            return None
        key = self.vault.keys.get(session, notification.person_id)
        plain = key.open(notification.detail_sealed, aad=aad.notification_detail(notification.id))
        return plain.decode()
