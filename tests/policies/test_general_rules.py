"""Rules that hold across all actors: deny by default, R7-R11, bad input."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from policies import (
    NOTHING,
    Action,
    Actor,
    ActorKind,
    BreakGlassAccess,
    CaregiverDelegation,
    Category,
    ConsentKind,
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
    ViewingSession,
    decide,
)
from tests.policies.builders import (
    BREAK_GLASS,
    BROAD,
    CAREGIVER,
    HK_IDS,
    HK_STAFF,
    MAINLAND_STAFF,
    MICRO,
    OPERATOR_ACTIONS,
    OPERATOR_MAY,
    PERSON,
    PROPERTY,
    VIEWS,
    Ends,
    Probe,
    around,
    consent,
    cross_border,
    focused_requests,
    for_each_policy,
    hk_staff,
    instants,
    known_records,
    mainland_staff,
    maybe_offsets,
    person,
    probes,
    record,
    requests,
    session_for,
    situations,
    sources,
    staff_actors,
    utc,
    view,
    view_requests,
)
from tests.policies.plain_model import outcome_of

PERSON_KINDS = (ActorKind.CITIZEN, ActorKind.CAREGIVER)


ALL_STAFF = [Actor.hk_professional(*s) for s in HK_STAFF] + [
    Actor.mainland_professional(*s) for s in MAINLAND_STAFF
]
staff = st.sampled_from(ALL_STAFF)

# --- deny by default ---------------------------------------------------------------------


@for_each_policy
@PROPERTY
@given(
    request=requests() | view_requests(staff_actors),
    now=instants(),
    exists=st.booleans(),
)
@example(  # found by hypothesis once: an admin client managing its own institution
    request=Request(
        Actor(ActorKind.INSTITUTION_ADMIN, institution_id="dh"),
        Action.MANAGE_INSTITUTION,
        None,
        target_institution_id="dh",
    ),
    now=utc(2024, 6, 1),
    exists=False,
)
def test_deny_by_default(policy: Policy, request: Request, now: datetime, exists: bool) -> None:
    """With no consent, authorisation, session, grant or delegation, only the person, the
    operator's own business, an institution admin's management of its own institution and a
    depositor's own receipts are allowed. (The person has not joined, so HA/DH's implied
    sharing and post-2025-12-01 deposits stay denied too.)"""
    facts = Facts(policy, person(joined=False) if exists else None)
    decision = decide(request, facts, now)
    if decision.allowed:
        assert decision.reason in {
            Reason.OWNER,
            Reason.OPERATOR,
            Reason.INSTITUTION_ADMIN,
            Reason.OWN_DEPOSIT_RECEIPT,
        }
        if decision.reason is Reason.INSTITUTION_ADMIN:
            assert request.actor.kind is ActorKind.INSTITUTION_ADMIN
            assert request.action is Action.MANAGE_INSTITUTION
            assert request.target_institution_id == request.actor.institution_id
        if decision.reason is Reason.OWNER:
            assert request.actor.person_id == request.subject_id == PERSON
        if decision.reason is Reason.OPERATOR:
            assert request.actor.kind is ActorKind.OPERATOR


@for_each_policy
def test_unknown_actor_kind_or_action_is_denied(policy: Policy) -> None:
    facts = Facts(policy, person())
    now = utc(2026, 3, 1)
    stranger = Actor("robot", person_id=PERSON)  # type: ignore[arg-type]
    assert decide(Request(stranger, Action.READ_PROFILE, PERSON), facts, now).reason is (
        Reason.DEFAULT_DENY
    )
    for actor in (Actor.citizen(PERSON), hk_staff(0), mainland_staff(), Actor.operator()):
        request = Request(actor, "frobnicate", PERSON)  # type: ignore[arg-type]
        decision = decide(request, facts, now)
        assert not decision.allowed


# --- R8: revocation and expiry at the instant --------------------------------------------

Scenario = tuple[Request, Facts]


def consent_revoked(policy: Policy, end: datetime) -> Scenario:
    c = consent("hksh", end - timedelta(days=200), ends=Ends(revoked_at=end))
    return view(hk_staff(2)), Facts(policy, person(), (c,))


def consent_expired(policy: Policy, end: datetime) -> Scenario:
    c = consent("hksh", end - timedelta(days=365), ends=Ends(expires_at=end))
    return view(hk_staff(2), Action.LIST_RECORDS), Facts(policy, person(), (c,))


def restricted_grant_expired(policy: Policy, end: datetime) -> Scenario:
    nurse = hk_staff(3)
    c = consent("hksh", end - timedelta(days=3))
    g = RestrictedAccessGrant(
        "g1",
        PERSON,
        "hksh",
        "hksh-nurse",
        frozenset({Category.RADIOLOGY_REPORT}),
        c.id,
        end - timedelta(minutes=20),
        end,
    )
    request = view(nurse, record=record(Category.RADIOLOGY_REPORT))
    return request, Facts(policy, person(), (c,), restricted_grants=(g,))


def grant_ends_with_its_consent(policy: Policy, end: datetime) -> Scenario:
    """The consent the grant was obtained under is revoked; a newer consent keeps the
    institution's access, but the grant (and so the restricted category) ends."""
    request, facts = restricted_grant_expired(policy, end + timedelta(minutes=5))
    revoked = dataclasses.replace(facts.sharing_consents[0], revoked_at=end)
    renewed = consent("hksh", end - timedelta(minutes=30), ident="consent-2")
    return request, dataclasses.replace(facts, sharing_consents=(revoked, renewed))


