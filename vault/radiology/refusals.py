"""Why a deposit step is refused, in words the depositor may be told — never whether the
person exists or what else they hold (R10)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from policies.model import Decision
from policies.vocabulary import Category, Reason
from vault.access.judge import Caller
from vault.core.errors import NotFound, VaultError
from vault.store.radiology_tables import COMPLETED, OPEN, RadiologyDeposit
from vault.store.tables import RadiologyAuthorisation

CATEGORY_OF = {
    "application/dicom": Category.RADIOLOGY_IMAGES,
    "application/pdf": Category.RADIOLOGY_REPORT,
    "text/plain": Category.RADIOLOGY_REPORT,
}
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


class RadiologyRefused(VaultError):
    """A deposit step refused for a reason the depositor may be told (``code``).
    Whether the person exists or what else they hold is never among the reasons."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def refused(code: str) -> RadiologyRefused:
    return RadiologyRefused(code, _MESSAGES[code])


_MESSAGES = {
    "invalid_authorisation_code": "The authorisation code is not valid for this institution.",
    "authorisation_expired": "The authorisation code has expired.",
    "authorisation_revoked": "The person revoked this authorisation.",
    "authorisation_used": "The authorisation was already used for a completed deposit.",
    "not_radiology_depositor": "The institution is not a designated radiology depositor today.",
    "deposit_not_permitted": "This deposit is not permitted.",
    "deposit_completed": "The deposit is already completed.",
    "deposit_expired": "The deposit expired before it was completed.",
    "invalid_file_name": "File names are 1-120 letters, digits, '.', '_' or '-'.",
    "unsupported_media_type": "Files are application/dicom, application/pdf or text/plain.",
    "file_exists": "The deposit already holds a file of that name.",
    "empty_deposit": "The deposit holds no stored file.",
    "uploads_in_progress": "Resumable uploads of this deposit are unfinished.",
    "upload_offset_mismatch": "Upload-Offset is not the upload's current offset.",
    "upload_complete": "The upload is already complete.",
}


def category_of(name: str, content_type: str) -> str:
    if not _FILE_NAME.fullmatch(name):
        raise refused("invalid_file_name")
    category = CATEGORY_OF.get(content_type.split(";")[0].strip().lower())
    if category is None:
        raise refused("unsupported_media_type")
    return str(category)


def state_problem(deposit: RadiologyDeposit, now: datetime) -> RadiologyRefused | None:
    if deposit.state == COMPLETED:
        return refused("deposit_completed")
    if deposit.state != OPEN or deposit.expires_at <= now:
        return refused("deposit_expired")
    return None


def refusal_for(
    session: Session, caller: Caller, deposit: RadiologyDeposit, decision: Decision, now: datetime
) -> VaultError:
    """What a depositor is told when the policy refused: its own deposit's state or its
    authorisation's; anyone else learns nothing, not even that the deposit exists (404)."""
    if caller.actor.institution_id != deposit.institution_id:
        return NotFound("no such deposit")
    if decision.reason in (Reason.UNKNOWN_PERSON, Reason.WRONG_REGION):
        return refused("invalid_authorisation_code")
    if decision.reason is Reason.NOT_RADIOLOGY_DEPOSITOR:
        return refused("not_radiology_depositor")
    if deposit.state == COMPLETED:
        return refused("deposit_completed")
    authorisation = session.get(
        RadiologyAuthorisation, (deposit.person_id, deposit.authorisation_id)
    )
    if authorisation is None:
        return refused("invalid_authorisation_code")
    if authorisation.used_at is not None:
        return refused("authorisation_used")
    if authorisation.revoked_at is not None and authorisation.revoked_at <= now:
        return refused("authorisation_revoked")
    if authorisation.expires_at <= now:
        return refused("authorisation_expired")
    return state_problem(deposit, now) or refused("deposit_not_permitted")
