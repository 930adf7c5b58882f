"""The options of the commands that drive a server over HTTP (demo, simulate)."""

from __future__ import annotations

from typing import Annotated

import typer

ServerUrl = Annotated[
    str | None,
    typer.Option("--url", help="drive this running server instead of starting one", metavar="URL"),
]
OperatorSecret = Annotated[
    str | None,
    typer.Option(
        envvar="CROSSVAULT_OPERATOR_SECRET",
        help="the operator client's secret (needed with --url)",
        show_default=False,
    ),
]
Approver = Annotated[
    str | None,
    typer.Option(
        envvar="CROSSVAULT_APPROVER",
        help="a second operator, CLIENT_ID:SECRET, to approve onboarding (needed with --url)",
        show_default=False,
        metavar="CLIENT_ID:SECRET",
    ),
]
