"""SMART Backend Services client assertions (RFC 7523 ``private_key_jwt``): the checks,
in order, each refusal with its own stable ``code``, and nothing stored until every
check has passed (then the ``jti`` is spent, once).

1. ``assertion_malformed`` — not a compact JWS with a JSON header and claims;
2. ``assertion_algorithm`` — ``alg`` other than ES384 / RS384 (``none``, HS256, ...);
3. ``invalid_client`` — ``iss`` and ``sub`` differ, or name no unrevoked SMART client;
4. ``assertion_unknown_key`` — no registered key has the header's ``kid`` (for that alg);
5. ``assertion_signature`` — the signature does not verify with that key;
6. ``assertion_audience`` — ``aud`` is not this token endpoint's URL;
7. ``assertion_expired`` / ``assertion_lifetime`` — ``exp`` passed, or more than five
   minutes ahead;
8. ``assertion_replayed`` — the ``jti`` was accepted before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError
from sqlalchemy import Engine

from api.problems import Problem
from api.tokens import LEEWAY_SECONDS
from vault.registry.smart import RegisteredClient, client_keys, use_jti

ALGORITHMS = ("ES384", "RS384")
MAX_AHEAD = timedelta(minutes=5)
MAX_ASSERTION_CHARS = 8000
_DETAILS = {
    "assertion_malformed": "The client_assertion is not a signed JWT.",
    "assertion_algorithm": "Client assertions are signed ES384 or RS384.",
    "invalid_client": "The client is unknown or revoked, or iss and sub differ.",
    "assertion_unknown_key": "No registered key of the client has this kid.",
    "assertion_signature": "The signature does not verify.",
    "assertion_audience": "aud must be this token endpoint's URL.",
    "assertion_expired": "The assertion has expired.",
    "assertion_lifetime": "exp may be at most five minutes ahead.",
    "assertion_replayed": "This jti was used before.",
}


def refused(code: str) -> Problem:
    """An assertion refused (400; ``invalid_client`` is 401 as RFC 6749 says), with the
    OAuth ``error`` member besides the stable ``code``."""
    status = 401 if code == "invalid_client" else 400
    error = "invalid_client"
    return Problem(status, code, "Client assertion refused", _DETAILS[code], error=error)


def _header_and_claims(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.get_unverified_claims(assertion)
    except (JOSEError, ValueError, TypeError, KeyError):
        raise refused("assertion_malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise refused("assertion_malformed")
    return header, claims


def _key(client: RegisteredClient, header: dict[str, Any]) -> dict[str, Any]:
    for key in client.keys:
        if key.get("kid") == header.get("kid") and key.get("alg") == header.get("alg"):
            return key
    raise refused("assertion_unknown_key")


def _verified(assertion: str, key: dict[str, Any]) -> None:
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=[key["alg"]],
            options={
                "verify_aud": False,  # checked below, with its own code
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except (JOSEError, ValueError, TypeError, KeyError):
        raise refused("assertion_signature") from None


def _times(claims: dict[str, Any], now: datetime) -> datetime:
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise refused("assertion_malformed")
    stamp = now.timestamp()
    if exp + LEEWAY_SECONDS <= stamp:
        raise refused("assertion_expired")
    if exp > stamp + MAX_AHEAD.total_seconds() + LEEWAY_SECONDS:
        raise refused("assertion_lifetime")
    return datetime.fromtimestamp(exp, tz=now.tzinfo)


def accept(engine: Engine, assertion: str, token_url: str, now: datetime) -> RegisteredClient:
    """The client whose assertion this is, once every check passed and its ``jti`` is
    spent; a :class:`Problem` with the first check's code otherwise."""
    if len(assertion) > MAX_ASSERTION_CHARS:
        raise refused("assertion_malformed")
    header, claims = _header_and_claims(assertion)
    if header.get("alg") not in ALGORITHMS:
        raise refused("assertion_algorithm")
    issuer, jti = claims.get("iss"), claims.get("jti")
    if not isinstance(issuer, str) or issuer != claims.get("sub") or len(issuer) > 60:
        raise refused("invalid_client")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 200:
        raise refused("assertion_malformed")
    client = client_keys(engine, issuer)
    if client is None:
        raise refused("invalid_client")
    _verified(assertion, _key(client, header))
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if token_url not in audiences:
        raise refused("assertion_audience")
    expires = _times(claims, now)
    if not use_jti(engine, client.client_id, jti, expires, now):
        raise refused("assertion_replayed")
    return client
