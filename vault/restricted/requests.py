"""Restricted access (R3): a stated reason plus the person's one-time password.

A Hong Kong professional asks to open categories that are restricted for their
profession (:meth:`RestrictedAccess.request`). The policy decides
``REQUEST_RESTRICTED_ACCESS`` (the person joined; the institution holds sharing consent,
or implied sharing). On allow, a six-digit OTP is generated, only its hash is stored,
the reason is sealed with the person's data key, and the OTP is "sent" to the person: a
:class:`~vault.store.tables.Notification` (``restricted_access_otp``, channel ``sms``) whose
``detail_sealed`` is the OTP sealed with the person's data key under
:func:`vault.crypto.aad.notification_detail` (the AAD the person's notification list opens it
with). The OTP is valid for :data:`OTP_VALIDITY` (10 minutes).

The same professional confirms with the OTP (:meth:`RestrictedAccess.confirm`); the
policy is asked again (the consent may have been revoked meanwhile, R8) and the request
becomes a grant until ``policy.restricted_grant_expires_at`` (30 minutes by default).
Each later view through it notifies the person (the policy's ``notify_person``).

Guessing: :data:`~vault.access.throttles.MAX_SECRET_FAILURES` wrong OTPs lock the request for
good, and :data:`BY_PROFESSIONAL` locks the professional out of confirming any request
for 15 minutes after 5 failures across requests. Every failure and lock-out is audited;
a lock-out is notified to the person.

The stored hash is SHA-256 of the request id and the OTP. Six digits fall to an offline
search, so the hash protects only against casual disclosure — what makes an OTP useless
to anyone reading the database is that only the requesting professional's token may
confirm it, within 10 minutes, and five wrong guesses end the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import Session, select

from policies.model import Decision
from policies.vocabulary import Action, Category
from vault.access.guesses import Attempt, ClientThrottle, Guesses, LockMessages
from vault.access.judge import Ask, Caller, Judge, Notice
from vault.access.throttles import Limit, Throttle
from vault.access.usecase import UseCase, not_found
from vault.core.errors import NotFound, VaultError
from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.envelope import SealingKey
from vault.crypto.passwords import code_hash, new_otp, same_code
from vault.crypto.secrets import Secret
from vault.store import audit
from vault.store.tables import RestrictedAccessRequest

OTP_VALIDITY = timedelta(minutes=10)
BY_PROFESSIONAL = Throttle("restricted_otp_professional", Limit(5, timedelta(minutes=15)))
CLIENT_THROTTLES = (
    ClientThrottle(BY_PROFESSIONAL, lambda caller: caller.actor.professional_id or ""),
)
LOCKED = LockMessages(
    secret="Too many wrong one-time passwords: this request is locked. Request access again.",
    client="Too many wrong one-time passwords; try again later.",
)

OTP_EVENT = "restricted_access_otp"
LOCKED_OUT_EVENT = "restricted_access_locked_out"
# Audit reasons for events decided outside the policy.
WRONG_OTP = "wrong_otp"
OTP_EXPIRED = "otp_expired"
OTP_LOCKED = "otp_locked"  # an attempt on a locked request
OTP_LOCKED_OUT = "otp_locked_out"  # the failure that locked the request
ALREADY_CONFIRMED = "already_confirmed"
NOT_REQUESTER = "not_requester"


def _otp_hash(request_id: str, otp: str) -> str:
    return code_hash(f"{request_id}\x00{otp}")


class InvalidOtp(VaultError):
    code = "invalid_otp"

    def __init__(self) -> None:
        super().__init__("the one-time password was not accepted")


class OtpExpired(VaultError):
    code = "otp_expired"

    def __init__(self) -> None:
        super().__init__("the one-time password has expired")


class AlreadyConfirmed(VaultError):
    code = "already_confirmed"

    def __init__(self) -> None:
        super().__init__("the request was already confirmed")


@dataclass(frozen=True)
class PendingRequest:
    id: str
    categories: tuple[Category, ...]
    otp_expires_at: datetime


@dataclass(frozen=True)
class RestrictedGrant:
    id: str
    categories: tuple[Category, ...]
    expires_at: datetime


def _csv(categories: Iterable[Category]) -> str:
    return ",".join(sorted({str(c) for c in categories}))


def _categories(csv: str) -> tuple[Category, ...]:
    return tuple(Category(c) for c in csv.split(",") if c)


class RestrictedAccess(UseCase):
    def __init__(self, judge: Judge) -> None:
        super().__init__(judge)
        self.guesses = Guesses(judge, CLIENT_THROTTLES, OTP_LOCKED_OUT, LOCKED_OUT_EVENT, LOCKED)

    def request(
        self, caller: Caller, person_id: str, reason: str, categories: Iterable[Category]
    ) -> PendingRequest:
        """Ask for restricted ``categories`` and send the person an OTP. A denial is
        :class:`NotFound`, like a person the caller may not see (R10)."""
        rid = new_id()

        def store(session: Session, decision: Decision, now: datetime) -> PendingRequest:
            wanted = _Wanted(rid, person_id, reason, tuple(categories), decision.consent_id)
            return self._store(session, caller, wanted, now)

        ask = Ask(Action.REQUEST_RESTRICTED_ACCESS, person_id, resource_id=rid)
        return self.decide_then(caller, ask, store, refuse=not_found)

    def confirm(
        self, caller: Caller, person_id: str, request_id: str, otp: Secret[str]
    ) -> RestrictedGrant:
        """Turn the caller's own request into a grant. Raises :class:`NotFound`,
        :class:`InvalidOtp`, :class:`OtpExpired`, :class:`AlreadyConfirmed` or
        :class:`~vault.access.throttles.LockedOut` — after committing the audit and counters."""

        def confirm(session: Session, now: datetime) -> RestrictedGrant | VaultError:
            row = _request_for_update(session, person_id, request_id)
            if row is None:
                return NotFound("no such request")
            attempt = Attempt(caller, _ask(row), now, row, consent_id=row.consent_id)
            problem = self._unconfirmable(session, attempt, row)
            if problem is not None:
                return problem
            matches = same_code(row.otp_hash, f"{row.id}\x00{otp.reveal()}")  # even if expired
            if row.otp_expires_at <= now:
                self.guesses.audit(session, attempt, OTP_EXPIRED)
                return OtpExpired()
            if not matches:
                return self.guesses.failed(session, attempt, WRONG_OTP, InvalidOtp())
            return self._grant(session, attempt, row)

        return self.transact(confirm, chain=person_id)

    # --- requesting ---------------------------------------------------------------------

    def _store(
        self, session: Session, caller: Caller, wanted: _Wanted, now: datetime
    ) -> PendingRequest:
        actor = caller.actor
        assert actor.institution_id is not None and actor.professional_id is not None
        key = self.vault.keys.get(session, wanted.person_id)
        otp = new_otp()
        row = RestrictedAccessRequest(
            id=wanted.id,
            person_id=wanted.person_id,
            institution_id=actor.institution_id,
            professional_id=actor.professional_id,
            categories=_csv(wanted.categories),
            consent_id=wanted.consent_id,
            reason_sealed=key.seal(wanted.reason.encode(), aad=aad.restricted_reason(wanted.id)),
            otp_hash=_otp_hash(wanted.id, otp),
            requested_at=now,
            otp_expires_at=now + OTP_VALIDITY,
        )
        session.add(row)
        session.flush()
        self._send_otp(
            session, key, Secret(otp), Notice(wanted.person_id, caller, OTP_EVENT, now, None)
        )
        return PendingRequest(wanted.id, _categories(row.categories), row.otp_expires_at)

    def _send_otp(
        self, session: Session, key: SealingKey, otp: Secret[str], notice: Notice
    ) -> None:
        """The simulated SMS: the OTP sealed for the person only, naming the audit entry of
        the decision that allowed the request."""
        notice = replace(notice, audit_seq=audit.lock_chain(session, notice.person_id).seq)

        def sealed(notification_id: str) -> bytes:
            return key.seal(otp.reveal().encode(), aad=aad.notification_detail(notification_id))

        self.judge.notify(session, notice, seal_detail=sealed)

    # --- confirming ---------------------------------------------------------------------

    def _unconfirmable(
        self, session: Session, attempt: Attempt, row: RestrictedAccessRequest
    ) -> VaultError | None:
        """Why ``row`` cannot be confirmed by this caller now (each case audited)."""
        actor = attempt.caller.actor
        if row.professional_id != actor.professional_id or (
            row.institution_id != actor.institution_id
        ):
            self.guesses.audit(session, attempt, NOT_REQUESTER)
            return NotFound("no such request")
        locked = self.guesses.locked_out(session, attempt)
        if locked is not None:
            return locked
        if row.locked_at is not None:
            self.guesses.audit(session, attempt, OTP_LOCKED)
            return self.guesses.locked(None)
        if row.confirmed_at is not None:
            self.guesses.audit(session, attempt, ALREADY_CONFIRMED)
            return AlreadyConfirmed()
        return None

    def _grant(
        self, session: Session, attempt: Attempt, row: RestrictedAccessRequest
    ) -> RestrictedGrant | VaultError:
        """The OTP matched: ask the policy again (the consent may have ended, R8)."""
        decision = self.judge.decide(session, attempt.caller, _ask(row), attempt.now)
        if not decision.allowed:
            return NotFound("no such request")
        self.guesses.succeeded(session, replace(attempt, secret=None))
        row.confirmed_at = attempt.now
        row.expires_at = self.policy.restricted_grant_expires_at(attempt.now)
        row.consent_id = decision.consent_id
        session.add(row)
        session.flush()
        return RestrictedGrant(row.id, _categories(row.categories), row.expires_at)


@dataclass(frozen=True)
class _Wanted:
    """What a professional asks for: the request's id, whose categories and why."""

    id: str
    person_id: str
    reason: str
    categories: tuple[Category, ...]
    consent_id: str | None


def _ask(row: RestrictedAccessRequest) -> Ask:
    return Ask(Action.REQUEST_RESTRICTED_ACCESS, row.person_id, resource_id=row.id)


def _request_for_update(
    session: Session, person_id: str, request_id: str
) -> RestrictedAccessRequest | None:
    return session.exec(
        select(RestrictedAccessRequest)
        .where(
            RestrictedAccessRequest.id == request_id,
            RestrictedAccessRequest.person_id == person_id,
        )
        .with_for_update()
    ).first()
