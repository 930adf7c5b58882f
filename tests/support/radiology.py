"""A running server with the radiology routers, for the radiology API tests.

Like ``tests/api/conftest.py``'s ``world``, but it keeps the app, so tests can reach the
radiology service (its size limit, its in-memory upload state) and the blob store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.routes import dicomweb, radiology, tus
from sim.studies import Study, instance
from tests.api.conftest import PASSWORD, START, World, module_world
from tests.support.databases import DatabaseKind
from tests.support.http import bearer
from tests.support.s3 import Bucket, S3Server, aws_environment
from vault.core.clock import SimulatedClock
from vault.core.settings import Settings
from vault.radiology.service import RadiologyDeposits
from vault.runtime.opening import Vault

LOCAL, S3 = "local", "s3"
DEPOSITOR = "hku_sz"  # a designated radiology depositor since 2026-01-27
PERSON_NAME = "Chan Tai Man"
DICOM_NAME = "CHAN^TAI MAN"


def include_radiology(app: FastAPI) -> None:
    """Add the radiology routers unless ``create_app`` already did."""
    paths = {getattr(route, "path", None) for route in app.routes}
    for module in (radiology, tus, dicomweb):
        if not any(getattr(r, "path", None) in paths for r in module.router.routes):
            app.include_router(module.router)


@dataclass
class Radiology:
    """The world, its app and radiology service, and helpers for depositing."""

    world: World
    app: FastAPI
    service: RadiologyDeposits
    base_url: str
    settings: Settings
    bucket: Bucket | None = None  # the S3 bucket, for the s3 backend

    @property
    def http(self) -> httpx.Client:
        return self.world.http

    @property
    def vault(self) -> Vault:
        return self.world.vault

    @property
    def clock(self) -> SimulatedClock:
        clock = self.vault.clock
        assert isinstance(clock, SimulatedClock)
        return clock

    def person(self, name: str = PERSON_NAME) -> tuple[str, dict[str, str]]:
        return self.world.person(name=name)

    def login(self, person_id: str) -> dict[str, str]:
        """A fresh citizen token (after the clock moved)."""
        return bearer(
            self.world.token(grant_type="password", username=person_id, password=PASSWORD)
        )

    def at(self, instant: datetime) -> None:
        """Move the server's clock; the operator gets a token valid then. Other tokens
        must be made afresh (:meth:`login`, :meth:`depositor`)."""
        self.clock.set(instant)
        self.world.log_in_operator()

    def depositor(self, institution_id: str = DEPOSITOR) -> dict[str, str]:
        return self.world.professional(institution_id, profession="radiographer")

    def authorisation(self, citizen: dict[str, str], institution_id: str = DEPOSITOR) -> str:
        """A fresh radiology authorisation code, through the person's own API."""
        return self.issue(citizen, institution_id)[1]

    def issue(self, citizen: dict[str, str], institution_id: str = DEPOSITOR) -> tuple[str, str]:
        """(authorisation id, code)."""
        r = self.http.post(
            "/v1/me/radiology-authorisations",
            headers=citizen,
            json={"institution_id": institution_id},
        )
        assert r.status_code == 201, r.text
        return r.json()["id"], r.json()["authorisation_code"]

    def open_deposit(self, depositor: dict[str, str], code: str, **body: Any) -> str:
        r = self.http.post(
            "/v1/radiology/deposits", headers=depositor, json={"authorisation_code": code, **body}
        )
        assert r.status_code == 201, r.text
        deposit_id: str = r.json()["deposit_id"]
        return deposit_id

    def put(
        self,
        depositor: dict[str, str],
        deposit_id: str,
        name: str,
        content: bytes,
        content_type: str = "application/dicom",
    ) -> httpx.Response:
        return self.http.put(
            f"/v1/radiology/deposits/{deposit_id}/files/{name}",
            headers={**depositor, "Content-Type": content_type},
            content=content,
        )

    def complete(self, depositor: dict[str, str], deposit_id: str) -> httpx.Response:
        return self.http.post(f"/v1/radiology/deposits/{deposit_id}/complete", headers=depositor)

    def my_records(self, citizen: dict[str, str]) -> list[dict[str, Any]]:
        r = self.http.get("/v1/me/records", headers=citizen, params={"limit": 200})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def temporaries(self) -> list[Path]:
        """Uploads in progress: local temporaries, and (S3) multipart uploads not yet
        completed or aborted."""
        local = sorted(self.vault.blobs.tmp.iterdir())
        remote = [Path(f"s3-upload/{key}") for key in self.bucket.uploads()] if self.bucket else []
        return local + remote

    def objects(self, person_id: str) -> list[bytes]:
        """The person's sealed blobs, as stored (on disk, or in the bucket)."""
        if self.bucket is not None:
            keys = self.bucket.object_keys(f"crossvault/objects/{person_id}/")
            return [self.bucket.read(key) for key in keys]
        folder = self.vault.blobs.objects / person_id
        return [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]

    def deposited(
        self, study: Study | None = None, files: int = 1
    ) -> tuple[str, dict[str, str], dict[str, str], str, list[bytes]]:
        """A person with a completed deposit of ``files`` DICOM instances:
        (person id, citizen headers, depositor headers, deposit id, the files)."""
        pid, citizen = self.person()
        depositor = self.depositor()
        deposit_id = self.open_deposit(depositor, self.authorisation(citizen))
        study = study or Study(patient_name=DICOM_NAME)
        contents = [instance(study) for _ in range(files)]
        for index, content in enumerate(contents):
            assert self.put(depositor, deposit_id, f"i{index}.dcm", content).status_code == 201
        assert self.complete(depositor, deposit_id).status_code == 200
        return pid, citizen, depositor, deposit_id, contents


@pytest.fixture(scope="module")
def radiology_server(
    request: pytest.FixtureRequest,
    db_kind: DatabaseKind,
    tmp_path_factory: pytest.TempPathFactory,
    blob_backend: str,
) -> Iterator[Radiology]:
    """One server (and database) for a module's radiology tests: each test makes its own
    people and depositors, and :func:`rad` puts the clock and limits back after it."""
    base = tmp_path_factory.mktemp("radiology")
    with ExitStack() as stack:
        bucket = None
        if blob_backend == S3:
            server: S3Server = request.getfixturevalue("s3_server")
            stack.enter_context(aws_environment(server))
            bucket = server.bucket()
        world, app, settings = stack.enter_context(
            module_world(
                request,
                db_kind,
                base,
                "radiology",
                prepare=include_radiology,
                blob_store=bucket.url if bucket else None,
            )
        )
        base_url = str(world.http.base_url).rstrip("/")
        yield Radiology(world, app, radiology.service_of(app), base_url, settings, bucket)


@pytest.fixture
def rad(radiology_server: Radiology) -> Iterator[Radiology]:
    """The module's radiology server, reset after each test (clock, size limit, the
    in-memory upload state, the operator's token)."""
    limit = radiology_server.service.max_file_bytes
    try:
        yield radiology_server
    finally:
        radiology_server.service.max_file_bytes = limit
        radiology_server.service.forget_live_uploads()
        radiology_server.at(START)
