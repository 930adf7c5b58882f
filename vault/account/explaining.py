"""What-if as a service: what one actor could see of a person's records now under one of
the loaded policies, and why — the decisions of :func:`policies.explain.explain` (the
same ``decide`` the API and the simulator run), and how many of the person's records each
allowed listing would show, by category. Never content, never a record's id or title.

Only the person, their caregiver (R2) and the operator may ask; asking is itself decided
and audited on the person's chain (``explain_access``). Anyone else, and a person who does
not exist, get the same not-found (R10). The operator gets the decisions only: no counts
of records (R9 keeps health data, counts by category included, from the operator). The
institution named must be in the chosen policy's registry (``unknown_institution``
otherwise, before anything is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from policies.explain import Explained, explain
from policies.model import Actor
from policies.policy_file import Policy
from policies.vocabulary import Action, ActorKind, Region
from vault.access.judge import Ask, Caller
from vault.access.usecase import Unusable, UseCase
from vault.core.errors import NotFound
from vault.records.listing import count_visible, visible_filter
from vault.store.facts import load_facts


@dataclass(frozen=True)
class WhatIf:
    """The question: ``professional_id`` (a ``profession``) of ``institution_id``, about
    ``person_id``. The professional need not exist: the policy judges the role."""

    person_id: str
    institution_id: str
    professional_id: str
    profession: str


@dataclass(frozen=True)
class Step:
    """One decision, and for an allowed listing the records it would show, by category
    (counted in the database on the listing's own predicates; empty for the operator)."""

    explained: Explained
    visible: dict[str, int]


@dataclass(frozen=True)
class Explanation:
    policy: str
    actor: Actor
    steps: tuple[Step, ...]


def supposed_actor(policy: Policy, question: WhatIf) -> Actor:
    """The professional the question supposes, Hong Kong or Mainland by the institution's
    region in ``policy``."""
    institution = policy.institutions.get(question.institution_id)
    if institution is None:
        raise Unusable("unknown_institution", "No such institution in this policy.")
    make = (
        Actor.mainland_professional
        if institution.region is Region.MAINLAND
        else Actor.hk_professional
    )
    return make(question.institution_id, question.professional_id, question.profession)


class AccessExplanations(UseCase):
    def explain_access(self, caller: Caller, question: WhatIf, policy: Policy) -> Explanation:
        actor = supposed_actor(policy, question)

        def work(session: Session, now: datetime) -> Explanation:
            facts = load_facts(session, policy, question.person_id)
            if facts.person is None:  # the operator asked about no one
                raise NotFound("no such person")
            explained = explain(actor, facts, now)
            counted = caller.actor.kind is not ActorKind.OPERATOR  # the operator: decisions
            steps = tuple(_step(session, facts.person.id, e, counted) for e in explained)
            return Explanation(policy.name, actor, steps)

        ask = Ask(Action.EXPLAIN_ACCESS, question.person_id, resource_id=question.institution_id)
        return self.run(caller, ask, work, savepoint=False)


def _step(session: Session, person_id: str, explained: Explained, counted: bool) -> Step:
    decision = explained.decision
    if not counted or explained.action is not Action.LIST_RECORDS or not decision.allowed:
        return Step(explained, {})
    return Step(explained, count_visible(session, person_id, visible_filter(decision.obligations)))