def cross_border_setting(
    policy: Policy,
    end: datetime,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> tuple[Actor, CrossBorderAuthorisation]:
    actor = mainland_staff(0)
    issued = end - timedelta(days=5)
    expires_at = expires_at or end + timedelta(days=1)
    return actor, cross_border("hku_sz", issued, expires_at=expires_at, revoked_at=revoked_at)


def authorisation_revoked(policy: Policy, end: datetime) -> Scenario:
    actor, a = cross_border_setting(policy, end, revoked_at=end)
    s = session_for(actor, a, end - timedelta(minutes=10))
    facts = Facts(policy, person(), cross_border_authorisations=(a,), viewing_sessions=(s,))
    return Request(actor, Action.LIST_RECORDS, PERSON, session_id=s.id), facts


def authorisation_expired(policy: Policy, end: datetime) -> Scenario:
    actor, a = cross_border_setting(policy, end, expires_at=end)
    s = dataclasses.replace(
        session_for(actor, a, end - timedelta(minutes=10)), expires_at=end + timedelta(hours=1)
    )  # a careless store: the session outlives its authorisation, decide must not
    facts = Facts(policy, person(), cross_border_authorisations=(a,), viewing_sessions=(s,))
    return Request(actor, Action.LIST_RECORDS, PERSON, session_id=s.id), facts


def session_expired(policy: Policy, end: datetime) -> Scenario:
    actor, a = cross_border_setting(policy, end)
    s = dataclasses.replace(session_for(actor, a, end - timedelta(minutes=10)), expires_at=end)
    facts = Facts(policy, person(), cross_border_authorisations=(a,), viewing_sessions=(s,))
    request = Request(
        actor,
        Action.READ_CONTENT,
        PERSON,
        session_id=s.id,
        record=record(day=(end - timedelta(days=30)).date()),
    )
    return request, facts


def session_closed(policy: Policy, end: datetime) -> Scenario:
    request, facts = session_expired(policy, end + timedelta(minutes=1))
    closed = dataclasses.replace(facts.viewing_sessions[0], closed_at=end)
    return request, dataclasses.replace(facts, viewing_sessions=(closed,))


def delegation_revoked(policy: Policy, end: datetime) -> Scenario:
    d = CaregiverDelegation("d1", PERSON, CAREGIVER, end - timedelta(days=9), None, end)
    request = Request(
        Actor.caregiver(CAREGIVER), Action.READ_ACCESS_LOG, PERSON, on_behalf_of=PERSON
    )
    return request, Facts(policy, person(), delegations=(d,))


def delegation_expired(policy: Policy, end: datetime) -> Scenario:
    d = CaregiverDelegation("d1", PERSON, CAREGIVER, end - timedelta(days=9), end, None)
    request = Request(Actor.citizen(CAREGIVER), Action.LIST_RECORDS, PERSON, on_behalf_of=PERSON)
    return request, Facts(policy, person(), delegations=(d,))


def radiology_authorisation_revoked(policy: Policy, end: datetime) -> Scenario:
    a = RadiologyAuthorisation(
        "r1", PERSON, "hku_sz", end - timedelta(days=1), end + timedelta(days=9), end
    )
    deposit = record(Category.RADIOLOGY_IMAGES, Source.PERSONAL_FOLDER, depositor="hku_sz")
    request = Request(mainland_staff(1), Action.DEPOSIT_RADIOLOGY, PERSON, record=deposit)
    return request, Facts(policy, person(), radiology_authorisations=(a,))


ENDINGS = [
    consent_revoked,
    consent_expired,
    restricted_grant_expired,
    grant_ends_with_its_consent,
    authorisation_revoked,
    authorisation_expired,
    session_expired,
    session_closed,
    delegation_revoked,
    delegation_expired,
    radiology_authorisation_revoked,
]


@for_each_policy
@pytest.mark.parametrize("scenario", ENDINGS, ids=lambda f: f.__name__)
@PROPERTY
@given(end=instants(datetime(2026, 2, 1), datetime(2029, 12, 31)))
def test_ends_at_the_exact_instant(
    policy: Policy, scenario: Callable[[Policy, datetime], Scenario], end: datetime
) -> None:
    request, facts = scenario(policy, end)
    assert decide(request, facts, end - MICRO).allowed
    assert not decide(request, facts, end).allowed
    assert not decide(request, facts, end + timedelta(days=1)).allowed


def revoke(item: Any, at: datetime) -> Any:
    """End ``item`` at ``at`` (or earlier, if it already ends earlier)."""
    for name in ("revoked_at", "closed_at"):
        if hasattr(item, name):
            current = getattr(item, name)
            return dataclasses.replace(item, **{name: at if current is None else min(current, at)})
    return dataclasses.replace(item, expires_at=min(item.expires_at, at))


FACT_LISTS = (
    "sharing_consents",
    "cross_border_authorisations",
    "viewing_sessions",
    "radiology_authorisations",
    "restricted_grants",
    "delegations",
    "break_glass_accesses",
)


@for_each_policy
@PROPERTY
@given(data=st.data())
def test_revoking_never_grants(policy: Policy, data: st.DataObject) -> None:
    """Ending any one fact (at now, or a day ago), every fact of one kind, or a random
    selection, never turns a deny into an allow."""
    request, facts, now = data.draw(situations(policy, view_requests()))
    if decide(request, facts, now).allowed:
        return
    variants: list[Facts] = []
    for name in FACT_LISTS:
        items = getattr(facts, name)
        for at in (now, now - timedelta(days=1)):
            for n, item in enumerate(items):
                one: dict[str, Any] = {name: (*items[:n], revoke(item, at), *items[n + 1 :])}
                variants.append(dataclasses.replace(facts, **one))
            every: dict[str, Any] = {name: tuple(revoke(i, at) for i in items)}
            variants.append(dataclasses.replace(facts, **every))
    some: dict[str, Any] = {}
    for name in FACT_LISTS:
        items = getattr(facts, name)
        ends = [data.draw(maybe_offsets) for _ in items]
        some[name] = tuple(
            i if e is None else revoke(i, now + e) for i, e in zip(items, ends, strict=True)
        )
    variants.append(dataclasses.replace(facts, **some))
    for revoked in variants:
        assert not decide(request, revoked, now).allowed


BASE = datetime(2000, 1, 1, tzinfo=UTC)


def _new_facts() -> st.SearchStrategy[object]:
    """One more active consent, authorisation, session, grant or delegation, with times
    around BASE (shifted to the test's instant by :func:`shifted`)."""
    now = BASE
    t = around(now)
    later = st.timedeltas(timedelta(seconds=1), timedelta(days=30)).map(lambda d: now + d)
    hk_ids = st.sampled_from([s[0] for s in HK_STAFF])
    ml_ids = st.sampled_from([s[0] for s in MAINLAND_STAFF])
    return st.one_of(
        st.builds(
            SharingConsent,
            st.just("new-c"),
            st.just(PERSON),
            hk_ids,
            st.sampled_from(["one_year", "indefinite"]),
            st.frozensets(st.sampled_from(list(Source)), min_size=1),
            t,
            st.none() | later,
            st.none(),
        ),
        st.builds(
            CrossBorderAuthorisation, st.just("new-a"), st.just(PERSON), ml_ids, t, later, st.none()
        ),
        st.builds(
            ViewingSession,
            st.just("new-s"),
            st.sampled_from(["a1", "a2", "new-a"]),
            ml_ids,
            st.sampled_from([s[1] for s in MAINLAND_STAFF]),
            t,
            later,
            st.none(),
        ),
        st.builds(
            RestrictedAccessGrant,
            st.just("new-g"),
            st.just(PERSON),
            hk_ids,
            st.sampled_from([s[1] for s in HK_STAFF]),
            st.frozensets(st.sampled_from(list(Category)), min_size=1),
            st.none() | st.sampled_from(["c1", "c2"]),
            t,
            later,
        ),
        st.builds(
            CaregiverDelegation,
            st.just("new-d"),
            st.just(PERSON),
            st.just(CAREGIVER),
            t,
            st.none() | later,
            st.none(),
        ),
        st.builds(
            RadiologyAuthorisation, st.just("new-r"), st.just(PERSON), ml_ids, t, later, st.none()
        ),
        st.builds(
            BreakGlassAccess,
            st.just("new-b"),
            st.just(PERSON),
            hk_ids,
            st.sampled_from([s[1] for s in HK_STAFF]),
            st.just("Collapsed at the clinic, no history obtainable."),
            t,
            later,
        ),
    )


NEW_FACTS = _new_facts()


def shifted(item: Any, delta: timedelta) -> Any:
    times = {
        name: getattr(item, name) + delta
        for name in item.__dataclass_fields__
        if isinstance(getattr(item, name), datetime)
    }
    return dataclasses.replace(item, **times)


FIELD_OF = {
    SharingConsent: "sharing_consents",
    CrossBorderAuthorisation: "cross_border_authorisations",
    ViewingSession: "viewing_sessions",
    RestrictedAccessGrant: "restricted_grants",
    CaregiverDelegation: "delegations",
    RadiologyAuthorisation: "radiology_authorisations",
    BreakGlassAccess: "break_glass_accesses",
}


@for_each_policy
@PROPERTY
@given(data=st.data())
def test_granting_never_revokes_another(policy: Policy, data: st.DataObject) -> None:
    """Adding any one active consent, authorisation, session, grant, delegation or
    emergency access (first or last in the facts) never turns an allow into a deny, nor
    hides a record the visible set held."""
    request, facts, now = data.draw(situations(policy, view_requests()))
    before = decide(request, facts, now)
    if not before.allowed:
        return
    probes = [data.draw(known_records) for _ in range(3)]
    candidates = [*grants_for(request.actor, now), shifted(data.draw(NEW_FACTS), now - BASE)]
    for extra in candidates:
        name = FIELD_OF[type(extra)]
        for placed in ((*getattr(facts, name), extra), (extra, *getattr(facts, name))):
            added: dict[str, Any] = {name: placed}
            after = decide(request, dataclasses.replace(facts, **added), now)
            assert after.allowed, extra
            for probe in probes:
                if before.obligations.admits(probe):
                    assert after.obligations.admits(probe), (extra, probe)


def grants_for(actor: Actor, now: datetime) -> list[Any]:
    """New, active facts of every kind about PERSON for ``actor``'s own institution."""
    institution = actor.institution_id or "hksh"
    professional = actor.professional_id or "someone"
    day, hour = timedelta(days=1), timedelta(hours=1)
    consents = [
        SharingConsent(
            "new-c", PERSON, institution, ConsentKind.ONE_YEAR, frozenset(scopes),
            now - MICRO, now + day,
        )
        for scopes in ({Source.EHR}, {Source.PERSONAL_FOLDER}, set(Source))
    ]  # fmt: skip
    return [
        *consents,
        RestrictedAccessGrant(
            "new-g", PERSON, institution, professional, frozenset(Category), None,
            now - MICRO, now + hour,
        ),
        CrossBorderAuthorisation("new-a", PERSON, institution, now - 5 * day, now + day),
        ViewingSession("new-s", "a0", institution, professional, now - MICRO, now + hour),
        RadiologyAuthorisation("new-r", PERSON, institution, now - day, now + day),
        CaregiverDelegation("new-d", PERSON, actor.person_id or CAREGIVER, now - day),
        BreakGlassAccess(
            "new-b", PERSON, institution, professional,
            len("Unresponsive, suspected overdose, no history available."), now - MICRO,
            now + hour,
        ),
    ]  # fmt: skip


# --- R7: no transitivity -----------------------------------------------------------------


def professional_requests() -> st.SearchStrategy[Request]:
    return focused_requests(staff_actors)


def facts_where(facts: Facts, keep: Callable[[Any], bool]) -> Facts:
    """``facts`` with only the institution-bound facts that ``keep`` accepts."""
    kept: dict[str, Any] = {
        name: tuple(i for i in getattr(facts, name) if keep(i))
        for name in FACT_LISTS
        if name != "delegations"
    }
    return dataclasses.replace(facts, **kept)


def only_about(facts: Facts, institution: str) -> Facts:
    return facts_where(facts, lambda i: i.institution_id == institution)


@for_each_policy
@BROAD
@given(data=st.data())
def test_judged_only_by_the_own_institution(policy: Policy, data: st.DataObject) -> None:
    """Everything given to other institutions changes nothing for this professional."""
    request, facts, now = data.draw(situations(policy, professional_requests()))
    assert request.actor.institution_id is not None
    own = only_about(facts, request.actor.institution_id)
    assert outcome_of(decide(request, facts, now)) == outcome_of(decide(request, own, now))


@for_each_policy
@BROAD
@given(data=st.data())
def test_consent_to_one_gives_nothing_to_another(policy: Policy, data: st.DataObject) -> None:
    """A professional whose institution holds nothing (and no implied sharing) sees nothing."""
    request, facts, now = data.draw(situations(policy, professional_requests()))
    institution = request.actor.institution_id
    assert institution is not None
    if policy.institutions[institution].implied_sharing:
        return
    others = facts_where(facts, lambda i: i.institution_id != institution)
    decision = decide(request, others, now)
    if request.action in VIEWS:
        assert not decision.allowed


class ConsentGiven(NamedTuple):
    institution: str
    scopes: frozenset[Source]


@for_each_policy
@PROPERTY
@given(
    given=st.builds(ConsentGiven, st.sampled_from(HK_IDS), st.frozensets(sources, min_size=1)),
    asker=st.sampled_from(HK_STAFF),
    probe=probes,
    now=instants(),
)
def test_a_consent_to_one_institution_gives_nothing_to_another(
    policy: Policy, given: ConsentGiven, asker: tuple[str, str, str], probe: Probe, now: datetime
) -> None:
    """A consent (and OTP grants, even naming the same professional id) at ``granted``
    gives nothing to a professional asking for another institution."""
    granted, scopes = given
    institution, professional, profession = asker
    assume(institution != granted)
    c = consent(granted, now - timedelta(days=1), scopes=scopes)
    grants = tuple(
        RestrictedAccessGrant(
            f"g{n}", PERSON, granted, professional, frozenset(Category), consent_id,
            now - timedelta(minutes=1), now + timedelta(minutes=29),
        )
        for n, consent_id in enumerate((c.id, None))
    )  # fmt: skip
    facts = Facts(policy, person(), (c,), restricted_grants=grants)
    actor = Actor.hk_professional(institution, professional, profession)
    request = probe.by(actor)
    if not policy.institutions[institution].implied_sharing:
        assert not decide(request, facts, now).allowed
    # ... while the same facts do open the record to the granted institution's staff.
    colleague = Actor.hk_professional(granted, professional, profession)
    listed = probe.action is Action.LIST_RECORDS
    if listed or probe.record.source in scopes:
        assert decide(dataclasses.replace(request, actor=colleague), facts, now).allowed
    # With its own consent, the asker sees its role's categories, never the grants'.
    own = consent(institution, now - timedelta(days=1), scopes=frozenset(Source), ident="c2")
    facts = dataclasses.replace(facts, sharing_consents=(c, own))
    general = policy.general_categories[profession]
    listing = decide(Request(actor, Action.LIST_RECORDS, PERSON), facts, now)
    assert listing.obligations.categories == general
    decision = decide(request, facts, now)
    assert decision.allowed == (listed or probe.record.category in general)


@for_each_policy
def test_session_and_authorisation_are_bound_to_one_institution(policy: Policy) -> None:
    now = utc(2026, 3, 2, 3)
    actor = mainland_staff(0)  # hku_sz
    facts, request = cross_border_setup(policy, actor, now)
    assert decide(request, facts, now).allowed
    colleague_elsewhere = mainland_staff(3)  # guangdong_clifford, same session id
    denied = decide(dataclasses.replace(request, actor=colleague_elsewhere), facts, now)
    assert denied.reason is Reason.WRONG_INSTITUTION
    same_institution_other_person = mainland_staff(1)
    denied = decide(dataclasses.replace(request, actor=same_institution_other_person), facts, now)
    assert denied.reason is Reason.WRONG_PROFESSIONAL
    # An authorisation for hku_sz wrapped in a session claiming clifford is still refused.
    forged = dataclasses.replace(
        facts.viewing_sessions[0],
        institution_id="guangdong_clifford",
        professional_id="clifford-doctor",
    )
    facts = dataclasses.replace(facts, viewing_sessions=(forged,))
    denied = decide(dataclasses.replace(request, actor=colleague_elsewhere), facts, now)
    assert denied.reason is Reason.WRONG_INSTITUTION


def cross_border_setup(policy: Policy, actor: Actor, now: datetime) -> tuple[Facts, Request]:
    from tests.policies.builders import cross_border_facts

    return cross_border_facts(policy, actor, now)


# --- R9: operators -----------------------------------------------------------------------


@for_each_policy
@BROAD
@given(data=st.data())
def test_operator_never_gets_content(policy: Policy, data: st.DataObject) -> None:
    request, facts, now = data.draw(situations(policy, requests(st.just(Actor.operator()))))
    decision = decide(request, facts, now)
    assert decision.allowed == (request.action in OPERATOR_MAY)
    if request.action not in OPERATOR_MAY:
        assert decision.reason is Reason.OPERATOR_NO_CONTENT


@for_each_policy
@BROAD
@given(data=st.data())
def test_only_the_operator_manages_registry_keys_and_audit(
    policy: Policy, data: st.DataObject
) -> None:
    _, facts, now = data.draw(situations(policy))
    everyone = [Actor.citizen(PERSON), Actor.caregiver(CAREGIVER), *ALL_STAFF]
    for actor in everyone:
        for action in OPERATOR_ACTIONS:
            request = Request(actor, action, PERSON, on_behalf_of=None)
            assert not decide(request, facts, now).allowed


# --- R10: invisibility -------------------------------------------------------------------


@for_each_policy
@BROAD
@given(data=st.data())
def test_every_deny_looks_the_same(policy: Policy, data: st.DataObject) -> None:
    request, facts, now = data.draw(situations(policy))
    decision = decide(request, facts, now)
    if not decision.allowed:
        assert (decision.consent_id, decision.grant_id, decision.obligations) == (
            None,
            None,
            NOTHING,
        )
        assert not any(
            decision.obligations.admits(r) for r in [record(), record(source="personal_folder")]
        )


@for_each_policy
@BROAD
@given(data=st.data())
def test_a_person_not_in_the_facts_is_denied_to_everyone(
    policy: Policy, data: st.DataObject
) -> None:
    request, facts, now = data.draw(situations(policy, focused_requests()))
    stranger = dataclasses.replace(request, subject_id="nobody")
    facts_without = dataclasses.replace(facts, person=None)
    for r, f in ((stranger, facts), (request, facts_without)):
        decision = decide(r, f, now)
        assert not decision.allowed and decision.obligations is NOTHING


@for_each_policy
@PROPERTY
@given(data=st.data(), probes=st.lists(known_records, min_size=4, max_size=4))
def test_a_list_shows_exactly_what_single_reads_allow(
    policy: Policy, data: st.DataObject, probes: list[RecordRef]
) -> None:
    """The list's WHERE clause (obligations) and a read of one record agree on every
    record, so a list never shows, counts or hints at a record a read would hide."""
    listing, facts, now = data.draw(situations(policy, view_requests()))
    listing = dataclasses.replace(listing, action=Action.LIST_RECORDS, record=None)
    decision = decide(listing, facts, now)
    if not decision.allowed:
        return
    for probe, action in itertools.product(probes, (Action.READ_RECORD, Action.READ_CONTENT)):
        read = decide(dataclasses.replace(listing, action=action, record=probe), facts, now)
        assert read.allowed == decision.obligations.admits(probe)
        if read.allowed:
            assert read.obligations == decision.obligations


# --- R11: notification -------------------------------------------------------------------


@for_each_policy
@BROAD
@given(data=st.data())
def test_every_view_by_someone_else_notifies_the_person(
    policy: Policy, data: st.DataObject
) -> None:
    request, facts, now = data.draw(situations(policy))
    decision = decide(request, facts, now)
    if decision.allowed and request.action in VIEWS:
        by_the_person_side = request.actor.kind in PERSON_KINDS
        assert decision.obligations.notify_person is not by_the_person_side


def test_notification_on_cross_border_list_and_hk_read() -> None:
    now = utc(2026, 3, 2, 3)
    facts, request = cross_border_setup(BREAK_GLASS, mainland_staff(0), now)
    assert decide(request, facts, now).obligations.notify_person
    facts = Facts(BREAK_GLASS, person(), (consent("matilda", now - timedelta(days=1)),))
    doctor = Actor.hk_professional("matilda", "m-doc", "doctor")
    assert decide(view(doctor), facts, now).obligations.notify_person


# --- bad input ---------------------------------------------------------------------------


class Junk(NamedTuple):
    """Strings where a request names an institution, a profession, a category, a source."""

    institution: str
    profession: str
    category: str
    source: str


junk_text = st.text(max_size=12)


@for_each_policy
@PROPERTY
@given(
    junk=st.builds(Junk, junk_text, junk_text, junk_text, junk_text),
    kind=st.sampled_from([ActorKind.HK_PROFESSIONAL, ActorKind.MAINLAND_PROFESSIONAL]),
    action=st.sampled_from(list(Action)),
    now=instants(),
)
def test_junk_in_a_request_is_a_deny_never_an_exception(
    policy: Policy, junk: Junk, kind: ActorKind, action: Action, now: datetime
) -> None:
    institution = junk.institution
    actor = Actor(kind, None, institution, "someone", junk.profession)
    junk_record = RecordRef(junk.category, junk.source, date(2025, 1, 1), institution)
    request = Request(actor, action, PERSON, record=junk_record, target_institution_id=institution)
    decision = decide(request, Facts(policy, person()), now)
    if institution not in policy.institutions or junk.profession not in policy.general_categories:
        assert not decision.allowed
    assert decide(
        Request(Actor.citizen(PERSON), action, PERSON, record=junk_record),
        Facts(policy, person()),
        now,
    ).allowed in (True, False)


@for_each_policy
def test_each_kind_of_junk_has_its_own_reason(policy: Policy) -> None:
    now = utc(2026, 3, 1)
    facts = Facts(policy, person(), (consent("hksh", now - timedelta(days=1)),))
    cases = [
        (Actor.hk_professional("hksj", "d", "doctor"), record(), Reason.UNKNOWN_INSTITUTION),
        (Actor.hk_professional("hksh", "d", "surgeon"), record(), Reason.UNKNOWN_PROFESSION),
        (hk_staff(2), record(category="tattoo"), Reason.UNKNOWN_CATEGORY),
        (hk_staff(2), record(source="rumour"), Reason.UNKNOWN_SOURCE),
        (Actor.citizen(PERSON), record(category="tattoo"), Reason.UNKNOWN_CATEGORY),
        (Actor.hk_professional("hku_sz", "d", "doctor"), record(), Reason.WRONG_REGION),
        (Actor.mainland_professional("ha", "d", "doctor"), record(), Reason.WRONG_REGION),
    ]
    for actor, r, reason in cases:
        assert decide(view(actor, record=r), facts, now).reason is reason
    assert decide(view(hk_staff(2), record=None), facts, now).reason is Reason.MISSING_RECORD


def test_a_naive_instant_is_a_programming_error() -> None:
    from tests.policies.builders import DEFAULT

    with pytest.raises(ValueError, match="timezone-aware"):
        decide(view(Actor.citizen(PERSON)), Facts(DEFAULT, person()), datetime(2026, 1, 1))
