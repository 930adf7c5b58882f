"""Resumable radiology uploads: the tus 1.0 core protocol, plus its ``creation``
extension (https://tus.io/protocols/resumable-upload).

* ``OPTIONS /v1/radiology/deposits/{id}/uploads`` — what the server speaks.
* ``POST`` there — a new upload: ``Upload-Length`` and ``Upload-Metadata`` with
  ``filename`` and ``content_type`` (base64, as tus encodes metadata); 201 with
  ``Location``.
* ``HEAD /v1/radiology/deposits/{id}/uploads/{upload}`` — ``Upload-Offset``.
* ``PATCH`` there with ``Upload-Offset`` and ``application/offset+octet-stream``.

Encryption decides what "received" means. A sealed stream cannot be cut mid-chunk and
continued, so the vault keeps whole sealed chunks in the upload's temporary blob and the
unfinished chunk's plaintext sealed apart (see :mod:`vault.radiology.ingest`). ``Upload-Offset`` is
always what is durably kept — everything a PATCH delivered, even one cut off by a dropped
connection. After a crash in the middle of writing a chunk the offset may go back (to a
chunk boundary, or to 0 if the file was torn), which tus allows: a client asks ``HEAD``.

The file is checked as it arrives (a DICOM header as soon as its first chunk is in); a
refused file ends its upload (the next ``HEAD`` is 404) with the same problem+json as a
one-request ``PUT``. The last byte stores the file as a pending record of the deposit.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import ProfessionalCaller
from api.problems import Problem
from api.routes.radiology import RadiologyDep, disconnected, pump
from vault.radiology.dicom import DicomProblem
from vault.radiology.ingest import ContentProblem

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation"
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
UPLOADS = "/v1/radiology/deposits/{deposit_id}/uploads"

router = APIRouter(tags=["radiology-depositor"])


def _tus_headers(**more: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **more}


def _require_tus(tus_resumable: str | None) -> None:
    if tus_resumable != TUS_VERSION:
        raise Problem(
            412,
            "tus_version_unsupported",
            "Precondition failed",
            f"Send Tus-Resumable: {TUS_VERSION}.",
            headers={"Tus-Version": TUS_VERSION},
        )


def _bad_header(name: str, detail: str) -> Problem:
    return Problem(400, "invalid_tus_header", "Bad request", f"{name}: {detail}")


def upload_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    pairs: dict[str, str] = {}
    for item in (header or "").split(","):
        if not item.strip():
            continue
        key, _, value = item.strip().partition(" ")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _bad_header("Upload-Metadata", "values are base64 of UTF-8") from None
    return pairs


def _non_negative(name: str, value: str | None) -> int:
    if value is None or not value.strip().isdigit():
        raise _bad_header(name, "a non-negative integer is required")
    return int(value)


TusResumable = Annotated[str | None, Header(alias="Tus-Resumable")]


@dataclass(frozen=True)
class UploadAt:
    """Which resumable upload: of which deposit."""

    deposit_id: str
    upload_id: str


def upload_at(deposit_id: str, upload_id: str) -> UploadAt:
    return UploadAt(deposit_id, upload_id)


@dataclass(frozen=True)
class NewUpload:
    """A tus creation request: the declared length and the file's name and media type."""

    length: int
    name: str
    content_type: str


def new_upload(
    tus_resumable: TusResumable = None,
    upload_length: Annotated[str | None, Header(alias="Upload-Length")] = None,
    metadata: Annotated[str | None, Header(alias="Upload-Metadata")] = None,
) -> NewUpload:
    """The tus headers of a creation request, checked."""
    _require_tus(tus_resumable)
    length = _non_negative("Upload-Length", upload_length)
    fields = upload_metadata(metadata)
    content_type = fields.get("content_type") or fields.get("filetype", "")
    return NewUpload(length, fields.get("filename", ""), content_type)


def upload_offset_of(
    tus_resumable: TusResumable = None,
    offset_header: Annotated[str | None, Header(alias="Upload-Offset")] = None,
) -> int:
    """The ``Upload-Offset`` of a PATCH, checked."""
    _require_tus(tus_resumable)
    return _non_negative("Upload-Offset", offset_header)


@router.options(UPLOADS, status_code=204)
def tus_options(deposit_id: str, service: RadiologyDep) -> Response:
    """The tus versions, extensions and largest upload this server takes."""
    headers = _tus_headers(
        **{
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(service.max_file_bytes),
        }
    )
    return Response(status_code=204, headers=headers)


@router.post(UPLOADS, status_code=201, response_class=Response)
def create_upload(
    deposit_id: str,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    upload: Annotated[NewUpload, Depends(new_upload)],
) -> Response:
    """Start a resumable upload of one file of the deposit."""
    created = service.create_upload(
        caller, deposit_id, upload.name, upload.content_type, upload.length
    )
    location = f"{UPLOADS.format(deposit_id=deposit_id)}/{created.upload_id}"
    return Response(status_code=201, headers=_tus_headers(Location=location))


@router.head(UPLOADS + "/{upload_id}", response_class=Response)
def upload_offset(
    deposit_id: str,
    upload_id: str,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    tus_resumable: TusResumable = None,
) -> Response:
    """How much of the upload the server durably holds."""
    _require_tus(tus_resumable)
    state = service.upload_status(caller, deposit_id, upload_id)
    headers = _tus_headers(
        **{"Upload-Offset": str(state.offset), "Upload-Length": str(state.length)}
    )
    return Response(status_code=200, headers=headers)


@router.patch(UPLOADS + "/{upload_id}", status_code=204, response_class=Response)
async def append_to_upload(
    at: Annotated[UploadAt, Depends(upload_at)],
    request: Request,
    service: RadiologyDep,
    caller: ProfessionalCaller,
    offset: Annotated[int, Depends(upload_offset_of)],
) -> Response:
    """Append the body at ``Upload-Offset``; answers the new offset."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != OFFSET_MEDIA_TYPE:
        raise Problem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            f"PATCH bodies are {OFFSET_MEDIA_TYPE}.",
        )
    upload = await run_in_threadpool(
        service.resume_upload, caller, at.deposit_id, at.upload_id, offset
    )
    try:
        await pump(request, upload.feed)
    except ClientDisconnect:
        await run_in_threadpool(upload.pause)  # keep what arrived: the client resumes
        raise disconnected() from None
    except (DicomProblem, ContentProblem):
        await run_in_threadpool(upload.discard)
        raise
    except BaseException:
        await run_in_threadpool(upload.pause)
        raise
    if upload.complete:
        await run_in_threadpool(upload.finish)
        new_offset = upload.length
    else:
        new_offset = await run_in_threadpool(upload.pause)
    return Response(status_code=204, headers=_tus_headers(**{"Upload-Offset": str(new_offset)}))
