"""Request ids, JSON access logs, Prometheus metrics and the probes, on a tiny app.

Requests go through httpx's ASGI transport (in-process, no sockets); Starlette's
``TestClient`` is avoided because it warns (an error here) unless ``httpx2`` is installed.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from prometheus_client.parser import text_string_to_metric_families

from api import observability
from api.problems import Problem, problem_response
from vault.core.settings import Settings
from vault.runtime.opening import Vault, provision
from vault.store.engine import make_engine

SCRAPE_SECRET = "a-scrape-secret-for-the-tests-0123456789"
SCRAPER = {"Authorization": f"Bearer {SCRAPE_SECRET}"}


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc)


def _app() -> FastAPI:
    app = FastAPI()
    app.state.services = SimpleNamespace(settings=SimpleNamespace(metrics_token=SCRAPE_SECRET))
    app.add_exception_handler(Problem, _problem)
    observability.install(app)
    app.include_router(observability.router)

    @app.get("/v1/patients/{pid}/records")
    def records(pid: str) -> dict[str, str | None]:
        observability.count_decision("provider_general_category", True)
        return {"request_id": observability.current_request_id()}

    @app.post("/v1/me/folder")
    def upload(body: dict[str, str]) -> dict[str, str]:
        return {"stored": "yes"}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("unexpected")

    return app


def _call(app: FastAPI, *requests: tuple[str, str, dict[str, object]]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(method, url, **kw) for method, url, kw in requests]  # type: ignore[arg-type]

    return asyncio.run(run())


def _get(app: FastAPI, url: str, **kw: object) -> httpx.Response:
    return _call(app, ("GET", url, kw))[0]


def _sample(app: FastAPI, name: str, **labels: str) -> float:
    """The value of one sample in the app's /metrics (0 if absent)."""
    text = _get(app, "/metrics", headers=SCRAPER).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


@pytest.fixture
def app() -> FastAPI:
    return _app()


# -- request ids -------------------------------------------------------------------------


def test_a_safe_request_id_is_kept_and_echoed(app: FastAPI) -> None:
    response = _get(app, "/v1/patients/p1/records", headers={"X-Request-Id": "abc-123_x.y~z"})
    assert response.headers["X-Request-Id"] == "abc-123_x.y~z"
    assert response.json() == {"request_id": "abc-123_x.y~z"}


@pytest.mark.parametrize("unsafe", ["a" * 65, "has space", "<script>", "x;y", ""])
def test_an_unsafe_or_missing_request_id_is_replaced(app: FastAPI, unsafe: str) -> None:
    headers = {"X-Request-Id": unsafe} if unsafe else {}
    response = _get(app, "/v1/patients/p1/records", headers=headers)
    generated = response.headers["X-Request-Id"]
    assert generated != unsafe and len(generated) == 32 and int(generated, 16) >= 0
    assert response.json() == {"request_id": generated}


def test_every_response_gets_a_different_id(app: FastAPI) -> None:
    responses = _call(app, *[("GET", "/healthz", {})] * 3)
    assert len({r.headers["X-Request-Id"] for r in responses}) == 3


# -- logs --------------------------------------------------------------------------------


