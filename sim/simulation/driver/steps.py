"""Events as steps: what each kind of event does in which phase of its day. Most take one
step; a visit, a deposit, a revoked consent and some provider views take two or three,
carrying what the first found (a session, a deposit, an OTP) to the next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from typing import Any

from sim.simulation.driver import citizens, cross_border, hong_kong, personal_folder
from sim.simulation.driver.world import World
from sim.simulation.events import (
    Apply,
    AppointCaregiver,
    Attack,
    AuthoriseRadiology,
    DepositEhr,
    DepositRadiology,
    Event,
    ForeignScan,
    GiveConsent,
    ProviderView,
    Register,
    RevokeConsent,
    UploadToFolder,
    Visit,
)


class Phase(IntEnum):
    REGISTER = 0
    MORNING = 1
    SCAN = 2
    AFTERNOON = 3


@dataclass(frozen=True)
class Step:
    phase: Phase
    lane: int  # its person's (staff hired at set-up: one lane below zero per institution)
    run: Callable[[], None]
    counts_against: str | None = None  # the institution whose lock-outs its calls count


Staged = tuple[Phase, Callable[[], None]]

# Events done in one step: the phase it runs in, and what it does (given the event).
_ONE_STEP: dict[type[Event], tuple[Phase, Callable[[World, Any], None]]] = {
    Register: (Phase.REGISTER, citizens.register),
    AppointCaregiver: (Phase.MORNING, citizens.appoint),
    GiveConsent: (Phase.MORNING, citizens.give_consent),
    DepositEhr: (Phase.MORNING, hong_kong.deposit_ehr),
    Apply: (Phase.MORNING, cross_border.apply),
    AuthoriseRadiology: (Phase.MORNING, personal_folder.authorise_radiology),
    ForeignScan: (Phase.SCAN, cross_border.foreign_scan),
    Attack: (Phase.SCAN, cross_border.attack),
    UploadToFolder: (Phase.AFTERNOON, personal_folder.upload),
}


def steps_of(world: World, event: Event) -> list[Step]:
    """The steps of ``event``, in its person's lane."""
    institution = getattr(event, "institution_id", None)
    return [Step(phase, event.person, run, institution) for phase, run in _staged(world, event)]


def independent_lanes(steps: list[Step]) -> list[list[Step]]:
    """The scan phase's steps, split into lanes that share nothing: steps of the same
    person, or counted against the lock-outs of the same institution (its professionals'
    included), share a lane and keep their plan order; lanes are listed longest first.

    Which of two scans of one institution fails first decides who is locked out, so their
    order is the plan's; scans of different institutions and people change nothing the
    other is answered, so their lanes may run side by side."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def keys(step: Step) -> list[str]:
        own = [f"person {step.lane}"]
        return own if step.counts_against is None else [*own, f"institution {step.counts_against}"]

    for step in steps:
        first, *rest = keys(step)
        for key in rest:
            parent[root(key)] = root(first)
    lanes: dict[str, list[Step]] = {}
    for step in steps:
        lanes.setdefault(root(keys(step)[0]), []).append(step)
    return sorted(lanes.values(), key=len, reverse=True)


def _staged(world: World, event: Event) -> list[Staged]:
    one = _ONE_STEP.get(type(event))
    if one is not None:
        phase, does = one
        return [(phase, partial(does, world, event))]
    match event:
        case RevokeConsent():
            return [
                (Phase.MORNING, partial(citizens.revoke_consent, world, event)),
                (Phase.AFTERNOON, partial(hong_kong.read_after_consent_revoked, world, event)),
            ]
        case Visit():
            session = cross_border.OpenedSession()
            return [
                (Phase.SCAN, partial(cross_border.scan, world, event, session)),
                (Phase.AFTERNOON, partial(cross_border.read_session, world, event, session)),
            ]
        case ProviderView():
            return _provider_view(world, event)
        case DepositRadiology():
            deposit = personal_folder.OpenDeposit()
            return [
                (Phase.SCAN, partial(personal_folder.open_deposit, world, event, deposit)),
                (Phase.AFTERNOON, partial(personal_folder.upload_study, world, event, deposit)),
            ]
    raise TypeError(f"no step for {type(event).__name__}")


def _provider_view(world: World, event: ProviderView) -> list[Staged]:
    """A restricted view asks in the morning and confirms the OTP while codes are
    scanned; a folder view has the person open their folder first; all read in the
    afternoon."""
    request = hong_kong.RestrictedRequest()
    reads = (Phase.AFTERNOON, partial(hong_kong.provider_reads, world, event, request))
    if event.restricted:
        return [
            (Phase.MORNING, partial(hong_kong.ask_restricted, world, event, request)),
            (Phase.SCAN, partial(hong_kong.confirm_restricted, world, event, request)),
            reads,
        ]
    if event.folder:
        return [(Phase.MORNING, partial(hong_kong.open_folder, world, event)), reads]
    return [reads]
