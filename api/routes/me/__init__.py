"""The person's account: profile, sharing consents, cross-border and radiology
authorisations, caregivers, the access log and notifications.

Called with a citizen token; with ``On-Behalf-Of: <person_id>`` the caller acts as that
person's caregiver, which the policy allows only under an active delegation (R2).

How refusals answer (see :mod:`vault.account.profile`):

* a caller who may not act for the person at all — a would-be caregiver without an active
  delegation (none, revoked or expired), or an unknown person id in ``On-Behalf-Of`` — gets
  the canonical 404, byte for byte the one for an id that does not exist (R10);
* another person's consent, authorisation or delegation id is the same 404;
* the person (or their caregiver) asking for something the policy refuses on their own
  account gets a 403 or 422 with a stable ``code`` (and, for cross-border and radiology
  applications, the ``reason``: it concerns only their own eligibility, or the public
  registry);
* a caregiver may do everything the person may, except manage caregivers (403
  ``caregiver_cannot_delegate``: no further delegation).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes.me import (
    access_log,
    caregivers,
    cross_border,
    folder,
    notifications,
    profile,
    radiology,
    records,
    sharing_consents,
)

router = APIRouter()
for module in (
    profile,
    records,
    folder,
    sharing_consents,
    cross_border,
    radiology,
    caregivers,
    access_log,
    notifications,
):
    router.include_router(module.router)
