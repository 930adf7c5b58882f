"""PNG plots of a run (matplotlib, Agg backend: no display needed).

* ``activity.png`` — applications, viewing sessions and record views per week over the
  simulated period, with the running total of applications;
* ``denials.png`` — denials by reason, stacked by actor kind (the audit log's reasons, or
  the problem codes of a partial run);
* ``calibration.png`` — each published figure the scenario is calibrated to, against
  the run's (ratio, with the 0.95-1.05 band);
* ``comparison.png`` (``--compare``) — the key figures and the denials by reason of the
  baseline and every variant side by side;
* ``for_people.png`` (``--compare``) — what each variant changes for people against the
  baseline: records visible to Mainland clinicians, the people with more or fewer of
  their records visible, cross-border record views, the change in denials by reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.simulation import report
from sim.simulation.report import denials_by_reason, headline, run_names

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


COLOURS = ("#2b6cb0", "#dd6b20", "#2f855a", "#805ad5", "#d69e2e", "#c53030", "#319795")


def comparison(runs: Mapping[str, dict[str, Any]], path: Path) -> Path:
    """The key figures and the denials by reason of every run (the baseline first)."""
    summaries, names = list(runs.values()), run_names(runs)
    counts = [s["counts"] for s in summaries]
    figures = [headline(c) for c in counts]
    labels = [k for k in figures[0] if k not in _NOT_PLOTTED and any(f[k] for f in figures)]
    denials = [denials_by_reason(c) for c in counts]
    reasons = sorted({r for d in denials for r in d})
    rows = (len(labels) + len(reasons)) * max(1.0, 0.45 * len(runs))
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, max(4.0, 0.3 * rows + 2)))
    _grouped(left, labels[::-1], dict(zip(names, figures, strict=True)))
    left.set_title("Key figures", fontsize="medium")
    _grouped(right, reasons[::-1], dict(zip(names, denials, strict=True)))
    right.set_title("Denials by reason", fontsize="medium")
    figure.suptitle(f"{_scenario(summaries[0])}: {' vs '.join(names)}", fontsize="medium")
    return _save(figure, path)


def for_people(runs: Mapping[str, dict[str, Any]], path: Path) -> Path:
    """What each variant changes for people, against the baseline: records visible to
    Mainland clinicians, the people with more or fewer of them, cross-border record views,
    and the denials by reason that changed (decisions)."""
    (_, baseline), *variants = runs.items()
    base_name, *names = run_names(runs)
    changes = [report.for_people(baseline["counts"], v["counts"]) for _, v in variants]
    deltas = [
        {
            r: d["decisions"]["delta"]
            for r, d in c["denials_by_reason"].items()
            if d["decisions"]["delta"]
        }
        for c in changes
    ]
    reasons = sorted({r for d in deltas for r in d})
    height = max(6.0, 0.28 * len(reasons) * len(names) + 4.5, 0.6 * len(runs) * 2 + 3)
    figure, axes = plt.subplots(2, 2, figsize=(13, height))
    visible, people, views, denied = axes.flat
    everyone = [base_name, *names]
    _runs_bars(visible, everyone, _per_run(changes, "records_visible"))
    visible.set_title("Records visible to Mainland clinicians (distinct)", fontsize="medium")
    _people_bars(people, names, changes)
    people.set_title(
        f"People with more or fewer of their records visible, against {base_name}",
        fontsize="medium",
    )
    _runs_bars(views, everyone, _per_run(changes, "cross_border_record_views"))
    views.set_title("Cross-border record views", fontsize="medium")
    by_name = dict(zip(names, deltas, strict=True))
    _grouped(denied, reasons[::-1], by_name, colours=COLOURS[1:], empty="no change")
    if reasons:
        denied.axvline(0, color="#4a5568", linewidth=0.8)
        denied.xaxis.set_major_locator(MaxNLocator(integer=True))
    denied.set_xlabel(f"denials, change against {base_name}")
    denied.set_title("Denials by reason that changed", fontsize="medium")
    figure.suptitle(f"What changes for people — {_scenario(baseline)}", fontsize="medium")
    return _save(figure, path)


def _per_run(changes: list[dict[str, Any]], key: str) -> list[int]:
    """A for-people figure in the baseline, then in each variant."""
    return [changes[0][key]["baseline"], *(c[key]["variant"] for c in changes)]


def _scenario(summary: dict[str, Any]) -> str:
    return (
        f"scenario {summary['scenario']['name']}, seed {summary['seed']}, scale {summary['scale']}"
    )


def _runs_bars(axes: Any, names: list[str], values: list[int]) -> None:
    """One bar per run (the baseline at the top), its value at its end."""
    positions = list(range(len(names)))[::-1]
    axes.barh(positions, values, height=0.6, color=COLOURS[: len(names)])
    for position, value in zip(positions, values, strict=True):
        _note(axes, f"{value:,}", (value, position))
    axes.set_yticks(positions, names, fontsize="small")
    axes.set_xlim(0, max([1, *values]) * 1.18)


def _people_bars(axes: Any, names: list[str], changes: list[dict[str, Any]]) -> None:
    """Per variant: the people with more of their records visible (right, green), with
    fewer (left, red), each bar's count at its end."""
    positions = list(range(len(names)))[::-1]
    more = [c["people_with_more_records_visible"] for c in changes]
    fewer = [-c["people_with_fewer_records_visible"] for c in changes]
    axes.barh(positions, more, height=0.6, color="#2f855a")
    axes.barh(positions, fewer, height=0.6, color="#c53030")
    for position, up, down in zip(positions, more, fewer, strict=True):
        if up or not down:
            _note(axes, f"{up:,}" if up else "no change", (up, position))
        if down:
            _note(axes, f"{-down:,}", (down, position), right=False)
    axes.axvline(0, color="#4a5568", linewidth=0.8)
    reach = max([1, *more, *(-f for f in fewer)]) * 1.25
    axes.set_xlim(-reach, reach)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{abs(x):,.0f}"))
    axes.set_yticks(positions, names, fontsize="small")
    axes.set_xlabel("← people with fewer          people with more →")


def _note(axes: Any, text: str, at: tuple[float, float], right: bool = True) -> None:
    """``text`` beside the end of a horizontal bar."""
    axes.annotate(
        text,
        at,
        xytext=(4 if right else -4, 0),
        textcoords="offset points",
        ha="left" if right else "right",
        va="center",
        fontsize="small",
    )


def _grouped(
    axes: Any,
    labels: list[str],
    runs: Mapping[str, Mapping[str, int]],
    colours: Sequence[str] = COLOURS,
    empty: str = "none",
) -> None:
    """Each label's value in every run (run name -> values), as a group of bars (the
    first run on top); the bars stay inside the frame."""
    positions = list(range(len(labels)))
    height = 0.8 / max(1, len(runs))
    values = []
    for n, (name, run) in enumerate(runs.items()):
        bars = [run.get(label, 0) for label in labels]
        shift = 0.4 - height * (n + 0.5)
        axes.barh(
            [p + shift for p in positions],
            bars,
            height=height,
            label=name,
            color=colours[n % len(colours)],
        )
        values += bars
    axes.set_yticks(positions, labels, fontsize="small")
    low, high = min([0, *values]), max([1, *values])
    pad = (high - low) * 0.08
    axes.set_xlim(low - pad if low < 0 else 0, high + pad)
    if labels:
        axes.legend(fontsize="small", loc="best")
    else:
        axes.set_yticks([])
        axes.set_xticks([])
        axes.text(0.5, 0.5, empty, ha="center", va="center", transform=axes.transAxes)
