"""``crossvault simulate``: load and check the inputs, run the scenario against a server
(one started here in a temporary directory, or ``--url``), write the report. With
``--compare`` (policy files, names of policies shipped in ``policies/``, or ``all``) the
baseline and every variant run side by side, each against a fresh server of its own, and
the report compares each variant with the baseline (:func:`parts` names the directories).

``--url`` drives a server someone else started: it needs ``CROSSVAULT_CLOCK=simulated``
there (the simulator moves its clock from 2024 to 2026), the operator secret, a second
operator to approve the institutions' onboarding (``--approver``), and the policy file it
runs (checked: the registry up front, the lookback at the first session).

Default scale 0.01 (180 people, ~2,300 simulated steps on ~190 simulated days): one to
two minutes on two cores. The server started here is the simulator's own deployment
(:mod:`sim.simulation.serving`: cheaper argon2id, data on tmpfs, ``server_workers``
processes sharing one simulated clock); most of its time is now the API's own
per-request work. See ``docs/simulation.md`` for the measured speed.

Exit codes: 0 done; 1 the run stopped early (the server went away, or refused a call the
simulation needs), with a partial report; 2 bad input (scenario, policy, options, an
unreachable ``--url``), refused in one line before anything runs; 130 interrupted (Ctrl-C),
with a partial report marked ``"complete": false``.
"""

from __future__ import annotations

import random
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    Progress,
)

from sim.onboarding import LOCAL, Operators
from sim.server import ServedApi, ServerOptions, running_server
from sim.simulation import plots, report
from sim.simulation.calibration import calibration
from sim.simulation.checks import BadInput, check_registry, decisions
from sim.simulation.client import Api, ServerGone, ServerRefused
from sim.simulation.driver import MIDNIGHT, NOON, Driver, Interrupted, World, instant
from sim.simulation.inputs import Inputs, Options, checked_inputs, reachable
from sim.simulation.population import Population, build_population
from sim.simulation.progress import progress_bar
from sim.simulation.scenario import Scenario
from sim.simulation.serving import data_parent
from sim.simulation.tally import Tally
from sim.simulation.timeline import Plan, plan

EXIT_OK, EXIT_STOPPED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
SERVING = "sim.simulation.serving"


@dataclass
class Outcome:
    summary: dict[str, Any]
    interrupted: bool = False
    error: str | None = None


@dataclass
class _Attempt:
    """One run as it goes: the people and the plan, what was counted, the server driven
    (its description), the driver once made, and how the run ended."""

    population: Population
    timeline: Plan
    tally: Tally
    server: str
    driver: Driver | None = None
    simulating_seconds: float | None = None  # the events' own time (set-up included)
    interrupted: bool = False
    error: str | None = None


def main(options: Options, out: Console, err: Console) -> int:
    """Run ``options``; returns the exit code (see the module docstring). With
    ``--compare`` the runs go side by side, each against its own fresh server."""
    with tempfile.TemporaryDirectory(prefix="crossvault-what-if-") as derived:
        return _main(options, out, err, Path(derived))


def _main(options: Options, out: Console, err: Console, derived: Path) -> int:
    """:func:`main`, with ``derived`` the directory for policies a scenario changes."""
    try:
        inputs = checked_inputs(options, derived)
        if options.url is not None:
            reachable(options.url)
    except BadInput as exc:
        return _refuse(err, str(exc))
    stop = threading.Event()
    progress = progress_bar(err)  # started by the first run that gets going
    runs = [_Run(i, options, progress, err, stop) for i in inputs]
    try:
        _execute(runs, stop)
    finally:
        if progress.live.is_started:
            progress.stop()
    refused = next((r.refused for r in runs if r.refused), None)
    if refused is not None:
        return _refuse(err, refused)
    if any(r.outcome is None for r in runs):
        err.print("crossvault: interrupted before the simulation started")
        return EXIT_INTERRUPTED
    outcomes = {p: r.outcome for p, r in zip(parts(inputs), runs, strict=True) if r.outcome}
    code = _report(options.out, outcomes, out, err)
    if len(runs) > 1 and code == EXIT_OK:
        _compare(options.out, {part: o.summary for part, o in outcomes.items()}, out, err)
    return code


