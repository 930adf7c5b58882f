"""One definition of "in force" per consent kind (``status_at``), and the engine agrees.

Each property draws one lifetime around ``now`` (boundaries included: an end equal to
``now`` has already ended) and checks that ``decide`` allows exactly when the consent's
``status_at`` says ``active``, relying on that consent, and otherwise denies with the
reason the standing names.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from policies import (
    Action,
    Actor,
    CaregiverDelegation,
    Category,
    CrossBorderAuthorisation,
    Facts,
    Policy,
    RadiologyAuthorisation,
    Reason,
    RecordRef,
    Request,
    RestrictedAccessGrant,
    SharingConsent,
    Source,
    Standing,
    decide,
)
from tests.policies.builders import (
    CAREGIVER,
    MICRO,
    PERSON,
    PROPERTY,
    Ends,
    around,
    consent,
    for_each_policy,
    instants,
    maybe_around,
    person,
    record,
    utc,
)
from tests.policies.plain_model import in_force

NOW = utc(2026, 3, 2, 3)
SOON = NOW + timedelta(days=1)
HKSH_DOCTOR = Actor.hk_professional("hksh", "hksh-doctor", "doctor")
MATILDA_CLERK = Actor.hk_professional("matilda", "matilda-clerk", "clerk")
HKU_SZ_DOCTOR = Actor.mainland_professional("hku_sz", "hkusz-doctor", "doctor")


class Lifetime(NamedTuple):
    """An instant and a consent's times around it."""

    now: datetime
    start: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def ends(self) -> Ends:
        return Ends(self.expires_at, self.revoked_at)


@st.composite
def lifetimes(draw: st.DrawFn, now: st.SearchStrategy[datetime] | None = None) -> Lifetime:
    instant = draw(instants() if now is None else now)
    return Lifetime(
        instant, draw(around(instant)), draw(maybe_around(instant)), draw(maybe_around(instant))
    )


def sharing(life: Lifetime, ident: str = "c1", institution: str = "hksh") -> SharingConsent:
    return consent(institution, life.start, ident=ident, ends=life.ends)


# --- the status functions themselves -----------------------------------------------------


def test_revocation_is_checked_before_expiry() -> None:
    c = consent("hksh", NOW - timedelta(days=9), ends=Ends(NOW, NOW))
    assert c.status_at(NOW) is Standing.REVOKED
    assert c.status_at(NOW - MICRO) is Standing.ACTIVE
    assert c.status_at(NOW - timedelta(days=10)) is Standing.NOT_YET
    d = CaregiverDelegation("d1", PERSON, CAREGIVER, NOW, expires_at=NOW + MICRO)
    assert [d.status_at(NOW - MICRO), d.status_at(NOW), d.status_at(NOW + MICRO)] == [
        Standing.NOT_YET,
        Standing.ACTIVE,
        Standing.EXPIRED,
    ]


def test_a_radiology_authorisation_is_revoked_then_used_then_expired() -> None:
    issued = NOW - timedelta(days=1)
    r = RadiologyAuthorisation("r1", PERSON, "hku_sz", issued, NOW, revoked_at=NOW, used_at=NOW)
    assert r.status_at(NOW) is Standing.REVOKED
    used = RadiologyAuthorisation("r1", PERSON, "hku_sz", issued, NOW, used_at=NOW - MICRO)
    assert used.status_at(NOW) is Standing.USED
    assert used.status_at(NOW - 2 * MICRO) is Standing.ACTIVE
    plain = RadiologyAuthorisation("r1", PERSON, "hku_sz", issued, NOW)
    assert [plain.status_at(NOW - MICRO), plain.status_at(NOW)] == [
        Standing.ACTIVE,
        Standing.EXPIRED,
    ]


def test_a_cross_border_authorisation_is_revoked_expired_locked_pending_active() -> None:
    issued = NOW - timedelta(days=1)
    a = CrossBorderAuthorisation("a1", PERSON, "hku_sz", issued, SOON, revoked_at=NOW)
    ready = NOW + timedelta(hours=1)
    assert a.status_at(NOW, ready_at=ready, locked=True) is Standing.REVOKED
    assert a.status_at(SOON, ready_at=ready) is Standing.REVOKED
    a = CrossBorderAuthorisation("a1", PERSON, "hku_sz", issued, SOON)
    assert a.status_at(SOON, ready_at=ready, locked=True) is Standing.EXPIRED
    assert a.status_at(NOW, ready_at=ready, locked=True) is Standing.LOCKED
    assert a.status_at(NOW, ready_at=ready) is Standing.PENDING
    assert a.status_at(ready, ready_at=ready) is Standing.ACTIVE


