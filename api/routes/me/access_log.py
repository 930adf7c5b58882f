"""The access log (R11): every decision about the person's data, newest first, as the
person's own hash chain — with the chain's head and its inclusion proof into the latest
signed checkpoint, so the person can check it offline (``docs/audit.md``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import PAGED, AccountDep, Cursor, Limit
from api.routes.me.schemas import (
    AccessLogEntry,
    AccessLogPage,
    ChainHead,
    InclusionProof,
)
from api.schemas import CheckpointPublic, unvalidated
from vault.account.pages import LoggedDecision
from vault.audit.proofs import ChainProof

router = APIRouter(tags=["citizen"])


@router.get("/v1/me/access-log", response_model=AccessLogPage, responses=PAGED)
def access_log(
    caller: CitizenCaller, account: AccountDep, limit: Limit = 50, cursor: Cursor = None
) -> AccessLogPage:
    """Every decision about the person's data — who asked (and for whom), what, allowed or
    refused, and why — newest first, paged by ``next_cursor``. Never content or codes."""
    page = account.access_log(caller, subject_of(caller), limit=limit, cursor=cursor)
    return AccessLogPage(
        items=[_entry(e) for e in page.entries],
        next_cursor=page.next_cursor,
        chain=ChainHead(
            person_id=page.proof.chain_id, length=page.proof.length, head_hash=page.proof.head_hash
        ),
        checkpoint_proof=_inclusion(page.proof),
    )


def _inclusion(proof: ChainProof) -> InclusionProof | None:
    found = proof.inclusion
    if found is None:
        return None
    return InclusionProof(
        checkpoint=CheckpointPublic.of(found.checkpoint),
        leaf_index=found.leaf_index,
        leaf_length=found.leaf.length,
        leaf_head_hash=found.leaf.head_hash,
        path=found.path,
    )


ENTRY_FIELDS = tuple(AccessLogEntry.model_fields)


def _entry(e: LoggedDecision) -> AccessLogEntry:
    """An entry as the API shows it, not validated again: every field comes typed from
    its audit row (a page has up to 200)."""
    return unvalidated(AccessLogEntry, {name: getattr(e, name) for name in ENTRY_FIELDS})
