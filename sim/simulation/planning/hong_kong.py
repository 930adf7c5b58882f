"""Planning Hong Kong care: providers' eHR deposits, doctors' and nurses' views (some of
restricted records, with an OTP), and revoked sharing consents."""

from __future__ import annotations

from policies.vocabulary import Profession
from sim.simulation.events import DepositEhr, ProviderView, RevokeConsent
from sim.simulation.planning.planner import Planner, choose
from sim.simulation.population import EHR_CATEGORIES, public_provider


class HongKongPlanning(Planner):
    """Hong Kong providers' deposits and views, and consent revocations."""

    def hong_kong_care(self) -> None:
        public = [i.id for i in self.hong_kong() if i.implied_sharing] or ["ha"]
        deposits = self.ehr_deposits(public)
        self.provider_views(deposits, "ha" if "ha" in public else public[0])
        self.consent_revocations()

    def ehr_deposits(self, public: list[str]) -> int:
        """Public providers (or the person's private one) deposit eHRs on routine days;
        how many."""
        spec = self.scenario.hk_care
        people = self.population.people
        years = self.scenario.days / 365.25
        deposits = round(len(people) * spec.deposits_per_person_year * years)
        categories = [c for c, _ in EHR_CATEGORIES]
        weights = [w for _, w in EHR_CATEGORIES]
        for _ in range(deposits):
            person = self.rng.choice(people)
            day = self.rng.choice(self.routine_days)
            institution = public_provider(self.rng, public)
            if person.private_provider is not None and self.rng.random() < spec.private_share:
                institution = person.private_provider
            category = self.rng.choices(categories, weights=weights)[0]
            self.add(day, DepositEhr(person.index, institution, category, self.treated_on(day)))
        return deposits

    def provider_views(self, deposits: int, main: str) -> None:
        """Views in proportion to ``deposits``: doctors at ``main`` (or the person's private
        provider), and nurses at ``main`` asking for restricted records."""
        spec = self.scenario.hk_care
        people = self.population.people
        views = list(range(round(deposits * spec.views_per_deposit)))
        restricted = set(choose(self.rng, views, spec.restricted_share))
        mistyped = set(choose(self.rng, sorted(restricted), spec.wrong_otp_share))
        for n in views:
            person = self.rng.choice(people)
            day = self.rng.choice(self.routine_days)
            if n in restricted:
                event = ProviderView(
                    person.index,
                    main,
                    Profession.NURSE,
                    restricted=True,
                    wrong_otp=n in mistyped,
                )
            else:
                institution = main
                if person.private_provider is not None and self.rng.random() < spec.private_share:
                    institution = person.private_provider
                event = ProviderView(person.index, institution)
            self.add(day, event)

    def consent_revocations(self) -> None:
        """Some people revoke the sharing consent they gave their private provider."""
        consenting = [p for p in self.population.people if p.private_consent is not None]
        share = self.scenario.revocations.sharing_consent_share
        for person in choose(self.rng, consenting, share):
            assert person.private_provider is not None
            day = self.rng.choice(self.routine_days)
            self.add(day, RevokeConsent(person.index, person.private_provider))
