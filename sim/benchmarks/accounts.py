"""Setting a benchmark up through the API: the operator's token, a person (and their own
token), and a professional of an institution with a token."""

from __future__ import annotations

import httpx

from sim.server import OPERATOR_SECRET, bearer

PASSWORD = "bench-password-0123"

Headers = dict[str, str]


def operator(http: httpx.Client) -> Headers:
    return bearer(
        http,
        grant_type="client_credentials",
        client_id="operator",
        client_secret=OPERATOR_SECRET,
    )


def register_person(http: httpx.Client, operator: Headers, name: str, date_of_birth: str) -> str:
    """A person who joined eHealth; their id."""
    person = http.post(
        "/v1/persons",
        headers=operator,
        json={"name": name, "date_of_birth": date_of_birth, "password": PASSWORD, "joined": True},
    )
    return str(person.raise_for_status().json()["id"])


def citizen(http: httpx.Client, person_id: str) -> Headers:
    return bearer(http, grant_type="password", username=person_id, password=PASSWORD)


def professional(
    http: httpx.Client, operator: Headers, iid: str, name: str, profession: str
) -> Headers:
    """The operator issues ``iid`` a client and registers a professional, who logs in."""
    credentials = http.post(f"/v1/institutions/{iid}/credentials", headers=operator)
    client = credentials.raise_for_status().json()
    registered = http.post(
        f"/v1/institutions/{iid}/professionals",
        headers=operator,
        json={"name": name, "profession": profession},
    )
    return bearer(
        http,
        grant_type="client_credentials",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        professional_id=registered.raise_for_status().json()["id"],
    )
