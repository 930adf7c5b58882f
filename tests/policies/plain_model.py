"""An independent, deliberately plain model of the access rules
(docs/design.md#access-rules), for checking ``decide``.

Written from the rules, not from the engine: straight if-chains, lists instead of lookup
tables, its own calendar arithmetic. It reads only the *data* of a policy (registry,
profession table, timeline, durations). It answers an :class:`Outcome` that is compared
field by field with the engine's decision.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from policies import Decision, Facts, Policy, Request


class Outcome(NamedTuple):
    allowed: bool
    consent_id: str | None = None
    grant_id: str | None = None
    categories: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    visible_since: date | None = None
    visible_until: date | None = None
    depositors: frozenset[str] | None = None
    notify_person: bool = False
    on_behalf_of: str | None = None
    review_required: bool = False


DENY = Outcome(False, categories=frozenset(), sources=frozenset(), depositors=frozenset())


def outcome_of(decision: Decision) -> Outcome:
    o = decision.obligations
    return Outcome(
        decision.allowed,
        decision.consent_id,
        decision.grant_id,
        None if o.categories is None else frozenset(str(c) for c in o.categories),
        None if o.sources is None else frozenset(str(s) for s in o.sources),
        o.visible_since,
        o.visible_until,
        o.depositors,
        o.notify_person,
        o.on_behalf_of,
        o.review_required,
    )


# --- calendar, by hand -------------------------------------------------------------------


def hong_kong_date(instant: datetime) -> date:
    as_utc = instant.astimezone(UTC).replace(tzinfo=None)
    return (as_utc + timedelta(hours=8)).date()


def years_before(day: date, years: int) -> date:
    year = day.year - years
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, day.month, day.day)


def age(born: date, day: date) -> int:
    birthday_month, birthday_day = born.month, born.day
    if (birthday_month, birthday_day) == (2, 29) and not calendar.isleap(day.year):
        birthday_day = 28
    years = day.year - born.year
    if (day.month, day.day) < (birthday_month, birthday_day):
        years = years - 1
    return years


def in_force(start: datetime, now: datetime, *ends: datetime | None) -> bool:
    if now < start:
        return False
    return all(end is None or now < end for end in ends)


def rules_on(policy: Policy, day: date) -> Any:
    chosen = policy.timeline[0]
    for entry in policy.timeline:
        if entry.starts_on <= day:
            chosen = entry
    return chosen


# --- the rules ---------------------------------------------------------------------------

PERSON_ACTIONS = [
    "read_record", "list_records", "read_content", "add_to_folder", "read_deposit_receipt",
    "read_profile", "manage_consents", "grant_sharing_consent", "apply_cross_border",
    "grant_radiology_authorisation", "manage_caregivers", "read_access_log",
    "read_notifications", "withdraw", "explain_access",
]  # fmt: skip
RECORD_ACTIONS = [
    "read_record", "read_content", "deposit_record", "add_to_folder", "deposit_radiology",
    "read_deposit_receipt",
]  # fmt: skip
CATEGORIES = [
    "demographics", "allergy", "diagnosis_procedure", "medication", "encounter",
    "clinical_note", "birth_immunisation", "lab_report", "radiology_report",
    "other_investigation", "referral", "radiology_images", "document",
]  # fmt: skip
VIEWS = ["read_record", "read_content", "list_records"]


def expected(request: Request, facts: Facts, now: datetime) -> Outcome:
    kind = request.actor.kind
    person = facts.person
    if person is not None and person.id != request.subject_id:
        person = None
    if kind == "operator":
        if request.action in (
            "manage_registry",
            "manage_keys",
            "verify_audit",
            "review_break_glass",
            "explain_access",
        ):
            return Outcome(True)
        return DENY
    if kind == "institution_admin":
        own = request.actor.institution_id
        known = own is not None and own in facts.policy.institutions
        ok = request.action == "manage_institution" and known
        return Outcome(True) if ok and request.target_institution_id == own else DENY
    if kind == "citizen" or kind == "caregiver":
        return person_side(request, facts, now, person)
    if kind == "hk_professional" or kind == "mainland_professional":
        return professional_side(request, facts, now, person)
    return DENY


def record_ok(request: Request) -> bool:
    r = request.record
    if request.action not in RECORD_ACTIONS:
        return True
    return r is not None and r.category in CATEGORIES and r.source in ("ehr", "personal_folder")


def joined(person: Any, now: datetime) -> bool:
    return person.joined_at is not None and person.joined_at <= now


# --- the person and their caregivers -----------------------------------------------------


def person_side(request: Request, facts: Facts, now: datetime, person: Any) -> Outcome:
    caregiver = acts_as_caregiver(request)
    if caregiver is None or person is None:
        return DENY
    delegation = None
    if caregiver:
        for d in facts.delegations:
            mine = d.person_id == person.id and d.caregiver_id == request.actor.person_id
            if mine and in_force(d.granted_at, now, d.revoked_at, d.expires_at):
                delegation = d
                break
        if delegation is None or request.action == "manage_caregivers":
            return DENY
    if not person_may(request, facts.policy, person, now):
        return DENY
    if delegation is not None:
        return Outcome(True, consent_id=delegation.id, on_behalf_of=person.id)
    return Outcome(True)


def acts_as_caregiver(request: Request) -> bool | None:
    """True for a caregiver acting for the subject, False for the subject acting for
    themself, None for anyone else."""
    me = request.actor.person_id
    acting_for = request.on_behalf_of
    is_caregiver = request.actor.kind == "caregiver"
    if acting_for is not None and acting_for != me:
        is_caregiver = True
    if is_caregiver:
        target = acting_for if acting_for is not None else request.subject_id
        if me is None or target != request.subject_id:
            return None
        if target == me:
            is_caregiver = False
    if not is_caregiver and (me is None or me != request.subject_id):
        return None
    return is_caregiver


def person_may(request: Request, policy: Policy, person: Any, now: datetime) -> bool:
    if request.action not in PERSON_ACTIONS or not record_ok(request):
        return False
    if request.action == "add_to_folder" and request.record.source != "personal_folder":  # type: ignore[union-attr]
        return False
    today = hong_kong_date(now)
    chosen = policy.institutions.get(request.target_institution_id or "")
    if request.action == "grant_sharing_consent":
        return chosen is not None and chosen.region == "hong_kong"
    if request.action == "apply_cross_border":
        return may_apply_cross_border(policy, chosen, person, now)
    if request.action == "grant_radiology_authorisation":
        if chosen is None or chosen.region != "mainland":
            return False
        return (
            chosen.radiology_depositor_from is not None and chosen.radiology_depositor_from <= today
        )
    return True


def may_apply_cross_border(policy: Policy, chosen: Any, person: Any, now: datetime) -> bool:
    today = hong_kong_date(now)
    if chosen is None or chosen.region != "mainland":
        return False
    if chosen.designated_on is None or chosen.designated_on > today:
        return False
    if not joined(person, now):
        return False
    minimum: int = rules_on(policy, today).cross_border_min_age
    return minimum == 0 or age(person.date_of_birth, today) >= minimum


# --- professionals -----------------------------------------------------------------------


class Case(NamedTuple):
    """A professional's request about ``person``, from ``institution``, at ``now``."""

    request: Request
    facts: Facts
    now: datetime
    person: Any
    institution: Any


