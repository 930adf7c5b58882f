"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from vault.context import Vault
from vault.settings import Settings


def create_app(settings: Settings | None = None, vault: Vault | None = None) -> FastAPI:
    """Build the app. ``vault`` may be given (tests); otherwise it opens from ``settings``."""
    settings = settings or Settings()
    opened = vault or Vault.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if vault is None:
            opened.close()

    app = FastAPI(title="crossvault", version="1", lifespan=lifespan)
    app.state.vault = opened
    app.state.settings = settings

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> dict[str, str]:
        with opened.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ready", "keyring_version": str(opened.keyring.current_version)}

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (``api.app:app_from_env``) used by ``crossvault serve``."""
    return create_app(Settings())
