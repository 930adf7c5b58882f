"""Token attacks over real HTTP (issue 4 "Bad input", issue 8 item 2).

Forged tokens are built by hand (compact JWS with ``cryptography``), never with the code
under test, so every header and claim is the attacker's choice. Most target
``POST /v1/persons`` with an operator's claims — the worst escalation — and check that
nothing was stored; a control test shows the same forge *is* accepted when every part is
right, so each refusal is down to the one thing the attack changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from sqlmodel import Session, func, select

from api.tokens import AUDIENCE, ISSUER
from tests.api.conftest import OPERATOR_SECRET, PASSWORD, World
from tests.support.http import bearer
from vault.core.clock import SimulatedClock
from vault.store.tables import CredentialProposal

Signer = Callable[[bytes], bytes]


# --- hand-made JWS ----------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Signer | None) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64url(signature)}"


def es256(key: ec.EllipticCurvePrivateKey) -> Signer:
    def sign(message: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def hs256(secret: bytes) -> Signer:
    return lambda message: hmac.new(secret, message, hashlib.sha256).digest()


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


@dataclass
class Forge:
    """The server's real signing key and kid, and claims valid at the server's time."""

    world: World
    key: ec.EllipticCurvePrivateKey
    kid: str

    @property
    def now(self) -> int:
        return int(self.world.vault.clock.now().timestamp())

    def claims(self, **changes: Any) -> dict[str, Any]:
        """An operator's claims; a change to ``None`` removes the claim."""
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "operator",
            "role": "operator",
            "iat": self.now,
            "nbf": self.now,
            "exp": self.now + 900,
            "jti": secrets.token_urlsafe(16),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        header.update(changes)
        return {name: value for name, value in header.items() if value is not None}

    def token(
        self,
        *,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
        sign: Signer | None = None,
    ) -> str:
        return compact(header or self.header(), claims or self.claims(), sign or es256(self.key))


@pytest.fixture
def forge(world: World) -> Forge:
    key = serialization.load_pem_private_key(world.vault.keyring.signing_key_pem(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Forge(world, key, world.vault.keyring.signing_kid())


PROPOSE = "/v1/admin/institutions/hksh/admin-credential-proposals"  # operators only


def proposals(world: World) -> int:
    with Session(world.vault.engine) as session:
        return session.exec(select(func.count()).select_from(CredentialProposal)).one()


def propose(world: World, token: str) -> httpx.Response:
    """An operator's proposal with ``token``; checks a refused request stored nothing."""
    before = proposals(world)
    response = world.http.post(PROPOSE, headers=bearer(token))
    if response.status_code != 201:
        assert proposals(world) == before
    return response


def assert_refused(
    response: httpx.Response, status: int = 401, code: str = "invalid_token"
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert "Traceback" not in response.text
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def payload_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(unb64url(token.split(".")[1]))
    return claims


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(unb64url(token.split(".")[0]))
    return header


# --- the control: the forge is right ----------------------------------------------------


def test_a_hand_made_token_with_the_real_key_is_accepted(world: World, forge: Forge) -> None:
    assert propose(world, forge.token()).status_code == 201  # a forged but valid token
    pid, _ = world.person()
    citizen = forge.token(claims=forge.claims(sub=pid, role="citizen"))
    assert world.http.get("/v1/me/records", headers=bearer(citizen)).status_code == 200


# --- no token, malformed tokens ---------------------------------------------------------


def test_no_token_is_401(world: World) -> None:
    assert_refused(world.http.get("/v1/me/records"))
    assert_refused(world.http.post(PROPOSE))


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Basic b3BlcmF0b3I6c2VjcmV0",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer e30.e30.",
        "Bearer " + "A" * 4000,
        "Bearer bm90IGpzb24.e30.AAAA",
        "Bearer W10.e30.AAAA",
    ],
    ids=[
        "empty",
        "scheme-only",
        "basic",
        "one-part",
        "two-parts",
        "junk-parts",
        "dots",
        "empty-objects",
        "long",
        "header-not-json",
        "header-a-list",
    ],
)
def test_a_malformed_token_is_401(world: World, authorization: str) -> None:
    before = proposals(world)
    response = world.http.post(PROPOSE, headers={"Authorization": authorization})
    assert_refused(response)
    assert proposals(world) == before


# --- algorithm confusion ----------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_401(world: World, forge: Forge, alg: str) -> None:
    unsigned = compact(forge.header(alg=alg), forge.claims(), None)
    assert unsigned.endswith(".")
    assert_refused(propose(world, unsigned))


def test_alg_none_with_a_signature_attached_is_401(world: World, forge: Forge) -> None:
    token = forge.token(header=forge.header(alg="none"))
    assert_refused(propose(world, token))


def _public_pem(world: World) -> bytes:
    jwk = world.http.get("/.well-known/jwks.json").json()["keys"][0]
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64url(jwk["x"]), "big"),
        int.from_bytes(unb64url(jwk["y"]), "big"),
        ec.SECP256R1(),
    )
    return numbers.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    "secret_of",
    [
        lambda pem: pem,
        lambda pem: pem.strip(),
        lambda pem: serialization.load_pem_public_key(pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        lambda pem: serialization.load_pem_public_key(pem).public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ),
    ],
    ids=["pem", "pem-stripped", "der", "raw-point"],
)
def test_hs256_signed_with_the_public_key_is_401(
    world: World, forge: Forge, secret_of: Callable[[bytes], bytes]
) -> None:
    secret = secret_of(_public_pem(world))
    token = forge.token(header=forge.header(alg="HS256"), sign=hs256(secret))
    assert_refused(propose(world, token))


