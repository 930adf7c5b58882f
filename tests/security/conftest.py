"""Fixtures for the security suites: the API tests' in-process ``world`` (re-exported), and
for the crash-safety and tamper-evidence suites a fresh installation and a real
``crossvault serve`` started (and SIGKILLable) through the zygote launcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import api_settings, world
from tests.security.support_servers import OPERATOR_SECRET, Deployment, Server
from tests.security.support_zygote import Launcher
from tests.support.databases import DatabaseKind
from vault.core.settings import Settings
from vault.runtime.opening import provision

__all__ = ["api_settings", "deployment", "launcher", "server", "world"]


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    with Launcher() as started:
        yield started


@pytest.fixture
def deployment(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path: Path, launcher: Launcher
) -> Deployment:
    """A fresh installation: embedded SQLite in the data dir, or a migrated PostgreSQL
    database with the keyring provisioned (as an operator does before the first start)."""
    data_dir = tmp_path / "data"
    url: str | None = None
    if db_kind == "postgresql":
        url = request.getfixturevalue("migrated_database_url")
        provision(Settings(data_dir=data_dir, database_url=url, operator_secret=OPERATOR_SECRET))
    return Deployment(data_dir, url, tmp_path / "logs", launcher)


@pytest.fixture
def server(deployment: Deployment) -> Iterator[Server]:
    started = Server(deployment)
    started.start()
    try:
        yield started
    finally:
        started.stop()
