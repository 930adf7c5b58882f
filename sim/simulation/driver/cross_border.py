"""The cross-border record in a run: applications, staff scanning the codes (typos,
foreign scanners and guessing attacks included), and sessions read, probed beyond the
lookback, read with another institution's token, revoked and read again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from policies.vocabulary import Profession
from sim.simulation.client import Answer, Call, Caller, ServerRefused
from sim.simulation.driver import citizens
from sim.simulation.driver.staff import ATTACKER
from sim.simulation.driver.world import PAGE, Codes, World, newest_first
from sim.simulation.events import Apply, Attack, ForeignScan, Visit

WRONG_PASSCODE = "PC-WRNG-WRNG-WRNG-WRNG-WRNG-WRNG"


@dataclass
class OpenedSession:
    """The session a visit's scan opened, carried to the afternoon's reads."""

    session_id: str | None = None
    visible_since: date | None = None


def apply(world: World, event: Apply) -> None:
    answer = citizens.act_for(
        world,
        event.person,
        Call(
            "apply_cross_border",
            "POST",
            "/v1/me/cross-border-authorisations",
            json={"institution_id": event.institution_id},
        ),
    )
    if answer.ok:
        world.states[event.person].authorisations[event.key] = Codes(
            answer.field("id"), answer.field("application_code"), answer.field("passcode")
        )
        world.tally.on(world.today, "applications")
        world.tally.applied(event.person)


def _codes(world: World, index: int, key: str) -> Codes | None:
    codes = world.states[index].authorisations.get(key)
    if codes is None:
        world.tally.skip("scan_without_codes")
    return codes


def _open(world: World, iid: str, role: str, code: str, passcode: str) -> Answer:
    """Staff with ``role`` at ``iid`` scan an application code and a passcode."""
    return world.api.call(
        world.roster.caller(iid, role),
        Call(
            "open_session",
            "POST",
            "/v1/cross-border/sessions",
            json={"application_code": code, "passcode": passcode},
        ),
    )


def scan(world: World, event: Visit, session: OpenedSession) -> None:
    """A doctor scans the two codes (after a mistyped passcode, if the event says so)."""
    codes = _codes(world, event.person, event.application)
    if codes is None:
        return
    doctor = Profession.DOCTOR.value
    if event.typo:
        _open(world, event.institution_id, doctor, codes.application_code, WRONG_PASSCODE)
    opened = _open(world, event.institution_id, doctor, codes.application_code, codes.passcode)
    if opened.ok:
        session.session_id = opened.field("session_id")
        session.visible_since = date.fromisoformat(opened.field("visible_since"))
        world.tally.on(world.today, "sessions")
        _check_policy(world, session.visible_since)


def _check_policy(world: World, visible_since: date) -> None:
    """The server must apply the policy the plan was made from."""
    expected = world.policy.visible_since(world.today)
    if visible_since != expected:
        raise ServerRefused(
            f"the server applies another policy than {world.policy.path}: a session "
            f"opened on {world.today} sees from {visible_since}, the policy says "
            f"{expected} (pass --policy with the file the server runs)"
        )


def read_session(world: World, event: Visit, session: OpenedSession) -> None:
    """The doctor lists the session's records and opens ``views`` of them; then the
    visit's twists: a lookback probe, a foreign token, a revocation."""
    if session.session_id is None or session.visible_since is None:
        return
    doctor = world.roster.caller(event.institution_id)
    records = f"/v1/cross-border/sessions/{session.session_id}/records"
    items = _session_items(world, records, doctor)
    _check_lookback(world, event.person, items, session.visible_since)
    for item in newest_first(items)[: event.views]:
        opened = world.api.call(
            doctor, Call("cross_border_read_content", "GET", f"{records}/{item['id']}/content")
        )
        if opened.ok:
            world.tally.on(world.today, "cross_border_views")
    if event.probe:
        _probe(world, event.person, records, doctor, session.visible_since)
    if event.foreign_institution is not None:
        other = world.roster.caller(event.foreign_institution)
        world.api.call(other, Call("foreign_session_read", "GET", records))
    if event.revoke_after:
        _revoke_then_read(world, event, records, doctor)


def _session_items(world: World, path: str, doctor: Caller) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = world.api.call(doctor, Call("cross_border_list", "GET", path, params=params))
        if not page.ok:
            return items
        items += page.field("items") or []
        cursor = page.field("next_cursor")
        if not cursor:
            return items


def _check_lookback(world: World, index: int, items: list[dict[str, Any]], since: date) -> None:
    """Every listed record must be an eHR dated in the lookback; count what the
    lookback hid of the records this person is known to have."""
    today = world.today
    wrong = [
        i
        for i in items
        if i["source"] != "ehr" or not since <= date.fromisoformat(i["clinical_date"]) <= today
    ]
    known = world.states[index].records
    world.tally.seen("records_listed", len(items))
    world.tally.seen("lookback_violations", len(wrong))
    world.tally.seen("hidden_by_lookback", sum(r.clinical_date < since for r in known))
    world.tally.listed(index, (i["id"] for i in items))


def _probe(world: World, index: int, records: str, doctor: Caller, since: date) -> None:
    """Ask the session for the newest known record older than the lookback."""
    old = sorted(
        (r for r in world.states[index].records if r.clinical_date < since),
        key=lambda r: (r.clinical_date, r.category),
    )
    if not old:
        world.tally.skip("lookback_probe_without_old_record")
        return
    world.api.call(doctor, Call("lookback_probe", "GET", f"{records}/{old[-1].id}"))


def _revoke_then_read(world: World, event: Visit, records: str, doctor: Caller) -> None:
    codes = world.states[event.person].authorisations[event.application]
    citizens.act_for(
        world,
        event.person,
        Call(
            "revoke_cross_border",
            "DELETE",
            f"/v1/me/cross-border-authorisations/{codes.authorisation_id}",
        ),
    )
    world.api.call(doctor, Call("read_after_revocation", "GET", records))


def foreign_scan(world: World, event: ForeignScan) -> None:
    """Staff of another institution scan codes issued for this one."""
    codes = _codes(world, event.person, event.application)
    if codes is not None:
        role = Profession.DOCTOR.value
        _open(world, event.institution_id, role, codes.application_code, codes.passcode)


def attack(world: World, event: Attack) -> None:
    """Someone guesses passcodes for a known application code."""
    codes = _codes(world, event.person, event.application)
    if codes is None:
        return
    for n in range(event.attempts):
        guess = f"{WRONG_PASSCODE[:-2]}{n:02d}"
        _open(world, event.institution_id, ATTACKER, codes.application_code, guess)
