"""Configuration from the environment (and matching CLI flags), via pydantic-settings.

| variable | default |
|---|---|
| ``CROSSVAULT_DATA_DIR`` | ``./data`` |
| ``DATABASE_URL`` | SQLite ``crossvault.db`` in the data dir |
| ``CROSSVAULT_POLICY`` | the packaged ``policies/default.toml`` |
| ``CROSSVAULT_OPERATOR_SECRET`` | generated on first run into the data dir (0600) |
| ``CROSSVAULT_KEYRING`` | unset: ``keyring.json`` in the data dir |
| ``CROSSVAULT_DEMO`` | ``0`` |
| ``CROSSVAULT_CLOCK`` | ``system`` (or ``simulated``) |
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSVAULT_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    policy: Path | None = None
    operator_secret: str | None = None
    keyring: str | None = None
    demo: bool = False
    clock: Literal["system", "simulated"] = "system"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crossvault.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
