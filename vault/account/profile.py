"""The person's own account (R1), for the person or a caregiver acting for them (R2):
the profile, the access log and the notifications. Each read runs the one use-case
skeleton (:class:`~vault.access.usecase.UseCase`), so a would-be caregiver without a
delegation gets the same ``NotFound`` as for a person who does not exist (R10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from policies.vocabulary import Action
from vault.access import paging
from vault.access.judge import Ask, Caller
from vault.access.usecase import UseCase
from vault.account.pages import LoggedDecision, Notice, decisions_page, notices_page
from vault.audit.proofs import ChainProof, prove
from vault.core.errors import NotFound
from vault.crypto import aad
from vault.registry.persons import person_name
from vault.store.tables import Person

# --- the profile, the access log, the notifications --------------------------------------


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    date_of_birth: date
    joined: bool


@dataclass(frozen=True)
class AccessLogPage:
    entries: Sequence[LoggedDecision]
    next_cursor: str | None
    proof: ChainProof  # the person's chain head and its inclusion in the latest checkpoint


@dataclass(frozen=True)
class NotificationView:
    notification: Notice
    detail: str | None  # e.g. an OTP: opened with the person's key, shown only to them


@dataclass(frozen=True)
class NotificationPage:
    items: Sequence[NotificationView]
    next_cursor: str | None


class Account(UseCase):
    def profile(self, caller: Caller, person_id: str) -> Profile:
        def work(session: Session, now: datetime) -> Profile:
            person = session.get(Person, person_id)
            if person is None:
                raise NotFound("no such person")
            joined = person.joined_at is not None and person.joined_at <= now
            name = person_name(session, self.vault.keys, person)
            return Profile(person.id, name, person.date_of_birth, joined)

        return self.run(caller, Ask(Action.READ_PROFILE, person_id), work, savepoint=False)

    def access_log(
        self, caller: Caller, person_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> AccessLogPage:
        """Every audited decision about the person (their own chain), newest first,
        keyset-paged by ``seq``, with the chain's head and its proof of inclusion."""
        before = paging.seq(cursor)
        limit = max(1, min(limit, paging.MAX_PAGE))

        def work(session: Session, now: datetime) -> AccessLogPage:
            entries = decisions_page(session, person_id, before, limit + 1)
            more = len(entries) > limit
            page = entries[:limit]
            cursor_out = paging.encode(page[-1].seq) if more else None
            return AccessLogPage(page, cursor_out, prove(session, person_id))

        # the work only reads: nothing for a savepoint to undo
        ask = Ask(Action.READ_ACCESS_LOG, person_id)
        return self.run(caller, ask, work, savepoint=False)

    def notifications(
        self, caller: Caller, person_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> NotificationPage:
        """The person's notifications, newest first; sealed details opened for them."""
        after = paging.instant_and_id(cursor)
        limit = max(1, min(limit, paging.MAX_PAGE))

        def work(session: Session, now: datetime) -> NotificationPage:
            rows = notices_page(session, person_id, after, limit + 1)
            more = len(rows) > limit
            page = rows[:limit]
            items = [NotificationView(n, self._detail(session, n)) for n in page]
            last = page[-1] if more else None
            cursor_out = paging.encode(last.at.isoformat(), last.id) if last else None
            return NotificationPage(items, cursor_out)

        ask = Ask(Action.READ_NOTIFICATIONS, person_id)
        return self.run(caller, ask, work, savepoint=False)  # it only reads

    def _detail(self, session: Session, notification: Notice) -> str | None:
        if notification.detail_sealed is None:
            return None
        key = self.vault.keys.get(session, notification.person_id)
        plain = key.open(notification.detail_sealed, aad=aad.notification_detail(notification.id))
        return plain.decode()
