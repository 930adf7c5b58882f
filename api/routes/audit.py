"""The audit log's public face: its signed checkpoints (no person ids, no entries). Anyone
may fetch them and check each against the JWKS key, and a person's inclusion proof (in
their access log) against the latest one (``docs/audit.md``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep
from api.problems import Problem
from api.routes.me.common import Cursor, Limit
from api.schemas import CheckpointPage, CheckpointPublic
from vault.access import paging
from vault.audit.checkpoints import history, latest
from vault.store.engine import reading

router = APIRouter(tags=["audit"])


@router.get("/v1/audit/checkpoints/latest", response_model=CheckpointPublic)
def latest_checkpoint(services: ServicesDep) -> CheckpointPublic:
    """The newest signed checkpoint (404 ``no_checkpoint`` before the first is made)."""
    with reading(services.vault.engine) as session:
        row = latest(session)
        public = None if row is None else CheckpointPublic.of(row)
    if public is None:
        raise Problem(
            404,
            "no_checkpoint",
            "No checkpoint yet",
            "No audit checkpoint has been made yet; one is made every "
            "CROSSVAULT_CHECKPOINT_SECONDS when anything changed.",
        )
    return public


@router.get("/v1/audit/checkpoints", response_model=CheckpointPage)
def list_checkpoints(
    services: ServicesDep, limit: Limit = 50, cursor: Cursor = None
) -> CheckpointPage:
    """Every checkpoint, newest first, paged by ``next_cursor``."""
    before = paging.seq(cursor)
    with reading(services.vault.engine) as session:
        rows = [CheckpointPublic.of(r) for r in history(session, before, limit + 1)]
    page = rows[:limit]
    more = len(rows) > limit
    return CheckpointPage(items=page, next_cursor=paging.encode(page[-1].number) if more else None)
