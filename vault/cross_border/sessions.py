"""Cross-border viewing sessions (R4): redeeming an (application code, passcode) pair.

A Mainland professional scans the person's two QR codes; :meth:`ViewingSessions.open`
finds the authorisation by the SHA-256 of the application code, compares the passcode's
hash in constant time (against a dummy hash when the code is unknown, so the work is the
same), asks the policy (``OPEN_VIEWING_SESSION``: designation on the date, the
authorisation is for the caller's institution, active and processed) and opens a
:class:`~vault.store.tables.ViewingSession` bound to that professional. Reading through the
session is :class:`~vault.records.reading.Records` with ``session_id``; the policy applies
the lookback and ends the session with its authorisation (R8).

Guessing is limited by the one wrong-secret flow (:mod:`vault.access.guesses`):

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
from vault.access.guesses import Attempt, ClientThrottle, Guesses, LockMessages
from vault.access.judge import Ask, Caller, Judge, Notice, Occasion
from vault.access.throttles import Limit, Throttle
from vault.access.usecase import UseCase
from vault.core.errors import NotFound, VaultError
from vault.core.ids import new_id
from vault.crypto.passwords import canonical_code, code_hash, same_code
from vault.crypto.secrets import Secret
from vault.records.reading import PersonLookup
from vault.store import audit, handles
from vault.store.engine import reading
from vault.store.statements import Prepared
from vault.store.tables import CrossBorderAuthorisation, ViewingSession

BY_PROFESSIONAL = Throttle("cross_border_professional", Limit(5, timedelta(minutes=15)))
BY_INSTITUTION = Throttle("cross_border_institution", Limit(20, timedelta(minutes=15)))
CLIENT_THROTTLES = (
    ClientThrottle(BY_PROFESSIONAL, lambda caller: caller.actor.professional_id or ""),
    ClientThrottle(BY_INSTITUTION, lambda caller: caller.actor.institution_id or ""),
)
LOCKED = LockMessages(
    secret="Too many failed attempts: these codes are locked. The person must apply again.",
    client="Too many failed attempts from this client; try again later.",
)

# Audit reasons for events decided outside the policy, and notification events.
UNKNOWN_CODE = "unknown_application_code"
WRONG_PASSCODE = "wrong_passcode"
CODE_LOCKED = "codes_locked"  # an attempt on a locked pair
CODE_LOCKED_OUT = "codes_locked_out"  # the failure that locked the pair
SESSION_OPENED = "cross_border_session_opened"
NO_SESSION = "no_session"  # a session id that names no session
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
        """The pair as typed (any case; dashes and spaces or not), in its issued form."""
        return cls(Secret(canonical_code(application_code)), Secret(canonical_code(passcode)))


@dataclass(frozen=True)
class OpenedSession:
    id: str
    person_id: str
    expires_at: datetime
    visible_since: date


class ViewingSessions(UseCase):
    """Opens viewing sessions and resolves them for their own professional."""

    def __init__(self, judge: Judge) -> None:
        super().__init__(judge)
        self.guesses = Guesses(judge, CLIENT_THROTTLES, CODE_LOCKED_OUT, LOCKED_OUT_EVENT, LOCKED)

    def open(self, caller: Caller, codes: CodePair) -> OpenedSession:
        """Redeem ``codes``. Raises :class:`InvalidCodes`, :class:`LockedOut` or
        :class:`SessionRefused` — after committing the audit and the counters."""
        return self.transact(
            lambda session, now: self._open(session, caller, codes, now),
            chain=lambda session: _chain_of_codes(session, caller, codes),
        )

    def person_of(self, caller: Caller, session_id: str, action: Action) -> str:
        """The person whose records ``session_id`` shows, if it is the caller's session.
        Anyone else's session, and a session that does not exist, is :class:`NotFound`
        after the same work: one lookup and one audited refusal (R10: no timing oracle)."""
        with reading(self.vault.engine) as session:
            whose = _whose_session(session, caller, session_id, action)
        if isinstance(whose, str):
            return whose
        return self.transact(lambda session, now: self._refuse(session, caller, whose, now))

    def lookup(self, caller: Caller, session_id: str, action: Action) -> PersonLookup:
        """:meth:`person_of` as the first step of the caller's own transaction (the
        session list: one transaction, not a snapshot and then a transaction). The same
        work for anyone else's session and for none: one lookup, one audited refusal."""

        def whose_records(session: Session) -> str | VaultError:
            whose = _whose_session(session, caller, session_id, action)
            if isinstance(whose, str):
                return whose
            return self._refuse(session, caller, whose, self.judge.now())

        return whose_records

    def _refuse(
        self, session: Session, caller: Caller, refused: _Refused, now: datetime
    ) -> VaultError:
        self.judge.record_event(session, Occasion(caller, refused.ask, now), refused.reason)
        return NotFound("no such viewing session")

    # --- redeeming ----------------------------------------------------------------------

    def _open(
        self, session: Session, caller: Caller, codes: CodePair, now: datetime
    ) -> OpenedSession | VaultError:
        attempt = Attempt(caller, _attempt_ask(None), now)
        locked = self.guesses.locked_out(session, attempt)
        if locked is not None:
            return locked
        hashed = code_hash(codes.application_code.reveal())
        # Found by the code alone (a fan-out over the hash's index), then locked by its
        # key: a row lock that names the person stays on the person's node.
        owner = _owner_of_code(session, hashed) or handles.NOBODY
        authorisation = session.exec(
            select(CrossBorderAuthorisation)
            .where(
                CrossBorderAuthorisation.person_id == owner,
                CrossBorderAuthorisation.application_code_hash == hashed,
            )
            .with_for_update()
        ).first()
        stored = authorisation.passcode_hash if authorisation else _UNKNOWN_PASSCODE_HASH
        matches = same_code(stored, codes.passcode.reveal())  # constant time, always done
        if authorisation is None:
            return self.guesses.failed(session, attempt, UNKNOWN_CODE, InvalidCodes())
        attempt = _attempt_on(caller, authorisation, now)
        if authorisation.locked_at is not None:
            self.guesses.audit(session, attempt, CODE_LOCKED)
            return self.guesses.locked(None)
        if not matches:
            return self.guesses.failed(session, attempt, WRONG_PASSCODE, InvalidCodes())
        return self._decide(session, attempt, authorisation)

    def _decide(
        self, session: Session, attempt: Attempt, authorisation: CrossBorderAuthorisation
    ) -> OpenedSession | VaultError:
        caller, now = attempt.caller, attempt.now
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
            return self.guesses.failed(session, attempt, None, InvalidCodes())
        if not decision.allowed:
            return SessionRefused(decision.reason)
        assert actor.institution_id is not None and actor.professional_id is not None
        self.guesses.succeeded(session, attempt)
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
        handles.register(session, row.id, row.person_id, handles.VIEWING_SESSION)
        session.flush()
        seq = _last_seq(session, authorisation.person_id)
        notice = Notice(authorisation.person_id, caller, SESSION_OPENED, now, seq)
        self.judge.notify(session, notice)
        since = decision.obligations.visible_since or self.policy.visible_since(hk_date(now))
        return OpenedSession(row.id, row.person_id, row.expires_at, since)


