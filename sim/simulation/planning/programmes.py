"""Planning the programmes around the vault (:mod:`sim.simulation.programmes`): every
voucher claim and HA pilot visit from the programme's first day, for the ledger; and,
for the visits in the timeline by people of the population, what they bring to the
vault — the records they file in their Personal Folder (:mod:`.personal_folder` draws
from these visits), the cross-border applications voucher users make during the
cross-border pilot (:mod:`.cross_border`), and HA doctors' follow-up reads.

Exact quotas, as elsewhere: ``users`` people make at least one claim each and
``transactions`` claims are dated up to ``figures_as_of`` (after it, claims go on at the
same daily rate to the timeline's end); the services are dealt out in their shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from sim.simulation.events import ProviderView
from sim.simulation.ledger import Claim, PilotVisit
from sim.simulation.planning.planner import Planner, sample
from sim.simulation.population import Person
from sim.simulation.programmes import SERVICES, HaPilot, Voucher
from sim.simulation.scenario import Scenario

FOLLOW_UP_DAYS = 7  # an HA doctor reads within a week of the pilot visit (choice)


class ProgrammePlanning(Planner):
    """Voucher claims and HA pilot visits."""

    def programmes(self) -> None:
        programmes = self.scenario.programmes
        if programmes.voucher is not None and programmes.voucher.enabled:
            self.vouchers(programmes.voucher)
        if programmes.ha_pilot is not None and programmes.ha_pilot.enabled:
            self.pilot_visits(programmes.ha_pilot)

    # --- the voucher pilot -----------------------------------------------------------

    def vouchers(self, spec: Voucher) -> None:
        users = self._participants(
            spec.users,
            spec.in_population,
            "v",
            [p for p in self.population.people if p.age_on(spec.start) >= spec.min_age],
        )
        counted = max(len(users), Scenario.scaled(spec.transactions, self.scale))
        services = self._dealt(counted)
        mean = spec.claimed_hkd / spec.transactions if spec.transactions else 0.0
        for n, (user, day) in enumerate(
            self._dated(users, counted, spec.start, spec.figures_as_of)
        ):
            service = services[n] if n < counted else self._service(spec)
            point = self._service_point(day)
            if point is None:
                continue
            self.ledger.append(Claim(day, user, point, service, self._amount(spec, service, mean)))
            person = self._in_timeline(user, day)
            if person is not None:
                self.programme_visits.append((day, person.index, point))
                self.voucher_visits.setdefault(person.index, []).append((day, point))

    def _dealt(self, count: int) -> list[str]:
        """The services of ``count`` claims in the scenario's shares, shuffled."""
        spec = self.scenario.programmes.voucher
        assert spec is not None
        dealt = [s for s in SERVICES for _ in range(round(count * spec.services[s]))]
        while len(dealt) < count:
            dealt.append(self._service(spec))
        dealt = dealt[:count]
        self.rng.shuffle(dealt)
        return dealt

    def _service(self, spec: Voucher) -> str:
        return self.rng.choices(SERVICES, weights=[spec.services[s] for s in SERVICES])[0]

    def _amount(self, spec: Voucher, service: str, mean: float) -> int:
        """One claim in HK$: the service's mean (``relative_claim``, scaled so that the
        mix averages ``claimed_hkd / transactions``) times a log-normal of mean 1."""
        mix = sum(spec.services[s] * spec.relative_claim[s] for s in SERVICES)
        centre = mean * spec.relative_claim[service] / mix if mix else mean
        sigma = spec.claim_spread
        return max(1, round(centre * math.exp(self.rng.gauss(-(sigma**2) / 2, sigma))))

    def _service_point(self, day: date) -> str | None:
        open_points = sorted(
            (i for i in self.policy.institutions.values() if i.takes_vouchers(day)),
            key=lambda i: i.id,
        )
        if not open_points:
            return None
        weights = [i.voucher_service_points for i in open_points]
        return self.rng.choices(open_points, weights=weights)[0].id

    # --- the HA GBA patient pilot ------------------------------------------------------

    def pilot_visits(self, spec: HaPilot) -> None:
        patients = self._participants(
            spec.patients,
            spec.in_population,
            "h",
            [p for p in self.population.people if any(r.institution_id == "ha" for r in p.history)],
        )
        counted = max(len(patients), Scenario.scaled(spec.visits, self.scale))
        end = self.scenario.end
        for patient, day in self._dated(patients, counted, spec.start, spec.figures_as_of):
            self.ledger.append(PilotVisit(day, patient, spec.institution))
            person = self._in_timeline(patient, day)
            if person is None:
                continue
            self.programme_visits.append((day, person.index, spec.institution))
            read = day + timedelta(days=self.rng.randint(1, FOLLOW_UP_DAYS))
            if self.rng.random() < spec.follow_up_view_share and read <= end:
                self.add(read, ProviderView(person.index, "ha"), "ProviderView.ha_pilot")

    # --- shared ------------------------------------------------------------------------

    def _participants(
        self, published: float, in_population: float, prefix: str, candidates: Sequence[Person]
    ) -> list[str]:
        """The programme's participants at scale: people of the population (cross-border
        users first, so that the pilot-time applicants are among them), then others who
        take part in the programme only."""
        total = Scenario.scaled(published, self.scale)
        wanted = min(total, Scenario.scaled(in_population, self.scale), len(candidates))
        first = [p for p in candidates if p.cross_border_user]
        chosen = sample(self.rng, first, wanted)
        rest = [p for p in candidates if not p.cross_border_user]
        chosen += sample(self.rng, rest, wanted - len(chosen))
        return [f"p{p.index}" for p in chosen] + [
            f"{prefix}{n}" for n in range(total - len(chosen))
        ]

    def _dated(
        self, participants: list[str], counted: int, start: date, as_of: date
    ) -> list[tuple[str, date]]:
        """``counted`` (participant, day) pairs up to ``as_of``, each participant at least
        once, then the same daily rate after ``as_of`` to the timeline's end."""
        if not participants:
            return []
        slots = participants + self.rng.choices(participants, k=counted - len(participants))
        self.rng.shuffle(slots)
        dated = [(who, self.day_between(start, as_of)) for who in slots]
        end = self.scenario.end
        if end > as_of:
            rate = counted / ((as_of - start).days + 1)
            later = round(rate * (end - as_of).days)
            first_later = as_of + timedelta(days=1)
            dated += [
                (self.rng.choice(participants), self.day_between(first_later, end))
                for _ in range(later)
            ]
        return dated

    def _in_timeline(self, participant: str, day: date) -> Person | None:
        """The person of the population behind ``participant``, if the visit falls in
        the timeline and they joined eHealth (else it touches no vault)."""
        if not participant.startswith("p"):
            return None
        person = self.population.people[int(participant[1:])]
        s = self.scenario
        return person if person.joined and s.start <= day <= s.end else None
