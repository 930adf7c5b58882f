"""API tests run over real HTTP: uvicorn on a free port, an httpx client, and a fresh
database per test (SQLite or PostgreSQL, per ``--db``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from tests.support.databases import DatabaseKind, module_database
from tests.support.http import bearer, client, serving
from tests.support.institutions import (
    SECOND_OPERATOR,
    SECOND_OPERATOR_SECRET,
    Institutions,
    operator_headers,
)
from vault.core.clock import SimulatedClock
from vault.core.settings import Settings
from vault.runtime.opening import Vault, provision

OPERATOR_SECRET = "test-operator-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Hong Kong, after every launch date


@dataclass
class World:
    """A running server plus helpers to populate it through the API itself."""

    http: httpx.Client
    vault: Vault
    operator: dict[str, str] = field(default_factory=dict)
    second_operator: dict[str, str] = field(default_factory=dict)
    institutions: Institutions | None = None

    def log_in_operator(self) -> None:
        """Fresh tokens for both operators (e.g. after the simulated clock moved past the
        old ones)."""
        self.operator = operator_headers(self.http, "operator", OPERATOR_SECRET)
        self.second_operator = operator_headers(self.http, SECOND_OPERATOR, SECOND_OPERATOR_SECRET)
        if self.institutions is None:
            self.institutions = Institutions(
                self.http,
                ("operator", OPERATOR_SECRET),
                (SECOND_OPERATOR, SECOND_OPERATOR_SECRET),
            )

    @property
    def registry(self) -> Institutions:
        assert self.institutions is not None, "log_in_operator first"
        return self.institutions

    def admin(self, institution_id: str) -> dict[str, str]:
        """The institution's admin token (onboarded by both operators the first time)."""
        return self.registry.admin(institution_id)

    def token(self, **form: str) -> str:
        response = self.http.post("/v1/auth/token", data=form)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def person(
        self, name: str = "Chan Tai Man", dob: str = "1950-05-17", joined: bool = True
    ) -> tuple[str, dict[str, str]]:
        """Create a person; returns (person id, their auth headers)."""
        response = self.http.post(
            "/v1/persons",
            json={"name": name, "date_of_birth": dob, "password": PASSWORD, "joined": joined},
        )
        assert response.status_code == 201, response.text
        pid: str = response.json()["id"]
        return pid, bearer(self.token(grant_type="password", username=pid, password=PASSWORD))

    def professional(self, institution_id: str, profession: str = "doctor") -> dict[str, str]:
        """Create a professional at the institution (through its admin client); returns
        their auth headers."""
        return self.registry.professional(institution_id, profession)

    def grant_everything(self, me: dict[str, str]) -> dict[str, str]:
        """For the person behind ``me``: a one-year HKSH sharing consent and HKU-SZ
        cross-border and radiology authorisations. Their ids by kind."""
        made = {
            "consent": self.http.post(
                "/v1/me/sharing-consents",
                headers=me,
                json={"institution_id": "hksh", "kind": "one_year", "scopes": ["ehr"]},
            ),
            "cross_border": self.http.post(
                "/v1/me/cross-border-authorisations", headers=me, json={"institution_id": "hku_sz"}
            ),
            "radiology": self.http.post(
                "/v1/me/radiology-authorisations", headers=me, json={"institution_id": "hku_sz"}
            ),
        }
        ids: dict[str, str] = {}
        for kind, response in made.items():
            assert response.status_code == 201, response.text
            ids[kind] = response.json()["id"]
        return ids

    def deposit(
        self,
        pid: str,
        headers: dict[str, str],
        *,
        category: str = "lab_report",
        clinical_date: str = "2025-06-01",
        content: str = "HbA1c 6.1%",
    ) -> str:
        r = self.http.post(
            f"/v1/patients/{pid}/records",
            headers=headers,
            json={
                "category": category,
                "clinical_date": clinical_date,
                "title": f"{category} test",
                "content": content,
                "content_type": "text/plain",
            },
        )
        assert r.status_code == 201, r.text
        record_id: str = r.json()["id"]
        return record_id


@pytest.fixture
def api_settings(tmp_path: Path, migrated_database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=migrated_database_url,
        operator_secret=OPERATOR_SECRET,
        operators={SECOND_OPERATOR: SECOND_OPERATOR_SECRET},
        clock="simulated",
        checkpoint_seconds=0,  # tests make checkpoints when they mean to
    )


@contextmanager
def served_world(
    settings: Settings, *, prepare: Callable[[FastAPI], None] | None = None
) -> Iterator[tuple[World, FastAPI]]:
    """Provision ``settings``, serve the app (after ``prepare``) over real HTTP with the
    simulated clock at :data:`START`, and hand out a :class:`World` logged in as operator."""
    provision(settings)  # an explicit DATABASE_URL is a deployment: migrate + keyring
    vault = Vault.open(settings)
    try:
        assert isinstance(vault.clock, SimulatedClock)
        vault.clock.set(START)
        app = create_app(settings, vault)
        if prepare is not None:
            prepare(app)
        with serving(app) as base_url, client(base_url) as http:
            w = World(http, vault)
            w.log_in_operator()
            yield w, app
    finally:
        vault.close()


@contextmanager
def module_world(
    request: pytest.FixtureRequest,
    db_kind: DatabaseKind,
    base: Path,
    prefix: str,
    *,
    prepare: Callable[[FastAPI], None] | None = None,
    **extra: Any,
) -> Iterator[tuple[World, FastAPI, Settings]]:
    """:func:`served_world` on a database of its own (``module_database``) with its data
    under ``base`` (with ``extra`` settings, e.g. ``blob_store``): for module-scoped servers."""
    with module_database(request, db_kind, base, prefix) as url:
        settings = Settings(
            data_dir=base / "data",
            database_url=url,
            operator_secret=OPERATOR_SECRET,
            operators={SECOND_OPERATOR: SECOND_OPERATOR_SECRET},
            clock="simulated",
            checkpoint_seconds=0,  # tests make checkpoints when they mean to
            **extra,
        )
        with served_world(settings, prepare=prepare) as (world, app):
            yield world, app, settings


@pytest.fixture(scope="module")
def blob_backend() -> str:
    """Where a module's radiology server keeps blobs: ``local`` (the data dir), or ``s3``
    (a bucket on the session's moto server, ``tests/support/s3.py``). A module overrides
    this fixture (e.g. parametrized) to run against S3."""
    return "local"


@pytest.fixture
def world(api_settings: Settings) -> Iterator[World]:
    with served_world(api_settings) as (w, _):
        yield w
