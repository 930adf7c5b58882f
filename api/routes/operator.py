"""Operator endpoints: keys, the audit log and the simulated clock (R9: none of them
returns record content, codes or passcodes). Institutions' admin credentials, the one part
of the registry operators hold, take two of them: :mod:`api.routes.onboarding`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from api.deps import OperatorCaller, ServicesDep
from api.problems import Problem
from api.schemas import (
    AuditVerification,
    ClockSet,
    ClockState,
    RotationResult,
)
from policies.vocabulary import Action
from vault.access.judge import Ask, Caller
from vault.audit.verify import public_keys
from vault.audit.verify import verify_audit as verify_log
from vault.core.clock import SimulatedClock
from vault.core.errors import Denied
from vault.keys.rotation import retire_unused_versions, rotate
from vault.store.engine import reading, transaction

router = APIRouter(tags=["operator"])

# The simulated clock's range: far-off instants overflow datetime arithmetic.
CLOCK_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _permit(services: ServicesDep, caller: Caller, action: Action, resource: str | None) -> None:
    """Ask the policy (R9) and audit the operator's action in its own transaction."""
    with transaction(services.vault.engine) as session:
        decision = services.judge.decide(
            session, caller, Ask(action, None, resource_id=resource), services.judge.now()
        )
    if not decision.allowed:
        raise Denied(str(action))


@router.post("/v1/admin/keys/rotate", response_model=RotationResult)
def rotate_keys(services: ServicesDep, caller: OperatorCaller) -> RotationResult:
    """Re-wrap every data key under a new keyring version; retire unused versions."""
    _permit(services, caller, Action.MANAGE_KEYS, None)
    vault = services.vault
    report = rotate(vault.engine, vault.keyring, vault.keys, now=vault.clock.now)
    retired = retire_unused_versions(vault.engine, vault.keyring)
    return RotationResult(
        version=report.version,
        rewrapped=report.rewrapped,
        resumed=report.resumed,
        retired_versions=retired,
    )


@router.get("/v1/admin/audit/verify", response_model=AuditVerification)
def verify_audit(services: ServicesDep, caller: OperatorCaller) -> AuditVerification:
    """Walk every chain entry by entry, then every signed checkpoint; name the first
    edited, deleted, inserted or reordered entry, truncated tail or bad checkpoint."""
    with reading(services.vault.engine) as session:
        report = verify_log(session, public_keys(services.vault.keyring))
    chains = report.chains
    return AuditVerification(
        valid=report.valid,
        entries=chains.entries,
        chains=chains.chains,
        first_bad_chain=chains.first_bad_chain,
        first_bad_seq=chains.first_bad_seq,
        problem=chains.problem or report.checkpoint_problem,
        checkpoints=report.checkpoints,
        bad_checkpoint=report.bad_checkpoint,
        description=report.describe(),
    )


@router.post("/v1/admin/clock", response_model=ClockState)
def set_clock(body: ClockSet, services: ServicesDep, caller: OperatorCaller) -> ClockState:
    """Simulation only (``CROSSVAULT_CLOCK=simulated``): set or advance server time."""
    clock = services.vault.clock
    if not isinstance(clock, SimulatedClock):
        raise Problem(
            409,
            "clock_not_simulated",
            "The clock is not simulated",
            "Start the server with CROSSVAULT_CLOCK=simulated.",
        )
    if body.set_to is not None and body.set_to.tzinfo is None:
        raise Problem(
            422, "validation_failed", "Validation failed", "set_to must carry a UTC offset."
        )
    start = body.set_to if body.set_to is not None else clock.now()
    advance = timedelta(seconds=body.advance_seconds or 0)
    if not CLOCK_EARLIEST <= start <= CLOCK_LATEST - advance:
        # Far-off instants overflow datetime arithmetic (token expiry, consent ends, ...).
        raise Problem(
            422,
            "clock_out_of_range",
            "Clock out of range",
            f"The simulated clock stays between {CLOCK_EARLIEST:%Y-%m-%d} and "
            f"{CLOCK_LATEST:%Y-%m-%d} (UTC).",
        )
    if body.set_to is not None:
        clock.set(body.set_to)
    if advance:
        clock.advance(advance)
    return ClockState(now=clock.now())
