"""The access log (R11): every decision about the person's data, newest first."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import PAGED, AccountDep, Cursor, Limit
from api.routes.me.schemas import AccessLogEntry, AccessLogPage
from vault.store.tables import AuditEntry

router = APIRouter(tags=["citizen"])


@router.get("/v1/me/access-log", response_model=AccessLogPage, responses=PAGED)
def access_log(
    caller: CitizenCaller, account: AccountDep, limit: Limit = 50, cursor: Cursor = None
) -> AccessLogPage:
    """Every decision about the person's data — who asked (and for whom), what, allowed or
    refused, and why — newest first, paged by ``next_cursor``. Never content or codes."""
    page = account.access_log(caller, subject_of(caller), limit=limit, cursor=cursor)
    return AccessLogPage(items=[_entry(e) for e in page.entries], next_cursor=page.next_cursor)


def _entry(e: AuditEntry) -> AccessLogEntry:
    return AccessLogEntry(
        seq=e.seq,
        at=e.at,
        actor_kind=e.actor_kind,
        actor_id=e.actor_id,
        institution_id=e.institution_id,
        on_behalf_of=e.on_behalf_of,
        action=e.action,
        resource_id=e.resource_id,
        allowed=e.allowed,
        reason=e.reason,
    )