def parts(inputs: list[Inputs]) -> list[str]:
    """The report's directory of each run under ``--out``: the out directory itself for
    one run; ``1-baseline``, then ``2-<policy name>``, ``3-<policy name>``... (numbered,
    so that two variants of one name stay apart)."""
    if len(inputs) == 1:
        return [""]
    variants = [f"{n}-{_slug(i.policy.name)}" for n, i in enumerate(inputs[1:], 2)]
    return ["1-baseline", *variants]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "variant"


def _report(root: Path, outcomes: dict[str, Outcome], out: Console, err: Console) -> int:
    """Each run's report in its directory; the worst exit code of the runs."""
    code = EXIT_OK
    for part, outcome in outcomes.items():
        directory = root / part if part else root
        _write(directory, outcome.summary)
        report.print_summary(out, outcome.summary)
        if outcome.interrupted or outcome.error:
            code = max(code, _stopped(err, outcome, directory))
        else:
            err.print(
                f"report: {directory}/summary.json, activity.png, denials.png, calibration.png"
            )
    return code


def _compare(root: Path, runs: dict[str, dict[str, Any]], out: Console, err: Console) -> None:
    report.print_comparison(out, runs)
    report.write_comparison(root, runs)
    plots.comparison(runs, root / "comparison.png")
    plots.for_people(runs, root / "for_people.png")
    err.print(f"comparison: {root}/comparison.json, comparison.png, for_people.png")


