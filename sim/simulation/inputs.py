"""The inputs of ``crossvault simulate``, checked before anything runs: the options, the
scenario under each policy (``--policy`` and every ``--compare``: a file, a shipped
policy's name, or ``all``), and the policy a scenario's ``what_if`` changes. A refusal
is a :class:`~sim.simulation.checks.BadInput` of one line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from policies.policy_file import Policy, PolicyError, bundled_policy_paths, load_policy
from sim.onboarding import Operators
from sim.simulation.checks import BadInput
from sim.simulation.defaults import DEFAULT_WORKERS, SERVER_WORKERS
from sim.simulation.scenario import Scenario, ScenarioError, load_scenario
from sim.simulation.what_if import derived_policy

ALL = "all"  # --compare all: every shipped policy but the baseline's


@dataclass(frozen=True)
class Options:
    scenario: Path
    policy: Path
    seed: int
    scale: float
    out: Path
    compare: tuple[str | Path, ...] = ()  # policy files or shipped names, or "all"
    url: str | None = None
    operator_secret: str | None = None
    approver: str | None = None  # CLIENT_ID:SECRET of a second operator (with url)
    workers: int = DEFAULT_WORKERS
    server_workers: int = SERVER_WORKERS  # of the server started here (not with url)


@dataclass(frozen=True)
class Inputs:
    """A checked scenario under one policy."""

    scenario: Scenario
    policy: Policy
    policy_path: Path
    origin: Path | None = None  # the policy file a scenario's what_if changed


def _numbers(options: Options) -> None:
    if not options.scale > 0:
        raise BadInput(f"--scale must be positive, got {options.scale}")
    if options.workers < 1:
        raise BadInput(f"--workers must be at least 1, got {options.workers}")
    if options.server_workers < 1:
        raise BadInput(f"--server-workers must be at least 1, got {options.server_workers}")


def checked_inputs(options: Options, derived: Path) -> list[Inputs]:
    _numbers(options)
    if options.url is not None and options.compare:
        raise BadInput("--compare starts a fresh server per policy; it cannot use --url")
    if options.url is not None and not options.operator_secret:
        raise BadInput(
            "--url needs the operator client's secret "
            "(--operator-secret, or CROSSVAULT_OPERATOR_SECRET)"
        )
    if options.url is not None:
        try:
            Operators.of(options.operator_secret or "", options.approver)
        except ValueError as exc:
            raise BadInput(f"--url: {exc}") from None
    if options.out.exists() and not options.out.is_dir():
        raise BadInput(f"--out {options.out}: exists and is not a directory")
    runs = []
    for path in [options.policy, *compared_paths(options.compare, options.policy)]:
        try:
            policy = load_policy(path)
            runs.append(
                _what_if(
                    options, Inputs(load_scenario(options.scenario, policy), policy, path), derived
                )
            )
        except (PolicyError, ScenarioError) as exc:
            raise BadInput(" ".join(str(exc).split())) from None
    return runs


def _what_if(options: Options, inputs: Inputs, derived: Path) -> Inputs:
    """The inputs under the policy the scenario's ``what_if`` changes (as they are
    without one); see :mod:`sim.simulation.what_if`."""
    entries = inputs.scenario.what_if
    if not entries:
        return inputs
    if options.url is not None:
        raise BadInput(
            f"{options.scenario}: what_if changes the policy the server runs; "
            "it needs a server of its own (without --url)"
        )
    path, policy = derived_policy(inputs.scenario.path, inputs.policy_path, entries, derived)
    return Inputs(load_scenario(options.scenario, policy), policy, path, inputs.policy_path)


def compared_paths(compare: Iterable[str | Path], baseline: Path) -> list[Path]:
    """The policy files ``--compare`` names, in order: a file; a policy shipped in
    ``policies/`` by name (``five-year-lookback``); ``all``, every shipped policy file
    but the baseline's own."""
    paths: list[Path] = []
    for given in compare:
        if str(given) == ALL:
            paths += [p for p in bundled_policy_paths() if not _same_file(p, baseline)]
        else:
            paths.append(_policy_path(given))
    return paths


def _policy_path(given: str | Path) -> Path:
    path = Path(given)
    if path.is_file():
        return path
    shipped = {p.stem: p for p in bundled_policy_paths()}
    if str(given) in shipped:
        return shipped[str(given)]
    raise BadInput(
        f"--compare {given}: neither a policy file nor a policy shipped in policies/ "
        f"({', '.join(sorted(shipped))}; or {ALL})"
    )


def _same_file(a: Path, b: Path) -> bool:
    return b.exists() and a.resolve() == b.resolve()


def reachable(url: str) -> None:
    try:
        answer = httpx.get(f"{url.rstrip('/')}/healthz", timeout=5)
    except httpx.HTTPError as exc:
        raise BadInput(f"cannot reach the server at {url}: {exc or type(exc).__name__}") from None
    if answer.status_code != 200:
        raise BadInput(
            f"the server at {url} is not healthy: /healthz answered {answer.status_code}"
        )
