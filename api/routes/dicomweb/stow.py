"""STOW-RS for radiology depositors: ``multipart/related; type="application/dicom"``,
parsed as it streams, each part sealed like a ``PUT`` file (see the package docstring for
the two modes)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import ProfessionalCaller
from api.errors import FILE_REFUSALS, problem_for
from api.multipart import MultipartError, MultipartReader, content_type_parameters
from api.problems import Problem
from api.routes.radiology import FEED_BYTES, RadiologyDep, disconnected
from vault.access.judge import Caller
from vault.core.errors import VaultError
from vault.radiology.dicom import MIN_SIZE, with_preamble
from vault.radiology.service import RadiologyDeposits
from vault.radiology.uploads import FileUpload

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
# DICOM PS3.18 / PS3.7 failure reasons
PROCESSING_FAILURE = 0x0110
CANNOT_UNDERSTAND = 0xC000

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


@dataclass(frozen=True)
class _Stow:
    """One STOW-RS request's target: the deposit its instances join (and the study its
    URL names, if any), for this caller."""

    service: RadiologyDeposits
    caller: Caller
    deposit_id: str
    study: str | None


async def _store_part(reader: MultipartReader, stow: _Stow, name: str) -> _Outcome:
    """Stream one part into the deposit as one file."""
    begin = partial(stow.service.begin_file, study_instance_uid=stow.study)
    upload: FileUpload = await run_in_threadpool(begin, stow.caller, stow.deposit_id, name, DICOM)
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
        return _Outcome(
            failure=CANNOT_UNDERSTAND, code=problem_for(exc, stow.service.judge.now()).code
        )
    except BaseException:
        await run_in_threadpool(upload.abort)
        raise
    del receipt
    return _Outcome(upload.stored_metadata)


@dataclass(frozen=True)
class StowMode:
    """Which of the two STOW-RS modes a request uses: into an open deposit, or a deposit
    of its own opened with an authorisation code (all or nothing)."""

    deposit_id: str | None
    authorisation_code: str | None


def stow_mode(
    deposit_header: Annotated[
        str | None, Header(alias="X-Radiology-Deposit", max_length=64)
    ] = None,
    code_header: Annotated[
        str | None, Header(alias="X-Radiology-Authorisation", max_length=100)
    ] = None,
) -> StowMode:
    """Exactly one of the two headers."""
    if (deposit_header is None) == (code_header is None):
        raise Problem(
            400,
            "deposit_required",
            "Bad request",
            "Send exactly one of X-Radiology-Deposit and X-Radiology-Authorisation.",
        )
    return StowMode(deposit_header, code_header)


@router.post("/dicomweb/studies", response_class=JSONResponse)
@router.post("/dicomweb/studies/{study}", response_class=JSONResponse)
async def store_instances(
    request: Request,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    mode: Annotated[StowMode, Depends(stow_mode)],
    study: str | None = None,
) -> Response:
    """STOW-RS for radiology depositors (see the module docstring for the two modes)."""
    boundary = _boundary(request.headers.get("content-type", ""))
    deposit_header, code_header = mode.deposit_id, mode.authorisation_code
    if code_header is not None:
        opened = await run_in_threadpool(service.open_deposit, caller, code_header)
        deposit_id = opened.deposit_id
    else:
        deposit_id = deposit_header or ""
    try:
        outcomes = await _store_all(request, _Stow(service, caller, deposit_id, study), boundary)
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


async def _store_all(request: Request, stow: _Stow, boundary: bytes) -> list[_Outcome]:
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
            outcomes.append(await _store_part(reader, stow, name))
    except MultipartError as exc:
        raise Problem(400, "malformed_multipart", "Bad request", str(exc)) from None
    except ClientDisconnect:
        raise disconnected() from None
    if not outcomes:
        raise Problem(400, "malformed_multipart", "Bad request", "The message holds no part.")
    return outcomes
