"""R3: Hong Kong providers (sharing consent, scopes, roles, OTP grants) and eHR deposits."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from policies import (
    Action,
    Actor,
    Category,
    ConsentKind,
    Facts,
    Policy,
    Profession,
    Reason,
    RecordRef,
    Request,
    RestrictedAccessGrant,
    Source,
    decide,
)
from tests.policies.builders import (
    HK_IDS,
    MICRO,
    PERSON,
    PROPERTY,
    Ends,
    categories,
    consent,
    for_each_policy,
    instants,
    known_records,
    person,
    record,
    sources,
    utc,
    view,
)

NOW = utc(2026, 3, 2, 4)
professions = st.sampled_from(list(Profession))
private = st.sampled_from([i for i in HK_IDS if i not in ("ha", "dh")])


def staff(institution: str, profession: str, ident: str = "pro-1") -> Actor:
    return Actor.hk_professional(institution, ident, profession)


@for_each_policy
@PROPERTY
@given(
    actor=st.builds(staff, private, professions),
    probe=known_records,
    scopes=st.frozensets(sources, min_size=1),
    now=instants(),
)
def test_role_scope_and_consent_decide_a_read(
    policy: Policy, actor: Actor, probe: RecordRef, scopes: frozenset[Source], now: datetime
) -> None:
    """With an active consent: allowed iff the source is in its scopes and the category
    is general for the profession. Without: never."""
    assert actor.institution_id is not None and actor.profession is not None
    c = consent(actor.institution_id, now - timedelta(days=1), scopes=scopes)
    general = policy.general_categories[actor.profession]
    expected = probe.source in scopes and probe.category in general
    assert decide(view(actor, record=probe), Facts(policy, person(), (c,)), now).allowed == (
        expected
    )
    assert not decide(view(actor, record=probe), Facts(policy, person()), now).allowed


@for_each_policy
@PROPERTY
@given(institution=st.sampled_from(["ha", "dh"]), probe=known_records, now=instants())
def test_implied_sharing_covers_the_ehr_once_joined(
    policy: Policy, institution: str, probe: RecordRef, now: datetime
) -> None:
    actor = staff(institution, "doctor")
    allowed = decide(view(actor, record=probe), Facts(policy, person()), now).allowed
    assert allowed == (probe.source == Source.EHR)
    not_joined = Facts(policy, person(joined=False))
    assert decide(view(actor, record=probe), not_joined, now).reason is Reason.NOT_JOINED
    folder = consent(institution, now - timedelta(days=1), scopes=frozenset(Source))
    facts = Facts(policy, person(), (folder,))
    assert decide(view(actor, record=probe), facts, now).allowed
    assert decide(view(actor, record=probe), facts, now).consent_id == folder.id


@for_each_policy
def test_explicit_consent_for_the_folder_keeps_the_implied_ehr(policy: Policy) -> None:
    folder_only = consent("ha", NOW - timedelta(days=1), scopes=frozenset({Source.PERSONAL_FOLDER}))
    facts = Facts(policy, person(), (folder_only,))
    decision = decide(view(staff("ha", "doctor")), facts, NOW)
    assert decision.reason is Reason.IMPLIED_SHARING and decision.consent_id is None
    listing = decide(view(staff("ha", "doctor"), Action.LIST_RECORDS), facts, NOW)
    assert listing.obligations.sources == frozenset(Source)


@for_each_policy
def test_scope_not_covered(policy: Policy) -> None:
    folder_only = consent(
        "hksh", NOW - timedelta(days=1), scopes=frozenset({Source.PERSONAL_FOLDER})
    )
    decision = decide(view(staff("hksh", "doctor")), Facts(policy, person(), (folder_only,)), NOW)
    assert decision.reason is Reason.SCOPE_NOT_COVERED


def grant(
    categories: frozenset[Category],
    *,
    consent_id: str | None = "consent-1",
    confirmed: datetime | None = NOW - timedelta(minutes=5),
    minutes: int = 30,
) -> RestrictedAccessGrant:
    """Grant g1 to hksh's pro-1 for ``categories``, lasting ``minutes`` from confirmation."""
    expires = (confirmed or NOW) + timedelta(minutes=minutes)
    return RestrictedAccessGrant(
        "g1", PERSON, "hksh", "pro-1", categories, consent_id, confirmed, expires
    )


@for_each_policy
@PROPERTY
@given(profession=professions, category=categories, covered=st.frozensets(categories))
def test_restricted_category_needs_a_confirmed_grant(
    policy: Policy, profession: Profession, category: Category, covered: frozenset[Category]
) -> None:
    actor = staff("hksh", profession)
    general = policy.general_categories[profession]
    c = consent("hksh", NOW - timedelta(days=1))
    probe = record(category)
    facts = Facts(policy, person(), (c,), restricted_grants=(grant(covered),))
    decision = decide(view(actor, record=probe), facts, NOW)
    assert decision.allowed == (category in general or category in covered)
    if decision.allowed and category not in general:
        assert (decision.reason, decision.grant_id) == (Reason.RESTRICTED_GRANT, "g1")
    listing = decide(view(actor, Action.LIST_RECORDS), facts, NOW)
    assert listing.obligations.categories == general | covered
    # Unconfirmed (no OTP yet), someone else's, or another institution's: nothing.
    for other in (
        grant(covered, confirmed=None),
        dataclasses.replace(grant(covered), professional_id="pro-2"),
        dataclasses.replace(grant(covered), institution_id="matilda"),
    ):
        facts = Facts(policy, person(), (c,), restricted_grants=(other,))
        assert decide(view(actor, record=probe), facts, NOW).allowed == (category in general)


