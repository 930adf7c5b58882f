"""Planning the Personal Folder: what people upload after treatment in the Mainland, and
the radiology studies designated depositors file into it (some late, some followed up
by a Hong Kong doctor)."""

from __future__ import annotations

from datetime import date, timedelta

from policies.vocabulary import Category, Region
from sim.simulation.events import (
    ELSEWHERE,
    AuthoriseRadiology,
    DepositRadiology,
    ProviderView,
    UploadToFolder,
)
from sim.simulation.planning.planner import Planner
from sim.simulation.scenario import Scenario

FIRST_LATE_DEPOSIT_DAY = 15  # radiology authorisations last 14 days
FOLDER_CATEGORIES: tuple[tuple[Category, float], ...] = (
    (Category.DOCUMENT, 40),
    (Category.LAB_REPORT, 20),
    (Category.CLINICAL_NOTE, 15),
    (Category.MEDICATION, 10),
    (Category.RADIOLOGY_REPORT, 10),
    (Category.DIAGNOSIS_PROCEDURE, 5),
)  # choice: what people bring home from treatment in the Mainland


class PersonalFolderPlanning(Planner):
    """Folder uploads and radiology deposits."""

    def folder(self) -> None:
        spec = self.scenario.folder
        total = Scenario.scaled(spec.records, self.scale)
        pilot_ids = set(spec.pilot_institutions)
        mainland = [i.id for i in self.policy.institutions.values() if i.region is Region.MAINLAND]
        others = [*sorted(set(mainland) - pilot_ids), ELSEWHERE]
        from_pilot = round(total * spec.pilot_share)
        visits_by_group: dict[bool, list[tuple[date, int, str]]] = {True: [], False: []}
        treated = [(d, v.person, v.institution_id) for d, v in self.visits]
        for day, person, institution in treated + self.programme_visits:
            visits_by_group[institution in pilot_ids].append((day, person, institution))
        categories = [c for c, _ in FOLDER_CATEGORIES]
        weights = [w for _, w in FOLDER_CATEGORIES]
        people = self.population.people
        for n in range(total):
            pilot = n < from_pilot
            candidates = visits_by_group[pilot]
            if candidates and self.rng.random() < spec.after_visit_share:
                day, person, source = self.rng.choice(candidates)
            else:
                day = self.rng.choice(self.routine_days)
                person = self.rng.choice(people).index
                source = self.rng.choice(sorted(pilot_ids) if pilot else others)
            category = self.rng.choices(categories, weights=weights)[0]
            self.add(day, UploadToFolder(person, category, source, self.treated_on(day)))

    def radiology(self) -> None:
        spec = self.scenario.radiology
        end = self.scenario.end
        starts = [
            i.radiology_depositor_from
            for i in self.policy.institutions.values()
            if i.radiology_depositor_from is not None
        ]
        users = [p for p in self.population.cross_border_users if p.joined]
        if not starts or not users or min(starts) > end:
            return
        launch = min(starts)
        last = min(end, launch + timedelta(days=spec.window_days - 1))
        total = Scenario.scaled(spec.authorisations, self.scale)
        deposited = round(total * spec.deposited_share)
        late = round(total * spec.late_share)
        followed = set(self.rng.sample(range(deposited), round(deposited * spec.follow_up_share)))
        for n in range(total):
            day = self.day_between(launch, last)
            depositors = sorted(
                i.id for i in self.policy.institutions.values() if i.is_radiology_depositor(day)
            )
            person = self.rng.choice(users)
            key = self.key("r")
            institution = self.rng.choice(depositors)
            self.add(day, AuthoriseRadiology(person.index, key, institution))
            instances = self.scenario.radiology.instances_per_study
            if n < deposited:
                at = day + timedelta(days=self.rng.randint(0, 3))
                if at <= end:
                    self.add(at, DepositRadiology(person.index, key, institution, instances))
                    follow = at + timedelta(days=self.rng.randint(1, 7))
                    if n in followed and follow <= end:
                        self.add(follow, ProviderView(person.index, "ha", folder=True))
            elif n < deposited + late:
                at = day + timedelta(days=self.rng.randint(FIRST_LATE_DEPOSIT_DAY, 20))
                if at <= end:
                    self.add(
                        at,
                        DepositRadiology(person.index, key, institution, instances, late=True),
                        "DepositRadiology.late",
                    )
