"""SMART Backend Services clients (HL7 SMART App Launch 2.x, ``client-confidential-
asymmetric``): an institution's admin client registers a public JWK set, and the vault
holds which ``jti`` each client has already used.

Registration and revocation are decided by the policy (``MANAGE_INSTITUTION`` of the
admin's own institution only) and audited on the system chain, like every other
credential change, which stamps ``credentials_changed_at``. Only public keys are stored:
an EC P-384 (ES384) or RSA ≥ 2048-bit (RS384) key with a ``kid``; anything else — a
private member, a symmetric key, an unknown ``kty`` or curve — is refused, nothing stored.

Checking a signed assertion is the API's work (:mod:`api.fhir.assertions`); the vault
answers which keys a client holds (:func:`client_keys`) and whether a ``jti`` was seen
(:func:`use_jti`: one insert, so two concurrent uses cannot both succeed).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from vault.access.judge import Caller
from vault.access.usecase import Unusable, UseCase, denied
from vault.core.errors import NotFound
from vault.registry.institutions import credentials_changed
from vault.registry.staff import manage
from vault.store.engine import reading, transaction
from vault.store.tables import ClientAssertionUse, SmartClient

MAX_KEYS = 10
MAX_JWKS_CHARS = 20000
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_MODULUS_CHARS = 342  # base64url of a 2048-bit modulus


def _invalid_jwks(message: str) -> Unusable:
    return Unusable("invalid_jwks", message)


def _checked_key(key: Any) -> dict[str, Any]:
    if not isinstance(key, dict):
        raise _invalid_jwks("Each key is a JSON object.")
    if _PRIVATE_MEMBERS & key.keys():
        raise _invalid_jwks("Register public keys only (no private or symmetric members).")
    kid = key.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 100:
        raise _invalid_jwks("Each key needs a kid (1 to 100 characters).")
    kty, alg = key.get("kty"), key.get("alg")
    if kty == "EC" and key.get("crv") == "P-384" and alg in (None, "ES384"):
        if not all(isinstance(key.get(m), str) for m in ("x", "y")):
            raise _invalid_jwks("An EC key needs x and y.")
        return {**key, "alg": "ES384"}
    if kty == "RSA" and alg in (None, "RS384"):
        n, e = key.get("n"), key.get("e")
        if not isinstance(n, str) or not isinstance(e, str) or len(n) < _MIN_RSA_MODULUS_CHARS:
            raise _invalid_jwks("An RSA key needs n (at least 2048 bits) and e.")
        return {**key, "alg": "RS384"}
    raise _invalid_jwks("Keys are EC P-384 (ES384) or RSA (RS384).")


def checked_jwks(jwks: Any) -> list[dict[str, Any]]:
    """The keys of a JWK set fit to verify ES384/RS384 assertions, or ``invalid_jwks``."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise _invalid_jwks(f"A JWK set is {{'keys': [...]}} with 1 to {MAX_KEYS} keys.")
    checked = [_checked_key(k) for k in keys]
    if len({k["kid"] for k in checked}) != len(checked):
        raise _invalid_jwks("Each kid appears once.")
    if len(json.dumps(checked)) > MAX_JWKS_CHARS:
        raise _invalid_jwks("The JWK set is too large.")
    return checked


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    institution_id: str
    keys: list[dict[str, Any]]


class SmartClients(UseCase):
    def register(self, caller: Caller, institution_id: str, jwks: Any) -> RegisteredClient:
        """A new SMART client of the admin's own institution, with its public keys."""
        keys = checked_jwks(jwks)
        client_id = f"{institution_id}-smart-{secrets.token_hex(4)}"

        def work(session: Session, now: datetime) -> RegisteredClient:
            credentials_changed(session, institution_id, now)
            row = SmartClient(
                client_id=client_id,
                institution_id=institution_id,
                jwks=json.dumps({"keys": keys}),
                created_at=now,
            )
            session.add(row)
            return RegisteredClient(client_id, institution_id, keys)

        return self.run(caller, manage(institution_id, client_id), work, refuse=denied)

    def revoke(self, caller: Caller, institution_id: str, client_id: str) -> None:
        """Revoke one of the institution's SMART clients from this instant: no new token."""

        def work(session: Session, now: datetime) -> None:
            row = session.get(SmartClient, client_id)
            if row is None or row.institution_id != institution_id:
                raise NotFound("no such client")
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)
                credentials_changed(session, institution_id, now)

        self.run(caller, manage(institution_id, client_id), work, refuse=denied)


def client_keys(engine: Engine, client_id: str) -> RegisteredClient | None:
    """The keys of an unrevoked SMART client; ``None`` for an unknown or revoked one."""
    with reading(engine) as session:
        row = session.get(SmartClient, client_id)
        if row is None or row.revoked_at is not None:
            return None
        return RegisteredClient(row.client_id, row.institution_id, json.loads(row.jwks)["keys"])


def use_jti(engine: Engine, client_id: str, jti: str, expires_at: datetime, now: datetime) -> bool:
    """Record ``jti`` as used by ``client_id``; ``False`` if it was used before (a replay).
    Uses whose assertion has expired are forgotten on the way (they cannot be replayed)."""
    try:
        with transaction(engine) as session:
            session.execute(
                delete(ClientAssertionUse).where(col(ClientAssertionUse.expires_at) < now)
            )
            session.add(ClientAssertionUse(client_id=client_id, jti=jti, expires_at=expires_at))
            session.flush()
    except IntegrityError:
        return False
    return True
