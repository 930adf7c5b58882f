"""Running the demo: against ``--url`` or a server it starts itself, and the exit codes
of ``crossvault demo``."""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx
from rich.console import Console
from rich.text import Text

from sim.demo.narrator import Narrator, json_body
from sim.demo.outcomes import DemoResult, DemoStopped, ServerUnreachable
from sim.demo.steps import Walkthrough
from sim.onboarding import LOCAL, Operators
from sim.server import running_server


def check_reachable(http: httpx.Client) -> None:
    """Raise :class:`ServerUnreachable` unless a crossvault server answers ``/healthz``."""
    try:
        response = http.get("/healthz")
    except httpx.TransportError as exc:
        reason = str(exc).split("] ", 1)[-1].lower() or type(exc).__name__
        raise ServerUnreachable(f"cannot reach {http.base_url}: {reason}") from None
    if response.status_code != 200 or json_body(response).get("status") != "ok":
        raise ServerUnreachable(
            f"{http.base_url} is not a crossvault server "
            f"(GET /healthz answered {response.status_code})"
        )


def run_demo(
    base_url: str, operators: Operators, console: Console, *, pause: float = 0.0
) -> DemoResult:
    """Walk through the ten steps against the server at ``base_url``."""
    if not base_url.startswith(("http://", "https://")):
        raise ServerUnreachable(f"--url must start with http:// or https:// (got {base_url!r})")
    try:
        http = httpx.Client(base_url=base_url, timeout=30)
    except httpx.InvalidURL as exc:
        raise ServerUnreachable(f"not a usable URL: {base_url!r} ({exc})") from None
    with http:
        check_reachable(http)
        console.print(
            Text.assemble(("crossvault demo", "bold"), f": the cross-border flow, at {base_url}")
        )
        narrator = Narrator(http, console, pause=pause)
        Walkthrough(narrator, operators).run()
    console.print()
    console.rule("[bold green]All ten steps answered as expected", align="left")
    return DemoResult(base_url, narrator.steps)


def run_self_started(console: Console, *, pause: float = 0.0) -> DemoResult:
    """Start ``crossvault serve`` on a free port in a temporary directory (embedded
    SQLite), run the demo against it, and stop it."""
    with tempfile.TemporaryDirectory(prefix="crossvault-demo-") as directory, ExitStack() as stack:
        console.print(Text("Starting a crossvault server in a temporary directory…", "dim"))
        try:
            served = stack.enter_context(running_server(Path(directory) / "data"))
        except RuntimeError as exc:
            raise ServerUnreachable(f"could not start a server: {exc}") from None
        return run_demo(served.base, LOCAL, console, pause=pause)


def main(  # noqa: PLR0913 (the demo command's options, passed through)
    url: str | None,
    operator_secret: str | None,
    approver: str | None = None,
    *,
    pause: float = 0.0,
    plain: bool = False,
    console: Console | None = None,
) -> int:
    """``crossvault demo``: 0 when every step answered as expected, 1 when one did not,
    2 when there is no server to talk to; a failure is one line on stderr."""
    console = console or Console(color_system=None if plain else "auto", highlight=False)
    try:
        if url is None:
            run_self_started(console, pause=pause)
        elif not operator_secret:
            _fail("--url needs --operator-secret (or CROSSVAULT_OPERATOR_SECRET)")
            return 2
        else:
            run_demo(url, Operators.of(operator_secret, approver), console, pause=pause)
    except (ServerUnreachable, ValueError) as exc:  # ValueError: no usable --approver
        _fail(str(exc))
        return 2
    except DemoStopped as exc:
        _fail(f"stopped at {exc}")
        return 1
    return 0


def _fail(message: str) -> None:
    print(f"crossvault demo: {' '.join(message.split())}", file=sys.stderr)
