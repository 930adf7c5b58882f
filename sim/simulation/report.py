"""The report of a run: ``summary.json``, a terminal table (rich) and the PNG plots; and,
for ``--compare``, every variant against the baseline, with the deltas and what changes
for people.

``summary.json`` (format ``crossvault-simulation/1``)::

    complete          false for a partial report (Ctrl-C, or the server went away)
    stopped_by        null, "interrupt" or the one-line error
    scenario, policy  name and path (and the policy's lookback)
    seed, scale, server
    events            {planned, done}: simulated steps (a visit is two: scan, read)
    counts            everything deterministic: the same seed gives the same counts
      population, planned                 the synthetic people and the plan
      calls                               every HTTP call kind: answers by outcome
      answers_by_actor                    permits and denials (problem code) by actor kind
      audit                               decisions by actor kind, allowed/denied, reason:
                                          the persons' access logs (null if partial)
      policy_decisions                    /metrics crossvault_decisions_total (reason)
      notifications                       sent to people, by event (null if partial)
      records_deposited_by_institution    eHRs and radiology files that were stored
      folder_records_by_source            Personal Folder uploads by treating institution
      cross_border                        sessions' records listed, distinct visible,
                                          people with records visible, hidden by the
                                          lookback, lookback violations (0)
      records_visible_by_person           {person index: distinct records of theirs
                                          listed to cross-border viewers} (people with
                                          none left out; adds up to distinct visible)
      people_denied_by_reason             {reason: people with such a denial in their
                                          access log} (null if partial)
      daily, totals                       applications, sessions, views... per day
      programmes                          the simulator's own ledger (never the vault's):
                                          voucher {as_of, users, users_in_population,
                                          transactions, claimed_hkd, services,
                                          by_institution, after_as_of}; ha_pilot {as_of,
                                          patients, patients_in_population, visits,
                                          after_as_of}; counted up to as_of, the
                                          published figures' date (only those that ran)
    calibration       [{figure, published, unit, as_of, expected, simulated, ratio}]:
                      each published figure the scenario is calibrated to, at --scale
                      (sim/simulation/calibration.py)
    latency_ms        per call kind: n, p50, p95, p99 (not deterministic)
    wall_seconds      (not deterministic)
    events_per_second the events' rate while they ran (not deterministic; null if
                      they did not all run)

``comparison.json`` (format ``crossvault-simulation-comparison/2``; ``--compare``, when
every run finished; a change is ``{baseline, variant, delta}``)::

    complete, scenario, seed, scale
    baseline          {policy, summary}: the policy and its summary.json (relative)
    variants          one per --compare, in order:
      policy, summary, complete
      figures                             every headline figure: a change
      denials_by_reason                   decisions denied, by reason: a change
      for_people                          what the variant changes for the people:
        same_people                       both runs drew the same population (people
                                          are matched by their index in it)
        records_visible                   distinct records listed to Mainland clinicians
        people_with_records_visible       people with at least one such record
        people_with_more_records_visible  people with more of their records visible
        people_with_fewer_records_visible ... fewer (counts, not changes)
        cross_border_record_views         records Mainland clinicians opened
        denials_by_reason                 {reason: {decisions, people}}: two changes;
                                          people is null if either run was partial
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sim.simulation.run_tables import (
    calibration_table,
    decisions_table,
    latency_table,
    programmes_table,
)

FORMAT = "crossvault-simulation/1"
COMPARISON_FORMAT = "crossvault-simulation-comparison/2"
DISTINCT_VISIBLE = ("cross_border", "distinct_records_visible")


PEOPLE_CAPTION = (
    "Records are distinct eHRs listed to Mainland clinicians in cross-border sessions; "
    "people are matched by their place in the population. Denied (the reasons that "
    "changed): decisions / people with such a denial in their access log."
)
# (label, key in for_people): a change, or a count of people (in the variant's column)
PEOPLE_ROWS = (
    ("records visible to Mainland clinicians", "records_visible"),
    ("people with records visible to Mainland clinicians", "people_with_records_visible"),
    ("people with more of their records visible", "people_with_more_records_visible"),
    ("people with fewer of their records visible", "people_with_fewer_records_visible"),
    ("cross-border record views", "cross_border_record_views"),
)
NOT_THE_SAME_PEOPLE = " The two runs drew different populations: per-person changes mislead."

# (label, path into counts) of the figures shown first and compared side by side.
KEY_FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("people", ("population", "people")),
    ("cross-border users", ("population", "cross_border_users")),
    ("applications issued", ("totals", "applications")),
    ("viewing sessions opened", ("totals", "sessions")),
    ("cross-border record views", ("totals", "cross_border_views")),
    ("records listed to cross-border viewers", ("cross_border", "records_listed")),
    ("distinct records visible cross-border", DISTINCT_VISIBLE),
    ("people with records visible cross-border", ("cross_border", "people_with_records_visible")),
    ("eHRs older than the lookback, per session", ("cross_border", "hidden_by_lookback")),
    ("lookback violations (must be 0)", ("cross_border", "lookback_violations")),
    ("Hong Kong provider views", ("totals", "hk_views")),
    ("Personal Folder uploads", ("totals", "folder_uploads")),
    ("radiology deposits completed", ("totals", "radiology_deposits")),
)


def figure(counts: dict[str, Any], path: tuple[str, ...]) -> int:
    value: Any = counts
    for key in path:
        value = value.get(key, 0) if isinstance(value, dict) else 0
    return int(value or 0)


def permits_and_denials(counts: dict[str, Any]) -> tuple[int, int]:
    """(permitted, denied) answers over every actor kind."""
    actors = counts.get("answers_by_actor", {}).values()
    return (
        sum(a["permitted"] for a in actors),
        sum(sum(a["denied"].values()) for a in actors),
    )


def denials_by_reason(counts: dict[str, Any]) -> dict[str, int]:
    """Denials by the server's reason code (audit log), or by problem code when the
    audit log was not read back (a partial run)."""
    reasons: dict[str, int] = {}
    if counts.get("audit"):
        for outcomes in counts["audit"].values():
            for reason, n in outcomes.get("denied", {}).items():
                reasons[reason] = reasons.get(reason, 0) + n
    else:
        for answers in counts.get("answers_by_actor", {}).values():
            for code, n in answers["denied"].items():
                reasons[code] = reasons.get(code, 0) + n
    return dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


def headline(counts: dict[str, Any]) -> dict[str, int]:
    figures = {label: figure(counts, path) for label, path in KEY_FIGURES}
    permitted, denied = permits_and_denials(counts)
    figures["answers permitted"] = permitted
    figures["answers denied"] = denied
    notifications = counts.get("notifications") or {}
    figures["notifications sent"] = int(notifications.get("total", 0))
    return figures


# --- files -------------------------------------------------------------------------------


def write_summary(directory: Path, summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` atomically (a temp file, then a rename), so that an
    interrupted write never leaves a half file where a report is expected."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "summary.json"
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    temporary.replace(target)
    return target


def write_comparison(directory: Path, runs: Mapping[str, dict[str, Any]]) -> Path:
    """``comparison.json`` of ``runs`` (report directory -> summary; the first is the
    baseline, every other one a variant compared with it)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "comparison.json"
    target.write_text(json.dumps(comparison(runs), indent=2) + "\n")
    return target


