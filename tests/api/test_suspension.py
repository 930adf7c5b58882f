"""An institution's admin suspends one of its professionals: from the next request on,
whatever token they still hold, they are refused (no cached professional outlives it), and
no new token is issued; another institution's admin cannot suspend them."""

from __future__ import annotations

from tests.api.conftest import World
from tests.support.http import bearer
from tests.support.institutions import token


def test_a_suspended_professional_is_refused_from_the_next_request(world: World) -> None:
    pid, _ = world.person()
    registry = world.registry
    professional_id = registry.professional_id("ha")
    client_id, secret = registry.client("ha")
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "professional_id": professional_id,
    }
    doctor = bearer(token(world.http, **form))
    records = f"/v1/patients/{pid}/records"
    assert world.http.get(records, headers=doctor).status_code == 200  # cached as active

    suspend = f"/v1/institutions/ha/professionals/{professional_id}"
    elsewhere = world.http.delete(suspend.replace("/ha/", "/hksh/"), headers=world.admin("hksh"))
    assert elsewhere.status_code in (403, 404), elsewhere.text
    assert world.http.get(records, headers=doctor).status_code == 200  # still active

    assert world.http.delete(suspend, headers=world.admin("ha")).status_code == 204
    refused = world.http.get(records, headers=doctor)
    assert refused.status_code == 401, refused.text  # the very next request
    again = world.http.post("/v1/auth/token", data=form)
    assert again.status_code == 400 and again.json()["code"] == "invalid_grant", again.text
