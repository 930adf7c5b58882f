"""The gate every professional passes, the context the professional rules receive, and
deposit receipts (R5), which both regions' depositors read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import NamedTuple

from policies.model import Decision, Facts, Obligations, Person, RecordRef, Request
from policies.policy import Institution, Policy
from policies.rules.common import RECORD_ACTIONS, deny, record_problem, today
from policies.vocabulary import Action, Category, Reason, Region


class RuleContext(NamedTuple):
    """One professional's request at ``now``, as the gate found it: the subject
    ``person``, the asker's registered ``institution`` and the categories their
    profession sees without a grant (``general``, R3). A named tuple: immutable, and built
    on every decision at the cost of one tuple."""

    request: Request
    facts: Facts
    now: datetime
    person: Person
    institution: Institution
    general: frozenset[Category]

    @property
    def policy(self) -> Policy:
        return self.facts.policy

    @property
    def today(self) -> date:
        """The Hong Kong date of ``now``."""
        return today(self.now)

    @property
    def viewed_record(self) -> RecordRef | None:
        """The record a read is about; ``None`` for a list."""
        return self.request.record if self.request.action is not Action.LIST_RECORDS else None

    @property
    def deposited_record(self) -> RecordRef:
        """The record of a deposit (the gate has checked it is there)."""
        record = self.request.record
        assert record is not None  # checked by the gate
        return record


Rule = Callable[[RuleContext], Decision]
Judge = Callable[[Request, Facts, datetime], Decision]


def professionals(region: Region, rules: Mapping[Action, Rule]) -> Judge:
    """The judge of ``region``'s professionals: the asker is staff of a registered
    institution of that region with a profession the policy knows, the action is one of
    ``rules``, the subject is the person in the facts, and a record-specific request names
    a well-formed record. Then the action's rule decides, given one :class:`RuleContext`."""

    def judge(request: Request, facts: Facts, now: datetime) -> Decision:
        actor = request.actor
        policy = facts.policy
        institution = policy.institutions.get(actor.institution_id or "")
        if institution is None or institution.region is not region:
            return deny(Reason.UNKNOWN_INSTITUTION if institution is None else Reason.WRONG_REGION)
        general = policy.general_categories.get(actor.profession or "")
        if general is None:
            return deny(Reason.UNKNOWN_PROFESSION)
        rule = rules.get(request.action)
        if actor.professional_id is None or rule is None:
            return deny(Reason.DEFAULT_DENY)
        person = facts.person
        if person is None or person.id != request.subject_id:
            return deny(Reason.UNKNOWN_PERSON)
        if request.action in RECORD_ACTIONS:
            problem = record_problem(request.record)
            if problem is not None:
                return deny(problem)
        return rule(RuleContext(request, facts, now, person, institution, general))

    return judge


def own_receipt(ctx: RuleContext) -> Decision:
    """A depositor sees its own deposit receipts, and nothing else (R5)."""
    record = ctx.request.record
    if record is None or record.depositor_institution_id != ctx.institution.id:
        return deny(Reason.WRONG_INSTITUTION)
    return Decision(
        True,
        Reason.OWN_DEPOSIT_RECEIPT,
        obligations=Obligations(depositors=frozenset({ctx.institution.id})),
    )