def _refuse(err: Console, message: str) -> int:
    err.print(f"crossvault: {message}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_BAD_INPUT


def _execute(runs: list[_Run], stop: threading.Event) -> None:
    """One run in this thread (Ctrl-C reaches it directly); several side by side in
    threads, this one waiting and turning Ctrl-C into ``stop`` for all."""
    if len(runs) == 1:
        try:
            runs[0].run()
        except KeyboardInterrupt:  # before there was anything to report
            stop.set()
        return
    done = [threading.Event() for _ in runs]
    threads = [
        threading.Thread(target=_run_then_set, args=(r, d), name=f"run-{n}")
        for n, (r, d) in enumerate(zip(runs, done, strict=True))
    ]
    for thread in threads:
        thread.start()
    _wait_for(done, stop)
    for thread in threads:
        thread.join()


def _run_then_set(run: _Run, done: threading.Event) -> None:
    try:
        run.run()
    finally:
        done.set()


def _wait_for(done: list[threading.Event], stop: threading.Event) -> None:
    """Wait until every run has ended, Ctrl-C setting ``stop`` meanwhile. (Not on
    ``Thread.join``: on Python 3.11 a Ctrl-C during a join can mark a running thread
    stopped, and the runs still writing their partial reports were then abandoned.)"""
    while True:
        try:
            for event in done:
                event.wait()
            return
        except KeyboardInterrupt:
            stop.set()


def _stopped(err: Console, outcome: Outcome, directory: Path) -> int:
    events = outcome.summary["events"]
    why = "interrupted" if outcome.interrupted else f"stopped: {outcome.error}"
    err.print(
        f"crossvault: {why}; partial report ({events['done']} of {events['planned']} events) "
        f"in {directory}/summary.json",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_INTERRUPTED if outcome.interrupted else EXIT_STOPPED


def _write(directory: Path, summary: dict[str, Any]) -> None:
    report.write_summary(directory, summary)
    plots.activity(summary, directory / "activity.png")
    plots.denials(summary, directory / "denials.png")
    plots.calibration(summary, directory / "calibration.png")


@contextmanager
def _server(inputs: Inputs, options: Options) -> Iterator[tuple[ServedApi, Operators, str]]:
    """(the server to drive, its operators, description)."""
    if options.url is not None:
        assert options.operator_secret is not None
        operators = Operators.of(options.operator_secret, options.approver)
        yield ServedApi(options.url.rstrip("/"), 0), operators, options.url
        return
    with (
        tempfile.TemporaryDirectory(prefix="crossvault-simulate-", dir=data_parent()) as data,
        running_server(Path(data), _served(inputs, options)) as served,
    ):
        yield served, LOCAL, "embedded (SQLite, temporary)"


def _served(inputs: Inputs, options: Options) -> ServerOptions:
    """The embedded server: the simulator's deployment (:mod:`sim.simulation.serving`)."""
    return ServerOptions(
        workers=options.server_workers,
        policy=inputs.policy_path,
        simulated_clock=True,
        module=SERVING,
        own_ports=True,  # the simulator spreads its calls over the workers itself
    )


# --- one run -----------------------------------------------------------------------------


class _Planning:
    """The people and the plan of a run, made in a thread started at once."""

    def __init__(self, inputs: Inputs, options: Options) -> None:
        self._inputs, self._options = inputs, options
        self._made: tuple[Population, Plan] | None = None
        self._failed: BaseException | None = None
        self._done = threading.Event()  # (waited on, not joined: see _wait_for)
        threading.Thread(target=self._make, name="planning", daemon=True).start()

    def _make(self) -> None:
        inputs, options = self._inputs, self._options
        rng = random.Random(options.seed)
        try:
            population = build_population(inputs.scenario, inputs.policy, rng, options.scale)
            timeline = plan(inputs.scenario, population, inputs.policy, rng, options.scale)
            self._made = (population, timeline)
        except BaseException as exc:  # raised again where the plan is asked for
            self._failed = exc
        finally:
            self._done.set()

    def attempt(self, server: str, *, interrupted: bool = False) -> _Attempt:
        """The run's attempt, once the plan is made. ``interrupted``: the run was
        stopped; a plan not yet made is not waited for (Ctrl-C ends the run, as before)."""
        if interrupted and not self._done.is_set():
            raise KeyboardInterrupt
        self._done.wait()
        if self._failed is not None:
            raise self._failed
        assert self._made is not None
        return _Attempt(*self._made, Tally(), server)


class _Run:
    """One scenario under one policy against one server. :meth:`run` leaves either
    ``outcome`` (complete or partial) or ``refused`` (bad input, before any event)."""

    def __init__(
        self,
        inputs: Inputs,
        options: Options,
        progress: Progress,
        err: Console,
        stop: threading.Event,
    ) -> None:
        self.inputs = inputs
        self.options = options
        self.progress = progress
        self.err = err
        self.stop = stop
        self.outcome: Outcome | None = None
        self.refused: str | None = None

    def run(self) -> None:
        """Plan while the server starts (the plan is made in a thread of its own: it
        needs no server, and the server's start needs no plan), then drive it."""
        started = time.perf_counter()
        inputs, options = self.inputs, self.options
        planning = _Planning(inputs, options)
        attempt: _Attempt | None = None
        try:
            with _server(inputs, options) as (served, operators, server):
                attempt = planning.attempt(server)
                self._drive(attempt, served, operators)
        except KeyboardInterrupt:  # while the server was starting or stopping
            self.stop.set()
            attempt = attempt or planning.attempt(options.url or "embedded", interrupted=True)
            attempt.interrupted = True
        if self.refused is None:
            assert attempt is not None
            summary = _summary(inputs, options, attempt, time.perf_counter() - started)
            self.outcome = Outcome(summary, attempt.interrupted, attempt.error)

    def _drive(self, attempt: _Attempt, served: ServedApi, operators: Operators) -> None:
        """Run the plan against ``served``; how it ended goes in ``attempt`` (or in
        ``refused``, if the server refused before any step was done)."""
        api = Api(served.base, operators, attempt.tally, served.workers_at)
        try:
            world = World(api, attempt.population, self.inputs.policy, attempt.tally)
            attempt.driver = Driver(
                world, attempt.timeline, workers=self.options.workers, stop=self.stop
            )
            self._simulate(api, attempt)
        except (ServerGone, ServerRefused, BadInput) as exc:
            self._stopped_by(exc, attempt)
        except Interrupted:
            attempt.interrupted = True
        finally:
            api.close()

    def _stopped_by(self, exc: Exception, attempt: _Attempt) -> None:
        # Ctrl-C in a terminal also stops the server we started (same process group):
        # its going away may be seen before the interrupt.
        if isinstance(exc, ServerGone):
            self.stop.wait(1.0)
        if self.stop.is_set():
            attempt.interrupted = True
        elif attempt.tally.steps_done == 0:
            self.refused = str(exc)
        else:
            attempt.error = str(exc)

    def _simulate(self, api: Api, attempt: _Attempt) -> None:
        """Set up, live through the timeline, read the access logs back."""
        driver = attempt.driver
        assert driver is not None
        inputs, progress, name = self.inputs, self.progress, self.inputs.policy.name
        check_registry(api, inputs.policy)
        api.set_clock(instant(driver.plan.setup_day, MIDNIGHT))  # refused here if not simulated
        at_start = decisions(api)
        progress.start()  # (once checks passed: a refusal stays one line)
        task = progress.add_task(f"{name}: simulating", total=driver.step_count)
        driver.on_step = lambda: progress.advance(task)
        self.err.print(
            f"simulating {driver.step_count:,} events for {len(driver.world.states):,} people "
            f"on {api.base} (policy {name}, seed {self.options.seed}, "
            f"scale {self.options.scale})",
            highlight=False,
        )
        try:
            started = time.perf_counter()
            driver.run()
            attempt.simulating_seconds = time.perf_counter() - started
            before = decisions(api)
            collecting = progress.add_task(
                f"{name}: reading access logs back", total=len(driver.world.states), unit="people"
            )
            collection = instant(inputs.scenario.end + timedelta(days=1), NOON)
            driver.collect(collection, lambda: progress.advance(collecting))
        except KeyboardInterrupt:
            self.stop.set()
            raise Interrupted from None
        if self.stop.is_set():
            raise Interrupted
        for (reason, allowed), value in sorted(before.items()):
            driver.world.tally.metric(reason, allowed, value - at_start.get((reason, allowed), 0))


def _summary(inputs: Inputs, options: Options, attempt: _Attempt, seconds: float) -> dict[str, Any]:
    scenario, policy = inputs.scenario, inputs.policy
    counts = {
        "population": attempt.population.summary(),
        "planned": dict(sorted(attempt.timeline.planned.items())),
        **attempt.tally.counts(),
        "programmes": _programmes(scenario, attempt.tally),
    }
    return {
        "format": report.FORMAT,
        "complete": not attempt.interrupted and attempt.error is None,
        "stopped_by": "interrupt" if attempt.interrupted else attempt.error,
        "scenario": {
            "name": scenario.name,
            "path": scenario.path,
            "start": scenario.start.isoformat(),
            "end": scenario.end.isoformat(),
        },
        "policy": {
            "name": policy.name,
            "path": str(inputs.origin or inputs.policy_path),
            "lookback_years": policy.lookback_years,
            "what_if": [entry["note"] for entry in scenario.what_if],
        },
        "seed": options.seed,
        "scale": options.scale,
        "server": attempt.server,
        "events": {
            "planned": attempt.driver.step_count if attempt.driver else 0,
            "done": attempt.tally.steps_done,
            "plan_events": attempt.timeline.event_count,
        },
        "counts": counts,
        "calibration": calibration(
            scenario.calibration, counts, scenario.folder.pilot_institutions, options.scale
        ),
        "latency_ms": attempt.tally.latencies(),
        "wall_seconds": round(seconds, 2),
        "events_per_second": _rate(attempt),
    }


def _programmes(scenario: Scenario, tally: Tally) -> dict[str, Any]:
    """The programmes' ledger as of their figure dates (only the programmes that ran)."""
    voucher, pilot = scenario.programmes.voucher, scenario.programmes.ha_pilot
    return tally.ledger.summary(
        voucher.figures_as_of if voucher is not None and voucher.enabled else None,
        pilot.figures_as_of if pilot is not None and pilot.enabled else None,
    )


def _rate(attempt: _Attempt) -> float | None:
    """Simulated events per second while they ran (None if they did not all run)."""
    if attempt.simulating_seconds is None or attempt.driver is None:
        return None
    return round(attempt.driver.step_count / attempt.simulating_seconds, 1)