@for_each_policy
def test_restricted_grant_never_outlasts_the_policy_duration(policy: Policy) -> None:
    nurse = staff("hksh", "nurse")
    c = consent("hksh", NOW - timedelta(days=1))
    confirmed = NOW - timedelta(minutes=30)
    careless = grant(frozenset({Category.RADIOLOGY_REPORT}), confirmed=confirmed, minutes=600)
    facts = Facts(policy, person(), (c,), restricted_grants=(careless,))
    probe = record(Category.RADIOLOGY_REPORT)
    assert decide(view(nurse, record=probe), facts, NOW - MICRO).allowed
    assert decide(view(nurse, record=probe), facts, NOW).reason is Reason.RESTRICTED_CATEGORY


@for_each_policy
def test_grant_under_a_revoked_consent_does_not_survive_a_new_consent(policy: Policy) -> None:
    """R8: a grant ends with the consent it was obtained under, even if a new consent
    is given later."""
    nurse = staff("hksh", "nurse")
    old = consent("hksh", NOW - timedelta(days=9), ends=Ends(revoked_at=NOW - timedelta(minutes=2)))
    new = consent("hksh", NOW - timedelta(minutes=1), ident="consent-2")
    g = grant(frozenset({Category.RADIOLOGY_REPORT}), consent_id=old.id)
    facts = Facts(policy, person(), (old, new), restricted_grants=(g,))
    probe = record(Category.RADIOLOGY_REPORT)
    assert decide(view(nurse, record=probe), facts, NOW).reason is Reason.RESTRICTED_CATEGORY
    assert decide(view(nurse), facts, NOW).consent_id == "consent-2"


@for_each_policy
def test_requesting_restricted_access_needs_consent(policy: Policy) -> None:
    nurse = staff("matilda", "nurse")
    request = Request(nurse, Action.REQUEST_RESTRICTED_ACCESS, PERSON)
    assert decide(request, Facts(policy, person()), NOW).reason is Reason.NO_SHARING_CONSENT
    c = dataclasses.replace(consent("matilda", NOW - timedelta(days=1)), kind=ConsentKind.ONE_YEAR)
    decision = decide(request, Facts(policy, person(), (c,)), NOW)
    assert decision.allowed and decision.consent_id == c.id


@for_each_policy
def test_consent_reasons(policy: Policy) -> None:
    doctor = staff("hksh", "doctor")
    revoked = consent("hksh", NOW - timedelta(days=9), ends=Ends(revoked_at=NOW))
    expired = consent("hksh", NOW - timedelta(days=9), ends=Ends(expires_at=NOW))
    future = consent("hksh", NOW + MICRO)
    for c, reason in (
        (revoked, Reason.CONSENT_REVOKED),
        (expired, Reason.CONSENT_EXPIRED),
        (future, Reason.NO_SHARING_CONSENT),
    ):
        assert decide(view(doctor), Facts(policy, person(), (c,)), NOW).reason is reason


# --- eHR deposits and the 2025-12-01 change ----------------------------------------------

CHANGE = utc(2025, 11, 30, 16)  # 2025-12-01 00:00 in Hong Kong


def deposit(institution: str, r: RecordRef | None = None) -> Request:
    r = r or record(depositor=institution)
    return Request(staff(institution, "doctor"), Action.DEPOSIT_RECORD, PERSON, record=r)


@for_each_policy
@PROPERTY
@given(institution=st.sampled_from(HK_IDS), now=instants(), has_consent=st.booleans())
def test_deposit_timeline(
    policy: Policy, institution: str, now: datetime, has_consent: bool
) -> None:
    consents = (consent(institution, now - timedelta(days=1)),) if has_consent else ()
    facts = Facts(policy, person(), consents)
    implied = policy.institutions[institution].implied_sharing
    expected = now >= CHANGE or has_consent or implied
    assert decide(deposit(institution), facts, now).allowed == expected
    not_joined = dataclasses.replace(facts, person=person(joined=False))
    assert not decide(deposit(institution), not_joined, now).allowed


@for_each_policy
def test_deposit_boundary_is_hong_kong_midnight(policy: Policy) -> None:
    facts = Facts(policy, person())
    assert decide(deposit("hksh"), facts, CHANGE - MICRO).reason is Reason.NO_SHARING_CONSENT
    assert decide(deposit("hksh"), facts, CHANGE).reason is Reason.PARTICIPATING_PROVIDER


@for_each_policy
def test_deposit_is_an_ehr_in_the_own_name(policy: Policy) -> None:
    facts = Facts(policy, person())
    cases = {
        Category.RADIOLOGY_IMAGES: Reason.NOT_SHARABLE,
        Category.DOCUMENT: Reason.NOT_SHARABLE,
    }
    for category, reason in cases.items():
        r = record(category, depositor="hksh")
        assert decide(deposit("hksh", r), facts, NOW).reason is reason
    folder = record(source=Source.PERSONAL_FOLDER, depositor="hksh")
    assert decide(deposit("hksh", folder), facts, NOW).reason is Reason.NOT_SHARABLE
    impostor = record(depositor="ha")
    assert decide(deposit("hksh", impostor), facts, NOW).reason is Reason.WRONG_INSTITUTION