def professional_side(request: Request, facts: Facts, now: datetime, person: Any) -> Outcome:
    policy = facts.policy
    actor = request.actor
    institution = policy.institutions.get(actor.institution_id or "")
    if institution is None:
        return DENY
    if actor.kind == "hk_professional" and institution.region != "hong_kong":
        return DENY
    if actor.kind == "mainland_professional" and institution.region != "mainland":
        return DENY
    if actor.profession not in policy.general_categories:
        return DENY
    if actor.professional_id is None or person is None:
        return DENY
    if not record_ok(request):
        return DENY
    if request.action == "read_deposit_receipt":
        if request.record.depositor_institution_id == institution.id:  # type: ignore[union-attr]
            return Outcome(True, depositors=frozenset([institution.id]))
        return DENY
    case = Case(request, facts, now, person, institution)
    if actor.kind == "hk_professional":
        return hong_kong_side(case)
    return mainland_side(case)


# --- Hong Kong providers -----------------------------------------------------------------


class Sharing(NamedTuple):
    active: list[Any]  # the institution's consents in force
    scopes: frozenset[str]
    held: bool  # a consent (or implied sharing) covers the source asked about
    consent_id: str | None  # the consent relied on


def hong_kong_side(case: Case) -> Outcome:
    action = case.request.action
    sharing = sharing_now(case)
    if action == "invoke_break_glass":
        return break_glass_invoked(case)
    if action == "request_restricted_access":
        if joined(case.person, case.now) and sharing.held:
            return Outcome(True, consent_id=sharing.consent_id)
        return DENY
    if action == "deposit_record":
        return hk_deposit(case, sharing)
    if action not in VIEWS or not joined(case.person, case.now):
        return DENY
    emergency = break_glass_view(case, sharing)
    if emergency is not None:
        return emergency
    if not sharing.held:
        return DENY
    return hk_view(case, sharing)


