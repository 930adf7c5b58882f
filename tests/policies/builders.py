"""Facts, requests and hypothesis strategies shared by the policy tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest
from hypothesis import settings
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

MICRO = timedelta(microseconds=1)

POLICIES: tuple[Policy, ...] = tuple(load_policy(p) for p in bundled_policy_paths())
DEFAULT = POLICIES[0]
BREAK_GLASS = next(p for p in POLICIES if p.break_glass.enabled)
for_each_policy = pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
"""Run a test once for each bundled policy file (the default and every variant)."""

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
OPERATOR_ACTIONS = frozenset(
    {Action.MANAGE_REGISTRY, Action.MANAGE_KEYS, Action.VERIFY_AUDIT, Action.REVIEW_BREAK_GLASS}
)
OPERATOR_MAY = OPERATOR_ACTIONS | {Action.EXPLAIN_ACCESS}  # what-if: decisions, no content
SHARABLE = frozenset(DEFAULT.sharable_categories)


def utc(year: int, month: int, day: int, *clock: int) -> datetime:
    """An instant in UTC; ``clock`` is hour, minute, second, microsecond (each optional)."""
    assert len(clock) <= 4, clock
    hour, minute, second, micro = (*clock, 0, 0, 0, 0)[:4]
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def hk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HONG_KONG)


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


class Ends(NamedTuple):
    """When a consent stops being in force: expiry and revocation (``None``: never)."""

    expires_at: datetime | None = None
    revoked_at: datetime | None = None


NEVER = Ends()
"""In force until further notice."""


class Probe(NamedTuple):
    """A view to ask for: read or list, and the record a read is about."""

    action: Action
    record: RecordRef

    def by(self, actor: Actor) -> Request:
        """``actor`` asks for this view of PERSON's records."""
        record = None if self.action is Action.LIST_RECORDS else self.record
        return Request(actor, self.action, PERSON, record)


def consent(
    institution: str,
    granted_at: datetime,
    *,
    ident: str = "consent-1",
    scopes: frozenset[Source] = frozenset({Source.EHR}),
    ends: Ends = NEVER,
) -> SharingConsent:
    """PERSON's indefinite consent to ``institution``."""
    return SharingConsent(
        ident, PERSON, institution, ConsentKind.INDEFINITE, scopes, granted_at, *ends
    )


