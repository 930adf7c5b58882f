"""Planning the cross-border record: applications (some refused on purpose), the visits
that redeem them, and the visits' adversarial and revocation twists."""

from __future__ import annotations

from datetime import date, timedelta

from sim.simulation.events import Apply, Attack, ForeignScan, Visit
from sim.simulation.planning.planner import Planner, choose, count_of, sample
from sim.simulation.population import Person, poisson

LAST_VISIT_DAY = 29  # authorisations last 30 days (policy default); stay clear of the end
FIRST_LATE_DAY = 31


class CrossBorderPlanning(Planner):
    """Applications, visits and their twists."""

    def applications(self) -> None:
        spec = self.scenario.applications
        users = list(self.population.cross_border_users)
        if not users:
            return
        total = max(len(users), round(len(users) * spec.per_person))
        slots = users + self.rng.choices(users, k=total - len(users))
        self.rng.shuffle(slots)
        pilot = [d for d in self.days if self.policy.rules_on(d).cross_border_min_age > 0]
        open_days = [d for d in self.days if self.policy.rules_on(d).cross_border_min_age == 0]
        pilot_left = round(total * spec.pilot_share) if pilot else 0
        for person in slots:
            day, institution = None, None
            if pilot_left > 0:
                day, institution = self.voucher_visit_in_pilot(person)
                if day is None:
                    candidate = self.rng.choice(pilot)
                    day = candidate if self.eligible(person, candidate) else None
                pilot_left -= day is not None
            if day is None:
                day = self.rng.choice(open_days or pilot)
            self.application(person, day, institution)

    def voucher_visit_in_pilot(self, person: Person) -> tuple[date | None, str | None]:
        """A voucher user applies on the day of one of their voucher visits during the
        cross-border pilot, at that institution if it is designated then (each visit
        used once)."""
        visits = self.voucher_visits.get(person.index, [])
        for n, (day, institution) in enumerate(visits):
            rules = self.policy.rules_on(day)
            if rules.cross_border_min_age > 0 and self.eligible(person, day):
                designated = self.policy.institutions[institution].is_designated(day)
                del visits[n]
                return day, institution if designated else None
        return None, None

    def application(self, person: Person, day: date, institution: str | None = None) -> None:
        institution = institution or self.weighted_institution(day)
        if institution is None:
            return
        key = self.key("a")
        self.add(day, Apply(person.index, key, institution))
        if not person.joined or not self.eligible(person, day):
            return
        self.visit(person, day, key, institution)

    def visit(self, person: Person, applied: date, key: str, institution: str) -> None:
        spec = self.scenario.visits
        end = self.scenario.end
        wait = self.processing_days(applied)
        if wait == 0 and self.rng.random() < spec.same_day_share:
            day = applied
        else:
            day = applied + timedelta(days=max(wait, self.rng.randint(1, spec.days_ahead)))
        day = min(day, applied + timedelta(days=LAST_VISIT_DAY))
        if wait and self.rng.random() < spec.pending_share:
            early = applied + timedelta(days=self.rng.randint(1, max(1, wait - 2)))
            if early <= end:
                self.add(early, Visit(person.index, key, institution, expected="pending"))
        if self.rng.random() < spec.late_share:
            late = applied + timedelta(days=self.rng.randint(FIRST_LATE_DAY, FIRST_LATE_DAY + 14))
            if late + timedelta(days=1) <= end:
                self.add(late, Visit(person.index, key, institution, expected="expired"))
                self.application(person, late + timedelta(days=1))  # apply again
                return
        if day > end:
            return
        views = poisson(self.rng, spec.views_per_visit)
        self.visits.append((day, Visit(person.index, key, institution, views=views)))

    def refused_applications(self) -> None:
        """Applications the rules refuse: under-65s during the pilot, and institutions
        not designated yet (or Hong Kong ones, once every Mainland one is). Their shares
        are of the cross-border users."""
        spec = self.scenario.adversarial
        users = self.population.cross_border_users
        pilot = [d for d in self.days if self.policy.rules_on(d).cross_border_min_age > 0]
        young = [p for p in users if pilot and not self.eligible(p, pilot[-1])]
        for person in sample(
            self.rng, young, count_of(len(users), spec.ineligible_application_share)
        ):
            day = self.rng.choice(pilot)
            institution = self.weighted_institution(day)
            if institution is not None:
                refused = Apply(person.index, self.key("a"), institution, expected="not_eligible")
                self.add(day, refused, "Apply.refused")
        for person in choose(self.rng, users, spec.non_designated_application_share):
            day = self.rng.choice(self.days)
            candidates = self.not_designated(day) or self.hong_kong()
            institution = self.rng.choice(candidates).id
            refused = Apply(person.index, self.key("a"), institution, expected="not_designated")
            self.add(day, refused, "Apply.refused")

    def twists(self) -> None:
        """Give the planned visits their adversarial and revocation twists, then add them
        (and the attacks and foreign scans that follow them) to their days."""
        adversarial = self.scenario.adversarial
        revocations = self.scenario.revocations
        visits = list(range(len(self.visits)))
        typos = set(choose(self.rng, visits, adversarial.wrong_passcode_share))
        revoked = set(choose(self.rng, visits, revocations.cross_border_share))
        foreign = set(choose(self.rng, visits, adversarial.foreign_token_share))
        probes = set(choose(self.rng, visits, adversarial.lookback_probe_share))
        attacks = set(choose(self.rng, visits, adversarial.guessing_attack_share))
        scans = set(choose(self.rng, visits, adversarial.non_designated_visit_share))
        for n, (day, visit) in enumerate(self.visits):
            other = None
            if n in foreign:
                others = [i.id for i in self.designated(day) if i.id != visit.institution_id]
                other = self.rng.choice(others) if others else None
            twisted = Visit(
                visit.person,
                visit.application,
                visit.institution_id,
                views=visit.views,
                typo=n in typos,
                revoke_after=n in revoked,
                foreign_institution=other,
                probe=n in probes,
            )
            self.add(day, twisted)
            if n in scans:
                candidates = self.not_designated(day) or self.hong_kong()
                scanner = self.rng.choice(candidates).id
                self.add(day, ForeignScan(visit.person, visit.application, scanner))
            if n in attacks:
                self.add(day, Attack(visit.person, visit.application, visit.institution_id))
