"""``/openapi.json``: served, complete for what the app has, with examples and one shared
problem schema (issue 4, item 5)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.app import create_app
from tests.api.conftest import World
from vault.core.settings import Settings

# docs/design.md#endpoints-by-role:
# every endpoint integrations are written against (path parameters as {}).
CONTRACT_ENDPOINTS = {
    ("POST", "/v1/auth/token"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/v1/me"),
    ("GET", "/v1/me/records"),
    ("GET", "/v1/me/records/{}"),
    ("GET", "/v1/me/records/{}/content"),
    ("POST", "/v1/me/folder"),
    *{
        (method, f"/v1/me/{collection}")
        for method in ("POST", "GET")
        for collection in (
            "sharing-consents",
            "cross-border-authorisations",
            "radiology-authorisations",
            "caregivers",
        )
    },
    *{
        (method, f"/v1/me/{collection}/{{}}")
        for method in ("GET", "DELETE")
        for collection in (
            "sharing-consents",
            "cross-border-authorisations",
            "radiology-authorisations",
            "caregivers",
        )
    },
    ("GET", "/v1/me/cross-border-authorisations/{}/qr/{}"),
    ("GET", "/v1/me/access-log"),
    ("GET", "/v1/me/notifications"),
    ("POST", "/v1/patients/{}/records"),
    ("GET", "/v1/patients/{}/records"),
    ("GET", "/v1/patients/{}/records/{}"),
    ("GET", "/v1/patients/{}/records/{}/content"),
    ("POST", "/v1/patients/{}/restricted-access"),
    ("POST", "/v1/patients/{}/restricted-access/{}/confirm"),
    ("POST", "/v1/cross-border/sessions"),
    ("GET", "/v1/cross-border/sessions/{}/records"),
    ("GET", "/v1/cross-border/sessions/{}/records/{}"),
    ("GET", "/v1/cross-border/sessions/{}/records/{}/content"),
    ("POST", "/v1/radiology/deposits"),
    ("PUT", "/v1/radiology/deposits/{}/files/{}"),
    ("POST", "/v1/radiology/deposits/{}/complete"),
    ("POST", "/v1/persons"),
    ("POST", "/v1/institutions/{}/professionals"),
    ("POST", "/v1/institutions/{}/credentials"),
    ("GET", "/v1/institutions"),
    ("POST", "/v1/admin/keys/rotate"),
    ("GET", "/v1/admin/audit/verify"),
    ("POST", "/v1/admin/clock"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
CORE = {
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/persons"),
    ("GET", "/v1/me/records"),
    ("POST", "/v1/patients/{}/records"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def api_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, through included routers too (which recent
    FastAPI keeps as wrappers rather than copying into ``app.routes``)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from api_routes(included.routes, prefix + getattr(context, "prefix", ""))


@pytest.fixture
def routes(api_settings: Settings, world: World) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) for every operation the app documents."""
    app = create_app(api_settings, world.vault)
    return [
        (method, path, route)
        for path, route in api_routes(app.routes)
        if route.include_in_schema
        for method in sorted(route.methods or ())
    ]


@pytest.fixture
def spec(world: World) -> dict[str, Any]:
    response = world.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def test_openapi_is_served_as_openapi_3(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "crossvault" and spec["info"]["description"]


def test_every_route_of_the_app_is_documented(
    spec: dict[str, Any], routes: list[tuple[str, str, APIRoute]]
) -> None:
    documented = {(method, path) for method, path, _ in operations(spec)}
    missing = sorted({(method, path) for method, path, _ in routes} - documented)
    assert not missing, f"routes missing from /openapi.json: {missing}"


def test_every_design_endpoint_the_app_has_is_documented(
    spec: dict[str, Any], routes: list[tuple[str, str, APIRoute]]
) -> None:
    present = {(method, shape(path)) for method, path, _ in routes} & CONTRACT_ENDPOINTS
    documented = {(method, shape(path)) for method, path, _ in operations(spec)}
    assert present >= CORE
    assert present <= documented, sorted(present - documented)


def test_every_operation_has_a_summary_or_description(
    routes: list[tuple[str, str, APIRoute]],
) -> None:
    """Set explicitly (``summary=``) or by the handler's docstring — not the summary
    FastAPI derives from the function's name."""
    bare = sorted(
        f"{method} {path}"
        for method, path, route in routes
        if not (route.summary or route.description)
    )
    assert not bare, f"operations with neither a summary nor a docstring: {bare}"


def _schema_name(reference: str) -> str:
    return reference.removeprefix("#/components/schemas/")


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    lacking = set()
    for method, path, operation in operations(spec):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            schema = content.get("schema", {})
            if "$ref" in schema:
                schema = schemas[_schema_name(schema["$ref"])]
            if not {"example", "examples"} & (content.keys() | schema.keys()):
                lacking.add(f"{method} {path} ({media_type}: {schema.get('title')})")
    assert not lacking, f"request bodies without an example: {sorted(lacking)}"


def test_problems_are_documented_with_one_shared_schema(spec: dict[str, Any]) -> None:
    """Every operation documents its 4xx/5xx answers as application/problem+json."""
    problem = spec["components"]["schemas"].get("Problem")
    assert problem is not None, "no shared Problem schema in components"
    assert {"type", "title", "status", "code"} <= set(problem.get("required", []))
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    undocumented = []
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        errors = {k: v for k, v in responses.items() if k[0] in "45" or k == "default"}
        kinds = {mt for response in errors.values() for mt in response.get("content", {})}
        if not errors or kinds != {"application/problem+json"}:
            undocumented.append(f"{method} {path}")
    assert not undocumented, f"operations whose errors are not problem+json: {undocumented}"
