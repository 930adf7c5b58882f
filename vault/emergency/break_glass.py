"""Break-glass: a Hong Kong professional's emergency access, where the policy enables it
(``policies/break-glass.toml``; the default policy refuses every invocation with
``break_glass_disabled``, whoever the person is).

:meth:`BreakGlass.invoke` asks the policy (``INVOKE_BREAK_GLASS``: the rule enabled, a
permitted profession, a person who joined, a stated reason of the policy's minimum
length). On allow the access is stored with its reason sealed under the person's data key
and a time box of the policy's length; the decision is audited as break-glass and the
person is notified at once, the notification carrying the reason (sealed for them only).
While the access lasts, the professional reads the person's eHR through the ordinary
routes; each view is audited ``break_glass`` and notified (the policy's obligations).

The operator reviews accesses (:meth:`BreakGlass.accesses`, :meth:`BreakGlass.review`):
who, for whom, when, how long the reason was, and whether it was reviewed — never the
reason's text (R9: no operator path to plaintext; the person and the institution hold it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from policies.model import Decision
from policies.vocabulary import Action, Reason
from vault.access.judge import Ask, Caller
from vault.access.usecase import UseCase
from vault.core.errors import Denied, NotFound, VaultError
from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.envelope import SealingKey
from vault.store import audit
from vault.store.tables import BreakGlassAccess, Notification

# Refusals a professional is told (the rule's own reasons); any other is "not found".
TOLD = frozenset(
    {
        Reason.BREAK_GLASS_DISABLED,
        Reason.BREAK_GLASS_NOT_PERMITTED,
        Reason.JUSTIFICATION_TOO_SHORT,
    }
)


class BreakGlassRefused(Denied):
    """The policy refused the emergency access for a reason the professional may know
    (``code``: ``break_glass_disabled``, ``break_glass_not_permitted``,
    ``justification_too_short``)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(f"break-glass refused: {reason}")
        self.code = str(reason)


@dataclass(frozen=True)
class EmergencyAccess:
    id: str
    person_id: str
    started_at: datetime
    expires_at: datetime


def _refusal(enabled: bool) -> Callable[[Action, Decision], VaultError]:
    """Where the rule is disabled every invocation is told so, whoever the person (the
    audit keeps the real reason); otherwise the rule's own reasons are told, and any other
    refusal (unknown person, not joined) is the canonical "not found" (R10)."""

    def refuse(action: Action, decision: Decision) -> VaultError:
        if not enabled:
            return BreakGlassRefused(Reason.BREAK_GLASS_DISABLED)
        if decision.reason in TOLD:
            return BreakGlassRefused(decision.reason)
        return NotFound("no such person")

    return refuse


class BreakGlass(UseCase):
    def invoke(self, caller: Caller, person_id: str, justification: str) -> EmergencyAccess:
        """Open the person's eHR to the calling professional for the policy's time box."""
        access_id = new_id()
        ask = Ask(
            Action.INVOKE_BREAK_GLASS,
            person_id,
            resource_id=access_id,
            break_glass_justification=justification,
        )

        def store(session: Session, decision: Decision, now: datetime) -> EmergencyAccess:
            return self._store(session, caller, (person_id, access_id, justification), now)

        refuse = _refusal(self.policy.break_glass.enabled)
        return self.decide_then(caller, ask, store, refuse=refuse)

    def _store(
        self, session: Session, caller: Caller, stated: tuple[str, str, str], now: datetime
    ) -> EmergencyAccess:
        person_id, access_id, justification = stated
        actor = caller.actor
        assert actor.institution_id is not None and actor.professional_id is not None
        key = self.vault.keys.get(session, person_id)
        reason = justification.strip().encode()
        row = BreakGlassAccess(
            person_id=person_id,
            id=access_id,
            institution_id=actor.institution_id,
            professional_id=actor.professional_id,
            justification_sealed=key.seal(reason, aad=aad.break_glass_reason(person_id, access_id)),
            justification_length=len(justification.strip()),
            started_at=now,
            expires_at=self.policy.break_glass_expires_at(now),
        )
        session.add(row)
        _tell_the_reason(
            session, (person_id, audit.lock_chain(session, person_id).seq), key, reason
        )
        session.flush()
        return EmergencyAccess(access_id, person_id, now, row.expires_at)

    def accesses(self, caller: Caller, *, unreviewed: bool = False) -> list[BreakGlassAccess]:
        """Every emergency access, newest first (for the operator's review)."""

        def work(session: Session, now: datetime) -> list[BreakGlassAccess]:
            query = select(BreakGlassAccess).order_by(col(BreakGlassAccess.started_at).desc())
            if unreviewed:
                query = query.where(col(BreakGlassAccess.reviewed_at).is_(None))
            rows = list(session.exec(query).all())
            for row in rows:
                session.expunge(row)
            return rows

        return self.run(caller, Ask(Action.REVIEW_BREAK_GLASS, None), work, refuse=_denied)

    def review(self, caller: Caller, access_id: str) -> BreakGlassAccess:
        """Mark one access reviewed by the calling operator (idempotent: the first review
        stands)."""

        def work(session: Session, now: datetime) -> BreakGlassAccess:
            row = session.exec(
                select(BreakGlassAccess).where(col(BreakGlassAccess.id) == access_id)
            ).first()
            if row is None:
                raise NotFound("no such break-glass access")
            if row.reviewed_at is None:
                row.reviewed_at, row.reviewed_by = now, caller.actor_id
                session.add(row)
                session.flush()
            session.expunge(row)
            return row

        ask = Ask(Action.REVIEW_BREAK_GLASS, None, resource_id=access_id)
        return self.run(caller, ask, work, refuse=_denied)


def _denied(action: Action, decision: Decision) -> VaultError:
    return Denied(str(action))


def _tell_the_reason(
    session: Session, told: tuple[str, int], key: SealingKey, reason: bytes
) -> None:
    """Seal the stated reason into the notification the decision sent the person (the
    policy's ``notify_person``: the judge wrote it, naming the decision's audit entry)."""
    person_id, seq = told
    notification = session.exec(
        select(Notification).where(
            col(Notification.person_id) == person_id, col(Notification.audit_seq) == seq
        )
    ).first()
    if notification is None:  # a policy variant without the notification: nothing to add
        return
    notification.detail_sealed = key.seal(reason, aad=aad.notification_detail(notification.id))
    session.add(notification)