@PROPERTY
@given(life=lifetimes())
def test_active_means_started_and_not_yet_ended(life: Lifetime) -> None:
    c = sharing(life)
    d = CaregiverDelegation("d1", PERSON, CAREGIVER, life.start, life.expires_at, life.revoked_at)
    expected = in_force(life.start, life.now, life.revoked_at, life.expires_at)
    assert c.active_at(life.now) == d.active_at(life.now) == expected
    assert (c.status_at(life.now) is Standing.ACTIVE) == expected
    assert c.status_at(life.now) is d.status_at(life.now)


# --- the engine agrees -------------------------------------------------------------------

LAPSED_CONSENT = {
    Standing.NOT_YET: Reason.NO_SHARING_CONSENT,
    Standing.REVOKED: Reason.CONSENT_REVOKED,
    Standing.EXPIRED: Reason.CONSENT_EXPIRED,
}
LAPSED_DELEGATION = {
    Standing.NOT_YET: Reason.NO_DELEGATION,
    Standing.REVOKED: Reason.DELEGATION_REVOKED,
    Standing.EXPIRED: Reason.DELEGATION_EXPIRED,
}
LAPSED_AUTHORISATION = {
    Standing.REVOKED: Reason.AUTHORISATION_REVOKED,
    Standing.EXPIRED: Reason.AUTHORISATION_EXPIRED,
    Standing.PENDING: Reason.AUTHORISATION_PENDING,
}


@for_each_policy
@PROPERTY
@given(life=lifetimes())
def test_a_sharing_consent_gives_an_r3_read_iff_it_is_active(
    policy: Policy, life: Lifetime
) -> None:
    c = sharing(life)
    request = Request(HKSH_DOCTOR, Action.READ_RECORD, PERSON, record=record())
    decision = decide(request, Facts(policy, person(), (c,)), life.now)
    assert decision.allowed == c.active_at(life.now)
    if decision.allowed:
        assert (decision.reason, decision.consent_id) == (Reason.SHARING_CONSENT, c.id)
    else:
        assert decision.reason is LAPSED_CONSENT[c.status_at(life.now)]


@for_each_policy
@PROPERTY
@given(
    lives=st.lists(lifetimes(st.just(NOW)), min_size=1, max_size=4),
    scopes=st.lists(st.frozensets(st.sampled_from(list(Source)), min_size=1), min_size=4),
    source=st.sampled_from(list(Source)),
)
def test_the_consent_relied_on_is_the_latest_active_one_covering_the_source(
    policy: Policy, lives: list[Lifetime], scopes: list[frozenset[Source]], source: Source
) -> None:
    consents = tuple(
        consent("hksh", life.start, ident=f"c{n}", scopes=scopes[n], ends=life.ends)
        for n, life in enumerate(lives)
    )
    covering = [c for c in consents if c.active_at(NOW) and source in c.scopes]
    request = Request(HKSH_DOCTOR, Action.READ_RECORD, PERSON, record=record(source=source))
    decision = decide(request, Facts(policy, person(), consents), NOW)
    assert decision.allowed == bool(covering)
    if covering:
        assert decision.consent_id == max(covering, key=lambda c: (c.granted_at, c.id)).id
    listing = decide(
        Request(HKSH_DOCTOR, Action.LIST_RECORDS, PERSON), Facts(policy, person(), consents), NOW
    )
    active = [c for c in consents if c.active_at(NOW)]
    if active:
        assert listing.obligations.sources == frozenset().union(*(c.scopes for c in active))


@for_each_policy
@PROPERTY
@given(life=lifetimes(st.just(NOW)))
def test_a_restricted_grant_ends_with_the_consent_it_was_obtained_under(
    policy: Policy, life: Lifetime
) -> None:
    """A clerk holds an active consent c0 (so sharing holds) and an OTP grant for lab
    reports obtained under c1: the grant opens the report iff c1 is active."""
    anchor = consent("matilda", NOW - timedelta(days=1), ident="c0")
    under = sharing(life, ident="c1", institution="matilda")
    grant = RestrictedAccessGrant(
        "g1", PERSON, "matilda", "matilda-clerk", frozenset({Category.LAB_REPORT}), under.id,
        NOW - timedelta(minutes=5), NOW + timedelta(minutes=25),
    )  # fmt: skip
    facts = Facts(policy, person(), (anchor, under), restricted_grants=(grant,))
    request = Request(MATILDA_CLERK, Action.READ_RECORD, PERSON, record(Category.LAB_REPORT))
    decision = decide(request, facts, NOW)
    assert decision.allowed == under.active_at(NOW)
    if decision.allowed:
        assert (decision.reason, decision.grant_id) == (Reason.RESTRICTED_GRANT, grant.id)


