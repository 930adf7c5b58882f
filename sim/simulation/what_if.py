"""What if: rules a scenario changes in the policy it runs under (``[[what_if.timeline]]``
in the scenario; ``sim/scenarios/open-to-all-2024.toml`` is one).

Each entry is a policy timeline entry (``starts_on``, ``note`` and any of the rules a
policy's timeline sets: ``cross_border_min_age``, ``cross_border_processing_hours``,
``deposit_requires_sharing_consent``). It is added to the policy's own timeline as
written: an entry on a day the policy already has merges into it key by key (the
scenario wins), and, as in a policy file, each entry changes only the rules it states.
:func:`derived_policy` writes the result as a policy file that ``extends`` the original
(the server started for the run loads it, the planner plans with it); a timeline the
policy refuses is refused naming the scenario's key.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from policies.policy_file import Policy, PolicyError, load_policy, merged_timeline
from sim.simulation.scenario_reader import Reader, ScenarioError, Table, shown

RULES = {
    "cross_border_min_age": int,
    "cross_border_processing_hours": int,
    "deposit_requires_sharing_consent": bool,
}


def read_what_if(reader: Reader, top: Table) -> tuple[dict[str, Any], ...]:
    """The scenario's ``[[what_if.timeline]]`` entries (absent: none)."""
    if "what_if" not in top.data:
        return ()
    table = reader.table(top, "what_if")
    values = reader.value(table, "timeline")
    key = table.key("timeline")
    if not isinstance(values, list) or not values:
        reader.fail(key, f"expected a non-empty array of tables, got {shown(values)}")
    entries = tuple(_entry(reader, item, f"{key}[{n}]") for n, item in enumerate(values))
    reader.done(table)
    return entries


def _entry(reader: Reader, item: Any, key: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        reader.fail(key, f"expected a table, got {shown(item)}")
    t = Table(item, key)
    entry: dict[str, Any] = {
        "starts_on": reader.day(t, "starts_on"),
        "note": reader.text(t, "note"),
    }
    for rule, kind in RULES.items():
        if rule in item:
            entry[rule] = (
                reader.switch(t, rule) if kind is bool else reader.whole(t, rule, high=1000)
            )
    reader.done(t)
    if len(entry) == 2:
        reader.fail(key, f"changes no rule (any of: {', '.join(RULES)})")
    return entry


def derived_policy(
    scenario_label: str, policy_path: Path, entries: tuple[dict[str, Any], ...], directory: Path
) -> tuple[Path, Policy]:
    """Write the policy at ``policy_path`` with ``entries`` added to its timeline into
    ``directory``; the written path and the loaded policy."""
    timeline = {e["starts_on"]: dict(e) for e in merged_timeline(policy_path)}
    for entry in entries:
        timeline[entry["starts_on"]] = {**timeline.get(entry["starts_on"], {}), **entry}
    lines = [f"extends = {json.dumps(str(policy_path.resolve()))}"]
    for day in sorted(timeline):
        lines += ["", "[[timeline]]"]
        lines += [f"{k} = {_toml(v)}" for k, v in timeline[day].items()]
    target = directory / f"{policy_path.stem}-what-if.toml"
    target.write_text("\n".join(lines) + "\n")
    try:
        return target, load_policy(target)
    except PolicyError as exc:
        why = str(exc).split(": ", 1)[-1]
        raise ScenarioError(f"{scenario_label}: what_if.timeline: {why}") from None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))
