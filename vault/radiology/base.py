"""What every radiology deposit step shares: the limits, the resumable uploads' state, and
the one question asked of the policy about a deposit (``DEPOSIT_RADIOLOGY`` of a category,
or ``READ_DEPOSIT_RECEIPT``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from policies.model import Decision, RecordRef
from policies.vocabulary import Action, Category, Source
from vault.access.judge import Ask, Caller, Judge, Occasion
from vault.access.usecase import UseCase
from vault.core.errors import NotFound
from vault.core.settings import DEFAULT_RADIOLOGY_MAX_FILE_BYTES
from vault.crypto.streams import CHUNK_SIZE
from vault.radiology.uploads import UploadFiles, UploadLimits
from vault.store import handles
from vault.store.radiology_tables import RadiologyDeposit

DEPOSIT_LIFETIME = timedelta(hours=24)
DEFAULT_MAX_FILE_BYTES = DEFAULT_RADIOLOGY_MAX_FILE_BYTES
STALE_UPLOAD_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class DepositStep:
    """What a depositor does on a deposit: ``action`` with records of ``category``."""

    category: str
    action: Action = Action.DEPOSIT_RADIOLOGY


IMAGES = DepositStep(str(Category.RADIOLOGY_IMAGES))
RECEIPT = DepositStep(str(Category.RADIOLOGY_IMAGES), Action.READ_DEPOSIT_RECEIPT)


class DepositService(UseCase):
    """The radiology use-cases' common state; everything else lives in the database and
    the blob store (resumable uploads keep a small in-memory cache)."""

    def __init__(
        self,
        judge: Judge,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        deposit_lifetime: timedelta = DEPOSIT_LIFETIME,
        stale_upload_seconds: float = STALE_UPLOAD_SECONDS,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(judge)
        self.limits = UploadLimits(max_file_bytes, chunk_size)
        self.deposit_lifetime = deposit_lifetime
        self.stale_upload_seconds = stale_upload_seconds
        self.uploads = UploadFiles(self.vault.blobs, self.limits)

    @property
    def max_file_bytes(self) -> int:
        """The largest file a deposit takes (``CROSSVAULT_RADIOLOGY_MAX_FILE_BYTES``)."""
        return self.limits.max_file_bytes

    @max_file_bytes.setter
    def max_file_bytes(self, value: int) -> None:
        self.limits.max_file_bytes = value

    @property
    def chunk_size(self) -> int:
        return self.limits.chunk_size

    def own_deposit(
        self, session: Session, caller: Caller, deposit_id: str, step: DepositStep, now: datetime
    ) -> RadiologyDeposit | NotFound:
        """The deposit if it is the caller's institution's; otherwise — another
        institution's, or none — :class:`NotFound` after the same work: one audited
        refusal (R10: neither the answer nor its timing tells the two apart)."""
        person_id = handles.person_of(session, deposit_id, handles.RADIOLOGY_DEPOSIT)
        deposit = session.get(RadiologyDeposit, (person_id, deposit_id))
        if deposit is not None and deposit.institution_id == caller.actor.institution_id:
            return deposit
        person_of = deposit.person_id if deposit is not None else None
        reason = "wrong_institution" if deposit is not None else "no_such_deposit"
        ask = Ask(step.action, person_of, resource_id=deposit_id)
        self.judge.record_event(session, Occasion(caller, ask, now), reason)
        return NotFound("no such deposit")

    def decide_deposit(
        self,
        session: Session,
        caller: Caller,
        deposit: RadiologyDeposit,
        step: DepositStep,
        now: datetime,
    ) -> Decision:
        """Ask the policy (audited) whether ``caller`` may take ``step`` on ``deposit`` now."""
        ref = RecordRef(
            step.category, Source.PERSONAL_FOLDER, deposit.clinical_date, deposit.institution_id
        )
        ask = Ask(
            step.action,
            deposit.person_id,
            record=ref,
            resource_id=deposit.id,
            authorisation_id=deposit.authorisation_id,
        )
        return self.judge.decide(session, caller, ask, now)
