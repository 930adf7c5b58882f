"""The OpenAPI contract, finished in one place (issue 17, items 2 and 3).

:func:`install` wraps the app's ``openapi()`` so that, once, after FastAPI built the
document:

- every operation states its security: the schemes of its guard (:mod:`api.security`), or
  none (``security: []``) for the public ones;
- ``On-Behalf-Of`` is one reusable ``components/parameters`` entry, referenced;
- summaries written by a person replace the ones FastAPI derives from function names, and
  every schema property has a description (:mod:`api.contract_text`);
- every schema has an example (list and page envelopes get one built from their item's);
- every documented problem example is the body the server really sends for that ``code``:
  built by :func:`problem_catalogue` from the very objects the code raises (the guards'
  problems, the validation problem, the token endpoint's, and vault errors answered through
  :data:`api.errors.ANSWERS`), so it cannot drift. A documented code with no such object
  fails ``tests/api/test_openapi.py``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from api import contract_text
from api.deps import unauthorised, wrong_role
from api.errors import ACCOUNT_REFUSALS, problem_for, validation_failed
from api.problems import PROBLEM_JSON, Problem, not_found, problem_response
from api.routes.auth import invalid, missing
from api.routes.cross_border import not_mainland
from policies.vocabulary import Action, Reason
from vault.access.paging import InvalidCursor
from vault.access.throttles import LockedOut
from vault.access.usecase import Conflict, Refused, Unusable
from vault.core.errors import VaultError
from vault.cross_border import sessions
from vault.cross_border.sessions import InvalidCodes, SessionRefused
from vault.emergency.break_glass import BreakGlassRefused
from vault.registry.logins import LoginRefused, LoginThrottled
from vault.restricted import requests
from vault.restricted.requests import AlreadyConfirmed, InvalidOtp, OtpExpired

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ON_BEHALF_OF = "OnBehalfOf"
_EXAMPLE_ERRORS = [{"loc": ["body", "institution_id"], "type": "missing", "msg": "Field required"}]
_NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _vault_samples() -> list[VaultError]:
    """One error of every kind the documented operations answer with."""
    samples: list[VaultError] = [
        InvalidCodes(),
        InvalidCursor(),
        InvalidOtp(),
        OtpExpired(),
        AlreadyConfirmed(),
        LoginRefused("invalid_grant"),
        LoginRefused("invalid_client"),
        LockedOut(None, sessions.LOCKED.secret),
        LoginThrottled(_NOW + timedelta(minutes=5)),
        *(
            SessionRefused(reason)
            for reason in (
                Reason.NOT_DESIGNATED,
                Reason.AUTHORISATION_PENDING,
                Reason.AUTHORISATION_REVOKED,
            )
        ),
        *(
            BreakGlassRefused(reason)
            for reason in (
                Reason.BREAK_GLASS_DISABLED,
                Reason.BREAK_GLASS_NOT_PERMITTED,
                Reason.JUSTIFICATION_TOO_SHORT,
            )
        ),
    ]
    for action, reason in ACCOUNT_REFUSALS:
        samples.append(Refused(Action(action or Action.APPLY_CROSS_BORDER), reason))
    return samples


# Where one code's problem says something particular to an operation.
PER_OPERATION: dict[tuple[str, str], Problem] = {
    ("/v1/cross-border/sessions", "wrong_role"): not_mainland(),
    ("/v1/patients/{pid}/restricted-access/{rid}/confirm", "locked_out"): problem_for(
        LockedOut(None, requests.LOCKED.secret), _NOW
    ),
}


def problem_catalogue() -> dict[str, Problem]:
    """Each documented ``code``'s problem, as the server raises it."""
    problems = [
        unauthorised(),
        wrong_role(),
        not_found(),
        validation_failed(_EXAMPLE_ERRORS),
        invalid("invalid_grant"),
        invalid("invalid_client"),
        missing("professional_id"),
        *(problem_for(sample, _NOW) for sample in _vault_samples()),
    ]
    return {problem.code: problem for problem in problems}


def body_of(problem: Problem) -> dict[str, Any]:
    """The problem's body, byte for byte as :func:`api.problems.problem_response` sends it."""
    body: dict[str, Any] = json.loads(bytes(problem_response(problem).body))
    return body


