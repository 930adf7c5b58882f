"""The documented problems are what the server sends (issue 17, item 3b).

Each flow below drives the real server (uvicorn, a database of its own) into one documented
problem of one operation, then finds that operation's documented example for the answer's
status and ``code`` in the server's own ``/openapi.json``: same ``type``, ``title``,
``status`` and ``code``, the same members, and a body valid against the ``Problem`` schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs

from tests.api.conftest import PASSWORD, World
from tests.api.cross_border_support import authorise, staff, unknown_codes
from tests.support.http import bearer

Flow = Callable[[World], tuple[str, str, httpx.Response]]


def _no_token(world: World) -> tuple[str, str, httpx.Response]:
    return "get", "/v1/me", world.http.get("/v1/me")


def _professional_on_citizen_endpoint(world: World) -> tuple[str, str, httpx.Response]:
    return "get", "/v1/me", world.http.get("/v1/me", headers=world.professional("ha"))


def _hidden_record(world: World) -> tuple[str, str, httpx.Response]:
    _, me = world.person()
    answer = world.http.get("/v1/me/records/no-such-record", headers=me)
    return "get", "/v1/me/records/{record_id}", answer


def _bad_cursor(world: World) -> tuple[str, str, httpx.Response]:
    _, me = world.person()
    answer = world.http.get("/v1/me/records", headers=me, params={"cursor": "not-a-cursor"})
    return "get", "/v1/me/records", answer


def _apply(body: dict[str, Any]) -> Flow:
    def flow(world: World) -> tuple[str, str, httpx.Response]:
        _, me = world.person()
        answer = world.http.post("/v1/me/cross-border-authorisations", headers=me, json=body)
        return "post", "/v1/me/cross-border-authorisations", answer

    return flow


def _caregiver_is_self(world: World) -> tuple[str, str, httpx.Response]:
    pid, me = world.person()
    answer = world.http.post("/v1/me/caregivers", headers=me, json={"caregiver_id": pid})
    return "post", "/v1/me/caregivers", answer


def _renew_revoked(world: World) -> tuple[str, str, httpx.Response]:
    _, me = world.person()
    consent = world.grant_everything(me)["consent"]
    assert world.http.delete(f"/v1/me/sharing-consents/{consent}", headers=me).status_code == 204
    answer = world.http.post(f"/v1/me/sharing-consents/{consent}/renew", headers=me)
    return "post", "/v1/me/sharing-consents/{consent_id}/renew", answer


def _token(form: dict[str, str]) -> Flow:
    def flow(world: World) -> tuple[str, str, httpx.Response]:
        return "post", "/v1/auth/token", world.http.post("/v1/auth/token", data=form)

    return flow


def _wrong_password(world: World) -> tuple[str, str, httpx.Response]:
    pid, _ = world.person()
    form = {"grant_type": "password", "username": pid, "password": PASSWORD + "x"}
    return "post", "/v1/auth/token", world.http.post("/v1/auth/token", data=form)


def _hk_doctor_opens_session(world: World) -> tuple[str, str, httpx.Response]:
    answer = world.http.post(
        "/v1/cross-border/sessions", headers=world.professional("ha"), json=unknown_codes().body()
    )
    return "post", "/v1/cross-border/sessions", answer


def _wrong_passcode(world: World) -> tuple[str, str, httpx.Response]:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    return "post", "/v1/cross-border/sessions", staff(world, "hku_sz").open(codes.wrong_passcode())


FLOWS: list[tuple[Flow, int, str]] = [
    (_no_token, 401, "invalid_token"),
    (_professional_on_citizen_endpoint, 403, "wrong_role"),
    (_hidden_record, 404, "not_found"),
    (_bad_cursor, 400, "invalid_cursor"),
    (_apply({}), 422, "validation_failed"),
    (_apply({"institution_id": "ha"}), 422, "not_a_mainland_institution"),
    (_apply({"institution_id": "nowhere"}), 422, "unknown_institution"),
    (_caregiver_is_self, 422, "caregiver_is_self"),
    (_renew_revoked, 409, "consent_revoked"),
    (_wrong_password, 400, "invalid_grant"),
    (_token({"grant_type": "client_credentials"}), 400, "invalid_client"),
    (
        _token({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}),
        400,
        "invalid_client",
    ),
    (_hk_doctor_opens_session, 403, "wrong_role"),
    (_wrong_passcode, 400, "invalid_codes"),
]


def test_the_server_answers_as_its_problems_are_documented(world: World) -> None:
    spec = world.http.get("/openapi.json").json()
    problem = jsonschema_rs.validator_for(
        {"components": spec["components"], "$ref": "#/components/schemas/Problem"}
    )
    for flow, status, code in FLOWS:
        method, path, answer = flow(world)
        assert answer.status_code == status, (flow.__name__, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["code"] == code, (flow.__name__, body)
        problem.validate(body)
        documented = spec["paths"][path][method]["responses"][str(status)]
        examples = documented["content"]["application/problem+json"]["examples"]
        assert code in examples, (method, path, status, code, sorted(examples))
        example = examples[code]["value"]
        for member in ("type", "title", "status", "code"):
            assert example[member] == body[member], (method, path, code, member)
        assert set(example) == set(body), (method, path, code, set(example) ^ set(body))
        assert f"`{code}`" in documented["description"]


def test_the_token_endpoint_takes_http_basic_client_credentials(world: World) -> None:
    """As Swagger UI's client-credentials flow sends them (RFC 6749 2.3.1)."""
    from tests.api.conftest import OPERATOR_SECRET

    form = {"grant_type": "client_credentials"}
    token = world.http.post("/v1/auth/token", data=form, auth=("operator", OPERATOR_SECRET))
    assert token.status_code == 200, token.text
    assert token.json()["role"] == "operator"
    clock = world.http.get("/v1/admin/audit/verify", headers=bearer(token.json()["access_token"]))
    assert clock.status_code == 200
    wrong = world.http.post("/v1/auth/token", data=form, auth=("operator", "wrong"))
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_client")
    garbled = world.http.post(
        "/v1/auth/token", data=form, headers={"Authorization": "Basic !!not-base64"}
    )
    assert (garbled.status_code, garbled.json()["code"]) == (400, "invalid_client")
