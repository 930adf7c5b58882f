"""The programmes that bring Hong Kong people to GBA hospitals, as scenario data: the
Elderly Health Care Voucher GBA pilot and the HA GBA patient pilot (figures from the
Legislative Council answer of 25 February 2026; ``docs/design.md``, programmes).

A scenario's ``[programmes.voucher]`` and ``[programmes.ha_pilot]`` tables (see
``sim/scenarios/default.toml``; the ``[programmes]`` table may be left out, and then
neither runs) are read completely here. Each has an ``enabled`` switch. Their dates must
agree with the policy registry: the voucher pilot's ``from`` is the ``voucher_from`` day
of some service point (a phase of the pilot), the HA pilot's ``from`` is its
institution's ``ha_pilot_from``; anything else is refused in one line naming the key.

What the programmes do to the vault (records filed in Personal Folders after a visit,
the pilot-time cross-border applications of voucher users, HA doctors' follow-up views)
is planned by :mod:`sim.simulation.planning.programmes`; the claims and visits
themselves go in the simulator's own ledger (:mod:`sim.simulation.ledger`), never in
the vault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from policies.vocabulary import Region
from sim.simulation.scenario_reader import Reader, Table

SERVICES = ("chronic_follow_up", "preventive", "other")


@dataclass(frozen=True)
class Voucher:
    """The Elderly Health Care Voucher GBA pilot. Counts are at ``--scale 1`` and counted
    from ``start`` to ``figures_as_of``; after that day claims go on at the same rate."""

    enabled: bool
    start: date
    figures_as_of: date
    users: float
    transactions: float
    claimed_hkd: float
    min_age: int
    in_population: float  # of the users, people of the simulated population
    services: Mapping[str, float]  # share of transactions by service
    relative_claim: Mapping[str, float]  # mean claim of a service, relative to the others
    claim_spread: float  # the log-normal sigma of one claim's amount


@dataclass(frozen=True)
class HaPilot:
    """The HA GBA patient pilot at ``institution`` from ``start``."""

    enabled: bool
    institution: str
    start: date
    figures_as_of: date
    patients: float
    visits: float
    in_population: float
    follow_up_view_share: float  # in-timeline visits after which an HA doctor reads


@dataclass(frozen=True)
class Programmes:
    voucher: Voucher | None = None
    ha_pilot: HaPilot | None = None

    @property
    def running(self) -> tuple[Voucher | HaPilot, ...]:
        return tuple(p for p in (self.voucher, self.ha_pilot) if p is not None and p.enabled)


def read_programmes(reader: Reader, top: Table) -> Programmes:
    """The scenario's ``[programmes]`` (absent: none)."""
    if "programmes" not in top.data:
        return Programmes()
    table = reader.table(top, "programmes")
    programmes = Programmes(
        voucher=_voucher(reader, reader.table(table, "voucher")),
        ha_pilot=_ha_pilot(reader, reader.table(table, "ha_pilot")),
    )
    reader.done(table)
    return programmes


def _voucher(reader: Reader, t: Table) -> Voucher:
    enabled = reader.switch(t, "enabled")
    start = reader.day(t, "from")
    phases = sorted({i.voucher_from for i in reader.policy.institutions.values() if i.voucher_from})
    if start not in phases:
        shown_phases = ", ".join(d.isoformat() for d in phases) or "none"
        reader.fail(
            t.key("from"),
            f"{start} contradicts the policy registry: no service point starts taking "
            f"vouchers then (voucher_from days: {shown_phases})",
        )
    services = _shares(reader, t, "services")
    voucher = Voucher(
        enabled=enabled,
        start=start,
        figures_as_of=_as_of(reader, t, start),
        users=reader.number(t, "users"),
        transactions=reader.number(t, "transactions"),
        claimed_hkd=reader.number(t, "claimed_hkd"),
        min_age=reader.whole(t, "min_age", high=120),
        in_population=reader.number(t, "in_population"),
        services=services,
        relative_claim=_weights(reader, t, "relative_claim"),
        claim_spread=reader.number(t, "claim_spread", high=2),
    )
    if voucher.transactions < voucher.users:
        reader.fail(t.key("transactions"), "fewer transactions than users")
    reader.done(t)
    return voucher


def _ha_pilot(reader: Reader, t: Table) -> HaPilot:
    enabled = reader.switch(t, "enabled")
    key = t.key("institution")
    institution = reader.institution(key, reader.value(t, "institution"), region=Region.MAINLAND)
    start = reader.day(t, "from")
    registered = reader.policy.institutions[institution].ha_pilot_from
    if registered != start:
        said = f"ha_pilot_from {registered}" if registered else "no ha_pilot_from"
        reader.fail(
            t.key("from"),
            f"{start} contradicts the policy registry ({institution}: {said})",
        )
    pilot = HaPilot(
        enabled=enabled,
        institution=institution,
        start=start,
        figures_as_of=_as_of(reader, t, start),
        patients=reader.number(t, "patients"),
        visits=reader.number(t, "visits"),
        in_population=reader.number(t, "in_population"),
        follow_up_view_share=reader.share(t, "follow_up_view_share"),
    )
    if pilot.visits < pilot.patients:
        reader.fail(t.key("visits"), "fewer visits than patients")
    reader.done(t)
    return pilot


def _as_of(reader: Reader, t: Table, start: date) -> date:
    as_of = reader.day(t, "figures_as_of")
    if as_of < start:
        reader.fail(t.key("figures_as_of"), f"must not be before `from` ({start}), got {as_of}")
    return as_of


def _weights(reader: Reader, parent: Table, name: str) -> dict[str, float]:
    table = reader.table(parent, name)
    weights = {service: reader.number(table, service) for service in SERVICES}
    reader.done(table)
    if not any(weights.values()):
        reader.fail(table.path, "at least one must be positive")
    return weights


def _shares(reader: Reader, parent: Table, name: str) -> dict[str, float]:
    table = reader.table(parent, name)
    shares = {service: reader.share(table, service) for service in SERVICES}
    reader.done(table)
    if abs(sum(shares.values()) - 1) > 1e-9:
        reader.fail(table.path, f"shares must add up to 1, got {sum(shares.values()):g}")
    return shares
