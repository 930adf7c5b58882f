"""What-if: what one actor could do with one person's records now, and why — the decisions
:func:`policies.decide` would give, without asking for anything in earnest.

``explain`` is pure like ``decide`` (no clock, no I/O) and asks ``decide`` itself, so an
explanation can never disagree with the rules. The questions depend on the actor:

* a **Hong Kong professional**: list the records (R3's visible set), and ask for
  restricted access;
* a **Mainland professional**: for each of the person's cross-border authorisations for
  their institution (newest first), open a viewing session with it and — if that is
  allowed — list the records through a session opened at this instant (R4's lookback);
  with no authorisation, the one step of opening a session without one;
* anyone else: list the records (the person's own view, a caregiver's, or a deny).

Each answer is an :class:`Explained` step: the action, the decision (reason and
obligations: the visible set a store turns into its query) and the authorisation it was
asked under, if any.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from policies.engine import decide
from policies.model import Actor, Decision, Facts, Request, ViewingSession
from policies.vocabulary import Action, ActorKind

WHAT_IF_SESSION = "what-if"
"""The id of the viewing session a Mainland step supposes opened now (never stored)."""


@dataclass(frozen=True, slots=True)
class Explained:
    """One question and the policy's answer to it."""

    action: Action
    decision: Decision
    authorisation_id: str | None = None


def explain(actor: Actor, facts: Facts, now: datetime) -> tuple[Explained, ...]:
    """The steps ``actor`` could take about ``facts.person`` at ``now`` (see the module);
    none when the facts name no person."""
    if facts.person is None:
        return ()
    person = facts.person.id
    if actor.kind is ActorKind.MAINLAND_PROFESSIONAL:
        return _mainland(actor, facts, person, now)
    steps = [Action.LIST_RECORDS]
    if actor.kind is ActorKind.HK_PROFESSIONAL:
        steps.append(Action.REQUEST_RESTRICTED_ACCESS)
    return tuple(
        Explained(action, decide(Request(actor, action, subject_id=person), facts, now))
        for action in steps
    )


def _mainland(actor: Actor, facts: Facts, person: str, now: datetime) -> tuple[Explained, ...]:
    mine = sorted(
        (a for a in facts.cross_border_authorisations if a.institution_id == actor.institution_id),
        key=lambda a: (a.issued_at, a.id),
        reverse=True,
    )
    if not mine:  # no authorisation: opening a session with none says why not
        request = Request(actor, Action.OPEN_VIEWING_SESSION, subject_id=person)
        return (Explained(Action.OPEN_VIEWING_SESSION, decide(request, facts, now)),)
    steps: list[Explained] = []
    for authorisation in mine:
        opening = Request(
            actor, Action.OPEN_VIEWING_SESSION, subject_id=person, authorisation_id=authorisation.id
        )
        opened = decide(opening, facts, now)
        steps.append(Explained(Action.OPEN_VIEWING_SESSION, opened, authorisation.id))
        if opened.allowed:
            steps.append(_list_through_new_session(actor, facts, person, authorisation.id, now))
    return tuple(steps)


def _list_through_new_session(
    actor: Actor, facts: Facts, person: str, authorisation_id: str, now: datetime
) -> Explained:
    authorisation = next(a for a in facts.cross_border_authorisations if a.id == authorisation_id)
    session = ViewingSession(
        WHAT_IF_SESSION,
        authorisation_id,
        actor.institution_id or "",
        actor.professional_id or "",
        now,
        facts.policy.viewing_session_expires_at(now, authorisation.expires_at),
    )
    supposed = replace(facts, viewing_sessions=(*facts.viewing_sessions, session))
    request = Request(actor, Action.LIST_RECORDS, subject_id=person, session_id=WHAT_IF_SESSION)
    return Explained(Action.LIST_RECORDS, decide(request, supposed, now), authorisation_id)