def sharing_now(case: Case) -> Sharing:
    action = case.request.action
    record = case.request.record if action != "list_records" else None
    wanted_source = None  # a list, or asking for restricted access: any source
    if action in VIEWS and record is not None:
        wanted_source = record.source
    if action == "deposit_record":
        wanted_source = "ehr"
    institution = case.institution
    active = []
    for c in case.facts.sharing_consents:
        theirs = c.person_id == case.person.id and c.institution_id == institution.id
        if theirs and in_force(c.granted_at, case.now, c.revoked_at, c.expires_at):
            active.append(c)
    scopes = set()
    if institution.implied_sharing:
        scopes.add("ehr")
    for c in active:
        scopes = scopes | set(c.scopes)
    relied = None
    for c in active:
        covers = wanted_source is None or wanted_source in c.scopes
        later = relied is None or (c.granted_at, c.id) > (relied.granted_at, relied.id)
        if covers and later:
            relied = c
    held = relied is not None or (institution.implied_sharing and wanted_source in (None, "ehr"))
    return Sharing(active, frozenset(scopes), held, relied.id if relied is not None else None)


def break_glass_invoked(case: Case) -> Outcome:
    rule = case.facts.policy.break_glass
    profession = case.request.actor.profession or ""
    if not rule.enabled or profession not in rule.professions:
        return DENY
    if not joined(case.person, case.now):
        return DENY
    justification = (case.request.break_glass_justification or "").strip()
    if len(justification) < rule.min_justification_length:
        return DENY
    return Outcome(True, notify_person=True, review_required=True)


def hk_deposit(case: Case, sharing: Sharing) -> Outcome:
    policy = case.facts.policy
    record = case.request.record
    assert record is not None
    if not joined(case.person, case.now):
        return DENY
    if record.source != "ehr" or record.category not in set(policy.sharable_categories):
        return DENY
    if record.depositor_institution_id not in (None, case.institution.id):
        return DENY
    if not rules_on(policy, hong_kong_date(case.now)).deposit_requires_sharing_consent:
        return Outcome(True)
    if sharing.held:
        return Outcome(True, consent_id=sharing.consent_id)
    return DENY


def break_glass_view(case: Case, sharing: Sharing) -> Outcome | None:
    """The answer during an emergency access, or None when there is none."""
    rule = case.facts.policy.break_glass
    actor = case.request.actor
    if not rule.enabled or actor.profession not in rule.professions:
        return None
    for a in case.facts.break_glass_accesses:
        if (
            a.professional_id == actor.professional_id
            and a.institution_id == case.institution.id
            and a.person_id == case.person.id
            and in_force(a.started_at, case.now, a.expires_at, a.started_at + rule.duration)
            and a.justification_length >= rule.min_justification_length
        ):
            opened = frozenset(sharing.scopes | {"ehr"})
            record = case.request.record if case.request.action != "list_records" else None
            if record is not None and record.source not in opened:
                return DENY
            return Outcome(
                True, sharing.consent_id, a.id, None, opened, notify_person=True,
                review_required=True,
            )  # fmt: skip
    return None


def hk_view(case: Case, sharing: Sharing) -> Outcome:
    policy = case.facts.policy
    record = case.request.record if case.request.action != "list_records" else None
    grants = [g for g in case.facts.restricted_grants if grant_usable(case, sharing, g)]
    general = set(policy.general_categories[case.request.actor.profession or ""])
    visible = set(general)
    for g in grants:
        visible = visible | set(g.categories)
    box = Outcome(
        True, sharing.consent_id, None, frozenset(visible), sharing.scopes, notify_person=True
    )
    if record is None or record.category in general:
        return box
    for g in grants:
        if record.category in g.categories:
            return box._replace(grant_id=g.id)
    return DENY


