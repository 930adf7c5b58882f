"""Access tokens: short-lived ES256 JWTs. The only module that imports python-jose.

Issued by ``POST /v1/auth/token``; signed with the P-256 key held in the keyring and
named by its ``kid``. Verification accepts ES256 only, requires ``iss``, ``aud``, ``exp``,
``iat``, ``jti`` and ``sub``, and refuses any ``kid`` but ours — so ``alg: none``, HS256
signed with the public key, injected keys and foreign issuers all fail the same way.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jwt
from jose.exceptions import JOSEError

from api.lru import Lru

ISSUER = "crossvault"
AUDIENCE = "crossvault-api"
FHIR_AUDIENCE = "crossvault-fhir"  # SMART Backend Services tokens: the FHIR facade only
ALGORITHM = "ES256"
LIFETIME = timedelta(minutes=15)
LEEWAY_SECONDS = 5
Role = Literal["citizen", "professional", "institution_admin", "operator"]
ROLES: tuple[Role, ...] = ("citizen", "professional", "institution_admin", "operator")


VERIFIED_CACHE_SIZE = 4096


class InvalidToken(Exception):
    """Any token that fails verification. Deliberately says nothing more."""


@dataclass(frozen=True)
class Claims:
    subject: str
    role: Role
    institution_id: str | None
    token_id: str
    expires_at: datetime
    scope: str | None = None  # a SMART token's granted scopes (space-separated)


def _b64url(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).decode().rstrip("=")


class TokenAuthority:
    """Issues and verifies tokens with one signing key (from the keyring)."""

    def __init__(self, private_key_pem: bytes, kid: str) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the token signing key must be a P-256 private key")
        self._public = key.public_key()
        self.kid = kid
        # jose's key objects, made once: from a PEM string jose parses the key on every call
        self._signing = jwk.construct(key, ALGORITHM)
        self._checking = jwk.construct(self._public, ALGORITHM)
        self._verified: Lru[str, dict[str, Any]] = Lru(VERIFIED_CACHE_SIZE)

    def issue(
        self,
        *,
        subject: str,
        role: Role,
        now: datetime,
        institution_id: str | None = None,
        scope: str | None = None,
    ) -> tuple[str, datetime]:
        """A token for the API; with ``scope``, a SMART token for the FHIR facade only
        (audience :data:`FHIR_AUDIENCE`, which the API's own routes refuse)."""
        expires = now + LIFETIME
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE if scope is None else FHIR_AUDIENCE,
            "sub": subject,
            "role": role,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(16),
        }
        if institution_id is not None:
            claims["inst"] = institution_id
        if scope is not None:
            claims["scope"] = scope
        token = jwt.encode(claims, self._signing, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, expires

    def verify(self, token: str, *, now: datetime, audience: str = AUDIENCE) -> Claims:
        """The token's claims if it is ours, for ``audience``, signed, and valid at ``now``.

        A verified signature is remembered for the token's exact bytes and the audience (a
        bounded LRU): the time claims are still checked against ``now`` on every call.
        """
        key = f"{audience} {token}"
        payload = self._verified.get(key)
        if payload is None:
            payload = self._verified_signature(token, audience)
            self._verified.put(key, payload)
        return _checked_claims(payload, now)

    def _verified_signature(self, token: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or header.get("kid") != self.kid:
                raise InvalidToken
            payload = jwt.decode(
                token,
                self._checking,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                # exp/iat/nbf are required and checked by _checked_claims against the
                # server's clock (which may be simulated); jose's require_exp would force
                # its own wall-clock check.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require_jti": True,
                    "require_sub": True,
                    "require_iss": True,
                    "require_aud": True,
                },
            )
        except (JOSEError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken from exc
        if not isinstance(payload, dict):
            raise InvalidToken
        return payload

    def jwks(self, *others: tuple[str, ec.EllipticCurvePublicKey]) -> dict[str, Any]:
        """The token key, then ``others`` (``(kid, key)``: the audit checkpoints' key)."""
        keys = [(self.kid, self._public), *others]
        return {"keys": [public_jwk(kid, key) for kid, key in keys]}


def public_jwk(kid: str, key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """An ES256 (P-256) public key as a JWK."""
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x),
        "y": _b64url(numbers.y),
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    }


def _checked_claims(payload: dict[str, Any], now: datetime) -> Claims:
    """Times are checked against the server's clock (which may be simulated)."""
    stamp = now.timestamp()
    exp, iat, nbf = payload.get("exp"), payload.get("iat"), payload.get("nbf", payload.get("iat"))
    if not all(isinstance(v, int) for v in (exp, iat, nbf)):
        raise InvalidToken
    assert isinstance(exp, int) and isinstance(iat, int) and isinstance(nbf, int)
    if (
        stamp >= exp + LEEWAY_SECONDS
        or stamp < nbf - LEEWAY_SECONDS
        or iat > stamp + LEEWAY_SECONDS
    ):
        raise InvalidToken
    if exp - iat > LIFETIME.total_seconds():
        raise InvalidToken
    role, subject, jti = payload.get("role"), payload.get("sub"), payload.get("jti")
    institution = payload.get("inst")
    if role not in ROLES or not isinstance(subject, str) or not isinstance(jti, str):
        raise InvalidToken
    if role in ("professional", "institution_admin") and not isinstance(institution, str):
        raise InvalidToken
    scope = payload.get("scope")
    return Claims(
        subject,
        role,
        institution if isinstance(institution, str) else None,
        jti,
        datetime.fromtimestamp(exp, tz=now.tzinfo),
        scope if isinstance(scope, str) else None,
    )