def _log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_access_logs_are_json_with_the_route_template_and_nothing_sensitive(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    _call(
        app,
        (
            "GET",
            "/v1/patients/P-8841/records?category=lab_report&since=2024-01-01",
            {"headers": {"X-Request-Id": "req-1", "Authorization": "Bearer tok-SECRET"}},
        ),
        ("POST", "/v1/me/folder", {"json": {"content": "HbA1c 6.1%"}}),
    )
    raw = capsys.readouterr().err
    for secret in ("P-8841", "lab_report", "since", "tok-SECRET", "HbA1c", "?"):
        assert secret not in raw
    lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert [line["route"] for line in lines] == ["/v1/patients/{pid}/records", "/v1/me/folder"]
    first = lines[0]
    assert first["logger"] == "crossvault.access" and first["level"] == "info"
    assert (first["method"], first["status"], first["request_id"]) == ("GET", 200, "req-1")
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert set(first) == {
        "ts",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
    }


def test_unmatched_paths_and_failures_are_logged_without_the_path(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    _call(app, ("GET", "/v1/no/such/P-8841", {}), ("GET", "/boom", {}))
    lines = _log_lines(capsys)
    access = [line for line in lines if line["logger"] == "crossvault.access"]
    assert [(line["route"], line["status"]) for line in access] == [
        (observability.UNMATCHED_ROUTE, 404),
        ("/boom", 500),
    ]
    assert all("P-8841" not in json.dumps(line) for line in lines)


def test_probes_are_not_logged_at_the_default_level(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    _call(app, ("GET", "/healthz", {}), ("GET", "/metrics", {"headers": SCRAPER}))
    assert _log_lines(capsys) == []


def test_install_twice_logs_once(capsys: pytest.CaptureFixture[str]) -> None:
    _app()
    app = _app()
    capsys.readouterr()
    _get(app, "/v1/patients/p1/records")
    assert len(_log_lines(capsys)) == 1


# -- metrics -----------------------------------------------------------------------------


def test_the_exposition_parses_and_has_the_three_families(app: FastAPI) -> None:
    _get(app, "/v1/patients/p1/records")
    response = _get(app, "/metrics", headers=SCRAPER)
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["crossvault_requests"].type == "counter"
    assert families["crossvault_request_seconds"].type == "histogram"
    assert families["crossvault_decisions"].type == "counter"
    labels = {tuple(sorted(s.labels)) for s in families["crossvault_requests"].samples}
    assert labels == {("method", "route", "status")}


def test_requests_are_counted_by_route_template_and_status(app: FastAPI) -> None:
    labels = {"method": "GET", "route": "/v1/patients/{pid}/records", "status": "200"}
    before = _sample(app, "crossvault_requests_total", **labels)
    seconds_before = _sample(
        app, "crossvault_request_seconds_count", method="GET", route=labels["route"]
    )
    _call(app, *[("GET", f"/v1/patients/p{i}/records", {}) for i in range(3)])
    assert _sample(app, "crossvault_requests_total", **labels) == before + 3
    seconds_after = _sample(
        app, "crossvault_request_seconds_count", method="GET", route=labels["route"]
    )
    assert seconds_after == seconds_before + 3
    failures = _sample(app, "crossvault_requests_total", method="GET", route="/boom", status="500")
    _get(app, "/boom")
    after = _sample(app, "crossvault_requests_total", method="GET", route="/boom", status="500")
    assert after == failures + 1


def test_decisions_are_counted_by_reason_and_outcome(app: FastAPI) -> None:
    allowed = {"reason": "provider_general_category", "allowed": "true"}
    denied = {"reason": "no_sharing_consent", "allowed": "false"}
    before = (
        _sample(app, "crossvault_decisions_total", **allowed),
        _sample(app, "crossvault_decisions_total", **denied),
    )
    _get(app, "/v1/patients/p1/records")
    observability.count_decision("no_sharing_consent", False)
    observability.count_decision("no_sharing_consent", False)
    after = (
        _sample(app, "crossvault_decisions_total", **allowed),
        _sample(app, "crossvault_decisions_total", **denied),
    )
    assert after == (before[0] + 1, before[1] + 2)


# -- probes ------------------------------------------------------------------------------


@pytest.fixture
def opened_vault(tmp_path: Path, database_url: str) -> Iterator[Vault]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    provision(settings)
    vault = Vault.open(settings)
    yield vault
    vault.close()


def test_healthz_answers_without_dependencies(app: FastAPI) -> None:
    assert _get(app, "/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("where", ["vault", "services"])
def test_readyz_is_ready_with_a_database_and_a_keyring(
    app: FastAPI, opened_vault: Vault, where: str
) -> None:
    if where == "vault":
        app.state.vault = opened_vault
    else:  # as create_app keeps it
        app.state.services = SimpleNamespace(vault=opened_vault)
    response = _get(app, "/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_readyz_is_503_problem_json_when_the_database_is_unreachable(
    app: FastAPI, opened_vault: Vault
) -> None:
    engine = make_engine(f"postgresql+psycopg://cv:pw@127.0.0.1:{_closed_port()}/cv")
    app.state.vault = SimpleNamespace(keyring=opened_vault.keyring, engine=engine)
    try:
        response = _get(app, "/readyz")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["detail"]) == ("not_ready", "database unreachable")


def test_readyz_is_503_without_a_vault(app: FastAPI) -> None:
    response = _get(app, "/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "keyring not loaded; database unreachable"


def test_metrics_need_the_scrape_secret_or_the_operator(app: FastAPI) -> None:
    """``/metrics`` is no public oracle (R10 in full): without the scrape secret (or the
    operator's token) it is a 401 problem, and a wrong secret is the same 401."""
    for headers in ({}, {"Authorization": "Bearer not-the-secret"}, {"Authorization": "x"}):
        response = _get(app, "/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "invalid_token"
        assert "crossvault_" not in response.text
