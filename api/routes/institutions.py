"""Institutions: the public registry, and each institution's own staff and client
credentials, managed by its admin client (R9: separation of duties — an operator
registers neither).

* ``GET /v1/institutions[/{iid}]`` — public: designations and dates, and when the
  institution's credentials last changed (``credentials_changed_at``).
* ``POST /v1/institutions/{iid}/professionals``, ``DELETE .../professionals/{pid}``
  (suspend), ``POST /v1/institutions/{iid}/credentials``, ``DELETE
  .../credentials/{client_id}`` — the institution's admin token only, for its own
  institution (403 ``forbidden`` for another's); audited.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from sqlmodel import select

from api.deps import AdminCaller, ServicesDep
from api.problems import not_found
from api.schemas import Created, CredentialsCreated, InstitutionPublic, ProfessionalCreate
from policies.policy import Institution as Registered
from vault.registry.institutions import NewProfessional
from vault.registry.staff import Staff
from vault.store.engine import reading
from vault.store.tables import Institution

router = APIRouter(tags=["institution-admin"])
public_router = APIRouter(tags=["registry"])


def _public(registered: Registered, changed: datetime | None) -> InstitutionPublic:
    return InstitutionPublic(
        id=registered.id,
        name=registered.name,
        region=str(registered.region),
        kind=str(registered.kind),
        implied_sharing=registered.implied_sharing,
        designated_on=registered.designated_on,
        radiology_depositor_from=registered.radiology_depositor_from,
        voucher_from=registered.voucher_from,
        voucher_service_points=registered.voucher_service_points,
        ha_pilot_from=registered.ha_pilot_from,
        credentials_changed_at=changed,
    )


def _changes(services: ServicesDep) -> dict[str, datetime | None]:
    with reading(services.vault.engine) as session:
        rows = session.exec(select(Institution.id, Institution.credentials_changed_at))
        return dict(rows.all())


@public_router.get("/v1/institutions", response_model=list[InstitutionPublic])
def list_institutions(services: ServicesDep) -> list[InstitutionPublic]:
    """The public registry: every institution, with designation dates."""
    changes = _changes(services)
    return [_public(i, changes.get(i.id)) for i in services.policy.institutions.values()]


@public_router.get("/v1/institutions/{iid}", response_model=InstitutionPublic)
def get_institution(iid: str, services: ServicesDep) -> InstitutionPublic:
    """One institution of the public registry, with when its credentials last changed."""
    registered = services.policy.institutions.get(iid)
    if registered is None:
        raise not_found()
    return _public(registered, _changes(services).get(iid))


@router.post(
    "/v1/institutions/{iid}/professionals",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
)
def add_professional(
    iid: str, body: ProfessionalCreate, services: ServicesDep, caller: AdminCaller
) -> Created:
    """Register a professional (with a profession) at your own institution."""
    new = NewProfessional(body.name, str(body.profession))
    return Created(id=Staff(services.judge).add_professional(caller, iid, new).id)


@router.delete("/v1/institutions/{iid}/professionals/{pid}", status_code=status.HTTP_204_NO_CONTENT)
def suspend_professional(iid: str, pid: str, services: ServicesDep, caller: AdminCaller) -> None:
    """Suspend one of your professionals from this instant: their next request is
    refused, whatever token they hold."""
    Staff(services.judge).suspend_professional(caller, iid, pid)


@router.post(
    "/v1/institutions/{iid}/credentials",
    status_code=status.HTTP_201_CREATED,
    response_model=CredentialsCreated,
)
def create_credentials(iid: str, services: ServicesDep, caller: AdminCaller) -> CredentialsCreated:
    """A new client for your professionals' tokens. The secret is shown only here."""
    client_id, secret = Staff(services.judge).issue_client(caller, iid)
    return CredentialsCreated(client_id=client_id, client_secret=secret.reveal())


@router.delete(
    "/v1/institutions/{iid}/credentials/{client_id}", status_code=status.HTTP_204_NO_CONTENT
)
def revoke_credentials(
    iid: str, client_id: str, services: ServicesDep, caller: AdminCaller
) -> None:
    """Revoke one of your clients from this instant."""
    Staff(services.judge).revoke_client(caller, iid, client_id)
