"""WADO-RS for the person (``/dicomweb``; a caregiver adds ``On-Behalf-Of``) and for Hong
Kong providers (``/dicomweb/patients/{person_id}``): ``multipart/related;
type="application/dicom"``, each instance decrypted on the fly as stored. A study the caller
may not see is 404, like one that does not exist (R10)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import StreamingResponse

from api.deps import CitizenCaller, ProfessionalCaller, subject_of
from api.problems import Problem
from api.routes.dicomweb.stow import DICOM
from api.routes.radiology import RadiologyDep
from vault.access.judge import Caller
from vault.radiology.receipts import DicomInstance
from vault.radiology.service import RadiologyDeposits

router = APIRouter(tags=["dicomweb"])

_TRANSFER_SYNTAX = re.compile(r"transfer-syntax\s*=\s*\"?([0-9.*]+)\"?", re.IGNORECASE)


def _acceptable(accept: str | None, instances: Sequence[DicomInstance]) -> None:
    """406 unless ``Accept`` takes multipart DICOM in the syntaxes the instances have."""
    if not accept or "*/*" in accept:
        return
    wanted = [item for item in accept.split(",") if "multipart/related" in item.lower()]
    if not wanted or not any(
        DICOM in item.lower() or "type=" not in item.lower() for item in wanted
    ):
        raise _not_acceptable()
    syntaxes = {s for item in wanted for s in _TRANSFER_SYNTAX.findall(item)}
    if not syntaxes or "*" in syntaxes:
        return
    if any(i.metadata.get("transfer_syntax_uid") not in syntaxes for i in instances):
        raise _not_acceptable()


def _not_acceptable() -> Problem:
    return Problem(
        406,
        "not_acceptable",
        "Not acceptable",
        'Instances are served as stored: multipart/related; type="application/dicom" in '
        "their own transfer syntax (transfer-syntax=* accepts any).",
    )


def _multipart(instances: Sequence[DicomInstance], boundary: bytes) -> Iterator[bytes]:
    for instance in instances:
        syntax = instance.metadata.get("transfer_syntax_uid", "")
        yield (
            b"\r\n--"
            + boundary
            + b"\r\nContent-Type: "
            + DICOM.encode()
            + b"; transfer-syntax="
            + syntax.encode()
            + b"\r\n\r\n"
        )
        yield from instance.content.chunks()
    yield b"\r\n--" + boundary + b"--\r\n"


def _retrieve(
    service: RadiologyDeposits, caller: Caller, person_id: str, where: DicomPath, accept: str | None
) -> Response:
    instances = service.find_instances(caller, person_id, *where.uids)
    _acceptable(accept, instances)
    boundary = secrets.token_hex(16).encode()
    media_type = f'multipart/related; type="{DICOM}"; boundary={boundary.decode()}'
    return StreamingResponse(
        _multipart(instances, boundary),
        media_type=media_type,
        headers={"Cache-Control": "no-store"},
    )


Accept = Annotated[str | None, Header()]


@dataclass(frozen=True)
class DicomPath:
    """A study, one of its series, or one instance, as the URL names it."""

    study: str
    series: str | None = None
    instance: str | None = None

    @property
    def uids(self) -> tuple[str, str | None, str | None]:
        return self.study, self.series, self.instance


def _study(study: str) -> DicomPath:
    return DicomPath(study)


def _series(study: str, series: str) -> DicomPath:
    return DicomPath(study, series)


def _instance(study: str, series: str, instance: str) -> DicomPath:
    return DicomPath(study, series, instance)


StudyPath = Annotated[DicomPath, Depends(_study)]
SeriesPath = Annotated[DicomPath, Depends(_series)]
InstancePath = Annotated[DicomPath, Depends(_instance)]
STUDY = "/studies/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"


@router.get("/dicomweb" + STUDY, response_class=Response)
def my_study(
    where: StudyPath, service: RadiologyDep, caller: CitizenCaller, accept: Accept = None
) -> Response:
    """WADO-RS: a study from the person's own folder."""
    return _retrieve(service, caller, subject_of(caller), where, accept)


@router.get("/dicomweb" + SERIES, response_class=Response)
def my_series(
    where: SeriesPath, service: RadiologyDep, caller: CitizenCaller, accept: Accept = None
) -> Response:
    """WADO-RS: one series of a study from the person's own folder."""
    return _retrieve(service, caller, subject_of(caller), where, accept)


@router.get("/dicomweb" + INSTANCE, response_class=Response)
def my_instance(
    where: InstancePath, service: RadiologyDep, caller: CitizenCaller, accept: Accept = None
) -> Response:
    """WADO-RS: one instance from the person's own folder."""
    return _retrieve(service, caller, subject_of(caller), where, accept)


@router.get("/dicomweb/patients/{pid}" + STUDY, response_class=Response)
def patient_study(
    pid: str,
    where: StudyPath,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    accept: Accept = None,
) -> Response:
    """WADO-RS for an HK provider: a study from the person's Personal Folder (R3)."""
    return _retrieve(service, caller, pid, where, accept)


@router.get("/dicomweb/patients/{pid}" + SERIES, response_class=Response)
def patient_series(
    pid: str,
    where: SeriesPath,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    accept: Accept = None,
) -> Response:
    """WADO-RS for an HK provider: one series of a study (R3)."""
    return _retrieve(service, caller, pid, where, accept)


@router.get("/dicomweb/patients/{pid}" + INSTANCE, response_class=Response)
def patient_instance(
    pid: str,
    where: InstancePath,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    accept: Accept = None,
) -> Response:
    """WADO-RS for an HK provider: one instance (R3)."""
    return _retrieve(service, caller, pid, where, accept)