def test_hs256_with_a_kid_naming_an_empty_file_is_401(world: World, forge: Forge) -> None:
    token = forge.token(header=forge.header(alg="HS256", kid="/dev/null"), sign=hs256(b""))
    assert_refused(propose(world, token))


def test_es384_on_another_curve_is_401(world: World, forge: Forge) -> None:
    key = ec.generate_private_key(ec.SECP384R1())

    def sign(message: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA384())))
        return r.to_bytes(48, "big") + s.to_bytes(48, "big")

    assert_refused(propose(world, forge.token(header=forge.header(alg="ES384"), sign=sign)))


# --- keys: kid, injected keys, other keys, signatures -----------------------------------


@pytest.mark.parametrize(
    "kid",
    [
        "someone-elses-kid",
        None,
        "",
        "../../etc/passwd",
        "' OR '1'='1",
        "http://127.0.0.1:9/k",
        {"kid": "nested"},
    ],
    ids=["unknown", "missing", "empty", "path-traversal", "sql", "url", "object"],
)
def test_a_wrong_kid_is_401_even_with_the_real_key(world: World, forge: Forge, kid: object) -> None:
    token = forge.token(header=forge.header(kid=kid))
    assert_refused(propose(world, token))


def test_a_kid_with_a_suffix_is_401(world: World, forge: Forge) -> None:
    token = forge.token(header=forge.header(kid=forge.kid + "x"))
    assert_refused(propose(world, token))


def test_another_p256_key_under_our_kid_is_401(world: World, forge: Forge) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    assert_refused(propose(world, forge.token(sign=es256(attacker))))


@pytest.mark.parametrize("where", ["jwk", "jku", "x5u"])
def test_a_key_offered_in_the_header_is_ignored(world: World, forge: Forge, where: str) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    offer: dict[str, Any] = {
        "jwk": public_jwk(attacker) | {"kid": forge.kid},
        "jku": "http://127.0.0.1:9/.well-known/jwks.json",
        "x5u": "http://127.0.0.1:9/cert.pem",
    }
    token = forge.token(header=forge.header(**{where: offer[where]}), sign=es256(attacker))
    assert_refused(propose(world, token))


