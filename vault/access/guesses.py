"""The one wrong-secret flow: what happens when someone presents a code that does not
open (a cross-border passcode, a restricted-access OTP, a radiology authorisation code).

In order, all in the caller's transaction (so it commits with the refusal that follows):

1. **throttle** — :meth:`Guesses.locked_out` refuses a client (a professional, an
   institution) that is locked out, and audits the attempt (``client_locked``);
2. **audit** — :meth:`Guesses.failed` appends the failure with its reason;
3. **count** — on the secret itself (its row's ``failed_attempts``: at
   :data:`~vault.access.throttles.MAX_SECRET_FAILURES` the secret is locked for good) and
   on every client throttle (which locks the client for a while at its limit);
4. **notify and lock** — when anything locked, each lock-out is audited, the person whose
   secret was being tried is notified, and the answer is
   :class:`~vault.access.throttles.LockedOut` (``until``: when the client may try again;
   ``None`` when only the secret is locked) instead of the plain refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from vault.access.judge import Ask, Caller, Judge, Notice, Occasion
from vault.access.throttles import MAX_SECRET_FAILURES, LockedOut, Throttle
from vault.core.errors import VaultError

CLIENT_LOCKED = "client_locked"  # an attempt while the client is locked out
CLIENT_LOCKED_OUT = "client_locked_out"  # the failure that locked the client


class Secret(Protocol):
    """A row holding a guessable secret, which counts its own failures."""

    failed_attempts: int
    locked_at: datetime | None


@dataclass(frozen=True)
class ClientThrottle:
    """A :class:`Throttle` and how to name the client it counts (e.g. its professional)."""

    throttle: Throttle
    key_of: Callable[[Caller], str]


@dataclass(frozen=True)
class Attempt:
    """One presented secret: who, about what (the audit's ask), the row it would open."""

    caller: Caller
    ask: Ask
    now: datetime
    secret: Secret | None = None
    consent_id: str | None = None


@dataclass(frozen=True)
class LockMessages:
    """What the one locked out is told: when the secret is locked for good, and when the
    client is locked for a while."""

    secret: str
    client: str


@dataclass(frozen=True)
class Guesses:
    """The flow for one kind of secret: its client throttles, the audit reason of the
    failure that locks the secret, the notification event of a lock-out, and the words."""

    judge: Judge
    throttles: Sequence[ClientThrottle]
    secret_locked_out: str
    locked_out_event: str
    messages: LockMessages

    def locked(self, until: datetime | None) -> LockedOut:
        """The refusal of a lock-out: of the client until ``until``, or of the secret."""
        return LockedOut(until, self.messages.secret if until is None else self.messages.client)

    def locked_out(self, session: Session, attempt: Attempt) -> LockedOut | None:
        """The refusal for a client locked out now (audited), or ``None``."""
        ends = [
            t.throttle.locked_until(session, t.key_of(attempt.caller), attempt.now)
            for t in self.throttles
        ]
        until = max((end for end in ends if end is not None), default=None)
        if until is None:
            return None
        self.audit(session, attempt, CLIENT_LOCKED)
        return self.locked(until)

    def failed(
        self, session: Session, attempt: Attempt, reason: str | None, refusal: VaultError
    ) -> VaultError:
        """Count a failed attempt (``reason``: audit it too; ``None`` when the decision
        was already audited) and lock what is due; the error to raise after the commit."""
        if reason is not None:
            self.audit(session, attempt, reason)
        secret_locked = self._count_on_secret(session, attempt)
        client_until = self._count_on_clients(session, attempt)
        if not secret_locked and client_until is None:
            return refusal
        seq = 0
        if secret_locked:
            seq = self.audit(session, attempt, self.secret_locked_out)
        if client_until is not None:
            seq = self.audit(session, attempt, CLIENT_LOCKED_OUT)
        person_id = attempt.ask.person_id
        if person_id is not None:
            notice = Notice(person_id, attempt.caller, self.locked_out_event, attempt.now, seq)
            self.judge.notify(session, notice)
        return self.locked(client_until)

    def audit(self, session: Session, attempt: Attempt, reason: str) -> int:
        """Append a refused attempt decided outside the policy; its audit ``seq``."""
        occasion = Occasion(attempt.caller, attempt.ask, attempt.now)
        return self.judge.record_event(session, occasion, reason, consent_id=attempt.consent_id)

    def _count_on_secret(self, session: Session, attempt: Attempt) -> bool:
        secret = attempt.secret
        if secret is None:
            return False
        secret.failed_attempts += 1
        locked = secret.failed_attempts >= MAX_SECRET_FAILURES
        if locked:
            secret.locked_at = attempt.now
        session.add(secret)
        return locked

    def _count_on_clients(self, session: Session, attempt: Attempt) -> datetime | None:
        locks = [
            t.throttle.fail(session, t.key_of(attempt.caller), attempt.now) for t in self.throttles
        ]
        return max((end for end in locks if end is not None), default=None)

    def succeeded(self, session: Session, attempt: Attempt) -> None:
        """The secret opened: its own count starts again. Client throttles keep their
        window (:meth:`~vault.access.throttles.Throttle.succeed`)."""
        if attempt.secret is not None:
            attempt.secret.failed_attempts = 0
            session.add(attempt.secret)
        for t in self.throttles:
            t.throttle.succeed(session, t.key_of(attempt.caller), attempt.now)
