"""``POST /v1/persons``: a person registers themselves, as in the eHealth app.

Public (no token): the person chooses their own password, so no operator ever knows it
(R9: no operator identity has a path to a person's records). The registration is in the
person's own access log. A deployment puts identity verification in front of it (eHealth
uses iAM Smart); the simulator does not model that.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import ServicesDep
from api.schemas import Created, PersonCreate
from vault.crypto.secrets import Secret
from vault.registry.persons import NewPerson, Registration

router = APIRouter(tags=["citizen"])


@router.post(
    "/v1/persons",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
    summary="Register (a person, for themselves)",
)
def register(body: PersonCreate, services: ServicesDep) -> Created:
    """Register yourself: your name, date of birth and the password you choose; joined to
    eHealth unless ``joined`` is false. Log in with ``grant_type=password`` and the id
    this answers."""
    new = NewPerson(body.name, body.date_of_birth, body.joined)
    person = Registration(services.judge).register(new, Secret(body.password))
    return Created(id=person.id)
