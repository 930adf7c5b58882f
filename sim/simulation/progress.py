"""The progress bar of ``crossvault simulate``: per task, done of total, events per
second (over the last seconds) and the time remaining at that rate."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """``123 events/s`` (rich's estimate over its speed window), ``…`` before any; a
    task's ``unit`` field names what it counts (default ``events``)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = "…" if speed is None else f"{speed:,.0f}"
        unit = task.fields.get("unit", "events")
        return Text(f"{shown} {unit}/s", style="progress.data.speed")


def progress_bar(err: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        speed_estimate_period=10.0,
    )