def _state_problem(status: int, code: str, when: str) -> Problem | None:
    """A state or input refusal the vault raises with its own code (:class:`Conflict`,
    :class:`Unusable`): its answer, with the documented wording as its message."""
    kind = {409: Conflict, 422: Unusable}.get(status)
    return None if kind is None else problem_for(kind(code, when), _NOW)


def raised_problem(path: str, status: int, code: str, when: str) -> Problem | None:
    """The problem the code raises for ``code`` on ``path`` (None: no object raises it)."""
    found = PER_OPERATION.get((path, code)) or _CATALOGUE.get(code)
    found = found or _state_problem(status, code, when)
    return found if found is not None and found.status == status else None


def _problem_example(path: str, status: int, code: str, when: str) -> dict[str, Any]:
    """The raised problem's body; a code no object raises keeps a body of its own, with
    ``when`` as its detail (``tests/api/test_openapi.py`` fails on any such code: the
    document itself still builds)."""
    raised = raised_problem(path, status, code, when)
    if raised is not None:
        return body_of(raised)
    return body_of(Problem(status, code, "Undocumented problem", when))


_CATALOGUE = problem_catalogue()


# --- the passes ---------------------------------------------------------------------------


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec.get("paths", {}).items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _security(spec: dict[str, Any]) -> None:
    for _, _, operation in operations(spec):
        operation.setdefault("security", [])


def _on_behalf_of(spec: dict[str, Any]) -> None:
    components = spec.setdefault("components", {}).setdefault("parameters", {})
    reference = {"$ref": f"#/components/parameters/{ON_BEHALF_OF}"}
    for _, _, operation in operations(spec):
        parameters = operation.get("parameters", [])
        for index, parameter in enumerate(parameters):
            if parameter.get("in") == "header" and parameter.get("name") == "On-Behalf-Of":
                components[ON_BEHALF_OF] = {
                    **parameter,
                    "description": contract_text.ON_BEHALF_OF,
                }  # no example: Swagger UI would send it with every try-it-out call
                parameters[index] = reference


def _binary(spec: dict[str, Any]) -> None:
    """Content answered as bytes (record content, QR codes, radiology files): a binary
    string, so that generated clients hand it over as a file."""
    for _, _, operation in operations(spec):
        for status, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                if status.startswith("2") and "json" not in media_type and not content:
                    content["schema"] = {"type": "string", "format": "binary"}


def _path_parameters(spec: dict[str, Any]) -> None:
    """A path parameter is never null (a route typing one ``str | None`` documents it so)."""
    for _, _, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            options = parameter.get("schema", {}).get("anyOf", [])
            if parameter.get("in") == "path" and any(o.get("type") == "null" for o in options):
                kept = [option for option in options if option.get("type") != "null"]
                schema = {k: v for k, v in parameter["schema"].items() if k != "anyOf"}
                parameter["schema"] = (
                    kept[0] | schema if len(kept) == 1 else {**schema, "anyOf": kept}
                )


