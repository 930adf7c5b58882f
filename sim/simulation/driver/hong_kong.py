"""Hong Kong providers in a run: eHR deposits, doctors listing and opening records, nurses
asking for restricted ones (reason, then the OTP the person was sent), and reading again
after a sharing consent was revoked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.simulation.client import Call
from sim.simulation.driver import citizens
from sim.simulation.driver.world import PAGE, KnownRecord, World, newest_first
from sim.simulation.events import DepositEhr, ProviderView, RevokeConsent

RESTRICTED_REASON = "Follow-up of a fracture: need the radiology report for treatment."


@dataclass
class RestrictedRequest:
    """A nurse's request for restricted records, carried from morning to afternoon."""

    request_id: str | None = None
    otp: str | None = None
    granted: bool = False


def deposit_ehr(world: World, event: DepositEhr) -> None:
    person, state = world.person(event.person)
    doctor = world.roster.caller(event.institution_id)
    title = f"{event.category.value.replace('_', ' ')} {event.clinical_date} #{event.person}"
    answer = world.api.call(
        doctor,
        Call(
            "deposit_ehr",
            "POST",
            f"/v1/patients/{state.person_id}/records",
            json={
                "category": event.category.value,
                "clinical_date": event.clinical_date.isoformat(),
                "title": title,
                "content": f"Synthetic {title} for {person.name} by {event.institution_id}.",
                "content_type": "text/plain",
            },
        ),
    )
    if answer.ok:
        state.records.append(
            KnownRecord(answer.field("id"), event.clinical_date, event.category.value)
        )
        world.tally.deposited(event.institution_id)


def read_after_consent_revoked(world: World, event: RevokeConsent) -> None:
    doctor = world.roster.caller(event.institution_id)
    pid = world.states[event.person].person_id
    world.api.call(
        doctor, Call("provider_read_after_revocation", "GET", f"/v1/patients/{pid}/records")
    )


def ask_restricted(world: World, event: ProviderView, request: RestrictedRequest) -> None:
    """The nurse asks for radiology reports; the person reads the OTP they were sent."""
    nurse = world.roster.caller(event.institution_id, event.profession)
    pid = world.states[event.person].person_id
    asked = world.api.call(
        nurse,
        Call(
            "request_restricted_access",
            "POST",
            f"/v1/patients/{pid}/restricted-access",
            json={"reason": RESTRICTED_REASON, "categories": ["radiology_report"]},
        ),
    )
    if not asked.ok:
        return
    request.request_id = asked.field("id")
    told = citizens.act_for(
        world,
        event.person,
        Call("read_notifications", "GET", "/v1/me/notifications", params={"limit": 20}),
    )
    items = told.field("items") or []
    otps = [n["detail"] for n in items if n.get("event") == "restricted_access_otp"]
    request.otp = otps[0] if otps else None  # newest first: the one just sent


def confirm_restricted(world: World, event: ProviderView, request: RestrictedRequest) -> None:
    """The nurse types the OTP (a wrong one first, if the event says so)."""
    if request.request_id is None or request.otp is None:
        world.tally.skip("restricted_access_without_otp")
        return
    nurse = world.roster.caller(event.institution_id, event.profession)
    pid = world.states[event.person].person_id
    path = f"/v1/patients/{pid}/restricted-access/{request.request_id}/confirm"
    if event.wrong_otp:
        wrong = f"{(int(request.otp) + 1) % 10**6:06d}"
        world.api.call(nurse, Call("confirm_otp", "POST", path, json={"otp": wrong}))
    confirmed = world.api.call(nurse, Call("confirm_otp", "POST", path, json={"otp": request.otp}))
    request.granted = confirmed.ok


def open_folder(world: World, event: ProviderView) -> None:
    """The person lets the institution see their eHRs and Personal Folder."""
    citizens.consent(
        world, event.person, event.institution_id, "indefinite", ["ehr", "personal_folder"]
    )


def provider_reads(world: World, event: ProviderView, request: RestrictedRequest) -> None:
    """The professional lists the person's records and opens the newest (the newest
    image, after a folder was opened to them)."""
    if event.restricted and not request.granted:
        return
    professional = world.roster.caller(event.institution_id, event.profession)
    records = f"/v1/patients/{world.states[event.person].person_id}/records"
    listed = world.api.call(
        professional, Call("provider_list", "GET", records, params=_list_filters(event))
    )
    items = newest_first(listed.field("items") or [])
    if event.folder:
        items = [i for i in items if i["category"] == "radiology_images"] or items
    if not items:
        return
    opened = world.api.call(
        professional,
        Call("provider_read_content", "GET", f"{records}/{items[0]['id']}/content"),
    )
    if opened.ok:
        world.tally.on(world.today, "hk_views")


def _list_filters(event: ProviderView) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": PAGE}
    if event.restricted:
        params["category"] = "radiology_report"
    if event.folder:
        params["source"] = "personal_folder"
    return params
