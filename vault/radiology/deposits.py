"""Radiology deposits (R5): a designated depositor files one visit's study — DICOM images
and reports — into the person's Personal Folder, authorised by the person's code.

The flow, each step through the policy (``DEPOSIT_RADIOLOGY``, audited; a refusal is
committed to the audit log before it is raised):

1. :meth:`RadiologyDeposits.open_deposit` with the authorisation code → an ``open``
   :class:`~vault.store.radiology_tables.RadiologyDeposit`. The depositor learns the deposit id
   and its expiry, nothing about the person.
2. Files, one record each: :meth:`~RadiologyDeposits.begin_file` (one request streams the
   whole file) or :meth:`~RadiologyDeposits.create_upload` /
   :meth:`~RadiologyDeposits.resume_upload` (tus: resumable across requests). Either way
   the body goes through :class:`~vault.radiology.ingest.SealedIngest` into a temporary blob, then
   into the blob store as a ``pending`` record. ``application/dicom`` becomes
   ``radiology_images``; ``application/pdf`` and ``text/plain`` become ``radiology_report``.
3. :meth:`~RadiologyDeposits.complete` → in one transaction every record of the deposit
   turns ``committed`` (visible), the authorisation is marked used and the person is
   notified. Until then nothing of the deposit is visible to anyone.

The depositor can read its own receipt (file names, sizes, digests, states) and never
any record (R5: the policy gives a depositor no read).

Decisions where the contract is silent:

* **Identity.** A DICOM file's ``PatientName`` must name the authorised person (any
  component group; case, punctuation and order ignored: :func:`vault.radiology.dicom.names_match`).
  A Mainland hospital's ``PatientID`` is its own record number, unknown here, so it is
  *pinned* instead: the deposit's first DICOM file fixes it, and every later file must
  carry the same one — two patients never share a deposit. Either mismatch is refused
  (``patient_mismatch``) before anything of the file is stored.
* **Clinical date.** The visit's date is given when the deposit opens (default: the Hong
  Kong date that day); an image record takes its ``StudyDate`` when it has one.
* **Lifetime.** A deposit is open for :data:`DEPOSIT_LIFETIME` or until its authorisation
  expires, whichever comes first; afterwards :meth:`~RadiologyDeposits.collect_abandoned`
  removes its files and pending records and marks it ``abandoned``.
* **Codes** are looked up by their SHA-256; a wrong code goes through the one wrong-secret
  flow (:mod:`vault.access.guesses`), counted against the professional
  (:data:`CODE_THROTTLE`), as passcodes are.
* **Digests.** The receipt shows each file's plaintext SHA-256, sealed in the record's
  metadata (plaintext digests stay out of clear columns: docs/design.md#what-stays-in-clear).
  ``Record.digest`` holds the sealed object's digest (its header and chunk tags).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cached_property

from sqlalchemy import update
from sqlmodel import Session, col, select

from policies.dates import hk_date
from policies.vocabulary import Action, Category
from vault.access.guesses import Attempt, ClientThrottle, Guesses, LockMessages
from vault.access.judge import Ask, Caller, Notice
from vault.access.throttles import Limit, Throttle
from vault.core.errors import NotFound, VaultError
from vault.core.ids import new_id
from vault.crypto.passwords import canonical_code, code_hash
from vault.radiology.base import IMAGES, RECEIPT, DepositService, DepositStep
from vault.radiology.receipts import DepositReceipt, receipt_of
from vault.radiology.refusals import refusal_for, refused, state_problem
from vault.radiology.rows import files_of, locked_deposit
from vault.radiology.study_index import index_deposit
from vault.records.sealed import COMMITTED, PENDING, open_metadata
from vault.store import handles
from vault.store.radiology_tables import COMPLETED, OPEN, STORED, RadiologyDeposit
from vault.store.tables import RadiologyAuthorisation, Record

CODE_THROTTLE = Throttle("radiology_code", Limit(failures=10, lock_for=timedelta(minutes=15)))
CLIENT_THROTTLES = (
    ClientThrottle(CODE_THROTTLE, lambda caller: caller.actor.professional_id or caller.actor_id),
)
LOCKED = LockMessages(
    secret="This authorisation code is locked.",  # never: codes lock no row of their own
    client="Too many wrong authorisation codes; try again later.",
)
NOTIFICATION_EVENT = "radiology_deposit"
LOCKED_OUT_EVENT = "radiology_locked_out"
INVALID_CODE = "invalid_authorisation_code"


class Deposits(DepositService):
    """Opening a deposit with the person's code, the depositor's receipt, completing it."""

    @cached_property
    def guesses(self) -> Guesses:
        """The wrong-secret flow for authorisation codes (no per-code lock: one code opens
        one deposit, and its person can revoke it)."""
        return Guesses(self.judge, CLIENT_THROTTLES, INVALID_CODE, LOCKED_OUT_EVENT, LOCKED)

    def open_deposit(
        self, caller: Caller, authorisation_code: str, clinical_date: date | None = None
    ) -> DepositReceipt:
        """Open a deposit with the person's authorisation code."""
        return self.transact(
            lambda session, now: self._open_deposit(
                session, caller, authorisation_code, clinical_date, now
            )
        )

    def _open_deposit(
        self,
        session: Session,
        caller: Caller,
        code: str,
        clinical_date: date | None,
        now: datetime,
    ) -> DepositReceipt | VaultError:
        authorisation = session.exec(
            select(RadiologyAuthorisation).where(
                RadiologyAuthorisation.code_hash == code_hash(canonical_code(code))
            )
        ).first()
        person = authorisation.person_id if authorisation is not None else None
        attempt = Attempt(caller, Ask(Action.DEPOSIT_RADIOLOGY, person), now)
        locked = self.guesses.locked_out(session, attempt)
        if locked is not None:
            return locked
        if authorisation is None or authorisation.institution_id != caller.actor.institution_id:
            return self.guesses.failed(session, attempt, INVALID_CODE, refused(INVALID_CODE))
        self.guesses.succeeded(session, attempt)
        deposit = self._new_deposit(caller, authorisation, clinical_date, now)
        decision = self.decide_deposit(session, caller, deposit, IMAGES, now)
        if not decision.allowed:
            return refusal_for(session, caller, deposit, decision, now)
        session.add(deposit)
        handles.register(session, deposit.id, deposit.person_id, handles.RADIOLOGY_DEPOSIT)
        session.flush()
        return receipt_of(deposit, [], None)

    def _new_deposit(
        self,
        caller: Caller,
        authorisation: RadiologyAuthorisation,
        clinical_date: date | None,
        now: datetime,
    ) -> RadiologyDeposit:
        return RadiologyDeposit(
            id=new_id(),
            authorisation_id=authorisation.id,
            person_id=authorisation.person_id,
            institution_id=authorisation.institution_id,
            professional_id=caller.actor.professional_id or caller.actor_id,
            clinical_date=clinical_date or hk_date(now),
            state=OPEN,
            created_at=now,
            expires_at=min(authorisation.expires_at, now + self.deposit_lifetime),
        )

    def receipt(self, caller: Caller, deposit_id: str) -> DepositReceipt:
        """The depositor's own receipt: file names, sizes, digests and states; anyone
        else's deposit (or none) is :class:`NotFound`."""

        def read(session: Session, now: datetime) -> DepositReceipt | VaultError:
            deposit = self.own_deposit(session, caller, deposit_id, RECEIPT, now)
            if isinstance(deposit, NotFound):
                return deposit
            decision = self.decide_deposit(session, caller, deposit, RECEIPT, now)
            if not decision.allowed:
                return NotFound("no such deposit")
            return self.deposit_receipt(session, deposit)

        return self.transact(read)

    def complete(self, caller: Caller, deposit_id: str) -> DepositReceipt:
        """Make every record of the deposit visible at once and use up the authorisation."""
        return self.transact(lambda session, now: self._complete(session, caller, deposit_id, now))

    def _complete(
        self, session: Session, caller: Caller, deposit_id: str, now: datetime
    ) -> DepositReceipt | VaultError:
        deposit = self.own_deposit(session, caller, deposit_id, IMAGES, now)
        if isinstance(deposit, NotFound):
            return deposit
        files = files_of(session, deposit)
        categories = sorted({f.category for f in files}) or [str(Category.RADIOLOGY_IMAGES)]
        for category in categories:
            decision = self.decide_deposit(session, caller, deposit, DepositStep(category), now)
            if not decision.allowed:
                return refusal_for(session, caller, deposit, decision, now)
        deposit = locked_deposit(session, deposit.person_id, deposit_id)
        problem = self._incomplete(session, deposit, now)
        if problem is not None:
            return problem
        self._make_visible(session, deposit)
        index_deposit(session, self.vault, deposit, now)
        authorisation = session.get(
            RadiologyAuthorisation, (deposit.person_id, deposit.authorisation_id)
        )
        assert authorisation is not None
        authorisation.used_at = now
        deposit.state, deposit.completed_at = COMPLETED, now
        session.add_all([authorisation, deposit])
        self.judge.notify(session, Notice(deposit.person_id, caller, NOTIFICATION_EVENT, now, None))
        session.flush()
        return self.deposit_receipt(session, deposit)

    @staticmethod
    def _incomplete(
        session: Session, deposit: RadiologyDeposit, now: datetime
    ) -> VaultError | None:
        problem = state_problem(deposit, now)
        files = files_of(session, deposit)
        if problem is None and any(f.state != STORED for f in files):
            problem = refused("uploads_in_progress")
        if problem is None and not files:
            problem = refused("empty_deposit")
        return problem

    @staticmethod
    def _make_visible(session: Session, deposit: RadiologyDeposit) -> None:
        record_ids = [f.record_id for f in files_of(session, deposit)]
        committed = session.exec(
            update(Record)
            .where(
                col(Record.person_id) == deposit.person_id,
                col(Record.id).in_(record_ids),
                col(Record.state) == PENDING,
            )
            .values(state=COMMITTED)
        )
        if committed.rowcount != len(record_ids):  # the person was erased meanwhile
            raise NotFound("the deposit's records are gone")

    def deposit_receipt(self, session: Session, deposit: RadiologyDeposit) -> DepositReceipt:
        files = files_of(session, deposit)
        key = self.vault.keys.get(session, deposit.person_id) if files else None
        digests: dict[str, str] = {}
        for f in files:
            stored = f.state == STORED
            record = session.get(Record, (f.person_id, f.record_id)) if stored else None
            if record is not None and key is not None:
                digests[f.id] = str(open_metadata(key, record).get("sha256", ""))
        return receipt_of(deposit, files, digests)
