"""Radiology deposits over HTTP (R5): open a deposit with the authorisation code, stream
each file, complete; the depositor reads only its receipt.

``PUT /v1/radiology/deposits/{id}/files/{name}`` reads the body as it arrives
(``request.stream()``) and hands it, a few MiB at a time, to the vault's sealing ingest in
a worker thread while the next batch arrives: the server holds about two batches of a
file (≈ 10 MiB), whatever its size. A body
that ends early, a client that goes away, a refused header — each removes the sealed
temporary; nothing is visible before ``complete``.

This module also holds what the other radiology routers share: the service's lifetime
(:func:`lifespan`: created at start-up, abandoned deposits collected then and every
:data:`COLLECT_EVERY_SECONDS`), and streaming a sealed blob back with HTTP ``Range``
(:func:`stream_blob`). Refusals become problem+json in :mod:`api.errors`, like
every other domain error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import ProfessionalCaller
from api.headers import content_headers
from api.problems import Problem
from api.services import Services
from vault.radiology.ingest import FileTooLarge
from vault.radiology.receipts import DepositReceipt, FileReceipt
from vault.radiology.service import RadiologyDeposits
from vault.records.blob_content import BlobContent

log = logging.getLogger("crossvault.api.radiology")

FEED_BYTES = 4 << 20  # hand the vault a few chunks at a time (fewer thread hops)
COLLECT_EVERY_SECONDS = 600.0

# -- the service ------------------------------------------------------------------------------

_creating = threading.Lock()


def service_of(app: FastAPI) -> RadiologyDeposits:
    """The app's :class:`RadiologyDeposits` (made on first use if the lifespan did not)."""
    with _creating:
        existing = getattr(app.state, "radiology", None)
        if isinstance(existing, RadiologyDeposits):
            return existing
        services: Services = app.state.services
        limit = services.settings.radiology_max_file_bytes
        service = RadiologyDeposits(services.judge, max_file_bytes=limit)
        app.state.radiology = service
        return service


def radiology_service(request: Request) -> RadiologyDeposits:
    return service_of(request.app)


RadiologyDep = Annotated[RadiologyDeposits, Depends(radiology_service)]


