"""The use-cases: each asks :func:`policies.decide`, appends the decision to the audit
log in the same transaction, and only then touches content (R11).

A denied decision is committed to the audit log too — the use-case finishes its
transaction and *then* raises, so "denied" is recorded but nothing is disclosed. Record
reads that are denied raise :class:`~vault.core.errors.NotFound`, indistinguishable from a
record that does not exist (R10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session

from policies import decide
from policies.model import Actor, Decision, Facts, RecordRef, Request
from policies.policy_file import Policy
from policies.vocabulary import Action, ActorKind
from vault.access.shown import decision_label, event_label
from vault.core.ids import new_id
from vault.runtime.opening import Vault
from vault.store import audit
from vault.store.facts import load_facts
from vault.store.statements import Prepared
from vault.store.tables import Notification

NOTIFICATION_CHANNEL = "sms"
_INSERT_NOTIFICATION = Prepared(insert(Notification))


@dataclass(frozen=True)
class Caller:
    """The authenticated party. ``acting_for``: the person a caregiver acts for;
    ``client_id``: the operator's or institution admin's own client (their identity)."""

    actor: Actor
    acting_for: str | None = None
    request_id: str | None = None
    client_id: str | None = None

    @property
    def actor_id(self) -> str:
        a = self.actor
        if a.kind in (ActorKind.CITIZEN, ActorKind.CAREGIVER):
            return a.person_id or ""
        if a.kind in (ActorKind.OPERATOR, ActorKind.INSTITUTION_ADMIN):
            return self.client_id or str(a.kind)
        return a.professional_id or ""


@dataclass(frozen=True)
class Ask:
    """One question for the policy, about ``person_id``."""

    action: Action
    person_id: str | None
    record: RecordRef | None = None
    resource_id: str | None = None
    session_id: str | None = None
    authorisation_id: str | None = None
    restricted_grant_id: str | None = None
    target_institution_id: str | None = None
    break_glass_justification: str | None = field(default=None, repr=False)  # never audited


@dataclass(frozen=True)
class Occasion:
    """One question at one instant: an audit entry decided outside the policy is about it."""

    caller: Caller
    ask: Ask
    now: datetime


@dataclass(frozen=True)
class Notice:
    """A notification to a person: who did what to their data, when, and which audit
    entry it was (``None``: no single one)."""

    person_id: str
    caller: Caller
    event: str
    at: datetime
    audit_seq: int | None


class Judge:
    """Decides and records. Holds the policy and the vault; stateless otherwise."""

    def __init__(
        self,
        vault: Vault,
        policy: Policy,
        on_decision: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.vault = vault
        self.policy = policy
        # e.g. the API's metrics counter, told (label, allowed): vault.access.shown
        self.on_decision = on_decision

    def now(self) -> datetime:
        return self.vault.clock.now()

    def decide(self, session: Session, caller: Caller, ask: Ask, now: datetime) -> Decision:
        """Decide, append to the audit log and, for a permitted view by someone other
        than the person or their caregiver, notify the person — all in ``session``."""
        # the person's chain, before their facts: their decisions stay in chain order
        head = audit.lock_chain(session, audit.chain_of(ask.person_id, caller.actor.institution_id))
        facts = load_facts(session, self.policy, ask.person_id) if ask.person_id else None
        request = Request(
            actor=caller.actor,
            action=ask.action,
            subject_id=ask.person_id,
            record=ask.record,
            on_behalf_of=caller.acting_for,
            session_id=ask.session_id,
            authorisation_id=ask.authorisation_id,
            restricted_grant_id=ask.restricted_grant_id,
            target_institution_id=ask.target_institution_id,
            break_glass_justification=ask.break_glass_justification,
        )
        decision = decide(request, facts or Facts(policy=self.policy), now)
        entry = audit.append(
            session,
            _event(
                caller,
                ask,
                allowed=decision.allowed,
                reason=str(decision.reason),
                consent_id=decision.grant_id or decision.consent_id,
            ),
            at=now,
            head=head,
        )
        if self.on_decision is not None:
            label = decision_label(str(ask.action), str(decision.reason), decision.allowed)
            self.on_decision(label, decision.allowed)
        if decision.allowed and decision.obligations.notify_person and ask.person_id:
            self.notify(session, Notice(ask.person_id, caller, str(ask.action), now, entry.seq))
        return decision

    def record_event(
        self,
        session: Session,
        occasion: Occasion,
        reason: str,
        *,
        allowed: bool = False,
        consent_id: str | None = None,
    ) -> int:
        """Audit an event decided outside the policy (e.g. a failed passcode); its seq."""
        event = _event(
            occasion.caller, occasion.ask, allowed=allowed, reason=reason, consent_id=consent_id
        )
        if self.on_decision is not None:
            self.on_decision(event_label(reason), allowed)
        return audit.append(session, event, at=occasion.now).seq

    def notify(
        self,
        session: Session,
        notice: Notice,
        *,
        seal_detail: Callable[[str], bytes] | None = None,
    ) -> None:
        """The simulated SMS/e-mail to the person (R11). ``seal_detail(notification_id)``
        seals a detail only the person may read (e.g. an OTP)."""
        caller = notice.caller
        notification_id = new_id()
        notification = {
            "id": notification_id,
            "person_id": notice.person_id,
            "at": notice.at,
            "channel": NOTIFICATION_CHANNEL,
            "event": notice.event,
            "actor_kind": str(caller.actor.kind),
            "actor_id": caller.actor_id,
            "institution_id": caller.actor.institution_id,
            "audit_seq": notice.audit_seq,
            "detail_sealed": None if seal_detail is None else seal_detail(notification_id),
        }
        _INSERT_NOTIFICATION.run(session, notification)


def _event(
    caller: Caller, ask: Ask, *, allowed: bool, reason: str, consent_id: str | None
) -> audit.AuditEvent:
    """What the audit log records of one decision: identities, action, outcome, reason."""
    return audit.AuditEvent(
        actor_kind=str(caller.actor.kind),
        actor_id=caller.actor_id,
        institution_id=caller.actor.institution_id,
        on_behalf_of=caller.acting_for,
        person_id=ask.person_id,
        action=str(ask.action),
        resource_id=ask.resource_id,
        allowed=allowed,
        reason=reason,
        consent_id=consent_id,
        request_id=caller.request_id,
    )
