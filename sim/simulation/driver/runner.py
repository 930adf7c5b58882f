"""The driver: a plan's days in order, each day's steps phase by phase, lanes side by side
(see :mod:`sim.simulation.driver`), then every person's account read back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, time
from functools import partial
from typing import Any

from sim.simulation.client import Login
from sim.simulation.driver import citizens
from sim.simulation.driver.read_back import read_back
from sim.simulation.driver.staff import staff_of
from sim.simulation.driver.steps import Phase, Step, independent_lanes, steps_of
from sim.simulation.driver.world import MIDNIGHT, NOON, World, instant
from sim.simulation.events import Event
from sim.simulation.timeline import Plan


class Interrupted(Exception):
    """The run was stopped (Ctrl-C); what was done so far is in the tally."""


class Driver:
    """Runs a plan; see :mod:`sim.simulation.driver`."""

    def __init__(
        self,
        world: World,
        plan: Plan,
        *,
        workers: int,
        stop: threading.Event,
        on_step: Callable[[], None] = lambda: None,
    ) -> None:
        self.world = world
        self.plan = plan
        self.workers = workers
        self.stop = stop
        self.on_step = on_step
        world.today = plan.setup_day
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simulate")
        self._filed = 0  # ledger entries filed so far

    # --- running -------------------------------------------------------------------------

    @property
    def step_count(self) -> int:
        steps = sum(len(steps_of(self.world, e)) for e in self._all_events())
        return steps + len(self._staff_roles())

    def _all_events(self) -> Iterator[Event]:
        yield from self.plan.setup
        for day in self.plan.days:
            yield from day.events

    def run(self) -> None:
        """Set up, then every day of the plan. Raises :class:`Interrupted` on Ctrl-C
        (after the steps under way have finished)."""
        try:
            self._day(self.plan.setup_day, MIDNIGHT, self.plan.setup, setup=True)
            for day in self.plan.days:
                self._day(day.day, NOON, day.events)
            self._file(date.max)
        except KeyboardInterrupt:
            self.stop.set()
            raise Interrupted from None
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _day(self, day: date, at: time, events: tuple[Event, ...], setup: bool = False) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.world.today = day
        self._file(day)
        self.world.api.set_clock(instant(day, at))
        steps = [s for e in events for s in steps_of(self.world, e)]
        if setup:
            steps += self._staff_steps()
        else:
            self._log_in({login.key: login for e in events for login in self._logins(e)})
        for phase in Phase:
            self._phase(phase, [s for s in steps if s.phase is phase])

    def _file(self, day: date) -> None:
        """File the programmes' ledger entries dated up to ``day`` (the simulator's own
        ledger: no call to the vault)."""
        ledger, filed = self.plan.ledger, self._filed
        upto = filed
        while upto < len(ledger) and ledger[upto].day <= day:
            upto += 1
        self.world.tally.ledger.file(ledger[filed:upto])
        self._filed = upto

    def _phase(self, phase: Phase, steps: list[Step]) -> None:
        if not steps:
            return
        if self.workers == 1:
            self._lane(steps)
            return
        if phase is Phase.SCAN:
            lanes = independent_lanes(steps)
        else:
            by_lane: dict[int, list[Step]] = {}
            for step in steps:
                by_lane.setdefault(step.lane, []).append(step)
            lanes = sorted(by_lane.values(), key=len, reverse=True)  # the longest first
        self._wait([self.pool.submit(self._lane, lane) for lane in lanes])

    def _log_in(self, logins: dict[str, Login]) -> None:
        """Obtain the day's tokens side by side before its events start (logins are the
        slow part of a day: each checks an argon2id hash)."""
        api = self.world.api
        self._wait([self.pool.submit(api.headers, login) for login in logins.values()])

    def _wait(self, futures: Sequence[Future[Any]]) -> None:
        """Wait for every future; the first failure stops the run and is raised."""
        try:
            for future in futures:
                future.result()
        except BaseException:
            self.stop.set()
            raise

    def _logins(self, event: Event) -> list[Login]:
        """Whose tokens ``event`` will need (see :mod:`sim.simulation.driver.steps`)."""
        logins = [self.world.roster.login(iid, role) for iid, role in staff_of(event)]
        if citizens.citizen_acts(event):
            logins.append(citizens.acting_login(self.world, event.person))
        return logins

    def _lane(self, steps: list[Step]) -> None:
        for step in steps:
            if self.stop.is_set():
                return
            step.run()
            self.world.tally.step_done()
            self.on_step()

    # --- staff ---------------------------------------------------------------------------

    def _staff_roles(self) -> list[tuple[str, str]]:
        """The (institution, role) pairs the plan's events need, in a fixed order."""
        return sorted({pair for event in self._all_events() for pair in staff_of(event)})

    def _staff_steps(self) -> list[Step]:
        """One client per institution and one professional per role, registered by the
        operator during set-up (lanes below zero: one per institution)."""
        lanes: dict[str, int] = {}
        steps = []
        for iid, role in self._staff_roles():
            lane = lanes.setdefault(iid, -1 - len(lanes))
            steps.append(Step(Phase.REGISTER, lane, partial(self.world.roster.hire, iid, role)))
        return steps

    # --- reading the server's own account back -------------------------------------------

    def collect(self, at: datetime, on_person: Callable[[], None] = lambda: None) -> None:
        """Read every person's notifications and access log as they would in the app,
        counting what happened before ``at``. Reading them is itself audited; those
        entries (at or after ``at``) are left out."""
        self.world.api.set_clock(at)

        def one(index: int) -> None:
            if self.stop.is_set():
                return
            read_back(self.world, index, at)
            on_person()

        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="collect")
        try:
            for future in [pool.submit(one, n) for n in range(len(self.world.states))]:
                future.result()
        except KeyboardInterrupt:
            self.stop.set()
            raise Interrupted from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.world.tally.audit_collected = not self.stop.is_set()