async def _collect_periodically(service: RadiologyDeposits) -> None:
    while True:
        await asyncio.sleep(COLLECT_EVERY_SECONDS)
        try:
            await run_in_threadpool(service.collect_abandoned)
        except Exception as exc:  # keep collecting; say what failed, not the data
            log.warning("radiology collection failed: %s", type(exc).__name__)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the service, collect what earlier runs abandoned, and keep collecting."""
    service = service_of(app)
    await run_in_threadpool(service.collect_abandoned)
    task = asyncio.create_task(_collect_periodically(service))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        service.forget_live_uploads()


router = APIRouter(lifespan=lifespan)


async def pump(request: Request, sink: Callable[[bytearray], None]) -> None:
    """Read the request body as it arrives and give it to ``sink`` in a worker thread,
    :data:`FEED_BYTES` at a time — one batch being sealed while the next arrives, never
    more (so the server holds about two batches of a body, whatever its size). If the
    client goes away, what arrived is still given to ``sink`` before
    :class:`ClientDisconnect` is raised (a resumable upload keeps it)."""
    in_flight: asyncio.Future[None] | None = None
    buffer = bytearray()
    try:
        async for piece in request.stream():
            buffer += piece
            if len(buffer) >= FEED_BYTES:
                full, buffer = buffer, bytearray()
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(run_in_threadpool(sink, full))
    except BaseException:
        if in_flight is not None:
            await in_flight
        if buffer:
            await run_in_threadpool(sink, buffer)
        raise
    if in_flight is not None:
        await in_flight
    if buffer:
        await run_in_threadpool(sink, buffer)


def disconnected() -> Problem:
    """What a handler raises once the client has gone (nobody receives it)."""
    return Problem(400, "client_disconnected", "Client disconnected")


# -- schemas ---------------------------------------------------------------------------------------


class DepositCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "authorisation_code": "RA-7KQ2-M9XD-3HTP-WQ4C-BN8E-J2RA",
                    "clinical_date": "2026-03-01",
                }
            ]
        },
    )

    authorisation_code: str = Field(min_length=1, max_length=100)
    clinical_date: date | None = Field(
        default=None, description="The visit's date (default: today in Hong Kong)."
    )


class FilePublic(BaseModel):
    name: str
    content_type: str
    category: str
    state: str = Field(description="uploading (resumable, unfinished) or stored")
    size: int = Field(description="plaintext bytes stored")
    sha256: str | None = Field(description="SHA-256 of the stored file (hex)")
    upload_length: int | None = Field(default=None, description="declared by a tus upload")


class DepositPublic(BaseModel):
    deposit_id: str
    state: str = Field(description="open, completed or abandoned")
    clinical_date: date
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    files: list[FilePublic]


def file_public(receipt: FileReceipt) -> FilePublic:
    return FilePublic(
        name=receipt.name,
        content_type=receipt.content_type,
        category=receipt.category,
        state=receipt.state,
        size=receipt.size,
        sha256=receipt.sha256,
        upload_length=receipt.upload_length,
    )


def deposit_public(receipt: DepositReceipt) -> DepositPublic:
    return DepositPublic(
        deposit_id=receipt.deposit_id,
        state=receipt.state,
        clinical_date=receipt.clinical_date,
        created_at=receipt.created_at,
        expires_at=receipt.expires_at,
        completed_at=receipt.completed_at,
        files=[file_public(f) for f in receipt.files],
    )


# -- routes ----------------------------------------------------------------------------------------


@router.post(
    "/v1/radiology/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=DepositPublic,
    tags=["radiology-depositor"],
)
def open_deposit(
    body: DepositCreate, service: RadiologyDep, caller: ProfessionalCaller
) -> DepositPublic:
    """Open a deposit with the person's radiology authorisation code (R5). The answer
    names the deposit and its expiry — never the person."""
    return deposit_public(service.open_deposit(caller, body.authorisation_code, body.clinical_date))


@router.get(
    "/v1/radiology/deposits/{deposit_id}",
    response_model=DepositPublic,
    tags=["radiology-depositor"],
)
def deposit_receipt(
    deposit_id: str, service: RadiologyDep, caller: ProfessionalCaller
) -> DepositPublic:
    """The depositor's receipt: its files' names, sizes, digests and states; no content."""
    return deposit_public(service.receipt(caller, deposit_id))


@router.put(
    "/v1/radiology/deposits/{deposit_id}/files/{name}",
    status_code=status.HTTP_201_CREATED,
    response_model=FilePublic,
    tags=["radiology-depositor"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}, "example": example}
                for media, example in (
                    ("application/dicom", "(a DICOM Part 10 file)"),
                    ("application/pdf", "(a PDF report)"),
                    ("text/plain", "Impression: no active lung lesion."),
                )
            },
        }
    },
)
async def put_file(
    deposit_id: str,
    name: str,
    request: Request,
    service: RadiologyDep,
    caller: ProfessionalCaller,
) -> FilePublic:
    """Stream one file into the deposit: ``application/dicom`` (images), or
    ``application/pdf`` / ``text/plain`` (reports). Stored sealed, as a record that stays
    invisible until the deposit completes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > service.max_file_bytes:
        raise FileTooLarge(service.max_file_bytes)
    content_type = request.headers.get("content-type", "")
    upload = await run_in_threadpool(service.begin_file, caller, deposit_id, name, content_type)
    try:
        await pump(request, upload.feed)
    except ClientDisconnect:
        await run_in_threadpool(upload.abort)
        raise disconnected() from None
    except BaseException:
        await run_in_threadpool(upload.abort)
        raise
    return file_public(await run_in_threadpool(upload.finish))


@router.post(
    "/v1/radiology/deposits/{deposit_id}/complete",
    response_model=DepositPublic,
    tags=["radiology-depositor"],
)
def complete_deposit(
    deposit_id: str, service: RadiologyDep, caller: ProfessionalCaller
) -> DepositPublic:
    """Make every file of the deposit visible in the person's Personal Folder at once,
    and use up the authorisation."""
    return deposit_public(service.complete(caller, deposit_id))


# -- streaming a sealed blob back ----------------------------------------------------------------

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range ``header`` asks for, clipped to ``size``; ``None`` for the whole
    object (no header, or one this server does not serve: several ranges, other units).
    416 problem if it is unsatisfiable."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or not any(match.groups()):
        return None
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(0, size - int(last)), size - 1
    if start > end or start >= size:
        raise Problem(
            416,
            "range_not_satisfiable",
            "Range not satisfiable",
            f"The object has {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def stream_blob(content: BlobContent, range_header: str | None, media_type: str) -> Response:
    """A 200 with the whole plaintext, or a 206 with the requested range; both decrypted
    on the fly, one chunk in memory. A chunk that fails to open aborts the response."""
    headers = {"Accept-Ranges": "bytes", **content_headers(media_type)}
    span = byte_range(range_header, content.size)
    if span is None:
        headers["Content-Length"] = str(content.size)
        return StreamingResponse(content.chunks(), media_type=media_type, headers=headers)
    start, end = span
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{content.size}"
    return StreamingResponse(
        content.range(start, end), status_code=206, media_type=media_type, headers=headers
    )
