"""Record lists and one record, as every kind of reader sees them (the person, an HK
professional, a Mainland viewing session): the same use-case, :class:`Records`, so every
listing and every opening is decided by the policy and audited before content shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api.headers import content_headers, media_type_of
from api.problems import Problem
from api.web.messages import CATEGORIES
from api.web.render import Page
from policies.vocabulary import Category
from vault.access.judge import Caller
from vault.records.reading import RecordQuery
from vault.records.sealed import OpenedRecord

TEXT_TYPES = ("text/plain",)
# The files a person may file into the Personal Folder, known by their first bytes; the
# record page offers these types back for download.
FILE_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
FILE_TYPES = frozenset(media for _, media in FILE_SIGNATURES)
MAX_SHOWN = 64 * 1024  # characters of text content shown on the page


@dataclass(frozen=True)
class Filters:
    category: str = ""
    since: str = ""
    until: str = ""
    cursor: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        values = [str(q.get(name, ""))[:200] for name in ("category", "since", "until", "cursor")]
        return cls(*values)

    def query(self) -> RecordQuery:
        try:
            category = Category(self.category) if self.category else None
            since = date.fromisoformat(self.since) if self.since else None
            until = date.fromisoformat(self.until) if self.until else None
        except ValueError:
            raise Problem(422, "validation_failed", "Invalid filters") from None
        if since and until and since > until:
            raise Problem(422, "validation_failed", "Invalid filters")
        return RecordQuery(
            category=str(category) if category else None,
            since=since,
            until=until,
            limit=50,
            cursor=self.cursor or None,
        )


@dataclass(frozen=True)
class Reading:
    """Whose records, through which session, and where their pages live."""

    caller: Caller
    person_id: str
    base: str  # the list's path; one record is at base/{id}
    session_id: str | None = None


def record_list(page: Page, reading: Reading, **context: Any) -> HTMLResponse:
    filters = Filters.of(page.request)
    listed = page.services.records.list(
        reading.caller, reading.person_id, filters.query(), session_id=reading.session_id
    )
    template = "records_items.html" if page.request.headers.get("HX-Request") else "records.html"
    return page.render(
        template,
        items=listed.items,
        next_cursor=listed.next_cursor,
        filters=filters,
        base=reading.base,
        categories=CATEGORIES,
        **context,
    )


def _opened(page: Page, reading: Reading, record_id: str) -> OpenedRecord:
    """One audited ``read_content`` of the record, as this reader may see it."""
    return page.services.records.content(
        reading.caller, reading.person_id, record_id, session_id=reading.session_id
    )


def record_file(page: Page, reading: Reading, record_id: str) -> Response:
    """A record's content as a download: another audited ``read_content``, with the API's
    content headers (a type outside the safe ones never runs in the browser)."""
    opened = _opened(page, reading, record_id)
    media = media_type_of(opened.record.content_type)
    if opened.record.blob_name is not None:  # a study: DICOMweb and the viewer serve those
        raise Problem(404, "not_found", "Not found")
    headers = {**content_headers(media), "Content-Disposition": "attachment"}
    return Response(opened.content, media_type=media, headers=headers)


def one_record(
    page: Page, reading: Reading, record_id: str, *, downloads: bool = False, **context: Any
) -> HTMLResponse:
    """A record and its content: one audited ``read_content`` (a hidden record is the
    same not-found page as a missing one). ``downloads``: a file (PDF, image) gets a
    download link — on the person's own pages, the only ones with the download route."""
    opened = _opened(page, reading, record_id)
    record = opened.record
    media = media_type_of(record.content_type)
    text = None
    if media in TEXT_TYPES and record.blob_name is None:
        text = opened.content[:MAX_SHOWN].decode("utf-8", errors="replace")
    download = None
    if text is None and media in FILE_TYPES and downloads:
        download = f"{reading.base}/{record.id}/file"
    return page.render(
        "record.html",
        record=record,
        title=opened.title,
        text=text,
        download=download,
        base=reading.base,
        categories=CATEGORIES,
        **context,
    )
