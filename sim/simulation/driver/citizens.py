"""People's own side of a run: registering them, their logins, their caregivers, their
sharing consents, and every citizen call, made by their caregiver where they have one."""

from __future__ import annotations

from datetime import date
from typing import Any

from sim.simulation.client import Answer, Call, Caller, Headers, Login, ServerRefused
from sim.simulation.driver.world import MIDNIGHT, World, instant
from sim.simulation.events import (
    Apply,
    AppointCaregiver,
    AuthoriseRadiology,
    Event,
    GiveConsent,
    ProviderView,
    Register,
    RevokeConsent,
    UploadToFolder,
    Visit,
)
from sim.simulation.population import Person


def citizen_acts(event: Event) -> bool:
    """Whether the person (or their caregiver) makes a call during ``event``'s day."""
    match event:
        case GiveConsent() | RevokeConsent() | Apply() | AuthoriseRadiology() | UploadToFolder():
            return True
        case Visit():
            return event.revoke_after
        case ProviderView():
            return event.restricted or event.folder
    return False


def login(world: World, person: Person) -> Login:
    form = {
        "grant_type": "password",
        "username": world.states[person.index].person_id,
        "password": person.password,
    }
    return Login(f"person:{person.index}", "citizen", form)


def acting_login(world: World, index: int) -> Login:
    """The login of whoever acts for person ``index`` (their caregiver, or them)."""
    return login(world, world.population.acting_for(world.population.people[index]))


def own_headers(world: World, person: Person) -> Headers:
    return world.api.headers(login(world, person))


def act_for(world: World, index: int, call: Call) -> Answer:
    """A citizen call for person ``index``, made by their caregiver if they have one
    (``On-Behalf-Of``). A caregiver refused because the delegation expired has the
    person appoint them again, then tries once more."""
    person, state = world.person(index)
    carer = world.population.acting_for(person)
    if carer is person:
        return world.api.call(Caller("citizen", own_headers(world, person)), call)
    caregiver = Caller("caregiver", {**own_headers(world, carer), "On-Behalf-Of": state.person_id})
    answer = world.api.call(caregiver, call)
    expired = person.caregiver_until is not None and person.caregiver_until <= world.today
    # /v1/me/... answers 404 to a caregiver without an active delegation, but
    # POST /v1/me/folder answers 403 ``forbidden``: renew on either.
    if answer.status in (403, 404) and expired and not state.delegation_renewed:
        state.delegation_renewed = True
        _appoint(world, person, until=None)
        answer = world.api.call(caregiver, call)
    return answer


def register(world: World, event: Register) -> None:
    person, state = world.person(event.person)
    made = world.api.call(  # people register themselves (no operator involved)
        Caller("citizen"),
        Call(
            "register_person",
            "POST",
            "/v1/persons",
            json={
                "name": person.name,
                "date_of_birth": person.date_of_birth.isoformat(),
                "password": person.password,
                "joined": person.joined,
            },
        ),
    )
    if not made.ok:
        raise ServerRefused(f"registering a person was refused: {made.outcome}")
    state.person_id = made.field("id")


def appoint(world: World, event: AppointCaregiver) -> None:
    person, _ = world.person(event.person)
    _appoint(world, person, person.caregiver_until)


def _appoint(world: World, person: Person, until: date | None) -> None:
    assert person.caregiver is not None
    body: dict[str, Any] = {"caregiver_id": world.states[person.caregiver].person_id}
    if until is not None:
        body["expires_at"] = instant(until, MIDNIGHT).isoformat()
    world.api.call(
        Caller("citizen", own_headers(world, person)),
        Call("appoint_caregiver", "POST", "/v1/me/caregivers", json=body),
    )


def give_consent(world: World, event: GiveConsent) -> None:
    consent(world, event.person, event.institution_id, event.kind, list(event.scopes))


def consent(world: World, index: int, iid: str, kind: str, scopes: list[str]) -> None:
    """Person ``index`` gives ``iid`` a sharing consent of ``kind`` over ``scopes``."""
    answer = act_for(
        world,
        index,
        Call(
            "give_sharing_consent",
            "POST",
            "/v1/me/sharing-consents",
            json={"institution_id": iid, "kind": kind, "scopes": scopes},
        ),
    )
    if answer.ok:
        world.states[index].consents[iid] = answer.field("id")


def revoke_consent(world: World, event: RevokeConsent) -> None:
    consent_id = world.states[event.person].consents.get(event.institution_id)
    if consent_id is None:
        world.tally.skip("revocation_without_consent")
        return
    act_for(
        world,
        event.person,
        Call("revoke_sharing_consent", "DELETE", f"/v1/me/sharing-consents/{consent_id}"),
    )
