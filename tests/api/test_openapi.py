"""``/openapi.json``: served, complete for what the app has, with examples and one shared
problem schema (issue 4, item 5)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
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


# --- issue 17: security, summaries, descriptions, true examples ------------------------------

GUARDED_SCHEMES = {
    "citizen": ("oauth2", "password"),
    "institution": ("oauth2", "clientCredentials"),
    "operator": ("oauth2", "clientCredentials"),
}


def test_the_security_schemes_are_the_token_endpoints_flows(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert set(schemes) == {*GUARDED_SCHEMES, "bearer"}
    for name, (kind, flow) in GUARDED_SCHEMES.items():
        assert schemes[name]["type"] == kind
        assert set(schemes[name]["flows"]) == {flow}
        assert schemes[name]["flows"][flow]["tokenUrl"] == "/v1/auth/token"
    assert schemes["bearer"] == schemes["bearer"] | {"type": "http", "scheme": "bearer"}
    assert "professional_id" in schemes["institution"]["description"]


def test_every_operation_states_what_it_needs(spec: dict[str, Any]) -> None:
    """A guarded operation: its callers' scheme or a bearer token; a public one: nothing.
    None takes an ``authorization`` header parameter of its own."""
    for method, path, operation in operations(spec):
        security = operation.get("security")
        assert security is not None, f"{method} {path} states no security"
        names = [next(iter(requirement)) for requirement in security]
        assert names == [] or (len(names) == 2 and names[1] == "bearer"), (method, path, names)
        assert names == [] or names[0] in GUARDED_SCHEMES
        headers = [p.get("name", "").lower() for p in operation.get("parameters", [])]
        assert "authorization" not in headers, f"{method} {path}"
        if path.startswith("/v1/me"):
            assert names[:1] == ["citizen"], (method, path)
        if path.startswith(("/v1/admin/keys", "/v1/admin/clock", "/v1/admin/credential")):
            assert names[:1] == ["operator"], (method, path)
        if path.startswith(("/v1/patients", "/v1/cross-border", "/v1/radiology/deposits")):
            assert names[:1] == ["institution"] or method == "OPTIONS", (method, path)
    public = {(m, p) for m, p, o in operations(spec) if not o["security"]}
    assert ("POST", "/v1/auth/token") in public and ("GET", "/healthz") in public


def test_on_behalf_of_is_one_reusable_parameter(spec: dict[str, Any]) -> None:
    parameter = spec["components"]["parameters"]["OnBehalfOf"]
    assert parameter["in"] == "header" and parameter["name"] == "On-Behalf-Of"
    assert parameter["description"]
    referring = 0
    for method, path, operation in operations(spec):
        for item in operation.get("parameters", []):
            assert item.get("name") != "On-Behalf-Of", f"{method} {path}: inline On-Behalf-Of"
            referring += item.get("$ref") == "#/components/parameters/OnBehalfOf"
    assert referring >= 25


def test_every_summary_is_written_by_a_person(
    spec: dict[str, Any], routes: list[tuple[str, str, APIRoute]]
) -> None:
    from api.contract_text import SUMMARIES

    documented = {(method, path): operation for method, path, operation in operations(spec)}
    assert set(SUMMARIES) <= set(documented), sorted(set(SUMMARIES) - set(documented))
    generated = []
    for method, path, route in routes:
        derived = route.name.replace("_", " ").title()
        summary = documented[(method, path)].get("summary", "")
        if not summary or summary == derived:
            generated.append(f"{method} {path}: {summary!r}")
    assert not generated, f"summaries derived from function names: {generated}"


def test_every_schema_property_is_described_and_every_schema_has_an_example(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    bare = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert not bare, f"properties without a description: {bare}"
    lacking = [name for name, schema in schemas.items() if not schema.get("examples")]
    assert not lacking, f"schemas without an example: {lacking}"


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": spec["components"],
        **schema,
    }
    return jsonschema_rs.validator_for(root)


def documented_examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, its schema, the example) for every example the document has."""
    for name, schema in spec["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield f"schema {name}", {"$ref": f"#/components/schemas/{name}"}, example
    for name, parameter in spec["components"].get("parameters", {}).items():
        if "example" in parameter:
            yield f"parameter {name}", parameter["schema"], parameter["example"]
    for method, path, operation in operations(spec):
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(f"answer {s}", r) for s, r in operation["responses"].items()]
        for kind, body in bodies:
            for media_type, content in body.get("content", {}).items():
                where = f"{method} {path} {kind} {media_type}"
                for key, example in content.get("examples", {}).items():
                    yield f"{where} {key}", content.get("schema", {}), example["value"]
                if "example" in content:
                    yield where, content.get("schema", {}), content["example"]


def test_every_documented_example_validates_against_its_own_schema(
    spec: dict[str, Any],
) -> None:
    checked, invalid = 0, []
    for where, schema, example in documented_examples(spec):
        errors = [error.message for error in _validator(spec, schema).iter_errors(example)]
        checked += 1
        if errors:
            invalid.append(f"{where}: {errors[:2]}")
    assert not invalid, invalid
    assert checked >= 200


def test_problem_examples_are_the_bodies_the_code_raises(spec: dict[str, Any]) -> None:
    """Each documented problem example is its ``code``'s catalogued body, titles included
    (no example's title is its description any more), and no status lists a code twice."""
    from api.contract import body_of, raised_problem

    seen = 0
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/problem+json", {})
            for code, example in content.get("examples", {}).items():
                value = example["value"]
                assert value["code"] == code and str(value["status"]) == status
                raised = raised_problem(path, int(status), code, example["summary"])
                assert raised is not None, f"{method} {path} {status} {code}: no object raises it"
                assert value == body_of(raised), (method, path, code)
                assert value["title"] != example["summary"], (method, path, code)
                seen += 1
            description = response.get("description", "")
            codes = description.split("`")[1::2]
            assert len(codes) == len(set(codes)), (method, path, status, description)
    assert seen >= 150
