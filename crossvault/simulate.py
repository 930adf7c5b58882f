"""``crossvault simulate`` (registered by :mod:`crossvault.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crossvault.http_options import Approver, OperatorSecret, ServerUrl
from sim.simulation.defaults import DEFAULT_WORKERS, SERVER_WORKERS

err = Console(stderr=True)

Compare = Annotated[
    list[str] | None,
    typer.Option(
        help=(
            "also run under this policy and compare: a policy file, the name of a "
            "policy in policies/ (five-year-lookback), or all (every one but --policy's); "
            "may be repeated"
        ),
        metavar="POLICY",
    ),
]


def simulate(  # noqa: PLR0913 (each parameter is a CLI option)
    scenario: Annotated[
        Path | None,
        typer.Option(help="scenario file (TOML); default: the bundled default scenario"),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="policy file; default: policies/default.toml")
    ] = None,
    seed: Annotated[int, typer.Option(help="the same seed gives the same counts")] = 1,
    scale: Annotated[
        float, typer.Option(help="1 = the published figures; 0.01 runs in about a minute")
    ] = 0.01,
    compare: Compare = None,
    out: Annotated[Path, typer.Option(help="directory for the report")] = Path("simulation"),
    url: ServerUrl = None,
    operator_secret: OperatorSecret = None,
    approver: Approver = None,
    workers: Annotated[
        int, typer.Option(help="client threads (simulated actors in flight)")
    ] = DEFAULT_WORKERS,
    server_workers: Annotated[
        int, typer.Option(help="worker processes of the server it starts (not with --url)")
    ] = SERVER_WORKERS,
) -> None:
    """Simulate a population through a scenario and report what the policy allowed.

    The population drives the real HTTP API (a server of its own, or --url); the report
    counts what the policy permitted and denied; --compare runs other policies side by side
    and reports what each changes against --policy, for the people too.
    """
    from policies.policy_file import default_policy_path
    from sim.simulation.inputs import Options
    from sim.simulation.run import main
    from sim.simulation.scenario import default_scenario_path

    options = Options(
        scenario=scenario or default_scenario_path(),
        policy=policy or default_policy_path(),
        seed=seed,
        scale=scale,
        out=out,
        compare=tuple(compare or ()),
        url=url,
        operator_secret=operator_secret,
        approver=approver,
        workers=workers,
        server_workers=server_workers,
    )
    raise typer.Exit(main(options, Console(), err))
