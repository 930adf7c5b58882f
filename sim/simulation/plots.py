"""PNG plots of a run (matplotlib, Agg backend: no display needed).

* ``activity.png`` — applications, viewing sessions and record views per week over the
  simulated period, with the running total of applications;
* ``denials.png`` — denials by reason, stacked by actor kind (the audit log's reasons, or
  the problem codes of a partial run);
* ``calibration.png`` — each published figure the scenario is calibrated to, against
  the run's (ratio, with the 0.95-1.05 band);
* ``comparison.png`` (``--compare``) — the key figures and the denials by reason of the
  two policies side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from sim.simulation.report import denials_by_reason, headline

DPI = 110
# Figures left out of the comparison's bar chart: the same in both runs by construction,
# or so much larger than the rest that they would flatten them (they are in the JSON).
_NOT_PLOTTED = frozenset(
    {"people", "cross-border users", "answers permitted", "answers denied", "notifications sent"}
)


def _weekly(daily: dict[str, dict[str, int]], key: str) -> tuple[list[date], list[int]]:
    weeks: defaultdict[date, int] = defaultdict(int)
    for day, counts in daily.items():
        d = date.fromisoformat(day)
        weeks[d - timedelta(days=d.weekday())] += counts.get(key, 0)
    ordered = sorted(weeks)
    return ordered, [weeks[w] for w in ordered]


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _title(summary: dict[str, Any]) -> str:
    partial = " (partial)" if not summary["complete"] else ""
    return (
        f"scenario {summary['scenario']['name']} under policy {summary['policy']['name']}, "
        f"seed {summary['seed']}, scale {summary['scale']}{partial}"
    )


def activity(summary: dict[str, Any], path: Path) -> Path:
    daily = summary["counts"]["daily"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    weeks, applications = _weekly(daily, "applications")
    _, sessions = _weekly(daily, "sessions")
    if weeks:
        top.bar(weeks, applications, width=6, color="#2b6cb0", label="applications issued")
        top.plot(weeks, sessions, color="#dd6b20", marker=".", label="viewing sessions opened")
        running = top.twinx()
        total, cumulative = 0, []
        for n in applications:
            total += n
            cumulative.append(total)
        running.plot(
            weeks, cumulative, color="#718096", linestyle="--", label="applications (total)"
        )
        running.set_ylabel("running total")
        running.set_ylim(bottom=0)  # both axes share their zero
        running.legend(loc="upper left", bbox_to_anchor=(0, 0.8), fontsize="small")
    top.set_ylabel("per week")
    top.set_ylim(bottom=0)
    top.set_title(f"Applications and views over time\n{_title(summary)}", fontsize="medium")
    if weeks:
        top.legend(loc="upper left", fontsize="small")
    for key, colour, label in (
        ("cross_border_views", "#2f855a", "cross-border record views"),
        ("hk_views", "#805ad5", "Hong Kong provider views"),
        ("folder_uploads", "#d69e2e", "Personal Folder uploads"),
    ):
        weeks, values = _weekly(daily, key)
        if weeks:
            bottom.plot(weeks, values, color=colour, marker=".", label=label)
    bottom.set_ylabel("per week")
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    return _save(figure, path)


def denials(summary: dict[str, Any], path: Path) -> Path:
    counts = summary["counts"]
    by_actor: dict[str, dict[str, int]] = {}
    if counts.get("audit"):
        source = "reason (audit log)"
        for actor, outcomes in counts["audit"].items():
            by_actor[actor] = dict(outcomes.get("denied", {}))
    else:
        source = "problem code (answers seen)"
        for actor, answers in counts["answers_by_actor"].items():
            by_actor[actor] = dict(answers["denied"])
    reasons = list(denials_by_reason(counts))[::-1]  # largest at the top
    figure, axes = plt.subplots(figsize=(10, max(3.0, 0.32 * len(reasons) + 1.5)))
    left = [0] * len(reasons)
    for actor in sorted(by_actor):
        values = [by_actor[actor].get(r, 0) for r in reasons]
        if any(values):
            axes.barh(reasons, values, left=left, label=actor)
            left = [a + b for a, b in zip(left, values, strict=True)]
    if not reasons:
        axes.text(0.5, 0.5, "no denials", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("denials")
    axes.set_xlim(0, max([1, *left]) * 1.12)  # the longest bar stays inside the frame
    axes.set_title(f"Denials by {source}\n{_title(summary)}", fontsize="medium")
    if reasons:
        axes.legend(title="actor kind", fontsize="small")
    return _save(figure, path)


def calibration(summary: dict[str, Any], path: Path) -> Path:
    """Each published figure (at the run's scale) against the simulated one, as the ratio
    simulated / published, with the 0.95-1.05 band shaded."""
    rows = summary.get("calibration") or []
    labels = [f"{r['figure']} ({r['as_of']})" for r in rows][::-1]
    ratios = [r["ratio"] or 0.0 for r in rows][::-1]
    figure, axes = plt.subplots(figsize=(11, max(3.0, 0.45 * len(rows) + 2.2)))
    axes.axvspan(0.95, 1.05, color="#c6f6d5", label="0.95-1.05")
    axes.axvline(1.0, color="#2f855a", linewidth=1)
    axes.barh(labels, ratios, color="#2b6cb0", height=0.5, label="simulated / published")
    for n, row in enumerate(rows[::-1]):
        axes.annotate(
            f"{row['simulated']:,.4g} of {row['expected']:,.4g}",
            (ratios[n], n),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
        )
    axes.set_xlim(0, max([1.3, *(r * 1.35 for r in ratios)]))
    axes.set_xlabel(f"simulated / published at scale {summary['scale']}")
    axes.set_title(f"Calibration\n{_title(summary)}", fontsize="medium")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize="small")
    return _save(figure, path)


def comparison(baseline: dict[str, Any], variant: dict[str, Any], path: Path) -> Path:
    a_name, b_name = baseline["policy"]["name"], variant["policy"]["name"]
    if a_name == b_name:
        a_name, b_name = f"{a_name} (1)", f"{b_name} (2)"
    a, b = headline(baseline["counts"]), headline(variant["counts"])
    labels = [k for k in a if k not in _NOT_PLOTTED and (a[k] or b[k])][::-1]
    denials_a = denials_by_reason(baseline["counts"])
    denials_b = denials_by_reason(variant["counts"])
    reasons = sorted(set(denials_a) | set(denials_b))[::-1]
    height = max(4.0, 0.3 * (len(labels) + len(reasons)) + 2)
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, height))
    names = (a_name, b_name)
    _paired(left, labels, (a, b), names)
    left.set_title("Key figures", fontsize="medium")
    _paired(right, reasons, (denials_a, denials_b), names)
    right.set_title("Denials by reason", fontsize="medium")
    figure.suptitle(
        f"scenario {baseline['scenario']['name']}, seed {baseline['seed']}, "
        f"scale {baseline['scale']}: "
        f"{a_name} vs {b_name}",
        fontsize="medium",
    )
    return _save(figure, path)


def _paired(
    axes: Any,
    labels: list[str],
    runs: tuple[Mapping[str, int], Mapping[str, int]],
    names: tuple[str, str],
) -> None:
    """Each label's value in the two runs, as a pair of bars (the first run above)."""
    positions = list(range(len(labels)))
    for values, name, shift, colour in zip(
        runs, names, (0.2, -0.2), ("#2b6cb0", "#dd6b20"), strict=True
    ):
        bars = [values.get(label, 0) for label in labels]
        axes.barh([p + shift for p in positions], bars, height=0.4, label=name, color=colour)
    axes.set_yticks(positions, labels, fontsize="small")
    axes.legend(fontsize="small")
