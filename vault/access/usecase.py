"""The one skeleton every use-case runs: decide → audit (same transaction) → act → commit,
and raise only after the commit.

* :meth:`UseCase.transact` is the bare skeleton: one transaction whose body returns its
  result, or a :class:`~vault.core.errors.VaultError` that is raised *after* the commit —
  so the audit entries, failure counters and lock-outs the body wrote are kept.
* :meth:`UseCase.run` is what almost every use-case calls: it asks the policy (the
  :class:`~vault.access.judge.Judge` appends the decision to the audit log and notifies
  the person when the policy says so), and only if allowed does ``work``. A
  :class:`VaultError` raised by ``work`` undoes only ``work`` (a savepoint): the decision
  stays audited. A refusal is the error ``refuse(action, decision)`` names, raised after
  the commit.

The default refusal is :func:`refusal`: a caller who may not act for the person at all
(not the person, no active delegation, an unknown or erased person) gets
:class:`~vault.core.errors.NotFound`, exactly as for a person who does not exist (R10); the
person (or their caregiver) refused *this* action gets :class:`Refused` with the policy's
reason — it concerns their own account, so they may be told.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from policies.model import Decision
from policies.policy_file import Policy
from policies.vocabulary import Action, Reason
from vault.access.judge import Ask, Caller, Judge
from vault.access.shown import INVISIBLE
from vault.core.errors import Denied, NotFound, VaultError
from vault.runtime.opening import Vault
from vault.store import audit
from vault.store.engine import transaction

T = TypeVar("T")
Work = Callable[[Session, datetime], T]
DecidedWork = Callable[[Session, Decision, datetime], T]
Refuse = Callable[[Action, Decision], VaultError]
AskOf = Callable[[Session], "Ask | VaultError"]
"""Builds the ask from what the transaction reads; or refuses (already audited) with the
error to raise after the commit."""


class Refused(Denied):
    """The policy refused an action on the caller's own account (or their cared-for
    person's). ``reason`` is about that account, so the API may show it."""

    def __init__(self, action: Action, reason: Reason) -> None:
        super().__init__(str(action))
        self.reason = reason


class Conflict(VaultError):
    """The action does not fit the current state (e.g. renewing a revoked consent)."""

    code = "conflict"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Unusable(VaultError):
    """The request names something unusable (e.g. an unknown caregiver)."""

    code = "invalid"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def refusal(action: Action, decision: Decision) -> VaultError:
    """The error for a denied ``decision`` about the caller's own account (see above)."""
    if decision.reason in INVISIBLE:
        return NotFound("no such person")
    return Refused(action, decision.reason)


def not_found(action: Action, decision: Decision) -> VaultError:
    """The refusal of every read (R10): the same as a thing that does not exist."""
    return NotFound("no such resource")


def denied(action: Action, decision: Decision) -> VaultError:
    """A plain refusal that names only the action tried (e.g. a deposit)."""
    return Denied(str(action))


class UseCase:
    """Base of the use-cases: holds the judge; :meth:`run` is decide-then-act."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.vault: Vault = judge.vault
        self.policy: Policy = judge.policy

    def transact(
        self,
        body: Callable[[Session, datetime], T | VaultError],
        *,
        chain: str | Callable[[Session], str] | None = None,
    ) -> T:
        """Run ``body(session, now)`` in one transaction; an error it *returns* is raised
        once the transaction has committed. ``chain``: the audit chain (or how to find it)
        to lock before the body reads anything, for bodies that look rows up before they
        decide (so the person's decisions stay in chain order and row locks are always
        taken after the chain's)."""
        now = self.judge.now()
        with transaction(self.vault.engine) as session:
            if chain is not None:
                audit.lock_chain(session, chain if isinstance(chain, str) else chain(session))
            outcome = body(session, now)
        if isinstance(outcome, VaultError):
            raise outcome
        return outcome

    def run(
        self,
        caller: Caller,
        ask: Ask | AskOf,
        work: Work[T],
        *,
        refuse: Refuse = refusal,
        savepoint: bool = True,
    ) -> T:
        """Decide ``ask`` (or the ask built from what the session holds), audit it, and if
        allowed run ``work(session, now)`` — all in one transaction (see the module)."""
        return self.decide_then(
            caller,
            ask,
            lambda session, decision, now: work(session, now),
            refuse=refuse,
            savepoint=savepoint,
        )

    def decide_then(
        self,
        caller: Caller,
        ask: Ask | AskOf,
        work: DecidedWork[T],
        *,
        refuse: Refuse = refusal,
        savepoint: bool = True,
    ) -> T:
        """:meth:`run` for work that needs the decision itself (its obligations: the
        visible set of records, the consent relied on). ``savepoint=False`` for work that
        only reads: an error it raises is still raised after the commit."""

        def body(session: Session, now: datetime) -> T | VaultError:
            question = ask if isinstance(ask, Ask) else ask(session)
            if isinstance(question, VaultError):  # the builder refused (and audited) it
                return question
            decision = self.judge.decide(session, caller, question, now)
            if not decision.allowed:
                return refuse(question.action, decision)
            try:
                if not savepoint:
                    return work(session, decision, now)
                with session.begin_nested():
                    return work(session, decision, now)
            except VaultError as exc:
                return exc

        return self.transact(body)
