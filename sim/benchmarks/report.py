"""Runs the registered benchmark suites and prints one report."""

from __future__ import annotations

import importlib
import json
import platform
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from sim.benchmarks import OPT_IN, SUITES, Measurement

console = Console(width=None if Console().is_terminal else 160)


def _load(spec: str):  # type: ignore[no-untyped-def]
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def run_all(scale: float, only: list[str]) -> int:
    """Returns a process exit code: 0 even when a target is missed (it is reported)."""
    results: list[Measurement] = []
    chosen = {**SUITES, **{name: spec for name, spec in OPT_IN.items() if name in only}}
    for name, spec in chosen.items():
        if only and name not in only:
            continue
        console.print(f"[bold]running {name}[/] …")
        results.extend(_load(spec)(scale))
    table = Table(title=f"crossvault benchmarks — {platform.processor() or platform.machine()}")
    for column in ("suite", "measure", "value", "unit", "baseline", "ratio", "target", "met"):
        table.add_column(column)
    for m in results:
        target = (
            f"≥{m.target_ratio}x"
            if m.target_ratio is not None
            else (f"≥{_fmt(m.target_value)}" if m.target_value is not None else "")
        )
        met = {True: "yes", False: "NO", None: ""}[m.meets_target]
        table.add_row(
            m.suite,
            m.name,
            _fmt(m.value),
            m.unit,
            _fmt(m.baseline),
            f"{m.ratio:.2f}x" if m.ratio is not None else "—",
            target,
            met,
        )
    console.print(table)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    payload = [{**m.__dict__, "ratio": m.ratio, "meets_target": m.meets_target} for m in results]
    with open("bench-report.json", "w") as handle:
        json.dump({"at": stamp, "scale": scale, "measurements": payload}, handle, indent=2)
    console.print("written: bench-report.json")
    return 0
