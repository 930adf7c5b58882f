"""Cross-border viewing sessions (R4): redeeming an (application code, passcode) pair.

A Mainland professional scans the person's two QR codes; :meth:`ViewingSessions.open`
finds the authorisation by the SHA-256 of the application code, compares the passcode's
hash in constant time (against a dummy hash when the code is unknown, so the work is the
same), asks the policy (``OPEN_VIEWING_SESSION``: designation on the date, the
authorisation is for the caller's institution, active and processed) and opens a
:class:`~vault.store.tables.ViewingSession` bound to that professional. Reading through the
session is :class:`~vault.records.reading.Records` with ``session_id``; the policy applies
the lookback and ends the session with its authorisation (R8).

Guessing is limited (:mod:`vault.access.throttles`):

* per code pair: :data:`~vault.access.throttles.MAX_SECRET_FAILURES` failures lock the
  authorisation for good (``locked_at``); a success clears its count. The person is told
  and must apply again;
* per client: :data:`BY_PROFESSIONAL` (5 failures, 15 minutes) and
  :data:`BY_INSTITUTION` (20 failures, 15 minutes). The institution's limit is higher
  because all its professionals share it — at 5, one clerk's typos would shut a whole
  hospital out — yet it still bounds a stolen client secret, which can mint tokens for
  every professional of the institution.

Every failure and every lock-out is audited; a lock-out is notified to the person whose
codes were being tried. Codes issued for another institution are refused exactly like a
wrong pair (the audit keeps the real reason), and count as a failure. Failures are
committed before the refusal is raised.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from policies.dates import hk_date
from policies.vocabulary import Action, ActorKind, Reason
from vault.access.judge import Ask, Caller, Judge
from vault.access.throttles import MAX_SECRET_FAILURES, Limit, LockedOut, Throttle
from vault.core.errors import NotFound, VaultError
from vault.core.ids import new_id
from vault.crypto.passwords import code_hash, same_code
from vault.crypto.secrets import Secret
from vault.store import audit
from vault.store.engine import reading, transaction
from vault.store.statements import Prepared
from vault.store.tables import CrossBorderAuthorisation, ViewingSession

BY_PROFESSIONAL = Throttle("cross_border_professional", Limit(5, timedelta(minutes=15)))
BY_INSTITUTION = Throttle("cross_border_institution", Limit(20, timedelta(minutes=15)))

# Audit reasons for events decided outside the policy, and notification events.
UNKNOWN_CODE = "unknown_application_code"
WRONG_PASSCODE = "wrong_passcode"
CODE_LOCKED = "codes_locked"  # an attempt on a locked pair
CLIENT_LOCKED = "client_locked"  # an attempt while the client is locked out
CODE_LOCKED_OUT = "codes_locked_out"  # the failure that locked the pair
CLIENT_LOCKED_OUT = "client_locked_out"  # the failure that locked the client
SESSION_OPENED = "cross_border_session_opened"
LOCKED_OUT_EVENT = "cross_border_locked_out"

_UNKNOWN_PASSCODE_HASH = code_hash(secrets.token_urlsafe(32))


class InvalidCodes(VaultError):
    """The pair does not open a session here. Never says which of the two was wrong,
    nor whether the pair is valid for another institution."""

    code = "invalid_codes"

    def __init__(self) -> None:
        super().__init__("the application code and passcode were not accepted")


class SessionRefused(VaultError):
    """The pair is right and for the caller's institution, but the policy refused:
    the institution is not designated today, or the authorisation is not active."""

    code = "session_refused"

    def __init__(self, reason: Reason) -> None:
        super().__init__(f"viewing session refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class CodePair:
    """What the professional scanned. Both values stay masked in logs and reprs."""

    application_code: Secret[str]
    passcode: Secret[str]

    @classmethod
    def of(cls, application_code: str, passcode: str) -> CodePair:
        return cls(Secret(application_code.strip()), Secret(passcode.strip()))


@dataclass(frozen=True)
class OpenedSession:
    id: str
    person_id: str
    expires_at: datetime
    visible_since: date


class ViewingSessions:
    """Opens viewing sessions and resolves them for their own professional."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.policy = judge.policy
        self.engine = judge.vault.engine

    def open(self, caller: Caller, codes: CodePair) -> OpenedSession:
        """Redeem ``codes``. Raises :class:`InvalidCodes`, :class:`LockedOut` or
        :class:`SessionRefused` — after committing the audit and the counters."""
        now = self.judge.now()
        with transaction(self.engine) as session:
            audit.lock_head(session)  # the global order: head first, then rows
            outcome = self._open(session, caller, codes, now)
        if isinstance(outcome, VaultError):
            raise outcome
        return outcome

    def person_of(self, caller: Caller, session_id: str, action: Action) -> str:
        """The person whose records ``session_id`` shows, if it is the caller's session.
        Anyone else's session (or none) is :class:`NotFound` — and audited if it exists."""
        actor = caller.actor
        with reading(self.engine) as session:
            found = _SESSION_PARTIES.first(session, {"id": session_id})
        if found is None:
            raise NotFound("no such viewing session")
        person_id: str = found[0]
        professional_id, institution_id = found[1], found[2]
        if (
            actor.kind is ActorKind.MAINLAND_PROFESSIONAL
            and professional_id == actor.professional_id
            and institution_id == actor.institution_id
        ):
            return person_id
        reason = (
            Reason.WRONG_PROFESSIONAL
            if institution_id == actor.institution_id
            else Reason.WRONG_INSTITUTION
        )
        ask = Ask(action, person_id, resource_id=session_id, session_id=session_id)
        with transaction(self.engine) as session:
            self.judge.record_event(
                session, caller, ask, allowed=False, reason=str(reason), now=self.judge.now()
            )
        raise NotFound("no such viewing session")

    # --- redeeming ----------------------------------------------------------------------

    def _open(
        self, session: Session, caller: Caller, codes: CodePair, now: datetime
    ) -> OpenedSession | VaultError:
        locked_until = self._client_locked_until(session, caller, now)
        if locked_until is not None:
            self._audit(session, caller, None, CLIENT_LOCKED, now)
            return LockedOut(locked_until)
        authorisation = session.exec(
            select(CrossBorderAuthorisation)
            .where(
                CrossBorderAuthorisation.application_code_hash
                == code_hash(codes.application_code.reveal())
            )
            .with_for_update()
        ).first()
        stored = authorisation.passcode_hash if authorisation else _UNKNOWN_PASSCODE_HASH
        matches = same_code(stored, codes.passcode.reveal())  # constant time, always done
        if authorisation is None:
            return self._failed(session, caller, None, UNKNOWN_CODE, now)
        if authorisation.locked_at is not None:
            self._audit(session, caller, authorisation, CODE_LOCKED, now)
            return LockedOut(None)
        if not matches:
            return self._failed(session, caller, authorisation, WRONG_PASSCODE, now)
        return self._decide(session, caller, authorisation, now)

    def _decide(
        self,
        session: Session,
        caller: Caller,
        authorisation: CrossBorderAuthorisation,
        now: datetime,
    ) -> OpenedSession | VaultError:
        actor = caller.actor
        session_id = new_id()
        ask = Ask(
            Action.OPEN_VIEWING_SESSION,
            authorisation.person_id,
            resource_id=session_id,
            authorisation_id=authorisation.id,
        )
        decision = self.judge.decide(session, caller, ask, now)
        if authorisation.institution_id != actor.institution_id:
            # Someone else's codes: the same answer as a wrong pair, and counted as one.
            return self._failed(session, caller, authorisation, None, now)
        if not decision.allowed:
            return SessionRefused(decision.reason)
        assert actor.institution_id is not None and actor.professional_id is not None
        authorisation.failed_attempts = 0
        session.add(authorisation)
        for throttle, key in self._client_keys(caller):
            throttle.succeed(session, key, now)
        row = ViewingSession(
            id=session_id,
            authorisation_id=authorisation.id,
            person_id=authorisation.person_id,
            institution_id=actor.institution_id,
            professional_id=actor.professional_id,
            opened_at=now,
            expires_at=self.policy.viewing_session_expires_at(now, authorisation.expires_at),
        )
        session.add(row)
        session.flush()
        seq = _last_seq(session)
        self.judge.notify(session, authorisation.person_id, caller, SESSION_OPENED, now, seq)
        since = decision.obligations.visible_since or self.policy.visible_since(hk_date(now))
        return OpenedSession(row.id, row.person_id, row.expires_at, since)

    # --- failures and lock-outs ---------------------------------------------------------

    def _client_keys(self, caller: Caller) -> tuple[tuple[Throttle, str], ...]:
        actor = caller.actor
        return (
            (BY_PROFESSIONAL, actor.professional_id or ""),
            (BY_INSTITUTION, actor.institution_id or ""),
        )

    def _client_locked_until(
        self, session: Session, caller: Caller, now: datetime
    ) -> datetime | None:
        ends = [t.locked_until(session, key, now) for t, key in self._client_keys(caller)]
        return max((end for end in ends if end is not None), default=None)

    def _failed(
        self,
        session: Session,
        caller: Caller,
        authorisation: CrossBorderAuthorisation | None,
        reason: str | None,
        now: datetime,
    ) -> VaultError:
        """Count a failed redemption (``reason``: audit it too) and lock what is due."""
        if reason is not None:
            self._audit(session, caller, authorisation, reason, now)
        pair_locked = False
        if authorisation is not None:
            authorisation.failed_attempts += 1
            if authorisation.failed_attempts >= MAX_SECRET_FAILURES:
                authorisation.locked_at, pair_locked = now, True
            session.add(authorisation)
        client_locks = [t.fail(session, key, now) for t, key in self._client_keys(caller)]
        client_until = max((end for end in client_locks if end is not None), default=None)
        if not pair_locked and client_until is None:
            return InvalidCodes()
        seq = 0
        if pair_locked:
            seq = self._audit(session, caller, authorisation, CODE_LOCKED_OUT, now)
        if client_until is not None:
            seq = self._audit(session, caller, authorisation, CLIENT_LOCKED_OUT, now)
        if authorisation is not None:
            self.judge.notify(session, authorisation.person_id, caller, LOCKED_OUT_EVENT, now, seq)
        return LockedOut(client_until)

    def _audit(
        self,
        session: Session,
        caller: Caller,
        authorisation: CrossBorderAuthorisation | None,
        reason: str,
        now: datetime,
    ) -> int:
        ask = Ask(
            Action.OPEN_VIEWING_SESSION,
            authorisation.person_id if authorisation else None,
            resource_id=authorisation.id if authorisation else None,
            authorisation_id=authorisation.id if authorisation else None,
        )
        return self.judge.record_event(
            session,
            caller,
            ask,
            allowed=False,
            reason=reason,
            now=now,
            consent_id=authorisation.id if authorisation else None,
        )


def _last_seq(session: Session) -> int:
    """The seq of the audit entry this transaction appended last (it holds the head)."""
    return audit.lock_head(session).seq


# Whose records a session shows and to whom: the first statement of every session read.
_SESSION_PARTIES = Prepared(
    sa_select(
        col(ViewingSession.person_id),
        col(ViewingSession.professional_id),
        col(ViewingSession.institution_id),
    ).where(col(ViewingSession.id) == bindparam("id"))
)
