"""``crossvault seed``: fill the configured database with synthetic people and eHRs at
volume (see :mod:`vault.seeding.bulk`), with a progress bar and the rate at the end."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from vault.core.errors import VaultError

err = Console(stderr=True)


def seed(
    persons: Annotated[int, typer.Option(min=1, help="how many people to add")] = 1000,
    records_per_person: Annotated[int, typer.Option(min=0, help="eHRs per person")] = 10,
    seed: Annotated[int, typer.Option(help="the random seed: same seed, same content")] = 0,
    add: Annotated[bool, typer.Option(help="add to a database that already holds people")] = False,
    processes: Annotated[
        int, typer.Option(min=1, help="PostgreSQL: processes sealing and copying side by side")
    ] = os.cpu_count() or 1,
) -> None:
    """Seed synthetic people and eHRs, sealed as deposits are (PostgreSQL: COPY)."""
    from vault.core.settings import Settings
    from vault.runtime.opening import Vault
    from vault.seeding.bulk import DatabaseNotEmpty, SeedPlan, refuse_if_not_empty
    from vault.seeding.bulk import seed as run

    settings = Settings()
    try:
        vault = Vault.open(settings)
    except VaultError as exc:
        print(f"crossvault: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    plan = SeedPlan(persons, records_per_person, seed, add)
    columns = (*Progress.get_default_columns()[:2], BarColumn(), MofNCompleteColumn())
    try:
        refuse_if_not_empty(vault.engine, plan)
        with Progress(*columns, TimeRemainingColumn(), console=err) as progress:
            task = progress.add_task("seeding records", total=persons * records_per_person)
            report = run(
                vault,
                plan,
                progress=lambda done: progress.advance(task, done),
                processes=processes,
                settings=settings,
            )
    except DatabaseNotEmpty as exc:
        print(f"crossvault: {exc}; pass --add to add to it", file=sys.stderr)
        raise typer.Exit(2) from None
    finally:
        vault.close()
    print(
        f"seeded {report.persons} person(s) and {report.records} record(s) on "
        f"{report.backend} in {report.seconds:.1f} s: {report.records_per_second:,.0f} records/s"
    )


def register(app: typer.Typer) -> None:
    app.command("seed")(seed)
