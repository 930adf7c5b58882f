"""DICOMweb: STOW-RS for radiology depositors, WADO-RS for the person and HK providers.

Base URLs, to give a DICOMweb client:

* ``/dicomweb`` — STOW-RS (``POST /dicomweb/studies``) for a depositor's professional
  token, and WADO-RS for the *person* (citizen token; a caregiver adds ``On-Behalf-Of``).
* ``/dicomweb/patients/{person_id}`` — WADO-RS for an HK provider's professional token
  (R3: sharing consent covering ``personal_folder``, images general for the profession).

**STOW-RS** takes ``multipart/related; type="application/dicom"``, parsed as it streams:
each part is sealed like a ``PUT`` file (see :mod:`api.routes.radiology`). A part may
omit the Part 10 preamble (``pydicom.dcmwrite`` of a data set read without one, as
DICOMweb clients send it): the server stores it with a zeroed preamble and ``DICM``.
It needs one of two headers:

* ``X-Radiology-Deposit: <deposit id>`` — the instances join that open deposit, stay
  pending and become visible when it completes; refused instances are listed in the
  response's FailedSOPSequence (202 if some were stored, 409 if none);
* ``X-Radiology-Authorisation: <code>`` — a deposit of its own, all or nothing: every
  instance stored and the deposit completed in the same request (200), or nothing kept
  at all (409, with the reasons).

**WADO-RS** (``GET .../studies/{study}[/series/{series}[/instances/{instance}]]``)
answers ``multipart/related; type="application/dicom"``, each instance decrypted on the
fly as stored (transfer syntax unchanged; an ``Accept`` asking for another one is 406).
A study the caller may not see is 404, like one that does not exist (R10).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import CitizenCaller, ProfessionalCaller, subject_of
from api.errors import FILE_REFUSALS, problem_for
from api.multipart import MultipartError, MultipartReader, content_type_parameters
from api.problems import Problem
from api.routes.radiology import FEED_BYTES, RadiologyDep, disconnected
from vault.access.judge import Caller
from vault.core.errors import VaultError
from vault.radiology.dicom import MIN_SIZE, with_preamble
from vault.radiology.receipts import DicomInstance
from vault.radiology.service import RadiologyDeposits
from vault.radiology.uploads import FileUpload

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
# DICOM PS3.18 / PS3.7 failure reasons
PROCESSING_FAILURE = 0x0110
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700

router = APIRouter(tags=["dicomweb"])


def _boundary(content_type: str) -> bytes:
    media_type, parameters = content_type_parameters(content_type)
    part_type = parameters.get("type", DICOM).lower()
    boundary = parameters.get("boundary", "")
    if media_type != "multipart/related" or part_type != DICOM or not 0 < len(boundary) <= 70:
        raise Problem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            'STOW-RS takes multipart/related; type="application/dicom" with a boundary.',
        )
    return boundary.encode("latin-1")


# -- STOW-RS ------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """One part of a STOW-RS request: stored, or why not."""

    header: dict[str, str] | None = None
    failure: int | None = None
    code: str | None = None


def _sop(metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "00081150": {"vr": "UI", "Value": [metadata["sop_class_uid"]]},
        "00081155": {"vr": "UI", "Value": [metadata["sop_instance_uid"]]},
    }


def _stow_response(outcomes: Sequence[_Outcome], status_code: int) -> JSONResponse:
    stored = [o for o in outcomes if o.failure is None and o.header is not None]
    failed = [o for o in outcomes if o.failure is not None]
    body: dict[str, Any] = {}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": [_sop(o.header or {}) for o in stored]}
    if failed:
        body["00081198"] = {
            "vr": "SQ",
            "Value": [
                {
                    **(_sop(o.header) if o.header else {}),
                    "00081197": {"vr": "US", "Value": [o.failure]},
                }
                for o in failed
            ],
        }
    return JSONResponse(body, status_code=status_code, media_type=DICOM_JSON)


async def _store_part(
    reader: MultipartReader,
    service: RadiologyDeposits,
    caller: Caller,
    deposit_id: str,
    name: str,
    study: str | None,
) -> _Outcome:
    """Stream one part into the deposit as one file."""
    upload: FileUpload = await run_in_threadpool(
        partial(service.begin_file, study_instance_uid=study), caller, deposit_id, name, DICOM
    )
    buffer = bytearray()
    head_checked = False
    try:
        while (piece := await reader.read()) is not None:
            buffer += piece
            if not head_checked and len(buffer) >= MIN_SIZE:
                buffer, head_checked = bytearray(with_preamble(buffer)), True
            if len(buffer) >= FEED_BYTES:
                full, buffer = buffer, bytearray()
                await run_in_threadpool(upload.feed, full)
        if not head_checked:
            buffer = bytearray(with_preamble(buffer))
        await run_in_threadpool(upload.feed, buffer)
        receipt = await run_in_threadpool(upload.finish)
    except VaultError as exc:
        await run_in_threadpool(upload.abort)
        if not isinstance(exc, FILE_REFUSALS):
            raise
        return _Outcome(failure=CANNOT_UNDERSTAND, code=problem_for(exc, service.judge.now()).code)
    except BaseException:
        await run_in_threadpool(upload.abort)
        raise
    del receipt
    return _Outcome(upload.stored_metadata)


@router.post("/dicomweb/studies", response_class=JSONResponse)
@router.post("/dicomweb/studies/{study}", response_class=JSONResponse)
async def store_instances(
    request: Request,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    study: str | None = None,
    deposit_header: Annotated[
        str | None, Header(alias="X-Radiology-Deposit", max_length=64)
    ] = None,
    code_header: Annotated[
        str | None, Header(alias="X-Radiology-Authorisation", max_length=100)
    ] = None,
) -> Response:
    """STOW-RS for radiology depositors (see the module docstring for the two modes)."""
    boundary = _boundary(request.headers.get("content-type", ""))
    if (deposit_header is None) == (code_header is None):
        raise Problem(
            400,
            "deposit_required",
            "Bad request",
            "Send exactly one of X-Radiology-Deposit and X-Radiology-Authorisation.",
        )
    if code_header is not None:
        opened = await run_in_threadpool(service.open_deposit, caller, code_header)
        deposit_id = opened.deposit_id
    else:
        deposit_id = deposit_header or ""
    try:
        outcomes = await _store_all(request, service, caller, deposit_id, boundary, study)
    except BaseException:
        if code_header is not None:
            await run_in_threadpool(service.discard_deposit, caller, deposit_id)
        raise
    stored = sum(1 for o in outcomes if o.failure is None)
    if code_header is None:
        status_code = 200 if stored == len(outcomes) else 202 if stored else 409
        return _stow_response(outcomes, status_code)
    if stored == len(outcomes):
        try:
            await run_in_threadpool(service.complete, caller, deposit_id)
        except BaseException:
            await run_in_threadpool(service.discard_deposit, caller, deposit_id)
            raise
        return _stow_response(outcomes, 200)
    await run_in_threadpool(service.discard_deposit, caller, deposit_id)
    return _stow_response([_all_or_nothing(o) for o in outcomes], 409)


def _all_or_nothing(outcome: _Outcome) -> _Outcome:
    """In an all-or-nothing request, an instance that was fine is not kept either."""
    if outcome.failure is None:
        return _Outcome(outcome.header, PROCESSING_FAILURE, "not_kept")
    return outcome


async def _store_all(
    request: Request,
    service: RadiologyDeposits,
    caller: Caller,
    deposit_id: str,
    boundary: bytes,
    study: str | None,
) -> list[_Outcome]:
    reader = MultipartReader(request.stream().__aiter__(), boundary)
    outcomes: list[_Outcome] = []
    prefix = secrets.token_hex(4)
    try:
        while (headers := await reader.next_part()) is not None:
            media_type, _ = content_type_parameters(headers.get("content-type", DICOM))
            name = f"stow-{prefix}-{len(outcomes) + 1:05d}.dcm"
            if media_type != DICOM:
                while await reader.read() is not None:
                    pass
                outcomes.append(_Outcome(failure=CANNOT_UNDERSTAND, code="unsupported_media_type"))
                continue
            outcomes.append(await _store_part(reader, service, caller, deposit_id, name, study))
    except MultipartError as exc:
        raise Problem(400, "malformed_multipart", "Bad request", str(exc)) from None
    except ClientDisconnect:
        raise disconnected() from None
    if not outcomes:
        raise Problem(400, "malformed_multipart", "Bad request", "The message holds no part.")
    return outcomes


# -- WADO-RS ------------------------------------------------------------------------------


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
    service: RadiologyDeposits,
    caller: Caller,
    person_id: str,
    accept: str | None,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> Response:
    instances = service.find_instances(caller, person_id, study, series, instance)
    _acceptable(accept, instances)
    boundary = secrets.token_hex(16).encode()
    media_type = f'multipart/related; type="{DICOM}"; boundary={boundary.decode()}'
    return StreamingResponse(
        _multipart(instances, boundary),
        media_type=media_type,
        headers={"Cache-Control": "no-store"},
    )


Accept = Annotated[str | None, Header()]


@router.get("/dicomweb/studies/{study}", response_class=Response)
def my_study(
    study: str, service: RadiologyDep, caller: CitizenCaller, accept: Accept = None
) -> Response:
    """WADO-RS: a study from the person's own folder."""
    return _retrieve(service, caller, subject_of(caller), accept, study)