def cross_border(
    institution: str,
    issued_at: datetime,
    *,
    ident: str = "auth-1",
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> CrossBorderAuthorisation:
    """PERSON's authorisation for ``institution``, expiring after 30 days by default."""
    return CrossBorderAuthorisation(
        ident,
        PERSON,
        institution,
        issued_at,
        expires_at or issued_at + timedelta(days=30),
        revoked_at,
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


maybe_offsets = st.none() | offsets


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

probes = st.builds(Probe, st.sampled_from(VIEWS), known_records)
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


def requests(
    actor: st.SearchStrategy[Actor] = actors,
    subject: st.SearchStrategy[str | None] | None = None,
    record: st.SearchStrategy[RecordRef | None] | None = None,
) -> st.SearchStrategy[Request]:
    return st.builds(
        Request,
        actor=actor,
        action=actions,
        subject_id=st.sampled_from([PERSON, PERSON, PERSON, OTHER_PERSON]) | st.none()
        if subject is None
        else subject,
        record=st.none() | records if record is None else record,
        on_behalf_of=st.none() | st.sampled_from([PERSON, CAREGIVER, OTHER_PERSON]),
        session_id=st.none() | st.sampled_from(["s1", "s2", "s3"]),
        authorisation_id=st.none() | st.sampled_from(["a1", "a2", "r1", "r2"]),
        restricted_grant_id=st.none() | st.sampled_from(["g1", "g2"]),
        target_institution_id=st.none() | all_institutions,
        break_glass_justification=st.none()
        | st.sampled_from(["", "because", "Unconscious patient in A&E, no relative reachable."]),
    )


# Facts are drawn to be *mostly in force* (started in the past, ending in the future or
# never) with a good share of boundary instants, and to refer to each other (sessions to
# authorisations, grants to consents, staff to their institution), so that the broad
# properties meet allowed decisions, not only denials.
_LONG_AGO = st.timedeltas(timedelta(days=-400), timedelta(seconds=-1))
_RECENTLY = st.timedeltas(timedelta(hours=-3), timedelta(0))
_AT_NOW = st.sampled_from([timedelta(0), -MICRO, MICRO])
_SOON = st.timedeltas(timedelta(0), timedelta(hours=3))
_LATER = st.timedeltas(timedelta(seconds=1), timedelta(days=400))
_START = st.one_of(_LONG_AGO, _LONG_AGO, _RECENTLY, _AT_NOW, _LATER)
_END = st.one_of(st.none(), st.none(), _LATER, _SOON, _AT_NOW, _LONG_AGO)
_JOINED = st.one_of(_LONG_AGO, _LONG_AGO, _LONG_AGO, _RECENTLY, _AT_NOW, _LATER)
_MOSTLY_OWN = st.sampled_from([True, True, False])
_OPENED = st.timedeltas(timedelta(hours=-3), timedelta(minutes=1))
_REVOKED = st.one_of(st.none(), st.none(), st.none(), st.none(), _SOON, _AT_NOW, _LONG_AGO)
_PID = st.sampled_from([PERSON, PERSON, PERSON, PERSON, OTHER_PERSON])
_HK_INSTITUTION = st.sampled_from(HK_IDS)
_ML_INSTITUTION = st.sampled_from(MAINLAND_IDS)
_SCOPES = st.frozensets(sources, min_size=1)
_CATEGORY_SETS = st.frozensets(categories, min_size=1, max_size=4)
_KINDS = st.sampled_from(list(ConsentKind))
_HOW_MANY = st.sampled_from([2, 1, 3, 0])
_FEW = st.sampled_from([1, 2, 0])
_COIN = st.booleans()
_MOSTLY = st.sampled_from([True, True, True, True, True, True, True, True, True, False])
_HK_STAFF = st.sampled_from(HK_STAFF)
_ML_STAFF = st.sampled_from(MAINLAND_STAFF)
_JUSTIFICATIONS = st.sampled_from(
    ["short", "Anaphylaxis, patient unable to give history.", "Unresponsive on arrival at A&E."]
)
_BIRTHS = st.one_of(
    st.dates(min_value=date(1940, 1, 1), max_value=date(1959, 12, 31)),
    st.dates(min_value=date(1940, 1, 1), max_value=date(2015, 1, 1)),
)
_SUBJECT_IDS = st.sampled_from([PERSON] * 9 + [OTHER_PERSON])
_DELEGATORS = st.sampled_from([PERSON, PERSON, CAREGIVER])
_CAREGIVERS = st.sampled_from([CAREGIVER, SECOND_CAREGIVER])


class _Around:
    """Draws for one :func:`facts_at`: instants around ``now``, and institutions and staff
    that are ``near``'s own (the asker's) much of the time."""

    def __init__(self, draw: st.DrawFn, now: datetime, near: Actor | None) -> None:
        self.draw, self.now, self.near = draw, now, near
        self.own = near.institution_id if near is not None else None

    def hk_institution(self) -> str:
        own = self.own
        return own if own in HK_IDS and self.draw(_MOSTLY_OWN) else self.draw(_HK_INSTITUTION)

    def ml_institution(self) -> str:
        own = self.own
        return own if own in MAINLAND_IDS and self.draw(_MOSTLY_OWN) else self.draw(_ML_INSTITUTION)

    def hk_staff(self) -> tuple[str, str, str]:
        near = self.near
        mine = [s for s in HK_STAFF if near is not None and s[1] == near.professional_id]
        prefer_own: bool = self.draw(_COIN)
        return mine[0] if mine and prefer_own else self.draw(_HK_STAFF)

    def start(self) -> datetime:
        return self.now + self.draw(_START)

    def end(self) -> datetime | None:
        delta = self.draw(_END)
        return None if delta is None else self.now + delta

    def revoked(self) -> datetime | None:
        delta = self.draw(_REVOKED)
        return None if delta is None else self.now + delta

    def must_end(self) -> datetime:
        return self.now + (self.draw(_END) or timedelta(days=30))

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def how_many(self) -> range:
        return range(self.draw(_HOW_MANY))


@st.composite
def facts_at(draw: st.DrawFn, policy: Policy, now: datetime, near: Actor | None = None) -> Facts:
    """Random facts about PERSON (and a little about others) with times around ``now``;
    about ``near``'s institution and professional half the time. Built from module-level
    strategies only: constructing strategies per draw is slow."""
    around = _Around(draw, now, near)
    consents = _consents(around)
    authorisations = _authorisations(around)
    sessions = _sessions(around, authorisations)
    grants = _grants(around, consents)
    delegations = [
        CaregiverDelegation(
            f"d{n + 1}", draw(_DELEGATORS), draw(_CAREGIVERS), around.start(), around.end(),
            around.revoked(),
        )
        for n in around.how_many()
    ]  # fmt: skip
    radiology = [
        RadiologyAuthorisation(
            f"r{n + 1}", draw(_PID), around.ml_institution(), around.start(), around.must_end(),
            around.revoked(),
        )
        for n in range(draw(_FEW))
    ]  # fmt: skip
    emergencies = _emergencies(around)
    _anchor(around, consents, authorisations, sessions)
    return Facts(
        policy,
        _subject(around),
        tuple(consents),
        tuple(authorisations),
        tuple(sessions),
        tuple(radiology),
        tuple(grants),
        tuple(delegations),
        tuple(emergencies),
    )


def _consents(around: _Around) -> list[SharingConsent]:
    draw = around.draw
    return [
        SharingConsent(
            f"c{n + 1}", draw(_PID), around.hk_institution(), draw(_KINDS), draw(_SCOPES),
            around.start(), around.end(), around.revoked(),
        )
        for n in around.how_many()
    ]  # fmt: skip


def _authorisations(around: _Around) -> list[CrossBorderAuthorisation]:
    draw = around.draw
    return [
        CrossBorderAuthorisation(
            f"a{n + 1}", draw(_PID), around.ml_institution(), around.start(), around.must_end(),
            around.revoked(),
        )
        for n in around.how_many()
    ]  # fmt: skip


def _sessions(
    around: _Around, authorisations: list[CrossBorderAuthorisation]
) -> list[ViewingSession]:
    """Sessions mostly on the drawn authorisations, by the asker when it is a colleague."""
    sessions = []
    for n in around.how_many():
        institution, professional, _ = around.draw(_ML_STAFF)
        authorisation_id = "a9"
        if authorisations:
            a = around.pick(authorisations)
            authorisation_id = a.id
            colleagues = _colleagues(around.near, a.institution_id)
            prefer_colleague: bool = around.draw(_MOSTLY_OWN)
            if colleagues and prefer_colleague:
                institution, professional, _ = around.pick(colleagues)
        opened = around.now + around.draw(_OPENED)
        sessions.append(
            ViewingSession(
                f"s{n + 1}", authorisation_id, institution, professional, opened,
                around.must_end(), around.revoked(),
            )
        )  # fmt: skip
    return sessions


def _colleagues(near: Actor | None, institution: str) -> list[tuple[str, str, str]]:
    """Mainland staff of ``institution``: only ``near`` if they are among them."""
    colleagues = [s for s in MAINLAND_STAFF if s[0] == institution]
    if near is not None and (near.institution_id, near.professional_id) in {
        s[:2] for s in colleagues
    }:
        colleagues = [s for s in colleagues if s[1] == near.professional_id]
    return colleagues


def _grants(around: _Around, consents: list[SharingConsent]) -> list[RestrictedAccessGrant]:
    """Grants mostly confirmed, under one of the institution's consents (or none, or a
    consent that does not exist)."""
    draw = around.draw
    grants = []
    for n in around.how_many():
        institution, professional, _ = around.hk_staff()
        theirs = [c.id for c in consents if c.institution_id == institution]
        confirmed = around.now + draw(st.timedeltas(timedelta(minutes=-40), timedelta(minutes=5)))
        grants.append(
            RestrictedAccessGrant(
                f"g{n + 1}", draw(_PID), institution, professional, draw(_CATEGORY_SETS),
                around.pick([None, "c9", *theirs, *theirs]),
                confirmed if draw(_MOSTLY) else None, around.must_end(),
            )
        )  # fmt: skip
    return grants


def _emergencies(around: _Around) -> list[BreakGlassAccess]:
    draw = around.draw
    emergencies = []
    for n in range(draw(_FEW)):
        institution, professional, _ = around.hk_staff()
        began = around.now + draw(st.timedeltas(timedelta(hours=-2), timedelta(minutes=5)))
        emergencies.append(
            BreakGlassAccess(
                f"b{n + 1}", draw(_PID), institution, professional,
                len(draw(_JUSTIFICATIONS).strip()), began, around.must_end(),
            )
        )  # fmt: skip
    return emergencies


def _anchor(
    around: _Around,
    consents: list[SharingConsent],
    authorisations: list[CrossBorderAuthorisation],
    sessions: list[ViewingSession],
) -> None:
    """Most of the time the asker's own institution holds a plain, active consent (HK) or
    a usable authorisation and session (Mainland), that the tests then revoke, widen or
    move."""
    draw, now, own, near = around.draw, around.now, around.own, around.near
    anchored: bool = draw(_MOSTLY_OWN)
    if anchored and own in HK_IDS:
        consents.insert(
            0,
            SharingConsent(
                "c0", PERSON, own, draw(_KINDS), draw(_SCOPES), now + draw(_LONG_AGO),
                now + draw(_LATER),
            ),
        )  # fmt: skip
    if anchored and own in MAINLAND_IDS and near is not None and near.professional_id:
        issued = now + draw(st.timedeltas(timedelta(days=-25), timedelta(days=-4)))
        authorisations.insert(
            0, CrossBorderAuthorisation("a0", PERSON, own, issued, now + draw(_LATER))
        )
        opened = now + draw(st.timedeltas(timedelta(minutes=-100), timedelta(0)))
        sessions.insert(
            0,
            ViewingSession(
                "s0", "a0", own, near.professional_id, opened, opened + timedelta(hours=2)
            ),
        )


def _subject(around: _Around) -> Person | None:
    """PERSON (now and then someone else), mostly joined; now and then no one."""
    draw = around.draw
    if not draw(_MOSTLY):
        return None
    joined = around.now + draw(_JOINED) if draw(_MOSTLY) else None
    return Person(draw(_SUBJECT_IDS), draw(_BIRTHS), joined)


staff_actors = st.sampled_from(
    [Actor.hk_professional(*s) for s in HK_STAFF]
    + [Actor.mainland_professional(*s) for s in MAINLAND_STAFF]
)
person_side_actors = st.sampled_from(
    [Actor.citizen(PERSON), Actor.caregiver(CAREGIVER), Actor.citizen(SECOND_CAREGIVER)]
)
_FOCUSED_ACTIONS = st.sampled_from(
    [
        *VIEWS,
        *VIEWS,
        *VIEWS,
        Action.OPEN_VIEWING_SESSION,
        Action.DEPOSIT_RECORD,
        Action.DEPOSIT_RADIOLOGY,
        Action.REQUEST_RESTRICTED_ACCESS,
        Action.INVOKE_BREAK_GLASS,
        Action.READ_DEPOSIT_RECEIPT,
        Action.MANAGE_CONSENTS,
        Action.MANAGE_CAREGIVERS,
    ]
)


def focused_requests(actor: st.SearchStrategy[Actor] | None = None) -> st.SearchStrategy[Request]:
    """Requests about PERSON that the facts may well allow: known records, existing session
    and authorisation ids, caregivers acting for PERSON."""
    return st.builds(
        Request,
        actor=st.one_of(staff_actors, staff_actors, person_side_actors) if actor is None else actor,
        action=_FOCUSED_ACTIONS,
        subject_id=st.just(PERSON),
        record=st.one_of(*[known_records] * 6, records, st.none()),
        on_behalf_of=st.sampled_from([None, PERSON]),
        session_id=st.sampled_from(["s0", "s0", "s1", "s2", None]),
        authorisation_id=st.sampled_from([None, "a1", "a2", "r1"]),
        restricted_grant_id=st.sampled_from([None, None, "g1"]),
        target_institution_id=st.none() | all_institutions,
        break_glass_justification=st.sampled_from([None, "Unconscious, anticoagulated?"]),
    )


def view_requests(actor: st.SearchStrategy[Actor] | None = None) -> st.SearchStrategy[Request]:
    """Reads and lists of PERSON's known records: the requests that disclose data."""
    return st.builds(
        Request,
        actor=st.one_of(staff_actors, staff_actors, person_side_actors) if actor is None else actor,
        action=st.sampled_from(VIEWS),
        subject_id=st.just(PERSON),
        record=known_records,
        on_behalf_of=st.sampled_from([None, PERSON]),
        session_id=st.sampled_from(["s0", "s0", "s0", "s1", None]),
        restricted_grant_id=st.sampled_from([None, None, "g1"]),
    )


@st.composite
def situations(
    draw: st.DrawFn, policy: Policy, request: st.SearchStrategy[Request] | None = None
) -> tuple[Request, Facts, datetime]:
    now = draw(_INSTANTS)
    drawn = draw(_ANY_REQUEST if request is None else request)
    return drawn, draw(facts_at(policy, now, drawn.actor)), now


PROPERTY = settings(max_examples=100, deadline=None)
"""Settings for the focused property tests (small inputs, boundary-seeking)."""
BROAD = settings(max_examples=30, deadline=None)
"""Settings for the properties over whole random situations (each example is large);
run for each of the three policies, and the stateful model check covers the same ground."""


_INSTANTS = instants()
_ANY_REQUEST = st.one_of(requests(), focused_requests(), focused_requests())
