"""Mainland professionals (R4): redeem a person's application code and passcode for a
viewing session, then read that person's eHRs of the last three years through it.

Answers (problem ``code``):

* ``POST /v1/cross-border/sessions`` — 201; 400 ``invalid_codes`` for any pair that does
  not open a session here (unknown code, wrong passcode, or codes issued for another
  institution: one answer, byte for byte); 403 ``not_designated`` (the caller's
  institution is not designated today), ``authorisation_inactive`` (revoked, expired or
  the person no longer eligible), ``authorisation_pending`` (the pilot's processing delay
  has not passed); 423 ``locked_out`` (too many failures: for the pair, for good; for the
  professional or institution, until ``Retry-After``); 403 ``wrong_role`` for any token
  but a Mainland professional's.
* ``GET /v1/cross-border/sessions/{sid}/records[/{id}[/content]]`` — 200, or the
  canonical 404 ``not_found`` for a session that does not exist, is someone else's, has
  ended (expired, authorisation revoked or expired) and for a record outside it (R10).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from api.deps import ProfessionalCaller, ServicesDep
from api.problems import Problem
from api.routes.cross_border_schemas import (
    ViewingSessionCreate,
    ViewingSessionPublic,
    problems,
)
from api.routes.records import RecordAt, RecordQueryDep, content_of, page_of, public
from api.schemas import RecordPage, RecordPublic
from policies.vocabulary import Action, ActorKind
from vault.access.judge import Caller
from vault.cross_border.sessions import CodePair, ViewingSessions

router = APIRouter(tags=["mainland-professional"])

_ENDED = (404, "not_found", "No such session or record, it has ended, or it is not yours (R10).")
_NOT_FOUND = problems(_ENDED)
_LIST_ANSWERS = problems(
    (400, "invalid_cursor", "next_cursor values must be passed back unchanged."), _ENDED
)


async def viewing_sessions(services: ServicesDep) -> ViewingSessions:
    return ViewingSessions(services.judge)


SessionsDep = Annotated[ViewingSessions, Depends(viewing_sessions)]


def not_mainland() -> Problem:
    return Problem(
        403,
        "wrong_role",
        "Forbidden",
        "Only a designated Mainland institution's professional opens sessions.",
    )


async def mainland_caller(caller: ProfessionalCaller) -> Caller:
    if caller.actor.kind is not ActorKind.MAINLAND_PROFESSIONAL:
        raise not_mainland()
    return caller


MainlandCaller = Annotated[Caller, Depends(mainland_caller)]


@router.post(
    "/v1/cross-border/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=ViewingSessionPublic,
    responses=problems(
        (400, "invalid_codes", "The application code and passcode were not accepted."),
        (403, "not_designated", "The caller's institution is not designated today."),
        (403, "authorisation_inactive", "The authorisation was revoked or has expired."),
        (403, "authorisation_pending", "The application is still being processed."),
        (403, "wrong_role", "Only Mainland professionals open viewing sessions."),
        (422, "validation_failed", "A code is missing or too long, or an unknown field."),
        (423, "locked_out", "Too many failed attempts (see Retry-After)."),
    ),
)
def open_session(
    body: ViewingSessionCreate, caller: MainlandCaller, sessions: SessionsDep
) -> ViewingSessionPublic:
    """Scan the person's two QR codes: opens a session on their eHRs of the last three
    years (``visible_since`` on), until ``expires_at``. Five failures lock the codes."""
    opened = sessions.open(caller, CodePair.of(body.application_code, body.passcode))
    return ViewingSessionPublic(
        session_id=opened.id,
        person_id=opened.person_id,
        expires_at=opened.expires_at,
        visible_since=opened.visible_since,
    )


@router.get(
    "/v1/cross-border/sessions/{sid}/records", response_model=RecordPage, responses=_LIST_ANSWERS
)
def session_records(
    sid: str,
    services: ServicesDep,
    caller: ProfessionalCaller,
    sessions: SessionsDep,
    query: RecordQueryDep,
) -> Response:
    """The session's records, newest first: eHRs of the sharable scope whose clinical
    date lies in the lookback (filters narrow it further, never widen it)."""
    whose = sessions.lookup(caller, sid, Action.LIST_RECORDS)  # in the list's transaction
    return page_of(services, caller, whose, query, session_id=sid)


@router.get(
    "/v1/cross-border/sessions/{sid}/records/{record_id}",
    response_model=RecordPublic,
    responses=_NOT_FOUND,
)
def session_record(
    sid: str,
    record_id: str,
    services: ServicesDep,
    caller: ProfessionalCaller,
    sessions: SessionsDep,
) -> RecordPublic:
    """One record of the session's person, if it lies inside the session's view."""
    person_id = _person(sessions, caller, sid, Action.READ_RECORD)
    return public(services.records.get(caller, person_id, record_id, session_id=sid))


@router.get(
    "/v1/cross-border/sessions/{sid}/records/{record_id}/content",
    response_class=Response,
    responses={200: {"content": {"*/*": {}}}, **_NOT_FOUND},
)
def session_record_content(
    sid: str,
    record_id: str,
    services: ServicesDep,
    caller: ProfessionalCaller,
    sessions: SessionsDep,
) -> Response:
    """The decrypted content of one record inside the session's view (the person is
    notified of every view)."""
    person_id = _person(sessions, caller, sid, Action.READ_CONTENT)
    return content_of(services, caller, RecordAt(person_id, record_id, sid))


def _person(sessions: ViewingSessions, caller: Caller, sid: str, action: Action) -> str:
    return sessions.person_of(caller, sid, action)
