"""decide against the plain model, over histories of grants, revocations and time.

A ``RuleBasedStateMachine`` keeps the facts a store would keep (consents, cross-border
authorisations, sessions, grants, delegations, radiology authorisations, emergencies) and a
clock; after every step every probe must get the same answer from ``decide`` and from
``tests/policies/plain_model.py`` — allowed or not, what was relied on, and the exact
visible set. The clock jumps onto (and one microsecond before) every instant at which
something ends or a rule changes, so boundaries are always exercised.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from policies import (
    Action,
    Actor,
    ActorKind,
    BreakGlassAccess,
    CaregiverDelegation,
    Category,
    ConsentKind,
    CrossBorderAuthorisation,
    Facts,
    Person,
    Policy,
    RadiologyAuthorisation,
    RecordRef,
    Request,
    RestrictedAccessGrant,
    SharingConsent,
    Source,
    ViewingSession,
    decide,
)
from policies.dates import HONG_KONG
from tests.policies.builders import (
    CAREGIVER,
    DEFAULT,
    HK_IDS,
    HK_STAFF,
    MAINLAND_IDS,
    MAINLAND_STAFF,
    MICRO,
    PERSON,
    POLICIES,
    SECOND_CAREGIVER,
    VIEWS,
    focused_requests,
    instants,
    known_records,
    requests,
)
from tests.policies.plain_model import expected, outcome_of

STEPS = st.one_of(
    st.timedeltas(MICRO, timedelta(seconds=1)),
    st.timedeltas(timedelta(minutes=1), timedelta(hours=3)),
    st.timedeltas(timedelta(hours=3), timedelta(days=120)),
)
PROBES = (
    RecordRef(Category.LAB_REPORT, Source.EHR, date(2025, 6, 1), "ha"),
    RecordRef(Category.RADIOLOGY_REPORT, Source.EHR, date(2023, 3, 1), "hksh"),
    RecordRef(Category.RADIOLOGY_IMAGES, Source.PERSONAL_FOLDER, date(2026, 2, 1), "hku_sz"),
    RecordRef(Category.DOCUMENT, Source.PERSONAL_FOLDER, date(2024, 2, 29), None),
)
RULE_CHANGES = tuple(
    datetime(d.year, d.month, d.day, tzinfo=HONG_KONG)
    for d in {
        *(e.starts_on for e in DEFAULT.timeline),
        *(i.designated_on for i in DEFAULT.institutions.values() if i.designated_on),
        date(2026, 1, 27),
    }
)

VIEWERS = (
    Actor.citizen(PERSON),
    Actor.caregiver(CAREGIVER),
    Actor.caregiver(SECOND_CAREGIVER),
    *(Actor.hk_professional(*staff) for staff in HK_STAFF),
    *(Actor.mainland_professional(*staff) for staff in MAINLAND_STAFF),
)


Revocable = TypeVar(
    "Revocable",
    SharingConsent,
    CrossBorderAuthorisation,
    RadiologyAuthorisation,
    CaregiverDelegation,
)


ANY_REQUEST = st.one_of(requests(), focused_requests())


class PolicyMachine(RuleBasedStateMachine):
    policy: Policy = DEFAULT

    @initialize(
        start=instants(datetime(2024, 6, 1), datetime(2025, 12, 31))
        | instants(datetime(2025, 12, 20), datetime(2027, 6, 1)),
        born=st.dates(date(1940, 1, 1), date(1965, 12, 31)) | st.just(date(1960, 2, 29)),
        joined=st.booleans(),
    )
    def setup(self, start: datetime, born: date, joined: bool) -> None:
        self.now = start
        self.person = Person(PERSON, born, start - timedelta(days=1) if joined else None)
        self.consents: list[SharingConsent] = []
        self.authorisations: list[CrossBorderAuthorisation] = []
        self.sessions: list[ViewingSession] = []
        self.radiology: list[RadiologyAuthorisation] = []
        self.grants: list[RestrictedAccessGrant] = []
        self.delegations: list[CaregiverDelegation] = []
        self.emergencies: list[BreakGlassAccess] = []

    # --- the clock -----------------------------------------------------------------------

    @rule(step=STEPS)
    def wait(self, step: timedelta) -> None:
        self.now += step

    @rule(data=st.data(), just_before=st.booleans())
    def jump_to_a_boundary(self, data: st.DataObject, just_before: bool) -> None:
        ahead = sorted(t for t in self.boundaries() if t - MICRO > self.now)
        if ahead:
            target = data.draw(st.sampled_from(ahead[:6]))
            self.now = target - MICRO if just_before else target

    def boundaries(self) -> list[datetime]:
        policy = self.policy
        found: list[datetime] = list(RULE_CHANGES)
        ends: list[datetime | None] = []
        for c in self.consents:
            ends += [c.expires_at, c.revoked_at]
        for a in self.authorisations:
            ends += [a.expires_at, a.revoked_at]
        for r in self.radiology:
            ends += [r.expires_at, r.revoked_at]
        for d in self.delegations:
            ends += [d.expires_at, d.revoked_at]
        found += [t for t in ends if t is not None]
        for a in self.authorisations:
            found.append(policy.cross_border_ready_at(a.issued_at))
        for s in self.sessions:
            found += [s.expires_at, s.opened_at + policy.durations.viewing_session]
            found += [s.closed_at] if s.closed_at else []
        for g in self.grants:
            found += [g.expires_at]
        for b in self.emergencies:
            found += [b.expires_at, b.started_at + policy.break_glass.duration]
        return found

    # --- the person's side ---------------------------------------------------------------

    @rule()
    def join(self) -> None:
        if self.person.joined_at is None:
            self.person = Person(self.person.id, self.person.date_of_birth, self.now)

    @rule(
        institution=st.sampled_from(HK_IDS),
        kind=st.sampled_from(list(ConsentKind)),
        scopes=st.frozensets(st.sampled_from(list(Source)), min_size=1),
    )
    def give_sharing_consent(
        self, institution: str, kind: ConsentKind, scopes: frozenset[Source]
    ) -> None:
        ident = f"c{len(self.consents) + 1}"
        expires = self.policy.sharing_consent_expires_at(kind, self.now)
        self.consents.append(
            SharingConsent(ident, PERSON, institution, kind, scopes, self.now, expires)
        )

    @rule(data=st.data())
    def revoke_sharing_consent(self, data: st.DataObject) -> None:
        self.consents = self.revoke(data, self.consents)

    @rule(institution=st.sampled_from(MAINLAND_IDS))
    def apply_cross_border(self, institution: str) -> None:
        ident = f"a{len(self.authorisations) + 1}"
        expires = self.policy.cross_border_expires_at(self.now)
        self.authorisations.append(
            CrossBorderAuthorisation(ident, PERSON, institution, self.now, expires)
        )

    @rule(data=st.data())
    def revoke_cross_border(self, data: st.DataObject) -> None:
        self.authorisations = self.revoke(data, self.authorisations)

    @rule(institution=st.sampled_from(MAINLAND_IDS))
    def authorise_radiology(self, institution: str) -> None:
        ident = f"r{len(self.radiology) + 1}"
        expires = self.policy.radiology_authorisation_expires_at(self.now)
        self.radiology.append(RadiologyAuthorisation(ident, PERSON, institution, self.now, expires))

    @rule(data=st.data())
    def revoke_radiology(self, data: st.DataObject) -> None:
        self.radiology = self.revoke(data, self.radiology)

    @rule(
        caregiver=st.sampled_from([CAREGIVER, SECOND_CAREGIVER]),
        days=st.none() | st.integers(1, 400),
        delegator=st.sampled_from([PERSON, PERSON, CAREGIVER]),
    )
    def delegate(self, caregiver: str, days: int | None, delegator: str) -> None:
        ident = f"d{len(self.delegations) + 1}"
        expires = None if days is None else self.now + timedelta(days=days)
        self.delegations.append(CaregiverDelegation(ident, delegator, caregiver, self.now, expires))

    @rule(data=st.data())
    def revoke_delegation(self, data: st.DataObject) -> None:
        self.delegations = self.revoke(data, self.delegations)

    def revoke(self, data: st.DataObject, items: list[Revocable]) -> list[Revocable]:
        live = [n for n, item in enumerate(items) if item.revoked_at is None]
        if not live:
            return items
        n = data.draw(st.sampled_from(live))
        items = list(items)
        items[n] = dataclasses.replace(items[n], revoked_at=self.now)
        return items

    # --- the professionals' side ---------------------------------------------------------

    @rule(staff=st.sampled_from(MAINLAND_STAFF), data=st.data(), matching=st.booleans())
    def open_session(
        self, staff: tuple[str, str, str], data: st.DataObject, matching: bool
    ) -> None:
        """Usually by staff of the authorised institution; sometimes by anyone (a store
        bug or a forged session, which decide must refuse)."""
        if not self.authorisations:
            return
        a = data.draw(st.sampled_from(self.authorisations))
        colleagues = [s for s in MAINLAND_STAFF if s[0] == a.institution_id]
        if matching and colleagues:
            staff = data.draw(st.sampled_from(colleagues))
        expires = self.policy.viewing_session_expires_at(self.now, a.expires_at)
        ident = f"s{len(self.sessions) + 1}"
        self.sessions.append(ViewingSession(ident, a.id, staff[0], staff[1], self.now, expires))

    @rule(data=st.data())
    def close_session(self, data: st.DataObject) -> None:
        open_ = [n for n, s in enumerate(self.sessions) if s.closed_at is None]
        if open_:
            n = data.draw(st.sampled_from(open_))
            s = self.sessions[n]
            self.sessions[n] = dataclasses.replace(s, closed_at=self.now)

    @rule(
        staff=st.sampled_from(HK_STAFF),
        categories=st.frozensets(st.sampled_from(list(Category)), min_size=1, max_size=4),
        confirmed=st.booleans(),
        data=st.data(),
    )
    def restricted_access(
        self,
        staff: tuple[str, str, str],
        categories: frozenset[Category],
        confirmed: bool,
        data: st.DataObject,
    ) -> None:
        theirs = [c.id for c in self.consents if c.institution_id == staff[0]]
        consent_id = data.draw(st.sampled_from([None, *theirs]))
        ident = f"g{len(self.grants) + 1}"
        expires = self.policy.restricted_grant_expires_at(self.now)
        confirmed_at = self.now if confirmed else None
        self.grants.append(
            RestrictedAccessGrant(
                ident, PERSON, staff[0], staff[1], categories, consent_id, confirmed_at, expires
            )
        )

    @rule(staff=st.sampled_from(HK_STAFF))
    def break_glass(self, staff: tuple[str, str, str]) -> None:
        ident = f"b{len(self.emergencies) + 1}"
        expires = self.policy.break_glass_expires_at(self.now)
        reason = "Cardiac arrest in the waiting room; history needed now."
        self.emergencies.append(
            BreakGlassAccess(ident, PERSON, staff[0], staff[1], len(reason), self.now, expires)
        )

    # --- checks --------------------------------------------------------------------------

    def facts(self) -> Facts:
        return Facts(
            self.policy,
            self.person,
            tuple(self.consents),
            tuple(self.authorisations),
            tuple(self.sessions),
            tuple(self.radiology),
            tuple(self.grants),
            tuple(self.delegations),
            tuple(self.emergencies),
        )

    def agree(self, request: Request) -> None:
        facts = self.facts()
        got = outcome_of(decide(request, facts, self.now))
        want = expected(request, facts, self.now)
        assert got == want, f"{request}\nat {self.now.astimezone(UTC)}\n{got}\n!=\n{want}"

    @rule(data=st.data())
    def any_request(self, data: st.DataObject) -> None:
        self.agree(data.draw(ANY_REQUEST))

    @rule(
        actor=st.sampled_from(VIEWERS),
        action=st.sampled_from(VIEWS),
        probe=known_records,
        data=st.data(),
    )
    def a_view(self, actor: Actor, action: Action, probe: RecordRef, data: st.DataObject) -> None:
        session_id = data.draw(st.sampled_from([None, *(s.id for s in self.sessions)]))
        on_behalf_of = PERSON if actor.kind is ActorKind.CAREGIVER else None
        record = None if action is Action.LIST_RECORDS else probe
        self.agree(Request(actor, action, PERSON, record, on_behalf_of, session_id))

    @invariant()
    def everyone_sees_what_the_model_says(self) -> None:
        if not hasattr(self, "person"):
            return
        probes: list[Request] = []
        for staff in HK_STAFF:
            actor = Actor.hk_professional(*staff)
            probes.append(Request(actor, Action.LIST_RECORDS, PERSON))
            probes += [Request(actor, Action.READ_RECORD, PERSON, record=r) for r in PROBES]
        for staff in MAINLAND_STAFF:
            actor = Actor.mainland_professional(*staff)
            for s in self.sessions:
                probes.append(Request(actor, Action.LIST_RECORDS, PERSON, session_id=s.id))
                probes += [
                    Request(actor, Action.READ_CONTENT, PERSON, record=r, session_id=s.id)
                    for r in PROBES[:2]
                ]
        for caregiver in (CAREGIVER, SECOND_CAREGIVER):
            probes.append(
                Request(
                    Actor.caregiver(caregiver), Action.LIST_RECORDS, PERSON, on_behalf_of=PERSON
                )
            )
        for request in probes:
            self.agree(request)


for _policy in POLICIES:
    _name = "TestAgainstPlainModel_" + _policy.name.replace("-", "_")
    _machine: type[PolicyMachine] = type(_name, (PolicyMachine,), {"policy": _policy})
    _machine.TestCase.settings = settings(max_examples=20, stateful_step_count=35, deadline=None)
    globals()[_name] = _machine.TestCase
