"""The scan phase's lanes: steps that share a person or an institution's lock-outs stay in
one lane in plan order; lanes that share neither may run side by side."""

from __future__ import annotations

from sim.simulation.driver.steps import Phase, Step, independent_lanes


def _scan(person: int, institution: str | None, label: str) -> tuple[Step, str]:
    return Step(Phase.SCAN, person, lambda: None, institution), label


def test_scans_sharing_a_person_or_an_institution_share_a_lane_in_plan_order() -> None:
    planned = [
        _scan(1, "hku-sz", "a"),
        _scan(2, "gz-first", "b"),
        _scan(3, "hku-sz", "c"),  # hku-sz again: a's lane
        _scan(4, "sz-dental", "d"),
        _scan(2, "zs-people", "e"),  # person 2 again: joins zs-people to b's lane
        _scan(5, "zs-people", "f"),  # so f follows e there
        _scan(6, None, "g"),  # no institution: its person's lane only
    ]
    label = {id(step): name for step, name in planned}
    lanes = independent_lanes([step for step, _ in planned])
    assert [[label[id(s)] for s in lane] for lane in lanes] == [
        ["b", "e", "f"],
        ["a", "c"],
        ["d"],
        ["g"],
    ]


def test_one_institutions_scans_stay_in_one_lane_whoever_the_people() -> None:
    steps = [Step(Phase.SCAN, person, lambda: None, "hku-sz") for person in range(10)]
    assert independent_lanes(steps) == [steps]
