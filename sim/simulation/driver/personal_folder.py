"""The Personal Folder in a run: people uploading what they brought home, radiology
authorisations, and depositors filing a study (DICOM instances and a report) with them."""

from __future__ import annotations

from dataclasses import dataclass

from policies.vocabulary import Profession
from sim.simulation.client import Call, Caller
from sim.simulation.driver import citizens
from sim.simulation.driver.world import World
from sim.simulation.events import ELSEWHERE, AuthoriseRadiology, DepositRadiology, UploadToFolder
from sim.studies import Study, instance


@dataclass
class OpenDeposit:
    """The deposit a depositor opened, carried to the afternoon's uploads."""

    deposit_id: str | None = None


def upload(world: World, event: UploadToFolder) -> None:
    person = world.population.people[event.person]
    institution = world.policy.institutions.get(event.source)
    where = institution.name if institution else "a hospital in the Mainland"
    title = f"{event.category.value.replace('_', ' ')} from {where}"
    answer = citizens.act_for(
        world,
        event.person,
        Call(
            "folder_upload",
            "POST",
            "/v1/me/folder",
            json={
                "category": event.category.value,
                "clinical_date": event.clinical_date.isoformat(),
                "title": title,
                "content": f"Synthetic {title} for {person.name}.",
                "content_type": "text/plain",
            },
        ),
    )
    if answer.ok:
        world.tally.filed(event.source if institution else ELSEWHERE)
        world.tally.on(world.today, "folder_uploads")


def authorise_radiology(world: World, event: AuthoriseRadiology) -> None:
    answer = citizens.act_for(
        world,
        event.person,
        Call(
            "authorise_radiology",
            "POST",
            "/v1/me/radiology-authorisations",
            json={"institution_id": event.institution_id},
        ),
    )
    if answer.ok:
        world.states[event.person].radiology_codes[event.key] = answer.field("authorisation_code")


def open_deposit(world: World, event: DepositRadiology, deposit: OpenDeposit) -> None:
    """A radiographer redeems the person's authorisation code, dated today."""
    code = world.states[event.person].radiology_codes.get(event.authorisation)
    if code is None:
        world.tally.skip("deposit_without_code")
        return
    radiographer = world.roster.caller(event.institution_id, Profession.RADIOGRAPHER)
    opened = world.api.call(
        radiographer,
        Call(
            "open_radiology_deposit",
            "POST",
            "/v1/radiology/deposits",
            json={"authorisation_code": code, "clinical_date": world.today.isoformat()},
        ),
    )
    if opened.ok:
        deposit.deposit_id = opened.field("deposit_id")


def upload_study(world: World, event: DepositRadiology, deposit: OpenDeposit) -> None:
    """The radiographer uploads the study's instances and report, then completes."""
    if deposit.deposit_id is None:
        return
    radiographer = world.roster.caller(event.institution_id, Profession.RADIOGRAPHER)
    deposits = f"/v1/radiology/deposits/{deposit.deposit_id}"
    stored = _put_study(world, event, radiographer, f"{deposits}/files")
    done = world.api.call(
        radiographer, Call("complete_radiology_deposit", "POST", f"{deposits}/complete")
    )
    if done.ok:
        world.tally.deposited(event.institution_id, stored)
        world.tally.on(world.today, "radiology_deposits")


def _put_study(world: World, event: DepositRadiology, radiographer: Caller, files: str) -> int:
    """PUT ``event.instances`` CT instances and the report; how many were stored."""
    person = world.population.people[event.person]
    study = Study(
        patient_name=person.dicom_name,
        patient_id=f"SIM-{person.index:06d}",
        study_date=world.today.strftime("%Y%m%d"),
    )
    stored = 0
    for n in range(event.instances):
        put = world.api.call(
            radiographer,
            Call(
                "upload_dicom",
                "PUT",
                f"{files}/ct-{n + 1}.dcm",
                content=instance(study),
                content_type="application/dicom",
            ),
        )
        stored += put.ok
    report = f"CT {study.body_part}: no acute abnormality. Synthetic report.".encode()
    put = world.api.call(
        radiographer,
        Call(
            "upload_report",
            "PUT",
            f"{files}/report.txt",
            content=report,
            content_type="text/plain",
        ),
    )
    stored += put.ok
    return stored
