"""Setting a benchmark up through the API: a person who registers themselves (and their
own token), and a professional registered by their institution's admin (onboarded by two
operators), with a token."""

from __future__ import annotations

import httpx

from sim.onboarding import Onboarding
from sim.server import bearer

PASSWORD = "bench-password-0123"

Headers = dict[str, str]


def onboarding(http: httpx.Client) -> Onboarding:
    return Onboarding(http)


def register_person(http: httpx.Client, name: str, date_of_birth: str) -> str:
    """A person who joined eHealth; their id."""
    person = http.post(
        "/v1/persons",
        json={"name": name, "date_of_birth": date_of_birth, "password": PASSWORD, "joined": True},
    )
    return str(person.raise_for_status().json()["id"])


def citizen(http: httpx.Client, person_id: str) -> Headers:
    return bearer(http, grant_type="password", username=person_id, password=PASSWORD)