def comparison(runs: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    (part, baseline), *variants = runs.items()
    return {
        "format": COMPARISON_FORMAT,
        "complete": all(summary["complete"] for summary in runs.values()),
        "scenario": baseline["scenario"],
        "seed": baseline["seed"],
        "scale": baseline["scale"],
        "baseline": {"policy": baseline["policy"], "summary": f"{part}/summary.json"},
        "variants": [_against(baseline, part, variant) for part, variant in variants],
    }


def _against(baseline: dict[str, Any], part: str, variant: dict[str, Any]) -> dict[str, Any]:
    """One variant against the baseline: every figure, the denials, what changes for people."""
    a, b = headline(baseline["counts"]), headline(variant["counts"])
    denials_a = denials_by_reason(baseline["counts"])
    denials_b = denials_by_reason(variant["counts"])
    return {
        "policy": variant["policy"],
        "summary": f"{part}/summary.json",
        "complete": variant["complete"],
        "figures": {k: change(a[k], b[k]) for k in a},
        "denials_by_reason": {
            r: change(denials_a.get(r, 0), denials_b.get(r, 0))
            for r in _union(denials_a, denials_b)
        },
        "for_people": for_people(baseline["counts"], variant["counts"]),
    }


def change(baseline: int, variant: int) -> dict[str, int]:
    return {"baseline": baseline, "variant": variant, "delta": variant - baseline}


def for_people(baseline: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """What the variant changes for the simulated people (``counts`` of both runs); people
    are matched by their index in the population (``same_people``: both runs drew the
    same population)."""
    before = _visible_by_person(baseline)
    after = _visible_by_person(variant)
    people = set(before) | set(after)
    return {
        "same_people": baseline.get("population") == variant.get("population"),
        "records_visible": change(*(figure(c, DISTINCT_VISIBLE) for c in (baseline, variant))),
        "people_with_records_visible": change(len(before), len(after)),
        "people_with_more_records_visible": sum(after.get(p, 0) > before.get(p, 0) for p in people),
        "people_with_fewer_records_visible": sum(
            after.get(p, 0) < before.get(p, 0) for p in people
        ),
        "cross_border_record_views": change(
            *(figure(c, ("totals", "cross_border_views")) for c in (baseline, variant))
        ),
        "denials_by_reason": _denials_for_people(baseline, variant),
    }


def _visible_by_person(counts: dict[str, Any]) -> dict[str, int]:
    return {p: n for p, n in (counts.get("records_visible_by_person") or {}).items() if n}


def _denials_for_people(baseline: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """Per reason: the decisions denied, and the people with such a denial in their access
    log (null when either run's logs were not read back)."""
    decisions = denials_by_reason(baseline), denials_by_reason(variant)
    people = baseline.get("people_denied_by_reason"), variant.get("people_denied_by_reason")
    return {
        reason: {
            "decisions": change(decisions[0].get(reason, 0), decisions[1].get(reason, 0)),
            "people": (
                change(people[0].get(reason, 0), people[1].get(reason, 0))
                if people[0] is not None and people[1] is not None
                else None
            ),
        }
        for reason in _union(*decisions)
    }


# --- the terminal ------------------------------------------------------------------------


def _title(summary: dict[str, Any]) -> str:
    state = "" if summary["complete"] else " [bold red](partial)[/]"
    return (
        f"crossvault simulate — scenario {summary['scenario']['name']!r} under policy "
        f"{summary['policy']['name']!r}, seed {summary['seed']}, scale {summary['scale']}{state}"
    )


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    counts = summary["counts"]
    overview = Table(title=_title(summary), show_header=True, title_justify="left")
    overview.add_column("figure")
    overview.add_column("count", justify="right")
    unread = counts.get("notifications") is None  # a partial run: nothing read back
    for label, value in headline(counts).items():
        shown = "not read back" if unread and label == "notifications sent" else f"{value:,}"
        overview.add_row(label, shown)
    overview.add_row(
        "events done / planned", f"{summary['events']['done']:,} / {summary['events']['planned']:,}"
    )
    console.print(overview)
    console.print(decisions_table(counts))
    deposits = Table(title="Records deposited per institution", title_justify="left")
    deposits.add_column("institution")
    deposits.add_column("records", justify="right")
    for iid, n in counts["records_deposited_by_institution"].items():
        deposits.add_row(iid, f"{n:,}")
    console.print(deposits)
    if counts.get("programmes"):
        console.print(programmes_table(counts["programmes"]))
    console.print(latency_table(summary["latency_ms"]))
    if summary.get("calibration"):
        console.print(calibration_table(summary))


def run_names(runs: Mapping[str, dict[str, Any]]) -> list[str]:
    """The runs' policy names; a name that several runs share gets its run's number."""
    names = [summary["policy"]["name"] for summary in runs.values()]
    return [f"{n} ({i})" if names.count(n) > 1 else n for i, n in enumerate(names, 1)]


def print_comparison(console: Console, runs: Mapping[str, dict[str, Any]]) -> None:
    """Per variant: its figures against the baseline's, then what changes for people."""
    (_, baseline), *variants = runs.items()
    base_name, *names = run_names(runs)
    for (_, variant), name in zip(variants, names, strict=True):
        console.print(_figures_table(baseline, variant, (base_name, name)))
        console.print(_people_table(baseline["counts"], variant["counts"], (base_name, name)))


def _against_table(title: str, first: str, names: tuple[str, str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first, overflow="fold", min_width=20)
    for name in names:
        table.add_column(name, justify="right", overflow="fold")
    table.add_column("delta", justify="right")
    return table


def _figures_table(
    baseline: dict[str, Any], variant: dict[str, Any], names: tuple[str, str]
) -> Table:
    table = _against_table(
        f"Scenario {baseline['scenario']['name']!r}, seed {baseline['seed']}, "
        f"scale {baseline['scale']}: {names[0]} vs {names[1]}",
        "figure",
        names,
    )
    a, b = headline(baseline["counts"]), headline(variant["counts"])
    for label in a:
        table.add_row(label, f"{a[label]:,}", f"{b[label]:,}", _delta(b[label] - a[label]))
    denials_a = denials_by_reason(baseline["counts"])
    denials_b = denials_by_reason(variant["counts"])
    for reason in _union(denials_a, denials_b):
        x, y = denials_a.get(reason, 0), denials_b.get(reason, 0)
        table.add_row(f"denied: {reason}", f"{x:,}", f"{y:,}", _delta(y - x))
    return table


def _people_table(
    baseline: dict[str, Any], variant: dict[str, Any], names: tuple[str, str]
) -> Table:
    people = for_people(baseline, variant)
    table = _against_table(f"What {names[1]} changes for people", "for the people", names)
    table.caption = PEOPLE_CAPTION + ("" if people["same_people"] else NOT_THE_SAME_PEOPLE)
    table.caption_justify = "left"
    for label, key in PEOPLE_ROWS:
        value = people[key]
        table.add_row(
            label, *(_changed(value) if isinstance(value, dict) else ("", f"{value:,}", ""))
        )
    table.add_section()
    changed = {r: d for r, d in people["denials_by_reason"].items() if _changes(d)}
    for reason, denied in changed.items():
        table.add_row(f"denied: {reason}", *_decisions_and_people(denied))
    if not changed:
        table.add_row("denials by reason", "", "no change", "")
    return table


def _changes(denied: dict[str, Any]) -> bool:
    people = denied["people"] or {"delta": 0}
    return bool(denied["decisions"]["delta"] or people["delta"])


def _decisions_and_people(denied: dict[str, Any]) -> tuple[str, ...]:
    """Baseline, variant and delta cells: "decisions / people" (decisions alone when the
    access logs were not read back)."""
    decisions = _changed(denied["decisions"])
    if denied["people"] is None:
        return decisions
    people = _changed(denied["people"])
    return tuple(f"{d} / {p}" for d, p in zip(decisions, people, strict=True))


def _changed(values: dict[str, int]) -> tuple[str, str, str]:
    return f"{values['baseline']:,}", f"{values['variant']:,}", _delta(values["delta"])


def _union(*mappings: dict[str, int]) -> Iterable[str]:
    return sorted({k for m in mappings for k in m})


def _delta(value: int) -> str:
    if value == 0:
        return "0"
    return f"[green]+{value:,}[/]" if value > 0 else f"[red]{value:,}[/]"
