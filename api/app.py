"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import contract, docs, errors, observability, problems, web
from api.fhir import outcome as fhir_outcome
from api.fhir import routes as fhir
from api.headers import SecurityHeaders
from api.limits import BodyLimits
from api.routes import (
    audit,
    auth,
    break_glass,
    cross_border,
    dicomweb,
    institutions,
    me,
    onboarding,
    operator,
    persons,
    radiology,
    records,
    restricted,
    tus,
)
from api.services import Services
from vault.audit.schedule import Checkpointer
from vault.core.settings import Settings
from vault.registry.institutions import sync_institutions
from vault.runtime.opening import Vault
from vault.seeding import demo
from vault.store.engine import transaction

API_DESCRIPTION = """\
crossvault's v1 API: a consent-based, encrypted, cross-border health-record vault modelled
on Hong Kong's eHealth. Errors are RFC 9457 `application/problem+json` with a stable `code`.
Tokens: `POST /v1/auth/token`; send `Authorization: Bearer <token>`. A caregiver calls the
citizen endpoints with `On-Behalf-Of: <person_id>`.
"""


# Every module with a ``router``, in the order their routes are matched.
ROUTED = (
    auth,
    persons,
    institutions,
    onboarding,
    operator,
    me,
    records,
    restricted,
    break_glass,
    cross_border,
    radiology,
    tus,
    dicomweb,
    fhir,  # last: its catch-all answers the rest of /fhir/r4
)


def create_app(settings: Settings | None = None, vault: Vault | None = None) -> FastAPI:
    """Build the app. ``vault`` may be given (tests); otherwise it opens from ``settings``."""
    settings = settings or Settings()
    opened = vault or Vault.open(settings)
    services = Services.build(settings, opened)
    with transaction(opened.engine) as session:
        sync_institutions(session, services.policy)
    if settings.demo and demo.seed(opened, now=opened.clock.now()):
        print("crossvault: demo data seeded (see README: demo accounts)", flush=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        checkpoints = Checkpointer(opened, settings.checkpoint_seconds)
        checkpoints.start()
        yield
        checkpoints.stop()
        if vault is None:
            opened.close()

    app = FastAPI(
        title="crossvault",
        version="1",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
        docs_url=None,  # api.docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    app.state.services = services
    errors.install(app)
    contract.install(app)  # after errors.install: it finishes the document that one starts
    docs.install(app)
    app.add_middleware(BodyLimits)  # before observability: refusals still get ids and metrics
    observability.install(app)
    app.add_middleware(SecurityHeaders)  # outermost: every answer, refusals included
    fhir_outcome.install(app)  # around even those: under /fhir/r4, as OperationOutcome
    app.include_router(observability.router)
    app.include_router(institutions.public_router)
    app.include_router(audit.router)
    for module in ROUTED:
        app.include_router(module.router)
    web.install(app)  # the consent web app at /app (issue 19)

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (``api.app:app_from_env``) used by ``crossvault serve``."""
    return create_app(Settings())
