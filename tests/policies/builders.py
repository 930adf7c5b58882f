"""Facts, requests and hypothesis strategies shared by the policy tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import strategies as st

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
    bundled_policy_paths,
    load_policy,
)
from policies.dates import HONG_KONG

UTC = timezone.utc
MICRO = timedelta(microseconds=1)

POLICIES: tuple[Policy, ...] = tuple(load_policy(p) for p in bundled_policy_paths())
DEFAULT = POLICIES[0]
BREAK_GLASS = next(p for p in POLICIES if p.break_glass.enabled)
by_policy = {"argnames": "policy", "argvalues": POLICIES, "ids": [p.name for p in POLICIES]}

PERSON = "person-1"
OTHER_PERSON = "person-2"
CAREGIVER = "caregiver-1"
SECOND_CAREGIVER = "caregiver-2"

# A small staff pool: (institution, professional, profession)
HK_STAFF = (
    ("ha", "ha-doctor", "doctor"),
    ("dh", "dh-pharmacist", "pharmacist"),
    ("hksh", "hksh-doctor", "doctor"),
    ("hksh", "hksh-nurse", "nurse"),
    ("matilda", "matilda-clerk", "clerk"),
    ("hk_baptist", "baptist-radiographer", "radiographer"),
)
MAINLAND_STAFF = (
    ("hku_sz", "hkusz-doctor", "doctor"),
    ("hku_sz", "hkusz-radiographer", "radiographer"),
    ("sysu_first_affiliated", "sysu-nurse", "nurse"),
    ("guangdong_clifford", "clifford-doctor", "doctor"),
    ("shenzhen_new_frontier_united_family", "sznf-doctor", "doctor"),
)
MAINLAND_IDS = tuple(sorted({i for i, _, _ in MAINLAND_STAFF}))
HK_IDS = tuple(sorted({i for i, _, _ in HK_STAFF}))
VIEWS = (Action.READ_RECORD, Action.READ_CONTENT, Action.LIST_RECORDS)
OPERATOR_ACTIONS = frozenset({Action.MANAGE_REGISTRY, Action.MANAGE_KEYS, Action.VERIFY_AUDIT})
SHARABLE = frozenset(DEFAULT.sharable_categories)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def hk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=HONG_KONG)  # type: ignore[misc]


def hk_staff(index: int = 2) -> Actor:
    institution, professional, profession = HK_STAFF[index]
    return Actor.hk_professional(institution, professional, profession)


def mainland_staff(index: int = 0) -> Actor:
    institution, professional, profession = MAINLAND_STAFF[index]
    return Actor.mainland_professional(institution, professional, profession)


def person(joined: bool = True, dob: date = date(1950, 1, 1), pid: str = PERSON) -> Person:
    return Person(pid, dob, utc(2020, 1, 1) if joined else None)


def record(
    category: str = Category.DIAGNOSIS_PROCEDURE,
    source: str = Source.EHR,
    day: date = date(2025, 6, 1),
    depositor: str | None = "ha",
) -> RecordRef:
    return RecordRef(category, source, day, depositor)


def view(actor: Actor, action: Action = Action.READ_RECORD, **kwargs: object) -> Request:
    if action is not Action.LIST_RECORDS:
        kwargs.setdefault("record", record())
    return Request(actor, action, subject_id=PERSON, **kwargs)  # type: ignore[arg-type]


def consent(
    institution: str,
    granted_at: datetime,
    *,
    ident: str = "consent-1",
    scopes: frozenset[Source] = frozenset({Source.EHR}),
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
    kind: ConsentKind = ConsentKind.INDEFINITE,
    pid: str = PERSON,
) -> SharingConsent:
    return SharingConsent(ident, pid, institution, kind, scopes, granted_at, expires_at, revoked_at)


def cross_border(
    institution: str,
    issued_at: datetime,
    *,
    ident: str = "auth-1",
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
    pid: str = PERSON,
) -> CrossBorderAuthorisation:
    return CrossBorderAuthorisation(
        ident, pid, institution, issued_at, expires_at or issued_at + timedelta(days=30), revoked_at
    )


def session_for(
    actor: Actor,
    authorisation: CrossBorderAuthorisation,
    opened_at: datetime,
    *,
    ident: str = "session-1",
    minutes: int = 120,
) -> ViewingSession:
    assert actor.institution_id is not None and actor.professional_id is not None
    return ViewingSession(
        ident,
        authorisation.id,
        actor.institution_id,
        actor.professional_id,
        opened_at,
        min(opened_at + timedelta(minutes=minutes), authorisation.expires_at),
    )


def cross_border_facts(
    policy: Policy, actor: Actor, now: datetime, *, dob: date = date(1950, 1, 1)
) -> tuple[Facts, Request]:
    """A fully valid cross-border setting at ``now``: an authorisation issued four days
    earlier, a session opened a minute ago; and a list request."""
    assert actor.institution_id is not None
    authorisation = cross_border(
        actor.institution_id, now - timedelta(days=4), expires_at=now + timedelta(days=20)
    )
    session = session_for(actor, authorisation, now - timedelta(minutes=1))
    facts = Facts(
        policy,
        person(dob=dob),
        cross_border_authorisations=(authorisation,),
        viewing_sessions=(session,),
    )
    return facts, Request(actor, Action.LIST_RECORDS, PERSON, session_id=session.id)


# --- strategies --------------------------------------------------------------------------

ZONES = st.sampled_from([UTC, HONG_KONG, timezone(timedelta(hours=-5), "EST")])


def instants(
    lo: datetime = datetime(2024, 6, 1), hi: datetime = datetime(2029, 12, 31)
) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=lo, max_value=hi, timezones=st.just(UTC)).flatmap(
        lambda t: ZONES.map(t.astimezone)
    )


offsets = st.one_of(
    st.just(timedelta(0)),
    st.sampled_from([MICRO, -MICRO]),
    st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)),
    st.timedeltas(min_value=timedelta(hours=-3), max_value=timedelta(hours=3)),
)


def around(now: datetime) -> st.SearchStrategy[datetime]:
    return offsets.map(lambda d: now + d)


def maybe_around(now: datetime) -> st.SearchStrategy[datetime | None]:
    return st.none() | around(now)


categories = st.sampled_from(list(Category))
sources = st.sampled_from(list(Source))
clinical_dates = st.dates(min_value=date(2018, 1, 1), max_value=date(2031, 1, 1))
all_institutions = st.sampled_from(HK_IDS + MAINLAND_IDS + ("nowhere",))
records = st.builds(
    RecordRef,
    category=st.one_of(categories, st.just("tattoo")),
    source=st.one_of(sources, st.just("rumour")),
    clinical_date=clinical_dates,
    depositor_institution_id=st.none() | all_institutions,
)
known_records = st.builds(
    RecordRef,
    category=categories,
    source=sources,
    clinical_date=clinical_dates,
    depositor_institution_id=st.none() | all_institutions,
)

actors = st.one_of(
    st.sampled_from([Actor.citizen(PERSON), Actor.citizen(OTHER_PERSON), Actor.citizen(CAREGIVER)]),
    st.sampled_from([Actor.caregiver(CAREGIVER), Actor.caregiver(SECOND_CAREGIVER)]),
    st.sampled_from([Actor.hk_professional(*s) for s in HK_STAFF]),
    st.sampled_from([Actor.mainland_professional(*s) for s in MAINLAND_STAFF]),
    st.just(Actor.operator()),
    st.builds(
        Actor,
        kind=st.sampled_from(list(ActorKind)),
        person_id=st.none() | st.sampled_from([PERSON, CAREGIVER]),
        institution_id=st.none() | all_institutions,
        professional_id=st.none() | st.sampled_from(["ha-doctor", "hkusz-doctor", "x"]),
        profession=st.none() | st.sampled_from(["doctor", "nurse", "astrologer"]),
    ),
)
actions = st.sampled_from(list(Action))


def requests(actor: st.SearchStrategy[Actor] = actors) -> st.SearchStrategy[Request]:
    return st.builds(
        Request,
        actor=actor,
        action=actions,
        subject_id=st.sampled_from([PERSON, PERSON, PERSON, OTHER_PERSON]) | st.none(),
        record=st.none() | records,
        on_behalf_of=st.none() | st.sampled_from([PERSON, CAREGIVER, OTHER_PERSON]),
        session_id=st.none() | st.sampled_from(["s1", "s2", "s3"]),
        authorisation_id=st.none() | st.sampled_from(["a1", "a2", "r1", "r2"]),
        restricted_grant_id=st.none() | st.sampled_from(["g1", "g2"]),
        target_institution_id=st.none() | all_institutions,
        break_glass_justification=st.none()
        | st.sampled_from(["", "because", "Unconscious patient in A&E, no relative reachable."]),
    )


@st.composite
def facts_at(draw: st.DrawFn, policy: Policy, now: datetime) -> Facts:
    """Random facts about PERSON (and a little about others) with times around ``now``."""
    t = around(now)
    mt = maybe_around(now)
    hk_institution = st.sampled_from(HK_IDS)
    ml_institution = st.sampled_from(MAINLAND_IDS)
    pid = st.sampled_from([PERSON, PERSON, PERSON, OTHER_PERSON])
    scope_sets = st.frozensets(sources, min_size=1)
    consents = draw(
        st.lists(
            st.builds(
                SharingConsent,
                id=st.sampled_from(["c1", "c2", "c3", "c4"]),
                person_id=pid,
                institution_id=hk_institution,
                kind=st.sampled_from(list(ConsentKind)),
                scopes=scope_sets,
                granted_at=t,
                expires_at=mt,
                revoked_at=mt,
            ),
            max_size=4,
            unique_by=lambda c: c.id,
        )
    )
    authorisations = draw(
        st.lists(
            st.builds(
                CrossBorderAuthorisation,
                id=st.sampled_from(["a1", "a2", "a3"]),
                person_id=pid,
                institution_id=ml_institution,
                issued_at=t,
                expires_at=t,
                revoked_at=mt,
            ),
            max_size=3,
            unique_by=lambda a: a.id,
        )
    )
    staff = st.sampled_from(MAINLAND_STAFF)
    sessions = []
    for n, (institution, professional, _) in enumerate(draw(st.lists(staff, max_size=3))):
        sessions.append(
            ViewingSession(
                f"s{n + 1}",
                draw(st.sampled_from(["a1", "a2", "a3"])),
                institution,
                professional,
                draw(t),
                draw(t),
                draw(mt),
            )
        )
    grants = []
    for n, (institution, professional, _) in enumerate(draw(st.lists(st.sampled_from(HK_STAFF), max_size=3))):
        grants.append(
            RestrictedAccessGrant(
                f"g{n + 1}",
                draw(pid),
                institution,
                professional,
                draw(st.frozensets(categories, min_size=1)),
                draw(st.none() | st.sampled_from(["c1", "c2", "c3", "c4"])),
                draw(mt),
                draw(t),
            )
        )
    delegations = draw(
        st.lists(
            st.builds(
                CaregiverDelegation,
                id=st.sampled_from(["d1", "d2", "d3"]),
                person_id=st.sampled_from([PERSON, CAREGIVER]),
                caregiver_id=st.sampled_from([CAREGIVER, SECOND_CAREGIVER]),
                granted_at=t,
                expires_at=mt,
                revoked_at=mt,
            ),
            max_size=3,
            unique_by=lambda d: d.id,
        )
    )
    radiology = draw(
        st.lists(
            st.builds(
                RadiologyAuthorisation,
                id=st.sampled_from(["r1", "r2"]),
                person_id=pid,
                institution_id=ml_institution,
                issued_at=t,
                expires_at=t,
                revoked_at=mt,
            ),
            max_size=2,
            unique_by=lambda r: r.id,
        )
    )
    emergencies = []
    for n, (institution, professional, _) in enumerate(draw(st.lists(st.sampled_from(HK_STAFF), max_size=2))):
        emergencies.append(
            BreakGlassAccess(
                f"b{n + 1}",
                draw(pid),
                institution,
                professional,
                draw(st.sampled_from(["short", "Anaphylaxis, patient unable to give history."])),
                draw(t),
                draw(t),
            )
        )
    subject = draw(
        st.none()
        | st.builds(
            Person,
            id=st.sampled_from([PERSON, PERSON, OTHER_PERSON]),
            date_of_birth=st.dates(min_value=date(1940, 1, 1), max_value=date(2015, 1, 1)),
            joined_at=mt,
        )
    )
    return Facts(
        policy,
        subject,
        tuple(consents),
        tuple(authorisations),
        tuple(sessions),
        tuple(radiology),
        tuple(grants),
        tuple(delegations),
        tuple(emergencies),
    )


@st.composite
def situations(
    draw: st.DrawFn, policy: Policy, request: st.SearchStrategy[Request] | None = None
) -> tuple[Request, Facts, datetime]:
    now = draw(instants())
    return draw(request or requests()), draw(facts_at(policy, now)), now
