"""The README's cross-border walkthrough, written against the client that
``openapi-python-client`` generates from ``/openapi.json`` (``crossvault_client``, built
by ``tests/api/test_generated_client.py``): only its functions and models, no casts, no
dictionaries. Each answer is narrowed with ``isinstance`` to the model the operation
documents; a ``Problem`` where a success was expected fails with the problem's code.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date

from crossvault_client import AuthenticatedClient, Client
from crossvault_client.api.auth import token_v1_auth_token_post as token
from crossvault_client.api.citizen import (
    access_log_v1_me_access_log_get as access_log,
)
from crossvault_client.api.citizen import (
    apply_cross_border_v1_me_cross_border_authorisations_post as apply_cross_border,
)
from crossvault_client.api.citizen import (
    my_records_v1_me_records_get as my_records,
)
from crossvault_client.api.citizen import (
    register_v1_persons_post as register,
)
from crossvault_client.api.citizen import (
    revoke_cross_border_v1_me_cross_border_authorisations_authorisation_id_delete as revoke,
)
from crossvault_client.api.hk_professional import (
    deposit_ehr_v1_patients_pid_records_post as deposit,
)
from crossvault_client.api.mainland_professional import (
    open_session_v1_cross_border_sessions_post as open_session,
)
from crossvault_client.api.mainland_professional import (
    session_record_content_v1_cross_border_sessions_sid_records_record_id_content_get as content,
)
from crossvault_client.api.mainland_professional import (
    session_records_v1_cross_border_sessions_sid_records_get as session_records,
)
from crossvault_client.models import (
    AccessLogPage,
    Category,
    Created,
    CrossBorderAuthorisationCreate,
    CrossBorderAuthorisationIssued,
    PersonCreate,
    Problem,
    RecordCreate,
    RecordPage,
    RecordPublic,
    TokenForm,
    TokenFormGrantType,
    TokenResponse,
    ViewingSessionCreate,
    ViewingSessionPublic,
)
from crossvault_client.types import File


@dataclass(frozen=True)
class Staff:
    """A professional's login: their institution's client and the professional."""

    client_id: str
    client_secret: str
    professional_id: str


@dataclass(frozen=True)
class Walked:
    """What the walkthrough saw, for the test to check."""

    own_records: int
    seen_by_doctor: list[tuple[date, str]]
    content: bytes  # of the newest record the doctor sees
    visible_since: date
    logged: list[tuple[str, str, bool]]  # (actor kind, action, allowed), newest first
    after_revocation: Problem


def _token(public: Client, form: TokenForm) -> str:
    answer = token.sync(client=public, body=form)
    assert isinstance(answer, TokenResponse), answer
    access: str = answer.access_token
    return access


def _professional(public: Client, base_url: str, staff: Staff) -> AuthenticatedClient:
    """A professional's client (the caller closes it)."""
    form = TokenForm(
        grant_type=TokenFormGrantType.CLIENT_CREDENTIALS,
        client_id=staff.client_id,
        client_secret=staff.client_secret,
        professional_id=staff.professional_id,
    )
    return AuthenticatedClient(base_url=base_url, token=_token(public, form))


# The Hospital Authority's deposits: one inside the three-year lookback, one before it.
DEPOSITS = ((date(2025, 6, 1), Category.LAB_REPORT), (date(2021, 1, 15), Category.MEDICATION))


def walk(base_url: str, staff: tuple[Staff, Staff], password: str) -> Walked:
    """``staff``: an HA doctor (who deposits) and an HKU-SZ doctor (who views)."""
    with ExitStack() as clients:
        return _walk(clients, base_url, staff, password)


def _walk(clients: ExitStack, base_url: str, staff: tuple[Staff, Staff], password: str) -> Walked:
    ha_doctor, doctor = staff
    public = clients.enter_context(Client(base_url=base_url))
    # 0. a person registers (the README's demo person is seeded instead)
    made = register.sync(
        client=public,
        body=PersonCreate(name="Chan Tai Man", date_of_birth=date(1951, 5, 17), password=password),
    )
    assert isinstance(made, Created), made
    ha = clients.enter_context(_professional(public, base_url, ha_doctor))
    for clinical_date, category in DEPOSITS:
        record = RecordCreate(
            category=category, clinical_date=clinical_date, title="HA record", content="HbA1c 6.1%"
        )
        assert isinstance(deposit.sync(made.id, client=ha, body=record), RecordPublic)
    # 1. the person logs in and lists their records
    login = TokenForm(grant_type=TokenFormGrantType.PASSWORD, username=made.id, password=password)
    me = clients.enter_context(AuthenticatedClient(base_url=base_url, token=_token(public, login)))
    records = my_records.sync(client=me, limit=3)
    assert isinstance(records, RecordPage), records
    # 2. apply for a cross-border record at HKU-Shenzhen Hospital: the two codes
    issued = apply_cross_border.sync(
        client=me, body=CrossBorderAuthorisationCreate(institution_id="hku_sz")
    )
    assert isinstance(issued, CrossBorderAuthorisationIssued), issued
    # 3. a doctor at HKU-SZ logs in, scans both codes and opens a viewing session
    dr = clients.enter_context(_professional(public, base_url, doctor))
    session = open_session.sync(
        client=dr,
        body=ViewingSessionCreate(
            application_code=issued.application_code, passcode=issued.passcode
        ),
    )
    assert isinstance(session, ViewingSessionPublic), session
    # 4. the doctor sees only the lookback
    seen = session_records.sync(session.session_id, client=dr)
    assert isinstance(seen, RecordPage), seen
    read = content.sync(session.session_id, seen.items[0].id, client=dr)
    assert isinstance(read, File), read
    # 5. the person sees the view in the access log
    log = access_log.sync(client=me, limit=10)
    assert isinstance(log, AccessLogPage), log
    # 6. the person revokes; the session ends at once: the plain 404
    revoked = revoke.sync_detailed(issued.id, client=me)
    assert revoked.status_code == 204, revoked.content
    gone = session_records.sync(session.session_id, client=dr)
    assert isinstance(gone, Problem), gone
    return Walked(
        own_records=len(records.items),
        seen_by_doctor=[(item.clinical_date, item.category) for item in seen.items],
        content=read.payload.read(),
        visible_since=session.visible_since,
        logged=[(entry.actor_kind, entry.action, entry.allowed) for entry in log.items],
        after_revocation=gone,
    )