def _attempt_ask(authorisation: CrossBorderAuthorisation | None) -> Ask:
    return Ask(
        Action.OPEN_VIEWING_SESSION,
        authorisation.person_id if authorisation else None,
        resource_id=authorisation.id if authorisation else None,
        authorisation_id=authorisation.id if authorisation else None,
    )


def _attempt_on(caller: Caller, authorisation: CrossBorderAuthorisation, now: datetime) -> Attempt:
    """An attempt on ``authorisation``'s codes: audited about its person, counted on it."""
    return Attempt(
        caller, _attempt_ask(authorisation), now, authorisation, consent_id=authorisation.id
    )


def _last_seq(session: Session, person_id: str) -> int:
    """The seq of the audit entry this transaction appended last to the person's chain
    (it holds that chain's head)."""
    return audit.lock_chain(session, person_id).seq


def _chain_of_codes(session: Session, caller: Caller, codes: CodePair) -> str:
    """The audit chain an attempt with ``codes`` is decided on, locked before anything is
    read for update: the person's whose application code it is, else the caller's
    institution's (nobody's codes were tried)."""
    person_id = _owner_of_code(session, code_hash(codes.application_code.reveal()))
    return audit.chain_of(person_id, caller.actor.institution_id)


def _owner_of_code(session: Session, hashed: str) -> str | None:
    """Whose application code hashes to ``hashed`` (a lookup by the code alone)."""
    return session.exec(
        select(CrossBorderAuthorisation.person_id).where(
            CrossBorderAuthorisation.application_code_hash == hashed
        )
    ).first()


@dataclass(frozen=True)
class _Refused:
    """A session that is not the caller's (or none): what to audit."""

    ask: Ask
    reason: str


def _whose_session(
    session: Session, caller: Caller, session_id: str, action: Action
) -> str | _Refused:
    """The session's person if it is the caller's own session; else the refusal."""
    routed = handles.person_of(session, session_id, handles.VIEWING_SESSION)
    found = _SESSION_PARTIES.first(session, {"person": routed, "id": session_id})
    person_id: str | None = None
    reason = NO_SESSION
    if found is not None:
        person_id, professional_id, institution_id = found
        actor = caller.actor
        if (
            actor.kind is ActorKind.MAINLAND_PROFESSIONAL
            and professional_id == actor.professional_id
            and institution_id == actor.institution_id
        ):
            assert person_id is not None
            return person_id
        reason = str(
            Reason.WRONG_PROFESSIONAL
            if institution_id == actor.institution_id
            else Reason.WRONG_INSTITUTION
        )
    ask = Ask(action, person_id, resource_id=session_id, session_id=session_id)
    return _Refused(ask, reason)


# Whose records a session shows and to whom: the first statement of every session read.
_SESSION_PARTIES = Prepared(
    sa_select(
        col(ViewingSession.person_id),
        col(ViewingSession.professional_id),
        col(ViewingSession.institution_id),
    ).where(
        col(ViewingSession.person_id) == bindparam("person"),
        col(ViewingSession.id) == bindparam("id"),
    )
)
