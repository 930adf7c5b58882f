"""The security schemes ``/openapi.json`` declares, as FastAPI security dependencies.

Each guard in :mod:`api.deps` depends on the scheme its callers log in with *and* on the
plain bearer scheme; OpenAPI reads several requirements of one operation as "any of these",
so every operation states exactly what it needs: a citizen's token obtained with the
password grant, an institution's client credentials, the operator's client credentials, or
a bearer token obtained any of those ways. All of them read the ``Authorization`` header and
hand it over as sent; :mod:`api.deps` verifies it.
"""

from __future__ import annotations

from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import HTTPBearer, OAuth2

TOKEN_URL = "/v1/auth/token"

CITIZEN = OAuth2(
    flows=OAuthFlows(password=OAuthFlowPassword(tokenUrl=TOKEN_URL, scopes={})),
    scheme_name="citizen",
    description=(
        "A person logs in with the password grant: `username` is their person id, `password` "
        "their password. A caregiver logs in as themselves and adds `On-Behalf-Of`."
    ),
    auto_error=False,
)
INSTITUTION = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes={})),
    scheme_name="institution",
    description=(
        "An institution's client credentials (in the form body, or HTTP Basic). Its "
        "professionals' client also sends `professional_id`: the token acts as that "
        "professional, bound to the institution. Its admin client sends none. Swagger UI's "
        "Authorize dialog cannot send `professional_id`: obtain a professional's token "
        "with `POST /v1/auth/token` and paste it into `bearer`."
    ),
    auto_error=False,
)
OPERATOR = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes={})),
    scheme_name="operator",
    description="The operator's client credentials (`CROSSVAULT_OPERATOR_SECRET`).",
    auto_error=False,
)
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="`Authorization: Bearer <access_token>`, from `POST /v1/auth/token`.",
    auto_error=False,
)
