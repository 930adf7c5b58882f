"""Logins, throttled (``POST /v1/auth/token``): per account — a citizen's username, an
institution's client id, an operator's — and per client address.

After :data:`ACCOUNT_FAILURES` consecutive failures the account is locked, for a minute
the first time and twice as long each time after (up to an hour); an address is locked
after :data:`ADDRESS_FAILURES` failures of any accounts (password spraying). Both answer
:class:`LoginThrottled` — the same for an account that does not exist, whose failures are
counted the same way under the hash of the name tried. A success forgives the account's
consecutive failures (a login is no code guess).

The password (or secret) is verified with argon2id *before* the write transaction that
counts and audits the attempt, never holding the write lock. Every attempt on a person's
account is in their access log (``log_in``: allowed, ``wrong_password``, ``login_locked``)
and failed and locked attempts are notified to them; attempts on an institution's or an
operator's client are audited on the system chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlmodel import Session

from policies.model import Actor
from policies.vocabulary import Action, ActorKind
from vault.access.judge import Ask, Caller, Notice, Occasion
from vault.access.throttles import Limit, Throttle
from vault.access.usecase import UseCase
from vault.core.errors import VaultError
from vault.store.engine import reading

T = TypeVar("T")
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 30


def _growing(failures: int) -> Limit:
    """A minute's lock, twice as long each time after (up to an hour), for ``failures``
    consecutive failures within a quarter of an hour."""
    return Limit(
        failures,
        timedelta(minutes=1),
        window=timedelta(minutes=15),
        growth=2.0,
        longest=timedelta(hours=1),
        forgiven_by_success=True,
    )


BY_ACCOUNT = Throttle("login_account", _growing(ACCOUNT_FAILURES))
BY_ADDRESS = Throttle("login_address", _growing(ADDRESS_FAILURES))

LOGGED_IN = "logged_in"
WRONG_PASSWORD = "wrong_password"
LOGIN_LOCKED = "login_locked"  # an attempt while the account or address is locked
LOGIN_LOCKED_OUT = "login_locked_out"  # the failure that locked it
FAILED_EVENT = "login_failed"  # notification events
LOCKED_EVENT = "login_locked_out"


class LoginRefused(VaultError):
    """The credentials were not accepted (whatever was wrong, whoever it was)."""

    code = "invalid_grant"

    def __init__(self, code: str = "invalid_grant") -> None:
        super().__init__("the credentials were not accepted")
        self.code = code


class LoginThrottled(VaultError):
    """Too many failed logins on this account or from this address: try after ``until``."""

    code = "too_many_attempts"

    def __init__(self, until: datetime) -> None:
        super().__init__("Too many failed logins; try again later.")
        self.until = until


@dataclass(frozen=True)
class Login:
    """One login attempt: the account named (``kind`` and the name tried), the client's
    address, and — when the name is a person's — whose account it is (for their access
    log and notifications)."""

    kind: ActorKind
    name: str
    address: str
    person_id: str | None = None
    refusal_code: str = "invalid_grant"  # invalid_client for a client's credentials

    @property
    def account_key(self) -> str:
        return _key(f"{self.kind}:{self.name}")

    @property
    def address_key(self) -> str:
        return _key(self.address)

    def occasion(self, now: datetime) -> Occasion:
        actor = Actor(self.kind, person_id=self.person_id)
        known = self.person_id is not None
        caller = Caller(actor, client_id=None if known else self._named())
        return Occasion(caller, Ask(Action.LOG_IN, self.person_id), now)

    def _named(self) -> str:
        """What the audit keeps of a name that is no person's: a client id as given, a
        username only as a hash (people type their password in the wrong box)."""
        if self.kind is ActorKind.CITIZEN:
            return f"sha256:{self.account_key[:16]}"
        return self.name[:80]


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Logins(UseCase):
    def attempt(self, login: Login, verify: Callable[[], T | None]) -> T:
        """``verify()`` (argon2id, outside any transaction) unless throttled; count, audit
        and notify the outcome. Raises :class:`LoginThrottled` or :class:`LoginRefused`."""
        until = self._locked_until(login)
        if until is not None:
            self.transact(lambda session, now: self._refuse_locked(session, login, now, until))
        verified = verify()
        return self.transact(lambda session, now: self._count(session, login, now, verified))

    def _locked_until(self, login: Login) -> datetime | None:
        now = self.judge.now()
        with reading(self.vault.engine) as session:
            ends = [
                BY_ACCOUNT.locked_until(session, login.account_key, now),
                BY_ADDRESS.locked_until(session, login.address_key, now),
            ]
        return max((end for end in ends if end is not None), default=None)

    def _refuse_locked(
        self, session: Session, login: Login, now: datetime, until: datetime
    ) -> VaultError:
        self.judge.record_event(session, login.occasion(now), LOGIN_LOCKED)
        return LoginThrottled(until)

    def _count(
        self, session: Session, login: Login, now: datetime, verified: T | None
    ) -> T | VaultError:
        occasion = login.occasion(now)
        if verified is not None:
            BY_ACCOUNT.succeed(session, login.account_key, now)
            BY_ADDRESS.succeed(session, login.address_key, now)
            self.judge.record_event(session, occasion, LOGGED_IN, allowed=True)
            return verified
        seq = self.judge.record_event(session, occasion, WRONG_PASSWORD)
        self._notify(session, login, FAILED_EVENT, now, seq)
        locks = [
            BY_ACCOUNT.fail(session, login.account_key, now),
            BY_ADDRESS.fail(session, login.address_key, now),
        ]
        until = max((end for end in locks if end is not None), default=None)
        if until is None:
            return LoginRefused(login.refusal_code)
        seq = self.judge.record_event(session, occasion, LOGIN_LOCKED_OUT)
        self._notify(session, login, LOCKED_EVENT, now, seq)
        return LoginThrottled(until)

    def _notify(self, session: Session, login: Login, event: str, now: datetime, seq: int) -> None:
        if login.person_id is not None:
            caller = login.occasion(now).caller
            self.judge.notify(session, Notice(login.person_id, caller, event, now, seq))
