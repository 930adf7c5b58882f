"""The web app's session: a cookie holding the API's own access token, and CSRF tokens.

* ``cv_session`` holds the bearer token ``POST /v1/auth/token`` issues (an ES256 JWT,
  15 minutes): every page verifies it with the same :class:`~api.tokens.TokenAuthority`
  and builds the caller with the same guards as the REST API, so a page can never do
  more than the token could. ``HttpOnly``, ``SameSite=Strict``, ``Path=/app``, ``Secure``
  when the request came over https, ``Max-Age`` = the token's remaining life.
* Every form carries a CSRF token: once logged in, an HMAC of the token's ``jti`` under a
  key derived from the token signing key (the same in every worker, bound to this very
  session); before login, a random value also set in the ``cv_csrf`` cookie (double
  submit, with ``SameSite=Strict``).
* ``cv_acting`` (a caregiver's "acting for" person) and ``cv_lang`` are preferences, not
  authority: the use-cases decide whether the caregiver may act for that person.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from api.services import Services
from api.tokens import Claims, InvalidToken

SESSION_COOKIE = "cv_session"
LOGIN_CSRF_COOKIE = "cv_csrf"
ACTING_COOKIE = "cv_acting"
LANG_COOKIE = "cv_lang"
PATH = "/app"


@dataclass(frozen=True)
class WebSession:
    token: str
    claims: Claims
    csrf: str
    acting_for: str | None = None


def _csrf_key(services: Services) -> bytes:
    pem = services.vault.keyring.signing_key_pem()
    return hashlib.sha256(b"crossvault-web-csrf\x00" + pem).digest()


def csrf_for(services: Services, token_id: str) -> str:
    """The CSRF token of the session whose access token has ``jti`` = ``token_id``."""
    mac = hmac.new(_csrf_key(services), token_id.encode(), hashlib.sha256)
    return mac.hexdigest()


def current(request: Request, services: Services) -> WebSession | None:
    """The request's session, if its cookie holds a token valid now."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 4096:
        return None
    try:
        claims = services.tokens.verify(token, now=services.vault.clock.now())
    except InvalidToken:
        return None
    acting = request.cookies.get(ACTING_COOKIE) or None
    if acting is not None and (claims.role != "citizen" or len(acting) > 40):
        acting = None
    return WebSession(token, claims, csrf_for(services, claims.token_id), acting)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def _forget(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PATH, httponly=True, samesite="strict", secure=secure(request)
    )


def start(request: Request, response: Response, token: str, lifetime: int) -> None:
    """Log in: the token goes into the session cookie (the login CSRF cookie goes)."""
    _cookie(request, response, SESSION_COOKIE, token, lifetime)
    _forget(request, response, LOGIN_CSRF_COOKIE)
    _forget(request, response, ACTING_COOKIE)


def end(request: Request, response: Response) -> None:
    for name in (SESSION_COOKIE, ACTING_COOKIE):
        _forget(request, response, name)


def act_for(request: Request, response: Response, person_id: str | None) -> None:
    if person_id:
        _cookie(request, response, ACTING_COOKIE, person_id, 3600)
    else:
        _forget(request, response, ACTING_COOKIE)


def login_csrf(request: Request) -> str:
    """The pre-login CSRF value: the cookie's, or a new one (set by :func:`keep_login_csrf`)."""
    value = request.cookies.get(LOGIN_CSRF_COOKIE)
    if value and 20 <= len(value) <= 64:
        return value
    return secrets.token_urlsafe(24)


def keep_login_csrf(request: Request, response: Response, value: str) -> None:
    _cookie(request, response, LOGIN_CSRF_COOKIE, value, 3600)


def login_csrf_ok(request: Request, sent: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and sent) and hmac.compare_digest(
        str(expected).encode(), str(sent).encode()
    )


def csrf_ok(session: WebSession, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())


def remember_language(request: Request, response: Response, lang: str) -> None:
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
