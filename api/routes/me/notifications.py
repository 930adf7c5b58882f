"""Notifications (R11): the simulated SMS/e-mail channel, newest first."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import NO_STORE, PAGED, AccountDep, Cursor, Limit
from api.routes.me.schemas import NotificationPage, NotificationPublic
from api.schemas import unvalidated
from vault.account.profile import NotificationView

router = APIRouter(tags=["citizen"])


@router.get("/v1/me/notifications", response_model=NotificationPage, responses=PAGED)
def notifications(
    caller: CitizenCaller,
    account: AccountDep,
    response: Response,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> NotificationPage:
    """The simulated SMS/e-mail channel, newest first: one notification per view by
    someone else, and the one-time passwords of restricted-access requests (``detail``,
    shown only here, to the person or their caregiver)."""
    page = account.notifications(caller, subject_of(caller), limit=limit, cursor=cursor)
    response.headers.update(NO_STORE)
    return NotificationPage(items=[_notice(v) for v in page.items], next_cursor=page.next_cursor)


def _notice(view: NotificationView) -> NotificationPublic:
    """A notification as the API shows it, not validated again (typed from its row)."""
    n = view.notification
    return unvalidated(
        NotificationPublic,
        {
            "id": n.id,
            "at": n.at,
            "channel": n.channel,
            "event": n.event,
            "actor_kind": n.actor_kind,
            "actor_id": n.actor_id,
            "institution_id": n.institution_id,
            "detail": view.detail,
        },
    )