def _summaries(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        written = contract_text.SUMMARIES.get((method.upper(), path))
        if written is not None:
            operation["summary"] = written


def _descriptions(spec: dict[str, Any]) -> None:
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        for field, prop in schema.get("properties", {}).items():
            if "description" not in prop:
                text = contract_text.FIELDS_BY_SCHEMA.get((name, field))
                text = text or contract_text.FIELDS.get(field)
                if text is not None:
                    prop["description"] = text


def _example_of(schemas: dict[str, Any], schema: dict[str, Any]) -> Any:
    if "$ref" in schema:
        target = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return (target.get("examples") or [None])[0]
    if "enum" in schema:
        return schema["enum"][0]
    return None


def _examples(spec: dict[str, Any]) -> None:
    """Hand-written examples first; then enums and envelopes (``items`` and a cursor), whose
    ``items`` are their item schema's example."""
    schemas = spec.get("components", {}).get("schemas", {})
    for name, written in contract_text.EXAMPLES.items():
        if name in schemas and "examples" not in schemas[name]:
            schemas[name]["examples"] = [copy.deepcopy(written)]
    for schema in schemas.values():
        _restore_nulls(schema)
    for _ in range(2):  # envelopes of envelopes
        for schema in schemas.values():
            _derived_example(schemas, schema)


def _derived_example(schemas: dict[str, Any], schema: dict[str, Any]) -> None:
    if "enum" in schema and "examples" not in schema:
        schema["examples"] = [schema["enum"][0]]
    item_schema = schema.get("properties", {}).get("items", {}).get("items")
    item = None if item_schema is None else _example_of(schemas, item_schema)
    if item is None:
        return
    if "examples" not in schema and _is_envelope(schema):
        schema["examples"] = [_envelope(schema, item)]
    for example in schema.get("examples", []):
        if isinstance(example, dict):
            example.setdefault("items", [item])


def _nullable(schema: dict[str, Any]) -> bool:
    return any(option.get("type") == "null" for option in schema.get("anyOf", []))


def _restore_nulls(schema: dict[str, Any]) -> None:
    """FastAPI drops every null from the document it builds (``exclude_none``), examples'
    included: a required, nullable property an example lacks was such a null."""
    properties = schema.get("properties", {})
    for example in schema.get("examples", []):
        if not isinstance(example, dict):
            continue
        for field in schema.get("required", []):
            if field not in example and _nullable(properties.get(field, {})):
                example[field] = None


def _is_envelope(schema: dict[str, Any]) -> bool:
    fields = set(schema.get("properties", {}))
    return "items" in fields and fields <= {"items", "next_cursor"}


def _envelope(schema: dict[str, Any], item: Any) -> dict[str, Any]:
    example: dict[str, Any] = {"items": [item]}
    if "next_cursor" in schema["properties"]:
        example["next_cursor"] = None
    return example


def _generic_problems(operation: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """The problems any such operation may answer with: (code, when)."""
    listed = []
    if operation.get("parameters") or operation.get("requestBody"):
        listed.append(("validation_failed", "The request does not match the schema."))
    if any(p.get("name") == "cursor" for p in operation.get("parameters", [])):
        listed.append(("invalid_cursor", "A `cursor` that is not a `next_cursor` passed back."))
    if "{" in path:
        listed.append(("not_found", "No such resource, or not the caller's to see (R10)."))
    if operation.get("security"):
        listed.append(("invalid_token", "No valid bearer token."))
        listed.append(("wrong_role", "This token's role cannot use this operation."))
    return listed


def _problem_content(path: str, status: int, listed: dict[str, str]) -> dict[str, Any]:
    """The response of ``status``: a description naming each code once, an example of each."""
    examples = {
        code: {"summary": when, "value": _problem_example(path, status, code, when)}
        for code, when in listed.items()
    }
    return {
        "description": " ".join(f"`{code}`: {when}" for code, when in listed.items()),
        "content": {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}, "examples": examples}
        },
    }


def _documented(response: dict[str, Any]) -> dict[str, str]:
    """code -> when, from a route's own problem examples (which carried the "when" text as
    their title: the text is kept as the example's summary, the body replaced)."""
    examples = response.get("content", {}).get(PROBLEM_JSON, {}).get("examples", {})
    return {e["value"]["code"]: e["value"]["title"] for e in examples.values()}


# Problems of operations whose route documents none of its own.
OPERATION_PROBLEMS: dict[tuple[str, str], dict[int, dict[str, str]]] = {
    ("post", "/v1/auth/token"): {
        400: {
            "invalid_grant": "Wrong username or password, or an unknown professional.",
            "invalid_client": "Wrong client id or secret (or none sent).",
            "invalid_request": "A field the grant needs is missing (named in `field`).",
        },
        429: {"too_many_attempts": "Too many failed logins (see `Retry-After`)."},
    },
}


def _problems(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        by_status: dict[int, dict[str, str]] = {
            int(status): _documented(response)
            for status, response in responses.items()
            if status.isdigit() and int(status) >= 400 and _documented(response)
        }
        for status, listed in OPERATION_PROBLEMS.get((method, path), {}).items():
            by_status.setdefault(status, {}).update(listed)
        for code, when in _generic_problems(operation, path):
            by_status.setdefault(_CATALOGUE[code].status, {}).setdefault(code, when)
        for status, listed in by_status.items():
            responses[str(status)] = _problem_content(path, status, listed)


PASSES: tuple[Callable[[dict[str, Any]], None], ...] = (
    _security,
    _on_behalf_of,
    _binary,
    _path_parameters,
    _summaries,
    _descriptions,
    _examples,
    _problems,
)


def refine(spec: dict[str, Any]) -> dict[str, Any]:
    """The finished document (a copy: FastAPI's own is left as it built it)."""
    finished = copy.deepcopy(spec)
    for apply in PASSES:
        apply(finished)
    return finished


def install(app: FastAPI) -> None:
    """After :func:`api.problems.document_problems` (it adds the ``Problem`` schema)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