@for_each_policy
@PROPERTY
@given(life=lifetimes())
def test_a_delegation_lets_the_caregiver_act_iff_it_is_active(
    policy: Policy, life: Lifetime
) -> None:
    d = CaregiverDelegation("d1", PERSON, CAREGIVER, life.start, life.expires_at, life.revoked_at)
    request = Request(Actor.caregiver(CAREGIVER), Action.READ_PROFILE, PERSON)
    decision = decide(request, Facts(policy, person(), delegations=(d,)), life.now)
    assert decision.allowed == d.active_at(life.now)
    if decision.allowed:
        assert (decision.reason, decision.consent_id) == (Reason.CAREGIVER, d.id)
    else:
        assert decision.reason is LAPSED_DELEGATION[d.status_at(life.now)]


AFTER_RADIOLOGY_LAUNCH = instants(datetime(2026, 1, 28), datetime(2029, 12, 31))
RADIOLOGY_DEPOSIT = Request(
    HKU_SZ_DOCTOR,
    Action.DEPOSIT_RADIOLOGY,
    PERSON,
    record=RecordRef(Category.RADIOLOGY_IMAGES, Source.PERSONAL_FOLDER, date(2026, 2, 1), None),
)


class RadiologyCase(NamedTuple):
    life: Lifetime
    used_at: datetime | None


@st.composite
def radiology_cases(draw: st.DrawFn) -> RadiologyCase:
    life = draw(lifetimes(AFTER_RADIOLOGY_LAUNCH))
    return RadiologyCase(life, draw(maybe_around(life.now)))


def radiology(case: RadiologyCase) -> RadiologyAuthorisation:
    life = case.life
    end = life.expires_at or life.start + timedelta(days=14)
    return RadiologyAuthorisation(
        "r1", PERSON, "hku_sz", life.start, end, life.revoked_at, case.used_at
    )


@for_each_policy
@PROPERTY
@given(case=radiology_cases())
def test_a_radiology_authorisation_lets_a_deposit_in_iff_it_is_active_and_issued(
    policy: Policy, case: RadiologyCase
) -> None:
    a = radiology(case)
    now = case.life.now
    decision = decide(
        RADIOLOGY_DEPOSIT, Facts(policy, person(), radiology_authorisations=(a,)), now
    )
    usable = a.status_at(now) is Standing.ACTIVE and a.issued_at <= now
    assert decision.allowed == usable
    if usable:
        assert (decision.reason, decision.consent_id) == (Reason.RADIOLOGY_AUTHORISATION, a.id)
    else:
        assert decision.reason is Reason.NO_RADIOLOGY_AUTHORISATION


@for_each_policy
@PROPERTY
@given(case=radiology_cases())
def test_used_at_and_a_use_passed_as_revoked_at_decide_alike(
    policy: Policy, case: RadiologyCase
) -> None:
    """The vault passes ``revoked or used`` as ``revoked_at``; a use in ``used_at`` must
    decide the same (for an authorisation never revoked)."""
    now = case.life.now
    used = radiology(case._replace(life=case.life._replace(revoked_at=None)))
    as_revoked = RadiologyAuthorisation(
        used.id, used.person_id, used.institution_id, used.issued_at, used.expires_at,
        case.used_at,
    )  # fmt: skip
    decisions = [
        decide(RADIOLOGY_DEPOSIT, Facts(policy, person(), radiology_authorisations=(a,)), now)
        for a in (used, as_revoked)
    ]
    assert decisions[0] == decisions[1]


@for_each_policy
@PROPERTY
@given(
    life=lifetimes(instants(datetime(2024, 8, 1), datetime(2029, 12, 31))),
    lasts=st.timedeltas(MICRO, timedelta(days=40)),
)
def test_a_cross_border_authorisation_opens_a_session_iff_it_is_active(
    policy: Policy, life: Lifetime, lasts: timedelta
) -> None:
    a = CrossBorderAuthorisation(
        "a1", PERSON, "hku_sz", life.start, life.expires_at or life.start + lasts, life.revoked_at
    )
    request = Request(HKU_SZ_DOCTOR, Action.OPEN_VIEWING_SESSION, PERSON, authorisation_id="a1")
    facts = Facts(policy, person(), cross_border_authorisations=(a,))
    decision = decide(request, facts, life.now)
    standing = a.status_at(life.now, ready_at=policy.cross_border_ready_at(a.issued_at))
    assert decision.allowed == (standing is Standing.ACTIVE)
    if decision.allowed:
        assert (decision.reason, decision.consent_id) == (Reason.CROSS_BORDER_AUTHORISATION, "a1")
    else:
        assert decision.reason is LAPSED_AUTHORISATION[standing]
