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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from policies.vocabulary import Action, Category
from vault.access.judge import NOTIFICATION_CHANNEL, Ask, Caller, Judge
from vault.access.throttles import MAX_SECRET_FAILURES, Limit, LockedOut, Throttle
from vault.core.errors import NotFound, VaultError
from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.envelope import SealingKey
from vault.crypto.passwords import code_hash, new_otp, same_code
from vault.crypto.secrets import Secret
from vault.store import audit
from vault.store.engine import transaction
from vault.store.tables import Notification, RestrictedAccessRequest

OTP_VALIDITY = timedelta(minutes=10)
BY_PROFESSIONAL = Throttle("restricted_otp_professional", Limit(5, timedelta(minutes=15)))

OTP_EVENT = "restricted_access_otp"
LOCKED_OUT_EVENT = "restricted_access_locked_out"
# Audit reasons for events decided outside the policy.
WRONG_OTP = "wrong_otp"
OTP_EXPIRED = "otp_expired"
OTP_LOCKED = "otp_locked"  # an attempt on a locked request
CLIENT_LOCKED = "client_locked"
OTP_LOCKED_OUT = "otp_locked_out"  # the failure that locked the request
CLIENT_LOCKED_OUT = "client_locked_out"
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


class RestrictedAccess:
    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.vault = judge.vault

    def request(
        self, caller: Caller, person_id: str, reason: str, categories: Iterable[Category]
    ) -> PendingRequest:
        """Ask for restricted ``categories`` and send the person an OTP. A denial is
        :class:`NotFound`, like a person the caller may not see (R10)."""
        now = self.judge.now()
        rid = new_id()
        pending: PendingRequest | None = None
        with transaction(self.vault.engine) as session:
            ask = Ask(Action.REQUEST_RESTRICTED_ACCESS, person_id, resource_id=rid)
            decision = self.judge.decide(session, caller, ask, now)
            if decision.allowed:
                pending = self._store(
                    session, caller, person_id, rid, reason, categories, now, decision.consent_id
                )
        if pending is None:
            raise NotFound("no such person")
        return pending

    def confirm(
        self, caller: Caller, person_id: str, request_id: str, otp: Secret[str]
    ) -> RestrictedGrant:
        """Turn the caller's own request into a grant. Raises :class:`NotFound`,
        :class:`InvalidOtp`, :class:`OtpExpired`, :class:`AlreadyConfirmed` or
        :class:`~vault.access.throttles.LockedOut` — after committing the audit and counters."""
        now = self.judge.now()
        with transaction(self.vault.engine) as session:
            audit.lock_head(session)  # the global order: head first, then rows
            outcome = self._confirm(session, caller, person_id, request_id, otp, now)
        if isinstance(outcome, VaultError):
            raise outcome
        return outcome

    # --- requesting ---------------------------------------------------------------------

    def _store(
        self,
        session: Session,
        caller: Caller,
        person_id: str,
        rid: str,
        reason: str,
        categories: Iterable[Category],
        now: datetime,
        consent_id: str | None,
    ) -> PendingRequest:
        actor = caller.actor
        assert actor.institution_id is not None and actor.professional_id is not None
        key = self.vault.keys.get(session, person_id)
        otp = new_otp()
        row = RestrictedAccessRequest(
            id=rid,
            person_id=person_id,
            institution_id=actor.institution_id,
            professional_id=actor.professional_id,
            categories=_csv(categories),
            consent_id=consent_id,
            reason_sealed=key.seal(reason.encode(), aad=aad.restricted_reason(rid)),
            otp_hash=_otp_hash(rid, otp),
            requested_at=now,
            otp_expires_at=now + OTP_VALIDITY,
        )
        session.add(row)
        session.flush()
        self._send_otp(session, key, caller, person_id, Secret(otp), now)
        return PendingRequest(rid, _categories(row.categories), row.otp_expires_at)

    def _send_otp(
        self,
        session: Session,
        key: SealingKey,
        caller: Caller,
        person_id: str,
        otp: Secret[str],
        now: datetime,
    ) -> None:
        """The simulated SMS: the OTP sealed for the person only."""
        nid = new_id()
        session.add(
            Notification(
                id=nid,
                person_id=person_id,
                at=now,
                channel=NOTIFICATION_CHANNEL,
                event=OTP_EVENT,
                actor_kind=str(caller.actor.kind),
                actor_id=caller.actor_id,
                institution_id=caller.actor.institution_id,
                audit_seq=audit.lock_head(session).seq,
                detail_sealed=key.seal(otp.reveal().encode(), aad=aad.notification_detail(nid)),
            )
        )
        session.flush()

    # --- confirming ---------------------------------------------------------------------

    def _confirm(
        self,
        session: Session,
        caller: Caller,
        person_id: str,
        request_id: str,
        otp: Secret[str],
        now: datetime,
    ) -> RestrictedGrant | VaultError:
        actor = caller.actor
        row = session.exec(
            select(RestrictedAccessRequest)
            .where(
                RestrictedAccessRequest.id == request_id,
                RestrictedAccessRequest.person_id == person_id,
            )
            .with_for_update()
        ).first()
        if row is None:
            return NotFound("no such request")
        if row.professional_id != actor.professional_id or (
            row.institution_id != actor.institution_id
        ):
            self._audit(session, caller, row, NOT_REQUESTER, now)
            return NotFound("no such request")
        key = actor.professional_id or ""
        locked_until = BY_PROFESSIONAL.locked_until(session, key, now)
        if locked_until is not None:
            self._audit(session, caller, row, CLIENT_LOCKED, now)
            return LockedOut(locked_until)
        if row.locked_at is not None:
            self._audit(session, caller, row, OTP_LOCKED, now)
            return LockedOut(None)
        if row.confirmed_at is not None:
            self._audit(session, caller, row, ALREADY_CONFIRMED, now)
            return AlreadyConfirmed()
        matches = same_code(row.otp_hash, f"{row.id}\x00{otp.reveal()}")
        if row.otp_expires_at <= now:
            self._audit(session, caller, row, OTP_EXPIRED, now)
            return OtpExpired()
        if not matches:
            return self._failed(session, caller, row, now)
        ask = Ask(Action.REQUEST_RESTRICTED_ACCESS, person_id, resource_id=row.id)
        decision = self.judge.decide(session, caller, ask, now)
        if not decision.allowed:
            return NotFound("no such request")
        BY_PROFESSIONAL.succeed(session, key, now)
        row.confirmed_at = now
        row.expires_at = self.judge.policy.restricted_grant_expires_at(now)
        row.consent_id = decision.consent_id
        session.add(row)
        session.flush()
        return RestrictedGrant(row.id, _categories(row.categories), row.expires_at)

    def _failed(
        self, session: Session, caller: Caller, row: RestrictedAccessRequest, now: datetime
    ) -> VaultError:
        seq = self._audit(session, caller, row, WRONG_OTP, now)
        row.failed_attempts += 1
        request_locked = row.failed_attempts >= MAX_SECRET_FAILURES
        if request_locked:
            row.locked_at = now
        session.add(row)
        client_until = BY_PROFESSIONAL.fail(session, caller.actor.professional_id or "", now)
        if not request_locked and client_until is None:
            return InvalidOtp()
        if request_locked:
            seq = self._audit(session, caller, row, OTP_LOCKED_OUT, now)
        if client_until is not None:
            seq = self._audit(session, caller, row, CLIENT_LOCKED_OUT, now)
        self.judge.notify(session, row.person_id, caller, LOCKED_OUT_EVENT, now, seq)
        return LockedOut(client_until)

    def _audit(
        self,
        session: Session,
        caller: Caller,
        row: RestrictedAccessRequest,
        reason: str,
        now: datetime,
    ) -> int:
        ask = Ask(Action.REQUEST_RESTRICTED_ACCESS, row.person_id, resource_id=row.id)
        return self.judge.record_event(
            session,
            caller,
            ask,
            allowed=False,
            reason=reason,
            now=now,
            consent_id=row.consent_id,
        )
