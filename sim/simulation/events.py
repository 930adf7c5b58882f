"""The events of a simulated run: plain data, one class per kind of thing a person's
story does on a day. :mod:`sim.simulation.timeline` plans them; what each does over HTTP
is :mod:`sim.simulation.driver`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from policies.vocabulary import Category, Profession

ELSEWHERE = "mainland_other"  # a Personal Folder record from a non-designated provider


@dataclass(frozen=True)
class Event:
    """Something one person's story does on a day. ``person`` is also the lane: events
    of one person run in order, different people's may run side by side."""

    person: int


@dataclass(frozen=True)
class Register(Event):
    """The operator registers the person (joined or not)."""


@dataclass(frozen=True)
class AppointCaregiver(Event):
    """The person lets their caregiver act for them (until ``Person.caregiver_until``)."""


@dataclass(frozen=True)
class GiveConsent(Event):
    institution_id: str
    kind: str  # one_year | indefinite
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class RevokeConsent(Event):
    """The person revokes their consent to ``institution_id``; its doctor reads again."""

    institution_id: str


@dataclass(frozen=True)
class DepositEhr(Event):
    institution_id: str
    category: Category
    clinical_date: date


@dataclass(frozen=True)
class Apply(Event):
    """A cross-border application (the person, or their caregiver, in the app)."""

    key: str
    institution_id: str
    expected: str = "issued"  # or the refusal the plan means: not_eligible, not_designated


@dataclass(frozen=True)
class Visit(Event):
    """Staff of the application's institution scan the two codes, list the records and
    open ``views`` of them; optional twists, each an adversarial or revocation case."""

    application: str
    institution_id: str
    views: int = 0
    expected: str = "session"  # or pending, expired
    typo: bool = False  # a wrong passcode first
    revoke_after: bool = False  # the person revokes; the doctor lists again
    foreign_institution: str | None = None  # another institution's token on the session
    probe: bool = False  # ask for a known record older than the lookback


@dataclass(frozen=True)
class ForeignScan(Event):
    """Staff of ``institution_id`` (not designated today, or a Hong Kong one) scan codes
    issued for another institution."""

    application: str
    institution_id: str


@dataclass(frozen=True)
class Attack(Event):
    """Someone at ``institution_id`` guesses passcodes for a known application code until
    the codes lock."""

    application: str
    institution_id: str
    attempts: int = 5


@dataclass(frozen=True)
class UploadToFolder(Event):
    category: Category
    source: str  # the treating institution's id, or ELSEWHERE
    clinical_date: date


@dataclass(frozen=True)
class ProviderView(Event):
    """A Hong Kong professional opens the person's records: a doctor lists and opens the
    newest; with ``restricted`` a nurse first asks for radiology reports (reason + OTP);
    with ``folder`` the person first opens their Personal Folder to the institution."""

    institution_id: str
    profession: Profession = Profession.DOCTOR
    restricted: bool = False
    wrong_otp: bool = False
    folder: bool = False


@dataclass(frozen=True)
class AuthoriseRadiology(Event):
    key: str
    institution_id: str


@dataclass(frozen=True)
class DepositRadiology(Event):
    authorisation: str
    institution_id: str
    instances: int
    late: bool = False