def grant_usable(case: Case, sharing: Sharing, g: Any) -> bool:
    actor = case.request.actor
    if g.professional_id != actor.professional_id or g.institution_id != case.institution.id:
        return False
    if g.person_id != case.person.id or g.confirmed_at is None:
        return False
    if case.request.restricted_grant_id is not None and g.id != case.request.restricted_grant_id:
        return False
    longest = g.confirmed_at + case.facts.policy.durations.restricted_grant
    if not in_force(g.confirmed_at, case.now, g.expires_at, longest):
        return False
    if g.consent_id is None:
        return bool(case.institution.implied_sharing)
    return g.consent_id in [c.id for c in sharing.active]


# --- Mainland professionals --------------------------------------------------------------


def mainland_side(case: Case) -> Outcome:
    request = case.request
    action = request.action
    today = hong_kong_date(case.now)
    if action == "deposit_radiology":
        return radiology_deposit(case)
    if action not in VIEWS and action != "open_viewing_session":
        return DENY
    if case.institution.designated_on > today:
        return DENY
    session = None
    wanted = request.authorisation_id
    if action != "open_viewing_session":
        session = usable_session(case)
        if session is None:
            return DENY
        wanted = session.authorisation_id
    authorisation = usable_authorisation(case, wanted)
    if authorisation is None:
        return DENY
    box = lookback_box(case, authorisation.id)
    if action == "open_viewing_session":
        return box._replace(notify_person=False)
    assert session is not None
    return in_the_box(case, box._replace(grant_id=session.id))


def radiology_deposit(case: Case) -> Outcome:
    record = case.request.record
    assert record is not None
    institution = case.institution
    starts = institution.radiology_depositor_from
    if starts is None or starts > hong_kong_date(case.now):
        return DENY
    if record.category not in ("radiology_report", "radiology_images"):
        return DENY
    if record.source != "personal_folder":
        return DENY
    if record.depositor_institution_id not in (None, institution.id):
        return DENY
    for a in case.facts.radiology_authorisations:
        if a.person_id != case.person.id or a.institution_id != institution.id:
            continue
        if case.request.authorisation_id is not None and a.id != case.request.authorisation_id:
            continue
        if in_force(a.issued_at, case.now, a.expires_at, a.revoked_at):
            return Outcome(True, consent_id=a.id)
    return DENY


def usable_session(case: Case) -> Any:
    session = None
    for s in case.facts.viewing_sessions:
        if s.id == case.request.session_id:
            session = s
            break
    if session is None:
        return None
    if session.institution_id != case.institution.id:
        return None
    if session.professional_id != case.request.actor.professional_id:
        return None
    longest = session.opened_at + case.facts.policy.durations.viewing_session
    if not in_force(session.opened_at, case.now, session.expires_at, session.closed_at, longest):
        return None
    return session


def usable_authorisation(case: Case, wanted: str | None) -> Any:
    authorisation = None
    for candidate in case.facts.cross_border_authorisations:
        if candidate.id == wanted:
            authorisation = candidate
            break
    if authorisation is None:
        return None
    if authorisation.person_id != case.person.id:
        return None
    if authorisation.institution_id != case.institution.id:
        return None
    if not in_force(
        authorisation.issued_at, case.now, authorisation.revoked_at, authorisation.expires_at
    ):
        return None
    issue_day = hong_kong_date(authorisation.issued_at)
    then = rules_on(case.facts.policy, issue_day)
    if case.now < authorisation.issued_at + then.cross_border_processing:
        return None
    minimum = then.cross_border_min_age
    if minimum > 0 and age(case.person.date_of_birth, issue_day) < minimum:
        return None
    return authorisation


def lookback_box(case: Case, authorisation_id: str) -> Outcome:
    policy = case.facts.policy
    today = hong_kong_date(case.now)
    since = years_before(today, policy.lookback_years)
    return Outcome(
        True,
        authorisation_id,
        None,
        frozenset(policy.sharable_categories),
        frozenset(["ehr"]),
        since,
        today,
        notify_person=True,
    )


def in_the_box(case: Case, box: Outcome) -> Outcome:
    if case.request.action == "list_records":
        return box
    record = case.request.record
    assert record is not None
    if record.source != "ehr" or record.category not in case.facts.policy.sharable_categories:
        return DENY
    assert box.visible_since is not None and box.visible_until is not None
    if record.clinical_date < box.visible_since or record.clinical_date > box.visible_until:
        return DENY
    return box