def test_a_zero_signature_is_401(world: World, forge: Forge) -> None:
    """The "psychic signature" (CVE-2022-21449): r = s = 0."""
    token = forge.token(sign=lambda message: b"\x00" * 64)
    assert_refused(propose(world, token))


def test_a_der_encoded_signature_is_401(world: World, forge: Forge) -> None:
    raw = es256(forge.key)

    def der(message: bytes) -> bytes:
        signature = raw(message)
        return encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )

    assert_refused(propose(world, forge.token(sign=der)))


def operator_token(world: World) -> str:
    return world.operator["Authorization"].removeprefix("Bearer ")


@pytest.mark.parametrize("strip", ["empty", "dropped"])
def test_a_stripped_signature_is_401(world: World, strip: str) -> None:
    header, claims, _ = operator_token(world).split(".")
    token = f"{header}.{claims}." if strip == "empty" else f"{header}.{claims}"
    assert_refused(propose(world, token))


def test_a_tampered_payload_under_a_real_signature_is_401(world: World) -> None:
    _, me = world.person()
    header, _, signature = me["Authorization"].removeprefix("Bearer ").split(".")
    claims = payload_of(me["Authorization"].removeprefix("Bearer ")) | {
        "role": "operator",
        "sub": "operator",
    }
    assert_refused(propose(world, f"{header}.{b64url_json(claims)}.{signature}"))


# --- time -------------------------------------------------------------------------------


def advance(world: World, by: timedelta) -> None:
    assert isinstance(world.vault.clock, SimulatedClock)
    world.vault.clock.advance(by)


def test_a_token_expires_after_fifteen_minutes(world: World) -> None:
    advance(world, timedelta(minutes=14))
    assert world.http.get("/v1/institutions", headers=world.operator).status_code == 200
    assert propose(world, operator_token(world)).status_code == 201
    advance(world, timedelta(minutes=2))
    assert_refused(propose(world, operator_token(world)))


def test_a_forged_expired_token_is_401(world: World, forge: Forge) -> None:
    claims = forge.claims(iat=forge.now - 1000, nbf=forge.now - 1000, exp=forge.now - 100)
    assert_refused(propose(world, forge.token(claims=claims)))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_not_yet_valid_token_is_401(world: World, forge: Forge, claim: str) -> None:
    later = forge.now + 600
    claims = forge.claims(**{claim: later}, exp=later + 300)
    assert_refused(propose(world, forge.token(claims=claims)))


@pytest.mark.parametrize("lifetime", [901, 3600, 10 * 365 * 86400])
def test_a_lifetime_over_fifteen_minutes_is_401(world: World, forge: Forge, lifetime: int) -> None:
    claims = forge.claims(exp=forge.now + lifetime)
    assert_refused(propose(world, forge.token(claims=claims)))


# --- claims -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"iss": ""},
        {"aud": "another-api"},
        {"aud": ["another-api"]},
        {"aud": ""},
    ],
    ids=["issuer", "empty-issuer", "audience", "audience-list", "empty-audience"],
)
def test_another_issuer_or_audience_is_401(
    world: World, forge: Forge, changes: dict[str, Any]
) -> None:
    assert_refused(propose(world, forge.token(claims=forge.claims(**changes))))


@pytest.mark.parametrize("claim", ["jti", "sub", "exp", "iat", "iss", "aud", "role"])
def test_a_missing_claim_is_401(world: World, forge: Forge, claim: str) -> None:
    assert_refused(propose(world, forge.token(claims=forge.claims(**{claim: None}))))


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": "9999999999"},
        {"iat": 1.5},
        {"sub": 7},
        {"jti": ["a"]},
        {"role": "admin"},
        {"role": "Operator"},
        {"exp": True},
    ],
    ids=[
        "exp-string",
        "iat-float",
        "sub-number",
        "jti-list",
        "role-admin",
        "role-case",
        "exp-bool",
    ],
)
def test_a_mistyped_claim_is_401(world: World, forge: Forge, changes: dict[str, Any]) -> None:
    assert_refused(propose(world, forge.token(claims=forge.claims(**changes))))


