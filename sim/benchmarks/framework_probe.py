"""The API benchmark's control: the real app plus one route that takes the session list's
own dependencies (bearer token, professional, viewing sessions, list filters), runs the
same way (a plain ``def`` endpoint, so one thread hop) and answers a fixed body of the
list's size, without touching the vault.

Its ratio to ``/healthz`` bounds what the session list could reach if the vault's share
(decision, audit entry, notification, page query, decryption, durable commit) cost
nothing. Bench-only: ``crossvault serve`` never mounts it; the benchmark starts it with
``uvicorn sim.benchmarks.framework_probe:probe_app --factory`` on the same data dir.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

from api.app import app_from_env
from api.deps import ProfessionalCaller, ServicesDep
from api.routes.cross_border import SessionsDep
from api.routes.records import RecordQueryDep

FACTORY = "sim.benchmarks.framework_probe:probe_app"
BODY_FILE = "bench-probe-body.json"  # in the data dir: the list's own answer, captured


def probe_path(session_id: str) -> str:
    return f"/bench/probe/sessions/{session_id}/records"


def probe_app() -> FastAPI:
    app = app_from_env()
    body = (Path(os.environ["CROSSVAULT_DATA_DIR"]) / BODY_FILE).read_bytes()

    @app.get(probe_path("{sid}"), include_in_schema=False)
    def session_records_without_the_vault(
        sid: str,
        services: ServicesDep,
        caller: ProfessionalCaller,
        sessions: SessionsDep,
        query: RecordQueryDep,
    ) -> Response:
        return Response(body, media_type="application/json")

    return app