@router.get("/dicomweb/studies/{study}/series/{series}", response_class=Response)
def my_series(
    study: str, series: str, service: RadiologyDep, caller: CitizenCaller, accept: Accept = None
) -> Response:
    """WADO-RS: one series of a study from the person's own folder."""
    return _retrieve(service, caller, subject_of(caller), accept, study, series)


@router.get(
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}", response_class=Response
)
def my_instance(
    study: str,
    series: str,
    instance: str,
    service: RadiologyDep,
    caller: CitizenCaller,
    accept: Accept = None,
) -> Response:
    """WADO-RS: one instance from the person's own folder."""
    return _retrieve(service, caller, subject_of(caller), accept, study, series, instance)


@router.get("/dicomweb/patients/{pid}/studies/{study}", response_class=Response)
def patient_study(
    pid: str, study: str, service: RadiologyDep, caller: ProfessionalCaller, accept: Accept = None
) -> Response:
    """WADO-RS for an HK provider: a study from the person's Personal Folder (R3)."""
    return _retrieve(service, caller, pid, accept, study)


@router.get("/dicomweb/patients/{pid}/studies/{study}/series/{series}", response_class=Response)
def patient_series(
    pid: str,
    study: str,
    series: str,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    accept: Accept = None,
) -> Response:
    """WADO-RS for an HK provider: one series of a study (R3)."""
    return _retrieve(service, caller, pid, accept, study, series)


@router.get(
    "/dicomweb/patients/{pid}/studies/{study}/series/{series}/instances/{instance}",
    response_class=Response,
)
def patient_instance(
    pid: str,
    study: str,
    series: str,
    instance: str,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    accept: Accept = None,
) -> Response:
    """WADO-RS for an HK provider: one instance (R3)."""
    return _retrieve(service, caller, pid, accept, study, series, instance)