def test_a_claims_set_that_is_not_an_object_is_401(world: World, forge: Forge) -> None:
    token = compact(forge.header(), ["operator"], es256(forge.key))  # type: ignore[arg-type]
    assert_refused(propose(world, token))


# --- roles and institutions -------------------------------------------------------------


def test_a_professional_token_on_a_citizen_endpoint_is_403(world: World) -> None:
    ha = world.professional("ha")
    assert_refused(world.http.get("/v1/me/records", headers=ha), 403, "wrong_role")


def test_a_citizen_token_on_an_operator_endpoint_is_403(world: World) -> None:
    _, me = world.person()
    before = proposals(world)
    response = world.http.post(PROPOSE, headers=me)
    assert_refused(response, 403, "wrong_role")
    assert proposals(world) == before
    assert_refused(world.http.get("/v1/admin/audit/verify", headers=me), 403, "wrong_role")


def test_a_citizen_token_on_a_professional_endpoint_is_403(world: World) -> None:
    pid, me = world.person()
    response = world.http.get(f"/v1/patients/{pid}/records", headers=me)
    assert_refused(response, 403, "wrong_role")


def test_a_professional_token_on_an_operator_endpoint_is_403(world: World) -> None:
    ha = world.professional("ha")
    response = world.http.post(PROPOSE, headers=ha)
    assert_refused(response, 403, "wrong_role")


def test_a_professional_token_moved_to_another_institution_is_401(
    world: World, forge: Forge
) -> None:
    pid, _ = world.person()
    ha = world.professional("ha").pop("Authorization").removeprefix("Bearer ")
    real = payload_of(ha)
    for changes in ({"inst": "hksh"}, {"inst": None}):
        forged = forge.token(claims=forge.claims(**(real | changes)))
        response = world.http.get(f"/v1/patients/{pid}/records", headers=bearer(forged))
        assert_refused(response)


def test_a_professional_claim_for_someone_unknown_is_401(world: World, forge: Forge) -> None:
    pid, _ = world.person()
    forged = forge.token(claims=forge.claims(sub="0" * 32, role="professional", inst="ha"))
    assert_refused(world.http.get(f"/v1/patients/{pid}/records", headers=bearer(forged)))


def test_on_behalf_of_someone_who_never_delegated_shows_nothing(world: World) -> None:
    victim, _ = world.person("Victim")
    record_id = world.deposit(victim, world.professional("ha"))
    _, stranger = world.person("Stranger")
    as_victim = stranger | {"On-Behalf-Of": victim}
    responses = [
        world.http.get(path, headers=as_victim)
        for path in (
            "/v1/me",
            "/v1/me/records",
            f"/v1/me/records/{record_id}",
            f"/v1/me/records/{record_id}/content",
            f"/v1/me/records/{'0' * 32}",
        )
    ]
    for response in responses:
        assert_refused(response, 404, "not_found")
    assert len({response.content for response in responses}) == 1


# --- the token endpoint -----------------------------------------------------------------


def token_response(world: World, **form: str) -> httpx.Response:
    return world.http.post("/v1/auth/token", data=form)


def test_wrong_password_and_unknown_user_are_the_same_400(world: World) -> None:
    pid, _ = world.person()
    wrong = token_response(world, grant_type="password", username=pid, password="not it!!")
    unknown = token_response(world, grant_type="password", username="0" * 32, password=PASSWORD)
    assert_refused(wrong, 400, "invalid_grant")
    assert wrong.content == unknown.content
    assert "access_token" not in wrong.text


def test_wrong_client_secret_and_unknown_client_are_the_same_400(world: World) -> None:
    world.professional("ha")
    client_id, _ = world.registry.client("ha")
    wrong = token_response(
        world,
        grant_type="client_credentials",
        client_id=client_id,
        client_secret="not-the-secret",
        professional_id="x",
    )
    unknown = token_response(
        world,
        grant_type="client_credentials",
        client_id="nobody",
        client_secret="not-the-secret",
        professional_id="x",
    )
    operator = token_response(
        world, grant_type="client_credentials", client_id="operator", client_secret="not-the-secret"
    )
    assert_refused(wrong, 400, "invalid_client")
    assert wrong.content == unknown.content == operator.content


def test_a_professional_of_another_institution_is_refused(world: World) -> None:
    hksh = world.professional("hksh")
    hksh_professional = payload_of(hksh["Authorization"].removeprefix("Bearer "))["sub"]
    world.professional("ha")
    client_id, secret = world.registry.client("ha")
    for professional_id, code in (
        (hksh_professional, "invalid_grant"),
        ("0" * 32, "invalid_grant"),
        ("", "invalid_request"),  # naming nobody is a malformed request, not a wrong one
    ):
        response = token_response(
            world,
            grant_type="client_credentials",
            client_id=client_id,
            client_secret=secret,
            professional_id=professional_id,
        )
        assert_refused(response, 400, code)


def test_an_unsupported_grant_type_is_refused(world: World) -> None:
    response = token_response(world, grant_type="authorization_code", code="x")
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"


def _verify_es256(jwk: dict[str, Any], token: str) -> None:
    header, claims, signature = token.split(".")
    raw = unb64url(signature)
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64url(jwk["x"]), "big"),
        int.from_bytes(unb64url(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))


@pytest.fixture
def issued(world: World) -> dict[str, str]:
    """One token of each role, by role."""
    _, me = world.person()
    tokens = {"citizen": me, "professional": world.professional("ha"), "operator": world.operator}
    return {
        role: headers["Authorization"].removeprefix("Bearer ") for role, headers in tokens.items()
    }


def test_issued_tokens_carry_the_required_claims(world: World, issued: dict[str, str]) -> None:
    now = int(world.vault.clock.now().timestamp())
    jwks = world.http.get("/.well-known/jwks.json").json()
    for role, token in issued.items():
        claims = payload_of(token)
        assert {"iss", "aud", "exp", "iat", "jti", "sub", "role"} <= claims.keys()
        assert (claims["iss"], claims["aud"], claims["role"]) == (ISSUER, AUDIENCE, role)
        assert now - 60 <= claims["iat"] <= now  # issued by the fixture, moments ago
        assert claims["exp"] - claims["iat"] == 900
        assert ("inst" in claims) == (role == "professional")
        assert header_of(token) == {"alg": "ES256", "typ": "JWT", "kid": jwks["keys"][0]["kid"]}
        _verify_es256(jwks["keys"][0], token)
    assert payload_of(issued["professional"])["inst"] == "ha"
    assert len({payload_of(token)["jti"] for token in issued.values()}) == len(issued)


def test_the_token_response_says_bearer_and_900_seconds(world: World) -> None:
    response = token_response(
        world,
        grant_type="client_credentials",
        client_id="operator",
        client_secret=OPERATOR_SECRET,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["role"]) == ("Bearer", 900, "operator")
    assert response.headers.get("cache-control", "no-store") == "no-store"


def test_jwks_serves_the_token_key_then_the_checkpoint_key_public_only(
    world: World, forge: Forge
) -> None:
    response = world.http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 2  # tokens, then audit checkpoints
    token, checkpoint = keys
    for key in keys:
        assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
        }
        assert not {"d", "p", "q", "k"} & key.keys()  # no private or symmetric material
    assert token["kid"] == forge.kid and checkpoint["kid"] != forge.kid
    assert public_jwk(forge.key) == {k: token[k] for k in ("kty", "crv", "x", "y")}
    assert (checkpoint["x"], checkpoint["y"]) != (token["x"], token["y"])  # its own key
